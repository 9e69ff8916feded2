//! The check runs on the PR head: created once per head commit, then updated only
//! when their payload changed.

use chrono::{DateTime, Utc};

use crate::core::request::{CheckRunFacts, Extra};
use crate::github::{self as gh, Repo};
use crate::render::{CheckConclusion, CheckRunPayload, CheckStatus};

use super::super::{Service, ServiceError};

/// What the step did for one check run.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckSent {
    /// The payload was unchanged: nothing was sent.
    Unchanged,
    /// The check run was updated in place.
    Updated(CheckRunFacts),
    /// A check run was created (new head commit, first render, or the old one was
    /// completed and the new payload is not).
    Created(CheckRunFacts),
}

impl CheckSent {
    /// The facts to store, when something was sent.
    pub fn facts(&self) -> Option<&CheckRunFacts> {
        match self {
            CheckSent::Unchanged => None,
            CheckSent::Updated(f) | CheckSent::Created(f) => Some(f),
        }
    }
}

fn status(s: CheckStatus) -> gh::RunStatus {
    match s {
        CheckStatus::Queued => gh::RunStatus::Queued,
        CheckStatus::InProgress => gh::RunStatus::InProgress,
        CheckStatus::Completed => gh::RunStatus::Completed,
    }
}

fn conclusion(c: CheckConclusion) -> gh::Conclusion {
    match c {
        CheckConclusion::Success => gh::Conclusion::Success,
        CheckConclusion::Failure => gh::Conclusion::Failure,
        CheckConclusion::Neutral => gh::Conclusion::Neutral,
        CheckConclusion::Cancelled => gh::Conclusion::Cancelled,
        CheckConclusion::Skipped => gh::Conclusion::Skipped,
        CheckConclusion::TimedOut => gh::Conclusion::TimedOut,
        CheckConclusion::ActionRequired => gh::Conclusion::ActionRequired,
    }
}

fn output(o: &crate::render::CheckOutput) -> gh::CheckOutput {
    gh::CheckOutput {
        title: o.title.clone(),
        summary: o.summary.clone(),
        text: o.text.clone(),
    }
}

fn actions(a: &[crate::render::CheckAction]) -> Vec<gh::CheckAction> {
    a.iter()
        .map(|a| gh::CheckAction {
            label: a.label.clone(),
            description: a.description.clone(),
            identifier: a.identifier.clone(),
        })
        .collect()
}

/// The create body (`POST .../check-runs`) for a rendered payload.
pub fn to_new_check_run(p: &CheckRunPayload, now: DateTime<Utc>) -> gh::NewCheckRun {
    let completed = p.status == CheckStatus::Completed;
    gh::NewCheckRun {
        name: p.name.clone(),
        head_sha: p.head_sha.clone(),
        details_url: p.details_url.clone(),
        external_id: Some(p.external_id.clone()),
        status: Some(status(p.status)),
        conclusion: p.conclusion.map(conclusion),
        started_at: (p.status != CheckStatus::Queued).then_some(now),
        completed_at: completed.then_some(now),
        output: Some(output(&p.output)),
        actions: actions(&p.actions),
    }
}

/// The update body (`PATCH .../check-runs/{id}`) for a rendered payload, from its
/// [`CheckRunPayload::as_update`] view (no `head_sha`: that endpoint does not take it).
pub fn to_update(p: &CheckRunPayload, now: DateTime<Utc>) -> gh::CheckRunUpdate {
    let u = p.as_update();
    let completed = u.status == CheckStatus::Completed;
    gh::CheckRunUpdate {
        details_url: u.details_url.map(str::to_string),
        external_id: Some(u.external_id.to_string()),
        status: Some(status(u.status)),
        conclusion: u.conclusion.map(conclusion),
        completed_at: completed.then_some(now),
        output: Some(output(u.output)),
        // Always sent: an empty list removes buttons the status no longer allows.
        actions: Some(actions(u.actions)),
    }
}

/// Sends `payload` if it differs from what `stored` says was last sent.
pub(super) async fn send(
    svc: &Service,
    repo: &Repo,
    payload: &CheckRunPayload,
    stored: Option<&CheckRunFacts>,
) -> Result<CheckSent, ServiceError> {
    let hash = payload.hash();
    let completed = payload.status == CheckStatus::Completed;
    let facts = |id: u64| CheckRunFacts {
        head_sha: payload.head_sha.clone(),
        check_run_id: id,
        payload_hash: hash.clone(),
        completed,
        extra: Extra::new(),
    };
    let same_head = stored.filter(|s| s.head_sha == payload.head_sha);
    if let Some(s) = same_head {
        if s.payload_hash == hash {
            return Ok(CheckSent::Unchanged);
        }
        // A completed check run is not taken back to queued: a new plan of the same
        // commit gets a new check run, as GitHub's own re-runs do.
        if !s.completed || completed {
            match svc
                .github
                .update_check_run(repo, s.check_run_id, &to_update(payload, svc.now()))
                .await
            {
                Ok(_) => return Ok(CheckSent::Updated(facts(s.check_run_id))),
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let created = svc
        .github
        .create_check_run(repo, &to_new_check_run(payload, svc.now()))
        .await?;
    Ok(CheckSent::Created(facts(created.id)))
}
