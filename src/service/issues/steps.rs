//! The GitHub side of a request: its branch with the one file, and its PR.

use crate::config::repo::RepoConfig;
use crate::core::patch::{PrUpdate, patch_pr};
use crate::core::request::Request;
use crate::github::{
    FileChange, GitHubError, NewPullRequest, PullRequest, Repo, create_branch_with_files,
};
use crate::service::pull_request::approval_rule;
use crate::service::{Service, ServiceError};
use crate::store::Thread;

use super::facts::render_from_facts;
use super::text;

/// Step 3: branch `request/<id>` holding the request's file. An existing branch is
/// reused as it is (a crash after the push, or people's own commits on it); only a
/// branch without the file gets a commit.
pub(super) async fn ensure_branch(
    svc: &Service,
    repo: &Repo,
    config: &RepoConfig,
    request: &Request,
) -> Result<bool, ServiceError> {
    let id = request
        .request_id()
        .map_err(|_| ServiceError::Incomplete("a valid request id"))?;
    let branch = id.branch();
    let base = request
        .target_base
        .clone()
        .ok_or(ServiceError::Incomplete("the request's base branch"))?;
    let file = render_from_facts(config, request, &id)?;
    match svc.github.get_ref(repo, &format!("heads/{branch}")).await {
        Ok(_) => match svc.github.get_file(repo, &file.path, Some(&branch)).await {
            Ok(found) => {
                if found.content != file.content.as_bytes() {
                    tracing::info!(
                        event = "request.branch_changed",
                        request_id = %id.as_str(),
                        "request branch holds a changed file; kept as it is"
                    );
                }
                return Ok(false);
            }
            Err(err) if err.is_not_found() => {}
            Err(err) => return Err(err.into()),
        },
        Err(err) if err.is_not_found() => {}
        Err(err) => return Err(err.into()),
    }
    let change = FileChange {
        path: file.path.clone(),
        content: Some(file.content.into_bytes()),
    };
    let message = format!(
        "tfpilot: {} ({})\n\nRequested in #{}.",
        id.as_str(),
        request.module.as_deref().unwrap_or("module"),
        request.issue_number.unwrap_or_default()
    );
    // Create-only: a concurrent copy of this delivery that created the branch first
    // keeps its commit, and no second commit (a `synchronize`, a second plan) follows.
    match create_branch_with_files(&*svc.github, repo, &branch, &base, &message, &[change]).await {
        Ok(commit) => {
            tracing::info!(
                event = "request.branch_pushed",
                request_id = %id.as_str(),
                commit = %commit.sha,
                "request branch pushed"
            );
            Ok(true)
        }
        // A concurrent delivery created the branch first: its commit is the one.
        Err(err) if is_conflict(&err) && branch_exists(svc, repo, &branch).await? => Ok(false),
        Err(err) => Err(err.into()),
    }
}

fn is_conflict(err: &GitHubError) -> bool {
    matches!(err.status(), Some(409 | 422))
}

async fn branch_exists(svc: &Service, repo: &Repo, branch: &str) -> Result<bool, ServiceError> {
    match svc.github.get_ref(repo, &format!("heads/{branch}")).await {
        Ok(_) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Step 4: the request's PR, found (recorded in the doc, or open for the branch) or
/// opened, then recorded in the doc and the PR index. Returns the stored request.
pub(super) async fn ensure_pr(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<(Request, bool), ServiceError> {
    let id = request.id.clone();
    let pr_number = match request.pr() {
        Some(pr) => pr.number,
        None => {
            let pr = find_or_open_pr(svc, repo, request).await?;
            let update = PrUpdate {
                number: pr.number,
                url: Some(pr.html_url.clone()),
                title: Some(pr.title.clone()),
                head_sha: Some(pr.head.sha.clone()),
                base_ref: Some(pr.base.ref_name.clone()),
                open: pr.state == crate::github::IssueState::Open,
                merged: pr.merged,
                merge_commit_sha: pr.merge_commit_sha.clone(),
                updated_at: pr.updated_at,
                actor: None,
            };
            let rule = approval_rule(svc, repo, request).await?;
            let updated = svc
                .requests
                .update(&id, |current| {
                    // A concurrent delivery or the PR's own webhook may have recorded it.
                    if current.pr().is_some() {
                        return None;
                    }
                    patch_pr(current, &update, &rule)
                })
                .await?;
            if updated.saved {
                // Boxed: the effects pass is a deep future, and debug builds put every
                // level of it on the delivery task's stack.
                Box::pin(crate::service::effects::request_saved(
                    svc,
                    &updated.request,
                ))
                .await;
            }
            pr.number
        }
    };
    svc.index
        .link(Thread::Pr, &repo.owner, &repo.name, pr_number, &id)
        .await?;
    let stored = svc
        .requests
        .get(&id)
        .await?
        .ok_or(ServiceError::Incomplete("the request doc"))?;
    let created = request.pr().is_none();
    Ok((stored, created))
}

async fn find_or_open_pr(
    svc: &Service,
    repo: &Repo,
    request: &Request,
) -> Result<PullRequest, ServiceError> {
    let branch = request
        .branch_name
        .clone()
        .ok_or(ServiceError::Incomplete("the request's branch"))?;
    if let Some(pr) = svc
        .github
        .list_pulls_by_head(repo, &branch)
        .await?
        .into_iter()
        .next()
    {
        return Ok(pr);
    }
    let new = NewPullRequest {
        title: text::pr_title(&request.id, request.module.as_deref().unwrap_or("module")),
        head: branch.clone(),
        base: request
            .target_base
            .clone()
            .ok_or(ServiceError::Incomplete("the request's base branch"))?,
        body: Some(text::pr_body(request)),
        draft: false,
    };
    match svc.github.create_pull(repo, &new).await {
        Ok(pr) => {
            tracing::info!(
                event = "request.pr_opened",
                request_id = %request.id,
                pr = pr.number,
                "request PR opened"
            );
            Ok(pr)
        }
        // "A pull request already exists": a concurrent delivery opened it.
        Err(err) if is_conflict(&err) => svc
            .github
            .list_pulls_by_head(repo, &branch)
            .await?
            .into_iter()
            .next()
            .ok_or(ServiceError::GitHub(err)),
        Err(err) => Err(err.into()),
    }
}
