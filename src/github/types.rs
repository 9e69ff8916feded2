//! Our own shapes for the GitHub REST responses and request bodies tfpilot uses.
//!
//! Field names follow GitHub's OpenAPI description (`rest-api.subset.json`); only the
//! fields tfpilot reads are declared and unknown fields are ignored, so a richer real
//! response and a leaner simulator response both decode.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// A user or bot account (`simple-user`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name, e.g. `octocat` or `tfpilot[bot]`.
    pub login: String,
    /// Numeric account id.
    pub id: u64,
    /// `User`, `Bot` or `Organization`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// An issue or pull-request conversation comment (`issue-comment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueComment {
    /// Comment id.
    pub id: u64,
    /// Markdown body (absent only when GitHub was asked for html/text only).
    #[serde(default)]
    pub body: String,
    /// Link to the comment.
    pub html_url: String,
    /// Author; null for deleted accounts.
    pub user: Option<User>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last edit time.
    pub updated_at: DateTime<Utc>,
}

/// Reaction emoji names accepted by GitHub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReactionContent {
    /// 👍
    #[serde(rename = "+1")]
    PlusOne,
    /// 👎
    #[serde(rename = "-1")]
    MinusOne,
    /// 😄
    #[serde(rename = "laugh")]
    Laugh,
    /// 😕
    #[serde(rename = "confused")]
    Confused,
    /// ❤️
    #[serde(rename = "heart")]
    Heart,
    /// 🎉
    #[serde(rename = "hooray")]
    Hooray,
    /// 🚀
    #[serde(rename = "rocket")]
    Rocket,
    /// 👀
    #[serde(rename = "eyes")]
    Eyes,
}

/// A reaction (`reaction`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// Reaction id.
    pub id: u64,
    /// Which emoji.
    pub content: ReactionContent,
    /// Who reacted.
    pub user: Option<User>,
}

/// Open or closed, for issues and pull requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    /// Open.
    Open,
    /// Closed (for a PR: closed or merged).
    Closed,
}

/// A label as it appears on an issue: GitHub's schema allows a bare name or an object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IssueLabel {
    /// The label object (`label`).
    Object {
        /// Label name.
        name: String,
    },
    /// Just the name.
    Name(String),
}

impl IssueLabel {
    /// The label's name whichever shape it came in.
    pub fn name(&self) -> &str {
        match self {
            IssueLabel::Object { name } | IssueLabel::Name(name) => name,
        }
    }
}

/// Marker present on issues that are pull requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuePullRequestLink {
    /// API URL of the pull request.
    #[serde(default)]
    pub url: Option<String>,
}

/// An issue (`issue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Global id.
    pub id: u64,
    /// Number within the repository.
    pub number: u64,
    /// Open or closed.
    pub state: IssueState,
    /// Title.
    pub title: String,
    /// Markdown body.
    #[serde(default)]
    pub body: Option<String>,
    /// Author.
    pub user: Option<User>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<IssueLabel>,
    /// Web link.
    pub html_url: String,
    /// Present when this issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<IssuePullRequestLink>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
    /// When it was closed.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Fields to change on an issue (`PATCH /issues/{n}`); `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IssueUpdate {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Open or close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<IssueState>,
    /// `completed`, `not_planned` or `reopened` when closing/reopening.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
}

/// A label object (`label`), as returned by add-labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Label id.
    pub id: u64,
    /// Label name.
    pub name: String,
}

/// A repository as embedded in other objects (`minimal-repository`/`repository`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryRef {
    /// Repository id.
    pub id: u64,
    /// Name without owner.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// True for forks: fork PRs never trigger anything.
    #[serde(default)]
    pub fork: bool,
}

/// A pull request's head or base (`pull-request.head`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    /// `owner:branch`.
    pub label: String,
    /// Branch name.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// Commit SHA.
    pub sha: String,
    /// Repository; null when the head fork was deleted.
    pub repo: Option<RepositoryRef>,
}

/// A pull request (`pull-request`; list endpoints return `pull-request-simple`, which lacks
/// `merged`, hence the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Global id.
    pub id: u64,
    /// Number within the repository.
    pub number: u64,
    /// Open or closed.
    pub state: IssueState,
    /// Title.
    pub title: String,
    /// Markdown body.
    #[serde(default)]
    pub body: Option<String>,
    /// Author.
    pub user: Option<User>,
    /// Web link.
    pub html_url: String,
    /// Head branch and SHA.
    pub head: PullRequestRef,
    /// Base branch.
    pub base: PullRequestRef,
    /// Merged (only on the single-PR endpoint).
    #[serde(default)]
    pub merged: bool,
    /// When merged.
    #[serde(default)]
    pub merged_at: Option<DateTime<Utc>>,
    /// The merge commit once merged (a test merge commit before).
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    /// Draft PR.
    #[serde(default)]
    pub draft: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last update time.
    pub updated_at: DateTime<Utc>,
    /// When closed.
    #[serde(default)]
    pub closed_at: Option<DateTime<Utc>>,
}

/// Body of `POST /pulls`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPullRequest {
    /// Title.
    pub title: String,
    /// Head branch name (same repository).
    pub head: String,
    /// Base branch name.
    pub base: String,
    /// Markdown body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Open as draft.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub draft: bool,
}

/// Fields to change on a pull request (`PATCH /pulls/{n}`), e.g. `state: Closed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullRequestUpdate {
    /// New title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Open or close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<IssueState>,
}

/// How to merge a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeMethod {
    /// Merge commit.
    Merge,
    /// Squash.
    Squash,
    /// Rebase.
    Rebase,
}

/// Body of `PUT /pulls/{n}/merge`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeRequest {
    /// Commit title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_title: Option<String>,
    /// Commit message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
    /// Merge only if the head is still this SHA (409 otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// Merge method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_method: Option<MergeMethod>,
}

/// Answer of a successful merge (`pull-request-merge-result`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeResult {
    /// The merge commit SHA.
    pub sha: String,
    /// Whether it merged.
    pub merged: bool,
    /// GitHub's message.
    pub message: String,
}

/// Review state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// Commented only.
    Commented,
    /// Dismissed.
    Dismissed,
    /// Not yet submitted.
    Pending,
    /// A state GitHub added later.
    #[serde(other)]
    Other,
}

/// A pull-request review (`pull-request-review`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Review id.
    pub id: u64,
    /// Reviewer.
    pub user: Option<User>,
    /// State.
    pub state: ReviewState,
    /// The head SHA the review was given on (null for very old reviews).
    #[serde(default)]
    pub commit_id: Option<String>,
    /// When submitted.
    #[serde(default)]
    pub submitted_at: Option<DateTime<Utc>>,
}

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

/// The object a git ref points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitObject {
    /// SHA.
    pub sha: String,
    /// `commit`, `tag`, …
    #[serde(rename = "type")]
    pub kind: String,
}

/// A git reference (`git-ref`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// Full name, e.g. `refs/heads/main`.
    #[serde(rename = "ref")]
    pub ref_name: String,
    /// What it points to.
    pub object: GitObject,
}

/// A created blob (`short-blob`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blob {
    /// Blob SHA.
    pub sha: String,
}

/// File mode of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileMode {
    /// Regular file.
    #[serde(rename = "100644")]
    File,
    /// Executable file.
    #[serde(rename = "100755")]
    Executable,
}

/// One entry of `POST /git/trees`; `sha: None` deletes the path (sent as JSON `null`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TreeEntry {
    /// Path in the repository.
    pub path: String,
    /// Mode.
    pub mode: FileMode,
    /// Always `blob` for us.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Blob SHA, or `None` to delete the path.
    pub sha: Option<String>,
}

impl TreeEntry {
    /// Put the blob `sha` at `path`.
    pub fn file(path: impl Into<String>, sha: impl Into<String>) -> Self {
        TreeEntry {
            path: path.into(),
            mode: FileMode::File,
            kind: "blob",
            sha: Some(sha.into()),
        }
    }

    /// Remove `path`.
    pub fn delete(path: impl Into<String>) -> Self {
        TreeEntry {
            path: path.into(),
            mode: FileMode::File,
            kind: "blob",
            sha: None,
        }
    }
}

/// A created tree (`git-tree`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitTree {
    /// Tree SHA.
    pub sha: String,
}

/// A SHA reference inside a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShaRef {
    /// SHA.
    pub sha: String,
}

/// A git commit (`git-commit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    /// Commit SHA.
    pub sha: String,
    /// Message.
    pub message: String,
    /// Root tree.
    pub tree: ShaRef,
    /// Parents.
    #[serde(default)]
    pub parents: Vec<ShaRef>,
}

/// A file read with the contents API, already base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    /// Path in the repository.
    pub path: String,
    /// Blob SHA.
    pub sha: String,
    /// The bytes.
    pub content: Vec<u8>,
}

/// A repository (`full-repository`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// Repository id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// Default branch (apply/destroy dispatch from here).
    pub default_branch: String,
    /// Private repository.
    #[serde(default)]
    pub private: bool,
    /// Archived.
    #[serde(default)]
    pub archived: bool,
    /// Web link.
    pub html_url: String,
}

/// Repository permission level (`maintain` shows as `write`, `triage` as `read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionLevel {
    /// No access.
    None,
    /// Read (and triage).
    Read,
    /// Write (and maintain).
    Write,
    /// Admin.
    Admin,
}

/// `GET /collaborators/{username}/permission` (`repository-collaborator-permission`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollaboratorPermission {
    /// Legacy level.
    pub permission: PermissionLevel,
    /// Role name: `admin`, `maintain`, `write`, `triage`, `read` or a custom role.
    pub role_name: String,
}

/// Team membership state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MembershipState {
    /// Member.
    Active,
    /// Invited, not yet accepted: not a member for authorization.
    Pending,
}

/// `GET /orgs/{org}/teams/{team}/memberships/{username}` (`team-membership`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMembership {
    /// `member` or `maintainer`.
    pub role: String,
    /// Active or pending.
    pub state: MembershipState,
}

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

/// One app webhook delivery (`hook-delivery-item`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookDelivery {
    /// Delivery id (for redelivery).
    pub id: u64,
    /// `X-GitHub-Delivery`, kept across redeliveries.
    pub guid: String,
    /// When delivered.
    pub delivered_at: DateTime<Utc>,
    /// Whether this was a redelivery.
    pub redelivery: bool,
    /// `OK` when fine.
    pub status: String,
    /// HTTP status our endpoint answered (0 when unreachable).
    pub status_code: u16,
    /// Event name.
    pub event: String,
    /// Action.
    #[serde(default)]
    pub action: Option<String>,
    /// Installation.
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// Repository.
    #[serde(default)]
    pub repository_id: Option<u64>,
}

/// One page of app webhook deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    /// Deliveries, newest first.
    pub deliveries: Vec<HookDelivery>,
    /// Cursor for the next page (from the `Link` header), if any.
    pub next_cursor: Option<String>,
}

/// What `POST /app-manifests/{code}/conversions` returns: the new app and its secrets.
pub struct ManifestConversion {
    /// App id.
    pub id: u64,
    /// App slug.
    pub slug: Option<String>,
    /// App name.
    pub name: String,
    /// Web link.
    pub html_url: String,
    /// Owner account.
    pub owner: Option<User>,
    /// OAuth client id (also usable as JWT `iss`).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Webhook secret, when the manifest had a hook.
    pub webhook_secret: Option<SecretString>,
    /// The app's private key (PEM).
    pub pem: SecretString,
}

impl std::fmt::Debug for ManifestConversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestConversion")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("secrets", &"[redacted]")
            .finish()
    }
}

/// Workflow inputs for a dispatch (≤ 25).
pub type WorkflowInputs = BTreeMap<String, String>;
