//! A whole request lifecycle through the pure core: facts in, derived status out.
//!
//! Starts from the seed's example document (legacy fields only) and walks it through
//! new commits, re-plan, approval, merge, a queued apply, apply and destroy, checking
//! the status a user would see at each step and that duplicates never cause a write.

use chrono::{DateTime, Duration, TimeZone, Utc};
use tfpilot::core::patch::{
    ApprovalRule, PrUpdate, ReviewUpdate, RunUpdate, patch_pr, patch_review, patch_workflow_run,
    record_dispatch, set_queued,
};
use tfpilot::core::request::{Request, ReviewState, RunStatus, WorkflowKind};
use tfpilot::core::status::{Status, derive_status, is_plan_stale};

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid time")
        + Duration::minutes(min)
}

fn seed() -> Request {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/requests/seed-example.json"
    ))
    .expect("fixture present");
    serde_json::from_str(&text).expect("seed parses")
}

fn run_event(
    id: u64,
    kind: WorkflowKind,
    nonce: &str,
    status: &str,
    conclusion: Option<&str>,
    min: i64,
) -> RunUpdate {
    RunUpdate {
        id,
        status: RunStatus::parse(status),
        conclusion: conclusion.map(str::to_string),
        updated_at: t(min),
        run_attempt: 1,
        head_sha: Some("h2".into()),
        html_url: Some(format!("https://github.com/o/r/actions/runs/{id}")),
        name: Some(format!("tfpilot {kind}")),
        display_title: Some(format!("tfpilot {kind} req_dev_s3_tgqpp8 {nonce}")),
    }
}

fn pr_event(head: &str, open: bool, merged: bool, min: i64) -> PrUpdate {
    PrUpdate {
        number: 223,
        url: None,
        title: None,
        head_sha: Some(head.into()),
        base_ref: Some("main".into()),
        open,
        merged,
        merge_commit_sha: merged.then(|| "m3rg3".to_string()),
        updated_at: t(min),
        actor: Some("giuseppe-moffa".into()),
    }
}

/// Applies a patch that must change the document, and checks that applying the
/// same event again does not (no write, no render, no event).
fn step(r: &Request, patch: impl Fn(&Request) -> Option<Request>) -> Request {
    let next = patch(r).expect("the event changes the facts");
    assert_eq!(patch(&next), None, "a duplicate event must not write");
    next
}

#[test]
fn seed_request_walks_the_whole_lifecycle() {
    let rule = ApprovalRule::default();
    let mut r = seed();
    r.requester = Some("giuseppe-moffa".into());
    assert_eq!(derive_status(&r, t(0)), Status::PlanReady);

    // New commits: the plan is stale, tfpilot re-plans.
    r = step(&r, |r| patch_pr(r, &pr_event("h2", true, false, 1), &rule));
    assert!(is_plan_stale(&r));
    r = step(&r, |r| {
        record_dispatch(r, WorkflowKind::Plan, "p2", t(2), None)
    });
    assert_eq!(derive_status(&r, t(2)), Status::Planning);
    let plan = |s, c, m| run_event(501, WorkflowKind::Plan, "p2", s, c, m);
    r = step(&r, |r| {
        patch_workflow_run(r, WorkflowKind::Plan, &plan("in_progress", None, 3))
    });
    r = step(&r, |r| {
        patch_workflow_run(
            r,
            WorkflowKind::Plan,
            &plan("completed", Some("success"), 5),
        )
    });
    // A late "in_progress" after completion changes nothing.
    assert_eq!(
        patch_workflow_run(&r, WorkflowKind::Plan, &plan("in_progress", None, 4)),
        None
    );
    assert_eq!(derive_status(&r, t(5)), Status::PlanReady);
    assert!(!is_plan_stale(&r));

    // The requester's own approval does not count; a colleague's does.
    let review = |who: &str, min| ReviewUpdate {
        reviewer: who.into(),
        state: ReviewState::Approved,
        commit_id: Some("h2".into()),
        submitted_at: t(min),
    };
    r = step(&r, |r| patch_review(r, &review("giuseppe-moffa", 6), &rule));
    assert_eq!(derive_status(&r, t(6)), Status::PlanReady);
    r = step(&r, |r| patch_review(r, &review("colleague", 7), &rule));
    assert_eq!(derive_status(&r, t(7)), Status::Approved);

    // Merge records the merge commit.
    r = step(&r, |r| patch_pr(r, &pr_event("h2", false, true, 8), &rule));
    assert_eq!(r.merged_sha.as_deref(), Some("m3rg3"));
    assert_eq!(derive_status(&r, t(8)), Status::Merged);

    // The environment is busy: the apply queues, then is dispatched.
    r = step(&r, |r| set_queued(r, WorkflowKind::Apply, t(9)));
    assert_eq!(derive_status(&r, t(9)), Status::Queued);
    r = step(&r, |r| {
        record_dispatch(r, WorkflowKind::Apply, "a1", t(12), Some(601))
    });
    assert!(r.queued().is_none());
    assert_eq!(derive_status(&r, t(12)), Status::Applying);
    let apply = |s, c, m| run_event(601, WorkflowKind::Apply, "a1", s, c, m);
    r = step(&r, |r| {
        patch_workflow_run(
            r,
            WorkflowKind::Apply,
            &apply("completed", Some("success"), 15),
        )
    });
    assert_eq!(derive_status(&r, t(15)), Status::Applied);

    // Destroy: destroying, stale after 15 minutes without news, destroyed when it ends.
    r = step(&r, |r| {
        record_dispatch(r, WorkflowKind::Destroy, "d1", t(20), None)
    });
    assert_eq!(derive_status(&r, t(34)), Status::Destroying);
    assert_eq!(derive_status(&r, t(36)).as_str(), "failed");
    let destroy = |s, c, m| run_event(701, WorkflowKind::Destroy, "d1", s, c, m);
    r = step(&r, |r| {
        patch_workflow_run(
            r,
            WorkflowKind::Destroy,
            &destroy("completed", Some("success"), 40),
        )
    });
    assert_eq!(derive_status(&r, t(41)), Status::Destroyed);

    // Nothing was lost from the seed document on the way.
    let original: serde_json::Value = serde_json::to_value(seed()).expect("json");
    let now: serde_json::Value = serde_json::to_value(&r).expect("json");
    for key in [
        "planRun",
        "pr",
        "pullRequest",
        "assistant_state",
        "moduleRef",
        "config",
    ] {
        assert_eq!(original[key], now[key], "{key} changed");
    }
    assert!(now["timeline"].as_array().is_some_and(|t| t.len() >= 10));
    assert_eq!(now["github"]["workflows"]["apply"]["runId"], 601);
}
