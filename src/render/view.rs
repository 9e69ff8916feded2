//! What the renderer reads besides the request document: the environment's policy,
//! the plan and cost summaries, and the environment lock.
//!
//! The plan and cost views are the renderer's own small shapes, so the text does not
//! depend on how `plan.json` or Infracost's JSON are parsed; `core::plan` and
//! `core::cost` convert into them.

/// The parts of the environment's policy (`.github/tfpilot.yml`) the text depends on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvPolicy {
    /// Approvals needed before merge, when known.
    pub required_approvals: Option<usize>,
    /// True when tfpilot applies by itself after the merge.
    pub auto_apply: bool,
    /// True when destroy needs the request id typed as confirmation.
    pub protected: bool,
}

/// What happens to one resource, as people count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlanAction {
    /// Created.
    Create,
    /// Updated in place.
    Update,
    /// Destroyed and created again.
    Replace,
    /// Destroyed.
    Delete,
    /// Removed from state without being destroyed.
    Forget,
    /// A data source read during apply.
    Read,
    /// An action list Terraform added later.
    Other,
    /// Unchanged.
    NoOp,
}

impl PlanAction {
    /// Every action, in the order the comment lists them.
    pub const ALL: [PlanAction; 8] = [
        PlanAction::Create,
        PlanAction::Update,
        PlanAction::Replace,
        PlanAction::Delete,
        PlanAction::Forget,
        PlanAction::Read,
        PlanAction::Other,
        PlanAction::NoOp,
    ];

    /// Terraform's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Create => "create",
            PlanAction::Update => "update",
            PlanAction::Replace => "replace",
            PlanAction::Delete => "delete",
            PlanAction::Forget => "forget",
            PlanAction::Read => "read",
            PlanAction::Other => "other",
            PlanAction::NoOp => "no-op",
        }
    }

    /// The symbol shown before it, so a long list can be scanned by eye.
    pub fn symbol(self) -> &'static str {
        match self {
            PlanAction::Create => "➕",
            PlanAction::Update => "🔧",
            PlanAction::Replace => "🔁",
            PlanAction::Delete => "➖",
            PlanAction::Forget => "✂️",
            PlanAction::Read => "🔍",
            PlanAction::Other => "❔",
            PlanAction::NoOp => "⚪",
        }
    }
}

/// One resource change of a plan, without values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanChange {
    /// The resource address, e.g. `module.tfpilot_x.aws_s3_bucket.this["a"]`.
    pub address: String,
    /// What happens to it.
    pub action: PlanAction,
    /// True when its values hold something sensitive (never shown anyway).
    pub sensitive: bool,
    /// Terraform's reason, e.g. `replace_because_tainted`.
    pub reason: Option<String>,
    /// The address before a `moved` block.
    pub moved_from: Option<String>,
    /// True when the resource is being imported.
    pub importing: bool,
}

/// The numbers of Terraform's `Plan: N to import, A to add, C to change, D to destroy.`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

impl std::fmt::Display for PlanLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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

/// A plan's summary as the comment shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanView {
    /// The Terraform version that made the plan, when recorded.
    pub terraform_version: Option<String>,
    /// Terraform's own `Plan:` line.
    pub line: PlanLine,
    /// Every resource change, in plan order (no-ops included; they are counted only).
    pub changes: Vec<PlanChange>,
    /// Resources changed outside Terraform since the last apply.
    pub drifted: usize,
}

impl PlanView {
    /// How many changes have `action`.
    pub fn count(&self, action: PlanAction) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// The changes that do something (everything but no-op), in list order.
    pub fn changing(&self) -> impl Iterator<Item = &PlanChange> {
        PlanAction::ALL
            .into_iter()
            .filter(|a| *a != PlanAction::NoOp)
            .flat_map(move |a| self.changes.iter().filter(move |c| c.action == a))
    }

    /// True when the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.iter().all(|c| c.action == PlanAction::NoOp)
    }
}

/// The monthly cost estimate, as exact decimal strings (`742.64`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CostView {
    /// ISO currency code, e.g. `USD`.
    pub currency: String,
    /// Monthly cost before the change, when known.
    pub before: Option<String>,
    /// Monthly cost after the change, when known.
    pub after: Option<String>,
    /// After minus before, when known.
    pub delta: Option<String>,
    /// True when Infracost reported errors, so the totals may be incomplete.
    pub incomplete: bool,
}

/// The environment lock as this request sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockView {
    /// The request holding the lock, when it is held.
    pub holder: Option<String>,
    /// This request's place in the queue, 1 for next.
    pub queue_position: Option<usize>,
    /// How many requests wait in total.
    pub queue_length: Option<usize>,
}
