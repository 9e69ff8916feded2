//! Talking to GitHub: the [`GitHub`] trait tfpilot's handlers use, App authentication,
//! and [`GitHubClient`], the real implementation on octocrab.
//!
//! Handlers hold an `Arc<dyn GitHub>`; tests and the demo point the same client at the
//! simulator by changing the base URL:
//!
//! ```text
//! let credentials = AppCredentials::from_pem_file(app_id, Path::new("app.pem"))?;
//! let config = GitHubConfig::from_env(credentials);          // TFPILOT_GITHUB_API_URL
//! let github: Arc<dyn GitHub> = Arc::new(GitHubClient::new(config)?);
//! github.create_comment(&Repo::new(installation_id, "acme", "infra"), 5, "hi").await?;
//! ```
//!
//! Choices worth knowing:
//! - The app JWT is RS256 with `iat` = now − 60 s, `exp` = now + 9 min and `iss` = the app
//!   id as a string (standard JWT validators reject a numeric `iss`; GitHub takes both).
//! - Installation tokens are cached per installation and renewed when they expire within
//!   `token_refresh_margin` (5 min); concurrent callers share one renewal, and its failure.
//!   A 401 drops the token and retries once with a new one. Tokens are opaque strings.
//! - 5xx and connection errors are retried with capped exponential backoff and jitter
//!   (`RetryPolicy`, 4 attempts). 429 and rate-limit 403s wait for `Retry-After` or
//!   `x-ratelimit-reset`, but never longer than `max_rate_limit_wait` (90 s): a longer
//!   limit fails at once with `GitHubError::RateLimited`, so a webhook handler never hangs.
//!   Other 4xx are not retried. A POST retried after a 5xx may duplicate something
//!   GitHub did create despite the error: creators should find their own marker
//!   (e.g. the sticky comment's) rather than trust they created exactly once.
//! - Every attempt is logged at debug (method, route template, status, latency, attempt)
//!   and counted in [`GitHubMetrics`]; tokens, JWTs and keys never reach a log or an error.
//! - Artifact zips: the API answers 302 to a short-lived storage URL; it is fetched with
//!   reqwest without the token and its URL is not logged.

use async_trait::async_trait;

pub mod auth;
pub mod branch;
pub mod client;
pub mod error;
pub mod metrics;
mod ops;
mod path;
pub mod retry;
mod transport;
pub mod types;

pub use auth::AppCredentials;
pub use branch::{FileChange, commit_files, create_branch_with_files};
pub use client::{API_URL_ENV, DEFAULT_API_URL, GitHubClient, GitHubConfig, convert_manifest};
pub use error::{GitHubError, GitHubResult};
pub use metrics::{CallCount, GitHubMetrics, MetricsSnapshot};
pub use retry::RetryPolicy;
pub use transport::install_crypto_provider;
pub use types::*;

/// A repository as seen through one app installation: every repository-scoped call
/// authenticates with that installation's token.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Repo {
    /// `installation.id` from the webhook payload.
    pub installation_id: u64,
    /// Owner login.
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl Repo {
    /// A repository reached through `installation_id`.
    pub fn new(installation_id: u64, owner: impl Into<String>, name: impl Into<String>) -> Self {
        Repo {
            installation_id,
            owner: owner.into(),
            name: name.into(),
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// The GitHub operations tfpilot needs. Ref names given to `get_ref`/`update_ref` are
/// the short form `heads/<branch>`; `create_ref` takes the full `refs/heads/<branch>`, as
/// GitHub's API does.
#[async_trait]
pub trait GitHub: Send + Sync {
    // --- issue and PR conversation comments ---

    /// Comment on an issue or pull request.
    async fn create_comment(
        &self,
        repo: &Repo,
        issue_number: u64,
        body: &str,
    ) -> GitHubResult<IssueComment>;
    /// Replace a comment's body.
    async fn update_comment(
        &self,
        repo: &Repo,
        comment_id: u64,
        body: &str,
    ) -> GitHubResult<IssueComment>;
    /// Read one comment (NotFound once someone deleted it).
    async fn get_comment(&self, repo: &Repo, comment_id: u64) -> GitHubResult<IssueComment>;
    /// Delete a comment.
    async fn delete_comment(&self, repo: &Repo, comment_id: u64) -> GitHubResult<()>;
    /// All comments of an issue or pull request, oldest first.
    async fn list_comments(
        &self,
        repo: &Repo,
        issue_number: u64,
    ) -> GitHubResult<Vec<IssueComment>>;
    /// React to a comment (acknowledges a command).
    async fn create_comment_reaction(
        &self,
        repo: &Repo,
        comment_id: u64,
        content: ReactionContent,
    ) -> GitHubResult<Reaction>;

    /// React to an issue or pull request itself.
    async fn create_issue_reaction(
        &self,
        repo: &Repo,
        issue_number: u64,
        content: ReactionContent,
    ) -> GitHubResult<Reaction>;

    // --- issues ---

    /// Read an issue (pull requests are issues too).
    async fn get_issue(&self, repo: &Repo, issue_number: u64) -> GitHubResult<Issue>;
    /// Change an issue's title, body or state.
    async fn update_issue(
        &self,
        repo: &Repo,
        issue_number: u64,
        update: &IssueUpdate,
    ) -> GitHubResult<Issue>;
    /// Add labels (existing ones are kept); returns all labels now on the issue.
    async fn add_labels(
        &self,
        repo: &Repo,
        issue_number: u64,
        labels: &[String],
    ) -> GitHubResult<Vec<Label>>;

    // --- pull requests ---

    /// Read a pull request.
    async fn get_pull(&self, repo: &Repo, number: u64) -> GitHubResult<PullRequest>;
    /// Open a pull request.
    async fn create_pull(&self, repo: &Repo, pull: &NewPullRequest) -> GitHubResult<PullRequest>;
    /// Change a pull request (e.g. close it).
    async fn update_pull(
        &self,
        repo: &Repo,
        number: u64,
        update: &PullRequestUpdate,
    ) -> GitHubResult<PullRequest>;
    /// Merge a pull request.
    async fn merge_pull(
        &self,
        repo: &Repo,
        number: u64,
        merge: &MergeRequest,
    ) -> GitHubResult<MergeResult>;
    /// All reviews of a pull request, oldest first.
    async fn list_reviews(&self, repo: &Repo, number: u64) -> GitHubResult<Vec<Review>>;
    /// Pull requests whose head is `branch` in this repository, in any state.
    async fn list_pulls_by_head(&self, repo: &Repo, branch: &str)
    -> GitHubResult<Vec<PullRequest>>;

    // --- check runs ---

    /// Create a check run (at most 3 actions).
    async fn create_check_run(&self, repo: &Repo, check: &NewCheckRun) -> GitHubResult<CheckRun>;
    /// Update a check run (at most 3 actions).
    async fn update_check_run(
        &self,
        repo: &Repo,
        check_run_id: u64,
        update: &CheckRunUpdate,
    ) -> GitHubResult<CheckRun>;

    // --- git data ---

    /// Read a ref, e.g. `heads/main` (NotFound when the branch does not exist).
    async fn get_ref(&self, repo: &Repo, git_ref: &str) -> GitHubResult<GitRef>;
    /// Read a commit (for its tree).
    async fn get_commit(&self, repo: &Repo, sha: &str) -> GitHubResult<GitCommit>;
    /// Store file content as a blob.
    async fn create_blob(&self, repo: &Repo, content: &[u8]) -> GitHubResult<Blob>;
    /// Create a tree on top of `base_tree`; entries with `sha: None` delete their path.
    async fn create_tree(
        &self,
        repo: &Repo,
        base_tree: &str,
        entries: &[TreeEntry],
    ) -> GitHubResult<GitTree>;
    /// Create a commit.
    async fn create_commit(
        &self,
        repo: &Repo,
        message: &str,
        tree: &str,
        parents: &[String],
    ) -> GitHubResult<GitCommit>;
    /// Create a ref, e.g. `refs/heads/request/req_dev_app_abc123`.
    async fn create_ref(&self, repo: &Repo, full_ref: &str, sha: &str) -> GitHubResult<GitRef>;
    /// Move a ref (`heads/<branch>`); `force` allows non-fast-forward.
    async fn update_ref(
        &self,
        repo: &Repo,
        git_ref: &str,
        sha: &str,
        force: bool,
    ) -> GitHubResult<GitRef>;
    /// A file's bytes at `git_ref` (default branch when `None`), e.g. `.github/tfpilot.yml`.
    async fn get_file(
        &self,
        repo: &Repo,
        path: &str,
        git_ref: Option<&str>,
    ) -> GitHubResult<FileContent>;

    // --- repository and people ---

    /// Read the repository (default branch).
    async fn get_repository(&self, repo: &Repo) -> GitHubResult<Repository>;
    /// A user's effective permission on the repository.
    async fn collaborator_permission(
        &self,
        repo: &Repo,
        username: &str,
    ) -> GitHubResult<CollaboratorPermission>;
    /// A user's membership of an org team; `None` when not a member (GitHub's 404).
    async fn team_membership(
        &self,
        installation_id: u64,
        org: &str,
        team_slug: &str,
        username: &str,
    ) -> GitHubResult<Option<TeamMembership>>;

    // --- actions ---

    /// Dispatch a workflow (`workflow` = file name or id) on `git_ref` with `inputs`,
    /// asking for the run id; on GitHub versions that reject that, dispatch without it
    /// and return `run_id: None`.
    async fn dispatch_workflow(
        &self,
        repo: &Repo,
        workflow: &str,
        git_ref: &str,
        inputs: &WorkflowInputs,
    ) -> GitHubResult<DispatchOutcome>;
    /// Read a workflow run.
    async fn get_workflow_run(&self, repo: &Repo, run_id: u64) -> GitHubResult<WorkflowRun>;
    /// One page of workflow runs matching `filter`, newest first.
    async fn list_workflow_runs(
        &self,
        repo: &Repo,
        filter: &RunFilter,
    ) -> GitHubResult<Vec<WorkflowRun>>;
    /// Jobs of a run's latest attempt.
    async fn list_run_jobs(&self, repo: &Repo, run_id: u64) -> GitHubResult<Vec<Job>>;
    /// Artifacts of a run.
    async fn list_run_artifacts(&self, repo: &Repo, run_id: u64) -> GitHubResult<Vec<Artifact>>;
    /// An artifact's zip bytes.
    async fn download_artifact(&self, repo: &Repo, artifact_id: u64) -> GitHubResult<Vec<u8>>;

    // --- the app itself (JWT) ---

    /// The installation id of the app on `owner/name` (for CLI commands that have no
    /// webhook payload to read it from).
    async fn get_repo_installation(&self, owner: &str, name: &str) -> GitHubResult<u64>;

    /// One page of the app's webhook deliveries, newest first.
    async fn list_webhook_deliveries(
        &self,
        cursor: Option<&str>,
        per_page: u8,
    ) -> GitHubResult<DeliveryPage>;
    /// Ask GitHub to deliver a webhook again (same `X-GitHub-Delivery`).
    async fn redeliver_webhook(&self, delivery_id: u64) -> GitHubResult<()>;
}
