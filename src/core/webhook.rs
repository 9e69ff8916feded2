//! Webhook payloads as tfpilot's own types.
//!
//! GitHub's payloads are large and drift over time (newer fields appear, older
//! payloads lack them). These types keep only what tfpilot reads, ignore the
//! rest, and default what real payloads sometimes omit. Parsing happens once,
//! at the edge: `parse_event(event_name, body)`.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A webhook delivery, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `ping`: sent when the hook is created.
    Ping,
    /// `workflow_run`: a run was requested, started or completed.
    WorkflowRun(WorkflowRunEvent),
    /// `pull_request`: opened, synchronize, reopened, closed, ...
    PullRequest(PullRequestEvent),
    /// `pull_request_review`: submitted, dismissed, edited.
    PullRequestReview(PullRequestReviewEvent),
    /// `issue_comment`: a comment on an issue or a pull request.
    IssueComment(IssueCommentEvent),
    /// `issues`: opened, edited, labeled, closed, ...
    Issues(IssuesEvent),
    /// `check_run`: rerequested or a requested action was pressed.
    CheckRun(CheckRunEvent),
    /// `merge_group`: a merge queue wants checks on its head commit.
    MergeGroup(MergeGroupEvent),
    /// `installation` / `installation_repositories`.
    Installation(InstallationEvent),
    /// Any other event: acknowledged and counted, never processed.
    Unsupported {
        /// The `X-GitHub-Event` header.
        event: String,
        /// The payload's `action`, when it has one.
        action: Option<String>,
    },
}

impl Event {
    /// The event name as GitHub sends it in `X-GitHub-Event`.
    pub fn name(&self) -> &str {
        match self {
            Event::Ping => "ping",
            Event::WorkflowRun(_) => "workflow_run",
            Event::PullRequest(_) => "pull_request",
            Event::PullRequestReview(_) => "pull_request_review",
            Event::IssueComment(_) => "issue_comment",
            Event::Issues(_) => "issues",
            Event::CheckRun(_) => "check_run",
            Event::MergeGroup(_) => "merge_group",
            Event::Installation(e) => &e.event,
            Event::Unsupported { event, .. } => event,
        }
    }

    /// The payload's `action`, if any.
    pub fn action(&self) -> Option<&str> {
        match self {
            Event::Ping => None,
            Event::WorkflowRun(e) => Some(&e.action),
            Event::PullRequest(e) => Some(&e.action),
            Event::PullRequestReview(e) => Some(&e.action),
            Event::IssueComment(e) => Some(&e.action),
            Event::Issues(e) => Some(&e.action),
            Event::CheckRun(e) => Some(&e.action),
            Event::MergeGroup(e) => Some(&e.action),
            Event::Installation(e) => Some(&e.action),
            Event::Unsupported { action, .. } => action.as_deref(),
        }
    }

    /// The installation the delivery belongs to (route on this, not on headers).
    pub fn installation_id(&self) -> Option<u64> {
        let inst = match self {
            Event::WorkflowRun(e) => &e.installation,
            Event::PullRequest(e) => &e.installation,
            Event::PullRequestReview(e) => &e.installation,
            Event::IssueComment(e) => &e.installation,
            Event::Issues(e) => &e.installation,
            Event::CheckRun(e) => &e.installation,
            Event::MergeGroup(e) => &e.installation,
            Event::Installation(e) => return Some(e.installation.id),
            Event::Ping | Event::Unsupported { .. } => return None,
        };
        inst.as_ref().map(|i| i.id)
    }
}

/// Why a payload could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The body is not JSON at all.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// JSON, but not the shape this event has.
    #[error("unexpected `{event}` payload shape: {message}")]
    Shape {
        /// The event name.
        event: String,
        /// serde's description of the mismatch (field names, never values).
        message: String,
    },
}

/// `installation` as embedded in payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstallationRef {
    /// The installation id.
    pub id: u64,
}

/// A user (or bot) as embedded in payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// The login, e.g. `octocat` or `tfpilot[bot]`.
    pub login: String,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl User {
    /// Bots never drive tfpilot (including tfpilot itself).
    pub fn is_bot(&self) -> bool {
        self.kind == "Bot" || self.login.ends_with("[bot]")
    }
}

/// `repository` as embedded in payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Repository {
    /// The repository id.
    pub id: u64,
    /// The repository name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// The owner.
    pub owner: Owner,
    /// The default branch; absent in a few old payloads.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// Whether this repository is a fork.
    #[serde(default)]
    pub fork: bool,
}

/// A repository owner.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Owner {
    /// The owner's login.
    pub login: String,
}

/// A label on an issue or PR.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Label {
    /// The label name.
    pub name: String,
}

/// `workflow_run` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkflowRunEvent {
    /// requested, in_progress, completed.
    pub action: String,
    /// The run.
    pub workflow_run: WorkflowRun,
    /// The repository.
    pub repository: Repository,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// A workflow run as in `workflow_run` payloads and the runs API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WorkflowRun {
    /// The run id (stable across re-runs).
    pub id: u64,
    /// The workflow's `name:`; may be empty.
    #[serde(default)]
    pub name: Option<String>,
    /// The run's `run-name:` (carries request id and nonce for tfpilot's runs).
    #[serde(default)]
    pub display_title: Option<String>,
    /// queued, in_progress, completed, waiting, requested, pending.
    #[serde(default)]
    pub status: Option<String>,
    /// success, failure, cancelled, ... once completed.
    #[serde(default)]
    pub conclusion: Option<String>,
    /// The branch the run ran on.
    #[serde(default)]
    pub head_branch: Option<String>,
    /// The commit the run ran on.
    #[serde(default)]
    pub head_sha: Option<String>,
    /// 1 for the first attempt, raised by re-runs.
    #[serde(default = "one")]
    pub run_attempt: u64,
    /// When GitHub last changed the run.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// When the run was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// The run's page.
    #[serde(default)]
    pub html_url: Option<String>,
    /// The triggering event (workflow_dispatch for tfpilot's runs).
    #[serde(default)]
    pub event: Option<String>,
    /// The workflow file path, e.g. `.github/workflows/tfpilot-plan.yml`.
    #[serde(default)]
    pub path: Option<String>,
}

fn one() -> u64 {
    1
}

/// `pull_request` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PullRequestEvent {
    /// opened, synchronize, reopened, closed, edited, labeled, ...
    pub action: String,
    /// The PR number.
    pub number: u64,
    /// The PR.
    pub pull_request: PullRequest,
    /// The repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: User,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// A pull request as in payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PullRequest {
    /// The PR number.
    pub number: u64,
    /// The PR page.
    pub html_url: String,
    /// open or closed.
    pub state: String,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// The body; null when empty.
    #[serde(default)]
    pub body: Option<String>,
    /// Merged yet? Absent in some payloads: treated as false.
    #[serde(default)]
    pub merged: Option<bool>,
    /// The merge commit (or test merge commit while open).
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// When GitHub last changed the PR.
    #[serde(default)]
    pub updated_at: Option<String>,
    /// The PR's author.
    pub user: User,
    /// The head branch.
    pub head: GitRef,
    /// The base branch.
    pub base: GitRef,
}

impl PullRequest {
    /// True when the head branch lives in another repository (a fork): such PRs
    /// never trigger anything.
    pub fn is_from_fork(&self) -> bool {
        match (&self.head.repo, &self.base.repo) {
            (Some(head), Some(base)) => head.full_name != base.full_name,
            // A deleted fork shows as a null head repository.
            _ => true,
        }
    }
}

/// One side of a PR (head or base).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GitRef {
    /// The branch name.
    #[serde(rename = "ref")]
    pub branch: String,
    /// The commit.
    pub sha: String,
    /// The repository; null when a fork was deleted.
    #[serde(default)]
    pub repo: Option<Repository>,
}

/// `pull_request_review` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PullRequestReviewEvent {
    /// submitted, edited, dismissed.
    pub action: String,
    /// The review.
    pub review: Review,
    /// The PR.
    pub pull_request: PullRequest,
    /// The repository.
    pub repository: Repository,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// A review.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Review {
    /// The review id.
    pub id: u64,
    /// The reviewer.
    pub user: User,
    /// approved, changes_requested, commented, dismissed (any case).
    pub state: String,
    /// The head commit the review was given for.
    #[serde(default)]
    pub commit_id: Option<String>,
    /// When it was submitted.
    #[serde(default)]
    pub submitted_at: Option<String>,
}

/// `issue_comment` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IssueCommentEvent {
    /// created, edited, deleted.
    pub action: String,
    /// The issue (or PR) commented on.
    pub issue: Issue,
    /// The comment.
    pub comment: Comment,
    /// The repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: User,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// A comment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Comment {
    /// The comment id.
    pub id: u64,
    /// The text; may be empty.
    #[serde(default)]
    pub body: Option<String>,
    /// The author.
    pub user: User,
    /// The comment page.
    #[serde(default)]
    pub html_url: Option<String>,
}

/// An issue (or a PR seen through the issues API).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Issue {
    /// The number.
    pub number: u64,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// The body; null when empty.
    #[serde(default)]
    pub body: Option<String>,
    /// The author.
    pub user: User,
    /// open or closed.
    #[serde(default)]
    pub state: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<Label>,
    /// Present only when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    /// The issue page.
    #[serde(default)]
    pub html_url: Option<String>,
}

impl Issue {
    /// True when this "issue" is a pull request.
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// True when the issue carries `label`.
    pub fn has_label(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l.name == label)
    }
}

/// `issues` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct IssuesEvent {
    /// opened, edited, labeled, closed, reopened, ...
    pub action: String,
    /// The issue.
    pub issue: Issue,
    /// The repository.
    pub repository: Repository,
    /// Who acted.
    pub sender: User,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// `check_run` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckRunEvent {
    /// created, completed, rerequested, requested_action.
    pub action: String,
    /// The check run.
    pub check_run: CheckRun,
    /// Set for `requested_action`.
    #[serde(default)]
    pub requested_action: Option<RequestedAction>,
    /// The repository.
    pub repository: Repository,
    /// Who pressed the button.
    pub sender: User,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// A check run as in payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckRun {
    /// The check run id.
    pub id: u64,
    /// The check name, e.g. `tfpilot/plan`.
    pub name: String,
    /// The commit it reports on.
    pub head_sha: String,
    /// tfpilot puts the request id here.
    #[serde(default)]
    pub external_id: Option<String>,
    /// queued, in_progress, completed.
    #[serde(default)]
    pub status: Option<String>,
    /// The app that created it (only the creating app receives button presses).
    #[serde(default)]
    pub app: Option<App>,
    /// PRs whose head is this commit (empty for forks).
    #[serde(default)]
    pub pull_requests: Vec<PrLink>,
}

/// An app as embedded in payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct App {
    /// The app id.
    pub id: u64,
}

/// A PR reference inside check and workflow payloads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PrLink {
    /// The PR number.
    pub number: u64,
}

/// The button pressed on a check run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestedAction {
    /// The `identifier` tfpilot gave the action.
    pub identifier: String,
}

/// `merge_group` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MergeGroupEvent {
    /// checks_requested, destroyed.
    pub action: String,
    /// The merge group.
    pub merge_group: MergeGroup,
    /// The repository.
    pub repository: Repository,
    /// The installation.
    #[serde(default)]
    pub installation: Option<InstallationRef>,
}

/// A merge queue group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MergeGroup {
    /// The commit the queue tests.
    pub head_sha: String,
    /// `refs/heads/gh-readonly-queue/main/pr-<n>-<sha>`.
    pub head_ref: String,
    /// The target branch ref.
    #[serde(default)]
    pub base_ref: Option<String>,
}

/// `installation` / `installation_repositories` delivery.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstallationEvent {
    /// Which of the two events this is (not in the payload; set by the parser).
    #[serde(skip)]
    pub event: String,
    /// created, deleted, added, removed, suspend, ...
    pub action: String,
    /// The installation.
    pub installation: InstallationInfo,
}

/// The installation object in installation events.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InstallationInfo {
    /// The installation id.
    pub id: u64,
    /// The account it is installed on.
    #[serde(default)]
    pub account: Option<Owner>,
}

#[derive(Deserialize)]
struct ActionOnly {
    #[serde(default)]
    action: Option<String>,
}

fn shape<T: DeserializeOwned>(event: &str, value: serde_json::Value) -> Result<T, ParseError> {
    serde_json::from_value(value).map_err(|e| ParseError::Shape {
        event: event.to_string(),
        message: without_values(&e.to_string()),
    })
}

/// serde's "invalid type: string \"…\", expected u64" quotes the payload's value;
/// payload text must not reach a log line, so only the expectation is kept.
fn without_values(message: &str) -> String {
    for kind in ["invalid type", "invalid value", "invalid length"] {
        if message.starts_with(kind) {
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{kind} (value withheld), expected {expected}"),
                None => format!("{kind} (value withheld)"),
            };
        }
    }
    if message.starts_with("unknown variant") {
        return "unknown variant (value withheld)".to_string();
    }
    message.to_string()
}

/// Parses a delivery body for the event named in `X-GitHub-Event`.
///
/// Events tfpilot does not handle come back as `Event::Unsupported` (only the
/// body's JSON-ness and `action` are checked), so they can be acknowledged
/// without touching the store.
pub fn parse_event(event: &str, body: &[u8]) -> Result<Event, ParseError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ParseError::Shape {
            event: event.to_string(),
            message: "payload is not a JSON object".to_string(),
        });
    }
    Ok(match event {
        "ping" => Event::Ping,
        "workflow_run" => Event::WorkflowRun(shape(event, value)?),
        "pull_request" => Event::PullRequest(shape(event, value)?),
        "pull_request_review" => Event::PullRequestReview(shape(event, value)?),
        "issue_comment" => Event::IssueComment(shape(event, value)?),
        "issues" => Event::Issues(shape(event, value)?),
        "check_run" => Event::CheckRun(shape(event, value)?),
        "merge_group" => Event::MergeGroup(shape(event, value)?),
        "installation" | "installation_repositories" => {
            let mut e: InstallationEvent = shape(event, value)?;
            e.event = event.to_string();
            Event::Installation(e)
        }
        other => {
            let a: ActionOnly = shape(other, value)?;
            Event::Unsupported {
                event: other.to_string(),
                action: a.action,
            }
        }
    })
}
