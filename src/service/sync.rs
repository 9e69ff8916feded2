//! `/tfpilot sync`: re-read the PR, its reviews and the tracked runs from the API and
//! patch the facts through the same core patch functions the webhooks use (the seed's
//! `?repair=1`). Lost or late deliveries are repaired this way; nothing is guessed.

use crate::core::patch::{ReviewUpdate, RunUpdate, patch_pr, patch_review, patch_workflow_run};
use crate::core::request::{ReviewState, RunStatus, WorkflowKind};
use crate::github::{Repo, WorkflowRun};

use super::pull_request::approval_rule;
use super::{Service, ServiceError, lifecycle};

/// What a sync changed, in words (for the reply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// One line per repaired fact.
    pub changes: Vec<String>,
}

fn text<T: serde::Serialize>(v: &T) -> Option<String> {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
}

/// The core's view of a run read from the API.
pub fn run_update_from_api(run: &WorkflowRun) -> RunUpdate {
    RunUpdate {
        id: run.id,
        status: RunStatus::parse(
            &run.status
                .as_ref()
                .and_then(text)
                .unwrap_or_else(|| "queued".into()),
        ),
        conclusion: run.conclusion.as_ref().and_then(text),
        updated_at: run.updated_at,
        run_attempt: run.run_attempt,
        head_sha: Some(run.head_sha.clone()),
        html_url: Some(run.html_url.clone()),
        name: run.name.clone(),
        display_title: Some(run.display_title.clone()),
    }
}

/// Re-reads everything tfpilot tracks for `request_id` and patches what differs; then
/// lets the lifecycle act on any apply or destroy that turned out to be over.
pub async fn sync_request(
    svc: &Service,
    repo: &Repo,
    request_id: &str,
) -> Result<SyncReport, ServiceError> {
    let mut report = SyncReport::default();
    let Some(request) = svc.requests.get(request_id).await? else {
        return Ok(report);
    };
    let rule = approval_rule(svc, repo, &request).await?;
    if let Some(pr) = request.pr() {
        let pull = svc.github.get_pull(repo, pr.number).await?;
        let update = lifecycle::pr_update_from_api(&pull, None);
        let saved = svc
            .requests
            .update(request_id, |r| patch_pr(r, &update, &rule))
            .await?;
        if saved.saved {
            report
                .changes
                .push(format!("pull request #{} re-read", pr.number));
        }
        for review in svc.github.list_reviews(repo, pr.number).await? {
            let Some(user) = review.user.as_ref() else {
                continue;
            };
            let state = ReviewState::parse(&text(&review.state).unwrap_or_default());
            let update = ReviewUpdate {
                reviewer: user.login.clone(),
                state,
                commit_id: review.commit_id.clone(),
                submitted_at: review.submitted_at.unwrap_or_else(|| svc.now()),
            };
            let saved = svc
                .requests
                .update(request_id, |r| patch_review(r, &update, &rule))
                .await?;
            if saved.saved {
                report
                    .changes
                    .push(format!("review by @{} recorded", user.login));
            }
        }
    }
    for kind in [
        WorkflowKind::Plan,
        WorkflowKind::Apply,
        WorkflowKind::Destroy,
    ] {
        let Some(current) = svc.requests.get(request_id).await? else {
            break;
        };
        let Some(run) = current.run(kind) else {
            continue;
        };
        let found = match run.run_id {
            Some(id) => match svc.github.get_workflow_run(repo, id).await {
                Ok(r) => Some(r),
                Err(e) if e.is_not_found() => {
                    report
                        .changes
                        .push(format!("{kind} run {id} no longer exists on GitHub"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
            None => match &run.nonce {
                Some(nonce) => find_by_nonce(svc, repo, kind, nonce).await?,
                None => None,
            },
        };
        let Some(found) = found else {
            continue;
        };
        let update = run_update_from_api(&found);
        let saved = svc
            .requests
            .update(request_id, |r| patch_workflow_run(r, kind, &update))
            .await?;
        if saved.request.run(kind).and_then(|r| r.run_id) == Some(found.id) {
            svc.index_run(kind.as_str(), found.id, request_id).await?;
        }
        if saved.saved {
            let state = update
                .conclusion
                .clone()
                .unwrap_or_else(|| update.status.as_str().to_string());
            report
                .changes
                .push(format!("{kind} run {}: {state}", found.id));
            Box::pin(lifecycle::after_run(svc, &saved.request, kind)).await?;
        }
    }
    if let Some(current) = svc.requests.get(request_id).await? {
        Box::pin(super::effects::request_saved(svc, &current)).await;
    }
    Ok(report)
}

/// The run a dispatch started, found by its nonce in the run name.
async fn find_by_nonce(
    svc: &Service,
    repo: &Repo,
    kind: WorkflowKind,
    nonce: &str,
) -> Result<Option<WorkflowRun>, ServiceError> {
    super::dispatch::find_dispatched(svc, repo, kind, |r| {
        r.display_title.split_whitespace().any(|t| t == nonce)
    })
    .await
}
