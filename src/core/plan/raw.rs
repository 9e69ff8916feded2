//! The serde shapes of `terraform show -json` that tfpilot reads. Values stay
//! `serde_json::Value` here because attributes are arbitrary JSON; nothing
//! outside `core::plan` and `core::fingerprint` sees them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

#[derive(Clone, Deserialize)]
pub(crate) struct RawPlan {
    pub(crate) format_version: Option<String>,
    pub(crate) terraform_version: Option<String>,
    pub(crate) applyable: Option<bool>,
    pub(crate) complete: Option<bool>,
    pub(crate) errored: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) variables: BTreeMap<String, RawVariable>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) resource_changes: Vec<RawResourceChange>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) resource_drift: Vec<RawResourceChange>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) deferred_changes: Vec<RawDeferred>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) output_changes: BTreeMap<String, RawChange>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) action_invocations: Vec<IgnoredAny>,
    #[serde(default)]
    pub(crate) configuration: Option<RawConfiguration>,
}

#[derive(Clone, Deserialize)]
pub(crate) struct RawVariable {
    #[serde(default)]
    pub(crate) value: Value,
}

#[derive(Clone, Default, Deserialize)]
pub(crate) struct RawConfiguration {
    #[serde(default)]
    pub(crate) root_module: Option<RawConfigModule>,
}

#[derive(Clone, Default, Deserialize)]
pub(crate) struct RawConfigModule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) variables: BTreeMap<String, RawConfigVariable>,
}

#[derive(Clone, Default, Deserialize)]
pub(crate) struct RawConfigVariable {
    #[serde(default)]
    pub(crate) sensitive: Option<bool>,
}

#[derive(Clone, Deserialize)]
pub(crate) struct RawResourceChange {
    #[serde(default)]
    pub(crate) address: String,
    #[serde(default)]
    pub(crate) module_address: Option<String>,
    #[serde(default)]
    pub(crate) mode: Option<String>,
    #[serde(default)]
    pub(crate) deposed: Option<String>,
    #[serde(default)]
    pub(crate) previous_address: Option<String>,
    #[serde(default)]
    pub(crate) action_reason: Option<String>,
    #[serde(default)]
    pub(crate) change: RawChange,
}

#[derive(Clone, Default, Deserialize)]
pub(crate) struct RawChange {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) actions: Vec<String>,
    #[serde(default)]
    pub(crate) before: Value,
    #[serde(default)]
    pub(crate) after: Value,
    #[serde(default)]
    pub(crate) after_unknown: Value,
    #[serde(default)]
    pub(crate) before_sensitive: Value,
    #[serde(default)]
    pub(crate) after_sensitive: Value,
    #[serde(default)]
    pub(crate) importing: Option<Value>,
}

#[derive(Clone, Deserialize)]
pub(crate) struct RawDeferred {
    #[serde(default)]
    pub(crate) reason: Option<String>,
    #[serde(default)]
    pub(crate) resource_change: Option<RawResourceChange>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Strings the plan marks sensitive anywhere tfpilot looks: resource and
/// output change values under their sensitivity masks, and the values of root
/// variables declared `sensitive = true`. Used to hide unmarked copies of a
/// secret (Terraform sometimes mirrors one without its mark).
pub(crate) fn sensitive_strings(raw: &RawPlan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rc in &raw.resource_changes {
        collect_marked(&rc.change.before, &rc.change.before_sensitive, &mut out);
        collect_marked(&rc.change.after, &rc.change.after_sensitive, &mut out);
    }
    for ch in raw.output_changes.values() {
        collect_marked(&ch.before, &ch.before_sensitive, &mut out);
        collect_marked(&ch.after, &ch.after_sensitive, &mut out);
    }
    let declared = raw
        .configuration
        .as_ref()
        .and_then(|c| c.root_module.as_ref())
        .map(|m| &m.variables);
    if let Some(declared) = declared {
        for (name, var) in &raw.variables {
            if declared.get(name).and_then(|d| d.sensitive) == Some(true) {
                collect_marked(&var.value, &Value::Bool(true), &mut out);
            }
        }
    }
    out
}

/// String leaves of `value` that `mask` marks sensitive.
fn collect_marked(value: &Value, mask: &Value, out: &mut BTreeSet<String>) {
    match (mask, value) {
        (Value::Bool(true), _) => collect_strings(value, out),
        (Value::Object(m), Value::Object(v)) => {
            for (k, sub_mask) in m {
                if let Some(sub) = v.get(k) {
                    collect_marked(sub, sub_mask, out);
                }
            }
        }
        (Value::Array(m), Value::Array(v)) => {
            for (sub, sub_mask) in v.iter().zip(m) {
                collect_marked(sub, sub_mask, out);
            }
        }
        _ => {}
    }
}

fn collect_strings(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

pub(super) fn mask_has_true(mask: &Value) -> bool {
    match mask {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(mask_has_true),
        Value::Object(map) => map.values().any(mask_has_true),
        _ => false,
    }
}
