//! Issue forms generated from the catalogue: valid for GitHub, deterministic, and read
//! back to the same inputs.

mod forms_common;

use std::collections::BTreeMap;

use tfpilot::config::catalogue::InputValue;
use tfpilot::config::forms::{FieldRole, IssueFormFile, generate_forms, module_fields};
use tfpilot::core::issue_form::{Answer, FieldShape, RequestInputs, parse_request, render_body};

#[test]
fn generated_form_for_the_example_is_reviewed() {
    let forms = generate_forms(&forms_common::example_config());
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].0, "tfpilot-s3-bucket.yml");
    insta::assert_snapshot!("forms_s3_bucket_form", forms[0].1);
}

#[test]
fn generation_is_deterministic_and_one_form_per_module() {
    let text = std::fs::read_to_string(forms_common::root().join("templates/tfpilot.yml"))
        .expect("template");
    let extra = format!(
        "{text}\n  # appended\n"
    )
    .replace(
        "# Presets (recorded",
        "  vpc:\n    source: terraform-aws-modules/vpc/aws\n    version: 5.8.1\n    inputs:\n      cidr:\n        type: string\n        required: true\n      azs:\n        type: list(string)\n        default: [a, b]\n\n# Presets (recorded",
    );
    let config = tfpilot::config::repo::RepoConfig::parse(&extra).expect("parses");
    let a = generate_forms(&config);
    let b = generate_forms(&config.clone());
    assert_eq!(a, b);
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["tfpilot-s3-bucket.yml", "tfpilot-vpc.yml"]);
    let vpc: IssueFormFile = serde_yaml_ng::from_str(&a[1].1).expect("yaml");
    let labels: Vec<String> = vpc.shapes().into_iter().map(|s| s.label).collect();
    // No preset for vpc, so no preset dropdown.
    assert_eq!(labels, ["Module", "Environment", "Cidr", "Azs"]);
}

#[test]
fn generated_forms_validate_against_githubs_issue_form_schema() {
    let Some(checker) = forms_common::tool("check-jsonschema", "the issue-form schema") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    for (name, yaml) in generate_forms(&forms_common::example_config()) {
        let p = dir.path().join(name);
        std::fs::write(&p, yaml).expect("write");
        paths.push(p);
    }
    // A form GitHub would refuse must fail the same check, or this test proves nothing.
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "name: x\ndescription: y\nbody:\n  - type: dropdown\n    attributes:\n      label: L\n",
    )
    .expect("write");
    let run = |p: &std::path::Path| {
        std::process::Command::new(&checker)
            .args(["--builtin-schema", "vendor.github-issue-forms"])
            .arg(p)
            .output()
            .expect("run check-jsonschema")
    };
    for p in &paths {
        let out = run(p);
        assert!(
            out.status.success(),
            "{} fails the schema:\n{}{}",
            p.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        !run(&bad).status.success(),
        "the schema check accepts a dropdown without options"
    );
}

/// Plays the person: answers by label, rendered the way GitHub renders the form.
fn body_with(answers: &[(&str, &str)]) -> String {
    let config = forms_common::example_config();
    let fields = module_fields(&config, "s3-bucket").expect("module");
    let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
    let mut map = BTreeMap::new();
    for f in &fields {
        if let Some((_, v)) = answers.iter().find(|(label, _)| *label == f.shape.label) {
            map.insert(f.shape.key.clone(), Answer::Text((*v).to_owned()));
        }
    }
    map.insert(
        "tfpilot-module".to_owned(),
        Answer::Text("s3-bucket".to_owned()),
    );
    render_body(&shapes, &map)
}

#[test]
fn a_body_rendered_from_the_form_parses_back_to_the_same_inputs() {
    let config = forms_common::example_config();
    let fields = module_fields(&config, "s3-bucket").expect("module");
    // Every field answered, preset included.
    let body = body_with(&[
        ("Environment", "prod"),
        ("Preset", "s3-public-assets"),
        ("Name", "assets.example-1"),
        ("Project", "core"),
        ("Versioning enabled", "false"),
        ("Force destroy", "true"),
        ("Block public access", "true"),
        ("Enable lifecycle", "false"),
        ("Noncurrent expiration days", "90"),
        ("Abort multipart days", "3"),
        ("Encryption mode", "sse-s3"),
        ("Tags", "team = storage\ncost-centre = 42 = yes"),
    ]);
    let got = parse_request(&config, &body).expect("valid");
    let mut want = BTreeMap::new();
    let s = |v: &str| InputValue::String(v.to_owned());
    want.insert("name".to_owned(), s("assets.example-1"));
    want.insert("project".to_owned(), s("core"));
    want.insert("versioning_enabled".to_owned(), InputValue::Bool(false));
    want.insert("force_destroy".to_owned(), InputValue::Bool(true));
    want.insert("block_public_access".to_owned(), InputValue::Bool(true));
    want.insert("enable_lifecycle".to_owned(), InputValue::Bool(false));
    want.insert(
        "noncurrent_expiration_days".to_owned(),
        InputValue::Number(90.into()),
    );
    want.insert(
        "abort_multipart_days".to_owned(),
        InputValue::Number(3.into()),
    );
    want.insert("encryption_mode".to_owned(), s("sse-s3"));
    want.insert(
        "tags".to_owned(),
        InputValue::Map(BTreeMap::from([
            ("cost-centre".to_owned(), "42 = yes".to_owned()),
            ("team".to_owned(), "storage".to_owned()),
        ])),
    );
    assert_eq!(
        got,
        RequestInputs {
            environment: "prod".into(),
            module: "s3-bucket".into(),
            preset: Some("s3-public-assets".into()),
            inputs: want
        }
    );
    // The inputs filled by tfpilot are not asked.
    assert!(
        fields
            .iter()
            .all(|f| f.role != FieldRole::Input("request_id".into()))
    );
    assert!(
        fields
            .iter()
            .all(|f| f.role != FieldRole::Input("environment".into()))
    );
}

#[test]
fn empty_answers_take_the_preset_then_the_default() {
    let config = forms_common::example_config();
    let body = body_with(&[
        ("Environment", "dev"),
        ("Preset", "s3-public-assets"),
        ("Name", "b1-x"),
        ("Project", "core"),
    ]);
    let got = parse_request(&config, &body).expect("valid");
    assert_eq!(
        got.inputs.get("force_destroy"),
        Some(&InputValue::Bool(true)),
        "from the preset"
    );
    assert_eq!(
        got.inputs.get("abort_multipart_days"),
        Some(&InputValue::Number(7.into())),
        "default"
    );
    assert_eq!(got.inputs.get("tags"), None, "optional, no default");
    let no_preset = body_with(&[
        ("Environment", "dev"),
        ("Name", "b1-x"),
        ("Project", "core"),
    ]);
    let got = parse_request(&config, &no_preset).expect("valid");
    assert_eq!(got.preset, None);
    assert_eq!(
        got.inputs.get("force_destroy"),
        Some(&InputValue::Bool(false)),
        "default"
    );
}

#[test]
fn crlf_bodies_parse_like_lf_bodies() {
    let config = forms_common::example_config();
    let body = body_with(&[
        ("Environment", "dev"),
        ("Name", "b1-x"),
        ("Project", "core"),
        ("Tags", "a = 1\nb = 2"),
    ]);
    let lf = parse_request(&config, &body).expect("valid");
    let crlf = parse_request(&config, &body.replace('\n', "\r\n")).expect("valid");
    assert_eq!(lf, crlf);
}
