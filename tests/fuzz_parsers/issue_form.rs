//! Target: issue bodies → `tfpilot::core::issue_form::parse_request`.
//!
//! Anyone who can open an issue writes these bodies. The parser must never panic; a
//! body it accepts must only carry values the catalogue allows; a refusal must list at
//! least one problem, one table row each; and a body rendered from valid answers (the
//! way GitHub writes a submitted form) must be accepted with exactly those answers.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use tfpilot::config::catalogue::{InputSpec, InputType, InputValue};
use tfpilot::config::forms::{
    ENVIRONMENT_FIELD_ID, MODULE_FIELD_ID, PRESET_FIELD_ID, module_fields,
};
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::issue_form::{
    Answer, FieldShape, PROBLEMS_MARKER, parse_request, render_body, render_problems_comment,
};

use crate::common::{LineEdit, apply_line_edits, ensure, fuzz, line_edits, root, wide_string};

/// A second catalogue with every input type, bounds, whitelists, a comma inside an
/// option and a `value_from` input, so the parser sees more than the template has.
const ALL_TYPES: &str = r#"
environments:
  dev: {}
  prod-eu:
    directory: stacks/prod/eu
    protected: true
modules:
  queue:
    source: modules/queue
    inputs:
      name: {type: string, required: true, pattern: "[a-z][a-z0-9-]{2,20}"}
      size: {type: number, min: -5, max: 1000000, default: 3}
      ratio: {type: number}
      zones: {type: list(string), min: 1, max: 4, allowed: [a, b, c, "d, e"]}
      labels: {type: map(string), max: 5, pattern: "[a-z0-9]{0,10}"}
      tier: {type: enum, allowed: [gold, silver, "bronze, plus"], default: silver}
      notes: {type: string, max: 200}
      owner: {type: string, value_from: requested_by}
      tags: {type: map(string)}
      flag: {type: bool, required: true}
  topic:
    source: modules/topic
    inputs:
      name: {type: string, required: true}
presets:
  small:
    module: queue
    inputs: {size: 1, tier: silver, zones: [a]}
"#;

/// The template config and the all-types config.
pub fn configs() -> Vec<RepoConfig> {
    let template = std::fs::read_to_string(root().join("templates/tfpilot.yml"))
        .expect("templates/tfpilot.yml readable");
    vec![
        RepoConfig::parse(&template).expect("template parses"),
        RepoConfig::parse(ALL_TYPES).expect("all-types config parses"),
    ]
}

/// Checks whatever `parse_request` said about `body`.
fn check_outcome(config: &RepoConfig, body: &str) -> Result<(), TestCaseError> {
    match parse_request(config, body) {
        Ok(request) => {
            ensure(config.environment(&request.environment).is_some(), || {
                format!("accepted unknown environment {:?}", request.environment)
            })?;
            let module = config.module(&request.module).ok_or_else(|| {
                TestCaseError::fail(format!("accepted unknown module {:?}", request.module))
            })?;
            if let Some(p) = &request.preset {
                let preset = config
                    .presets
                    .get(p)
                    .ok_or_else(|| TestCaseError::fail(format!("accepted unknown preset {p:?}")))?;
                ensure(preset.module == request.module, || {
                    format!("preset {p} is for {}", preset.module)
                })?;
            }
            for (name, value) in &request.inputs {
                let spec = module.inputs.get(name).ok_or_else(|| {
                    TestCaseError::fail(format!("accepted input {name:?} the module lacks"))
                })?;
                spec.check(value).map_err(|e| {
                    TestCaseError::fail(format!(
                        "accepted {name} = {value:?} that breaks its rule: {e}"
                    ))
                })?;
            }
            for (name, spec) in module.inputs.iter() {
                if spec.required && spec.value_from.is_none() {
                    ensure(request.inputs.contains_key(name), || {
                        format!("accepted without required input {name}")
                    })?;
                }
            }
            Ok(())
        }
        Err(problems) => {
            ensure(!problems.is_empty(), || {
                "refused with no problem listed".to_owned()
            })?;
            let reply = render_problems_comment(&problems);
            ensure(reply.starts_with(PROBLEMS_MARKER), || {
                "reply lost its marker".to_owned()
            })?;
            let rows = reply.lines().filter(|l| l.starts_with("| **")).count();
            ensure(rows == problems.len(), || {
                format!(
                    "{} problems but {rows} table rows:\n{reply}",
                    problems.len()
                )
            })
        }
    }
}

/// Text that looks like a form: real headings, GitHub's placeholders, fences, ticks.
fn form_text(config: &RepoConfig) -> BoxedStrategy<String> {
    let mut pieces: Vec<String> = vec![
        "_No response_".into(),
        "None".into(),
        "```text".into(),
        "```".into(),
        "- [x] ".into(),
        "- [ ] ".into(),
        "###".into(),
        "### ".into(),
        "#### Module".into(),
        "k = v".into(),
        "=".into(),
        "true".into(),
        "-1e400".into(),
        "1e308".into(),
        "18446744073709551616".into(),
        "NaN".into(),
    ];
    for (module, _) in config.modules.iter() {
        pieces.push(module.to_owned());
        for f in module_fields(config, module).unwrap_or_default() {
            pieces.push(format!("### {}", f.shape.label));
        }
    }
    for (env, _) in config.environments.iter() {
        pieces.push(env.to_owned());
    }
    for (preset, _) in config.presets.iter() {
        pieces.push(preset.to_owned());
    }
    prop_oneof![
        3 => prop::sample::select(pieces),
        2 => wide_string(1 << 16),
    ]
    .boxed()
}

/// A valid answer's text for `spec`, or None to leave it empty.
fn valid_text(spec: &InputSpec, fixed: Option<&InputValue>) -> BoxedStrategy<Option<String>> {
    if let Some(v) = fixed {
        // A preset's value: leave empty or repeat it.
        let same = match v {
            InputValue::List(items) => items.join("\n"),
            InputValue::Map(m) => m
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
            other => other.display(),
        };
        return prop_oneof![Just(None), Just(Some(same))].boxed();
    }
    let item = |spec: &InputSpec| -> BoxedStrategy<String> {
        if !spec.allowed.is_empty() {
            prop::sample::select(spec.allowed.clone()).boxed()
        } else if let Some(p) = &spec.pattern {
            proptest::string::string_regex(&format!("(?:{p})"))
                .expect("catalogue pattern is a regex")
                .prop_filter("trimmed", |s| s.trim() == s && !s.is_empty())
                .boxed()
        } else {
            "[a-z0-9][a-z0-9._-]{0,20}".boxed()
        }
    };
    let lo = spec.min.unwrap_or(0.0).max(0.0) as usize;
    let hi = spec.max.map_or(lo + 4, |m| (m as usize).min(lo + 4));
    let text = match spec.kind {
        InputType::String | InputType::Enum => item(spec)
            .prop_filter("length within bounds", {
                let (min, max) = (spec.min, spec.max);
                move |s| {
                    let n = s.chars().count() as f64;
                    min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
                }
            })
            .boxed(),
        InputType::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
        InputType::Number => {
            let lo = spec.min.unwrap_or(-1e12) as i64;
            let hi = spec.max.unwrap_or(1e12) as i64;
            (lo..=hi).prop_map(|n| n.to_string()).boxed()
        }
        InputType::ListString => prop::collection::vec(item(spec), lo.max(1)..=hi.max(1))
            .prop_map(|items| items.join("\n"))
            .boxed(),
        InputType::MapString => {
            let value = match &spec.pattern {
                Some(_) => item(spec),
                None => "[a-z0-9][a-z0-9 ._-]{0,10}[a-z0-9]".boxed(),
            };
            prop::collection::btree_map("[a-z][a-z0-9_]{0,8}", value, lo.max(1)..=hi.max(1))
                .prop_map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .boxed()
        }
    };
    let optional = spec.default.is_some() || !spec.required;
    if optional {
        prop::option::weighted(0.7, text).boxed()
    } else {
        text.prop_map(Some).boxed()
    }
}

/// A valid submission: (config index, rendered body, the answers given by key).
type ValidCase = (usize, String, BTreeMap<String, String>);

/// Valid submissions for every module of every config.
fn valid_body(configs: &[RepoConfig]) -> BoxedStrategy<ValidCase> {
    let per_config: Vec<BoxedStrategy<ValidCase>> = configs
        .iter()
        .enumerate()
        .flat_map(|(ci, config)| {
            config.modules.iter().map(move |(module, spec)| {
                let fields = module_fields(config, module).expect("module fields");
                let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
                let envs: Vec<String> = config.environments.keys().map(str::to_owned).collect();
                let presets: Vec<Option<String>> = std::iter::once(None)
                    .chain(config.presets_for(module).map(|(n, _)| Some(n.to_owned())))
                    .collect();
                let module = module.to_owned();
                let spec = spec.clone();
                let config = config.clone();
                (prop::sample::select(envs), prop::sample::select(presets))
                    .prop_flat_map(move |(env, preset)| {
                        let fixed = preset
                            .as_ref()
                            .and_then(|p| config.presets.get(p))
                            .map(|p| p.inputs.clone());
                        let inputs: Vec<(String, BoxedStrategy<Option<String>>)> = spec
                            .inputs
                            .iter()
                            .filter(|(_, s)| s.value_from.is_none())
                            .map(|(name, s)| {
                                let f = fixed.as_ref().and_then(|f| f.get(name));
                                (name.to_owned(), valid_text(s, f))
                            })
                            .collect();
                        let (names, strategies): (Vec<String>, Vec<_>) = inputs.into_iter().unzip();
                        let (module, shapes) = (module.clone(), shapes.clone());
                        strategies.prop_map(move |texts| {
                            let mut given = BTreeMap::new();
                            given.insert(MODULE_FIELD_ID.to_owned(), module.clone());
                            given.insert(ENVIRONMENT_FIELD_ID.to_owned(), env.clone());
                            if let Some(p) = &preset {
                                given.insert(PRESET_FIELD_ID.to_owned(), p.clone());
                            }
                            for (name, text) in names.iter().zip(texts) {
                                if let Some(t) = text {
                                    given.insert(name.clone(), t);
                                }
                            }
                            let answers: BTreeMap<String, Answer> = given
                                .iter()
                                .map(|(k, v)| (k.clone(), Answer::Text(v.clone())))
                                .collect();
                            (ci, render_body(&shapes, &answers), given)
                        })
                    })
                    .boxed()
            })
        })
        .collect();
    prop::strategy::Union::new(per_config).boxed()
}

/// Checks that `body` is accepted with exactly the `given` answers.
fn check_accepted(
    config: &RepoConfig,
    body: &str,
    given: &BTreeMap<String, String>,
) -> Result<(), TestCaseError> {
    let request = parse_request(config, body)
        .map_err(|p| TestCaseError::fail(format!("valid body refused: {p:#?}\n{body}")))?;
    prop_assert_eq!(Some(&request.module), given.get(MODULE_FIELD_ID));
    prop_assert_eq!(Some(&request.environment), given.get(ENVIRONMENT_FIELD_ID));
    prop_assert_eq!(request.preset.as_ref(), given.get(PRESET_FIELD_ID));
    let module = config
        .module(&request.module)
        .expect("accepted module exists");
    for (name, text) in given {
        let Some(spec) = module.inputs.get(name) else {
            continue;
        };
        let want = spec
            .parse_text(text)
            .map_err(|e| TestCaseError::fail(format!("generator wrote bad text: {e}")))?;
        prop_assert_eq!(request.inputs.get(name), Some(&want), "input {}", name);
    }
    Ok(())
}

#[test]
fn fuzz_issue_form_valid_bodies_are_accepted() {
    let configs = configs();
    fuzz(
        "issue_form_valid_bodies_are_accepted",
        valid_body(&configs),
        |(ci, body, given)| {
            check_accepted(&configs[ci], &body, &given)?;
            // GitHub sends CRLF when the form is edited in some browsers.
            check_accepted(&configs[ci], &body.replace('\n', "\r\n"), &given)
        },
    );
}

#[test]
fn fuzz_issue_form_arbitrary_bodies() {
    let configs = configs();
    let body = (0..configs.len()).prop_flat_map({
        let configs = configs.clone();
        move |ci| {
            let text = form_text(&configs[ci]);
            (
                Just(ci),
                prop_oneof![
                    1 => wide_string(1 << 16),
                    2 => prop::collection::vec(text, 0..40).prop_map(|v| v.join("\n")),
                ],
            )
        }
    });
    fuzz("issue_form_arbitrary_bodies", body, |(ci, body)| {
        check_outcome(&configs[ci], &body)
    });
}

#[test]
fn fuzz_issue_form_mutated_valid_bodies() {
    let configs = configs();
    let case = valid_body(&configs).prop_flat_map({
        let configs = configs.clone();
        move |(ci, body, _)| {
            let edits: BoxedStrategy<Vec<LineEdit>> =
                line_edits(6, form_text(&configs[ci])).boxed();
            (Just(ci), Just(body), edits, any::<bool>())
        }
    });
    fuzz(
        "issue_form_mutated_valid_bodies",
        case,
        |(ci, body, edits, crlf)| {
            let mut mutated = apply_line_edits(&body, &edits);
            if crlf {
                mutated = mutated.replace('\n', "\r\n");
            }
            check_outcome(&configs[ci], &mutated)
        },
    );
}
