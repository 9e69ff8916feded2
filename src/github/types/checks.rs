//! Check runs, and the status/conclusion shared with workflow runs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Status of a check run or workflow run/job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Queued.
    Queued,
    /// Running.
    InProgress,
    /// Finished; see the conclusion.
    Completed,
    /// Waiting (environment protection).
    Waiting,
    /// Requested.
    Requested,
    /// Pending (concurrency group).
    Pending,
    /// A status GitHub added later.
    #[serde(other)]
    Other,
}

/// Conclusion of a completed check run or workflow run/job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    /// Success.
    Success,
    /// Failure.
    Failure,
    /// Neutral.
    Neutral,
    /// Cancelled.
    Cancelled,
    /// Skipped.
    Skipped,
    /// Timed out.
    TimedOut,
    /// Action required.
    ActionRequired,
    /// Stale (set by GitHub only).
    Stale,
    /// The run could not start.
    StartupFailure,
    /// A conclusion GitHub added later.
    #[serde(other)]
    Other,
}

/// Output shown on a check run page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutput {
    /// Title.
    pub title: String,
    /// Summary (Markdown, ≤ 65,535 chars).
    pub summary: String,
    /// Details (Markdown, ≤ 65,535 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A button on a check run (at most 3 per run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckAction {
    /// Button text (≤ 20 chars).
    pub label: String,
    /// Tooltip (≤ 40 chars).
    pub description: String,
    /// Sent back in `check_run.requested_action` (≤ 20 chars).
    pub identifier: String,
}

/// Body of `POST /check-runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NewCheckRun {
    /// Check name, e.g. `tfpilot/plan`.
    pub name: String,
    /// Commit the check belongs to.
    pub head_sha: String,
    /// Link to details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    /// Our reference (request id / run id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Conclusion (implies completed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<Conclusion>,
    /// Start time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Completion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
    /// Buttons (≤ 3).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<CheckAction>,
}

/// Body of `PATCH /check-runs/{id}`; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckRunUpdate {
    /// Link to details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    /// Our reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// Conclusion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<Conclusion>,
    /// Completion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<CheckOutput>,
    /// Buttons (≤ 3); `Some(vec![])` removes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<CheckAction>>,
}

/// Check run output as GitHub returns it (all parts optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutputView {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Text.
    #[serde(default)]
    pub text: Option<String>,
}

/// A check run (`check-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRun {
    /// Check run id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Commit.
    pub head_sha: String,
    /// Status.
    pub status: RunStatus,
    /// Conclusion.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    /// Our reference.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Web link.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Details link.
    #[serde(default)]
    pub details_url: Option<String>,
    /// Output.
    #[serde(default)]
    pub output: CheckOutputView,
}
