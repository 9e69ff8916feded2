//! The plan fingerprint: one hash naming exactly which resource changes a plan
//! makes, so apply can refuse a plan that differs from the one people reviewed.
//!
//! `templates/scripts/fingerprint.py` (shipped into infra repositories as
//! `.github/tfpilot/fingerprint.py`) implements the same algorithm in Python;
//! a test runs both on every plan fixture. Change both together, and bump
//! `version` when the result changes.
//!
//! # Algorithm (version 1)
//!
//! Input: the `terraform show -json` document and an optional module filter.
//!
//! 1. **Sensitive strings** `S`: every JSON string found under a sensitivity
//!    mark in `resource_changes[].change` (`before` under `before_sensitive`,
//!    `after` under `after_sensitive`) and in `output_changes.*` (same keys),
//!    plus every string inside `variables.<name>.value` for each root variable
//!    that `configuration.root_module.variables.<name>.sensitive` is `true`
//!    for. Always over the whole plan, whatever the filter. A mask marks a
//!    value when it is `true` (the whole value), or recursively: mask object
//!    and value object → each key of the mask present in the value; mask array
//!    and value array → pairwise up to the shorter length; anything else marks
//!    nothing.
//! 2. **Selection**: `resource_changes` entries, all of them, or with a filter
//!    `m` only those whose `address` starts with `m.` or `m[` (`m` gets a
//!    `module.` prefix when it has none).
//! 3. **Entry** per selected change, an object with exactly these keys:
//!    `address` (string), `deposed` (string or null; empty string → null),
//!    `actions` (the array as given, or `[]`), `previous_address` (string or
//!    null; empty → null), `importing` (`change.importing` or null, then
//!    *redacted* as below with no mask), and `after`:
//!    * **known**: start from `change.after` (missing → null). If
//!      `change.after_unknown` is `true`, the result is null. Otherwise walk
//!      value and `after_unknown` together: in an object, drop every key
//!      whose unknown-mask is `true`; in an array, replace every element whose
//!      unknown-mask is `true` by null; recurse where value and mask are both
//!      objects or both arrays (by key / by index); stop elsewhere.
//!    * **redacted**: walk the known value with `change.after_sensitive`:
//!      where the mask is `true`, replace the value by the string
//!      `"sensitive:sha256:" + hex(sha256(canonical(value)))`; recurse into
//!      objects/arrays by key / by index (a missing or non-matching mask marks
//!      nothing but the walk continues); any string leaf not under a mark that is in `S` is
//!      replaced the same way (an unmarked copy of a secret, which Terraform
//!      produces for example in `terraform_data.output`).
//! 4. **Order**: entries sorted by `address`, then by `deposed` (null as empty
//!    string), comparing strings by Unicode code points.
//! 5. **Document**: `{"resource_changes": [entries], "version": 1}`.
//! 6. **Canonical JSON** (`canonical`): no whitespace; object keys sorted by
//!    code point; strings in double quotes with `"` `\` escaped by a
//!    backslash, U+0008 U+000C U+000A U+000D U+0009 as `\b \f \n \r \t`, other
//!    characters below U+0020 as `\u00xx` (lowercase hex), everything else
//!    literal UTF-8; `true`, `false`, `null`; numbers: an integer literal
//!    that fits in a signed or unsigned 64-bit integer → its decimal digits;
//!    any other number → its IEEE-754 double (correctly rounded); a double
//!    with no fractional part and magnitude below 2^53 → decimal digits of
//!    that integer (`-0` → `0`), else the shortest round-trip digits in the
//!    form `d[.ddd]e<exp>` (`7.5e-1`, `1e22`, `-1.5e300`).
//! 7. **Fingerprint**: `"sha256:" + hex(sha256(utf8(canonical(document))))`,
//!    lowercase hex. The short form is the first 12 hex digits.
//!
//! The canonical document holds known planned values in clear text except the
//! sensitive ones, so it is never logged or stored; only the digest is.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::core::plan::{Plan, RawResourceChange, sensitive_strings};

/// Version of the algorithm above, part of the hashed document.
pub const VERSION: u64 = 1;

/// The `sha256:<hex>` fingerprint of a plan's resource changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

/// A string that is not `sha256:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a plan fingerprint (expected sha256:<64 lowercase hex digits>)")]
pub struct InvalidFingerprint;

impl Fingerprint {
    /// Parse a stored or received fingerprint.
    pub fn parse(s: &str) -> Result<Fingerprint, InvalidFingerprint> {
        let hex = s.strip_prefix("sha256:").ok_or(InvalidFingerprint)?;
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Fingerprint(s.to_owned()))
            .ok_or(InvalidFingerprint)
    }

    /// The full form, `sha256:<64 hex>`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for display next to the plan summary.
    pub fn short(&self) -> &str {
        let hex = &self.0["sha256:".len()..];
        &hex[..12]
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = InvalidFingerprint;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Fingerprint::parse(&s)
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.0
    }
}

/// The fingerprint of `plan`, optionally only of the changes under a module
/// (`module.tfpilot_<id>` or `tfpilot_<id>`).
pub fn fingerprint(plan: &Plan, filter_module: Option<&str>) -> Fingerprint {
    let canonical = canonical_input(plan, filter_module);
    Fingerprint(format!("sha256:{}", sha256_hex(canonical.as_bytes())))
}

/// The canonical text that is hashed (step 6). Holds known non-sensitive
/// planned values: for tests and debugging, never for logs.
pub fn canonical_input(plan: &Plan, filter_module: Option<&str>) -> String {
    let raw = &plan.raw;
    let secrets = sensitive_strings(raw);
    let prefix = filter_module.map(|m| {
        if m.starts_with("module.") {
            m.to_owned()
        } else {
            format!("module.{m}")
        }
    });
    let mut entries: Vec<(&str, &str, Value)> = raw
        .resource_changes
        .iter()
        .filter(|rc| match &prefix {
            None => true,
            Some(p) => rc
                .address
                .strip_prefix(p.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')),
        })
        .map(|rc| {
            let deposed = rc.deposed.as_deref().unwrap_or("");
            (rc.address.as_str(), deposed, entry(rc, &secrets))
        })
        .collect();
    entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut doc = Map::new();
    doc.insert(
        "resource_changes".into(),
        Value::Array(entries.into_iter().map(|(_, _, e)| e).collect()),
    );
    doc.insert("version".into(), Value::from(VERSION));
    canonical(&Value::Object(doc))
}

fn entry(rc: &RawResourceChange, secrets: &BTreeSet<String>) -> Value {
    let non_empty = |s: &Option<String>| match s.as_deref() {
        Some(v) if !v.is_empty() => Value::from(v),
        _ => Value::Null,
    };
    let ch = &rc.change;
    let known = known(&ch.after, &ch.after_unknown);
    let after = redact(known, Some(&ch.after_sensitive), secrets);
    let importing = ch
        .importing
        .clone()
        .map(|i| redact(i, None, secrets))
        .unwrap_or(Value::Null);
    let mut e = Map::new();
    e.insert("address".into(), Value::from(rc.address.as_str()));
    e.insert("deposed".into(), non_empty(&rc.deposed));
    e.insert(
        "actions".into(),
        Value::Array(ch.actions.iter().map(|a| Value::from(a.as_str())).collect()),
    );
    e.insert("previous_address".into(), non_empty(&rc.previous_address));
    e.insert("importing".into(), importing);
    e.insert("after".into(), after);
    Value::Object(e)
}

/// `value` without the parts `unknown` marks as unknown until apply.
fn known(value: &Value, unknown: &Value) -> Value {
    match (value, unknown) {
        (_, Value::Bool(true)) => Value::Null,
        (Value::Object(v), Value::Object(u)) => Value::Object(
            v.iter()
                .filter(|(k, _)| u.get(*k) != Some(&Value::Bool(true)))
                .map(|(k, sub)| {
                    let sub = match u.get(k) {
                        Some(m) => known(sub, m),
                        None => sub.clone(),
                    };
                    (k.clone(), sub)
                })
                .collect(),
        ),
        (Value::Array(v), Value::Array(u)) => Value::Array(
            v.iter()
                .enumerate()
                .map(|(i, sub)| match u.get(i) {
                    Some(m) => known(sub, m),
                    None => sub.clone(),
                })
                .collect(),
        ),
        _ => value.clone(),
    }
}

/// `value` with marked parts and copies of sensitive strings replaced by hashes.
fn redact(value: Value, mask: Option<&Value>, secrets: &BTreeSet<String>) -> Value {
    if mask == Some(&Value::Bool(true)) {
        return hashed(&value);
    }
    match value {
        Value::Object(map) => {
            let sub_masks = mask.and_then(Value::as_object);
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let m = sub_masks.and_then(|m| m.get(&k));
                        (k, redact(v, m, secrets))
                    })
                    .collect(),
            )
        }
        Value::Array(items) => {
            let sub_masks = mask.and_then(Value::as_array);
            Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| redact(v, sub_masks.and_then(|m| m.get(i)), secrets))
                    .collect(),
            )
        }
        Value::String(s) if secrets.contains(&s) => hashed(&Value::String(s)),
        other => other,
    }
}

fn hashed(value: &Value) -> Value {
    Value::String(format!(
        "sensitive:sha256:{}",
        sha256_hex(canonical(value).as_bytes())
    ))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Canonical JSON text of `value` (step 6 of the module doc).
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&canonical_number(n)),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn canonical_number(n: &serde_json::Number) -> String {
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    let x = n.as_f64().unwrap_or(f64::NAN);
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    if x.fract() == 0.0 && x.abs() < LIMIT {
        // Exact: the value is an integer below 2^53.
        return (x as i64).to_string();
    }
    format!("{x:e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(json: &str) -> Fingerprint {
        fingerprint(&Plan::from_json(json).expect("plan"), None)
    }

    const BASE: &str = r#"{"format_version":"1.2","resource_changes":[
      {"address":"a.x","change":{"actions":["create"],"after":{"name":"n","size":1,"id":null},"after_unknown":{"id":true}}},
      {"address":"a.y","change":{"actions":["update"],"after":{"tags":["t1","t2"]},"after_unknown":{"tags":[false,false]}}}
    ]}"#;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let reordered = r#"{"resource_changes":[
          {"change":{"after_unknown":{"tags":[false,false]},"after":{"tags":["t1","t2"]},"actions":["update"]},"address":"a.y"},
          {"change":{"after_unknown":{"id":true},"after":{"id":null,"size":1.0,"name":"n"},"actions":["create"]},"address":"a.x"}
        ],"format_version":"1.2","timestamp":"2026-01-01T00:00:00Z"}"#;
        assert_eq!(fp(BASE), fp(reordered));
    }

    #[test]
    fn action_address_and_known_values_change_it() {
        let base = fp(BASE);
        for changed in [
            BASE.replace(r#"["create"]"#, r#"["delete","create"]"#),
            BASE.replace("a.x", "a.z"),
            BASE.replace(r#""size":1"#, r#""size":2"#),
            BASE.replace(r#"["t1","t2"]"#, r#"["t2","t1"]"#),
        ] {
            assert_ne!(fp(&changed), base, "{changed}");
        }
        // Unknown values are not part of it: a different placeholder is the same plan.
        assert_eq!(fp(&BASE.replace(r#""id":null"#, r#""id":"x""#)), base);
    }

    #[test]
    fn sensitive_values_are_hashed_never_shown() {
        let plan = r#"{"format_version":"1.2","resource_changes":[
          {"address":"a.x","change":{"actions":["create"],
            "after":{"token":"hunter2-zz","copy":{"t":"hunter2-zz"},"list":["ok","hunter2-zz"]},
            "after_sensitive":{"token":true}}}]}"#;
        let p = Plan::from_json(plan).expect("plan");
        let input = canonical_input(&p, None);
        assert!(!input.contains("hunter2"), "{input}");
        assert_eq!(input.matches("sensitive:sha256:").count(), 3, "{input}");
        let rotated = plan.replace("hunter2-zz", "hunter3-zz");
        assert_ne!(fp(plan), fp(&rotated));
    }

    #[test]
    fn module_filter_keeps_only_that_module() {
        let plan = r#"{"format_version":"1.2","resource_changes":[
          {"address":"module.tfpilot_a.t.x","change":{"actions":["create"]}},
          {"address":"module.tfpilot_a[0].t.x","change":{"actions":["create"]}},
          {"address":"module.tfpilot_ab.t.x","change":{"actions":["create"]}},
          {"address":"t.y","change":{"actions":["create"]}}
        ]}"#;
        let p = Plan::from_json(plan).expect("plan");
        let input = canonical_input(&p, Some("tfpilot_a"));
        assert!(input.contains("module.tfpilot_a.t.x"));
        assert!(input.contains("module.tfpilot_a[0].t.x"));
        assert!(
            !input.contains("tfpilot_ab") && !input.contains("t.y"),
            "{input}"
        );
        assert_eq!(
            fingerprint(&p, Some("tfpilot_a")),
            fingerprint(&p, Some("module.tfpilot_a"))
        );
    }

    #[test]
    fn canonical_numbers_and_strings() {
        let v: Value = serde_json::from_str(
            r#"[1, 1.0, -0.0, 0.75, 1e22, 18446744073709551615, -9223372036854775808, 1.5e-7, 123.456, 9007199254740993.0]"#,
        )
        .expect("json");
        assert_eq!(
            canonical(&v),
            "[1,1,0,7.5e-1,1e22,18446744073709551615,-9223372036854775808,1.5e-7,1.23456e2,9.007199254740992e15]"
        );
        let s = Value::from("a\"b\\c\u{1}\u{7f}é\n");
        assert_eq!(canonical(&s), "\"a\\\"b\\\\c\\u0001\u{7f}é\\n\"");
    }

    #[test]
    fn fingerprint_text_round_trips_and_short_form() {
        let f = fp(BASE);
        assert!(f.as_str().starts_with("sha256:"));
        assert_eq!(f.short().len(), 12);
        assert!(f.as_str()[7..].starts_with(f.short()));
        assert_eq!(Fingerprint::parse(f.as_str()), Ok(f.clone()));
        assert_eq!(Fingerprint::parse("sha256:abc"), Err(InvalidFingerprint));
        let json = serde_json::to_string(&f).expect("ser");
        assert_eq!(serde_json::from_str::<Fingerprint>(&json).expect("de"), f);
    }
}
