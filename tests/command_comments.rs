//! The command parser against the 20 labelled real comments in the shared
//! fixtures (`fixtures/github/comments.jsonl`), compared field by field.
//!
//! The file is read from `../shared` beside the crate (or `$TFPILOT_SHARED`);
//! without it the test prints a visible skip and passes.

use std::path::PathBuf;

use serde_json::Value;
use tfpilot::core::command::{CommandParse, ProblemKind, parse_comment};

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TFPILOT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}

/// The parse outcome in the fixture's shape: (kind, commands, malformed).
fn as_fixture_shape(outcome: &CommandParse) -> Value {
    let (kind, commands, problems) = match outcome {
        CommandParse::NotAddressed => ("not_addressed", &[][..], &[][..]),
        CommandParse::Commands(c) => ("commands", c.as_slice(), &[][..]),
        CommandParse::Malformed { commands, problems } => {
            ("malformed", commands.as_slice(), problems.as_slice())
        }
    };
    let commands: Vec<Value> = commands
        .iter()
        .map(|c| {
            serde_json::json!({
                "line": c.line,
                "verb": c.action.verb().as_str(),
                "args": c.action.args(),
            })
        })
        .collect();
    let malformed: Vec<Value> = problems
        .iter()
        .map(|p| {
            let mut v = serde_json::json!({ "line": p.line, "text": p.text });
            match &p.kind {
                ProblemKind::MissingVerb => {
                    v["reason"] = "missing verb".into();
                }
                ProblemKind::UnknownVerb {
                    verb,
                    nearest,
                    distance,
                } => {
                    v["reason"] = "unknown verb".into();
                    v["verb"] = verb.as_str().into();
                    v["nearest"] = nearest.as_str().into();
                    v["distance"] = (*distance).into();
                }
                ProblemKind::UnexpectedArguments { verb, args } => {
                    v["reason"] = "unexpected arguments".into();
                    v["verb"] = verb.as_str().into();
                    v["nearest"] = verb.as_str().into();
                    v["distance"] = 0.into();
                    v["args"] = args.clone().into();
                }
            }
            v
        })
        .collect();
    serde_json::json!({ "kind": kind, "commands": commands, "malformed": malformed })
}

#[test]
fn parser_agrees_with_every_labelled_real_comment() {
    let Some(shared) = shared_dir() else {
        eprintln!("SKIP: ../shared not present; comments.jsonl fixtures not checked");
        return;
    };
    let path = shared.join("fixtures/github/comments.jsonl");
    let text = std::fs::read_to_string(&path).expect("read comments.jsonl");
    let mut checked = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let record: Value = serde_json::from_str(line).expect("jsonl record");
        let body = record["translated"].as_str().expect("translated");
        let expected = &record["expected"];
        let got = as_fixture_shape(&parse_comment(body));
        let mut want = serde_json::json!({
            "kind": expected["kind"],
            "commands": expected["commands"],
            "malformed": expected["malformed"],
        });
        // Only fields the fixture states are compared: it omits `args` on
        // unknown-verb lines.
        let mut got = got;
        if let (Some(g), Some(w)) = (
            got["malformed"].as_array_mut(),
            want["malformed"].as_array_mut(),
        ) {
            assert_eq!(g.len(), w.len(), "record {}: {body:?}", n + 1);
            for (g, w) in g.iter_mut().zip(w.iter_mut()) {
                if let (Some(g), Some(w)) = (g.as_object_mut(), w.as_object()) {
                    g.retain(|k, _| w.contains_key(k));
                }
            }
        }
        assert_eq!(got, want, "record {}: {body:?}", n + 1);
        checked += 1;
    }
    assert_eq!(checked, 20, "expected all 20 records");
}
