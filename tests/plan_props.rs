//! Property tests for the plan, cost and fingerprint readers: no input makes
//! them panic, key order never matters, and the Python fingerprint script
//! agrees with Rust on random values (numbers, escapes, masks).

use std::process::Command;

use proptest::prelude::*;
use serde_json::{Map, Value};
use tfpilot::core::cost::CostEstimate;
use tfpilot::core::fingerprint::fingerprint;
use tfpilot::core::plan::Plan;

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        (-1000i32..1000).prop_map(|i| Value::from(f64::from(i) / 8.0)),
        "\\PC{0,12}".prop_map(Value::from),
        "[\\x00-\\x1f\"\\\\é🚀a]{0,6}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec(("[a-z_é]{1,6}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A mask shaped like (part of) a value: `true`, `false`, or nested.
fn mask_for(value: &Value, seed: u64) -> Value {
    match (value, seed % 4) {
        (_, 0) => Value::Bool(true),
        (Value::Object(m), _) => Value::Object(
            m.iter()
                .enumerate()
                .map(|(i, (k, v))| (k.clone(), mask_for(v, seed / 3 + i as u64)))
                .collect(),
        ),
        (Value::Array(a), _) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, v)| mask_for(v, seed / 3 + i as u64))
                .collect(),
        ),
        _ => Value::Bool(false),
    }
}

fn plan_strategy() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            "[a-z]{1,3}\\.[a-z]{1,3}",
            prop::option::of("[0-9a-f]{8}"),
            prop::sample::select(vec!["create", "update", "delete", "no-op", "read"]),
            json_value(),
            any::<u64>(),
            any::<u64>(),
        ),
        0..4,
    )
    .prop_map(|changes| {
        let rcs: Vec<Value> = changes
            .into_iter()
            .map(|(address, deposed, action, after, s1, s2)| {
                let mut rc = serde_json::json!({
                    "address": address,
                    "change": {
                        "actions": [action],
                        "after_unknown": mask_for(&after, s1),
                        "after_sensitive": mask_for(&after, s2),
                        "after": after,
                    }
                });
                if let Some(d) = deposed {
                    rc["deposed"] = d.into();
                }
                rc
            })
            .collect();
        serde_json::json!({"format_version": "1.2", "resource_changes": rcs})
    })
}

fn reversed_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reversed_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(reversed_keys).collect()),
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn readers_never_panic_on_text(s in "\\PC{0,300}") {
        let _ = Plan::from_json(&s).map(|p| (p.summary(), fingerprint(&p, Some("x"))));
        let _ = CostEstimate::from_json(&s);
    }

    #[test]
    fn readers_never_panic_on_json_in_plan_positions(v in json_value(), w in json_value()) {
        let doc = serde_json::json!({
            "format_version": "1.0",
            "resource_changes": [{"address": "a.b", "change": {"actions": ["update"], "after": v, "after_unknown": w, "after_sensitive": v, "importing": w}}],
            "output_changes": {"o": {"actions": ["create"], "after": w, "after_sensitive": v}},
        });
        if let Ok(p) = Plan::from_json(&doc.to_string()) {
            let _ = p.summary();
            let _ = fingerprint(&p, None);
        }
        let cost = serde_json::json!({"totalMonthlyCost": v, "projects": [w]});
        let _ = CostEstimate::from_json(&cost.to_string());
    }

    #[test]
    fn key_order_never_changes_the_fingerprint(plan in plan_strategy()) {
        let a = Plan::from_json(&plan.to_string()).expect("plan");
        let b = Plan::from_json(&serde_json::to_string_pretty(&reversed_keys(&plan)).expect("ser")).expect("plan");
        prop_assert_eq!(fingerprint(&a, None), fingerprint(&b, None));
    }
}

proptest! {
    // Each case starts python3; keep the count small.
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn python_script_agrees_on_random_plans(plan in plan_strategy()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plan.json");
        let text = plan.to_string();
        std::fs::write(&path, &text).expect("write");
        let rust = fingerprint(&Plan::from_json(&text).expect("plan"), None).to_string();
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/templates/scripts/fingerprint.py"))
            .arg(&path)
            .output()
            .expect("python3 must be on PATH");
        let python = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
        prop_assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        prop_assert_eq!(rust, python, "plan: {}", text);
    }
}
