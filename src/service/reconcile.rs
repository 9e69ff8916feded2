//! The reconciler: repairs what missed webhooks left behind.
//!
//! GitHub does not redeliver on its own, and a delivery can be lost between
//! GitHub and tfpilot. On an interval (and on demand) the reconciler looks at
//! every live request and repairs two things through the same code the webhooks
//! use: runs that have looked queued or in progress for too long are re-read from
//! the API and patched with the core patch functions (`sync`), and a sticky
//! comment whose render lags behind the facts' `version` is rendered again
//! (`effects`). Both are idempotent and conditional, so any number of replicas
//! may reconcile at once.

use chrono::Duration;

use crate::core::request::{Request, WorkflowKind};

use super::dispatch::repo_of_request;
use super::{Service, ServiceError, effects, sync};

/// A run that has looked active this long without news is re-read from GitHub.
pub const STUCK_AFTER_MINUTES: i64 = 10;

/// What a pass repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Requests whose runs were re-read from GitHub.
    pub synced: Vec<String>,
    /// Requests whose sticky comment and checks were rendered again.
    pub rerendered: Vec<String>,
}

/// True when a run of `request` has been queued or in progress for too long.
pub fn has_stuck_run(request: &Request, now: chrono::DateTime<chrono::Utc>) -> bool {
    WorkflowKind::ALL.iter().any(|kind| {
        request.run(*kind).is_some_and(|run| {
            let last_news = run.updated_at.or(run.triggered_at);
            run.is_active()
                && last_news.is_some_and(|t| now - t > Duration::minutes(STUCK_AFTER_MINUTES))
        })
    })
}

/// True when the PR shows an older render than the facts.
pub fn render_lags(request: &Request) -> bool {
    if request.pr().is_none() {
        return false;
    }
    match &request.sticky {
        None => true,
        Some(s) => s.rendered_version.is_none_or(|v| v < request.version),
    }
}

/// One pass over every live request.
pub async fn pass(svc: &Service) -> Result<ReconcileReport, ServiceError> {
    let mut report = ReconcileReport::default();
    for id in svc.requests.list_ids().await? {
        let Some(request) = svc.requests.get(&id).await? else {
            continue;
        };
        let Some(repo) = repo_of_request(&request) else {
            continue;
        };
        if has_stuck_run(&request, svc.now()) {
            let synced = Box::pin(sync::sync_request(svc, &repo, &id)).await?;
            tracing::info!(event = "reconcile.sync", request_id = %id, changes = synced.changes.len(), "stuck run re-read from GitHub");
            report.synced.push(id.clone());
        }
        let Some(fresh) = svc.requests.get(&id).await? else {
            continue;
        };
        if render_lags(&fresh) {
            Box::pin(effects::sync_effects(svc, &id)).await?;
            report.rerendered.push(id.clone());
        }
    }
    Ok(report)
}
