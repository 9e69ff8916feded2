//! Workflow dispatch, runs, jobs and artifacts.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

/// What a workflow dispatch returned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DispatchOutcome {
    /// The run id, when GitHub supports `return_run_details` (None on older GHES).
    pub run_id: Option<u64>,
    /// API URL of the run.
    pub run_url: Option<String>,
    /// Web URL of the run.
    pub html_url: Option<String>,
}

/// A workflow run (`workflow-run`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowRun {
    /// Run id.
    pub id: u64,
    /// Workflow name.
    #[serde(default)]
    pub name: Option<String>,
    /// `run-name`, carrying request id and nonce.
    pub display_title: String,
    /// Branch.
    #[serde(default)]
    pub head_branch: Option<String>,
    /// Commit.
    pub head_sha: String,
    /// Workflow file path, e.g. `.github/workflows/tfpilot-plan.yml`.
    pub path: String,
    /// Run number.
    pub run_number: u64,
    /// Attempt (re-runs keep the id and raise this).
    #[serde(default = "one")]
    pub run_attempt: u32,
    /// Triggering event.
    pub event: String,
    /// Status.
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// Conclusion.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    /// Workflow id.
    pub workflow_id: u64,
    /// Web link.
    pub html_url: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
}

fn one() -> u32 {
    1
}

/// Filters for listing workflow runs; `None` means no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    /// Workflow id or file name (`tfpilot-plan.yml`): lists that workflow's runs only.
    pub workflow: Option<String>,
    /// Branch.
    pub branch: Option<String>,
    /// Event, e.g. `workflow_dispatch`.
    pub event: Option<String>,
    /// Creation filter in GitHub's syntax, e.g. `>=2026-11-25T10:00:00Z`.
    pub created: Option<String>,
    /// Head SHA.
    pub head_sha: Option<String>,
    /// Page size (1–100; default 30).
    pub per_page: Option<u8>,
}

/// A workflow job step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStep {
    /// Step name.
    pub name: String,
    /// Status.
    pub status: RunStatus,
    /// Conclusion.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    /// Step number.
    pub number: u64,
}

/// A workflow job (`job`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Job id.
    pub id: u64,
    /// Run id.
    pub run_id: u64,
    /// Job name.
    pub name: String,
    /// Status.
    pub status: RunStatus,
    /// Conclusion.
    #[serde(default)]
    pub conclusion: Option<Conclusion>,
    /// Web link.
    #[serde(default)]
    pub html_url: Option<String>,
    /// Steps.
    #[serde(default)]
    pub steps: Vec<JobStep>,
}

/// A workflow artifact (`artifact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Artifact id.
    pub id: u64,
    /// Name, e.g. `tfpilot-plan`.
    pub name: String,
    /// Size of the zip.
    pub size_in_bytes: u64,
    /// Expired artifacts cannot be downloaded (410).
    pub expired: bool,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// Workflow inputs for a dispatch (≤ 25).
pub type WorkflowInputs = BTreeMap<String, String>;
