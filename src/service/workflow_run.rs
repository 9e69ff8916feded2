//! `workflow_run`: classify, resolve the request, patch the run facts under the guard rules.

use crate::core::classify::classify_workflow;
use crate::core::contract::parse_run_name;
use crate::core::ids::RequestId;
use crate::core::patch::{RunUpdate, patch_workflow_run};
use crate::core::request::{RunStatus, WorkflowKind};
use crate::core::webhook::WorkflowRunEvent;
use crate::store::StoreError;

use super::{Outcome, Service, ServiceError, parse_time};

/// How a run was tied to its request (the seed's resolution order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The run index had it.
    Index,
    /// The dispatch's `run-name` (request id and nonce) in `display_title`.
    RunName,
    /// The run ran on the request's branch `request/<id>`.
    Branch,
    /// A request id appeared in the title.
    Title,
}

impl Resolution {
    fn as_str(self) -> &'static str {
        match self {
            Resolution::Index => "index",
            Resolution::RunName => "run_name",
            Resolution::Branch => "branch",
            Resolution::Title => "title",
        }
    }
}

/// The workflow kind of a run, or `None` when it is not a tfpilot workflow.
pub fn kind_of(svc: &Service, e: &WorkflowRunEvent) -> Option<WorkflowKind> {
    let run = &e.workflow_run;
    classify(
        svc,
        run.id,
        run.name.as_deref().unwrap_or(""),
        run.display_title.as_deref().unwrap_or(""),
    )
}

/// [`kind_of`] from the run's id, workflow name and display title alone (what the
/// webhook intake peeks at before parsing the whole payload).
pub fn classify(svc: &Service, run_id: u64, name: &str, title: &str) -> Option<WorkflowKind> {
    let kind = classify_workflow(name, title);
    if kind.is_none() && svc.settings.debug_webhooks {
        tracing::info!(
            "event=webhook.workflow_run.unknown runId={} name={} displayTitle={}",
            run_id,
            name,
            title
        );
    }
    kind
}

/// Finds the request a run belongs to.
///
/// The seed's order is run index → dispatch nonce → branch/title. The index and
/// the nonce cannot disagree (tfpilot indexes a run under the request its
/// `run-name` names), so the index is asked first only in memory; a run whose
/// title carries the nonce is resolved without reading the store, and the stored
/// index is read only for runs without one.
pub async fn resolve(
    svc: &Service,
    e: &WorkflowRunEvent,
    kind: WorkflowKind,
) -> Result<Option<(String, Resolution)>, ServiceError> {
    let run = &e.workflow_run;
    let title = run.display_title.as_deref().unwrap_or("");
    let found = if let Some(id) = svc.remembered_run(kind.as_str(), run.id) {
        Some((id, Resolution::Index))
    } else if let Some(name) = parse_run_name(title) {
        Some((name.request_id.to_string(), Resolution::RunName))
    } else if let Some(id) = svc.indexed_request(kind.as_str(), run.id).await? {
        Some((id, Resolution::Index))
    } else if let Some(id) = run
        .head_branch
        .as_deref()
        .and_then(|b| b.strip_prefix("request/"))
        .and_then(|id| RequestId::parse(id).ok())
    {
        Some((id.to_string(), Resolution::Branch))
    } else {
        title
            .split(|c: char| c.is_whitespace() || c == ':' || c == ',')
            .find_map(|token| RequestId::parse(token).ok())
            .map(|id| (id.to_string(), Resolution::Title))
    };
    if let Some((id, via)) = &found
        && svc.settings.debug_webhooks
    {
        tracing::info!(
            "event=webhook.resolve scope={} kind={} runId={} requestId={}",
            via.as_str(),
            kind.as_str(),
            run.id,
            id
        );
    }
    Ok(found)
}

/// The core's view of the run in this event.
pub fn run_update(e: &WorkflowRunEvent, fallback_time: chrono::DateTime<chrono::Utc>) -> RunUpdate {
    let run = &e.workflow_run;
    RunUpdate {
        id: run.id,
        status: RunStatus::parse(run.status.as_deref().unwrap_or("queued")),
        conclusion: run.conclusion.clone(),
        updated_at: parse_time(run.updated_at.as_deref())
            .or_else(|| parse_time(run.created_at.as_deref()))
            .unwrap_or(fallback_time),
        run_attempt: u32::try_from(run.run_attempt).unwrap_or(u32::MAX),
        head_sha: run.head_sha.clone(),
        html_url: run.html_url.clone(),
        name: run.name.clone(),
        display_title: run.display_title.clone(),
    }
}

/// Patches the run facts of the request this run belongs to.
pub async fn handle(
    svc: &Service,
    e: &WorkflowRunEvent,
    kind: WorkflowKind,
) -> Result<Outcome, ServiceError> {
    let Some((request_id, via)) = resolve(svc, e, kind).await? else {
        tracing::debug!(
            run_id = e.workflow_run.id,
            kind = kind.as_str(),
            "run of no known request"
        );
        return Ok(Outcome::Ignored);
    };
    let update = run_update(e, svc.now());
    let updated = match svc
        .requests
        .update(&request_id, |current| {
            patch_workflow_run(current, kind, &update)
        })
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => {
            tracing::debug!(
                request_id,
                run_id = update.id,
                "run of an unknown or archived request"
            );
            return Ok(Outcome::Ignored);
        }
        Err(e) => return Err(e.into()),
    };
    let tracked = updated.request.run(kind).and_then(|r| r.run_id) == Some(update.id);
    // The index only helps runs whose title does not name their request: the
    // nonce resolves the others again without a read.
    if tracked && matches!(via, Resolution::Branch | Resolution::Title) {
        svc.index_run(kind.as_str(), update.id, &request_id).await?;
    }
    if updated.saved {
        if kind == WorkflowKind::DriftPlan
            && tracked
            && update.status == RunStatus::Completed
            && let Err(e) = super::drift::run_concluded(svc, &updated.request).await
        {
            // The run facts are saved; the next drift tick reads the result again.
            tracing::warn!(request_id, run_id = update.id, error = %e, "drift result not recorded yet");
        }
        super::effects::request_saved(svc, &updated.request).await;
        tracing::info!(
            event = "request.run",
            request_id,
            kind = kind.as_str(),
            run_id = update.id,
            status = update.status.as_str(),
            conclusion = update.conclusion.as_deref().unwrap_or(""),
            version = updated.request.version,
            "run facts saved"
        );
    }
    // Also when nothing was saved: a redelivery after a failed hand-on finishes it
    // (every step of `after_run` is idempotent).
    if tracked {
        Box::pin(super::lifecycle::after_run(svc, &updated.request, kind)).await?;
    }
    Ok(Outcome::saved(updated.saved))
}
