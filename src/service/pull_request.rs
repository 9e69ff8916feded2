//! `pull_request` and `pull_request_review`: PR facts, merge SHA and approvals.

use crate::core::ids::RequestId;
use crate::core::patch::{
    ApprovalRule, PrUpdate, ReviewUpdate, patch_cleanup_pr, patch_pr, patch_review,
};
use crate::core::request::{Request, ReviewState};
use crate::core::webhook::{PullRequest, PullRequestEvent, PullRequestReviewEvent};
use crate::store::{StoreError, Thread, Updated};

use super::repo_config::RepoConfigError;
use super::{Outcome, Service, ServiceError, parse_time, repo_of};

/// The kind of tfpilot branch a PR comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrBranch {
    /// `request/<id>`: the request's own PR.
    Request(RequestId),
    /// `cleanup/<id>`: the PR removing the request's file after destroy.
    Cleanup(RequestId),
}

/// Which tfpilot branch this PR's head is, if any. Fork PRs never count.
pub fn pr_branch(pr: &PullRequest) -> Option<PrBranch> {
    if pr.is_from_fork() {
        return None;
    }
    let branch = &pr.head.branch;
    if let Some(id) = branch.strip_prefix("request/") {
        return RequestId::parse(id).ok().map(PrBranch::Request);
    }
    if let Some(id) = branch.strip_prefix("cleanup/") {
        return RequestId::parse(id).ok().map(PrBranch::Cleanup);
    }
    None
}

/// True for PR actions on tfpilot branches that can change facts.
pub fn is_relevant(e: &PullRequestEvent) -> bool {
    matches!(
        e.action.as_str(),
        "opened" | "synchronize" | "reopened" | "closed" | "edited"
    ) && pr_branch(&e.pull_request).is_some()
}

/// True for reviews of request PRs.
pub fn review_is_relevant(e: &PullRequestReviewEvent) -> bool {
    matches!(e.action.as_str(), "submitted" | "dismissed" | "edited")
        && matches!(pr_branch(&e.pull_request), Some(PrBranch::Request(_)))
}

/// The core's view of a PR in a payload.
pub fn pr_update(
    pr: &PullRequest,
    actor: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> PrUpdate {
    let merged = pr.merged.unwrap_or(false);
    PrUpdate {
        number: pr.number,
        url: Some(pr.html_url.clone()),
        title: Some(pr.title.clone()),
        head_sha: Some(pr.head.sha.clone()),
        base_ref: Some(pr.base.branch.clone()),
        open: pr.state == "open",
        merged,
        merge_commit_sha: if merged {
            pr.merge_commit_sha.clone()
        } else {
            None
        },
        updated_at: parse_time(pr.updated_at.as_deref()).unwrap_or(now),
        actor: actor.map(str::to_string),
    }
}

/// The approval rule of the request's environment, from the default branch's config.
pub async fn approval_rule(
    svc: &Service,
    repo: &crate::github::Repo,
    request: &Request,
) -> Result<ApprovalRule, ServiceError> {
    let config = match svc.repo_configs.get(&*svc.github, repo).await {
        Ok(c) => c,
        Err(RepoConfigError::GitHub(e)) => return Err(e.into()),
        Err(e) => {
            tracing::warn!(repo = %repo.name, error = %e, "repository config unusable; default approval rule");
            return Ok(ApprovalRule::default());
        }
    };
    let env = request
        .environment
        .as_deref()
        .and_then(|name| config.environment(name));
    Ok(match env {
        Some(env) => ApprovalRule {
            required: env.required_approvals as usize,
            dismiss_stale: env.dismiss_stale_approvals,
        },
        None => ApprovalRule::default(),
    })
}

async fn update_or_ignore(
    svc: &Service,
    id: &str,
    f: impl FnMut(&Request) -> Option<Request>,
) -> Result<Option<Updated>, ServiceError> {
    match svc.requests.update(id, f).await {
        Ok(u) => Ok(Some(u)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Patches PR facts (opened, new commits, closed, merged).
pub async fn handle_pr(svc: &Service, e: &PullRequestEvent) -> Result<Outcome, ServiceError> {
    let Some(branch) = pr_branch(&e.pull_request) else {
        return Ok(Outcome::Ignored);
    };
    let repo = repo_of(&e.repository, e.installation.as_ref().map(|i| i.id))
        .ok_or(ServiceError::Incomplete("installation"))?;
    let update = pr_update(&e.pull_request, Some(&e.sender.login), svc.now());
    let updated = match &branch {
        PrBranch::Request(id) => {
            let Some(current) = svc.requests.get(id.as_str()).await? else {
                return Ok(Outcome::Ignored);
            };
            let rule = approval_rule(svc, &repo, &current).await?;
            if matches!(e.action.as_str(), "opened" | "reopened") {
                svc.index
                    .link(Thread::Pr, &repo.owner, &repo.name, e.number, id.as_str())
                    .await?;
            }
            update_or_ignore(svc, id.as_str(), |r| patch_pr(r, &update, &rule)).await?
        }
        PrBranch::Cleanup(id) => {
            update_or_ignore(svc, id.as_str(), |r| patch_cleanup_pr(r, &update)).await?
        }
    };
    if let Some(u) = updated.as_ref().filter(|u| u.saved) {
        super::effects::request_saved(svc, &u.request).await;
    }
    if let Some(u) = &updated {
        Box::pin(after_pr_event(svc, &repo, e, &branch, &u.request)).await?;
    }
    Ok(match updated {
        Some(u) => Outcome::saved(u.saved),
        None => Outcome::Ignored,
    })
}

/// The lifecycle's reactions to a PR event: autoplan on new commits, auto-apply on
/// merge, archive when a destroyed request's cleanup PR merges.
async fn after_pr_event(
    svc: &Service,
    repo: &crate::github::Repo,
    e: &PullRequestEvent,
    branch: &PrBranch,
    request: &Request,
) -> Result<(), ServiceError> {
    let merged = e.action == "closed" && e.pull_request.merged.unwrap_or(false);
    match branch {
        PrBranch::Request(_) if e.action == "synchronize" => {
            super::lifecycle::autoplan(svc, repo, request, &e.pull_request.head.sha).await
        }
        PrBranch::Request(_) if merged => super::lifecycle::auto_apply(svc, repo, request).await,
        PrBranch::Cleanup(id) if merged => super::lifecycle::cleanup_merged(svc, id.as_str()).await,
        _ => Ok(()),
    }
}

/// Counts an approval (or its dismissal).
pub async fn handle_review(
    svc: &Service,
    e: &PullRequestReviewEvent,
) -> Result<Outcome, ServiceError> {
    let Some(PrBranch::Request(id)) = pr_branch(&e.pull_request) else {
        return Ok(Outcome::Ignored);
    };
    let repo = repo_of(&e.repository, e.installation.as_ref().map(|i| i.id))
        .ok_or(ServiceError::Incomplete("installation"))?;
    let Some(current) = svc.requests.get(id.as_str()).await? else {
        return Ok(Outcome::Ignored);
    };
    let rule = approval_rule(svc, &repo, &current).await?;
    let state = if e.action == "dismissed" {
        ReviewState::Dismissed
    } else {
        ReviewState::parse(&e.review.state)
    };
    let update = ReviewUpdate {
        reviewer: e.review.user.login.clone(),
        state,
        commit_id: e.review.commit_id.clone(),
        submitted_at: parse_time(e.review.submitted_at.as_deref()).unwrap_or_else(|| svc.now()),
    };
    let updated = update_or_ignore(svc, id.as_str(), |r| patch_review(r, &update, &rule)).await?;
    if let Some(u) = updated.as_ref().filter(|u| u.saved) {
        super::effects::request_saved(svc, &u.request).await;
    }
    Ok(match updated {
        Some(u) => Outcome::saved(u.saved),
        None => Outcome::Ignored,
    })
}
