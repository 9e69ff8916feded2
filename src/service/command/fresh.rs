//! Fresh GitHub state at the moment a command acts: the PR's reviews are read from
//! the API, not taken from the facts webhooks left behind.
//!
//! A review webhook can be lost or late, and an approval can be dismissed after the
//! merge; an apply must count the approvals GitHub has now. Authorization is fresh
//! already: `authorize` asks the collaborator-permission and team-membership APIs on
//! every command.

use crate::core::patch::{ReviewUpdate, patch_review, refresh_approval};
use crate::core::request::{Request, ReviewState};
use crate::github::Repo;
use crate::store::StoreError;

use super::super::pull_request::approval_rule;
use super::super::{Service, ServiceError};

/// The request with its approvals recounted from the PR's reviews as GitHub lists
/// them now (recorded through the same patches the webhooks use, so the facts and
/// the comment follow). Without a PR the request comes back as it was.
pub async fn with_fresh_reviews(
    svc: &Service,
    repo: &Repo,
    request: Request,
) -> Result<Request, ServiceError> {
    let Some(pr) = request.pr().map(|p| p.number) else {
        return Ok(request);
    };
    let rule = approval_rule(svc, repo, &request).await?;
    let reviews = svc.github.list_reviews(repo, pr).await?;
    let now = svc.now();
    let updates: Vec<ReviewUpdate> = reviews
        .iter()
        .filter_map(|review| {
            let user = review.user.as_ref()?;
            let state = serde_json::to_value(review.state)
                .ok()
                .and_then(|v| v.as_str().map(ReviewState::parse))?;
            Some(ReviewUpdate {
                reviewer: user.login.clone(),
                state,
                commit_id: review.commit_id.clone(),
                submitted_at: review.submitted_at.unwrap_or(now),
            })
        })
        .collect();
    let updated = match svc
        .requests
        .update(&request.id, |current| {
            let mut next: Option<Request> = None;
            for u in &updates {
                if let Some(n) = patch_review(next.as_ref().unwrap_or(current), u, &rule) {
                    next = Some(n);
                }
            }
            // The environment's rule may have changed since the last count.
            match refresh_approval(next.as_ref().unwrap_or(current), &rule, now) {
                Some(n) => Some(n),
                None => next,
            }
        })
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => return Ok(request),
        Err(e) => return Err(e.into()),
    };
    if updated.saved {
        tracing::info!(request_id = %request.id, approved = updated.request.is_approved(), "approvals recounted from GitHub's reviews");
        Box::pin(super::super::effects::request_saved(svc, &updated.request)).await;
    }
    Ok(updated.request)
}
