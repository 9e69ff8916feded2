//! Target: webhook bodies → `tfpilot::core::webhook::parse_event`.
//!
//! GitHub writes these bytes, and its payloads drift (fields appear, vanish, change
//! type); anyone holding the webhook secret could write them too. The parser must never
//! panic, must name the event it was told, and must read `action` and the installation
//! from the payload itself.

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;
use tfpilot::core::webhook::{Event, parse_event};

use crate::common::{ensure, fuzz, json_value, root, wide_string};

/// Events tfpilot parses into types, and some it only acknowledges.
const EVENTS: [&str; 13] = [
    "ping",
    "workflow_run",
    "pull_request",
    "pull_request_review",
    "issue_comment",
    "issues",
    "check_run",
    "merge_group",
    "installation",
    "installation_repositories",
    "push",
    "workflow_job",
    "check_suite",
];

/// Field names of the payload types, so generated objects reach past the top level.
const KEYS: &[&str] = &[
    "action",
    "installation",
    "repository",
    "sender",
    "id",
    "name",
    "full_name",
    "owner",
    "login",
    "type",
    "default_branch",
    "fork",
    "workflow_run",
    "display_title",
    "status",
    "conclusion",
    "head_branch",
    "head_sha",
    "run_attempt",
    "pull_request",
    "number",
    "head",
    "base",
    "ref",
    "sha",
    "repo",
    "merged",
    "state",
    "review",
    "user",
    "commit_id",
    "issue",
    "comment",
    "body",
    "labels",
    "label",
    "check_run",
    "app",
    "slug",
    "requested_action",
    "identifier",
    "merge_group",
    "account",
    "pull_requests",
];

/// A real or derived payload from `fixtures/github/webhooks/`.
#[derive(Debug, Clone)]
struct Fixture {
    file: String,
    event: String,
    action: Option<String>,
    payload: Value,
}

fn fixtures() -> Vec<Fixture> {
    let dir = root().join("fixtures/github/webhooks");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dir.join("manifest.json")).expect("manifest.json readable"),
    )
    .expect("manifest.json is JSON");
    let files = manifest["files"].as_array().expect("manifest lists files");
    files
        .iter()
        .map(|f| {
            let file = f["file"].as_str().expect("file").to_owned();
            let text = std::fs::read(dir.join(&file)).expect("fixture readable");
            Fixture {
                event: f["event"].as_str().expect("event").to_owned(),
                action: f["action"].as_str().map(str::to_owned),
                payload: serde_json::from_slice(&text).expect("fixture is JSON"),
                file,
            }
        })
        .collect()
}

/// What any successful parse must agree with: the event name it was given, the
/// payload's own `action`, and the payload's installation id.
fn check_consistent(
    event: &str,
    payload: Option<&Value>,
    parsed: &Event,
) -> Result<(), TestCaseError> {
    ensure(parsed.name() == event, || {
        format!("parsed as `{}` when told `{event}`", parsed.name())
    })?;
    let Some(payload) = payload else {
        return Ok(());
    };
    let want_action = match parsed {
        Event::Ping => None,
        _ => payload.get("action").and_then(Value::as_str),
    };
    ensure(parsed.action() == want_action, || {
        format!("action {:?}, payload says {want_action:?}", parsed.action())
    })?;
    let want_installation = match parsed {
        Event::Ping | Event::Unsupported { .. } => None,
        // serde also reads a struct from an array of its fields in order (`[7]`).
        _ => match payload.get("installation") {
            Some(Value::Object(i)) => i.get("id").and_then(Value::as_u64),
            Some(Value::Array(i)) => i.first().and_then(Value::as_u64),
            _ => None,
        },
    };
    ensure(parsed.installation_id() == want_installation, || {
        format!(
            "installation {:?}, payload says {want_installation:?}",
            parsed.installation_id()
        )
    })
}

/// Parses and checks; errors must at least display.
fn parse_and_check(event: &str, body: &[u8]) -> Result<(), TestCaseError> {
    match parse_event(event, body) {
        Ok(parsed) => {
            let payload: Option<Value> = serde_json::from_slice(body).ok();
            check_consistent(event, payload.as_ref(), &parsed)
        }
        Err(e) => ensure(!e.to_string().is_empty(), || "empty error text".to_owned()),
    }
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(EVENTS.to_vec()).prop_map(str::to_owned),
        1 => wide_string(256),
    ]
}

#[test]
fn real_payloads_parse_into_their_event() {
    let all = fixtures();
    assert!(all.len() >= 60, "only {} fixtures listed", all.len());
    for f in &all {
        let body = serde_json::to_vec(&f.payload).expect("serialises");
        let parsed = parse_event(&f.event, &body).unwrap_or_else(|e| panic!("{}: {e}", f.file));
        check_consistent(&f.event, Some(&f.payload), &parsed)
            .unwrap_or_else(|e| panic!("{}: {e}", f.file));
        if f.event != "ping" {
            assert_eq!(parsed.action(), f.action.as_deref(), "{}", f.file);
        }
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [127, 128, 129, 10_000, 1_000_000] {
        let body = format!(
            "{{\"action\":\"opened\",\"repository\":{}{}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        for event in EVENTS {
            assert!(
                parse_event(event, body.as_bytes()).is_err(),
                "{event} at depth {depth}"
            );
        }
    }
}

#[test]
fn fuzz_webhook_arbitrary_bytes() {
    let body = prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..512),
        2 => wide_string(1 << 16).prop_map(String::into_bytes),
        1 => json_value(KEYS).prop_map(|v| v.to_string().into_bytes()),
    ];
    fuzz(
        "webhook_arbitrary_bytes",
        (event_name(), body),
        |(event, body)| parse_and_check(&event, &body),
    );
}

#[test]
fn fuzz_webhook_arbitrary_json_objects() {
    // Objects whose top-level keys are the payload fields, with values of any shape.
    let object = prop::collection::vec(
        (prop::sample::select(KEYS.to_vec()), json_value(KEYS)),
        0..10,
    )
    .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    fuzz(
        "webhook_arbitrary_json_objects",
        (event_name(), object),
        |(event, object)| parse_and_check(&event, object.to_string().as_bytes()),
    );
}

/// A step from a node to one of its children.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(v: &Value) -> Vec<Vec<Step>> {
    fn walk(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        out.push(here.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    here.push(Step::Key(k.clone()));
                    walk(child, here, out);
                    here.pop();
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    here.push(Step::Index(i));
                    walk(child, here, out);
                    here.pop();
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn node_mut<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |node, step| match step {
        Step::Key(k) => node.get_mut(k.as_str()),
        Step::Index(i) => node.get_mut(*i),
    })
}

/// One structure-aware change to a payload, at the node picked by `at`.
#[derive(Debug, Clone)]
enum Mutation {
    /// Remove the node from its parent.
    Drop(usize),
    /// Replace it by a value of another type.
    Retype(usize, Value),
    /// Replace it by a (possibly huge) string.
    Text(usize, String),
    /// Replace it by an arbitrary value.
    Any(usize, Value),
    /// Add a field to it, if it is an object.
    AddField(usize, String, Value),
    /// Replace it by `depth` nested arrays (spliced into the bytes).
    Nest(usize, usize),
}

const NEST_MARK: &str = "\u{0}tfpilot-fuzz-nest\u{0}";

fn other_type() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        Value::Null,
        Value::Bool(true),
        Value::from(0),
        Value::from(-1),
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(1.5),
        Value::from(1e308),
        Value::from(""),
        Value::from("0"),
        Value::Array(vec![]),
        serde_json::json!({}),
        serde_json::json!([{"id": 1}]),
    ])
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => at.prop_map(Mutation::Drop),
        3 => (at, other_type()).prop_map(|(a, v)| Mutation::Retype(a, v)),
        2 => (at, wide_string(1 << 18)).prop_map(|(a, s)| Mutation::Text(a, s)),
        2 => (at, json_value(KEYS)).prop_map(|(a, v)| Mutation::Any(a, v)),
        2 => (at, prop::sample::select(KEYS.to_vec()), json_value(KEYS))
            .prop_map(|(a, k, v)| Mutation::AddField(a, k.to_owned(), v)),
        1 => (at, 1usize..400).prop_map(|(a, d)| Mutation::Nest(a, d)),
    ]
}

/// Applies the mutations and serialises the result, splicing in any deep nesting as
/// text (building it as a `Value` would recurse on drop).
fn mutate(payload: &Value, mutations: &[Mutation]) -> Vec<u8> {
    let mut v = payload.clone();
    let mut nest = None;
    for m in mutations {
        let all = paths(&v);
        let pick = |at: &usize| all[at % all.len()].clone();
        match m {
            Mutation::Drop(at) => {
                let path = pick(at);
                if let Some((last, parent)) = path.split_last()
                    && let Some(parent) = node_mut(&mut v, parent)
                {
                    match (last, parent) {
                        (Step::Key(k), Value::Object(o)) => {
                            o.remove(k);
                        }
                        (Step::Index(i), Value::Array(a)) if *i < a.len() => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Retype(at, new) | Mutation::Any(at, new) => {
                if let Some(node) = node_mut(&mut v, &pick(at)) {
                    *node = new.clone();
                }
            }
            Mutation::Text(at, s) => {
                if let Some(node) = node_mut(&mut v, &pick(at)) {
                    *node = Value::String(s.clone());
                }
            }
            Mutation::AddField(at, k, new) => {
                if let Some(Value::Object(o)) = node_mut(&mut v, &pick(at)) {
                    o.insert(k.clone(), new.clone());
                }
            }
            Mutation::Nest(at, depth) => {
                if let Some(node) = node_mut(&mut v, &pick(at)) {
                    *node = Value::String(NEST_MARK.to_owned());
                    nest = Some(*depth);
                }
            }
        }
    }
    let mut text = v.to_string();
    if let Some(depth) = nest {
        let mark = Value::String(NEST_MARK.to_owned()).to_string();
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        text = text.replace(&mark, &nested);
    }
    text.into_bytes()
}

#[test]
fn fuzz_webhook_mutated_real_payloads() {
    let all = fixtures();
    let n = all.len();
    let case = (
        0..n,
        prop::collection::vec(mutation(), 1..6),
        prop::option::weighted(0.2, prop::sample::select(EVENTS.to_vec())),
    );
    fuzz(
        "webhook_mutated_real_payloads",
        case,
        |(i, mutations, other_event)| {
            let f = &all[i];
            let event = other_event.unwrap_or(&f.event);
            parse_and_check(event, &mutate(&f.payload, &mutations))
        },
    );
}

/// `issue.pull_request` is kept as raw JSON and only read for presence, so new fields
/// inside it change nothing tfpilot looks at; compare it by presence.
fn opaque_pr_link(mut event: Event) -> Event {
    if let Event::IssueComment(e) = &mut event {
        e.issue.pull_request = e.issue.pull_request.take().map(|_| Value::Null);
    }
    if let Event::Issues(e) = &mut event {
        e.issue.pull_request = e.issue.pull_request.take().map(|_| Value::Null);
    }
    event
}

#[test]
fn fuzz_webhook_unknown_fields_change_nothing() {
    // GitHub adds fields over time; a field tfpilot does not know must never change
    // what a payload means. The prefix keeps clear of every real field name.
    let all = fixtures();
    let n = all.len();
    let additions = prop::collection::vec((any::<usize>(), "[a-z_]{1,12}", json_value(KEYS)), 1..8);
    fuzz(
        "webhook_unknown_fields_change_nothing",
        (0..n, additions),
        |(i, additions)| {
            let f = &all[i];
            let body =
                serde_json::to_vec(&f.payload).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let want =
                parse_event(&f.event, &body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mutations: Vec<Mutation> = additions
                .into_iter()
                .map(|(at, k, v)| Mutation::AddField(at, format!("x_tfpilot_fuzz_{k}"), v))
                .collect();
            let got = parse_event(&f.event, &mutate(&f.payload, &mutations))
                .map_err(|e| TestCaseError::fail(format!("{}: {e}", f.file)))?;
            prop_assert_eq!(opaque_pr_link(got), opaque_pr_link(want), "{}", f.file);
            Ok(())
        },
    );
}
