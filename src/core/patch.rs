//! Patches: an event's facts in, the next request document out.
//!
//! Every function here returns `None` when the event changes nothing, so the caller
//! writes nothing, renders nothing and emits nothing (the seed's idempotency rule).
//! When something changes, the returned document carries one new timeline entry,
//! timed by the event itself.
//!
//! Workflow runs follow the seed's guard rules (DESIGN §2):
//! - run-id guard: only the tracked run patches a kind; with none tracked yet, the
//!   run is adopted (the caller resolved it to the latest dispatch), unless its
//!   display title lacks the latest dispatch's nonce;
//! - monotonic: a concluded run never goes back to queued/in_progress, a conclusion
//!   is never replaced by null, an older `updated_at` never overwrites a newer one;
//! - re-runs keep the run id and raise `run_attempt`: a higher attempt starts over,
//!   a lower one is ignored.
//!
//! Within one attempt the kept facts are those of the "greatest" event, ordered by
//! (concluded, `updated_at`, status rank), so the same set of events gives the same
//! facts in any delivery order.

use chrono::{DateTime, Utc};

use crate::core::request::{
    ApplyPlanFacts, Approval, PrFacts, QueueFact, Request, ReviewFact, ReviewState, RunFacts,
    RunStatus, TimelineEntry, WorkflowKind,
};

/// What a `workflow_run` event says about a run (filled by the webhook layer).
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    /// The run id.
    pub id: u64,
    /// The run's status.
    pub status: RunStatus,
    /// The conclusion, once completed.
    pub conclusion: Option<String>,
    /// GitHub's `updated_at` for the run.
    pub updated_at: DateTime<Utc>,
    /// GitHub's `run_attempt` (1 for the first attempt; 0 is read as 1).
    pub run_attempt: u32,
    /// The commit the run ran on.
    pub head_sha: Option<String>,
    /// The run's page.
    pub html_url: Option<String>,
    /// The workflow name (for classification; not stored).
    pub name: Option<String>,
    /// The run's display title (for correlation; not stored).
    pub display_title: Option<String>,
}

/// What a `pull_request` event says about the PR, as a snapshot of the PR object.
#[derive(Debug, Clone, PartialEq)]
pub struct PrUpdate {
    /// The PR number.
    pub number: u64,
    /// The PR's page.
    pub url: Option<String>,
    /// The title.
    pub title: Option<String>,
    /// The head commit.
    pub head_sha: Option<String>,
    /// The base branch.
    pub base_ref: Option<String>,
    /// True when the PR state is `open`.
    pub open: bool,
    /// True when the PR is merged.
    pub merged: bool,
    /// The merge commit, when merged.
    pub merge_commit_sha: Option<String>,
    /// GitHub's `updated_at` for the PR.
    pub updated_at: DateTime<Utc>,
    /// Who caused the event (`sender.login`).
    pub actor: Option<String>,
}

/// What a `pull_request_review` event says.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewUpdate {
    /// The reviewer's login.
    pub reviewer: String,
    /// The review state.
    pub state: ReviewState,
    /// The commit the review was given on.
    pub commit_id: Option<String>,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
}

/// How approvals count, from the environment's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalRule {
    /// Approvals needed; 0 is read as "one approval makes it approved" for the status.
    pub required: usize,
    /// Approvals given on an older head commit do not count.
    pub dismiss_stale: bool,
}

impl Default for ApprovalRule {
    fn default() -> Self {
        ApprovalRule {
            required: 1,
            dismiss_stale: true,
        }
    }
}

/// Who the timeline names for things tfpilot did itself.
const TFPILOT: &str = "tfpilot";

fn short_sha(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn entry(at: DateTime<Utc>, what: String, who: Option<&str>) -> TimelineEntry {
    TimelineEntry {
        at: Some(at),
        what,
        who: who.map(str::to_string),
        ..TimelineEntry::default()
    }
}

// ---------------------------------------------------------------------------
// Workflow runs

/// Orders unfinished statuses along GitHub's lifecycle; completed is highest.
fn status_rank(status: Option<&RunStatus>) -> u8 {
    match status {
        None => 0,
        Some(RunStatus::Queued) => 2,
        Some(RunStatus::InProgress) => 4,
        Some(RunStatus::Completed) => 5,
        Some(RunStatus::Other(s)) => match s.as_str() {
            "requested" => 1,
            "pending" => 2,
            "waiting" => 3,
            _ => 0,
        },
    }
}

/// Within one attempt: does `upd` carry newer facts than `base`?
fn is_newer(base: &RunFacts, upd: &RunUpdate) -> bool {
    if base.is_concluded() {
        // Nothing after a conclusion, except completing a "completed" that had none.
        return base.conclusion.is_none() && upd.conclusion.is_some();
    }
    if upd.status == RunStatus::Completed || upd.conclusion.is_some() {
        return true;
    }
    match base.updated_at {
        None => true,
        Some(b) => {
            (upd.updated_at, status_rank(Some(&upd.status)))
                > (b, status_rank(base.status.as_ref()))
        }
    }
}

/// The run facts after `upd`, or `None` when `upd` is for another run or changes nothing.
pub fn merge_run(existing: Option<&RunFacts>, upd: &RunUpdate) -> Option<RunFacts> {
    let base = existing.cloned().unwrap_or_default();
    if base.run_id.is_some_and(|tracked| tracked != upd.id) {
        return None;
    }
    // Adopting a run: when the dispatch's nonce is known and the run's title is not
    // that dispatch's, it is a late event of an earlier run (the run index still maps
    // it to this request) and must not become the tracked one.
    if base.run_id.is_none()
        && let (Some(nonce), Some(title)) = (base.nonce.as_deref(), upd.display_title.as_deref())
        && !title.contains(nonce)
    {
        return None;
    }
    let mut next = base.clone();
    let tracked_attempt = base.run_attempt.unwrap_or(1);
    let attempt = upd.run_attempt.max(1);
    if attempt < tracked_attempt {
        return None;
    }
    if attempt > tracked_attempt {
        // A re-run: same run id, new attempt, everything about the outcome starts over.
        next.status = Some(upd.status.clone());
        next.conclusion = upd.conclusion.clone();
        next.updated_at = Some(upd.updated_at);
        next.run_attempt = Some(attempt);
    } else if is_newer(&base, upd) {
        next.status = Some(upd.status.clone());
        if upd.conclusion.is_some() {
            next.conclusion = upd.conclusion.clone();
        }
        next.updated_at = Some(
            base.updated_at
                .map_or(upd.updated_at, |b| b.max(upd.updated_at)),
        );
    }
    // Facts that do not change during a run are filled in whenever they are missing.
    next.run_id.get_or_insert(upd.id);
    next.run_attempt.get_or_insert(attempt);
    if next.head_sha.is_none() {
        next.head_sha.clone_from(&upd.head_sha);
    }
    if next.url.is_none() {
        next.url.clone_from(&upd.html_url);
    }
    if existing == Some(&next) {
        None
    } else {
        Some(next)
    }
}

/// Applies a `workflow_run` event to the run tracked for `kind`.
pub fn patch_workflow_run(
    current: &Request,
    kind: WorkflowKind,
    run: &RunUpdate,
) -> Option<Request> {
    let before = current.run(kind);
    let after = merge_run(before, run)?;
    let restarted =
        before.is_some_and(|b| after.run_attempt.unwrap_or(1) > b.run_attempt.unwrap_or(1));
    let what = describe_run(kind, &after, restarted);
    let mut next = current.clone();
    let github = next.github_mut();
    if restarted && kind == WorkflowKind::Destroy {
        // A re-run is a new trigger: staleness counts from it, not from the first dispatch.
        let at = github
            .destroy_triggered_at
            .map_or(run.updated_at, |t| t.max(run.updated_at));
        github.destroy_triggered_at = Some(at);
    }
    if before.is_none() && kind == WorkflowKind::Destroy && github.destroy_triggered_at.is_none() {
        // A destroy run known only from its own events (its dispatch's record was
        // lost): it was triggered all the same, and the stale rule counts from here.
        github.destroy_triggered_at = Some(run.updated_at);
    }
    *github.workflows.slot(kind) = Some(after);
    next.push_timeline(entry(run.updated_at, what, None));
    // A run of the queued kind under way or done means the wait is over: an attempt
    // that saw the request before this run was recorded queued it again.
    if next.queued().is_some_and(|q| q.kind == kind) && next.run_underway_or_done(kind) {
        next.github_mut().queued = None;
    }
    Some(next)
}

fn describe_run(kind: WorkflowKind, run: &RunFacts, restarted: bool) -> String {
    let id = run
        .run_id
        .map_or_else(|| "?".to_string(), |i| i.to_string());
    let status = run.status.as_ref().map_or("unknown", RunStatus::as_str);
    let attempt = match run.run_attempt {
        Some(a) if a > 1 => format!(" (attempt {a})"),
        _ => String::new(),
    };
    let rerun = if restarted { "re-run, " } else { "" };
    match &run.conclusion {
        Some(c) => format!("{kind} run {id}{attempt}: {rerun}{status}, {c}"),
        None => format!("{kind} run {id}{attempt}: {rerun}{status}"),
    }
}

/// Records a dispatch of `kind`: a new run is tracked (status queued, no conclusion).
///
/// Seeing the same nonce again only adopts a run id learned later (GitHub returned it,
/// or the first event named it); anything else about that dispatch is already known.
/// A run whose events were patched in before the dispatch was recorded keeps its
/// status and conclusion; it gains the nonce.
/// A destroy also sets `github.destroyTriggeredAt`. A queue fact for `kind` is cleared.
pub fn record_dispatch(
    current: &Request,
    kind: WorkflowKind,
    nonce: &str,
    triggered_at: DateTime<Utc>,
    run_id: Option<u64>,
) -> Option<Request> {
    let mut next = current.clone();
    if let Some(existing) = current.run(kind)
        && existing.nonce.as_deref() == Some(nonce)
    {
        let (None, Some(id)) = (existing.run_id, run_id) else {
            return None;
        };
        let mut run = existing.clone();
        run.run_id = Some(id);
        *next.github_mut().workflows.slot(kind) = Some(run);
        next.push_timeline(entry(
            triggered_at,
            format!("{kind} run {id} tracked"),
            Some(TFPILOT),
        ));
        return Some(next);
    }
    // The run's own events can arrive before the dispatch is recorded (they name the
    // request in the run name): keep what they said, add what only the dispatch knows.
    let run = match current.run(kind) {
        Some(existing) if run_id.is_some() && existing.run_id == run_id => {
            if existing.nonce.as_deref() == Some(nonce) {
                return None;
            }
            let mut run = existing.clone();
            run.nonce = Some(nonce.to_string());
            run.triggered_at.get_or_insert(triggered_at);
            run
        }
        _ => RunFacts {
            run_id,
            status: Some(RunStatus::Queued),
            triggered_at: Some(triggered_at),
            nonce: Some(nonce.to_string()),
            ..RunFacts::default()
        },
    };
    let github = next.github_mut();
    *github.workflows.slot(kind) = Some(run);
    if kind == WorkflowKind::Destroy {
        github.destroy_triggered_at = Some(triggered_at);
    }
    if github.queued.as_ref().is_some_and(|q| q.kind == kind) {
        github.queued = None;
    }
    let what = match run_id {
        Some(id) => format!("{kind} dispatched (run {id})"),
        None => format!("{kind} dispatched"),
    };
    next.push_timeline(entry(triggered_at, what, Some(TFPILOT)));
    Some(next)
}

/// Records that an apply or destroy waits for the environment lock.
///
/// Nothing when the request already waits, or when a run of `kind` is under way or
/// done (an attempt that read the request before that run was recorded asks late).
pub fn set_queued(current: &Request, kind: WorkflowKind, since: DateTime<Utc>) -> Option<Request> {
    if current.queued().is_some_and(|q| q.kind == kind) || current.run_underway_or_done(kind) {
        return None;
    }
    let mut next = current.clone();
    next.github_mut().queued = Some(QueueFact {
        kind,
        since,
        extra: Default::default(),
    });
    next.push_timeline(entry(
        since,
        format!("{kind} queued behind the environment lock"),
        Some(TFPILOT),
    ));
    Some(next)
}

/// Removes the queue fact (the wait was given up, e.g. by `/tfpilot unlock` or a refusal).
pub fn clear_queued(current: &Request, at: DateTime<Utc>) -> Option<Request> {
    let kind = current.queued()?.kind;
    let mut next = current.clone();
    next.github_mut().queued = None;
    next.push_timeline(entry(at, format!("{kind} no longer queued"), Some(TFPILOT)));
    Some(next)
}

// ---------------------------------------------------------------------------
// The plan at apply time

/// Stores what a failed apply run's artifact said about the plan at apply time.
///
/// Read once per run attempt: `None` when that attempt is recorded already, or when
/// the tracked apply run moved on while the artifact was read. A fact with the same
/// fingerprint as the one it replaces keeps its `shownAt` (the same plan was shown).
pub fn record_apply_plan(current: &Request, facts: &ApplyPlanFacts) -> Option<Request> {
    let run = current.run(WorkflowKind::Apply)?;
    if run.run_id != Some(facts.run_id) || run.run_attempt != facts.run_attempt {
        return None;
    }
    let before = current.apply_plan.as_ref();
    if before.is_some_and(|b| b.run_id == facts.run_id && b.run_attempt == facts.run_attempt) {
        return None;
    }
    let mut fact = facts.clone();
    if let Some(b) = before
        && fact.shown_at.is_none()
        && fact.fingerprint.is_some()
        && b.fingerprint == fact.fingerprint
    {
        fact.shown_at = b.shown_at;
    }
    let what = if fact.plan_changed() {
        let short = |f: Option<&str>| {
            f.and_then(|f| crate::core::fingerprint::Fingerprint::parse(f).ok())
                .map_or_else(|| "unknown".to_string(), |f| f.short().to_string())
        };
        format!(
            "apply run {} refused: the plan changed since review ({} → {})",
            fact.run_id,
            short(fact.expected.as_deref()),
            short(fact.fingerprint.as_ref().map(|f| f.as_str()))
        )
    } else if fact.matched == Some(true) {
        format!(
            "apply run {}: the plan at apply time was the expected one",
            fact.run_id
        )
    } else {
        format!(
            "apply run {}: no plan at apply time to compare ({})",
            fact.run_id,
            fact.unreadable.as_deref().unwrap_or("nothing readable")
        )
    };
    let at = fact.read_at.or(run.updated_at).unwrap_or_default();
    let mut next = current.clone();
    next.apply_plan = Some(fact);
    next.push_timeline(entry(at, what, Some(TFPILOT)));
    Some(next)
}

/// Records that a sticky comment showing the plan at apply time with `fingerprint`
/// (from apply run `run_id`) is on the PR. `None` when that is known already or the
/// fact is about another run or plan.
///
/// No timeline entry: the comment renders the timeline, and saying it was shown must
/// not change what is shown.
pub fn mark_apply_plan_shown(
    current: &Request,
    run_id: u64,
    fingerprint: &str,
    at: DateTime<Utc>,
) -> Option<Request> {
    let fact = current.apply_plan.as_ref()?;
    let same = fact.run_id == run_id
        && fact
            .fingerprint
            .as_ref()
            .is_some_and(|f| f.as_str() == fingerprint);
    if !same || fact.shown_at.is_some() {
        return None;
    }
    let mut next = current.clone();
    if let Some(f) = next.apply_plan.as_mut() {
        f.shown_at = Some(at);
    }
    Some(next)
}

// ---------------------------------------------------------------------------
// Pull requests

/// The PR facts after `upd`, or `None` when nothing changed or `upd` is older.
fn merge_pr(base: Option<&PrFacts>, upd: &PrUpdate) -> Option<PrFacts> {
    if let Some(b) = base {
        if b.number != upd.number {
            return None;
        }
        if b.updated_at.is_some_and(|t| upd.updated_at < t) {
            return None;
        }
    }
    let mut pr = base.cloned().unwrap_or_else(|| PrFacts::new(upd.number));
    let before = pr.clone();
    if upd.url.is_some() {
        pr.url.clone_from(&upd.url);
    }
    if upd.title.is_some() {
        pr.title.clone_from(&upd.title);
    }
    if upd.head_sha.is_some() {
        pr.head_sha.clone_from(&upd.head_sha);
    }
    if upd.base_ref.is_some() {
        pr.base_ref.clone_from(&upd.base_ref);
    }
    // Merged is final: a merged PR is never open again.
    pr.merged = pr.merged || upd.merged;
    pr.open = upd.open && !pr.merged;
    pr.status = Some(
        if pr.merged {
            "merged"
        } else if pr.open {
            "open"
        } else {
            "closed"
        }
        .to_string(),
    );
    if base.is_some() && pr == before {
        return None;
    }
    // Only a real change moves the clock, so a no-op event never causes a write.
    pr.updated_at = Some(
        before
            .updated_at
            .map_or(upd.updated_at, |t| t.max(upd.updated_at)),
    );
    Some(pr)
}

/// The timeline lines of a PR change. A PR first seen already merged (its opening
/// was learned late, or raced with its merge) was opened and merged: both lines, as
/// when the events come one by one.
fn describe_pr(label: &str, before: Option<&PrFacts>, after: &PrFacts) -> Vec<String> {
    let n = after.number;
    let Some(b) = before else {
        let opened = format!("{label} #{n} opened");
        return if after.merged {
            vec![opened, format!("{label} #{n} merged")]
        } else {
            vec![opened]
        };
    };
    let what = if after.merged && !b.merged {
        format!("{label} #{n} merged")
    } else if b.head_sha != after.head_sha {
        let sha = after.head_sha.as_deref().map_or("?", short_sha);
        format!("new commits on {label} #{n} ({sha})")
    } else if b.open && !after.open {
        format!("{label} #{n} closed")
    } else if !b.open && after.open {
        format!("{label} #{n} reopened")
    } else {
        format!("{label} #{n} edited")
    };
    vec![what]
}

/// Applies a `pull_request` event (opened, synchronize, reopened, closed, edited) to
/// the request PR. A merge also records `mergedSha`; new commits re-count approvals.
///
/// The request has one PR: once a PR is tracked, events for another number change nothing.
pub fn patch_pr(current: &Request, upd: &PrUpdate, rule: &ApprovalRule) -> Option<Request> {
    let before = current.pr();
    let after = merge_pr(before, upd)?;
    let what = describe_pr("PR", before, &after);
    let head_changed = before.and_then(|b| b.head_sha.as_ref()) != after.head_sha.as_ref();
    let mut next = current.clone();
    if after.merged && next.merged_sha.is_none() {
        next.merged_sha.clone_from(&upd.merge_commit_sha);
    }
    next.github_mut().pr = Some(after);
    if head_changed {
        recount_approval(&mut next, rule);
    }
    for line in what {
        next.push_timeline(entry(upd.updated_at, line, upd.actor.as_deref()));
    }
    Some(next)
}

/// Applies a `pull_request` event to the cleanup PR (`github.cleanupPr`).
pub fn patch_cleanup_pr(current: &Request, upd: &PrUpdate) -> Option<Request> {
    let before = current.github.as_ref().and_then(|g| g.cleanup_pr.as_ref());
    let after = merge_pr(before, upd)?;
    let what = describe_pr("cleanup PR", before, &after);
    let mut next = current.clone();
    next.github_mut().cleanup_pr = Some(after);
    for line in what {
        next.push_timeline(entry(upd.updated_at, line, upd.actor.as_deref()));
    }
    Some(next)
}

// ---------------------------------------------------------------------------
// Reviews and approval

fn same_login(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Logins whose latest review approves and counts: the requester is excluded, and with
/// `dismiss_stale` an approval counts only when given on `head_sha`.
///
/// With no known head commit there is nothing to be stale against, so every approval counts.
pub fn counting_approvers(
    req: &Request,
    head_sha: Option<&str>,
    dismiss_stale: bool,
) -> Vec<String> {
    let Some(approval) = req.approval.as_ref() else {
        return Vec::new();
    };
    approval
        .reviews
        .iter()
        .filter(|r| r.state == ReviewState::Approved)
        .filter(|r| {
            !req.requester
                .as_deref()
                .is_some_and(|requester| same_login(requester, &r.login))
        })
        .filter(|r| match (dismiss_stale, head_sha) {
            (true, Some(head)) => r.commit_id.as_deref() == Some(head),
            _ => true,
        })
        .map(|r| r.login.clone())
        .collect()
}

/// How many approvals count for `head_sha` (requester excluded; see [`counting_approvers`]).
pub fn approval_count(req: &Request, head_sha: &str, dismiss_stale: bool) -> usize {
    counting_approvers(req, Some(head_sha), dismiss_stale).len()
}

/// Recomputes `approval.approved`/`approvers` from the recorded reviews and the PR head.
///
/// Documents without per-reviewer reviews (the seed's, approved through its web route)
/// are left alone: there is nothing to recount them from.
fn recount_approval(req: &mut Request, rule: &ApprovalRule) {
    if req.approval.as_ref().is_none_or(|a| a.reviews.is_empty()) {
        return;
    }
    let head = req.pr().and_then(|p| p.head_sha.clone());
    let approvers = counting_approvers(req, head.as_deref(), rule.dismiss_stale);
    let approved = approvers.len() >= rule.required.max(1);
    if let Some(a) = req.approval.as_mut() {
        a.approvers = approvers;
        a.approved = approved;
    }
}

/// Recounts approvals under `rule` (e.g. after the environment's rule changed).
pub fn refresh_approval(
    current: &Request,
    rule: &ApprovalRule,
    at: DateTime<Utc>,
) -> Option<Request> {
    let mut next = current.clone();
    recount_approval(&mut next, rule);
    if next == *current {
        return None;
    }
    let what = if next.is_approved() {
        "approvals recounted: approved"
    } else {
        "approvals recounted: not approved"
    };
    next.push_timeline(entry(at, what.to_string(), Some(TFPILOT)));
    Some(next)
}

/// Applies a `pull_request_review` event: records the reviewer's latest verdict and
/// recounts approvals.
///
/// Comment-only and pending reviews do not change a verdict (as on GitHub); a review
/// older than the one recorded for that reviewer is ignored.
pub fn patch_review(current: &Request, upd: &ReviewUpdate, rule: &ApprovalRule) -> Option<Request> {
    if matches!(upd.state, ReviewState::Commented | ReviewState::Pending) {
        return None;
    }
    let reviews = current
        .approval
        .as_ref()
        .map(|a| a.reviews.as_slice())
        .unwrap_or_default();
    let existing = reviews
        .iter()
        .position(|r| same_login(&r.login, &upd.reviewer));
    if let Some(i) = existing {
        let r = &reviews[i];
        if r.submitted_at.is_some_and(|t| upd.submitted_at < t) {
            return None;
        }
        if r.state == upd.state && r.commit_id == upd.commit_id {
            return None;
        }
    }
    let fact = ReviewFact {
        login: upd.reviewer.clone(),
        state: upd.state.clone(),
        commit_id: upd.commit_id.clone(),
        submitted_at: Some(upd.submitted_at),
        extra: Default::default(),
    };
    let mut next = current.clone();
    let approval = next.approval.get_or_insert_with(Approval::default);
    match existing {
        Some(i) => approval.reviews[i] = fact,
        None => approval.reviews.push(fact),
    }
    recount_approval(&mut next, rule);
    let sha = upd.commit_id.as_deref().map(short_sha);
    let what = match (&upd.state, sha) {
        (ReviewState::Approved, Some(s)) => format!("approved at {s}"),
        (ReviewState::Approved, None) => "approved".to_string(),
        (ReviewState::ChangesRequested, _) => "changes requested".to_string(),
        (ReviewState::Dismissed, _) => "review dismissed".to_string(),
        (other, _) => format!("review: {}", other.as_str()),
    };
    next.push_timeline(entry(upd.submitted_at, what, Some(&upd.reviewer)));
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::RequestId;
    use crate::core::status::{Status, derive_status};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    const RUN: u64 = 42;

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("valid time")
            + Duration::seconds(secs)
    }

    fn empty() -> Request {
        Request::new(&RequestId::parse("req_dev_s3_tgqpp8").expect("valid"))
    }

    fn dispatched(kind: WorkflowKind) -> Request {
        record_dispatch(&empty(), kind, "n0nce1", t(0), None).expect("dispatch changes")
    }

    fn ev(attempt: u32, status: &str, conclusion: Option<&str>, secs: i64) -> RunUpdate {
        RunUpdate {
            id: RUN,
            status: RunStatus::parse(status),
            conclusion: conclusion.map(str::to_string),
            updated_at: t(secs),
            run_attempt: attempt,
            head_sha: Some("c02cef273d1a05b15dc52c354a3e1db53de23dc3".into()),
            html_url: Some(format!("https://github.com/o/r/actions/runs/{RUN}")),
            name: Some("tfpilot plan".into()),
            display_title: Some("tfpilot plan req_dev_s3_tgqpp8 n0nce1".into()),
        }
    }

    fn apply(r: &Request, e: &RunUpdate) -> Request {
        patch_workflow_run(r, WorkflowKind::Plan, e).unwrap_or_else(|| r.clone())
    }

    fn plan(r: &Request) -> RunFacts {
        r.run(WorkflowKind::Plan).cloned().unwrap_or_default()
    }

    // --- workflow runs: examples ------------------------------------------------

    #[test]
    fn dispatch_then_run_events_walk_the_lifecycle() {
        let r = dispatched(WorkflowKind::Plan);
        assert_eq!(derive_status(&r, t(1)), Status::Planning);
        assert_eq!(plan(&r).status, Some(RunStatus::Queued));
        assert_eq!(plan(&r).nonce.as_deref(), Some("n0nce1"));

        let r = patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, "in_progress", None, 5))
            .expect("adopts the run");
        assert_eq!(plan(&r).run_id, Some(RUN));
        assert_eq!(
            plan(&r).url.as_deref(),
            Some("https://github.com/o/r/actions/runs/42")
        );
        let r = patch_workflow_run(
            &r,
            WorkflowKind::Plan,
            &ev(1, "completed", Some("success"), 9),
        )
        .expect("completes");
        assert_eq!(derive_status(&r, t(10)), Status::PlanReady);
        assert_eq!(plan(&r).updated_at, Some(t(9)));
        let last = r.timeline.last().expect("timeline entry");
        assert_eq!(last.at, Some(t(9)));
        assert_eq!(last.what, "plan run 42: completed, success");
    }

    #[test]
    fn duplicate_event_is_no_write() {
        let r = apply(
            &dispatched(WorkflowKind::Plan),
            &ev(1, "in_progress", None, 5),
        );
        assert_eq!(
            patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, "in_progress", None, 5)),
            None
        );
    }

    #[test]
    fn run_id_guard_ignores_other_runs() {
        let r = apply(
            &dispatched(WorkflowKind::Plan),
            &ev(1, "in_progress", None, 5),
        );
        let mut other = ev(1, "completed", Some("failure"), 9);
        other.id = RUN + 1;
        assert_eq!(patch_workflow_run(&r, WorkflowKind::Plan, &other), None);
        // The guard is per kind: the same run id under another kind is adopted there.
        assert!(patch_workflow_run(&r, WorkflowKind::Apply, &other).is_some());
    }

    #[test]
    fn a_late_event_of_an_earlier_dispatch_is_not_adopted() {
        // Dispatch 2 (nonce "n0nce2") has no run id yet; run 41 belonged to dispatch 1.
        let r = record_dispatch(&empty(), WorkflowKind::Plan, "n0nce2", t(0), None).expect("d");
        let mut old = ev(1, "completed", Some("success"), 9);
        old.id = 41;
        old.display_title = Some("tfpilot plan req_dev_s3_tgqpp8 n0nce1".into());
        assert_eq!(patch_workflow_run(&r, WorkflowKind::Plan, &old), None);
        let mut new = ev(1, "in_progress", None, 10);
        new.display_title = Some("tfpilot plan req_dev_s3_tgqpp8 n0nce2".into());
        let next = patch_workflow_run(&r, WorkflowKind::Plan, &new).expect("adopted");
        assert_eq!(plan(&next).run_id, Some(RUN));
        // Without a title to compare (older GitHub), the run is adopted as the seed did.
        old.display_title = None;
        assert!(patch_workflow_run(&r, WorkflowKind::Plan, &old).is_some());
    }

    #[test]
    fn completed_never_regresses_and_conclusion_never_becomes_null() {
        let r = apply(
            &dispatched(WorkflowKind::Plan),
            &ev(1, "completed", Some("success"), 9),
        );
        assert_eq!(
            patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, "in_progress", None, 20)),
            None
        );
        assert_eq!(
            patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, "queued", None, 20)),
            None
        );
        assert_eq!(
            patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, "completed", None, 20)),
            None
        );
        assert_eq!(plan(&r).conclusion.as_deref(), Some("success"));
    }

    #[test]
    fn older_updated_at_is_ignored() {
        let r = apply(
            &dispatched(WorkflowKind::Plan),
            &ev(1, "in_progress", None, 9),
        );
        assert_eq!(
            patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, "queued", None, 3)),
            None
        );
        assert_eq!(plan(&r).status, Some(RunStatus::InProgress));
    }

    #[test]
    fn rerun_starts_over_and_older_attempt_is_ignored() {
        let r = apply(
            &dispatched(WorkflowKind::Plan),
            &ev(1, "completed", Some("failure"), 9),
        );
        assert_eq!(
            derive_status(&r, t(10)),
            Status::Failed(crate::core::status::FailureCause::PlanFailed)
        );
        let r = patch_workflow_run(&r, WorkflowKind::Plan, &ev(2, "queued", None, 20))
            .expect("re-run restarts");
        assert_eq!(plan(&r).run_attempt, Some(2));
        assert_eq!(plan(&r).conclusion, None);
        assert_eq!(derive_status(&r, t(21)), Status::Planning);
        assert!(r.timeline.last().is_some_and(|e| e.what.contains("re-run")));
        // A late event of attempt 1 changes nothing.
        assert_eq!(
            patch_workflow_run(
                &r,
                WorkflowKind::Plan,
                &ev(1, "completed", Some("failure"), 9)
            ),
            None
        );
    }

    #[test]
    fn legacy_run_is_patched_into_the_canonical_place() {
        let mut r = empty();
        r.plan_run = Some(RunFacts {
            run_id: Some(RUN),
            status: Some(RunStatus::InProgress),
            ..RunFacts::default()
        });
        let next = patch_workflow_run(
            &r,
            WorkflowKind::Plan,
            &ev(1, "completed", Some("success"), 9),
        )
        .expect("changes");
        let canonical = next
            .github
            .as_ref()
            .and_then(|g| g.workflows.plan.as_ref())
            .expect("canonical written");
        assert!(canonical.succeeded());
        // The legacy field is kept as it was.
        assert_eq!(next.plan_run, r.plan_run);
        // And the legacy run id guards too.
        let mut other = ev(1, "completed", Some("failure"), 9);
        other.id = 7;
        assert_eq!(patch_workflow_run(&r, WorkflowKind::Plan, &other), None);
    }

    #[test]
    fn a_destroy_run_seen_before_its_dispatch_record_is_a_trigger() {
        let mut first = ev(1, "in_progress", None, 60);
        first.display_title = Some("tfpilot destroy req_dev_s3_tgqpp8 n0nce1".into());
        let r = patch_workflow_run(&empty(), WorkflowKind::Destroy, &first).expect("tracked");
        assert_eq!(
            r.github.as_ref().and_then(|g| g.destroy_triggered_at),
            Some(t(60))
        );
        // The stale rule counts from it, as after a recorded dispatch.
        assert_eq!(derive_status(&r, t(60 + 5 * 60)), Status::Destroying);
        // The dispatch's record, arriving late, keeps the run and sets its own time.
        let recorded =
            record_dispatch(&r, WorkflowKind::Destroy, "n0nce1", t(30), Some(RUN)).expect("nonce");
        assert_eq!(
            recorded
                .github
                .as_ref()
                .and_then(|g| g.destroy_triggered_at),
            Some(t(30))
        );
        // Later events of the tracked run do not move the trigger.
        let done = patch_workflow_run(
            &r,
            WorkflowKind::Destroy,
            &ev(1, "completed", Some("success"), 120),
        )
        .expect("done");
        assert_eq!(
            done.github.as_ref().and_then(|g| g.destroy_triggered_at),
            Some(t(60))
        );
    }

    #[test]
    fn destroy_rerun_moves_the_stale_clock() {
        let r = dispatched(WorkflowKind::Destroy);
        let r = patch_workflow_run(
            &r,
            WorkflowKind::Destroy,
            &ev(1, "completed", Some("failure"), 60),
        )
        .expect("fails");
        let rerun_at = 40 * 60;
        let r = patch_workflow_run(
            &r,
            WorkflowKind::Destroy,
            &ev(2, "in_progress", None, rerun_at),
        )
        .expect("re-run");
        // 40 minutes after the first dispatch, 5 after the re-run: still destroying.
        assert_eq!(derive_status(&r, t(rerun_at + 5 * 60)), Status::Destroying);
    }

    #[test]
    fn record_dispatch_rules() {
        let r = dispatched(WorkflowKind::Destroy);
        assert_eq!(
            r.github.as_ref().and_then(|g| g.destroy_triggered_at),
            Some(t(0))
        );
        // Same nonce again: nothing new.
        assert_eq!(
            record_dispatch(&r, WorkflowKind::Destroy, "n0nce1", t(1), None),
            None
        );
        // Same nonce, run id learned: adopted.
        let r2 = record_dispatch(&r, WorkflowKind::Destroy, "n0nce1", t(1), Some(RUN))
            .expect("adopts id");
        assert_eq!(
            r2.run(WorkflowKind::Destroy).and_then(|f| f.run_id),
            Some(RUN)
        );
        assert_eq!(
            record_dispatch(&r2, WorkflowKind::Destroy, "n0nce1", t(1), Some(RUN)),
            None
        );

        // A new dispatch replaces a concluded run and clears its conclusion.
        let done = apply(
            &dispatched(WorkflowKind::Plan),
            &ev(1, "completed", Some("failure"), 9),
        );
        let again =
            record_dispatch(&done, WorkflowKind::Plan, "n0nce2", t(30), Some(99)).expect("new run");
        let p = plan(&again);
        assert_eq!(
            (p.run_id, p.status, p.conclusion, p.run_attempt),
            (Some(99), Some(RunStatus::Queued), None, None)
        );
        assert_eq!(derive_status(&again, t(31)), Status::Planning);
    }

    #[test]
    fn a_dispatch_recorded_after_its_runs_events_keeps_what_they_said() {
        // The run's events (matched by its run name) arrive before the dispatcher
        // records the dispatch: the record must not turn a finished run back to queued.
        let ran = patch_workflow_run(
            &empty(),
            WorkflowKind::Plan,
            &ev(1, "completed", Some("success"), 9),
        )
        .expect("run recorded");
        let run_id = plan(&ran).run_id;
        let recorded =
            record_dispatch(&ran, WorkflowKind::Plan, "n0nce3", t(5), run_id).expect("nonce");
        let p = plan(&recorded);
        assert_eq!(p.status, Some(RunStatus::Completed));
        assert_eq!(p.conclusion.as_deref(), Some("success"));
        assert_eq!(p.nonce.as_deref(), Some("n0nce3"));
        assert_eq!(derive_status(&recorded, t(10)), derive_status(&ran, t(10)));
        assert_eq!(
            record_dispatch(&recorded, WorkflowKind::Plan, "n0nce3", t(6), run_id),
            None
        );
    }

    #[test]
    fn queue_fact_is_set_once_and_cleared_by_dispatch() {
        let r = empty();
        let q = set_queued(&r, WorkflowKind::Apply, t(0)).expect("queued");
        assert_eq!(derive_status(&q, t(1)), Status::Queued);
        assert_eq!(set_queued(&q, WorkflowKind::Apply, t(5)), None);
        let d = record_dispatch(&q, WorkflowKind::Apply, "n", t(10), None).expect("dispatch");
        assert!(d.queued().is_none());
        assert_eq!(derive_status(&d, t(11)), Status::Applying);
        // A plan dispatch leaves a queued apply alone.
        let p = record_dispatch(&q, WorkflowKind::Plan, "n", t(10), None).expect("dispatch");
        assert!(p.queued().is_some());
        assert!(clear_queued(&q, t(3)).is_some_and(|c| c.queued().is_none()));
        assert_eq!(clear_queued(&r, t(3)), None);
    }

    #[test]
    fn a_request_whose_run_is_under_way_or_done_never_waits_for_that_kind_again() {
        let apply_ev = |status: &str, conclusion: Option<&str>, secs| RunUpdate {
            name: Some("tfpilot apply".into()),
            display_title: Some("tfpilot apply req_dev_s3_tgqpp8 n0nce1".into()),
            ..ev(1, status, conclusion, secs)
        };
        let applying = dispatched(WorkflowKind::Apply);
        // An attempt that read the request before the dispatch was recorded asks late.
        assert_eq!(set_queued(&applying, WorkflowKind::Apply, t(1)), None);
        let applied = patch_workflow_run(
            &applying,
            WorkflowKind::Apply,
            &apply_ev("completed", Some("success"), 5),
        )
        .expect("completed");
        assert_eq!(set_queued(&applied, WorkflowKind::Apply, t(6)), None);
        assert_eq!(derive_status(&applied, t(6)), Status::Applied);
        // A destroy may still wait; so may an apply after a failed one.
        assert!(set_queued(&applied, WorkflowKind::Destroy, t(6)).is_some());
        let failed = patch_workflow_run(
            &applying,
            WorkflowKind::Apply,
            &apply_ev("completed", Some("failure"), 5),
        )
        .expect("completed");
        assert!(set_queued(&failed, WorkflowKind::Apply, t(6)).is_some());

        // Queued first and the run recorded after (the late attempt won the race):
        // the run's news ends the wait, so the request shows its run, not "queued".
        let mut late = empty();
        late.github_mut().queued = Some(QueueFact {
            kind: WorkflowKind::Apply,
            since: t(0),
            extra: Default::default(),
        });
        let late = record_dispatch(&late, WorkflowKind::Apply, "n0nce1", t(0), Some(RUN))
            .expect("dispatch");
        assert!(late.queued().is_none(), "a dispatch ends the wait");
        let mut queued_again = late.clone();
        queued_again.github_mut().queued = Some(QueueFact {
            kind: WorkflowKind::Apply,
            since: t(1),
            extra: Default::default(),
        });
        let done = patch_workflow_run(
            &queued_again,
            WorkflowKind::Apply,
            &apply_ev("completed", Some("success"), 5),
        )
        .expect("completed");
        assert!(done.queued().is_none());
        assert_eq!(derive_status(&done, t(6)), Status::Applied);
    }

    #[test]
    fn timeline_stays_bounded() {
        let mut r = dispatched(WorkflowKind::Plan);
        for i in 0..60 {
            r = record_dispatch(&r, WorkflowKind::Plan, &format!("n{i}"), t(i), None)
                .expect("new nonce");
        }
        assert_eq!(r.timeline.len(), crate::core::request::TIMELINE_LIMIT);
        assert_eq!(r.timeline.last().and_then(|e| e.at), Some(t(59)));
    }

    // --- workflow runs: properties ----------------------------------------------

    /// One run's events in true order: each attempt walks some of the unfinished
    /// statuses, then completes; the last attempt may still be running.
    fn arb_history() -> impl Strategy<Value = Vec<RunUpdate>> {
        let attempt = (
            any::<[bool; 3]>(),
            prop::sample::select(vec!["success", "failure", "cancelled"]),
        );
        (prop::collection::vec(attempt, 1..=3), any::<bool>()).prop_map(|(attempts, last_done)| {
            let mut events = Vec::new();
            let mut clock = 0;
            let n = attempts.len();
            for (i, (flags, conclusion)) in attempts.into_iter().enumerate() {
                let a = u32::try_from(i + 1).expect("small");
                for (on, status) in flags.iter().zip(["requested", "queued", "waiting"]) {
                    if *on {
                        clock += 1;
                        events.push(ev(a, status, None, clock));
                    }
                }
                clock += 1;
                events.push(ev(a, "in_progress", None, clock));
                if i + 1 < n || last_done {
                    clock += 1;
                    events.push(ev(a, "completed", Some(conclusion), clock));
                }
            }
            events
        })
    }

    /// The true history and a delivery of it: shuffled, with duplicates.
    fn arb_delivery() -> impl Strategy<Value = (Vec<RunUpdate>, Vec<RunUpdate>)> {
        arb_history().prop_flat_map(|h| {
            let n = h.len();
            prop::collection::vec(0..n, 0..=2 * n).prop_flat_map(move |dups| {
                let mut all = h.clone();
                all.extend(dups.iter().map(|&i| h[i].clone()));
                (Just(h.clone()), Just(all).prop_shuffle())
            })
        })
    }

    fn arb_start() -> impl Strategy<Value = Request> {
        prop_oneof![
            Just(empty()),
            Just(dispatched(WorkflowKind::Plan)),
            Just(
                record_dispatch(&empty(), WorkflowKind::Plan, "n0nce1", t(0), Some(RUN))
                    .expect("dispatch")
            ),
        ]
    }

    proptest! {
        #[test]
        fn any_delivery_order_gives_the_true_order_facts(
            (history, delivery) in arb_delivery(),
            start in arb_start(),
        ) {
            let in_order = history.iter().fold(start.clone(), |r, e| apply(&r, e));
            let shuffled = delivery.iter().fold(start, |r, e| apply(&r, e));
            prop_assert_eq!(plan(&shuffled), plan(&in_order));
        }

        #[test]
        fn applying_an_event_twice_equals_once(
            (_, delivery) in arb_delivery(),
            start in arb_start(),
        ) {
            let mut r = start;
            for e in &delivery {
                if let Some(next) = patch_workflow_run(&r, WorkflowKind::Plan, e) {
                    prop_assert_eq!(patch_workflow_run(&next, WorkflowKind::Plan, e), None);
                    r = next;
                }
            }
        }

        #[test]
        fn a_concluded_attempt_never_goes_back(
            (_, delivery) in arb_delivery(),
            start in arb_start(),
        ) {
            let mut r = start;
            for e in &delivery {
                let before = plan(&r);
                r = apply(&r, e);
                let after = plan(&r);
                if before.is_concluded() && after.run_attempt == before.run_attempt {
                    prop_assert_eq!(&after.status, &before.status);
                    prop_assert_eq!(&after.conclusion, &before.conclusion);
                }
                if before.updated_at.is_some() && after.run_attempt == before.run_attempt {
                    prop_assert!(after.updated_at >= before.updated_at);
                }
            }
        }

        #[test]
        fn a_concluded_run_ignores_any_unfinished_event_of_its_attempt(
            conclusion in prop::sample::select(vec!["success", "failure", "cancelled"]),
            status in prop::sample::select(vec!["requested", "queued", "waiting", "in_progress", "completed"]),
            done_at in 0i64..100,
            event_at in 0i64..200,
        ) {
            let r = apply(&dispatched(WorkflowKind::Plan), &ev(1, "completed", Some(conclusion), done_at));
            // Whatever its time, an event without a conclusion changes nothing.
            prop_assert_eq!(patch_workflow_run(&r, WorkflowKind::Plan, &ev(1, status, None, event_at)), None);
        }

        #[test]
        fn another_run_id_changes_nothing(
            (_, delivery) in arb_delivery(),
            other_id in any::<u64>().prop_filter("not the tracked run", |i| *i != RUN),
            pick in any::<prop::sample::Index>(),
        ) {
            let r = delivery.iter().fold(dispatched(WorkflowKind::Plan), |r, e| apply(&r, e));
            let mut stranger = pick.get(&delivery).clone();
            stranger.id = other_id;
            prop_assert_eq!(patch_workflow_run(&r, WorkflowKind::Plan, &stranger), None);
        }

        #[test]
        fn a_higher_attempt_restarts_a_completed_run(
            attempt in 1u32..5,
            conclusion in prop::sample::select(vec!["success", "failure", "cancelled"]),
            status in prop::sample::select(vec!["requested", "queued", "waiting", "in_progress"]),
            bump in 1u32..3,
        ) {
            let r = apply(&dispatched(WorkflowKind::Plan), &ev(attempt, "completed", Some(conclusion), 10));
            let next = patch_workflow_run(&r, WorkflowKind::Plan, &ev(attempt + bump, status, None, 20));
            let next = next.expect("a re-run restarts");
            let p = plan(&next);
            prop_assert_eq!(p.run_attempt, Some(attempt + bump));
            prop_assert_eq!(p.status, Some(RunStatus::parse(status)));
            prop_assert_eq!(p.conclusion, None);
        }

        #[test]
        fn a_lower_attempt_never_changes_anything(
            (_, delivery) in arb_delivery(),
            status in prop::sample::select(vec!["queued", "in_progress", "completed"]),
            conclusion in prop::option::of(prop::sample::select(vec!["success", "failure"])),
            secs in 0i64..100,
        ) {
            let r = delivery.iter().fold(dispatched(WorkflowKind::Plan), |r, e| apply(&r, e));
            let tracked = plan(&r).run_attempt.unwrap_or(1);
            for lower in 1..tracked {
                let e = ev(lower, status, conclusion, secs);
                prop_assert_eq!(patch_workflow_run(&r, WorkflowKind::Plan, &e), None);
            }
        }
    }

    // --- pull requests ------------------------------------------------------------

    fn pr_ev(head: &str, open: bool, merged: bool, secs: i64) -> PrUpdate {
        PrUpdate {
            number: 223,
            url: Some("https://github.com/o/r/pull/223".into()),
            title: Some("Infra request req_dev_s3_tgqpp8: s3-bucket".into()),
            head_sha: Some(head.into()),
            base_ref: Some("main".into()),
            open,
            merged,
            merge_commit_sha: merged
                .then(|| "m3rg3d0000000000000000000000000000000000".to_string()),
            updated_at: t(secs),
            actor: Some("alice".into()),
        }
    }

    fn rule() -> ApprovalRule {
        ApprovalRule::default()
    }

    #[test]
    fn a_pr_first_seen_merged_reads_as_opened_and_merged() {
        let lines =
            |r: &Request| -> Vec<String> { r.timeline.iter().map(|e| e.what.clone()).collect() };
        // One event at a time, as an in-order run learns it.
        let opened =
            patch_cleanup_pr(&empty(), &pr_ev("c1eaa001", true, false, 1)).expect("opened");
        let one_by_one =
            patch_cleanup_pr(&opened, &pr_ev("c1eaa001", false, true, 2)).expect("merged");
        // Its opening learned only after the merge (a slow copy lost the race).
        let at_once =
            patch_cleanup_pr(&empty(), &pr_ev("c1eaa001", false, true, 2)).expect("merged");
        assert_eq!(
            lines(&one_by_one),
            ["cleanup PR #223 opened", "cleanup PR #223 merged"]
        );
        assert_eq!(lines(&at_once), lines(&one_by_one));
        assert_eq!(
            at_once.github.as_ref().and_then(|g| g.cleanup_pr.clone()),
            one_by_one
                .github
                .as_ref()
                .and_then(|g| g.cleanup_pr.clone())
        );
        // The late "opened" event changes nothing.
        assert_eq!(
            patch_cleanup_pr(&at_once, &pr_ev("c1eaa001", true, false, 1)),
            None
        );
        let pr = patch_pr(&empty(), &pr_ev("aaaaaaa1", false, true, 2), &rule()).expect("merged");
        assert_eq!(lines(&pr), ["PR #223 opened", "PR #223 merged"]);
    }

    #[test]
    fn pr_opened_synchronize_closed_merged() {
        let r = patch_pr(&empty(), &pr_ev("aaaaaaa1", true, false, 1), &rule()).expect("opened");
        assert_eq!(derive_status(&r, t(2)), Status::Planning);
        assert_eq!(
            r.timeline.last().map(|e| e.what.as_str()),
            Some("PR #223 opened")
        );
        assert_eq!(
            r.timeline.last().and_then(|e| e.who.as_deref()),
            Some("alice")
        );
        assert_eq!(
            patch_pr(&r, &pr_ev("aaaaaaa1", true, false, 1), &rule()),
            None
        );
        // An unrelated event (label, body edit) with a newer time changes no fact: no write.
        assert_eq!(
            patch_pr(&r, &pr_ev("aaaaaaa1", true, false, 5), &rule()),
            None
        );

        let r = patch_pr(&r, &pr_ev("bbbbbbb2", true, false, 10), &rule()).expect("synchronize");
        assert_eq!(r.pr().and_then(|p| p.head_sha.as_deref()), Some("bbbbbbb2"));
        // An older synchronize delivered late does not move the head back.
        assert_eq!(
            patch_pr(&r, &pr_ev("aaaaaaa1", true, false, 3), &rule()),
            None
        );

        let closed = patch_pr(&r, &pr_ev("bbbbbbb2", false, false, 20), &rule()).expect("closed");
        assert_eq!(
            closed.pr().map(|p| (p.open, p.status.as_deref())),
            Some((false, Some("closed")))
        );
        let reopened =
            patch_pr(&closed, &pr_ev("bbbbbbb2", true, false, 30), &rule()).expect("reopened");
        assert!(reopened.pr().is_some_and(|p| p.open));

        let merged = patch_pr(&r, &pr_ev("bbbbbbb2", false, true, 40), &rule()).expect("merged");
        assert_eq!(
            merged.merged_sha.as_deref(),
            Some("m3rg3d0000000000000000000000000000000000")
        );
        assert_eq!(derive_status(&merged, t(41)), Status::Merged);
        // Merged is final, even against a newer event that says otherwise.
        let odd = patch_pr(&merged, &pr_ev("bbbbbbb2", true, false, 50), &rule());
        assert_eq!(odd, None);
    }

    #[test]
    fn another_pr_number_changes_nothing() {
        let r = patch_pr(&empty(), &pr_ev("a", true, false, 1), &rule()).expect("opened");
        let mut other = pr_ev("b", false, true, 5);
        other.number = 999;
        assert_eq!(patch_pr(&r, &other, &rule()), None);
    }

    #[test]
    fn pr_patch_starts_from_the_legacy_pr() {
        let seed: Request =
            serde_json::from_str(include_str!("../../fixtures/requests/seed-example.json"))
                .expect("seed");
        let head = "c02cef273d1a05b15dc52c354a3e1db53de23dc3";
        let mut upd = pr_ev(head, false, true, 100);
        upd.merge_commit_sha = Some("feedface".into());
        let next = patch_pr(&seed, &upd, &rule()).expect("merge changes");
        let pr = next
            .github
            .as_ref()
            .and_then(|g| g.pr.as_ref())
            .expect("canonical pr");
        assert!(pr.merged && !pr.open);
        assert_eq!(next.merged_sha.as_deref(), Some("feedface"));
        assert_eq!(next.pr, seed.pr, "legacy pr kept as it was");
    }

    #[test]
    fn cleanup_pr_is_tracked_separately() {
        let r = patch_pr(&empty(), &pr_ev("a", true, false, 1), &rule()).expect("opened");
        let mut c = pr_ev("c", true, false, 2);
        c.number = 300;
        let r = patch_cleanup_pr(&r, &c).expect("cleanup opened");
        assert_eq!(r.pr().map(|p| p.number), Some(223));
        assert_eq!(
            r.github
                .as_ref()
                .and_then(|g| g.cleanup_pr.as_ref())
                .map(|p| p.number),
            Some(300)
        );
        assert_eq!(patch_cleanup_pr(&r, &c), None);
    }

    // --- reviews --------------------------------------------------------------------

    fn review(who: &str, state: ReviewState, commit: &str, secs: i64) -> ReviewUpdate {
        ReviewUpdate {
            reviewer: who.into(),
            state,
            commit_id: Some(commit.into()),
            submitted_at: t(secs),
        }
    }

    fn with_pr(head: &str) -> Request {
        let mut r = patch_pr(&empty(), &pr_ev(head, true, false, 1), &rule()).expect("opened");
        r.requester = Some("Requester".into());
        r
    }

    #[test]
    fn approval_counts_and_requester_is_excluded() {
        let r = with_pr("h1");
        let r = patch_review(
            &r,
            &review("requester", ReviewState::Approved, "h1", 5),
            &rule(),
        )
        .expect("recorded");
        assert!(
            !r.is_approved(),
            "the requester's own approval does not count"
        );
        assert_eq!(approval_count(&r, "h1", true), 0);
        let r = patch_review(&r, &review("bob", ReviewState::Approved, "h1", 6), &rule())
            .expect("recorded");
        assert!(r.is_approved());
        assert_eq!(
            r.approval.as_ref().map(|a| a.approvers.clone()),
            Some(vec!["bob".into()])
        );
        assert_eq!(
            r.timeline.last().and_then(|e| e.who.as_deref()),
            Some("bob")
        );
        // Same verdict again: nothing changes.
        assert_eq!(
            patch_review(&r, &review("bob", ReviewState::Approved, "h1", 7), &rule()),
            None
        );
        // Comments don't change a verdict.
        assert_eq!(
            patch_review(&r, &review("bob", ReviewState::Commented, "h1", 8), &rule()),
            None
        );
        // An older review arriving late is ignored.
        assert_eq!(
            patch_review(
                &r,
                &review("bob", ReviewState::ChangesRequested, "h0", 2),
                &rule()
            ),
            None
        );
        // Changes requested withdraws bob's approval.
        let r = patch_review(
            &r,
            &review("Bob", ReviewState::ChangesRequested, "h1", 9),
            &rule(),
        )
        .expect("changes");
        assert!(!r.is_approved());
    }

    #[test]
    fn approvals_for_an_older_head_do_not_count_when_dismissing_stale() {
        let r = with_pr("h1");
        let r = patch_review(&r, &review("bob", ReviewState::Approved, "h1", 5), &rule())
            .expect("recorded");
        assert!(r.is_approved());
        let pushed = patch_pr(&r, &pr_ev("h2", true, false, 10), &rule()).expect("synchronize");
        assert!(!pushed.is_approved());
        assert_eq!(approval_count(&pushed, "h2", true), 0);
        assert_eq!(approval_count(&pushed, "h2", false), 1);
        let keep = ApprovalRule {
            required: 1,
            dismiss_stale: false,
        };
        let pushed_keep = patch_pr(&r, &pr_ev("h2", true, false, 10), &keep).expect("synchronize");
        assert!(pushed_keep.is_approved());
    }

    #[test]
    fn required_approvals_and_dismissal() {
        let two = ApprovalRule {
            required: 2,
            dismiss_stale: true,
        };
        let r = with_pr("h1");
        let r = patch_review(&r, &review("bob", ReviewState::Approved, "h1", 5), &two).expect("1");
        assert!(!r.is_approved());
        let r =
            patch_review(&r, &review("carol", ReviewState::Approved, "h1", 6), &two).expect("2");
        assert!(r.is_approved());
        let r = patch_review(&r, &review("carol", ReviewState::Dismissed, "h1", 7), &two)
            .expect("dismissed");
        assert!(!r.is_approved());
        // Relaxing the rule recounts.
        let relaxed = refresh_approval(&r, &rule(), t(8)).expect("recount changes");
        assert!(relaxed.is_approved());
        assert_eq!(refresh_approval(&relaxed, &rule(), t(9)), None);
    }

    #[test]
    fn seed_style_approval_without_reviews_is_left_alone() {
        let mut r = with_pr("h1");
        r.approval = Some(Approval {
            approved: true,
            approvers: vec!["bob".into()],
            ..Approval::default()
        });
        let pushed = patch_pr(&r, &pr_ev("h2", true, false, 10), &rule()).expect("synchronize");
        assert!(pushed.is_approved());
    }

    // --- the plan at apply time -------------------------------------------------

    const FP_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const FP_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn failed_apply(run_id: u64) -> Request {
        let mut r = empty();
        r.github_mut().workflows.apply = Some(RunFacts {
            run_id: Some(run_id),
            run_attempt: Some(1),
            status: Some(RunStatus::Completed),
            conclusion: Some("failure".into()),
            ..RunFacts::default()
        });
        r
    }

    fn apply_plan_fact(run_id: u64, actual: &str, matched: bool) -> ApplyPlanFacts {
        ApplyPlanFacts {
            run_id,
            run_attempt: Some(1),
            read_at: Some(t(10)),
            expected: Some(FP_A.into()),
            fingerprint: crate::core::fingerprint::Fingerprint::parse(actual).ok(),
            matched: Some(matched),
            summary: None,
            omitted_changes: 0,
            unreadable: None,
            shown_at: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn a_changed_plan_is_recorded_once_per_apply_attempt() {
        let r = failed_apply(7);
        let fact = apply_plan_fact(7, FP_B, false);
        let next = record_apply_plan(&r, &fact).expect("recorded");
        assert_eq!(next.apply_plan.as_ref(), Some(&fact));
        assert_eq!(
            derive_status(&next, t(11)),
            Status::Failed(crate::core::status::FailureCause::PlanChanged)
        );
        let last = next.timeline.last().expect("timeline");
        assert!(
            last.what.contains("plan changed since review")
                && last.what.contains("aaaaaaaaaaaa → bbbbbbbbbbbb"),
            "{}",
            last.what
        );
        // The same attempt again changes nothing.
        assert!(record_apply_plan(&next, &fact).is_none());
        // A fact about a run that is no longer tracked is not stored.
        assert!(record_apply_plan(&failed_apply(8), &fact).is_none());
    }

    #[test]
    fn only_the_plan_that_was_shown_is_marked_shown() {
        let r = record_apply_plan(&failed_apply(7), &apply_plan_fact(7, FP_B, false))
            .expect("recorded");
        assert!(mark_apply_plan_shown(&r, 7, FP_A, t(12)).is_none());
        assert!(mark_apply_plan_shown(&r, 6, FP_B, t(12)).is_none());
        let shown = mark_apply_plan_shown(&r, 7, FP_B, t(12)).expect("marked");
        let fact = shown.apply_plan.as_ref().expect("fact");
        assert_eq!(fact.shown_at, Some(t(12)));
        assert_eq!(shown.timeline, r.timeline, "no timeline entry");
        // Idempotent: shown once is shown.
        assert!(mark_apply_plan_shown(&shown, 7, FP_B, t(13)).is_none());

        // The next apply (run 8) failed otherwise on the same plan: still shown.
        let mut again = shown.clone();
        again.github_mut().workflows.apply = Some(RunFacts {
            run_id: Some(8),
            run_attempt: Some(1),
            status: Some(RunStatus::Completed),
            conclusion: Some("failure".into()),
            ..RunFacts::default()
        });
        let next = record_apply_plan(&again, &apply_plan_fact(8, FP_B, true)).expect("recorded");
        assert_eq!(
            next.apply_plan.as_ref().and_then(|f| f.shown_at),
            Some(t(12))
        );
        // A different plan starts unshown.
        let other = record_apply_plan(&again, &apply_plan_fact(8, FP_A, false)).expect("recorded");
        assert_eq!(other.apply_plan.as_ref().and_then(|f| f.shown_at), None);
    }
}
