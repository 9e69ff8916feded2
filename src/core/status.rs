//! The derived lifecycle status: a pure function of the request facts and of "now".
//!
//! Status is never stored as truth. [`derive_status`] walks the seed's priority list,
//! first match wins:
//!
//! 1. destroy failed → `failed` (destroy_failed)
//! 2. destroy succeeded → `destroyed`
//! 3. destroy in progress and not stale → `destroying`
//! 4. destroy triggered more than [`DESTROY_STALE_MINUTES`] ago with no conclusion → `failed` (destroy_stale)
//! 5. apply failed → `failed` (plan_changed when its artifact says the plan at apply
//!    time differs from the reviewed one, else apply_failed)
//! 6. plan failed → `failed` (plan_failed)
//! 7. apply or destroy waiting on the environment lock → `queued` (tfpilot's addition)
//! 8. apply in progress → `applying`
//! 9. apply succeeded → `applied`
//! 10. PR merged or merge commit recorded → `merged`
//! 11. approved → `approved`
//! 12. plan succeeded → `plan_ready`
//! 13. plan in progress, or PR open → `planning`
//! 14. otherwise → `request_created`
//!
//! Why `queued` sits at 7: a failure fact stays the truth until a new run replaces it
//! (a failed plan must be fixed before anything is applied, and a failed destroy keeps
//! showing until the retry is actually dispatched, which clears the queue fact and
//! replaces the run). Above `applying` because the queue fact only exists while no run
//! of that kind has been dispatched; the sticky comment shows the queue position.

use chrono::{DateTime, Duration, Utc};
use serde::{Serialize, Serializer};

use crate::core::request::{ApplyPlanFacts, Request, WorkflowKind};

/// Minutes after a destroy dispatch without a conclusion before it counts as failed.
pub const DESTROY_STALE_MINUTES: i64 = 15;

/// Why a request is `failed`; the sticky comment shows each cause differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCause {
    /// The destroy run concluded with a failure.
    DestroyFailed,
    /// The destroy was dispatched more than 15 minutes ago and never concluded.
    DestroyStale,
    /// The apply run concluded with a failure.
    ApplyFailed,
    /// The apply run refused: the plan at apply time is not the one reviewed.
    PlanChanged,
    /// The plan run concluded with a failure.
    PlanFailed,
}

impl FailureCause {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::DestroyFailed => "destroy_failed",
            FailureCause::DestroyStale => "destroy_stale",
            FailureCause::ApplyFailed => "apply_failed",
            FailureCause::PlanChanged => "plan_changed",
            FailureCause::PlanFailed => "plan_failed",
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Created; no PR or plan yet.
    RequestCreated,
    /// Plan running, or PR open without a finished plan.
    Planning,
    /// Plan succeeded.
    PlanReady,
    /// Enough approvals.
    Approved,
    /// The PR merged.
    Merged,
    /// An apply or destroy waits for the environment lock.
    Queued,
    /// Apply running.
    Applying,
    /// Apply succeeded.
    Applied,
    /// Destroy running.
    Destroying,
    /// Destroy succeeded.
    Destroyed,
    /// Something failed; the cause says what.
    Failed(FailureCause),
}

impl Status {
    /// The snake_case name (`failed` for every failure cause).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::RequestCreated => "request_created",
            Status::Planning => "planning",
            Status::PlanReady => "plan_ready",
            Status::Approved => "approved",
            Status::Merged => "merged",
            Status::Queued => "queued",
            Status::Applying => "applying",
            Status::Applied => "applied",
            Status::Destroying => "destroying",
            Status::Destroyed => "destroyed",
            Status::Failed(_) => "failed",
        }
    }

    /// The failure cause, when the status is `failed`.
    pub fn failure_cause(self) -> Option<FailureCause> {
        match self {
            Status::Failed(cause) => Some(cause),
            _ => None,
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// True when the tracked destroy run concluded with a failure.
pub fn is_destroy_failed(req: &Request) -> bool {
    req.run(WorkflowKind::Destroy).is_some_and(|r| r.failed())
}

/// True when a destroy was triggered more than [`DESTROY_STALE_MINUTES`] before `now`
/// and has no conclusion.
pub fn is_destroy_stale(req: &Request, now: DateTime<Utc>) -> bool {
    let Some(triggered) = req.destroy_triggered_at() else {
        return false;
    };
    let concluded = req
        .run(WorkflowKind::Destroy)
        .is_some_and(|r| r.conclusion.is_some());
    !concluded && now - triggered > Duration::minutes(DESTROY_STALE_MINUTES)
}

/// True when the tracked plan ran on another commit than the PR's current head, i.e.
/// new commits arrived after it (DESIGN §1: re-plan; an apply gate must not trust it).
///
/// Unknown commits on either side are not called stale: there is nothing to compare.
pub fn is_plan_stale(req: &Request) -> bool {
    let plan = req
        .run(WorkflowKind::Plan)
        .and_then(|r| r.head_sha.as_deref());
    let head = req.pr().and_then(|p| p.head_sha.as_deref());
    matches!((plan, head), (Some(p), Some(h)) if p != h)
}

/// The plan change the tracked apply run refused on: its failure's artifact said the
/// plan at apply time differs from the one it was dispatched with.
pub fn plan_change(req: &Request) -> Option<&ApplyPlanFacts> {
    let run = req.run(WorkflowKind::Apply)?;
    if !run.failed() {
        return None;
    }
    req.apply_plan.as_ref().filter(|p| {
        p.plan_changed() && Some(p.run_id) == run.run_id && p.run_attempt == run.run_attempt
    })
}

/// Why the request is failed at `now`, if it is.
pub fn failure_cause(req: &Request, now: DateTime<Utc>) -> Option<FailureCause> {
    derive_status(req, now).failure_cause()
}

/// The request's status at `now`, by the seed's priority list (see the module docs).
pub fn derive_status(req: &Request, now: DateTime<Utc>) -> Status {
    let plan = req.run(WorkflowKind::Plan);
    let apply = req.run(WorkflowKind::Apply);
    let destroy = req.run(WorkflowKind::Destroy);
    let stale = is_destroy_stale(req, now);

    if destroy.is_some_and(|r| r.failed()) {
        return Status::Failed(FailureCause::DestroyFailed);
    }
    if destroy.is_some_and(|r| r.succeeded()) {
        return Status::Destroyed;
    }
    if destroy.is_some_and(|r| r.is_active()) && !stale {
        return Status::Destroying;
    }
    if stale {
        return Status::Failed(FailureCause::DestroyStale);
    }
    if apply.is_some_and(|r| r.failed()) {
        if plan_change(req).is_some() {
            return Status::Failed(FailureCause::PlanChanged);
        }
        return Status::Failed(FailureCause::ApplyFailed);
    }
    if plan.is_some_and(|r| r.failed()) {
        return Status::Failed(FailureCause::PlanFailed);
    }
    if req.queued().is_some() {
        return Status::Queued;
    }
    if apply.is_some_and(|r| r.is_active()) {
        return Status::Applying;
    }
    if apply.is_some_and(|r| r.succeeded()) {
        return Status::Applied;
    }
    if req.is_merged() {
        return Status::Merged;
    }
    if req.is_approved() {
        return Status::Approved;
    }
    if plan.is_some_and(|r| r.succeeded()) {
        return Status::PlanReady;
    }
    if plan.is_some_and(|r| r.is_active()) || req.pr().is_some_and(|p| p.open) {
        return Status::Planning;
    }
    Status::RequestCreated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::RequestId;
    use crate::core::request::{Approval, PrFacts, QueueFact, RunFacts, RunStatus};
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s)
            .single()
            .expect("valid time")
    }

    fn now() -> DateTime<Utc> {
        at(12, 0, 0)
    }

    fn empty() -> Request {
        Request::new(&RequestId::parse("req_dev_s3_tgqpp8").expect("valid"))
    }

    fn run(status: &str, conclusion: Option<&str>) -> RunFacts {
        RunFacts {
            run_id: Some(1),
            status: Some(RunStatus::parse(status)),
            conclusion: conclusion.map(str::to_string),
            ..RunFacts::default()
        }
    }

    fn done(conclusion: &str) -> RunFacts {
        run("completed", Some(conclusion))
    }

    fn with(mut r: Request, kind: WorkflowKind, facts: RunFacts) -> Request {
        *r.github_mut().workflows.slot(kind) = Some(facts);
        r
    }

    fn open_pr(mut r: Request) -> Request {
        let mut pr = PrFacts::new(1);
        pr.open = true;
        r.github_mut().pr = Some(pr);
        r
    }

    fn approved(mut r: Request) -> Request {
        r.approval = Some(Approval {
            approved: true,
            ..Approval::default()
        });
        r
    }

    fn destroy_triggered(mut r: Request, when: DateTime<Utc>) -> Request {
        r.github_mut().destroy_triggered_at = Some(when);
        r
    }

    fn queued(mut r: Request, kind: WorkflowKind) -> Request {
        r.github_mut().queued = Some(QueueFact {
            kind,
            since: at(11, 0, 0),
            extra: Default::default(),
        });
        r
    }

    use WorkflowKind::{Apply, Destroy, Plan};

    // One test per rule, in priority order.

    #[test]
    fn rule_1_destroy_failed() {
        let r = with(empty(), Destroy, done("failure"));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::DestroyFailed)
        );
        assert!(is_destroy_failed(&r));
    }

    #[test]
    fn rule_2_destroy_succeeded() {
        let r = with(empty(), Destroy, done("success"));
        assert_eq!(derive_status(&r, now()), Status::Destroyed);
    }

    #[test]
    fn rule_3_destroy_in_progress() {
        let r = destroy_triggered(
            with(empty(), Destroy, run("in_progress", None)),
            at(11, 55, 0),
        );
        assert_eq!(derive_status(&r, now()), Status::Destroying);
        let r = destroy_triggered(with(empty(), Destroy, run("queued", None)), at(11, 55, 0));
        assert_eq!(derive_status(&r, now()), Status::Destroying);
        // A status GitHub adds later still counts as running.
        let r = with(empty(), Destroy, run("waiting", None));
        assert_eq!(derive_status(&r, now()), Status::Destroying);
    }

    #[test]
    fn rule_4_destroy_stale() {
        let r = destroy_triggered(
            with(empty(), Destroy, run("in_progress", None)),
            at(11, 0, 0),
        );
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::DestroyStale)
        );
        // Triggered but no run ever recorded: stale as well.
        let r = destroy_triggered(empty(), at(11, 0, 0));
        assert_eq!(failure_cause(&r, now()), Some(FailureCause::DestroyStale));
    }

    #[test]
    fn stale_destroy_boundary_14_59_vs_15_01() {
        let r = destroy_triggered(
            with(empty(), Destroy, run("in_progress", None)),
            at(12, 0, 0),
        );
        assert_eq!(derive_status(&r, at(12, 14, 59)), Status::Destroying);
        assert!(!is_destroy_stale(&r, at(12, 14, 59)));
        assert_eq!(derive_status(&r, at(12, 15, 0)), Status::Destroying);
        assert_eq!(
            derive_status(&r, at(12, 15, 1)),
            Status::Failed(FailureCause::DestroyStale)
        );
        assert!(is_destroy_stale(&r, at(12, 15, 1)));
    }

    #[test]
    fn stale_time_falls_back_to_the_run_triggered_at() {
        let mut facts = run("in_progress", None);
        facts.triggered_at = Some(at(11, 0, 0));
        let r = with(empty(), Destroy, facts);
        assert!(is_destroy_stale(&r, now()));
    }

    #[test]
    fn rule_5_apply_failed() {
        let r = with(empty(), Apply, done("failure"));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::ApplyFailed)
        );
    }

    #[test]
    fn rule_6_plan_failed() {
        let r = with(open_pr(empty()), Plan, done("failure"));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::PlanFailed)
        );
    }

    #[test]
    fn rule_7_queued() {
        let r = queued(with(empty(), Plan, done("success")), Apply);
        assert_eq!(derive_status(&r, now()), Status::Queued);
        let r = queued(with(empty(), Apply, done("success")), Destroy);
        assert_eq!(derive_status(&r, now()), Status::Queued);
    }

    #[test]
    fn rule_8_applying() {
        let r = with(empty(), Apply, run("in_progress", None));
        assert_eq!(derive_status(&r, now()), Status::Applying);
        let r = with(empty(), Apply, run("queued", None));
        assert_eq!(derive_status(&r, now()), Status::Applying);
    }

    #[test]
    fn rule_9_applied() {
        let r = with(empty(), Apply, done("success"));
        assert_eq!(derive_status(&r, now()), Status::Applied);
    }

    #[test]
    fn rule_10_merged_by_pr_or_by_merge_sha() {
        let mut r = open_pr(empty());
        if let Some(pr) = r.github_mut().pr.as_mut() {
            pr.open = false;
            pr.merged = true;
        }
        assert_eq!(derive_status(&r, now()), Status::Merged);
        let mut r = empty();
        r.merged_sha = Some("abc".into());
        assert_eq!(derive_status(&r, now()), Status::Merged);
    }

    #[test]
    fn rule_11_approved() {
        let r = approved(with(open_pr(empty()), Plan, done("success")));
        assert_eq!(derive_status(&r, now()), Status::Approved);
    }

    #[test]
    fn rule_12_plan_ready() {
        let r = with(open_pr(empty()), Plan, done("success"));
        assert_eq!(derive_status(&r, now()), Status::PlanReady);
    }

    #[test]
    fn rule_13_planning() {
        let r = with(empty(), Plan, run("in_progress", None));
        assert_eq!(derive_status(&r, now()), Status::Planning);
        let r = with(empty(), Plan, run("queued", None));
        assert_eq!(derive_status(&r, now()), Status::Planning);
        let r = open_pr(empty());
        assert_eq!(derive_status(&r, now()), Status::Planning);
    }

    #[test]
    fn rule_14_request_created() {
        assert_eq!(derive_status(&empty(), now()), Status::RequestCreated);
        // A closed, unmerged PR without runs is back to "created".
        let mut r = open_pr(empty());
        if let Some(pr) = r.github_mut().pr.as_mut() {
            pr.open = false;
        }
        assert_eq!(derive_status(&r, now()), Status::RequestCreated);
    }

    // Competing rules: the earlier rule wins.

    #[test]
    fn destroy_succeeded_but_apply_failed_is_destroyed() {
        let r = with(
            with(empty(), Apply, done("failure")),
            Destroy,
            done("success"),
        );
        assert_eq!(derive_status(&r, now()), Status::Destroyed);
    }

    #[test]
    fn plan_failed_but_apply_succeeded_is_failed() {
        let r = with(with(empty(), Apply, done("success")), Plan, done("failure"));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::PlanFailed)
        );
    }

    #[test]
    fn destroy_failed_beats_destroy_stale_and_apply_failed() {
        let r = destroy_triggered(
            with(
                with(empty(), Apply, done("failure")),
                Destroy,
                done("failure"),
            ),
            at(10, 0, 0),
        );
        assert_eq!(failure_cause(&r, now()), Some(FailureCause::DestroyFailed));
    }

    #[test]
    fn stale_destroy_beats_applied() {
        let r = destroy_triggered(
            with(
                with(empty(), Apply, done("success")),
                Destroy,
                run("queued", None),
            ),
            at(11, 0, 0),
        );
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::DestroyStale)
        );
    }

    #[test]
    fn destroying_beats_apply_failed() {
        let r = with(
            with(empty(), Apply, done("failure")),
            Destroy,
            run("in_progress", None),
        );
        assert_eq!(derive_status(&r, now()), Status::Destroying);
    }

    #[test]
    fn apply_failed_beats_plan_failed() {
        let r = with(with(empty(), Plan, done("failure")), Apply, done("failure"));
        assert_eq!(failure_cause(&r, now()), Some(FailureCause::ApplyFailed));
    }

    #[test]
    fn failure_beats_queued_and_queued_beats_applied() {
        let r = queued(with(empty(), Apply, done("failure")), Apply);
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::ApplyFailed)
        );
        let r = queued(with(empty(), Apply, done("success")), Apply);
        assert_eq!(derive_status(&r, now()), Status::Queued);
    }

    #[test]
    fn applying_beats_applied_facts_of_merge_and_approval() {
        let mut r = approved(with(open_pr(empty()), Apply, run("in_progress", None)));
        r.merged_sha = Some("abc".into());
        assert_eq!(derive_status(&r, now()), Status::Applying);
    }

    #[test]
    fn merged_beats_approved_and_approved_beats_plan_ready() {
        let mut r = approved(with(open_pr(empty()), Plan, done("success")));
        assert_eq!(derive_status(&r, now()), Status::Approved);
        r.merged_sha = Some("abc".into());
        assert_eq!(derive_status(&r, now()), Status::Merged);
    }

    #[test]
    fn plan_ready_beats_open_pr_and_cancelled_plan_fails() {
        let r = with(open_pr(empty()), Plan, done("success"));
        assert_eq!(derive_status(&r, now()), Status::PlanReady);
        let r = with(open_pr(empty()), Plan, done("cancelled"));
        assert_eq!(failure_cause(&r, now()), Some(FailureCause::PlanFailed));
        // A skipped plan is neither success nor failure: the open PR decides.
        let r = with(open_pr(empty()), Plan, done("skipped"));
        assert_eq!(derive_status(&r, now()), Status::Planning);
    }

    #[test]
    fn legacy_runs_count() {
        let mut r = empty();
        r.destroy_run = Some(done("success"));
        assert_eq!(derive_status(&r, now()), Status::Destroyed);
    }

    #[test]
    fn seed_example_is_plan_ready() {
        let r: Request =
            serde_json::from_str(include_str!("../../fixtures/requests/seed-example.json"))
                .expect("seed parses");
        assert_eq!(derive_status(&r, now()), Status::PlanReady);
    }

    #[test]
    fn plan_is_stale_after_new_commits() {
        let mut facts = done("success");
        facts.head_sha = Some("h1".into());
        let mut r = with(open_pr(empty()), Plan, facts);
        assert!(!is_plan_stale(&r), "no PR head known yet");
        if let Some(pr) = r.github_mut().pr.as_mut() {
            pr.head_sha = Some("h1".into());
        }
        assert!(!is_plan_stale(&r));
        if let Some(pr) = r.github_mut().pr.as_mut() {
            pr.head_sha = Some("h2".into());
        }
        assert!(is_plan_stale(&r));
        // The seed example's plan ran on its PR head.
        let seed: Request =
            serde_json::from_str(include_str!("../../fixtures/requests/seed-example.json"))
                .expect("seed parses");
        assert!(!is_plan_stale(&seed));
    }

    #[test]
    fn names_are_snake_case() {
        let all = [
            (Status::RequestCreated, "request_created"),
            (Status::Planning, "planning"),
            (Status::PlanReady, "plan_ready"),
            (Status::Approved, "approved"),
            (Status::Merged, "merged"),
            (Status::Queued, "queued"),
            (Status::Applying, "applying"),
            (Status::Applied, "applied"),
            (Status::Destroying, "destroying"),
            (Status::Destroyed, "destroyed"),
            (Status::Failed(FailureCause::PlanFailed), "failed"),
        ];
        for (s, name) in all {
            assert_eq!(s.as_str(), name);
            assert_eq!(serde_json::to_value(s).expect("json"), name);
        }
        assert_eq!(FailureCause::DestroyStale.as_str(), "destroy_stale");
        assert_eq!(FailureCause::DestroyFailed.as_str(), "destroy_failed");
        assert_eq!(FailureCause::ApplyFailed.as_str(), "apply_failed");
        assert_eq!(FailureCause::PlanFailed.as_str(), "plan_failed");
        assert_eq!(FailureCause::PlanChanged.as_str(), "plan_changed");
    }

    fn apply_plan(run_id: u64, matched: Option<bool>) -> ApplyPlanFacts {
        ApplyPlanFacts {
            run_id,
            run_attempt: None,
            read_at: None,
            expected: None,
            fingerprint: None,
            matched,
            summary: None,
            omitted_changes: 0,
            unreadable: None,
            shown_at: None,
            extra: Default::default(),
        }
    }

    #[test]
    fn an_apply_refused_on_a_changed_plan_says_so() {
        let mut r = with(empty(), Apply, done("failure"));
        r.apply_plan = Some(apply_plan(1, Some(false)));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::PlanChanged)
        );
        assert!(plan_change(&r).is_some());
        // The apply failed for another reason: the plan it made was the expected one.
        r.apply_plan = Some(apply_plan(1, Some(true)));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::ApplyFailed)
        );
        // The fact is about an earlier apply run: the tracked one failed otherwise.
        r.apply_plan = Some(apply_plan(9, Some(false)));
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::ApplyFailed)
        );
        // A new apply is running: the old refusal no longer decides the status.
        let mut running = with(empty(), Apply, run("in_progress", None));
        running.apply_plan = Some(apply_plan(1, Some(false)));
        assert_eq!(derive_status(&running, now()), Status::Applying);
        assert!(plan_change(&running).is_none());
    }
}
