//! Terraform's JSON plan (`terraform show -json`): reading it and summarizing it.
//!
//! Reading is tolerant in what the format lets vary: unknown fields, every
//! `format_version` from `0.1` (Terraform 0.12) to `1.x`, missing
//! `resource_changes` (errored, refresh-only or output-only plans), `null`
//! sections. Anything that is not a `terraform show -json` plan is a
//! [`PlanError`]; the caller says "plan unreadable" and links the run.
//!
//! The summary never carries attribute values: only addresses, action
//! classes, output names, import ids that are not sensitive, and flags saying
//! that a change holds sensitive values. Values stay inside [`Plan`], whose
//! `Debug` does not print them, for the fingerprint.
//!
//! Counting follows Terraform itself (`internal/command/jsonformat/plan.go`):
//! the `Plan: [N to import, ]A to add, C to change, D to destroy.` line counts
//! a replace in both add and destroy, skips no-ops that are neither moved nor
//! imported, skips deleted data sources, and does not count `read` or
//! `forget`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a plan file could not be read.
///
/// Messages carry positions only, never file content: a plan holds secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The file is empty (or only whitespace).
    #[error("plan.json is empty")]
    Empty,
    /// Not valid JSON.
    #[error("plan.json is not valid JSON (line {line}, column {column}){}", wrapper_hint(*.wrapped))]
    NotJson {
        /// 1-based line of the syntax error.
        line: usize,
        /// 1-based column of the syntax error.
        column: usize,
        /// The text starts like output captured through setup-terraform's wrapper.
        wrapped: bool,
    },
    /// Valid JSON, but fields have types a plan never has.
    #[error("plan.json does not have the shape of a Terraform plan (line {line}, column {column})")]
    Shape {
        /// 1-based line where the unexpected value starts.
        line: usize,
        /// 1-based column where the unexpected value starts.
        column: usize,
    },
    /// Valid JSON without `format_version`: not `terraform show -json` output.
    #[error("plan.json has no format_version: not the output of `terraform show -json <planfile>`")]
    NotAPlan,
    /// A `format_version` with a major version this reader does not know.
    #[error("plan.json has format_version {0}, which tfpilot does not read (0.x and 1.x only)")]
    UnsupportedFormat(String),
}

fn wrapper_hint(wrapped: bool) -> &'static str {
    if wrapped {
        "; it looks like output captured through hashicorp/setup-terraform's wrapper \
         (set `terraform_wrapper: false`)"
    } else {
        ""
    }
}

/// A parsed plan. Holds attribute values (secrets included), so it is never
/// printed or serialized; use [`Plan::summary`] for anything shown.
#[derive(Clone)]
pub struct Plan {
    pub(crate) raw: RawPlan,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("format_version", &self.raw.format_version)
            .field("resource_changes", &self.raw.resource_changes.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Deserialize)]
pub(crate) struct RawPlan {
    pub(crate) format_version: Option<String>,
    terraform_version: Option<String>,
    applyable: Option<bool>,
    complete: Option<bool>,
    errored: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) variables: BTreeMap<String, RawVariable>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) resource_changes: Vec<RawResourceChange>,
    #[serde(default, deserialize_with = "null_as_default")]
    resource_drift: Vec<RawResourceChange>,
    #[serde(default, deserialize_with = "null_as_default")]
    deferred_changes: Vec<RawDeferred>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) output_changes: BTreeMap<String, RawChange>,
    #[serde(default, deserialize_with = "null_as_default")]
    action_invocations: Vec<IgnoredAny>,
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
    module_address: Option<String>,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    pub(crate) deposed: Option<String>,
    #[serde(default)]
    pub(crate) previous_address: Option<String>,
    #[serde(default)]
    action_reason: Option<String>,
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
struct RawDeferred {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    resource_change: Option<RawResourceChange>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Plan {
    /// Read `terraform show -json` output.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(PlanError::Empty);
        }
        let raw: RawPlan = serde_json::from_str(text).map_err(|e| {
            let (line, column) = (e.line(), e.column());
            match e.classify() {
                serde_json::error::Category::Data => PlanError::Shape { line, column },
                _ => PlanError::NotJson {
                    line,
                    column,
                    wrapped: text.trim_start().starts_with("[command]"),
                },
            }
        })?;
        let Some(version) = raw.format_version.as_deref() else {
            return Err(PlanError::NotAPlan);
        };
        let major = version.split('.').next().unwrap_or_default();
        if major != "0" && major != "1" {
            return Err(PlanError::UnsupportedFormat(
                version.chars().take(20).collect(),
            ));
        }
        Ok(Plan { raw })
    }

    /// The summary shown to people: counts, addresses, Terraform's plan line.
    pub fn summary(&self) -> PlanSummary {
        let raw = &self.raw;
        let secrets = sensitive_strings(raw);
        let resource_changes: Vec<ResourceChangeSummary> = raw
            .resource_changes
            .iter()
            .map(|rc| ResourceChangeSummary::from_raw(rc, &secrets))
            .collect();
        let outputs = raw
            .output_changes
            .iter()
            .map(|(name, ch)| OutputChangeSummary {
                name: name.clone(),
                action: ChangeAction::from_actions(&ch.actions),
                sensitive: mask_has_true(&ch.before_sensitive)
                    || mask_has_true(&ch.after_sensitive),
            })
            .collect();
        let drift = raw
            .resource_drift
            .iter()
            .map(|rc| ResourceChangeSummary::from_raw(rc, &secrets))
            .collect();
        let deferred = raw
            .deferred_changes
            .iter()
            .map(|d| DeferredChange {
                address: d
                    .resource_change
                    .as_ref()
                    .map(|rc| rc.address.clone())
                    .unwrap_or_default(),
                reason: d.reason.clone(),
            })
            .collect();
        let mut summary = PlanSummary {
            format_version: raw.format_version.clone().unwrap_or_default(),
            terraform_version: raw.terraform_version.clone(),
            applyable: raw.applyable,
            complete: raw.complete,
            errored: raw.errored.unwrap_or(false),
            counts: ActionCounts::default(),
            plan_line: PlanLine::default(),
            nothing_to_show: false,
            resource_changes,
            outputs,
            drift,
            deferred,
            action_invocations: raw.action_invocations.len(),
        };
        summary.counts = ActionCounts::of(&summary.resource_changes);
        let (line, shown) = PlanLine::of(&summary.resource_changes);
        summary.plan_line = line;
        let visible_outputs = summary
            .outputs
            .iter()
            .filter(|o| o.action != ChangeAction::NoOp)
            .count();
        summary.nothing_to_show =
            shown == 0 && visible_outputs == 0 && summary.action_invocations == 0;
        summary
    }
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

fn mask_has_true(mask: &Value) -> bool {
    match mask {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(mask_has_true),
        Value::Object(map) => map.values().any(mask_has_true),
        _ => false,
    }
}

/// The class of a change, as people count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionClass {
    /// `["create"]`
    Create,
    /// `["update"]`
    Update,
    /// `["delete"]`
    Delete,
    /// `["delete","create"]` or `["create","delete"]`
    Replace,
    /// `["no-op"]`
    NoOp,
    /// `["read"]` (data sources read during apply)
    Read,
    /// `["forget"]` (removed from state, not destroyed)
    Forget,
    /// Anything else, e.g. `["create","forget"]`
    Other,
}

impl ActionClass {
    /// Every class, in display order.
    pub const ALL: [ActionClass; 8] = [
        ActionClass::Create,
        ActionClass::Update,
        ActionClass::Delete,
        ActionClass::Replace,
        ActionClass::NoOp,
        ActionClass::Read,
        ActionClass::Forget,
        ActionClass::Other,
    ];

    /// The class name as in Terraform's action names (`no-op`).
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Create => "create",
            ActionClass::Update => "update",
            ActionClass::Delete => "delete",
            ActionClass::Replace => "replace",
            ActionClass::NoOp => "no-op",
            ActionClass::Read => "read",
            ActionClass::Forget => "forget",
            ActionClass::Other => "other",
        }
    }
}

/// Which half of a replacement happens first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplaceOrder {
    /// `["delete","create"]`, the default.
    DeleteThenCreate,
    /// `["create","delete"]`, `create_before_destroy`.
    CreateThenDelete,
}

/// The actions of one change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeAction {
    /// Created.
    Create,
    /// Updated in place.
    Update,
    /// Destroyed.
    Delete,
    /// Destroyed and created again, in the given order.
    Replace(ReplaceOrder),
    /// Unchanged.
    NoOp,
    /// Data source read during apply.
    Read,
    /// Removed from state without being destroyed.
    Forget,
    /// An action list this reader does not know, verbatim.
    Other(Vec<String>),
}

impl ChangeAction {
    /// Classify Terraform's `actions` list.
    pub fn from_actions(actions: &[String]) -> ChangeAction {
        let a: Vec<&str> = actions.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["create"] => ChangeAction::Create,
            ["update"] => ChangeAction::Update,
            ["delete"] => ChangeAction::Delete,
            ["delete", "create"] => ChangeAction::Replace(ReplaceOrder::DeleteThenCreate),
            ["create", "delete"] => ChangeAction::Replace(ReplaceOrder::CreateThenDelete),
            ["no-op"] => ChangeAction::NoOp,
            ["read"] => ChangeAction::Read,
            ["forget"] => ChangeAction::Forget,
            _ => ChangeAction::Other(actions.to_vec()),
        }
    }

    /// The class it is counted under.
    pub fn class(&self) -> ActionClass {
        match self {
            ChangeAction::Create => ActionClass::Create,
            ChangeAction::Update => ActionClass::Update,
            ChangeAction::Delete => ActionClass::Delete,
            ChangeAction::Replace(_) => ActionClass::Replace,
            ChangeAction::NoOp => ActionClass::NoOp,
            ChangeAction::Read => ActionClass::Read,
            ChangeAction::Forget => ActionClass::Forget,
            ChangeAction::Other(_) => ActionClass::Other,
        }
    }

    fn is_raw(&self, actions: &[&str]) -> bool {
        match self {
            ChangeAction::Other(a) => a.iter().map(String::as_str).eq(actions.iter().copied()),
            _ => false,
        }
    }
}

/// An import recorded on a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Import {
    /// The import id, when given as an id and not sensitive (Terraform ≥ 1.12
    /// may import by identity instead, whose values are not shown).
    pub id: Option<String>,
}

/// One entry of `resource_changes`, without values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceChangeSummary {
    /// Full address, e.g. `module.store["eu"].terraform_data.frontend[0]`.
    pub address: String,
    /// Module part of the address, when inside a module.
    pub module_address: Option<String>,
    /// `true` for data sources.
    pub data_source: bool,
    /// Deposed object key; the same address can appear again with one.
    pub deposed: Option<String>,
    /// What happens to it.
    pub action: ChangeAction,
    /// Address before a `moved` block.
    pub previous_address: Option<String>,
    /// Set when the resource is being imported.
    pub importing: Option<Import>,
    /// Terraform's reason, e.g. `replace_because_tainted`.
    pub action_reason: Option<String>,
    /// Whether the before or after value holds sensitive attributes (not shown).
    pub sensitive: bool,
}

impl ResourceChangeSummary {
    fn from_raw(rc: &RawResourceChange, secrets: &BTreeSet<String>) -> ResourceChangeSummary {
        let importing = rc.change.importing.as_ref().map(|imp| Import {
            id: imp
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !secrets.contains(*id))
                .map(str::to_owned),
        });
        ResourceChangeSummary {
            address: rc.address.clone(),
            module_address: rc.module_address.clone(),
            data_source: rc.mode.as_deref() == Some("data"),
            deposed: rc.deposed.clone().filter(|d| !d.is_empty()),
            action: ChangeAction::from_actions(&rc.change.actions),
            previous_address: rc.previous_address.clone().filter(|p| !p.is_empty()),
            importing,
            action_reason: rc.action_reason.clone().filter(|r| !r.is_empty()),
            sensitive: mask_has_true(&rc.change.before_sensitive)
                || mask_has_true(&rc.change.after_sensitive),
        }
    }
}

/// One output change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChangeSummary {
    /// Output name.
    pub name: String,
    /// What happens to it.
    pub action: ChangeAction,
    /// Whether the output is sensitive (its value is never shown anyway).
    pub sensitive: bool,
}

/// A change Terraform deferred to a later plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredChange {
    /// Address of the deferred resource.
    pub address: String,
    /// Terraform's reason.
    pub reason: Option<String>,
}

/// Number of resource changes per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionCounts {
    /// Creates.
    pub create: usize,
    /// In-place updates.
    pub update: usize,
    /// Deletes.
    pub delete: usize,
    /// Replacements, both orders.
    pub replace: usize,
    /// Unchanged.
    #[serde(rename = "no-op")]
    pub no_op: usize,
    /// Data source reads.
    pub read: usize,
    /// Removed from state only.
    pub forget: usize,
    /// Unknown action lists.
    pub other: usize,
}

impl ActionCounts {
    fn of(changes: &[ResourceChangeSummary]) -> ActionCounts {
        let mut c = ActionCounts::default();
        for rc in changes {
            *c.slot(rc.action.class()) += 1;
        }
        c
    }

    fn slot(&mut self, class: ActionClass) -> &mut usize {
        match class {
            ActionClass::Create => &mut self.create,
            ActionClass::Update => &mut self.update,
            ActionClass::Delete => &mut self.delete,
            ActionClass::Replace => &mut self.replace,
            ActionClass::NoOp => &mut self.no_op,
            ActionClass::Read => &mut self.read,
            ActionClass::Forget => &mut self.forget,
            ActionClass::Other => &mut self.other,
        }
    }

    /// The count for one class.
    pub fn get(&self, class: ActionClass) -> usize {
        match class {
            ActionClass::Create => self.create,
            ActionClass::Update => self.update,
            ActionClass::Delete => self.delete,
            ActionClass::Replace => self.replace,
            ActionClass::NoOp => self.no_op,
            ActionClass::Read => self.read,
            ActionClass::Forget => self.forget,
            ActionClass::Other => self.other,
        }
    }

    /// Changes that do something (everything but no-op and read).
    pub fn changing(&self) -> usize {
        self.create + self.update + self.delete + self.replace + self.forget + self.other
    }
}

/// The numbers of Terraform's `Plan: N to import, A to add, C to change, D to destroy.`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanLine {
    /// Resources imported.
    pub import: usize,
    /// Resources added (replacements included).
    pub add: usize,
    /// Resources changed in place.
    pub change: usize,
    /// Resources destroyed (replacements included).
    pub destroy: usize,
}

impl PlanLine {
    /// The line and how many resource changes Terraform would render.
    fn of(changes: &[ResourceChangeSummary]) -> (PlanLine, usize) {
        let mut line = PlanLine::default();
        let mut shown = 0;
        for rc in changes {
            let moved_or_imported = rc.previous_address.is_some() || rc.importing.is_some();
            if rc.action == ChangeAction::NoOp && !moved_or_imported {
                continue;
            }
            if rc.action == ChangeAction::Delete && rc.data_source {
                continue;
            }
            shown += 1;
            if rc.importing.is_some() {
                line.import += 1;
            }
            match &rc.action {
                ChangeAction::Create => line.add += 1,
                ChangeAction::Update => line.change += 1,
                ChangeAction::Delete => line.destroy += 1,
                ChangeAction::Replace(_) => {
                    line.add += 1;
                    line.destroy += 1;
                }
                other if other.is_raw(&["create", "forget"]) => line.add += 1,
                _ => {}
            }
        }
        (line, shown)
    }
}

impl fmt::Display for PlanLine {
    /// Terraform's own wording, e.g. `Plan: 1 to import, 2 to add, 0 to change, 1 to destroy.`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plan: ")?;
        if self.import > 0 {
            write!(f, "{} to import, ", self.import)?;
        }
        write!(
            f,
            "{} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        )
    }
}

/// What a plan does, with no attribute values in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// The plan's `format_version`.
    pub format_version: String,
    /// Terraform version that made the plan, when recorded.
    pub terraform_version: Option<String>,
    /// Whether the plan can be applied (Terraform ≥ 1.8 records this).
    pub applyable: Option<bool>,
    /// Whether the plan is complete (no deferred changes).
    pub complete: Option<bool>,
    /// Whether planning failed.
    pub errored: bool,
    /// Resource changes per class.
    pub counts: ActionCounts,
    /// Terraform's own `Plan:` line numbers.
    pub plan_line: PlanLine,
    /// True when Terraform would print "No changes." (or, for an errored plan,
    /// nothing but the failure).
    pub nothing_to_show: bool,
    /// Every resource change, in plan order.
    pub resource_changes: Vec<ResourceChangeSummary>,
    /// Output changes, by name.
    pub outputs: Vec<OutputChangeSummary>,
    /// Changes made outside Terraform since the last apply.
    pub drift: Vec<ResourceChangeSummary>,
    /// Changes deferred to a later plan.
    pub deferred: Vec<DeferredChange>,
    /// Number of action invocations (Terraform ≥ 1.14).
    pub action_invocations: usize,
}

impl PlanSummary {
    /// Addresses of the changes in one class, in plan order (a deposed object
    /// keeps its plain address).
    pub fn addresses(&self, class: ActionClass) -> Vec<&str> {
        self.resource_changes
            .iter()
            .filter(|rc| rc.action.class() == class)
            .map(|rc| rc.address.as_str())
            .collect()
    }

    /// Changes that were moved (`moved` blocks), in plan order.
    pub fn moves(&self) -> impl Iterator<Item = &ResourceChangeSummary> {
        self.resource_changes
            .iter()
            .filter(|rc| rc.previous_address.is_some())
    }

    /// Changes that import, in plan order.
    pub fn imports(&self) -> impl Iterator<Item = &ResourceChangeSummary> {
        self.resource_changes
            .iter()
            .filter(|rc| rc.importing.is_some())
    }

    /// Changes to deposed objects, in plan order.
    pub fn deposed(&self) -> impl Iterator<Item = &ResourceChangeSummary> {
        self.resource_changes
            .iter()
            .filter(|rc| rc.deposed.is_some())
    }

    /// Changes worth listing to a person: everything but plain no-ops.
    pub fn notable(&self) -> impl Iterator<Item = &ResourceChangeSummary> {
        self.resource_changes.iter().filter(|rc| {
            rc.action != ChangeAction::NoOp
                || rc.previous_address.is_some()
                || rc.importing.is_some()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(json: &str) -> PlanSummary {
        Plan::from_json(json).expect("plan").summary()
    }

    #[test]
    fn unreadable_inputs_are_typed_errors() {
        assert_eq!(Plan::from_json("  \n").unwrap_err(), PlanError::Empty);
        assert!(matches!(
            Plan::from_json("[command]/usr/bin/terraform show -json\n{}").unwrap_err(),
            PlanError::NotJson { wrapped: true, .. }
        ));
        assert!(matches!(
            Plan::from_json("{\"format_version\":").unwrap_err(),
            PlanError::NotJson { wrapped: false, .. }
        ));
        assert_eq!(
            Plan::from_json("{\"plan_format_version\":\"2.0\"}").unwrap_err(),
            PlanError::NotAPlan
        );
        assert!(matches!(
            Plan::from_json("[1,2]").unwrap_err(),
            PlanError::Shape { .. }
        ));
        assert_eq!(
            Plan::from_json("{\"format_version\":\"2.0\"}").unwrap_err(),
            PlanError::UnsupportedFormat("2.0".into())
        );
    }

    #[test]
    fn shape_errors_never_quote_the_plan() {
        let err = Plan::from_json(
            r#"{"format_version":"1.2","errored":"hunter2-secret","resource_changes":[]}"#,
        )
        .unwrap_err();
        assert!(matches!(err, PlanError::Shape { .. }));
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn minimal_and_null_sections_are_tolerated() {
        let s = plan(
            r#"{"format_version":"0.1","resource_changes":null,"output_changes":null,"variables":null,"x":1}"#,
        );
        assert_eq!(s.counts, ActionCounts::default());
        assert!(s.nothing_to_show);
        let s = plan(r#"{"format_version":"1.2","errored":true,"applyable":false}"#);
        assert!(s.errored);
        assert_eq!(s.applyable, Some(false));
        assert!(s.nothing_to_show);
    }

    #[test]
    fn classes_lines_and_orders() {
        let s = plan(
            r#"{"format_version":"1.2","resource_changes":[
              {"address":"a.x","mode":"managed","change":{"actions":["create","delete"]}},
              {"address":"a.y","change":{"actions":["delete","create"]}},
              {"address":"data.a.z","mode":"data","change":{"actions":["read"]}},
              {"address":"data.a.w","mode":"data","change":{"actions":["delete"]}},
              {"address":"a.i","change":{"actions":["no-op"],"importing":{"id":"i-1"}}},
              {"address":"a.m","previous_address":"a.old","change":{"actions":["no-op"]}},
              {"address":"a.f","change":{"actions":["forget"]}},
              {"address":"a.cf","change":{"actions":["create","forget"]}},
              {"address":"a.y","deposed":"00c0ffee","change":{"actions":["delete"]}}
            ]}"#,
        );
        assert_eq!(s.counts.replace, 2);
        assert_eq!(s.counts.delete, 2);
        assert_eq!(s.counts.other, 1);
        assert_eq!(s.addresses(ActionClass::Replace), vec!["a.x", "a.y"]);
        assert_eq!(
            s.resource_changes[0].action,
            ChangeAction::Replace(ReplaceOrder::CreateThenDelete)
        );
        assert_eq!(
            s.plan_line,
            PlanLine {
                import: 1,
                add: 3,
                change: 0,
                destroy: 3
            }
        );
        assert_eq!(
            s.plan_line.to_string(),
            "Plan: 1 to import, 3 to add, 0 to change, 3 to destroy."
        );
        assert_eq!(s.imports().count(), 1);
        assert_eq!(s.moves().count(), 1);
        assert_eq!(s.deposed().next().map(|d| d.address.as_str()), Some("a.y"));
        assert!(!s.nothing_to_show);
    }

    #[test]
    fn sensitive_import_ids_are_not_shown() {
        let s = plan(
            r#"{"format_version":"1.2","resource_changes":[
              {"address":"a.x","change":{"actions":["create"],"after":{"k":"s3cr3t-id"},"after_sensitive":{"k":true}}},
              {"address":"a.i","change":{"actions":["no-op"],"importing":{"id":"s3cr3t-id"}}},
              {"address":"a.j","change":{"actions":["no-op"],"importing":{"id":"plain-id"}}}
            ]}"#,
        );
        assert!(s.resource_changes[0].sensitive);
        assert_eq!(s.resource_changes[1].importing, Some(Import { id: None }));
        assert_eq!(
            s.resource_changes[2].importing,
            Some(Import {
                id: Some("plain-id".into())
            })
        );
    }

    #[test]
    fn debug_of_a_plan_hides_values() {
        let p = Plan::from_json(
            r#"{"format_version":"1.2","resource_changes":[{"address":"a.x","change":{"actions":["create"],"after":{"k":"topsecret"}}}]}"#,
        )
        .expect("plan");
        assert!(!format!("{p:?}").contains("topsecret"));
    }
}
