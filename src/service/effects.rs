//! Effects on GitHub from saved facts: the sticky comment, the check runs, and the
//! plan summary read from the plan run's artifact.
//!
//! After every saved change a handler calls [`request_saved`]. It renders from
//! the document just saved (or from a fresh read when another pass ran
//! meanwhile) and sends GitHub only what differs from what was last sent
//! (hashes of the last comment body and check-run payloads are kept in the
//! facts, `sticky`). Storing those hashes is itself a request update,
//! but the render never shows `version`, so it does not ask for another render.
//!
//! Ordering: one async mutex per request serializes passes in this process; a
//! pass that had to wait for it reads the document after taking it, so a later pass always renders newer
//! facts and a burst of changes costs one render of the newest state. A pass whose
//! document changed while it ran (another replica, a handler in between) goes
//! round again, at most [`MAX_PASSES`] times, so the last state wins on GitHub.
//! Replicas do not share the mutex: two may both find no comment and both create
//! one. The first recorded in the facts stays; the other pass deletes its own.
//!
//! Costs per saved change: at most one comment PATCH (or create), one PATCH (or
//! create on a new head) per check run, no GitHub call for an unchanged render
//! (one store write records, once, that the PR shows it).
//! Effects never fail the request: errors are logged with the request id and the
//! next saved change (or `/tfpilot sync`) sends the difference.

mod checks;
mod comment;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::core::patch::{mark_apply_plan_shown, record_apply_plan};
use crate::core::request::{CheckRunFacts, PlanSummaryFacts, Request, StickyFacts, WorkflowKind};
use crate::github::Repo;
use crate::render::{EnvPolicy, LockView, StickyInput};
use crate::store::StoreError;

use super::dispatch::repo_of_request;
use super::plan_artifact;
use super::{Service, ServiceError};

pub use checks::{CheckSent, to_new_check_run, to_update};
pub use comment::{CommentSent, find_sticky, is_app_author};

/// Most render passes one call makes when the document keeps changing under it.
pub const MAX_PASSES: usize = 3;

/// What one call to [`sync_effects`] did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EffectsReport {
    /// Render passes made (0: the document was already rendered).
    pub passes: usize,
    /// True when a plan artifact was read and its summary stored.
    pub plan_read: bool,
    /// True when a failed apply's artifact was read and its plan stored.
    pub apply_plan_read: bool,
    /// What happened to the sticky comment in the last pass.
    pub comment: Option<CommentSent>,
    /// What happened to `tfpilot/plan` in the last pass.
    pub plan_check: Option<CheckSent>,
    /// What happened to `tfpilot` in the last pass.
    pub lifecycle_check: Option<CheckSent>,
}

/// Renders and sends what changed after a saved change to `request`. Never fails:
/// errors are logged (the facts are saved; the next change sends the difference).
pub async fn request_saved(svc: &Service, request: &Request) {
    if is_rendered(request) {
        return;
    }
    if let Err(e) = sync_effects_after(svc, request).await {
        tracing::warn!(
            event = "request.effects_failed",
            request_id = %request.id,
            version = request.version,
            error = %e,
            "could not bring the PR comment and check runs up to date"
        );
    }
}

/// The sticky comment `comment_id` was deleted (`issue_comment.deleted` by someone):
/// forget it and show the status again in a new comment now, rather than at the
/// next change. A deleted comment that is not the stored one changes nothing.
pub async fn sticky_deleted(
    svc: &Service,
    request_id: &str,
    comment_id: u64,
) -> Result<(), ServiceError> {
    let updated = match svc
        .requests
        .update(request_id, |current| {
            let sticky = current.sticky.as_ref()?;
            if sticky.comment_id != Some(comment_id) {
                return None;
            }
            let mut next = current.clone();
            let sticky = next.sticky.get_or_insert_with(StickyFacts::default);
            sticky.comment_id = None;
            sticky.render_hash = None;
            sticky.rendered_version = None;
            Some(next)
        })
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if updated.saved {
        sync_effects(svc, request_id).await?;
    }
    Ok(())
}

/// True when the sticky state says this version (or a newer one) was rendered.
fn is_rendered(request: &Request) -> bool {
    request
        .sticky
        .as_ref()
        .and_then(|s| s.rendered_version)
        .is_some_and(|v| v >= request.version)
}

/// One async mutex per request, held while a pass renders and sends it: this
/// process's passes of one request take turns. Each [`Service`] has its own, as
/// each replica has; replicas are kept apart by the facts, see [`record_sent`].
#[derive(Default)]
pub struct RequestLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl RequestLocks {
    fn of(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Drop locks nobody holds or waits for, so the map stays as small as the work in flight.
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(id.to_string()).or_default().clone()
    }
}

/// Brings the request's PR comment and check runs up to date with its facts,
/// reading the plan artifact first when a finished plan run has not been read.
pub async fn sync_effects(svc: &Service, request_id: &str) -> Result<EffectsReport, ServiceError> {
    let lock = svc.effect_locks.of(request_id);
    let _guard = lock.lock().await;
    passes(svc, request_id, None).await
}

/// [`sync_effects`] right after `saved` was stored. When no other pass holds the
/// request, the saved document is as fresh as a read would be, so the first
/// pass renders it without reading it again (one store read less per change);
/// after waiting for another pass, it reads.
async fn sync_effects_after(svc: &Service, saved: &Request) -> Result<EffectsReport, ServiceError> {
    let lock = svc.effect_locks.of(&saved.id);
    if let Ok(_guard) = lock.try_lock() {
        return passes(svc, &saved.id, Some(saved.clone())).await;
    }
    let _guard = lock.lock().await;
    passes(svc, &saved.id, None).await
}

/// The render passes of [`sync_effects`]; the caller holds the request's lock.
/// `first` is the document for the first pass (else it is read).
async fn passes(
    svc: &Service,
    request_id: &str,
    mut first: Option<Request>,
) -> Result<EffectsReport, ServiceError> {
    let mut report = EffectsReport::default();
    for _ in 0..MAX_PASSES {
        let doc = match first.take() {
            Some(doc) => Some(doc),
            None => svc.requests.get(request_id).await?,
        };
        let Some(mut doc) = doc else {
            return Ok(report);
        };
        if is_rendered(&doc) {
            return Ok(report);
        }
        let Some(repo) = repo_of_request(&doc) else {
            tracing::debug!(
                request_id,
                "request has no repository facts yet; nothing to show"
            );
            return Ok(report);
        };
        report.passes += 1;
        if let Some(read) = read_plan_if_new(svc, &repo, &doc).await? {
            report.plan_read = true;
            doc = read;
        }
        if let Some(read) = read_apply_plan_if_new(svc, &repo, &doc).await? {
            report.apply_plan_read = true;
            doc = read;
        }
        let Some((pass, failed)) = render_and_send(svc, &repo, &doc).await? else {
            return Ok(report);
        };
        report.comment = Some(pass.comment.clone());
        report.plan_check = pass.plan_check.clone();
        report.lifecycle_check = pass.lifecycle_check.clone();
        let rendered = doc.version;
        let shown_in = doc.sticky.as_ref().and_then(|s| s.comment_id);
        let mut moved_on = false;
        let now = svc.now();
        // Usually the document rendered is the one this process just wrote.
        let stored = svc
            .requests
            .update_after_write(request_id, |current| {
                moved_on = current.version != rendered;
                let sent = record_sent(current, rendered, shown_in, &pass);
                let base = sent.as_ref().unwrap_or(current);
                match &pass.apply_plan_shown {
                    Some((run_id, fp)) => mark_apply_plan_shown(base, *run_id, fp, now).or(sent),
                    None => sent,
                }
            })
            .await;
        let stored = match stored {
            Ok(stored) => stored.request,
            Err(StoreError::NotFound { .. }) => return Ok(report),
            Err(e) => return Err(e.into()),
        };
        if let CommentSent::Created { id, .. } = pass.comment {
            remove_if_duplicate(svc, &repo, &stored, id).await;
        }
        // What was sent is recorded; now report the check run that could not be.
        if let Some(e) = failed {
            return Err(e);
        }
        if !moved_on {
            return Ok(report);
        }
    }
    Ok(report)
}

/// Whether a check run a pass sent is recorded over the `recorded` one. Not when
/// that is a newer check run on the same commit (another replica created it while
/// this pass created its own): GitHub shows the newest check run of a name on a
/// commit, so the newest is the one to keep editing. Nor when it is on the PR's
/// `head` and the one sent is not.
fn supersedes(recorded: Option<&CheckRunFacts>, sent: &CheckRunFacts, head: Option<&str>) -> bool {
    let Some(r) = recorded else {
        return true;
    };
    if r.head_sha == sent.head_sha {
        return r.check_run_id <= sent.check_run_id;
    }
    head.is_none_or(|h| r.head_sha != h)
}

/// What a pass sent (or found already there), to be recorded in the facts.
#[derive(Debug, Clone)]
struct Pass {
    comment: CommentSent,
    plan_check: Option<CheckSent>,
    lifecycle_check: Option<CheckSent>,
    /// The plan at apply time the comment now on the PR shows: (apply run, fingerprint).
    apply_plan_shown: Option<(u64, String)>,
}

/// After a pass created the sticky comment `created`: when the facts record
/// another one (a replica that created or found one while this pass did), this
/// one is a duplicate and is deleted. The next pass edits the recorded one.
async fn remove_if_duplicate(svc: &Service, repo: &Repo, stored: &Request, created: u64) {
    let recorded = stored.sticky.as_ref().and_then(|s| s.comment_id);
    if recorded == Some(created) {
        return;
    }
    tracing::info!(
        request_id = %stored.id,
        comment_id = created,
        recorded = ?recorded,
        "another pass showed the request in its own comment meanwhile; deleting this duplicate"
    );
    if let Err(e) = svc.github.delete_comment(repo, created).await
        && !e.is_not_found()
    {
        tracing::warn!(request_id = %stored.id, comment_id = created, error = %e, "could not delete a duplicate sticky comment");
    }
}

/// The request with the pass recorded in `sticky`, or `None` when that changes nothing.
///
/// `rendered_version` becomes the version this write produces only when nothing
/// else was written since the render: then the next call knows there is nothing
/// new. Otherwise it stays at the version rendered, and a later pass renders again.
///
/// `shown_in` is the comment the render started from. A comment this pass created
/// is not recorded over another that was recorded meanwhile: two replicas that
/// both found no comment both create one, and the first recorded stays the only
/// one (the other is deleted, [`remove_if_duplicate`]).
fn record_sent(
    current: &Request,
    rendered: u64,
    shown_in: Option<u64>,
    pass: &Pass,
) -> Option<Request> {
    let plan_check = pass.plan_check.as_ref().and_then(CheckSent::facts);
    let lifecycle_check = pass.lifecycle_check.as_ref().and_then(CheckSent::facts);
    let mut next = current.clone();
    if pass.comment.state().is_some() || plan_check.is_some() || lifecycle_check.is_some() {
        let sticky = next.sticky.get_or_insert_with(StickyFacts::default);
        let recorded_meanwhile = sticky.comment_id.filter(|&r| Some(r) != shown_in);
        let duplicate = matches!(pass.comment, CommentSent::Created { id, .. } if recorded_meanwhile.is_some_and(|r| r != id));
        if let Some((id, hash)) = pass.comment.state().filter(|_| !duplicate) {
            sticky.comment_id = Some(id);
            sticky.render_hash = Some(hash.to_string());
        }
        let head = current.pr().and_then(|p| p.head_sha.as_deref());
        let plan_check = plan_check.filter(|f| supersedes(sticky.plan_check.as_ref(), f, head));
        if let Some(facts) = plan_check {
            sticky.plan_check = Some(facts.clone());
        }
        let lifecycle_check =
            lifecycle_check.filter(|f| supersedes(sticky.lifecycle_check.as_ref(), f, head));
        if let Some(facts) = lifecycle_check {
            sticky.lifecycle_check = Some(facts.clone());
        }
    }
    let undisturbed = current.version == rendered;
    if next == *current {
        // Nothing sent, or what was sent is already recorded (an adopted comment):
        // the PR shows this render. Recording that once (when nothing was written
        // since) spares the reconciler rendering it again at every pass.
        let recorded = current.sticky.as_ref().and_then(|s| s.rendered_version);
        if !undisturbed || recorded.is_some_and(|v| v >= rendered) {
            return None;
        }
    }
    let sticky = next.sticky.get_or_insert_with(StickyFacts::default);
    sticky.rendered_version = Some(if undisturbed { rendered + 1 } else { rendered });
    Some(next)
}

/// The finished plan run whose artifact has not been read yet, if any.
fn unread_plan(doc: &Request) -> Option<(u64, &crate::core::request::RunFacts)> {
    let run = doc.run(WorkflowKind::Plan)?;
    let run_id = run.run_id?;
    if !run.is_concluded() || run.is_active() {
        return None;
    }
    let read = doc
        .plan_summary
        .as_ref()
        .is_some_and(|p| p.run_id == run_id && p.run_attempt == run.run_attempt);
    (!read).then_some((run_id, run))
}

/// Reads and stores the plan summary of a finished plan run not read yet; returns
/// the stored document, or `None` when there was nothing to read (or GitHub failed
/// for now: the pass renders without it and a later pass reads again).
async fn read_plan_if_new(
    svc: &Service,
    repo: &Repo,
    doc: &Request,
) -> Result<Option<Request>, ServiceError> {
    let Some((run_id, run)) = unread_plan(doc) else {
        return Ok(None);
    };
    let facts = match plan_artifact::read_plan_run(
        &*svc.github,
        repo,
        &doc.id,
        run,
        run_id,
        svc.now(),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(request_id = %doc.id, run_id, error = %e, "plan artifact not read; will try again");
            return Ok(None);
        }
    };
    let attempt = run.run_attempt;
    let updated = match svc
        .requests
        .update(&doc.id, |current| {
            store_plan_summary(current, &facts, attempt)
        })
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        event = "request.plan_summary",
        request_id = %doc.id,
        run_id,
        readable = facts.unreadable.is_none(),
        version = updated.request.version,
        "plan summary stored"
    );
    Ok(Some(updated.request))
}

/// The failed apply run whose artifact has not been read yet, if any.
fn unread_apply(doc: &Request) -> Option<(u64, &crate::core::request::RunFacts)> {
    let run = doc.run(WorkflowKind::Apply)?;
    let run_id = run.run_id?;
    if !run.failed() {
        return None;
    }
    let read = doc
        .apply_plan
        .as_ref()
        .is_some_and(|p| p.run_id == run_id && p.run_attempt == run.run_attempt);
    (!read).then_some((run_id, run))
}

/// Reads a failed apply run's artifact once per attempt: when the apply refused
/// because the plan changed since review, the plan at apply time is stored so the
/// comment shows it. Returns the stored document, or `None` when there was nothing
/// to read (or GitHub failed for now: a later pass reads again).
async fn read_apply_plan_if_new(
    svc: &Service,
    repo: &Repo,
    doc: &Request,
) -> Result<Option<Request>, ServiceError> {
    let Some((run_id, run)) = unread_apply(doc) else {
        return Ok(None);
    };
    // The facts have not changed since the dispatch (this read is the first thing
    // after the run failed), so this is the fingerprint it was dispatched with.
    let expected = crate::core::gates::apply_fingerprint(doc).ok().flatten();
    let facts = match plan_artifact::read_apply_run(
        &*svc.github,
        repo,
        &doc.id,
        run,
        run_id,
        expected,
        svc.now(),
    )
    .await
    {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(request_id = %doc.id, run_id, error = %e, "apply artifact not read; will try again");
            return Ok(None);
        }
    };
    let updated = match svc
        .requests
        .update(&doc.id, |current| record_apply_plan(current, &facts))
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        event = "request.apply_plan",
        request_id = %doc.id,
        run_id,
        plan_changed = facts.plan_changed(),
        readable = facts.unreadable.is_none(),
        version = updated.request.version,
        "apply-time plan stored"
    );
    Ok(Some(updated.request))
}

/// Stores `facts` unless the tracked plan run moved on while the artifact was read.
fn store_plan_summary(
    current: &Request,
    facts: &PlanSummaryFacts,
    attempt: Option<u32>,
) -> Option<Request> {
    let run = current.run(WorkflowKind::Plan)?;
    if run.run_id != Some(facts.run_id) || run.run_attempt != attempt {
        return None;
    }
    let mut next = current.clone();
    next.plan_summary = Some(facts.clone());
    Some(next)
}

/// The plan summary the render may show: only the one of the tracked plan run.
fn current_plan(doc: &Request) -> Option<&PlanSummaryFacts> {
    let run = doc.run(WorkflowKind::Plan)?;
    doc.plan_summary
        .as_ref()
        .filter(|p| Some(p.run_id) == run.run_id && p.run_attempt == run.run_attempt)
}

/// The repository's web address, from the PR's address (`.../pull/N`).
fn repo_url(doc: &Request) -> Option<String> {
    let url = doc.pr()?.url.as_deref()?;
    url.rsplit_once("/pull/").map(|(base, _)| base.to_string())
}

/// The environment policy the text depends on; defaults when the config is unusable.
async fn env_policy(svc: &Service, repo: &Repo, doc: &Request) -> EnvPolicy {
    let config = match svc.repo_configs.get(&*svc.github, repo).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(request_id = %doc.id, error = %e, "no usable repository config; default policy shown");
            return EnvPolicy::default();
        }
    };
    match doc
        .environment
        .as_deref()
        .and_then(|e| config.environment(e))
    {
        Some(env) => EnvPolicy {
            required_approvals: Some(env.required_approvals as usize),
            auto_apply: env.auto_apply,
            protected: env.protected,
        },
        None => EnvPolicy::default(),
    }
}

/// The environment lock as this request sees it, read only when it matters
/// (queued, or an apply/destroy in flight).
async fn lock_view(
    svc: &Service,
    repo: &Repo,
    doc: &Request,
) -> Result<Option<LockView>, ServiceError> {
    let active = |k| doc.run(k).is_some_and(|r| r.is_active());
    let relevant =
        doc.queued().is_some() || active(WorkflowKind::Apply) || active(WorkflowKind::Destroy);
    let Some(env) = doc.environment.as_deref().filter(|_| relevant) else {
        return Ok(None);
    };
    let lock = match svc.locks.get((&repo.owner, &repo.name, env)).await {
        Ok(l) => l,
        // An environment name the lock keys refuse cannot be locked either.
        Err(StoreError::InvalidKey { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(lock.map(|l| LockView {
        holder: l.holder.as_ref().map(|h| h.request_id.clone()),
        queue_position: l.position(&doc.id),
        queue_length: Some(l.queue.len()),
    }))
}

/// Renders the comment and check runs from `doc` and sends what differs; `None`
/// when the request has no PR yet (nothing to show anything on).
///
/// A failed comment call fails the pass (nothing is known to be sent). A failed
/// check-run call comes back beside what was sent before it, so the caller records
/// that first and nothing is sent twice.
async fn render_and_send(
    svc: &Service,
    repo: &Repo,
    doc: &Request,
) -> Result<Option<(Pass, Option<ServiceError>)>, ServiceError> {
    let Some(pr) = doc.pr() else {
        return Ok(None);
    };
    let policy = env_policy(svc, repo, doc).await;
    let lock = lock_view(svc, repo, doc).await?;
    let plan = current_plan(doc);
    let url = repo_url(doc);
    let input = StickyInput {
        request: doc,
        now: svc.now(),
        plan: plan.and_then(|p| p.summary.as_ref()),
        cost: plan.and_then(|p| p.cost.as_ref()),
        fingerprint: plan.and_then(|p| p.fingerprint.as_ref()),
        lock: lock.as_ref(),
        policy,
        repo_url: url.as_deref(),
    };
    let comment = comment::send(svc, repo, doc, pr.number, &input).await?;
    // The comment on GitHub now holds this body (sent, or unchanged from the last one
    // sent), so what it shows of the plan at apply time has been shown.
    let apply_plan_shown = crate::render::sticky::shown_apply_plan(&input)
        .filter(|f| f.summary.is_some())
        .and_then(|f| Some((f.run_id, f.fingerprint.as_ref()?.as_str().to_string())));
    let mut pass = Pass {
        comment,
        plan_check: None,
        lifecycle_check: None,
        apply_plan_shown,
    };
    let Some(head) = pr.head_sha.as_deref() else {
        return Ok(Some((pass, None)));
    };
    let sticky = doc.sticky.as_ref();
    let plan = crate::render::plan_check(&input, head);
    match checks::send(svc, repo, &plan, sticky.and_then(|s| s.plan_check.as_ref())).await {
        Ok(sent) => pass.plan_check = Some(sent),
        Err(e) => return Ok(Some((pass, Some(e)))),
    }
    let life = crate::render::lifecycle_check(&input, head);
    let stored = sticky.and_then(|s| s.lifecycle_check.as_ref());
    match checks::send(svc, repo, &life, stored).await {
        Ok(sent) => pass.lifecycle_check = Some(sent),
        Err(e) => return Ok(Some((pass, Some(e)))),
    }
    Ok(Some((pass, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::RequestId;
    use crate::core::request::{Extra, RunFacts, RunStatus};

    fn request(version: u64) -> Request {
        let mut r = Request::new(&RequestId::parse("req_dev_s3_tgqpp8").expect("id"));
        r.version = version;
        r
    }

    fn sent(id: u64) -> Pass {
        Pass {
            comment: CommentSent::Created {
                id,
                hash: "h1".into(),
            },
            plan_check: Some(CheckSent::Unchanged),
            lifecycle_check: None,
            apply_plan_shown: None,
        }
    }

    #[test]
    fn a_pass_recorded_right_after_its_render_covers_its_own_write() {
        let next = record_sent(&request(4), 4, None, &sent(9)).expect("written");
        let sticky = next.sticky.expect("sticky");
        assert_eq!(sticky.comment_id, Some(9));
        assert_eq!(sticky.render_hash.as_deref(), Some("h1"));
        // The write makes version 5, which holds nothing but this record.
        assert_eq!(sticky.rendered_version, Some(5));
    }

    #[test]
    fn a_pass_overtaken_by_another_write_leaves_the_newer_facts_to_render() {
        let next = record_sent(&request(6), 4, None, &sent(9)).expect("written");
        assert_eq!(next.sticky.and_then(|s| s.rendered_version), Some(4));
    }

    #[test]
    fn a_comment_created_while_another_pass_recorded_one_is_not_recorded() {
        // Rendered at version 4 with no comment; another replica recorded comment 7.
        let mut current = request(6);
        current.sticky = Some(StickyFacts {
            comment_id: Some(7),
            render_hash: Some("theirs".into()),
            ..StickyFacts::default()
        });
        let after = record_sent(&current, 4, None, &sent(9)).unwrap_or_else(|| current.clone());
        let sticky = after.sticky.expect("sticky");
        assert_eq!(sticky.comment_id, Some(7), "the first recorded stays");
        assert_eq!(sticky.render_hash.as_deref(), Some("theirs"));
        // A comment recreated after the recorded one was deleted replaces it.
        let replaced = record_sent(&current, 4, Some(7), &sent(9)).expect("written");
        assert_eq!(replaced.sticky.and_then(|s| s.comment_id), Some(9));
    }

    #[test]
    fn a_check_run_is_not_recorded_over_a_newer_one_or_one_on_the_head() {
        let check = |head: &str, id| CheckRunFacts {
            head_sha: head.into(),
            check_run_id: id,
            payload_hash: "p".into(),
            completed: false,
            extra: Extra::new(),
        };
        assert!(supersedes(None, &check("a", 5), Some("a")));
        // Same commit: the newer (created later) wins; an edit of the same one is recorded.
        assert!(supersedes(Some(&check("a", 5)), &check("a", 6), Some("a")));
        assert!(supersedes(Some(&check("a", 5)), &check("a", 5), Some("a")));
        assert!(!supersedes(Some(&check("a", 6)), &check("a", 5), Some("a")));
        // Another commit: the one on the PR's head wins.
        assert!(supersedes(Some(&check("a", 5)), &check("b", 3), Some("b")));
        assert!(!supersedes(Some(&check("b", 3)), &check("a", 9), Some("b")));
        assert!(supersedes(Some(&check("b", 3)), &check("a", 9), None));
    }

    #[test]
    fn a_pass_that_sent_nothing_records_only_that_the_render_is_shown_once() {
        let nothing = Pass {
            comment: CommentSent::Unchanged,
            plan_check: Some(CheckSent::Unchanged),
            lifecycle_check: Some(CheckSent::Unchanged),
            apply_plan_shown: None,
        };
        let mut recorded = record_sent(&request(4), 4, None, &sent(9)).expect("written");
        recorded.version = 5; // as the store writes it
        // A change the comment does not show: version 6, last render of 5.
        let mut invisible = recorded.clone();
        invisible.version = 6;
        let marked = record_sent(&invisible, 6, Some(9), &nothing).expect("written");
        let sticky = marked.sticky.expect("sticky");
        assert_eq!(sticky.rendered_version, Some(7));
        assert_eq!(
            (sticky.comment_id, sticky.render_hash.as_deref()),
            (Some(9), Some("h1"))
        );
        // Once shown, nothing more; nor when another write came since the render.
        assert!(record_sent(&recorded, 5, Some(9), &nothing).is_none());
        assert!(record_sent(&recorded, 5, Some(9), &sent(9)).is_none());
        assert!(record_sent(&invisible, 5, Some(9), &nothing).is_none());
    }

    fn with_plan_run(attempt: u32, status: RunStatus) -> Request {
        let mut r = request(3);
        r.github_mut().workflows.plan = Some(RunFacts {
            run_id: Some(77),
            status: Some(status),
            conclusion: Some("success".into()),
            run_attempt: Some(attempt),
            ..RunFacts::default()
        });
        r
    }

    fn summary_of(run_id: u64, attempt: u32) -> PlanSummaryFacts {
        PlanSummaryFacts {
            run_id,
            run_attempt: Some(attempt),
            head_sha: None,
            read_at: None,
            summary: None,
            omitted_changes: 0,
            fingerprint: None,
            cost: None,
            unreadable: Some("x".into()),
            extra: Extra::new(),
        }
    }

    #[test]
    fn a_finished_plan_is_read_once_per_attempt() {
        let mut r = with_plan_run(1, RunStatus::Completed);
        assert_eq!(unread_plan(&r).map(|(id, _)| id), Some(77));
        r.plan_summary = Some(summary_of(77, 1));
        assert!(unread_plan(&r).is_none());
        assert!(current_plan(&r).is_some());
        // A re-run: the old summary is not shown, and the new attempt is read.
        let mut rerun = with_plan_run(2, RunStatus::Completed);
        rerun.plan_summary = Some(summary_of(77, 1));
        assert!(current_plan(&rerun).is_none());
        assert!(unread_plan(&rerun).is_some());
        // A running plan is not read yet.
        let mut running = with_plan_run(2, RunStatus::InProgress);
        running
            .github_mut()
            .workflows
            .plan
            .as_mut()
            .expect("plan")
            .conclusion = None;
        assert!(unread_plan(&running).is_none());
    }

    #[test]
    fn the_repository_address_comes_from_the_pr_address() {
        let mut r = request(1);
        let mut pr = crate::core::request::PrFacts::new(5);
        pr.url = Some("https://github.com/acme/infra/pull/5".into());
        r.github_mut().pr = Some(pr);
        assert_eq!(
            repo_url(&r).as_deref(),
            Some("https://github.com/acme/infra")
        );
    }
}
