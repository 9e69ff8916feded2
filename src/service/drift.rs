//! Drift detection: a scheduled drift plan per applied request, and what its
//! `drift.json` says, recorded in the facts and told on the request issue.
//!
//! [`tick`] runs every minute in each replica. For every applied request whose
//! environment has a drift schedule it takes the current period (`floor(now /
//! interval)`) and dispatches the drift workflow from the default branch with the
//! once-key `drift/<id>/<period>`: the marker is created if absent, so however many
//! replicas tick, one dispatch is made per request per period.
//!
//! When the drift run concludes, [`run_concluded`] reads `drift.json` from the
//! run's artifact and records `drift` facts (run, summary, when it was found, when
//! it recovered). The sticky comment shows them through the ordinary effects pass;
//! the request issue gets one comment when drift is found (reopened if it was
//! closed) and one when a later clean run shows it recovered. Drift facts live
//! beside the lifecycle facts, never in them: the derived status stays `applied`.
//!
//! A drift run whose artifact could not be read for a passing reason (GitHub 5xx,
//! rate limit) is read again by the next tick, so a lost read heals itself.

use chrono::{DateTime, Utc};

use crate::core::contract::{self, DriftResult, files};
use crate::core::request::{DriftFacts, Request, RunFacts, TimelineEntry, WorkflowKind};
use crate::core::status::{Status, derive_status};
use crate::github::{GitHubError, IssueState, IssueUpdate, Repo};
use crate::store::StoreError;

use super::dispatch::{Dispatched, dispatch, repo_of_request};
use super::plan_artifact::{DownloadError, ZipReadError, download_artifact_zip, read_zip_files};
use super::{Service, ServiceError};

/// Longest summary kept in the facts and shown in comments.
pub const MAX_SUMMARY_CHARS: usize = 500;

/// Why a drift run's artifact gave no result (logged; the run is not read again).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriftArtifactError {
    /// The run uploaded no artifact of the contract's name.
    #[error("the drift run uploaded no `{}` artifact", contract::DRIFT_PLAN.artifact.name)]
    Missing,
    /// The artifact expired or was deleted.
    #[error("the drift artifact has expired")]
    Expired,
    /// The download is not a zip, or `drift.json` cannot be unpacked.
    #[error("the drift artifact is not a readable zip ({0})")]
    NotAZip(String),
    /// The artifact is larger than [`MAX_ARTIFACT_BYTES`].
    #[error("the drift artifact is too large to read")]
    TooLarge,
    /// The zip holds no `drift.json`.
    #[error("the drift artifact holds no `{}`", files::DRIFT_JSON)]
    NoDriftJson,
    /// `drift.json` is not `{"hasDrift": bool, "summary": "..."}`.
    #[error("`{file}` is not a drift result ({0})", file = files::DRIFT_JSON)]
    NotADriftResult(String),
}

/// What one [`tick`] did, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Live requests looked at.
    pub requests: usize,
    /// Applied requests whose environment has a drift schedule.
    pub scheduled: usize,
    /// Drift workflows this tick dispatched.
    pub dispatched: usize,
    /// Requests whose drift run for this period was already dispatched (here or elsewhere).
    pub already_dispatched: usize,
    /// Concluded drift runs read by this tick (missed by the webhook path).
    pub read: usize,
    /// Requests that failed (logged; the next tick tries again).
    pub failed: usize,
}

/// The schedule period `now` falls in, for an interval of `hours` (`floor(now / interval)`).
pub fn period(now: DateTime<Utc>, hours: u32) -> i64 {
    let seconds = i64::from(hours.max(1)) * 3600;
    now.timestamp().div_euclid(seconds)
}

/// The once-key of the drift dispatch of `request_id` in `period`.
pub fn once_key(request_id: &str, period: i64) -> String {
    format!("drift/{request_id}/{period}")
}

/// Dispatches due drift plans and reads concluded ones that were not read.
///
/// Every live request is looked at; failures of one request are logged and do not
/// stop the others. Only a failure to list the requests is returned.
pub async fn tick(svc: &Service) -> Result<TickReport, ServiceError> {
    let mut report = TickReport::default();
    for id in svc.requests.list_ids().await? {
        report.requests += 1;
        if let Err(e) = tick_one(svc, &id, &mut report).await {
            report.failed += 1;
            tracing::warn!(event = "drift.tick_failed", request_id = %id, error = %e, "drift check not done; next tick tries again");
        }
    }
    if report.dispatched > 0 || report.read > 0 || report.failed > 0 {
        tracing::info!(
            event = "drift.tick",
            requests = report.requests,
            scheduled = report.scheduled,
            dispatched = report.dispatched,
            read = report.read,
            failed = report.failed,
            "drift tick"
        );
    }
    Ok(report)
}

async fn tick_one(svc: &Service, id: &str, report: &mut TickReport) -> Result<(), ServiceError> {
    let Some(request) = svc.requests.get(id).await? else {
        return Ok(());
    };
    let now = svc.now();
    if derive_status(&request, now) != Status::Applied {
        return Ok(());
    }
    let (Some(repo), Some(env)) = (repo_of_request(&request), request.environment.as_deref())
    else {
        return Ok(());
    };
    let config = match svc.repo_configs.get(&*svc.github, &repo).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(request_id = id, error = %e, "no usable repository config; no drift check");
            return Ok(());
        }
    };
    let Some(hours) = config
        .environment(env)
        .and_then(|e| e.drift.interval_hours())
    else {
        return Ok(());
    };
    report.scheduled += 1;
    // A result or a notice the webhook path missed (GitHub failing for a while).
    let missed = unread_run(&request).is_some() || pending_notice(&request).is_some();
    if missed && run_concluded(svc, &request).await? {
        report.read += 1;
    }
    if request
        .run(WorkflowKind::DriftPlan)
        .is_some_and(|run| is_running(run, now, hours))
    {
        // One drift run at a time: this period's dispatch waits for the running one.
        return Ok(());
    }
    let key = once_key(id, period(now, hours));
    let git_ref = match request.target_base.clone() {
        Some(base) => base,
        None => svc.github.get_repository(&repo).await?.default_branch,
    };
    match dispatch(
        svc,
        &repo,
        &request,
        WorkflowKind::DriftPlan,
        &git_ref,
        &[],
        Some(&key),
    )
    .await
    {
        Ok(Dispatched::Started { run_id, .. }) => {
            report.dispatched += 1;
            tracing::info!(event = "drift.dispatch", request_id = id, run_id, once_key = %key, "drift plan dispatched");
        }
        // Another replica's tick is dispatching it right now.
        Ok(Dispatched::AlreadyDone) | Err(ServiceError::DispatchInFlight { .. }) => {
            report.already_dispatched += 1;
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// True when `run` is unfinished and was dispatched less than one interval ago; an
/// older unfinished run (a lost dispatch, a run stuck in a queue) no longer holds
/// the schedule up.
pub fn is_running(run: &RunFacts, now: DateTime<Utc>, hours: u32) -> bool {
    run.is_active()
        && run
            .triggered_at
            .is_none_or(|t| now - t < chrono::Duration::hours(i64::from(hours)))
}

/// The tracked drift run when it concluded successfully and its result was not read.
pub fn unread_run(request: &Request) -> Option<(u64, &RunFacts)> {
    let run = request.run(WorkflowKind::DriftPlan)?;
    let run_id = run.run_id?;
    if !run.succeeded() || run.is_active() {
        return None;
    }
    let read = request
        .drift
        .as_ref()
        .is_some_and(|d| d.run_id == Some(run_id) && d.run_attempt == run.run_attempt);
    (!read).then_some((run_id, run))
}

/// A drift run concluded (called after its facts were saved): reads `drift.json`,
/// records the drift facts, updates the sticky comment and tells the request issue.
///
/// Returns true when drift facts were recorded. A failed drift run records nothing
/// (the workflow writes no `drift.json` when the plan errors); the status comment
/// shows the failed run. A GitHub failure that may pass is returned, and the next
/// [`tick`] reads the run again.
pub async fn run_concluded(svc: &Service, request: &Request) -> Result<bool, ServiceError> {
    let Some((run_id, run)) = unread_run(request) else {
        if let Some(run) = request.run(WorkflowKind::DriftPlan).filter(|r| r.failed()) {
            tracing::warn!(event = "drift.run_failed", request_id = %request.id, run_id = run.run_id, conclusion = run.conclusion.as_deref().unwrap_or(""), "drift plan failed; nothing recorded");
        }
        // Facts may be recorded while telling the issue failed: tell it now.
        notify(svc, request).await?;
        return Ok(false);
    };
    let Some(repo) = repo_of_request(request) else {
        return Ok(false);
    };
    let result = match read_drift_run(svc, &repo, run_id).await {
        Ok(r) => r,
        Err(ReadError::GitHub(e)) => return Err(e.into()),
        Err(ReadError::Artifact(e)) => {
            tracing::warn!(event = "drift.unreadable", request_id = %request.id, run_id, reason = %e, "drift result unreadable; nothing recorded");
            return Ok(false);
        }
    };
    let read = ReadRun {
        run_id,
        run_attempt: run.run_attempt,
        url: run.url.clone(),
        finished_at: run.updated_at.unwrap_or_else(|| svc.now()),
    };
    let updated = match svc
        .requests
        .update(&request.id, |current| {
            record_result(current, &read, &result)
        })
        .await
    {
        Ok(u) => u,
        Err(StoreError::NotFound { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    if !updated.saved {
        return Ok(false);
    }
    tracing::info!(
        event = "drift.recorded",
        request_id = %request.id,
        run_id,
        has_drift = result.has_drift,
        summary = %result.summary,
        "drift result recorded"
    );
    super::effects::request_saved(svc, &updated.request).await;
    notify(svc, &updated.request).await?;
    Ok(true)
}

/// The drift run a result came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRun {
    /// The run id.
    pub run_id: u64,
    /// Its attempt.
    pub run_attempt: Option<u32>,
    /// Its web address.
    pub url: Option<String>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
}

/// The request with `result` of drift run `read` recorded, or `None` when it was
/// recorded already or the tracked drift run moved on meanwhile.
pub fn record_result(current: &Request, read: &ReadRun, result: &DriftResult) -> Option<Request> {
    let tracked = current.run(WorkflowKind::DriftPlan)?;
    if tracked.run_id != Some(read.run_id) || tracked.run_attempt != read.run_attempt {
        return None;
    }
    let previous = current.drift.clone().unwrap_or_default();
    if previous.run_id == Some(read.run_id) && previous.run_attempt == read.run_attempt {
        return None;
    }
    let summary = clip(result.summary.trim(), MAX_SUMMARY_CHARS);
    let mut drift = DriftFacts {
        checked_at: Some(read.finished_at),
        drifted: result.has_drift,
        run_id: Some(read.run_id),
        run_attempt: read.run_attempt,
        run_url: read.url.clone(),
        changes: result
            .has_drift
            .then(|| changed_resources(&summary))
            .flatten(),
        summary: Some(summary.clone()),
        ..previous.clone()
    };
    let mut next = current.clone();
    let what = match (previous.drifted, result.has_drift) {
        (false, true) => {
            // A new drift: found now, not told yet, no longer recovered.
            drift.detected_at = Some(read.finished_at);
            drift.notified_at = None;
            drift.recovered_at = None;
            drift.recovery_notified_at = None;
            Some(format!("drift found by run {}: {summary}", read.run_id))
        }
        (true, false) => {
            drift.recovered_at = Some(read.finished_at);
            drift.recovery_notified_at = None;
            Some(format!(
                "drift recovered: run {} found no changes",
                read.run_id
            ))
        }
        // Still drifted, or still clean: the facts say when it was checked; no history.
        _ => None,
    };
    next.drift = Some(drift);
    if let Some(what) = what {
        next.push_timeline(TimelineEntry {
            at: Some(read.finished_at),
            what,
            who: Some("tfpilot".to_string()),
            extra: Default::default(),
        });
    }
    Some(next)
}

/// The number of resources Terraform's plan line says would change
/// ("Plan: 1 to add, 2 to change, 0 to destroy." → 3), when the summary has one.
pub fn changed_resources(summary: &str) -> Option<u64> {
    let line = summary.split("Plan:").nth(1)?;
    let mut total = 0u64;
    let mut found = false;
    for part in line.split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some("to")) = (words.next(), words.next()) else {
            continue;
        };
        if let Ok(n) = n.parse::<u64>() {
            total = total.saturating_add(n);
            found = true;
        }
    }
    found.then_some(total)
}

fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// What the request issue is to be told, from the recorded facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Drift was found and the issue was not told yet.
    Drifted,
    /// A drift recovered and the issue was not told yet.
    Recovered,
}

/// The notice the facts call for, if any.
pub fn pending_notice(request: &Request) -> Option<Notice> {
    let drift = request.drift.as_ref()?;
    if drift.drifted {
        drift.notified_at.is_none().then_some(Notice::Drifted)
    } else if drift.recovered_at.is_some() && drift.recovery_notified_at.is_none() {
        Some(Notice::Recovered)
    } else {
        None
    }
}

/// Tells the request issue what the drift facts call for, once: a marker per run
/// and notice keeps replicas and retries from commenting twice. The marker is set
/// before the comment, as for dispatches: a failure in between loses that comment
/// (the sticky comment still shows the drift) rather than ever posting it twice.
async fn notify(svc: &Service, request: &Request) -> Result<(), ServiceError> {
    let Some(notice) = pending_notice(request) else {
        return Ok(());
    };
    let (Some(repo), Some(issue), Some(drift)) = (
        repo_of_request(request),
        request.issue_number,
        request.drift.as_ref(),
    ) else {
        return Ok(());
    };
    let run = drift.run_id.unwrap_or_default();
    let which = match notice {
        Notice::Drifted => "drifted",
        Notice::Recovered => "recovered",
    };
    let marker = format!("drift-notice/{}/{run}/{which}", request.id);
    if svc.markers.first_time(&marker, svc.now()).await? {
        let body = match notice {
            Notice::Drifted => drift_comment(request, drift),
            Notice::Recovered => recovery_comment(request, drift),
        };
        if let Err(e) = svc.github.create_comment(&repo, issue, &body).await {
            // Refused before anything was created: free the marker so a later call
            // tells the issue. Any other failure might have posted it; keep the marker.
            if matches!(
                e,
                GitHubError::RateLimited { .. } | GitHubError::Unauthorized { .. }
            ) && let Ok(key) = crate::store::markers::key(&marker)
                && let Err(del) = svc.store.delete(&key, None).await
            {
                tracing::warn!(request_id = %request.id, error = %del, "drift notice marker not freed");
            }
            return Err(e.into());
        }
        if notice == Notice::Drifted {
            reopen(svc, &repo, issue).await?;
        }
        tracing::info!(event = "drift.notified", request_id = %request.id, issue, notice = which, "request issue told");
    }
    let now = svc.now();
    let stored = svc
        .requests
        .update(&request.id, |current| {
            if pending_notice(current) != Some(notice)
                || current.drift.as_ref().and_then(|d| d.run_id) != Some(run)
            {
                return None;
            }
            let mut next = current.clone();
            let d = next.drift.get_or_insert_with(DriftFacts::default);
            match notice {
                Notice::Drifted => d.notified_at = Some(now),
                Notice::Recovered => d.recovery_notified_at = Some(now),
            }
            Some(next)
        })
        .await;
    match stored {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Reopens the request issue when it is closed: drift is work to do.
async fn reopen(svc: &Service, repo: &Repo, issue: u64) -> Result<(), ServiceError> {
    if svc.github.get_issue(repo, issue).await?.state == IssueState::Closed {
        let update = IssueUpdate {
            state: Some(IssueState::Open),
            state_reason: Some("reopened".to_string()),
            ..IssueUpdate::default()
        };
        svc.github.update_issue(repo, issue, &update).await?;
    }
    Ok(())
}

/// Terraform's summary as inline code (backticks removed so it cannot break out).
fn code(s: &str) -> String {
    let flat: String = s
        .chars()
        .map(|c| match c {
            '`' => '\'',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect();
    format!("`{flat}`")
}

fn run_link(drift: &DriftFacts) -> String {
    match (&drift.run_url, drift.run_id) {
        (Some(url), Some(id)) => format!("[drift plan run {id}]({url})"),
        (None, Some(id)) => format!("drift plan run {id}"),
        _ => "the drift plan".to_string(),
    }
}

fn at(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| "just now".to_string())
}

/// The issue comment when drift is found.
pub fn drift_comment(request: &Request, drift: &DriftFacts) -> String {
    let env = request.environment.as_deref().unwrap_or("its environment");
    let mut out = format!(
        "### ⚠️ Drift detected\n\nThe infrastructure of `{}` in `{env}` changed outside Terraform: {} found differences on {}.\n",
        request.id,
        run_link(drift),
        at(drift.detected_at.or(drift.checked_at)),
    );
    if let Some(summary) = drift.summary.as_deref().filter(|s| !s.is_empty()) {
        out.push_str(&format!("\nTerraform: {}\n", code(summary)));
    }
    out.push_str(
        "\nTo resolve it, change the resources back, or change the request to match what is there now. tfpilot checks again on the environment's drift schedule and comments here once a drift plan is clean.\n",
    );
    out
}

/// The issue comment when a later drift plan is clean.
pub fn recovery_comment(request: &Request, drift: &DriftFacts) -> String {
    format!(
        "### ✅ Drift resolved\n\n{} of `{}` found no differences on {}; the drift found on {} is gone.\n",
        run_link(drift),
        request.id,
        at(drift.recovered_at.or(drift.checked_at)),
        at(drift.detected_at),
    )
}

enum ReadError {
    GitHub(GitHubError),
    Artifact(DriftArtifactError),
}

/// Downloads the drift artifact of run `run_id` and parses its `drift.json`.
async fn read_drift_run(svc: &Service, repo: &Repo, run_id: u64) -> Result<DriftResult, ReadError> {
    let bytes = download_artifact_zip(
        &*svc.github,
        repo,
        run_id,
        contract::DRIFT_PLAN.artifact.name,
    )
    .await
    .map_err(|e| match e {
        DownloadError::Transient(e) => ReadError::GitHub(e),
        DownloadError::Missing => ReadError::Artifact(DriftArtifactError::Missing),
        DownloadError::Expired => ReadError::Artifact(DriftArtifactError::Expired),
        DownloadError::TooLarge => ReadError::Artifact(DriftArtifactError::TooLarge),
        DownloadError::Failed(m) => ReadError::Artifact(DriftArtifactError::NotAZip(m)),
    })?;
    parse_artifact(&bytes).map_err(ReadError::Artifact)
}

/// Reads `drift.json` from an artifact zip (at the root, else in any folder).
pub fn parse_artifact(bytes: &[u8]) -> Result<DriftResult, DriftArtifactError> {
    let content = read_zip_files(bytes, &[files::DRIFT_JSON])
        .map_err(|e| match e {
            ZipReadError::Unreadable(m) => DriftArtifactError::NotAZip(m),
            ZipReadError::TooLarge(_) => DriftArtifactError::TooLarge,
        })?
        .pop()
        .flatten()
        .ok_or(DriftArtifactError::NoDriftJson)?;
    serde_json::from_slice(&content).map_err(|e| DriftArtifactError::NotADriftResult(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use chrono::TimeZone;

    use super::*;
    use crate::core::ids::RequestId;
    use crate::core::request::RunStatus;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0)
            .single()
            .expect("time")
    }

    fn with_drift_run(run_id: u64) -> Request {
        let mut r = Request::new(&RequestId::parse("req_dev_s3-bucket_ab12cd").expect("id"));
        r.github_mut().workflows.drift_plan = Some(RunFacts {
            run_id: Some(run_id),
            status: Some(RunStatus::Completed),
            conclusion: Some("success".into()),
            run_attempt: Some(1),
            ..RunFacts::default()
        });
        r
    }

    fn read(run_id: u64, h: u32) -> ReadRun {
        ReadRun {
            run_id,
            run_attempt: Some(1),
            url: Some(format!(
                "https://github.com/acme/infra/actions/runs/{run_id}"
            )),
            finished_at: t(h),
        }
    }

    fn result(has_drift: bool, summary: &str) -> DriftResult {
        DriftResult {
            has_drift,
            summary: summary.into(),
        }
    }

    #[test]
    fn periods_are_whole_intervals_since_the_epoch() {
        assert_eq!(period(t(0), 24), period(t(23), 24));
        assert_eq!(
            period(t(0), 24) + 1,
            period(t(0) + chrono::Duration::hours(24), 24)
        );
        assert_ne!(period(t(9), 6), period(t(12), 6));
        assert_eq!(once_key("req_a_b_c", 7), "drift/req_a_b_c/7");
    }

    #[test]
    fn drift_then_recovery_is_recorded_with_its_times() {
        let r = with_drift_run(10);
        let drifted = record_result(
            &r,
            &read(10, 9),
            &result(true, "Plan: 0 to add, 2 to change, 1 to destroy."),
        )
        .expect("recorded");
        let d = drifted.drift.as_ref().expect("drift");
        assert!(d.drifted);
        assert_eq!(d.detected_at, Some(t(9)));
        assert_eq!(d.changes, Some(3));
        assert_eq!(pending_notice(&drifted), Some(Notice::Drifted));
        // The same run is never recorded twice.
        assert!(record_result(&drifted, &read(10, 9), &result(true, "x")).is_none());

        // Still drifted the next day: found-at stays the first finding.
        let mut again = drifted.clone();
        again.drift.as_mut().expect("drift").notified_at = Some(t(9));
        again.github_mut().workflows.drift_plan = with_drift_run(11)
            .github
            .and_then(|g| g.workflows.drift_plan);
        let again = record_result(&again, &read(11, 10), &result(true, "Plan: 1 to add."))
            .expect("recorded");
        let d = again.drift.as_ref().expect("drift");
        assert_eq!(d.detected_at, Some(t(9)));
        assert_eq!(d.checked_at, Some(t(10)));
        assert_eq!(pending_notice(&again), None, "told once per drift");

        let mut clean = again.clone();
        clean.github_mut().workflows.drift_plan = with_drift_run(12)
            .github
            .and_then(|g| g.workflows.drift_plan);
        let clean =
            record_result(&clean, &read(12, 11), &result(false, "No changes.")).expect("recorded");
        let d = clean.drift.as_ref().expect("drift");
        assert!(!d.drifted);
        assert_eq!(d.recovered_at, Some(t(11)));
        assert_eq!(d.changes, None);
        assert_eq!(pending_notice(&clean), Some(Notice::Recovered));
        assert!(clean.timeline.iter().any(|e| e.what.contains("recovered")));
    }

    #[test]
    fn a_result_of_a_run_no_longer_tracked_is_dropped() {
        let r = with_drift_run(20);
        assert!(record_result(&r, &read(19, 9), &result(true, "x")).is_none());
        assert!(unread_run(&r).is_some());
        let recorded = record_result(&r, &read(20, 9), &result(false, "No changes.")).expect("ok");
        assert!(unread_run(&recorded).is_none());
        // A clean first check is not a recovery.
        assert_eq!(pending_notice(&recorded), None);
    }

    #[test]
    fn plan_lines_count_the_resources() {
        assert_eq!(
            changed_resources("Plan: 1 to add, 0 to change, 0 to destroy."),
            Some(1)
        );
        assert_eq!(
            changed_resources("Plan: 1 to import, 2 to add, 3 to change, 4 to destroy."),
            Some(10)
        );
        assert_eq!(changed_resources("No changes."), None);
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut buf = std::io::Cursor::new(Vec::new());
        {
            let mut zw = zip::ZipWriter::new(&mut buf);
            let opts = zip::write::SimpleFileOptions::default();
            for (name, bytes) in entries {
                zw.start_file(*name, opts).expect("start");
                zw.write_all(bytes).expect("write");
            }
            zw.finish().expect("finish");
        }
        buf.into_inner()
    }

    #[test]
    fn the_artifact_gives_drift_json_or_says_why_not() {
        let zip = zip_of(&[(
            "out/drift.json",
            br#"{"hasDrift":true,"summary":"Plan: 1 to add."}"#,
        )]);
        assert_eq!(parse_artifact(&zip), Ok(result(true, "Plan: 1 to add.")));
        assert_eq!(
            parse_artifact(&zip_of(&[("plan.txt", b"x")])),
            Err(DriftArtifactError::NoDriftJson)
        );
        assert!(matches!(
            parse_artifact(&zip_of(&[("drift.json", b"{\"drift\":1}")])),
            Err(DriftArtifactError::NotADriftResult(_))
        ));
        assert!(matches!(
            parse_artifact(b"nope"),
            Err(DriftArtifactError::NotAZip(_))
        ));
    }

    #[test]
    fn the_comment_keeps_terraform_text_inside_its_code_span() {
        let mut r = with_drift_run(5);
        r.environment = Some("dev".into());
        let drift = DriftFacts {
            summary: Some("Plan: `1` to add\n# @everyone".into()),
            run_id: Some(5),
            ..DriftFacts::default()
        };
        let body = drift_comment(&r, &drift);
        assert!(body.contains("`Plan: '1' to add # @everyone`"), "{body}");
        assert!(body.contains("Drift detected"));
    }
}
