//! Target: `.github/tfpilot.yml` text → `tfpilot::config::repo::RepoConfig::parse`.
//!
//! Anyone with push access to the default branch writes this file, and tfpilot reads it
//! on every delivery. The parser must never panic; a syntax error must point at a line
//! of the file (the one serde_yaml_ng reports, when it reports one); a misspelled key
//! must be named with its line; and a config it accepts must work downstream (forms,
//! issue bodies, rendering) without panicking either.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tfpilot::config::forms::{generate_forms, module_fields};
use tfpilot::config::repo::{ConfigError, RepoConfig};
use tfpilot::core::issue_form::{Answer, FieldShape, parse_request, render_body};

use crate::common::{apply_line_edits, ensure, fuzz, line_edits, root, wide_string};

/// Keys that are struct fields (not names the user chooses), so a typo in one of them
/// must be an "unknown field" error.
const FIELD_KEYS: [&str; 31] = [
    "request_label",
    "environments",
    "modules",
    "presets",
    "directory",
    "protected",
    "required_approvals",
    "dismiss_stale_approvals",
    "auto_apply",
    "drift",
    "cleanup_auto_merge",
    "plan",
    "apply",
    "destroy",
    "permission",
    "teams",
    "users",
    "source",
    "version",
    "ref",
    "description",
    "inputs",
    "type",
    "required",
    "default",
    "label",
    "allowed",
    "pattern",
    "min",
    "max",
    "value_from",
];

fn template() -> String {
    std::fs::read_to_string(root().join("templates/tfpilot.yml"))
        .expect("templates/tfpilot.yml readable")
}

/// YAML and config fragments: other types, anchors and aliases, tags, flow syntax,
/// document markers, and the template's own keys and values.
fn yaml_text() -> BoxedStrategy<String> {
    let fragments = prop::sample::select(vec![
        "key: value",
        "  dev: {}",
        "environments:",
        "modules:",
        "presets:",
        "  x:",
        "    source: modules/x",
        "    inputs:",
        "      n: {type: string}",
        "      n: {type: enum}",
        "      n: {type: number, min: 5, max: 1}",
        "      n: {type: string, pattern: \"(\"}",
        "      n: {type: string, value_from: request_id, default: x}",
        "    module: nope",
        "drift: 0",
        "drift: 721",
        "drift: -1",
        "drift: true",
        "drift: 1e400",
        "required_approvals: -1",
        "required_approvals: 99999999999999999999",
        "permission: owner",
        "teams: [a/b, c]",
        "users: ['', '@x']",
        "directory: ../../etc",
        "directory: /abs",
        "source: git::https://x/y",
        "ref: \"~> 1\"",
        "version: 1.0",
        "- item",
        "[1, 2]",
        "{a: 1}",
        "~",
        "null",
        "&anchor",
        "*anchor",
        "<<: *anchor",
        "!!binary aGk=",
        "!custom x",
        "? complex",
        "---",
        "...",
        "%YAML 1.2",
        "|",
        ">-",
        "\t",
        "#",
        "'",
        "\"",
        ": ",
        "0x1F",
        ".inf",
        ".nan",
        "yes",
        "on",
    ]);
    prop_oneof![
        3 => fragments.prop_map(str::to_owned),
        1 => wide_string(4096),
    ]
    .boxed()
}

/// Lines as YAML 1.1 counts them: `\r\n`, `\r`, `\n`, NEL, LS and PS each end one.
fn yaml_line_count(text: &str) -> usize {
    let breaks = text
        .replace("\r\n", "\n")
        .matches(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
        .count();
    breaks + 1
}

/// What `RepoConfig::parse` said about `text` must be usable: errors point at a line of
/// the file, semantic refusals list problems, and an accepted config works downstream.
fn check_parse(text: &str) -> Result<(), TestCaseError> {
    match RepoConfig::parse(text) {
        Err(ConfigError::Syntax { line, message, .. }) => {
            ensure(!message.is_empty(), || "empty syntax message".to_owned())?;
            let reported = serde_yaml_ng::from_str::<RepoConfig>(text)
                .err()
                .and_then(|e| e.location())
                .map(|l| l.line());
            if let Some(want) = reported {
                ensure(line == want && line >= 1, || {
                    format!("line {line}, serde_yaml_ng says {want}: {message}")
                })?;
            }
            // YAML counts NEL, U+2028 and U+2029 as line breaks too (editors and
            // GitHub do not; docs/fuzzing.md, findings), so bound by YAML's count.
            let lines = yaml_line_count(text);
            ensure(line <= lines + 1, || {
                format!("line {line} of a {lines}-line file: {message}")
            })
        }
        Err(ConfigError::Invalid { problems, .. }) => ensure(!problems.is_empty(), || {
            "refused with no problem listed".to_owned()
        }),
        Ok(config) => check_downstream(&config),
    }
}

/// An accepted config drives forms and issue parsing; none of that may panic, and a
/// body of empty answers is refused or accepted, never crashes.
fn check_downstream(config: &RepoConfig) -> Result<(), TestCaseError> {
    let forms = generate_forms(config);
    ensure(forms.len() == config.modules.len(), || {
        format!("{} forms for {} modules", forms.len(), config.modules.len())
    })?;
    for (module, _) in config.modules.iter() {
        let fields = module_fields(config, module)
            .ok_or_else(|| TestCaseError::fail(format!("no fields for module {module}")))?;
        let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
        let answers: BTreeMap<String, Answer> = BTreeMap::new();
        let _ = parse_request(config, &render_body(&shapes, &answers));
    }
    Ok(())
}

#[test]
fn fuzz_config_arbitrary_text() {
    let text = prop_oneof![
        1 => wide_string(1 << 16),
        2 => prop::collection::vec(yaml_text(), 0..40).prop_map(|v| v.join("\n")),
    ];
    fuzz("config_arbitrary_text", text, |text| check_parse(&text));
}

#[test]
fn fuzz_config_mutated_template() {
    let template = template();
    fuzz(
        "config_mutated_template",
        line_edits(6, yaml_text()),
        |edits| check_parse(&apply_line_edits(&template, &edits)),
    );
}

/// A misspelling of `key` that is no field name.
fn typo(key: &str, how: usize, at: usize) -> String {
    let chars: Vec<char> = key.chars().collect();
    let i = at % chars.len();
    let mut out = chars.clone();
    match how % 3 {
        0 if chars.len() > 1 => {
            out.remove(i);
        }
        1 if chars.len() > 1 => {
            let j = (i + 1) % chars.len();
            out.swap(i, j);
        }
        _ => out.insert(i, 'x'),
    }
    let typo: String = out.into_iter().collect();
    if typo == key || FIELD_KEYS.contains(&typo.as_str()) {
        format!("{key}x")
    } else {
        typo
    }
}

#[test]
fn fuzz_config_misspelled_keys_name_the_key_and_line() {
    let template = template();
    // Lines whose key is a struct field (not an environment, module or input name).
    let key_lines: Vec<(usize, String)> = template
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let key = l.trim_start().split(':').next()?;
            (!l.trim_start().starts_with('#') && FIELD_KEYS.contains(&key))
                .then(|| (i, key.to_owned()))
        })
        .collect();
    assert!(
        key_lines.len() > 40,
        "template has {} key lines",
        key_lines.len()
    );
    fuzz(
        "config_misspelled_keys_name_the_key_and_line",
        (
            prop::sample::select(key_lines),
            any::<usize>(),
            any::<usize>(),
        ),
        |((index, key), how, at)| {
            let wrong = typo(&key, how, at);
            let text: String = template
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    if i == index {
                        l.replacen(&format!("{key}:"), &format!("{wrong}:"), 1)
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            match RepoConfig::parse(&text) {
                Err(ConfigError::Syntax { line, message, .. }) => {
                    prop_assert_eq!(line, index + 1, "{}", message);
                    prop_assert!(
                        message.contains(&format!("unknown field `{wrong}`")),
                        "{}",
                        message
                    );
                    Ok(())
                }
                other => Err(TestCaseError::fail(format!("`{wrong}` gave {other:?}"))),
            }
        },
    );
}

#[test]
fn deep_nesting_is_refused() {
    // serde_yaml_ng stops at 128 levels. Parsing time grows with the square of the
    // nesting depth before that (about 0.5 s for 10 000 levels in a debug build, 48 s
    // for 100 000), so the depths here stay moderate; docs/fuzzing.md has the numbers.
    for depth in [129, 200, 5_000] {
        let deep = format!(
            "environments:\n  dev:\n    teams: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        assert!(RepoConfig::parse(&deep).is_err(), "depth {depth}");
        let deep_maps = format!(
            "environments: {}{}\n",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        );
        assert!(RepoConfig::parse(&deep_maps).is_err(), "depth {depth}");
    }
}
