//! The reconciler: repairs what missed webhooks left behind.
//!
//! GitHub does not redeliver on its own, and a delivery can be lost between
//! GitHub and tfpilot. On an interval (and on demand) the reconciler looks at
//! every live request and repairs through the same code the webhooks use: runs
//! that have looked queued or in progress for too long are re-read from the API
//! and patched with the core patch functions (`sync`); a request PR that never got
//! its first plan is planned (under the issue flow's once-key); a sticky comment
//! whose render lags behind the facts' `version` is rendered again (`effects`).
//! Then each environment lock in use: a holder handed the lock long ago without a
//! run is dispatched (under the grant's once-key), a holder whose run is over hands
//! the lock on. All of it is idempotent and conditional, so any number of replicas
//! may reconcile at once.

use std::collections::BTreeMap;

use chrono::Duration;

use crate::core::request::{Request, WorkflowKind};
use crate::github::Repo;
use crate::store::{EnvRef, Release};

use super::dispatch::{dispatch, repo_of_request};
use super::{Service, ServiceError, effects, lifecycle, sync};

/// A run that has looked active this long without news is re-read from GitHub.
pub const STUCK_AFTER_MINUTES: i64 = 10;

/// What a pass repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Requests whose runs were re-read from GitHub.
    pub synced: Vec<String>,
    /// Requests whose sticky comment and checks were rendered again.
    pub rerendered: Vec<String>,
    /// Lock holders dispatched (their hand-off was lost) or released (their run is over).
    pub locks: Vec<String>,
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

/// True when the request's PR has been open a while and no plan was ever dispatched.
pub fn initial_plan_missing(request: &Request, now: chrono::DateTime<chrono::Utc>) -> bool {
    let opened_long_ago = request
        .timeline
        .first()
        .and_then(|t| t.at)
        .is_some_and(|t| now - t > Duration::minutes(STUCK_AFTER_MINUTES));
    request.pr().is_some_and(|pr| pr.open && !pr.merged)
        && request.run(WorkflowKind::Plan).is_none()
        && opened_long_ago
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

/// One pass over every live request, then over the environment locks they use.
pub async fn pass(svc: &Service) -> Result<ReconcileReport, ServiceError> {
    let mut report = ReconcileReport::default();
    let mut envs: BTreeMap<(String, String, String), Repo> = BTreeMap::new();
    for id in svc.requests.list_ids().await? {
        let Some(request) = svc.requests.get(&id).await? else {
            continue;
        };
        let Some(repo) = repo_of_request(&request) else {
            continue;
        };
        if let Some(env) = &request.environment {
            envs.entry((repo.owner.clone(), repo.name.clone(), env.clone()))
                .or_insert_with(|| repo.clone());
        }
        if has_stuck_run(&request, svc.now()) {
            let synced = Box::pin(sync::sync_request(svc, &repo, &id)).await?;
            tracing::info!(event = "reconcile.sync", request_id = %id, changes = synced.changes.len(), "stuck run re-read from GitHub");
            report.synced.push(id.clone());
        }
        let Some(fresh) = svc.requests.get(&id).await? else {
            continue;
        };
        if initial_plan_missing(&fresh, svc.now()) {
            // The issue delivery that opened the PR failed before its plan (and its
            // one redelivery too): dispatch that plan, under the same once-key.
            let branch = fresh
                .branch_name
                .clone()
                .unwrap_or_else(|| format!("request/{id}"));
            let key = format!("plan-initial-{id}");
            tracing::info!(event = "reconcile.initial_plan", request_id = %id, "request PR without a plan: planning");
            Box::pin(dispatch(
                svc,
                &repo,
                &fresh,
                WorkflowKind::Plan,
                &branch,
                &[],
                Some(&key),
            ))
            .await?;
            report.synced.push(id.clone());
        }
        if render_lags(&fresh) {
            Box::pin(effects::sync_effects(svc, &id)).await?;
            report.rerendered.push(id.clone());
        }
    }
    for ((owner, name, env), repo) in &envs {
        if let Some(id) = Box::pin(repair_lock(svc, repo, (owner, name, env))).await? {
            report.locks.push(id);
        }
    }
    Ok(report)
}

/// Repairs one environment lock: a holder that was handed the lock long ago but has
/// no run (the hand-off's dispatch was lost) is dispatched, under the grant's once-key so
/// a hand-off still in flight is not doubled; a holder whose run is over or gone
/// (its release was lost) hands the lock on. Returns the request it acted for.
async fn repair_lock(
    svc: &Service,
    repo: &Repo,
    env: EnvRef<'_>,
) -> Result<Option<String>, ServiceError> {
    let Some(holder) = svc.locks.get(env).await?.and_then(|d| d.holder) else {
        return Ok(None);
    };
    let doc = svc.requests.get(&holder.request_id).await?;
    let dispatched = holder.run_id.is_some()
        || doc.as_ref().is_some_and(|d| {
            WorkflowKind::parse(&holder.kind)
                .and_then(|k| d.run(k))
                .and_then(|r| r.triggered_at)
                .is_some_and(|t| t >= holder.since)
        });
    // Only after a while: a hand-off in flight right now has no run yet either.
    let granted_long_ago = svc.now() - holder.since > Duration::minutes(STUCK_AFTER_MINUTES);
    if doc.is_some() && !dispatched && granted_long_ago {
        tracing::info!(event = "reconcile.lock_dispatch", request_id = %holder.request_id, environment = env.2, "lock holder without a run: dispatching");
        Box::pin(lifecycle::dispatch_holder(svc, repo, env, &holder)).await?;
        return Ok(Some(holder.request_id));
    }
    if lifecycle::holder_gone(svc, repo, &holder).await? {
        tracing::info!(event = "reconcile.lock_release", request_id = %holder.request_id, environment = env.2, "lock holder is done: handing on");
        if let Release::Released { next: Some(next) } = svc
            .locks
            .release(env, &holder.request_id, svc.now())
            .await?
        {
            Box::pin(lifecycle::dispatch_holder(svc, repo, env, &next)).await?;
        }
        return Ok(Some(holder.request_id));
    }
    Ok(None)
}
