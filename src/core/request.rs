//! The request document (`requests/<id>.json`) as types.
//!
//! The shape is the seed's (camelCase JSON). Facts tfpilot writes live in their
//! canonical places (`github.workflows[kind]`, `github.pr`, `github.destroyTriggeredAt`,
//! `mergedSha`, `approval`, `timeline`, `version`); the seed's legacy places
//! (`planRun`/`applyRun`/`destroyRun`, `pr`/`pullRequest`) are read through the
//! accessors and written back exactly as they were, so an old document loses nothing.
//! Every object keeps the fields it does not know in a flattened `extra` map.
//!
//! One limit of "loses nothing": a typed optional field whose stored value is JSON
//! `null` comes back absent, because `null` and "not set" are the same fact.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::core::cost::CostEstimate;
use crate::core::fingerprint::Fingerprint;
use crate::core::ids::{IdError, RequestId};
use crate::core::plan::PlanSummary;

mod run;

pub use run::{RunFacts, RunStatus, WorkflowKind, Workflows};

/// How many timeline entries a request keeps; older ones are dropped first.
pub const TIMELINE_LIMIT: usize = 50;

/// Fields of an object that tfpilot does not model, kept as they were.
pub type Extra = Map<String, Value>;

/// Facts about a pull request (`github.pr`, `github.cleanupPr`, or a legacy `pr`/`pullRequest`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrFacts {
    /// The PR number.
    pub number: u64,
    /// The PR's page on GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The PR title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The current head commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// The branch the PR merges into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ref: Option<String>,
    /// True while the PR is open.
    #[serde(default)]
    pub open: bool,
    /// True once the PR is merged; never goes back.
    #[serde(default)]
    pub merged: bool,
    /// `open`, `closed` or `merged`, as the seed wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// GitHub's `updated_at` of the last event applied, so older events are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl PrFacts {
    /// A PR fact with only its number set.
    pub fn new(number: u64) -> PrFacts {
        PrFacts {
            number,
            url: None,
            title: None,
            head_sha: None,
            base_ref: None,
            open: false,
            merged: false,
            status: None,
            updated_at: None,
            extra: Extra::new(),
        }
    }
}

/// A review's state, as GitHub reports it (webhooks say `approved`, REST says `APPROVED`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ReviewState {
    /// The reviewer approved.
    Approved,
    /// The reviewer asked for changes.
    ChangesRequested,
    /// A comment-only review; it does not change an earlier verdict.
    Commented,
    /// The review was dismissed.
    Dismissed,
    /// Not submitted yet.
    Pending,
    /// Any other state, kept as sent.
    Other(String),
}

impl ReviewState {
    /// Parses GitHub's state in either spelling.
    pub fn parse(s: &str) -> ReviewState {
        match s.to_ascii_lowercase().as_str() {
            "approved" => ReviewState::Approved,
            "changes_requested" => ReviewState::ChangesRequested,
            "commented" => ReviewState::Commented,
            "dismissed" => ReviewState::Dismissed,
            "pending" => ReviewState::Pending,
            _ => ReviewState::Other(s.to_string()),
        }
    }

    /// The stored spelling (lowercase, like webhooks).
    pub fn as_str(&self) -> &str {
        match self {
            ReviewState::Approved => "approved",
            ReviewState::ChangesRequested => "changes_requested",
            ReviewState::Commented => "commented",
            ReviewState::Dismissed => "dismissed",
            ReviewState::Pending => "pending",
            ReviewState::Other(s) => s,
        }
    }
}

impl From<String> for ReviewState {
    fn from(s: String) -> Self {
        ReviewState::parse(&s)
    }
}

impl From<ReviewState> for String {
    fn from(s: ReviewState) -> Self {
        s.as_str().to_string()
    }
}

/// One reviewer's latest verdict on the request PR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewFact {
    /// The reviewer's login.
    pub login: String,
    /// The verdict.
    pub state: ReviewState,
    /// The head commit the review was given on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    /// When the review was submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<DateTime<Utc>>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Approval facts (`approval`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// True when enough current approvals exist (see `core::patch::ApprovalRule`).
    #[serde(default)]
    pub approved: bool,
    /// Logins whose approval currently counts.
    #[serde(default)]
    pub approvers: Vec<String>,
    /// Each reviewer's latest verdict, one entry per login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<ReviewFact>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One line of the request's history (`timeline[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    /// When it happened (the event's own time, not the time tfpilot saw it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    /// What happened, in words.
    #[serde(default)]
    pub what: String,
    /// Who did it (a GitHub login, or `tfpilot`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An apply or destroy waiting for the environment lock (`github.queued`).
///
/// Set when the lock is taken by another request, cleared when the run is dispatched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueFact {
    /// What waits (apply or destroy).
    pub kind: WorkflowKind,
    /// Since when it waits.
    pub since: DateTime<Utc>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// GitHub-side facts (`github`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GithubFacts {
    /// Tracked runs per kind.
    #[serde(default, skip_serializing_if = "Workflows::is_empty")]
    pub workflows: Workflows,
    /// The request PR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<PrFacts>,
    /// When the current destroy was dispatched (for the stale-destroy rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_triggered_at: Option<DateTime<Utc>>,
    /// The cleanup PR (`cleanup/<id>`), once opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_pr: Option<PrFacts>,
    /// An apply or destroy waiting on the environment lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<QueueFact>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Drift facts from the latest drift-plan (`drift`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftFacts {
    /// When the latest drift plan finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<DateTime<Utc>>,
    /// True when that plan found changes.
    #[serde(default)]
    pub drifted: bool,
    /// The latest drift-plan run read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    /// How many resources would change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<u64>,
    /// When the request issue was told, so it is told once per drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<DateTime<Utc>>,
    /// When the current drift was first found (kept while later runs still find it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<DateTime<Utc>>,
    /// When a clean drift plan followed a drifted one (cleared by the next drift).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<DateTime<Utc>>,
    /// When the request issue was told of the recovery, so it is told once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_notified_at: Option<DateTime<Utc>>,
    /// The attempt of the run in `runId` that was read (a re-run is read again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// The web address of the run in `runId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    /// Terraform's one-line summary from `drift.json` (bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The sticky PR comment tfpilot keeps (`sticky`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StickyFacts {
    /// The comment's id, to edit it in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<u64>,
    /// Hash of the last rendered body, so an unchanged body is not sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_hash: Option<String>,
    /// The request `version` the last body was rendered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rendered_version: Option<u64>,
    /// The `tfpilot/plan` check run on the PR head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_check: Option<CheckRunFacts>,
    /// The `tfpilot` lifecycle check run on the PR head.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle_check: Option<CheckRunFacts>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A check run tfpilot keeps up to date (`sticky.planCheck`, `sticky.lifecycleCheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRunFacts {
    /// The commit the check run is on; a new PR head gets a new check run.
    pub head_sha: String,
    /// The check run's id, to update it in place.
    pub check_run_id: u64,
    /// Hash of the last payload sent, so an unchanged payload is not sent again.
    pub payload_hash: String,
    /// True once the last payload sent was `completed` (GitHub does not take a
    /// completed check run back to queued: a new one is created instead).
    #[serde(default)]
    pub completed: bool,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What was read from the latest plan run's artifact (`planSummary`).
///
/// Bounded: plain no-op changes are dropped and the listed changes capped (the
/// counts stay exact), so a huge plan cannot bloat the request document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummaryFacts {
    /// The plan run the artifact came from.
    pub run_id: u64,
    /// That run's attempt (a re-run uploads a new artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// The commit that was planned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    /// When tfpilot read the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    /// The plan summary, when `plan.json` could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PlanSummary>,
    /// Listed changes left out of `summary` to keep the document small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_changes: usize,
    /// The fingerprint of the request module's planned changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// The monthly cost estimate, when the artifact held `infracost-diff.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CostEstimate>,
    /// Why there is no summary (no artifact, unreadable `plan.json`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// What a failed apply run's artifact (`tfpilot-apply-plan`) said about the plan the
/// apply made at the merge commit (`applyPlan`), read once per run attempt.
///
/// When `matched` is false the apply refused because the plan changed since review;
/// the sticky comment then shows this plan beside the reviewed one, and once it was
/// shown (`shownAt`) the next `/tfpilot apply` expects this plan's fingerprint.
/// Bounded like [`PlanSummaryFacts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyPlanFacts {
    /// The apply run the artifact came from.
    pub run_id: u64,
    /// That run's attempt (a re-run uploads a new artifact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_attempt: Option<u32>,
    /// When tfpilot read the artifact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    /// The fingerprint the apply was dispatched with (`expected_fingerprint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The fingerprint of the plan made at apply time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Fingerprint>,
    /// False when the apply refused because the plan changed since review; `None`
    /// when the artifact could not tell (the run failed before planning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched: Option<bool>,
    /// The plan at apply time, when `plan.json` could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<PlanSummary>,
    /// Listed changes left out of `summary` to keep the document small.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub omitted_changes: usize,
    /// Why there is no summary (no artifact, unreadable `plan.json`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// When a sticky comment showing this plan was on the PR (set by tfpilot after
    /// sending it); only a shown plan is ever applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shown_at: Option<DateTime<Utc>>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ApplyPlanFacts {
    /// True when the apply refused because the plan changed since review.
    pub fn plan_changed(&self) -> bool {
        self.matched == Some(false)
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How the Terraform was rendered (`render`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderFacts {
    /// `sha256:<hex>` of the rendered file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render_hash: Option<String>,
    /// `sha256:<hex>` of the inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_hash: Option<String>,
    /// True when rendering the same inputs gives the same bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
    /// When it was rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computed_at: Option<DateTime<Utc>>,
    /// Fields tfpilot does not model.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A request document as stored in `requests/<id>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The request id, `req_<env>_<module>_<6 chars>`.
    pub id: String,
    /// Incremented on every stored write.
    #[serde(default)]
    pub version: u64,
    /// The login of the person who asked for it (excluded from approvals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// The issue the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_number: Option<u64>,
    /// The seed's project name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The environment name from `.github/tfpilot.yml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The catalogue module name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// The module inputs as validated from the form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    /// The GitHub App installation that reaches the repository (for work that
    /// starts without a webhook: reconciliation, drift, queued dispatches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installation_id: Option<u64>,
    /// Owner of the infrastructure repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_owner: Option<String>,
    /// Name of the infrastructure repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_repo: Option<String>,
    /// The default branch the PR merges into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_base: Option<String>,
    /// The environment's directory (`envs/dev`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_env_path: Option<String>,
    /// Files the request writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_files: Option<Vec<String>>,
    /// The request branch (`request/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch_name: Option<String>,
    /// The renderer that produced the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renderer_version: Option<String>,
    /// Render hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub render: Option<RenderFacts>,
    /// Canonical GitHub facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<GithubFacts>,
    /// The merge commit, set when the PR merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_sha: Option<String>,
    /// Approval facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// Drift facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftFacts>,
    /// The sticky comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sticky: Option<StickyFacts>,
    /// What the latest plan run's artifact said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_summary: Option<PlanSummaryFacts>,
    /// What the latest failed apply run's artifact said about the plan at apply time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_plan: Option<ApplyPlanFacts>,
    /// History, newest last, at most [`TIMELINE_LIMIT`] entries.
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    /// Legacy plan run (read; written back unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_run: Option<RunFacts>,
    /// Legacy apply run (read; written back unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_run: Option<RunFacts>,
    /// Legacy destroy run (read; written back unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_run: Option<RunFacts>,
    /// Legacy PR facts (read; written back unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr: Option<PrFacts>,
    /// Older legacy PR facts (read; written back unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PrFacts>,
    /// Everything else, preserved as-is.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Request {
    /// A fresh request document with only its id set.
    pub fn new(id: &RequestId) -> Request {
        Request {
            id: id.as_str().to_string(),
            version: 0,
            requester: None,
            issue_number: None,
            project: None,
            environment: None,
            module: None,
            config: None,
            installation_id: None,
            target_owner: None,
            target_repo: None,
            target_base: None,
            target_env_path: None,
            target_files: None,
            branch_name: None,
            renderer_version: None,
            render: None,
            github: None,
            merged_sha: None,
            approval: None,
            drift: None,
            sticky: None,
            plan_summary: None,
            apply_plan: None,
            timeline: Vec::new(),
            plan_run: None,
            apply_run: None,
            destroy_run: None,
            pr: None,
            pull_request: None,
            extra: Extra::new(),
        }
    }

    /// The id, validated.
    pub fn request_id(&self) -> Result<RequestId, IdError> {
        RequestId::parse(&self.id)
    }

    /// The run tracked for `kind`: canonical `github.workflows[kind]`, else the legacy field.
    pub fn run(&self, kind: WorkflowKind) -> Option<&RunFacts> {
        self.github
            .as_ref()
            .and_then(|g| g.workflows.get(kind))
            .or_else(|| self.legacy_run(kind))
    }

    /// The seed's legacy top-level run for `kind` (only plan, apply and destroy had one).
    pub fn legacy_run(&self, kind: WorkflowKind) -> Option<&RunFacts> {
        match kind {
            WorkflowKind::Plan => self.plan_run.as_ref(),
            WorkflowKind::Apply => self.apply_run.as_ref(),
            WorkflowKind::Destroy => self.destroy_run.as_ref(),
            WorkflowKind::Cleanup | WorkflowKind::DriftPlan => None,
        }
    }

    /// The request PR: canonical `github.pr`, else legacy `pr`, else `pullRequest`.
    pub fn pr(&self) -> Option<&PrFacts> {
        self.github
            .as_ref()
            .and_then(|g| g.pr.as_ref())
            .or(self.pr.as_ref())
            .or(self.pull_request.as_ref())
    }

    /// When the current destroy was dispatched: `github.destroyTriggeredAt`, else the run's own.
    pub fn destroy_triggered_at(&self) -> Option<DateTime<Utc>> {
        self.github
            .as_ref()
            .and_then(|g| g.destroy_triggered_at)
            .or_else(|| self.run(WorkflowKind::Destroy).and_then(|r| r.triggered_at))
    }

    /// True when a run of `kind` is under way or has succeeded: another one must
    /// not be dispatched, nor wait for the environment lock. (A failed one may be
    /// followed by another.)
    pub fn run_underway_or_done(&self, kind: WorkflowKind) -> bool {
        self.run(kind)
            .is_some_and(|r| r.is_active() || r.succeeded())
    }

    /// The apply or destroy waiting on the environment lock, if any.
    pub fn queued(&self) -> Option<&QueueFact> {
        self.github.as_ref().and_then(|g| g.queued.as_ref())
    }

    /// True when the PR merged (by PR facts or by a recorded merge commit).
    pub fn is_merged(&self) -> bool {
        self.pr().is_some_and(|p| p.merged) || self.merged_sha.is_some()
    }

    /// True when approval facts say approved.
    pub fn is_approved(&self) -> bool {
        self.approval.as_ref().is_some_and(|a| a.approved)
    }

    /// The GitHub facts, created empty when absent, for writing.
    pub fn github_mut(&mut self) -> &mut GithubFacts {
        self.github.get_or_insert_with(GithubFacts::default)
    }

    /// Appends a timeline entry, dropping entries beyond [`TIMELINE_LIMIT`]: the oldest
    /// routine drift-run entry first (a drift check every hour adds several a day and
    /// must not push the request's own history out), else the oldest entry.
    pub fn push_timeline(&mut self, entry: TimelineEntry) {
        self.timeline.push(entry);
        while self.timeline.len() > TIMELINE_LIMIT {
            let newest = self.timeline.len() - 1;
            let at = self.timeline[..newest]
                .iter()
                .position(is_drift_run_entry)
                .unwrap_or(0);
            self.timeline.remove(at);
        }
    }
}

/// A drift-plan run's own status entry (`drift_plan run 7: completed, success`, or its
/// dispatch), as opposed to drift found or recovered, which stay.
fn is_drift_run_entry(entry: &TimelineEntry) -> bool {
    let kind = WorkflowKind::DriftPlan.as_str();
    entry
        .what
        .strip_prefix(kind)
        .is_some_and(|rest| rest.starts_with(" run ") || rest.starts_with(" dispatched"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../fixtures/requests/seed-example.json");

    fn seed() -> Request {
        serde_json::from_str(SEED).expect("seed example parses")
    }

    /// Every path (object keys, array indexes) of `a` exists in `b` with an equal leaf.
    fn assert_contains(path: &str, a: &Value, b: &Value) {
        match (a, b) {
            (Value::Object(ma), Value::Object(mb)) => {
                for (k, va) in ma {
                    let vb = mb
                        .get(k)
                        .unwrap_or_else(|| panic!("{path}.{k} missing in output"));
                    assert_contains(&format!("{path}.{k}"), va, vb);
                }
            }
            (Value::Array(xa), Value::Array(xb)) => {
                assert_eq!(xa.len(), xb.len(), "{path}: array length changed");
                for (i, (va, vb)) in xa.iter().zip(xb).enumerate() {
                    assert_contains(&format!("{path}[{i}]"), va, vb);
                }
            }
            _ => assert_eq!(a, b, "{path} changed"),
        }
    }

    #[test]
    fn seed_example_round_trips_without_losing_a_field() {
        let parsed = seed();
        let out = serde_json::to_string_pretty(&parsed).expect("serializes");
        let reparsed: Request = serde_json::from_str(&out).expect("output parses");
        assert_eq!(parsed, reparsed);

        let original: Value = serde_json::from_str(SEED).expect("json");
        let written: Value = serde_json::from_str(&out).expect("json");
        assert_contains("$", &original, &written);
        // Nothing is invented either: the seed document comes back as it was.
        assert_eq!(original, written);
    }

    #[test]
    fn seed_example_facts_are_typed() {
        let r = seed();
        assert_eq!(r.id, "req_dev_s3_tgqpp8");
        assert_eq!(r.version, 9);
        assert_eq!(r.module.as_deref(), Some("s3-bucket"));
        assert_eq!(
            r.target_files.as_deref(),
            Some(&["envs/dev/tfpilot.s3.tf".to_string()][..])
        );
        let plan = r.run(WorkflowKind::Plan).expect("legacy planRun is read");
        assert_eq!(plan.run_id, Some(22456244688));
        assert_eq!(plan.status, Some(RunStatus::Completed));
        assert!(plan.succeeded());
        let pr = r.pr().expect("legacy pr is read");
        assert_eq!(pr.number, 223);
        assert!(pr.open);
        assert!(!r.is_merged());
        assert!(!r.is_approved());
        // Unknown fields land in `extra`, untouched.
        assert!(r.extra.contains_key("assistant_state"));
        assert!(r.extra.contains_key("moduleRef"));
        assert!(r.request_id().is_ok());
    }

    #[test]
    fn canonical_facts_win_over_legacy_ones() {
        let mut r = seed();
        let canonical = RunFacts {
            run_id: Some(7),
            status: Some(RunStatus::InProgress),
            ..RunFacts::default()
        };
        r.github_mut().workflows.plan = Some(canonical.clone());
        let mut pr = PrFacts::new(224);
        pr.merged = true;
        r.github_mut().pr = Some(pr);
        assert_eq!(r.run(WorkflowKind::Plan), Some(&canonical));
        assert_eq!(r.pr().map(|p| p.number), Some(224));
        assert!(r.is_merged());
        // The legacy facts stay in the document as they were.
        let out = serde_json::to_value(&r).expect("json");
        assert_eq!(out["planRun"]["runId"], 22456244688u64);
        assert_eq!(out["github"]["workflows"]["plan"]["runId"], 7);
    }

    #[test]
    fn pull_request_is_the_last_fallback() {
        let mut r = seed();
        r.pr = None;
        assert_eq!(
            r.pr().and_then(|p| p.title.as_deref()),
            Some("Infra request req_dev_s3_tgqpp8: s3-bucket")
        );
    }

    #[test]
    fn unknown_run_status_is_kept_verbatim_and_counts_as_active() {
        let run: RunFacts =
            serde_json::from_str(r#"{"runId":1,"status":"waiting","futureField":[1,2]}"#)
                .expect("parses");
        assert_eq!(run.status, Some(RunStatus::Other("waiting".into())));
        assert!(run.is_active());
        let back = serde_json::to_value(&run).expect("json");
        assert_eq!(back["status"], "waiting");
        assert_eq!(back["futureField"], serde_json::json!([1, 2]));
    }

    #[test]
    fn canonical_keys_are_written_in_the_seed_spelling() {
        let id = RequestId::parse("req_dev_s3_tgqpp8").expect("valid");
        let mut r = Request::new(&id);
        r.github_mut().workflows.drift_plan = Some(RunFacts::default());
        r.github_mut().destroy_triggered_at = Some(DateTime::<Utc>::MIN_UTC);
        r.merged_sha = Some("abc".into());
        r.github_mut().queued = Some(QueueFact {
            kind: WorkflowKind::Apply,
            since: DateTime::<Utc>::MIN_UTC,
            extra: Extra::new(),
        });
        let v = serde_json::to_value(&r).expect("json");
        assert!(v["github"]["workflows"].get("drift_plan").is_some());
        assert!(v["github"].get("destroyTriggeredAt").is_some());
        assert_eq!(v["github"]["queued"]["kind"], "apply");
        assert_eq!(v["mergedSha"], "abc");
        assert_eq!(v["timeline"], serde_json::json!([]));
        assert_eq!(v["version"], 0);
    }

    #[test]
    fn sticky_check_and_plan_summary_facts_round_trip_in_camel_case() {
        let id = RequestId::parse("req_dev_s3_tgqpp8").expect("valid");
        let mut r = Request::new(&id);
        r.sticky = Some(StickyFacts {
            comment_id: Some(5),
            plan_check: Some(CheckRunFacts {
                head_sha: "abc".into(),
                check_run_id: 9,
                payload_hash: "h".into(),
                completed: true,
                extra: Extra::new(),
            }),
            ..StickyFacts::default()
        });
        r.plan_summary = Some(PlanSummaryFacts {
            run_id: 7,
            run_attempt: Some(1),
            head_sha: None,
            read_at: None,
            summary: None,
            omitted_changes: 0,
            fingerprint: None,
            cost: None,
            unreadable: Some("the plan run uploaded no `tfpilot-plan` artifact".into()),
            extra: Extra::new(),
        });
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["sticky"]["planCheck"]["checkRunId"], 9);
        assert_eq!(v["planSummary"]["runId"], 7);
        assert!(v["planSummary"].get("omittedChanges").is_none());
        let back: Request = serde_json::from_value(v).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn drift_checks_never_push_the_lifecycle_out_of_the_timeline() {
        let id = RequestId::parse("req_dev_s3_tgqpp8").expect("valid");
        let mut r = Request::new(&id);
        let step = |what: String| TimelineEntry {
            what,
            ..TimelineEntry::default()
        };
        for what in [
            "plan dispatched (run 1)",
            "approved by @bob",
            "apply run 3: completed, success",
        ] {
            r.push_timeline(step(what.to_string()));
        }
        // A month of hourly drift checks, one drift found on the way.
        for i in 0..720 {
            r.push_timeline(step(format!("drift_plan dispatched (run {i})")));
            r.push_timeline(step(format!("drift_plan run {i}: completed, success")));
            if i == 300 {
                r.push_timeline(step(
                    "drift detected: run 300 would change 1 resource".into(),
                ));
            }
        }
        assert_eq!(r.timeline.len(), TIMELINE_LIMIT);
        let whats: Vec<&str> = r.timeline.iter().map(|e| e.what.as_str()).collect();
        assert_eq!(
            whats[..4],
            [
                "plan dispatched (run 1)",
                "approved by @bob",
                "apply run 3: completed, success",
                "drift detected: run 300 would change 1 resource"
            ]
        );
        assert_eq!(
            whats.last(),
            Some(&"drift_plan run 719: completed, success")
        );
    }

    #[test]
    fn timeline_keeps_the_newest_entries() {
        let id = RequestId::parse("req_dev_s3_tgqpp8").expect("valid");
        let mut r = Request::new(&id);
        for i in 0..(TIMELINE_LIMIT + 5) {
            r.push_timeline(TimelineEntry {
                what: format!("step {i}"),
                ..TimelineEntry::default()
            });
        }
        assert_eq!(r.timeline.len(), TIMELINE_LIMIT);
        assert_eq!(r.timeline[0].what, "step 5");
        assert_eq!(
            r.timeline.last().map(|e| e.what.as_str()),
            Some(format!("step {}", TIMELINE_LIMIT + 4).as_str())
        );
    }

    #[test]
    fn review_states_parse_in_both_spellings() {
        assert_eq!(ReviewState::parse("APPROVED"), ReviewState::Approved);
        assert_eq!(ReviewState::parse("approved"), ReviewState::Approved);
        assert_eq!(
            ReviewState::parse("CHANGES_REQUESTED"),
            ReviewState::ChangesRequested
        );
    }

    #[test]
    fn failure_conclusions() {
        let with = |c: &str| RunFacts {
            conclusion: Some(c.into()),
            ..RunFacts::default()
        };
        assert!(with("failure").failed());
        assert!(with("cancelled").failed());
        assert!(with("timed_out").failed());
        assert!(!with("success").failed());
        assert!(!with("skipped").failed());
        assert!(with("success").succeeded());
    }

    #[test]
    fn the_plan_at_apply_time_round_trips_and_old_documents_lack_it() {
        assert!(seed().apply_plan.is_none(), "a document without it parses");
        let doc = serde_json::json!({
            "id": "req_dev_s3_tgqpp8",
            "applyPlan": {
                "runId": 5,
                "runAttempt": 1,
                "expected": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "fingerprint": "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                "matched": false,
                "shownAt": "2026-03-01T12:00:00Z",
                "laterField": 1
            }
        });
        let r: Request = serde_json::from_value(doc.clone()).expect("parses");
        let fact = r.apply_plan.as_ref().expect("read");
        assert!(fact.plan_changed());
        assert!(fact.shown_at.is_some());
        let back = serde_json::to_value(&r).expect("json");
        assert_eq!(back["applyPlan"], doc["applyPlan"]);
    }
}
