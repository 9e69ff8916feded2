//! Reading submitted issue bodies: real third-party forms, and every validation rule of
//! tfpilot's own forms with a field-specific message.

mod forms_common;

use std::collections::BTreeMap;

use tfpilot::config::forms::{IssueFormFile, module_fields};
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::issue_form::{
    Answer, FieldProblem, FieldShape, PROBLEMS_MARKER, parse_body, parse_request, render_body,
    render_problems_comment,
};

fn answer_json(a: &Answer) -> serde_json::Value {
    match a {
        Answer::Empty => serde_json::Value::Null,
        other => serde_json::to_value(other).expect("json"),
    }
}

#[test]
fn real_github_bodies_parse_as_hand_checked() {
    let Some(shared) = forms_common::shared() else {
        eprintln!("SKIPPED: ../shared not present; the 8 real issue-form pairs were not checked");
        return;
    };
    let dir = shared.join("fixtures/github/issue-forms");
    let mut checked = 0;
    for case in 1..=8 {
        let case_dir = dir.join(case.to_string());
        let form_text = std::fs::read_to_string(case_dir.join("form.yml")).expect("form");
        let body = std::fs::read_to_string(case_dir.join("body.md")).expect("body");
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(case_dir.join("expected.json")).expect("expected"),
        )
        .expect("json");
        let form: IssueFormFile =
            serde_yaml_ng::from_str(&form_text).unwrap_or_else(|e| panic!("case {case}: {e}"));
        for body in [body.clone(), body.replace('\n', "\r\n")] {
            let parsed = parse_body(&form.shapes(), &body);
            let want = expected["fields"].as_object().expect("fields");
            let alternatives = &expected["acceptable_alternatives"];
            for (key, want_value) in want {
                let got = parsed.answers.get(key).map(answer_json);
                let ok = got.as_ref() == Some(want_value)
                    || alternatives[key]
                        .as_array()
                        .is_some_and(|alts| got.as_ref().is_some_and(|g| alts.contains(g)));
                assert!(
                    ok,
                    "case {case}, field {key:?}: got {got:?}, want {want_value:?}"
                );
            }
            assert_eq!(
                parsed.answers.len(),
                want.len(),
                "case {case}: extra answers"
            );
            let missing: Vec<String> = expected["missing"]
                .as_array()
                .expect("missing")
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect();
            assert_eq!(parsed.missing, missing, "case {case}");
            if let Some(outside) = expected.get("outside_fence").and_then(|o| o.as_object()) {
                for (key, text) in outside {
                    assert_eq!(
                        parsed.outside_fence.get(key).map(String::as_str),
                        text.as_str(),
                        "case {case}"
                    );
                }
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 8);
}

#[test]
fn hand_written_shapes_follow_githubs_rules() {
    let shapes = vec![
        FieldShape {
            key: "a".into(),
            label: "A field".into(),
            kind: tfpilot::core::issue_form::FieldKind::Input,
        },
        FieldShape {
            key: "multi".into(),
            label: "Pick".into(),
            kind: tfpilot::core::issue_form::FieldKind::Dropdown {
                multiple: true,
                options: vec!["x, y".into(), "x".into(), "z".into()],
            },
        },
        FieldShape {
            key: "one".into(),
            label: "One".into(),
            kind: tfpilot::core::issue_form::FieldKind::Dropdown {
                multiple: false,
                options: vec!["p".into()],
            },
        },
        FieldShape {
            key: "log".into(),
            label: "Log".into(),
            kind: tfpilot::core::issue_form::FieldKind::Textarea { render: true },
        },
    ];
    // A user-typed `### ` line inside a value is content, not a heading.
    let body = "### A field\n\nline 1\n### not a field\n  \n\n### Pick\n\nx, y, z\n\n### One\n\nNone\n\n### Log\n\n```sh\n```inner\n\n```\n";
    let parsed = parse_body(&shapes, body);
    assert_eq!(
        parsed.answers["a"],
        Answer::Text("line 1\n### not a field".into())
    );
    assert_eq!(
        parsed.answers["multi"],
        Answer::List(vec!["x, y".into(), "z".into()])
    );
    assert_eq!(parsed.answers["one"], Answer::Empty);
    assert_eq!(parsed.answers["log"], Answer::Text("```inner\n".into()));
    // Headings are searched in form order, each after the previous one: a field moved
    // above an earlier one is not found, and is reported missing.
    let parsed = parse_body(&shapes, "### Pick\n\nz\n\n### A field\n\nlate\n");
    assert_eq!(parsed.missing, ["multi", "one", "log"]);
    assert_eq!(parsed.answers["a"], Answer::Text("late".into()));
}

fn config() -> RepoConfig {
    forms_common::example_config()
}

/// A body from the s3-bucket form with answers by label; `None` leaves a field as GitHub
/// renders an empty one.
fn body(answers: &[(&str, &str)]) -> String {
    let config = config();
    let fields = module_fields(&config, "s3-bucket").expect("module");
    let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
    let mut map = BTreeMap::new();
    map.insert(
        "tfpilot-module".to_owned(),
        Answer::Text("s3-bucket".into()),
    );
    for f in &fields {
        if let Some((_, v)) = answers.iter().find(|(l, _)| *l == f.shape.label) {
            map.insert(f.shape.key.clone(), Answer::Text((*v).into()));
        }
    }
    render_body(&shapes, &map)
}

const VALID: [(&str, &str); 3] = [
    ("Environment", "dev"),
    ("Name", "bucket-1"),
    ("Project", "core"),
];

fn with(changes: &[(&str, &str)]) -> String {
    let mut answers: Vec<(&str, &str)> = VALID
        .iter()
        .filter(|(l, _)| !changes.iter().any(|(c, _)| c == l))
        .copied()
        .collect();
    answers.extend_from_slice(changes);
    body(&answers)
}

fn problems(body: &str) -> Vec<FieldProblem> {
    parse_request(&config(), body).expect_err("must be refused")
}

fn only(body: &str) -> FieldProblem {
    let mut p = problems(body);
    assert_eq!(p.len(), 1, "{p:#?}");
    p.remove(0)
}

#[test]
fn the_valid_baseline_is_accepted() {
    assert!(parse_request(&config(), &with(&[])).is_ok());
}

#[test]
fn required_field_left_empty() {
    let p = only(&body(&[("Environment", "dev"), ("Project", "core")]));
    assert_eq!((p.field.as_str(), p.label.as_str()), ("name", "Name"));
    assert_eq!(p.message, "this field is required");
    assert!(
        p.how_to_fix.contains("**Name**") && p.how_to_fix.contains("[a-z0-9]"),
        "{}",
        p.how_to_fix
    );
}

#[test]
fn pattern_mismatch() {
    let p = only(&with(&[("Name", "Bad_Name!")]));
    assert_eq!(p.field, "name");
    assert_eq!(
        p.message,
        "`Bad_Name!` does not match the required pattern `[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]`"
    );
}

#[test]
fn value_not_among_the_allowed_ones() {
    // The dropdown only offers sse-s3/sse-kms, but the body can be edited by hand.
    let p = only(&with(&[("Encryption mode", "aws:kms-dsse")]));
    assert_eq!(p.field, "encryption_mode");
    assert_eq!(
        p.message,
        "`aws:kms-dsse` is not one of the allowed values: `sse-s3`, `sse-kms`"
    );
}

#[test]
fn numbers_out_of_range_or_not_numbers() {
    let p = only(&with(&[("Abort multipart days", "400")]));
    assert_eq!(
        (p.field.as_str(), p.message.as_str()),
        ("abort_multipart_days", "must be at most 365")
    );
    let p = only(&with(&[("Abort multipart days", "0")]));
    assert_eq!(p.message, "must be at least 1");
    for not_a_number in ["seven", "0x10", "1e999", "NaN", "+3", "7 days"] {
        let p = only(&with(&[("Abort multipart days", not_a_number)]));
        assert_eq!(
            p.message, "must be a number, like `7` or `2.5`",
            "{not_a_number}"
        );
    }
}

#[test]
fn bool_that_is_not_a_bool() {
    let p = only(&with(&[("Force destroy", "maybe")]));
    assert_eq!(
        (p.field.as_str(), p.message.as_str()),
        ("force_destroy", "must be `true` or `false`")
    );
}

#[test]
fn unknown_environment() {
    let p = only(&with(&[("Environment", "staging")]));
    assert_eq!(p.field, "environment");
    assert_eq!(
        p.message,
        "`staging` is not an environment of this repository"
    );
    assert_eq!(
        p.how_to_fix,
        "Edit the issue and choose one of `dev`, `prod`."
    );
    let p = only(&with(&[("Environment", "None")]));
    assert_eq!(p.message, "no environment was chosen");
}

#[test]
fn unknown_module() {
    let text = with(&[]).replace("### Module\n\ns3-bucket", "### Module\n\ns3-buckets");
    let p = only(&text);
    assert_eq!(p.field, "module");
    assert_eq!(p.message, "`s3-buckets` is not a module in the catalogue");
    let p = only("Please make me a bucket");
    assert_eq!(
        p.message,
        "the `### Module` section is missing from the issue"
    );
}

#[test]
fn unknown_preset_and_preset_conflicts() {
    let p = only(&with(&[("Preset", "s3-private")]));
    assert_eq!(
        (p.field.as_str(), p.message.as_str()),
        ("preset", "`s3-private` is not a preset for `s3-bucket`")
    );
    let p = only(&with(&[
        ("Preset", "s3-public-assets"),
        ("Force destroy", "false"),
    ]));
    assert_eq!(p.field, "force_destroy");
    assert_eq!(
        p.message,
        "preset `s3-public-assets` fixes this to `true`, but the issue says `false`"
    );
    // Repeating the preset's own value is fine.
    assert!(
        parse_request(
            &config(),
            &with(&[("Preset", "s3-public-assets"), ("Force destroy", "true")])
        )
        .is_ok()
    );
}

#[test]
fn malformed_map_and_too_many_entries() {
    let p = only(&with(&[("Tags", "team: storage")]));
    assert_eq!(p.field, "tags");
    assert_eq!(
        p.message,
        "each line must be `key = value`; this one has no `=`: `team: storage`"
    );
    let many: String = (0..21).map(|i| format!("k{i} = v\n")).collect();
    let p = only(&with(&[("Tags", &many)]));
    assert_eq!(p.message, "must be at most 20 entries");
}

#[test]
fn a_deleted_section_is_named() {
    let text = with(&[]).replace("### Name\n\nbucket-1\n\n", "");
    let p = only(&text);
    assert_eq!(p.field, "name");
    assert_eq!(p.message, "the section is missing from the issue");
    assert_eq!(
        p.how_to_fix,
        "Edit the issue and add the section `### Name` with a value."
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(&body(&[
        ("Environment", "qa"),
        ("Name", "X"),
        ("Abort multipart days", "-1"),
        ("Encryption mode", "rot13"),
    ]));
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "environment",
            "name",
            "project",
            "abort_multipart_days",
            "encryption_mode"
        ]
    );
}

#[test]
fn the_reply_lists_every_problem_and_cannot_be_hijacked() {
    let p = problems(&body(&[
        ("Environment", "qa"),
        ("Name", "@octocat | `evil` <img src=x>\u{0007}"),
        ("Abort multipart days", "-1"),
    ]));
    let comment = render_problems_comment(&p);
    assert!(comment.starts_with(PROBLEMS_MARKER));
    // User text sits in code spans: no mention, no broken table.
    assert!(!comment.contains(" @octocat"), "{comment}");
    insta::assert_snapshot!("forms_problems_comment", comment);
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(forms_common::root().join("fixtures/issue-forms").join(name))
        .expect("fixture")
}

#[test]
fn hand_written_seed_body_gives_the_seed_inputs() {
    let got = parse_request(&config(), &fixture("s3-seed-example.md")).expect("valid");
    assert_eq!(got.environment, "dev");
    assert_eq!(got.preset.as_deref(), Some("s3-public-assets"));
    let json = serde_json::to_value(&got.inputs).expect("json");
    assert_eq!(
        json,
        serde_json::json!({
            "name": "core-dev-ai-agent-tgqpp8",
            "project": "core",
            "versioning_enabled": false,
            "force_destroy": true,
            "block_public_access": true,
            "enable_lifecycle": false,
            "noncurrent_expiration_days": 30,
            "abort_multipart_days": 7,
            "encryption_mode": "sse-s3"
        })
    );
}

#[test]
fn hand_edited_crlf_body_reports_each_wrong_answer() {
    let p = problems(&fixture("s3-edited-by-hand.md"));
    let got: Vec<(&str, &str)> = p
        .iter()
        .map(|p| (p.field.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "environment",
                "`production` is not an environment of this repository"
            ),
            (
                "name",
                "`My Bucket` does not match the required pattern `[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]`"
            ),
            (
                "noncurrent_expiration_days",
                "must be a number, like `7` or `2.5`"
            ),
            (
                "tags",
                "each line must be `key = value`; this one has no `=`: `### extra heading typed by the user`"
            ),
        ]
    );
}
