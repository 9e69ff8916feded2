//! The reconciler: repairs what missed webhooks left behind.
//!
//! GitHub does not redeliver on its own, and a delivery can be lost between
//! GitHub and tfpilot. On an interval (and on demand) the reconciler looks at
//! every live request and repairs two things through the same code the webhooks
//! use: runs that have looked queued or in progress for too long are re-read from
//! the API and patched with the core patch functions (`sync`), and a sticky
//! comment whose render lags behind the facts' `version` is rendered again
//! (`effects`). It also repairs environment locks: a holder whose run is over or
//! gone is released and the next in line started, and a holder that never got its
//! run (its dispatch failed after the lock was granted) is found on GitHub or
//! dispatched again under the grant's once-key. A request issue without tfpilot's
//! comment (the link to the PR) gets it. A request destroyed a while ago and still
//! live gets what the destroy's completion does (`finish_destroy`): its cleanup PR
//! opened when that was lost, merged where the environment allows, and the request
//! archived once it is merged (also when the merge's own delivery was lost).
//! Everything is idempotent and conditional, so any number of replicas may reconcile
//! at once; one request's or lock's failure is logged and the pass goes on with the
//! rest.

use chrono::Duration;

use crate::core::contract::parse_run_name;
use crate::core::patch::patch_workflow_run;
use crate::core::request::{Request, RunFacts, WorkflowKind};
use crate::github::{Repo, WorkflowRun};
use crate::store::{LockHolder, Release};

use super::dispatch::{dispatch, repo_of_request};
use super::lifecycle::{dispatch_holder, finish_destroy, holder_gone};
use super::{Service, ServiceError, effects, sync};

/// A lock holder without a run this long is taken to have lost its dispatch.
pub const UNDISPATCHED_AFTER_MINUTES: i64 = 5;

/// A run that has looked active this long without news is re-read from GitHub.
pub const STUCK_AFTER_MINUTES: i64 = 10;

/// What a pass repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Requests whose runs were re-read from GitHub.
    pub synced: Vec<String>,
    /// Requests whose sticky comment and checks were rendered again.
    pub rerendered: Vec<String>,
    /// Environments (`owner/repo/env`) whose holder was over or gone and was released.
    pub released: Vec<String>,
    /// Requests whose lost dispatch (a lock holder's run, a PR's first plan) was found
    /// on GitHub or made again.
    pub redispatched: Vec<String>,
    /// Requests whose issue lacked tfpilot's comment (the link to the PR) and got it.
    pub issue_comments: Vec<String>,
    /// Destroyed requests whose cleanup went on: the cleanup PR opened, merged or seen
    /// merged, the request archived.
    pub cleaned_up: Vec<String>,
    /// Requests or environments a pass could not repair this time (logged).
    pub failed: Vec<String>,
}

impl ReconcileReport {
    /// True when the pass repaired nothing (and nothing failed).
    pub fn is_quiet(&self) -> bool {
        self.synced.is_empty()
            && self.rerendered.is_empty()
            && self.released.is_empty()
            && self.redispatched.is_empty()
            && self.issue_comments.is_empty()
            && self.cleaned_up.is_empty()
            && self.failed.is_empty()
    }
}

/// True when a run of `request` has been queued or in progress for too long.
pub fn has_stuck_run(request: &Request, now: chrono::DateTime<chrono::Utc>) -> bool {
    WorkflowKind::ALL.iter().any(|kind| {
        request
            .run(*kind)
            .is_some_and(|run| run.is_active() && quiet_for_long(run, now))
    })
}

/// True when the run's last news (its last event, else its dispatch) is older than
/// [`STUCK_AFTER_MINUTES`].
fn quiet_for_long(run: &RunFacts, now: chrono::DateTime<chrono::Utc>) -> bool {
    run.updated_at
        .or(run.triggered_at)
        .is_some_and(|t| now - t > Duration::minutes(STUCK_AFTER_MINUTES))
}

/// True when the request's PR has been open a while and no plan was ever dispatched
/// (the issue delivery that opened the PR failed before its plan, redeliveries too).
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

/// True when the request's destroy succeeded a while ago and the request is still
/// live: what follows a destroy (the cleanup PR opened, merged where the environment
/// allows, the request archived on its merge) was lost, or the cleanup PR waits for
/// a person.
pub fn destroy_unfinished(request: &Request, now: chrono::DateTime<chrono::Utc>) -> bool {
    request
        .run(WorkflowKind::Destroy)
        .is_some_and(|run| run.succeeded() && quiet_for_long(run, now))
}

/// One pass over every live request and every environment lock.
pub async fn pass(svc: &Service) -> Result<ReconcileReport, ServiceError> {
    let mut report = ReconcileReport::default();
    for id in svc.requests.list_ids().await? {
        if let Err(e) = Box::pin(request(svc, &id, &mut report)).await {
            tracing::warn!(event = "reconcile.request_failed", request_id = %id, error = %e, "request not repaired this pass");
            report.failed.push(id);
        }
    }
    for (owner, name, env) in svc.locks.list().await? {
        if let Err(e) = Box::pin(lock(svc, (&owner, &name, &env), &mut report)).await {
            let env = format!("{owner}/{name}/{env}");
            tracing::warn!(event = "reconcile.lock_failed", environment = %env, error = %e, "lock not repaired this pass");
            report.failed.push(env);
        }
    }
    Ok(report)
}

/// Repairs one request: stuck runs re-read, a lost first plan dispatched, a lagging
/// render redone, a missing issue link posted, a destroy's cleanup carried on.
async fn request(
    svc: &Service,
    id: &str,
    report: &mut ReconcileReport,
) -> Result<(), ServiceError> {
    let Some(request) = svc.requests.get(id).await? else {
        return Ok(());
    };
    let Some(repo) = repo_of_request(&request) else {
        return Ok(());
    };
    if has_stuck_run(&request, svc.now()) {
        let synced = Box::pin(sync::sync_request(svc, &repo, id)).await?;
        tracing::info!(event = "reconcile.sync", request_id = %id, changes = synced.changes.len(), "stuck run re-read from GitHub");
        report.synced.push(id.to_string());
    }
    let Some(fresh) = svc.requests.get(id).await? else {
        return Ok(());
    };
    if initial_plan_missing(&fresh, svc.now()) {
        // Dispatched under the issue flow's own once-key: never a second first plan.
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
        report.redispatched.push(id.to_string());
    }
    if render_lags(&fresh) {
        Box::pin(effects::sync_effects(svc, id)).await?;
        report.rerendered.push(id.to_string());
    }
    if Box::pin(super::issues::repair_created_comment(svc, &repo, &fresh)).await? {
        tracing::info!(event = "reconcile.issue_comment", request_id = %id, "link to the PR posted on the request's issue");
        report.issue_comments.push(id.to_string());
    }
    if destroy_unfinished(&fresh, svc.now()) {
        // One GitHub call (the cleanup branch's PRs) when it waits for a person.
        if Box::pin(finish_destroy(svc, &repo, &fresh)).await? {
            tracing::info!(event = "reconcile.cleanup", request_id = %id, "destroyed request's cleanup went on");
            report.cleaned_up.push(id.to_string());
        }
    }
    Ok(())
}

/// Repairs one environment lock.
async fn lock(
    svc: &Service,
    env: crate::store::EnvRef<'_>,
    report: &mut ReconcileReport,
) -> Result<(), ServiceError> {
    let Some(doc) = svc.locks.get(env).await? else {
        return Ok(());
    };
    let Some(holder) = doc.holder else {
        return Ok(());
    };
    let name = format!("{}/{}/{}", env.0, env.1, env.2);
    let holding = svc.requests.get(&holder.request_id).await?;
    let Some(request) = holding else {
        // Archived or deleted while holding: hand the lock on.
        release(svc, env, &holder, None, report, &name).await?;
        return Ok(());
    };
    let Some(repo) = repo_of_request(&request) else {
        return Ok(());
    };
    let Some(kind) = WorkflowKind::parse(&holder.kind) else {
        release(svc, env, &holder, Some(&repo), report, &name).await?;
        return Ok(());
    };
    if never_dispatched(&request, kind, &holder)
        && svc.now() - holder.since > Duration::minutes(UNDISPATCHED_AFTER_MINUTES)
    {
        // The grant's dispatch was lost. A run naming the request since the grant
        // means it ran and the facts missed it; otherwise dispatch it again (the
        // grant's once-key keeps replicas from doubling it).
        match run_since(svc, &repo, kind, &request.id, &holder).await? {
            Some(run) => {
                let update = sync::run_update_from_api(&run);
                let saved = svc
                    .requests
                    .update(&request.id, |r| patch_workflow_run(r, kind, &update))
                    .await?;
                svc.index_run(kind.as_str(), run.id, &request.id).await?;
                svc.locks.attach_run(env, &request.id, run.id).await?;
                if saved.saved {
                    Box::pin(effects::request_saved(svc, &saved.request)).await;
                }
                tracing::warn!(event = "reconcile.lock_run_found", environment = %name, request_id = %request.id, run_id = run.id, "lock holder's run found on GitHub");
            }
            None => {
                Box::pin(dispatch_holder(svc, &repo, env, &holder)).await?;
                tracing::warn!(event = "reconcile.lock_redispatched", environment = %name, request_id = %request.id, "lock holder's lost dispatch made again");
            }
        }
        report.redispatched.push(request.id.clone());
        return Ok(());
    }
    if !never_dispatched(&request, kind, &holder) && holder_gone(svc, &repo, &holder).await? {
        // The run is over: re-read it, so the lifecycle finishes it as the lost
        // webhook would have (releases and hands on, after a destroy archives); then
        // release whatever that left held (a run that vanished from GitHub).
        Box::pin(sync::sync_request(svc, &repo, &request.id)).await?;
        let still = svc
            .locks
            .get(env)
            .await?
            .and_then(|d| d.holder)
            .is_some_and(|h| h == holder);
        if still {
            release(svc, env, &holder, Some(&repo), report, &name).await?;
        } else {
            report.released.push(name);
        }
    }
    Ok(())
}

/// True when neither the lock nor the facts know a run of this grant.
fn never_dispatched(request: &Request, kind: WorkflowKind, holder: &LockHolder) -> bool {
    holder.run_id.is_none()
        && request
            .run(kind)
            .and_then(|r| r.triggered_at)
            .is_none_or(|t| t < holder.since)
}

/// A run of `kind` named for `request_id` and created since the holder's grant.
async fn run_since(
    svc: &Service,
    repo: &Repo,
    kind: WorkflowKind,
    request_id: &str,
    holder: &LockHolder,
) -> Result<Option<WorkflowRun>, ServiceError> {
    super::dispatch::find_dispatched(svc, repo, kind, |r| {
        r.created_at >= holder.since
            && parse_run_name(&r.display_title).is_some_and(|n| n.request_id == request_id)
    })
    .await
}

/// Releases `holder` and starts the next in line.
async fn release(
    svc: &Service,
    env: crate::store::EnvRef<'_>,
    holder: &LockHolder,
    repo: Option<&Repo>,
    report: &mut ReconcileReport,
    name: &str,
) -> Result<(), ServiceError> {
    let Release::Released { next } = svc
        .locks
        .release(env, &holder.request_id, svc.now())
        .await?
    else {
        return Ok(());
    };
    tracing::warn!(event = "reconcile.lock_released", environment = %name, request_id = %holder.request_id, "lock holder's run is over or gone: released");
    report.released.push(name.to_string());
    if let Some(next) = next {
        let repo = match repo {
            Some(r) => Some(r.clone()),
            None => svc
                .requests
                .get(&next.request_id)
                .await?
                .as_ref()
                .and_then(repo_of_request),
        };
        if let Some(repo) = repo {
            Box::pin(dispatch_holder(svc, &repo, env, &next)).await?;
        }
    }
    Ok(())
}
