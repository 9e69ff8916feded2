//! Committing files to a branch through the git data API (no clone, no checkout).

use super::error::GitHubResult;
use super::types::{GitCommit, TreeEntry};
use super::{GitHub, Repo};

/// One file to write (`Some(bytes)`) or remove (`None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Path in the repository, e.g. `envs/dev/tfpilot_req_dev_app_abc123.tf`.
    pub path: String,
    /// New content, or `None` to delete the file.
    pub content: Option<Vec<u8>>,
}

/// Commit `changes` onto `branch`: on top of its head when it exists (keeping commits
/// people pushed there), otherwise on top of `base_branch`, creating `branch`.
/// Works with any [`GitHub`] implementation.
pub async fn commit_files(
    gh: &dyn GitHub,
    repo: &Repo,
    branch: &str,
    base_branch: &str,
    message: &str,
    changes: &[FileChange],
) -> GitHubResult<GitCommit> {
    let branch_ref = format!("heads/{branch}");
    let existing = match gh.get_ref(repo, &branch_ref).await {
        Ok(found) => Some(found.object.sha),
        Err(e) if e.is_not_found() => None,
        Err(e) => return Err(e),
    };
    let parent = match &existing {
        Some(sha) => sha.clone(),
        None => {
            gh.get_ref(repo, &format!("heads/{base_branch}"))
                .await?
                .object
                .sha
        }
    };
    let commit = commit_on(gh, repo, &parent, message, changes).await?;
    match existing {
        Some(_) => {
            gh.update_ref(repo, &branch_ref, &commit.sha, false).await?;
        }
        None => {
            gh.create_ref(repo, &format!("refs/heads/{branch}"), &commit.sha)
                .await?;
        }
    }
    Ok(commit)
}

/// Creates `branch` from `base_branch` with one commit of `changes`, and never moves
/// an existing branch: when `branch` exists (a concurrent creator won) GitHub answers
/// 422 and nothing is committed on it, so two racing creators cannot stack commits.
pub async fn create_branch_with_files(
    gh: &dyn GitHub,
    repo: &Repo,
    branch: &str,
    base_branch: &str,
    message: &str,
    changes: &[FileChange],
) -> GitHubResult<GitCommit> {
    let parent = gh
        .get_ref(repo, &format!("heads/{base_branch}"))
        .await?
        .object
        .sha;
    let commit = commit_on(gh, repo, &parent, message, changes).await?;
    gh.create_ref(repo, &format!("refs/heads/{branch}"), &commit.sha)
        .await?;
    Ok(commit)
}

/// A commit of `changes` on top of `parent` (not yet on any branch).
async fn commit_on(
    gh: &dyn GitHub,
    repo: &Repo,
    parent: &str,
    message: &str,
    changes: &[FileChange],
) -> GitHubResult<GitCommit> {
    let parent_commit = gh.get_commit(repo, parent).await?;
    let mut entries = Vec::with_capacity(changes.len());
    for change in changes {
        match &change.content {
            Some(bytes) => {
                let blob = gh.create_blob(repo, bytes).await?;
                entries.push(TreeEntry::file(change.path.clone(), blob.sha));
            }
            None => entries.push(TreeEntry::delete(change.path.clone())),
        }
    }
    let tree = gh
        .create_tree(repo, &parent_commit.tree.sha, &entries)
        .await?;
    gh.create_commit(repo, message, &tree.sha, &[parent.to_string()])
        .await
}
