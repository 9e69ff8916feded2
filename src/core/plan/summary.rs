//! The value-free summary of a plan: classes, counts, Terraform's plan line.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::raw::{RawResourceChange, mask_has_true};

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
    pub(super) fn from_raw(
        rc: &RawResourceChange,
        secrets: &BTreeSet<String>,
    ) -> ResourceChangeSummary {
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
    pub(super) fn of(changes: &[ResourceChangeSummary]) -> ActionCounts {
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
    pub(super) fn of(changes: &[ResourceChangeSummary]) -> (PlanLine, usize) {
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
