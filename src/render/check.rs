//! Check-run payloads: `tfpilot/plan` (the plan's result, usable as a required check)
//! and `tfpilot` (the derived lifecycle status with its buttons).
//!
//! [`CheckRunPayload`] serializes with GitHub's field names, so the service sends it
//! as the body of `POST /repos/{o}/{r}/check-runs`, and [`CheckRunPayload::as_update`]
//! as the body of `PATCH .../check-runs/{id}`.

use serde::{Deserialize, Serialize};

use crate::core::command::Verb;
use crate::core::request::{Request, RunStatus, WorkflowKind};
use crate::core::status::{FailureCause, Status, is_plan_stale};

use super::headline::{command, headline};
use super::md::{clip, link};
use super::plan;
use super::sticky::{StickyInput, render_content, run_url, shown_plan};
use super::{CHECK_TEXT_LIMIT, body_hash};

/// Name of the plan check run.
pub const PLAN_CHECK_NAME: &str = "tfpilot/plan";

/// Name of the lifecycle check run.
pub const LIFECYCLE_CHECK_NAME: &str = "tfpilot";

/// GitHub's limits on a requested action (characters).
pub const MAX_ACTIONS: usize = 3;
/// Longest action label GitHub accepts.
pub const MAX_ACTION_LABEL: usize = 20;
/// Longest action description GitHub accepts.
pub const MAX_ACTION_DESCRIPTION: usize = 40;
/// Longest action identifier GitHub accepts.
pub const MAX_ACTION_IDENTIFIER: usize = 20;

/// Longest title written; GitHub documents no limit, a title is one short line.
const MAX_TITLE: usize = 255;

/// A check run's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Waiting to start.
    Queued,
    /// Running.
    InProgress,
    /// Done; the conclusion says how.
    Completed,
}

/// A check run's `conclusion` (GitHub alone sets `stale`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    /// It worked.
    Success,
    /// It failed.
    Failure,
    /// Neither: nothing wrong, nothing finished.
    Neutral,
    /// It was cancelled.
    Cancelled,
    /// It did not run.
    Skipped,
    /// It ran out of time.
    TimedOut,
    /// Someone has to act (GitHub shows the details link).
    ActionRequired,
}

/// A check run's `output`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutput {
    /// One line.
    pub title: String,
    /// Markdown, at most 65,535 characters.
    pub summary: String,
    /// More Markdown, at most 65,535 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A button on a check run ("requested action").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckAction {
    /// The button text, at most 20 characters.
    pub label: String,
    /// The tooltip, at most 40 characters.
    pub description: String,
    /// Sent back in `check_run.requested_action`, at most 20 characters.
    pub identifier: String,
}

/// The body of a check-run create or update, in GitHub's field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRunPayload {
    /// `tfpilot/plan` or `tfpilot`.
    pub name: String,
    /// The commit the check is on (the PR head).
    pub head_sha: String,
    /// Where it stands.
    pub status: CheckStatus,
    /// How it ended, when completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    /// The request id, so an event on the check finds its request.
    pub external_id: String,
    /// The run (plan check) or the pull request (lifecycle check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details_url: Option<String>,
    /// Title, summary and text.
    pub output: CheckOutput,
    /// Buttons; an empty list removes earlier ones on update.
    pub actions: Vec<CheckAction>,
}

impl CheckRunPayload {
    /// A hash of the whole payload, to skip an update that would change nothing.
    pub fn hash(&self) -> String {
        // Serializing structs of strings and unit enums cannot fail.
        body_hash(&serde_json::to_string(self).unwrap_or_default())
    }
}

/// The body of a check-run update (`PATCH .../check-runs/{id}`): the payload
/// without `head_sha`, which that endpoint does not take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckRunUpdate<'a> {
    /// `tfpilot/plan` or `tfpilot`.
    pub name: &'a str,
    /// Where it stands.
    pub status: CheckStatus,
    /// How it ended, when completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conclusion: Option<CheckConclusion>,
    /// The request id.
    pub external_id: &'a str,
    /// The run or the pull request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_url: Option<&'a str>,
    /// Title, summary and text.
    pub output: &'a CheckOutput,
    /// Buttons; an empty list removes earlier ones.
    pub actions: &'a [CheckAction],
}

impl CheckRunPayload {
    /// The same content as an update body.
    pub fn as_update(&self) -> CheckRunUpdate<'_> {
        CheckRunUpdate {
            name: &self.name,
            status: self.status,
            conclusion: self.conclusion,
            external_id: &self.external_id,
            details_url: self.details_url.as_deref(),
            output: &self.output,
            actions: &self.actions,
        }
    }
}

/// What a check-run button does; the identifier GitHub sends back parses into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckActionId {
    /// Plan the PR head again (same as `/tfpilot plan`).
    Plan,
    /// Apply the merged plan (same as `/tfpilot apply`).
    Apply,
    /// Fetch the real state of the runs (same as `/tfpilot sync`).
    Sync,
}

impl CheckActionId {
    /// Every action, in button order.
    pub const ALL: [CheckActionId; 3] = [
        CheckActionId::Plan,
        CheckActionId::Apply,
        CheckActionId::Sync,
    ];

    /// The identifier sent to GitHub and back.
    pub fn identifier(self) -> &'static str {
        match self {
            CheckActionId::Plan => "plan",
            CheckActionId::Apply => "apply",
            CheckActionId::Sync => "sync",
        }
    }

    /// Parses a `requested_action.identifier`.
    pub fn parse(identifier: &str) -> Option<CheckActionId> {
        CheckActionId::ALL
            .into_iter()
            .find(|a| a.identifier() == identifier)
    }

    /// The comment command the button stands for: pressing it runs the same code
    /// path, with the same authorization, as typing that command.
    pub fn verb(self) -> Verb {
        match self {
            CheckActionId::Plan => Verb::Plan,
            CheckActionId::Apply => Verb::Apply,
            CheckActionId::Sync => Verb::Sync,
        }
    }

    /// The button as GitHub takes it.
    pub fn action(self) -> CheckAction {
        let (label, description) = match self {
            CheckActionId::Plan => ("Plan again", "Run terraform plan on the PR head again"),
            CheckActionId::Apply => ("Apply", "Apply the merged, planned change"),
            CheckActionId::Sync => ("Sync", "Fetch the latest run results"),
        };
        CheckAction {
            label: label.to_string(),
            description: description.to_string(),
            identifier: self.identifier().to_string(),
        }
    }
}

/// True while the PR is open and not merged: only then does planning its head help.
fn pr_open(request: &Request) -> bool {
    request.pr().is_some_and(|p| p.open && !p.merged)
}

/// The buttons the status allows, in order, at most three.
///
/// - Plan again: the PR is open, no plan is running, and nothing was applied or
///   merged yet (request created, planning without a run, plan ready, approved,
///   plan failed).
/// - Apply: merged with a successful plan of the latest head, and not applied yet
///   (merged, or apply failed to retry, or refused on a changed plan: pressing it
///   then applies the plan at apply time shown in the comment, like the command).
/// - Sync: a run is in flight (its event may have been lost) or the destroy is stale.
pub fn allowed_actions(status: Status, request: &Request) -> Vec<CheckActionId> {
    let run_active = |k| request.run(k).is_some_and(|r| r.is_active());
    let plan_running = run_active(WorkflowKind::Plan);
    let plan = matches!(
        status,
        Status::RequestCreated
            | Status::Planning
            | Status::PlanReady
            | Status::Approved
            | Status::Failed(FailureCause::PlanFailed)
    ) && pr_open(request)
        && !plan_running;
    let plan_ok = request
        .run(WorkflowKind::Plan)
        .is_some_and(|r| r.succeeded());
    let apply = matches!(
        status,
        Status::Merged
            | Status::Failed(FailureCause::ApplyFailed)
            | Status::Failed(FailureCause::PlanChanged)
    ) && request.is_merged()
        && plan_ok
        && !is_plan_stale(request);
    let sync = status == Status::Failed(FailureCause::DestroyStale)
        || plan_running
        || run_active(WorkflowKind::Apply)
        || run_active(WorkflowKind::Destroy);
    [
        (plan, CheckActionId::Plan),
        (apply, CheckActionId::Apply),
        (sync, CheckActionId::Sync),
    ]
    .into_iter()
    .filter_map(|(ok, a)| ok.then_some(a))
    .take(MAX_ACTIONS)
    .collect()
}

/// The `tfpilot` check run: the derived status as title, the sticky comment's
/// content as summary, and the buttons the status allows.
///
/// Always `completed`: GitHub shows buttons only on a completed check run, and this
/// check reports where the request stands rather than gating the merge (that is
/// `tfpilot/plan`'s job). Failed is `failure`, applied and destroyed are `success`,
/// everything in between is `neutral`.
pub fn lifecycle_check(input: &StickyInput<'_>, head_sha: &str) -> CheckRunPayload {
    let status = input.status();
    let conclusion = match status {
        Status::Failed(_) => CheckConclusion::Failure,
        Status::Applied | Status::Destroyed => CheckConclusion::Success,
        _ => CheckConclusion::Neutral,
    };
    CheckRunPayload {
        name: LIFECYCLE_CHECK_NAME.to_string(),
        head_sha: head_sha.to_string(),
        status: CheckStatus::Completed,
        conclusion: Some(conclusion),
        external_id: input.request.id.clone(),
        details_url: input.request.pr().and_then(|p| {
            p.url.clone().or_else(|| {
                let repo = input.repo_url?.trim_end_matches('/');
                Some(format!("{repo}/pull/{}", p.number))
            })
        }),
        output: CheckOutput {
            title: clip(headline(status), MAX_TITLE),
            summary: render_content(input, CHECK_TEXT_LIMIT),
            text: None,
        },
        actions: allowed_actions(status, input.request)
            .into_iter()
            .map(CheckActionId::action)
            .collect(),
    }
}

/// Maps a workflow run's conclusion to a check conclusion.
fn conclusion_of(conclusion: &str) -> CheckConclusion {
    match conclusion {
        "success" => CheckConclusion::Success,
        "failure" | "startup_failure" => CheckConclusion::Failure,
        "cancelled" => CheckConclusion::Cancelled,
        "timed_out" => CheckConclusion::TimedOut,
        "skipped" => CheckConclusion::Skipped,
        "action_required" => CheckConclusion::ActionRequired,
        _ => CheckConclusion::Neutral,
    }
}

/// The `tfpilot/plan` check run for the PR head `head_sha`.
///
/// Queued until a plan of this commit runs, in progress while it runs, then
/// completed with the run's conclusion; the summary is the plan summary and the text
/// the changed addresses (cut with a note when too long). A plan that ran on
/// another commit does not count for this one.
pub fn plan_check(input: &StickyInput<'_>, head_sha: &str) -> CheckRunPayload {
    let request = input.request;
    let url = run_url(request, WorkflowKind::Plan, input.repo_url);
    let run_ref = url
        .as_deref()
        .map_or("the plan run".to_string(), |u| link("the plan run", u));
    let run = request
        .run(WorkflowKind::Plan)
        .filter(|r| r.head_sha.as_deref().is_none_or(|s| s == head_sha));

    let (status, conclusion, title, summary, text) = match run {
        None => (
            CheckStatus::Queued,
            None,
            "Waiting for a plan of this commit".to_string(),
            format!(
                "No plan has run on this commit yet. tfpilot plans new commits by itself; \
                 comment {} to start one.",
                command(Verb::Plan)
            ),
            None,
        ),
        Some(r) if r.is_active() => {
            let running = r.status == Some(RunStatus::InProgress);
            (
                if running {
                    CheckStatus::InProgress
                } else {
                    CheckStatus::Queued
                },
                None,
                if running { "Planning" } else { "Plan queued" }.to_string(),
                format!("Terraform is planning this commit: {run_ref}."),
                None,
            )
        }
        Some(r) => {
            let conclusion = r
                .conclusion
                .as_deref()
                .map_or(CheckConclusion::Neutral, conclusion_of);
            match (conclusion, shown_plan(input)) {
                (CheckConclusion::Success, Some(p)) => {
                    let summary = plan::summary(p, input.fingerprint);
                    let list = plan::addresses(p, CHECK_TEXT_LIMIT, url.as_deref(), false);
                    (
                        CheckStatus::Completed,
                        Some(conclusion),
                        clip(&p.plan_line.to_string(), MAX_TITLE),
                        clip(&summary, CHECK_TEXT_LIMIT),
                        (!list.is_empty()).then_some(list),
                    )
                }
                (CheckConclusion::Success, None) => (
                    CheckStatus::Completed,
                    Some(conclusion),
                    "Plan succeeded".to_string(),
                    format!(
                        "The plan succeeded, but its summary could not be read; see {run_ref}."
                    ),
                    None,
                ),
                (CheckConclusion::Failure, _) => (
                    CheckStatus::Completed,
                    Some(conclusion),
                    "Plan failed".to_string(),
                    format!("The plan failed; {run_ref} shows why."),
                    None,
                ),
                (other, _) => (
                    CheckStatus::Completed,
                    Some(other),
                    clip(
                        &format!("Plan {}", r.conclusion.as_deref().unwrap_or("finished")),
                        MAX_TITLE,
                    ),
                    format!("The plan did not produce a result; see {run_ref}."),
                    None,
                ),
            }
        }
    };
    CheckRunPayload {
        name: PLAN_CHECK_NAME.to_string(),
        head_sha: head_sha.to_string(),
        status,
        conclusion,
        external_id: request.id.clone(),
        details_url: url,
        output: CheckOutput {
            title,
            summary,
            text,
        },
        actions: Vec::new(),
    }
}
