//! Workflow runs as facts: the kinds, GitHub's run status, and what is kept per run.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Extra;

/// The kinds of workflow tfpilot dispatches and follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowKind {
    /// `terraform plan` on the request branch.
    Plan,
    /// `terraform apply` from the default branch at the merge commit.
    Apply,
    /// `terraform destroy` of the request's module.
    Destroy,
    /// The cleanup that removes the request's file after a destroy.
    Cleanup,
    /// A scheduled plan that looks for drift on an applied request.
    DriftPlan,
}

impl WorkflowKind {
    /// Every kind, in the seed's order.
    pub const ALL: [WorkflowKind; 5] = [
        WorkflowKind::Plan,
        WorkflowKind::Apply,
        WorkflowKind::Destroy,
        WorkflowKind::Cleanup,
        WorkflowKind::DriftPlan,
    ];

    /// The name used in JSON keys, store keys and workflow inputs.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowKind::Plan => "plan",
            WorkflowKind::Apply => "apply",
            WorkflowKind::Destroy => "destroy",
            WorkflowKind::Cleanup => "cleanup",
            WorkflowKind::DriftPlan => "drift_plan",
        }
    }

    /// Parses the name produced by [`WorkflowKind::as_str`].
    pub fn parse(s: &str) -> Option<WorkflowKind> {
        WorkflowKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for WorkflowKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workflow run's `status` as GitHub reports it.
///
/// GitHub has more statuses than the three tfpilot reasons about (`requested`,
/// `waiting`, `pending`, ...); those are kept verbatim in `Other` so nothing is lost
/// and they count as "not finished".
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RunStatus {
    /// Waiting for a runner (also what a fresh dispatch is recorded as).
    Queued,
    /// Running.
    InProgress,
    /// Finished; the conclusion says how.
    Completed,
    /// Any other status string GitHub sends, kept as sent.
    Other(String),
}

impl RunStatus {
    /// The status string as GitHub spells it.
    pub fn as_str(&self) -> &str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::InProgress => "in_progress",
            RunStatus::Completed => "completed",
            RunStatus::Other(s) => s,
        }
    }

    /// Parses GitHub's status string; unknown strings are kept in `Other`.
    pub fn parse(s: &str) -> RunStatus {
        match s {
            "queued" => RunStatus::Queued,
            "in_progress" => RunStatus::InProgress,
            "completed" => RunStatus::Completed,
            other => RunStatus::Other(other.to_string()),
        }
    }
}

impl From<String> for RunStatus {
    fn from(s: String) -> Self {
        RunStatus::parse(&s)
    }
}

impl From<RunStatus> for String {
    fn from(s: RunStatus) -> Self {
        s.as_str().to_string()
    }
}

/// Conclusions that mean the run did not do its job.
///
/// `cancelled` and `timed_out` count: a destroy or apply that was cancelled left
/// the infrastructure in an unknown state, and the user has to act. `skipped` and
/// `neutral` do not.
const FAILED_CONCLUSIONS: [&str; 5] = [
    "failure",
    "cancelled",
    "timed_out",
    "startup_failure",
    "action_required",
];

/// Facts about one tracked workflow run (`github.workflows[kind]`, or a legacy `planRun`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFacts {
    /// The GitHub run id; `None` between a dispatch and the first event that names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    /// The run's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// The run's conclusion (`success`, `failure`, ...) once it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<String>,
    /// The commit the run ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// The run's page on GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// GitHub's `updated_at` of the event that set these facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// GitHub's `run_attempt` (1 for the first attempt, higher for re-runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// When tfpilot dispatched the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_at: Option<DateTime<Utc>>,
    /// The dispatch nonce, also found in the run's `display_title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl RunFacts {
    /// True when the run finished or has a conclusion (the seed's "concluded").
    pub fn is_concluded(&self) -> bool {
        self.status == Some(RunStatus::Completed) || self.conclusion.is_some()
    }

    /// True while the run is queued, running or in any other unfinished status.
    pub fn is_active(&self) -> bool {
        !self.is_concluded()
    }

    /// True when the run concluded `success`.
    pub fn succeeded(&self) -> bool {
        self.conclusion.as_deref() == Some("success")
    }

    /// True when the run concluded in a way that needs the user (see `FAILED_CONCLUSIONS`).
    pub fn failed(&self) -> bool {
        self.conclusion
            .as_deref()
            .is_some_and(|c| FAILED_CONCLUSIONS.contains(&c))
    }
}

/// The canonical workflow facts, one slot per kind (`github.workflows`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Workflows {
    /// The plan run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RunFacts>,
    /// The apply run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<RunFacts>,
    /// The destroy run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy: Option<RunFacts>,
    /// The cleanup run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<RunFacts>,
    /// The latest drift-plan run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_plan: Option<RunFacts>,
    /// Keys tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Workflows {
    /// The facts tracked for `kind`.
    pub fn get(&self, kind: WorkflowKind) -> Option<&RunFacts> {
        match kind {
            WorkflowKind::Plan => self.plan.as_ref(),
            WorkflowKind::Apply => self.apply.as_ref(),
            WorkflowKind::Destroy => self.destroy.as_ref(),
            WorkflowKind::Cleanup => self.cleanup.as_ref(),
            WorkflowKind::DriftPlan => self.drift_plan.as_ref(),
        }
    }

    /// The slot for `kind`, to set or replace.
    pub fn slot(&mut self, kind: WorkflowKind) -> &mut Option<RunFacts> {
        match kind {
            WorkflowKind::Plan => &mut self.plan,
            WorkflowKind::Apply => &mut self.apply,
            WorkflowKind::Destroy => &mut self.destroy,
            WorkflowKind::Cleanup => &mut self.cleanup,
            WorkflowKind::DriftPlan => &mut self.drift_plan,
        }
    }

    /// True when nothing is tracked and nothing unknown is kept.
    pub fn is_empty(&self) -> bool {
        WorkflowKind::ALL.iter().all(|k| self.get(*k).is_none()) && self.extra.is_empty()
    }
}
