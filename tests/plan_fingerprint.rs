//! The plan fingerprint on real plans, and agreement between the Rust
//! implementation and `templates/scripts/fingerprint.py` (which apply
//! workflows run in infra repositories).
//!
//! Committed plans (`fixtures/plans/`) always run; the shared third-party plans
//! (`../shared/fixtures/terraform/plans` or `$TFPILOT_SHARED/...`) when present.
//! Needs `python3` on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};
use tfpilot::core::fingerprint::{Fingerprint, canonical_input, fingerprint};
use tfpilot::core::plan::Plan;

const SECRETS: [&str; 2] = ["tfp-fixture-secret-Qx7mW2", "tfp-fixture-rotated-Lk93Zp"];
const BUCKET_MODULE: &str = "tfpilot_req_dev_bucket_a1b2c3";

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed_plans() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(manifest().join("fixtures/plans"))
        .expect("fixtures/plans")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".plan.json"))
        .collect();
    v.sort();
    assert!(v.len() >= 7, "committed plan fixtures missing");
    v
}

fn shared_plans() -> Option<Vec<PathBuf>> {
    let dir = std::env::var_os("TFPILOT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest().join("../shared"))
        .join("fixtures/terraform/plans");
    if !dir.is_dir() {
        eprintln!("SKIP: ../shared not present; shared plan fixtures not fingerprinted");
        return None;
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("shared plans")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".plan.json"))
        .collect();
    v.sort();
    Some(v)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read plan")
}

fn rust_fp(text: &str, module: Option<&str>) -> Option<Fingerprint> {
    Plan::from_json(text).ok().map(|p| fingerprint(&p, module))
}

fn python_fp(path: &Path, module: Option<&str>) -> Option<String> {
    let mut cmd = Command::new("python3");
    cmd.arg(manifest().join("templates/scripts/fingerprint.py"))
        .arg(path);
    if let Some(m) = module {
        cmd.arg(m);
    }
    let out = cmd
        .output()
        .expect("python3 must be on PATH to check the fingerprint script");
    if !out.status.success() {
        return None;
    }
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    Some(stdout.trim_end().to_owned())
}

/// The first module name in the plan's addresses, for the filter variant.
fn some_module(text: &str) -> Option<String> {
    let plan: Value = serde_json::from_str(text).ok()?;
    plan["resource_changes"].as_array()?.iter().find_map(|rc| {
        let rest = rc["address"].as_str()?.strip_prefix("module.")?;
        let end = rest.find(['.', '[']).unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    })
}

fn assert_agree(path: &Path) -> bool {
    let text = read(path);
    let name = path.display();
    let mut modules = vec![None];
    if let Some(m) = some_module(&text) {
        modules.push(Some(m));
    }
    for module in modules {
        let rust = rust_fp(&text, module.as_deref()).map(|f| f.to_string());
        let python = python_fp(path, module.as_deref());
        assert_eq!(
            rust, python,
            "{name} (module {module:?}): Rust and Python disagree"
        );
    }
    rust_fp(&text, None).is_some()
}

#[test]
fn script_and_rust_agree_on_committed_plans() {
    for path in committed_plans() {
        assert!(assert_agree(&path), "{} should parse", path.display());
    }
}

#[test]
fn script_and_rust_agree_on_shared_plans() {
    let Some(paths) = shared_plans() else { return };
    let parsed = paths.iter().filter(|p| assert_agree(p)).count();
    // Only the setup-terraform wrapper capture is rejected (by both).
    assert_eq!(parsed, paths.len() - 1);
}

#[test]
fn script_and_rust_agree_on_edge_cases() {
    let cases = [
        // numbers of every shape, escapes and non-ASCII keys
        r#"{"format_version":"1.2","resource_changes":[{"address":"a.n","change":{"actions":["create"],
           "after":{"i":1,"f":1.0,"z":-0.0,"half":0.5,"big":1e22,"u":18446744073709551615,"neg":-9223372036854775808,
           "huge":123456789012345678901234567890,"tiny":1.5e-7,"p":123.456,"e":"\u0001\t\"\\ é 🚀","ключ":[true,false,null]}}}]}"#,
        // unknowns in objects and lists, sensitive subtrees, unmarked copy of a secret, deposed order
        r#"{"format_version":"1.2","resource_changes":[
           {"address":"a.s","deposed":"bbbb","change":{"actions":["delete"]}},
           {"address":"a.s","change":{"actions":["create","delete"],
             "after":{"l":["k",null,"x"],"o":{"k":"v","u":null},"sec":{"a":[1,2]},"copy":"hunter2-zz","keep":"fine"},
             "after_unknown":{"l":[false,true],"o":{"u":true}},
             "after_sensitive":{"sec":true,"l":[true]}}},
           {"address":"a.s","deposed":"aaaa","change":{"actions":["delete"]}},
           {"address":"a.t","change":{"actions":["update"],"after":{"pw":"hunter2-zz"},"after_sensitive":{"pw":true}}}]}"#,
        // unknown everything, missing change, import by id and identity, moves
        r#"{"format_version":"0.1","resource_changes":[
           {"address":"a.u","change":{"actions":["create"],"after":null,"after_unknown":true}},
           {"address":"a.v"},
           {"address":"a.w","previous_address":"a.old","change":{"actions":["no-op"],"importing":{"identity":{"id":"x"}}}}],
           "variables":{"tok":{"value":"var-secret-9"}},
           "configuration":{"root_module":{"variables":{"tok":{"sensitive":true}}}}}"#,
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, case) in cases.iter().enumerate() {
        let path = dir.path().join(format!("case{i}.plan.json"));
        std::fs::write(&path, case).expect("write");
        assert!(assert_agree(&path), "case {i} should parse");
    }
}

// ------------------------------------------------------------ behaviour

/// The same JSON with every object's keys in reverse order and
/// `resource_changes` reversed: the same plan, written differently.
fn reshuffled(text: &str) -> String {
    fn rev(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m.iter().rev() {
                    out.insert(k.clone(), rev(v));
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(rev).collect()),
            other => other.clone(),
        }
    }
    let mut v = rev(&serde_json::from_str(text).expect("json"));
    if let Some(rcs) = v["resource_changes"].as_array_mut() {
        rcs.reverse();
    }
    serde_json::to_string_pretty(&v).expect("ser")
}

#[test]
fn key_order_and_entry_order_do_not_change_it() {
    for path in committed_plans() {
        let text = read(&path);
        let shuffled = reshuffled(&text);
        assert_ne!(text, shuffled);
        assert_eq!(
            rust_fp(&text, None),
            rust_fp(&shuffled, None),
            "{}",
            path.display()
        );
        assert_eq!(
            rust_fp(&text, Some(BUCKET_MODULE)),
            rust_fp(&shuffled, Some(BUCKET_MODULE)),
            "{}",
            path.display()
        );
    }
}

fn edit(text: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(text).expect("json");
    f(&mut v);
    serde_json::to_string(&v).expect("ser")
}

#[test]
fn any_change_of_action_address_or_known_value_changes_it() {
    let text = read(&manifest().join("fixtures/plans/update.plan.json"));
    let base = rust_fp(&text, None);
    let bucket = |v: &mut Value| -> usize {
        v["resource_changes"]
            .as_array()
            .and_then(|a| {
                a.iter().position(|rc| {
                    rc["address"]
                        .as_str()
                        .is_some_and(|s| s.ends_with(".bucket"))
                })
            })
            .expect("bucket change")
    };
    let variants = [
        edit(&text, |v| {
            let i = bucket(v);
            v["resource_changes"][i]["change"]["actions"] = serde_json::json!(["delete", "create"]);
        }),
        edit(&text, |v| {
            let i = bucket(v);
            v["resource_changes"][i]["address"] =
                "module.tfpilot_req_dev_bucket_a1b2c3.terraform_data.bucket2".into();
        }),
        edit(&text, |v| {
            let i = bucket(v);
            v["resource_changes"][i]["change"]["after"]["input"]["size_gb"] = 21.into();
        }),
        edit(&text, |v| {
            let i = bucket(v);
            v["resource_changes"][i]["deposed"] = "0badc0de".into();
        }),
    ];
    for (i, variant) in variants.iter().enumerate() {
        assert_ne!(rust_fp(variant, None), base, "variant {i}");
    }
    // A changed value outside the filtered module does not move the module's fingerprint.
    let outside = edit(&text, |v| {
        v["resource_changes"][0]["change"]["actions"] = serde_json::json!(["update"]);
    });
    assert_ne!(rust_fp(&outside, None), base);
    assert_eq!(
        rust_fp(&outside, Some(BUCKET_MODULE)),
        rust_fp(&text, Some(BUCKET_MODULE))
    );
    // Plans of different requests differ.
    let plans: Vec<_> = committed_plans()
        .iter()
        .map(|p| rust_fp(&read(p), None))
        .collect();
    for (i, a) in plans.iter().enumerate() {
        for b in &plans[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn rotating_a_secret_changes_it_without_showing_it() {
    let create = read(&manifest().join("fixtures/plans/noop.plan.json"));
    let sensitive = read(&manifest().join("fixtures/plans/sensitive.plan.json"));
    assert_ne!(rust_fp(&create, None), rust_fp(&sensitive, None));
    for path in committed_plans() {
        let text = read(&path);
        let plan = Plan::from_json(&text).expect("plan");
        let input = canonical_input(&plan, None);
        let output = fingerprint(&plan, None).to_string();
        for secret in SECRETS {
            assert!(
                !input.contains(secret) && !output.contains(secret),
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn shared_sensitive_values_never_appear_in_the_fingerprint_input() {
    let Some(paths) = shared_plans() else { return };
    for path in paths {
        let Ok(plan) = Plan::from_json(&read(&path)) else {
            continue;
        };
        let expected_path = PathBuf::from(
            path.to_string_lossy()
                .replace(".plan.json", ".expected.json"),
        );
        let exp: Value = serde_json::from_str(&read(&expected_path)).expect("expected");
        let input = canonical_input(&plan, None);
        for secret in exp["sensitive"]["must_not_appear"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let secret = secret.as_str().unwrap_or_default();
            assert!(
                !input.contains(secret),
                "{}: sensitive value in input",
                path.display()
            );
        }
        // Stronger: no marked string of the plan appears as a whole JSON string,
        // even those Terraform also carries unmarked. Only for format 1.x: before
        // Terraform 0.15 changes carried no marks, so a value marked only in a
        // sensitive output (`bar` in tfjson-basic-0.12) is a plain value elsewhere.
        if !exp["format_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1."))
        {
            continue;
        }
        for secret in exp["sensitive"]["sensitive_leaf_values"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(s) = secret.as_str() {
                let quoted = serde_json::to_string(s).expect("quote");
                assert!(
                    !input.contains(&quoted),
                    "{}: {quoted} in input",
                    path.display()
                );
            }
        }
    }
}
