//! Pull requests, reviews and merges.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::*;

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

impl PullRequest {
    /// Merged: `merged`, or `merged_at` on the list endpoints, which lack `merged`.
    pub fn is_merged(&self) -> bool {
        self.merged || self.merged_at.is_some()
    }
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
