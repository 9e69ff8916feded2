//! `.github/tfpilot.yml`: the example parses, mistakes are reported with file, line and key.

mod forms_common;

use tfpilot::config::catalogue::{InputType, InputValue, ModuleSource};
use tfpilot::config::repo::{Action, ConfigError, DriftSchedule, Permission, RepoConfig};

#[test]
fn example_template_parses_with_the_seed_module() {
    let c = forms_common::example_config();
    assert_eq!(c.request_label, "tfpilot-request");
    assert_eq!(c.environments.keys().collect::<Vec<_>>(), ["dev", "prod"]);
    let prod = c.environment("prod").expect("prod");
    assert!(prod.protected);
    assert_eq!(prod.required_approvals, 2);
    assert_eq!(prod.drift, DriftSchedule::EveryHours(6));
    assert_eq!(prod.access(Action::Destroy).permission, Permission::Admin);
    assert_eq!(prod.access(Action::Apply).teams, ["my-org/platform"]);
    let s3 = c.module("s3-bucket").expect("s3-bucket");
    assert_eq!(
        s3.module_source(),
        Ok(ModuleSource::RepoPath("modules/s3-bucket".into()))
    );
    let names: Vec<&str> = s3.inputs.keys().collect();
    for want in [
        "name",
        "project",
        "environment",
        "versioning_enabled",
        "force_destroy",
        "block_public_access",
        "enable_lifecycle",
        "noncurrent_expiration_days",
        "abort_multipart_days",
        "encryption_mode",
        "tags",
    ] {
        assert!(names.contains(&want), "s3-bucket lacks input {want}");
    }
    let enc = s3.inputs.get("encryption_mode").expect("encryption_mode");
    assert_eq!(enc.kind, InputType::Enum);
    assert_eq!(enc.allowed, ["sse-s3", "sse-kms"]);
    let preset = c.presets.get("s3-public-assets").expect("preset");
    assert_eq!(preset.module, "s3-bucket");
    assert_eq!(
        preset.inputs.get("force_destroy"),
        Some(&InputValue::Bool(true))
    );
}

fn syntax(text: &str) -> (usize, String) {
    match RepoConfig::parse(text) {
        Err(ConfigError::Syntax {
            line,
            message,
            file,
        }) => {
            assert_eq!(file, ".github/tfpilot.yml");
            (line, message)
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
}

#[test]
fn misspelled_key_names_the_key_its_place_and_its_line() {
    let template = std::fs::read_to_string(forms_common::root().join("templates/tfpilot.yml"))
        .expect("template");
    // Misspell `protected` in prod; find its line to know what to expect.
    let broken = template.replacen("    protected: true", "    protectd: true", 1);
    assert_ne!(broken, template, "template has a `protected:` line");
    let want_line = broken
        .lines()
        .position(|l| l.contains("protectd"))
        .expect("line")
        + 1;
    let err = RepoConfig::parse(&broken).expect_err("typo must fail");
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("`.github/tfpilot.yml` line {want_line}: ")),
        "{text}"
    );
    assert!(
        text.contains("unknown field `protectd` in environments.prod"),
        "{text}"
    );
    assert!(text.contains("did you mean `protected`?"), "{text}");

    let (line, message) = syntax(
        "environments:\n  dev: {}\nmodules:\n  s3:\n    source: modules/s3\n    inputs:\n      name:\n        type: string\n        requird: true\n",
    );
    assert_eq!(line, 9);
    assert!(
        message.contains("unknown field `requird` in modules.s3.inputs.name"),
        "{message}"
    );
    assert!(message.contains("did you mean `required`?"), "{message}");

    let (line, message) = syntax("request_lable: x\nenvironments:\n  dev: {}\n");
    assert_eq!(line, 1);
    assert!(
        message.contains("unknown field `request_lable` at the top level"),
        "{message}"
    );
}

#[test]
fn wrong_value_types_name_the_key() {
    let (line, message) = syntax("environments:\n  dev:\n    required_approvals: two\n");
    assert_eq!(line, 3);
    assert!(
        message.contains("environments.dev.required_approvals"),
        "{message}"
    );
    let (_, message) = syntax("environments:\n  dev:\n    plan:\n      permission: owner\n");
    assert!(
        message.contains("environments.dev.plan.permission"),
        "{message}"
    );
    assert!(message.contains("`owner`"), "{message}");
    let (_, message) = syntax(
        "environments:\n  dev: {}\nmodules:\n  s3:\n    source: m\n    inputs:\n      n:\n        type: text\n",
    );
    assert!(message.contains("unknown input type `text`"), "{message}");
}

#[test]
fn duplicate_environment_is_refused() {
    let (line, message) = syntax("environments:\n  dev: {}\n  prod: {}\n  dev: {}\n");
    assert!(message.contains("duplicate entry `dev`"), "{message}");
    assert!(line >= 2, "line {line}");
}

fn problems(text: &str) -> Vec<String> {
    match RepoConfig::parse(text) {
        Err(ConfigError::Invalid { problems, .. }) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => panic!("expected semantic problems, got {other:?}"),
    }
}

const HEAD: &str =
    "environments:\n  dev: {}\nmodules:\n  s3:\n    source: modules/s3\n    inputs:\n";

#[test]
fn semantic_mistakes_are_each_reported_with_their_path() {
    let p = problems(&format!(
        "{HEAD}      size:\n        type: number\n        default: big\n      name:\n        type: string\n        pattern: '[a-z'\n      mode:\n        type: enum\n      tier:\n        type: enum\n        allowed: [a, b, a]\n      count:\n        type: string\n presets:\n"
    )
    .replace("\n presets:\n", "\npresets:\n  fast:\n    module: s4\n  slow:\n    module: s3\n    inputs:\n      colour: red\n      size: 3\n"));
    let joined = p.join("\n");
    assert!(
        joined.contains("modules.s3.inputs.size: `default` must be a number, not a string"),
        "{joined}"
    );
    assert!(
        joined.contains("modules.s3.inputs.name: `pattern` is not a valid regular expression"),
        "{joined}"
    );
    assert!(
        joined.contains("modules.s3.inputs.mode: an `enum` input needs `allowed` values"),
        "{joined}"
    );
    assert!(
        joined.contains("modules.s3.inputs.count: `count` is a Terraform module meta-argument"),
        "{joined}"
    );
    assert!(
        joined.contains("presets.fast.module: unknown module `s4`; the catalogue has `s3`"),
        "{joined}"
    );
    assert!(
        joined.contains("presets.slow.inputs.colour: module `s3` has no input `colour`"),
        "{joined}"
    );
    assert!(
        !joined.contains("presets.slow.inputs.size"),
        "a valid preset value is fine: {joined}"
    );
    assert!(
        joined.contains("modules.s3.inputs.tier: `allowed` lists `a` twice"),
        "{joined}"
    );
    assert_eq!(p.len(), 7, "{joined}");
}

#[test]
fn unsafe_names_paths_and_sources_are_refused() {
    let p = problems("environments:\n  Dev_1: {}\n  prod:\n    directory: ../elsewhere\n    apply:\n      teams: [platform]\nmodules:\n  s3:\n    source: git::https://example.com/m.git\n  vpc:\n    source: ns/vpc/aws\n    version: '~> 5.0'\n").join("\n");
    assert!(
        p.contains("environments.Dev_1: environment names must be"),
        "{p}"
    );
    assert!(
        p.contains("environments.prod.directory: `../elsewhere` must not contain"),
        "{p}"
    );
    assert!(
        p.contains("environments.prod.apply.teams[0]: `platform` is not a team"),
        "{p}"
    );
    assert!(p.contains("modules.s3.source: `git::https://example.com/m.git` is a remote source: pin it with `ref:`"), "{p}");
    assert!(
        p.contains("modules.vpc.source: `version` must be one exact version"),
        "{p}"
    );
}

#[test]
fn registry_and_git_sources_are_classified() {
    let c = RepoConfig::parse("environments:\n  dev: {}\nmodules:\n  vpc:\n    source: terraform-aws-modules/vpc/aws\n    version: 5.8.1\n  app:\n    source: git::https://github.com/acme/modules.git//app\n    ref: v1.2.0\n").expect("parses");
    assert_eq!(
        c.module("vpc").map(|m| m.module_source()),
        Some(Ok(ModuleSource::Registry {
            address: "terraform-aws-modules/vpc/aws".into(),
            version: "5.8.1".into()
        }))
    );
    assert_eq!(
        c.module("app").map(|m| m.module_source()),
        Some(Ok(ModuleSource::Git {
            url: "git::https://github.com/acme/modules.git//app".into(),
            git_ref: "v1.2.0".into()
        }))
    );
}

#[test]
fn duplicate_labels_and_reserved_labels_are_refused() {
    let p = problems(&format!(
        "{HEAD}      bucket_name:\n        type: string\n      bucket-name:\n        type: string\n      env:\n        type: string\n        label: Environment\n"
    ))
    .join("\n");
    assert!(p.contains("modules.s3.inputs.bucket-name.label: `Bucket name` is also the label of input `bucket_name`"), "{p}");
    assert!(
        p.contains(
            "modules.s3.inputs.env.label: `Environment` is the label of tfpilot's own field"
        ),
        "{p}"
    );
}
