//! Request documents in every derived status, for the render tests.
//!
//! Each one is the same request walked further along its lifecycle, built from facts
//! only; `case()` checks that the facts really derive the status it is named after.

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use tfpilot::core::cost::CostEstimate;
use tfpilot::core::fingerprint::Fingerprint;
use tfpilot::core::ids::RequestId;
use tfpilot::core::plan::{
    ActionCounts, ChangeAction, PlanLine, PlanSummary, ReplaceOrder, ResourceChangeSummary,
};
use tfpilot::core::request::{
    ApplyPlanFacts, Approval, DriftFacts, Extra, PrFacts, QueueFact, Request, RunFacts, RunStatus,
    TimelineEntry, WorkflowKind,
};
use tfpilot::core::status::{FailureCause, Status, derive_status};
use tfpilot::render::{EnvPolicy, LockView, StickyInput};

pub const ID: &str = "req_dev_s3_tgqpp8";
pub const REPO: &str = "https://github.com/acme/infra";
pub const HEAD: &str = "c02cef273d1a05b15dc52c354a3e1db53de23dc3";
pub const MERGE: &str = "9f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6";
pub const FINGERPRINT: &str =
    "sha256:4f2a9c0d1e8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7";

/// 2026-03-01 09:00 UTC plus `min` minutes.
pub fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0)
        .single()
        .expect("valid time")
        + Duration::minutes(min)
}

/// "Now" for every case: after the last event of any case.
pub fn now() -> DateTime<Utc> {
    t(120)
}

fn run(id: u64, status: &str, conclusion: Option<&str>, min: i64) -> RunFacts {
    RunFacts {
        run_id: Some(id),
        status: Some(RunStatus::parse(status)),
        conclusion: conclusion.map(str::to_string),
        head_sha: Some(HEAD.to_string()),
        url: Some(format!("{REPO}/actions/runs/{id}")),
        updated_at: Some(t(min)),
        run_attempt: Some(1),
        triggered_at: Some(t(min - 1)),
        nonce: None,
        extra: Extra::new(),
    }
}

fn note(r: &mut Request, min: i64, what: &str, who: &str) {
    r.push_timeline(TimelineEntry {
        at: Some(t(min)),
        what: what.to_string(),
        who: Some(who.to_string()),
        extra: Extra::new(),
    });
}

fn set_run(r: &mut Request, kind: WorkflowKind, facts: RunFacts) {
    *r.github_mut().workflows.slot(kind) = Some(facts);
}

/// A request whose issue was accepted; no PR yet.
pub fn created() -> Request {
    let id = RequestId::parse(ID).expect("valid id");
    let mut r = Request::new(&id);
    r.requester = Some("alice".into());
    r.issue_number = Some(41);
    r.environment = Some("dev".into());
    r.module = Some("s3-bucket".into());
    r.branch_name = Some(format!("request/{ID}"));
    r.target_owner = Some("acme".into());
    r.target_repo = Some("infra".into());
    note(&mut r, 0, "request created from issue #41", "alice");
    r
}

/// The PR is open and the plan runs.
pub fn planning() -> Request {
    let mut r = created();
    let mut pr = PrFacts::new(223);
    pr.url = Some(format!("{REPO}/pull/223"));
    pr.head_sha = Some(HEAD.to_string());
    pr.open = true;
    r.github_mut().pr = Some(pr);
    note(&mut r, 1, "pull request #223 opened", "tfpilot");
    set_run(
        &mut r,
        WorkflowKind::Plan,
        run(1001, "in_progress", None, 2),
    );
    note(&mut r, 2, "plan dispatched", "tfpilot");
    r
}

/// The plan succeeded.
pub fn plan_ready() -> Request {
    let mut r = planning();
    set_run(
        &mut r,
        WorkflowKind::Plan,
        run(1001, "completed", Some("success"), 6),
    );
    note(&mut r, 6, "plan run 1001 completed (success)", "tfpilot");
    r
}

/// Bob approved.
pub fn approved() -> Request {
    let mut r = plan_ready();
    r.approval = Some(Approval {
        approved: true,
        approvers: vec!["bob".into()],
        ..Approval::default()
    });
    note(&mut r, 10, "approved", "bob");
    r
}

/// The PR merged.
pub fn merged() -> Request {
    let mut r = approved();
    if let Some(pr) = r.github_mut().pr.as_mut() {
        pr.open = false;
        pr.merged = true;
    }
    r.merged_sha = Some(MERGE.to_string());
    note(&mut r, 12, "pull request merged", "bob");
    r
}

/// The apply waits for the environment lock.
pub fn queued() -> Request {
    let mut r = merged();
    r.github_mut().queued = Some(QueueFact {
        kind: WorkflowKind::Apply,
        since: t(13),
        extra: Extra::new(),
    });
    note(
        &mut r,
        13,
        "apply queued behind req_dev_vpc_a1b2c3",
        "alice",
    );
    r
}

/// The apply runs.
pub fn applying() -> Request {
    let mut r = merged();
    set_run(
        &mut r,
        WorkflowKind::Apply,
        run(2002, "in_progress", None, 20),
    );
    note(&mut r, 19, "apply dispatched", "alice");
    r
}

/// The apply succeeded.
pub fn applied() -> Request {
    let mut r = applying();
    set_run(
        &mut r,
        WorkflowKind::Apply,
        run(2002, "completed", Some("success"), 25),
    );
    note(&mut r, 25, "apply run 2002 completed (success)", "tfpilot");
    r
}

/// The destroy runs (dispatched five minutes before `now`).
pub fn destroying() -> Request {
    let mut r = applied();
    set_run(
        &mut r,
        WorkflowKind::Destroy,
        run(3003, "in_progress", None, 116),
    );
    r.github_mut().destroy_triggered_at = Some(t(115));
    note(&mut r, 115, "destroy dispatched", "alice");
    r
}

/// The destroy succeeded; the cleanup PR is open.
pub fn destroyed() -> Request {
    let mut r = destroying();
    set_run(
        &mut r,
        WorkflowKind::Destroy,
        run(3003, "completed", Some("success"), 118),
    );
    let mut cleanup = PrFacts::new(230);
    cleanup.open = true;
    cleanup.url = Some(format!("{REPO}/pull/230"));
    r.github_mut().cleanup_pr = Some(cleanup);
    note(
        &mut r,
        118,
        "destroy run 3003 completed (success)",
        "tfpilot",
    );
    note(&mut r, 119, "cleanup pull request #230 opened", "tfpilot");
    r
}

/// The plan failed.
pub fn plan_failed() -> Request {
    let mut r = planning();
    set_run(
        &mut r,
        WorkflowKind::Plan,
        run(1001, "completed", Some("failure"), 6),
    );
    note(&mut r, 6, "plan run 1001 completed (failure)", "tfpilot");
    r
}

/// The apply failed.
pub fn apply_failed() -> Request {
    let mut r = applying();
    set_run(
        &mut r,
        WorkflowKind::Apply,
        run(2002, "completed", Some("failure"), 25),
    );
    note(&mut r, 25, "apply run 2002 completed (failure)", "tfpilot");
    r
}

/// The fingerprint of the plan an apply found at apply time in [`plan_changed`].
pub const NEW_FINGERPRINT: &str =
    "sha256:b7e1c2d3a4f5061728394a5b6c7d8e9f00112233445566778899aabbccddeeff";

/// The plan at apply time in [`plan_changed`]: the reviewed bucket and ACL
/// replacement, but the policy update gone and a public access block added.
pub fn apply_time_plan() -> PlanSummary {
    let m = format!("module.tfpilot_{ID}");
    let mut acl = change(
        &format!("{m}.aws_s3_bucket_acl.this"),
        ChangeAction::Replace(ReplaceOrder::DeleteThenCreate),
    );
    acl.action_reason = Some("replace_because_cannot_update".into());
    summary_of(
        vec![
            change(&format!("{m}.aws_s3_bucket.this"), ChangeAction::Create),
            acl,
            change(
                &format!("{m}.aws_s3_bucket_public_access_block.this"),
                ChangeAction::Create,
            ),
        ],
        PlanLine {
            import: 0,
            add: 3,
            change: 0,
            destroy: 1,
        },
    )
}

/// The apply refused: the plan at apply time differs from the reviewed one.
pub fn plan_changed() -> Request {
    let mut r = apply_failed();
    r.apply_plan = Some(ApplyPlanFacts {
        run_id: 2002,
        run_attempt: Some(1),
        read_at: Some(t(26)),
        expected: Some(FINGERPRINT.into()),
        fingerprint: Some(Fingerprint::parse(NEW_FINGERPRINT).expect("valid")),
        matched: Some(false),
        summary: Some(apply_time_plan()),
        omitted_changes: 0,
        unreadable: None,
        shown_at: None,
        extra: Extra::new(),
    });
    note(
        &mut r,
        26,
        "apply run 2002 refused: the plan changed since review (4f2a9c0d1e8b → b7e1c2d3a4f5)",
        "tfpilot",
    );
    r
}

/// The destroy failed.
pub fn destroy_failed() -> Request {
    let mut r = destroying();
    set_run(
        &mut r,
        WorkflowKind::Destroy,
        run(3003, "completed", Some("failure"), 118),
    );
    note(
        &mut r,
        118,
        "destroy run 3003 completed (failure)",
        "tfpilot",
    );
    r
}

/// The destroy was dispatched 30 minutes before `now` and never reported back.
pub fn destroy_stale() -> Request {
    let mut r = applied();
    set_run(&mut r, WorkflowKind::Destroy, run(3003, "queued", None, 90));
    r.github_mut().destroy_triggered_at = Some(t(90));
    note(&mut r, 90, "destroy dispatched", "alice");
    r
}

/// An applied request whose scheduled drift check found changes.
pub fn applied_with_drift() -> Request {
    let mut r = applied();
    set_run(
        &mut r,
        WorkflowKind::DriftPlan,
        run(4004, "completed", Some("success"), 100),
    );
    r.drift = Some(DriftFacts {
        checked_at: Some(t(100)),
        drifted: true,
        run_id: Some(4004),
        changes: Some(2),
        ..DriftFacts::default()
    });
    r
}

/// Every case: a name, the facts, and the status they must derive.
pub fn cases() -> Vec<(&'static str, Request, Status)> {
    vec![
        ("request_created", created(), Status::RequestCreated),
        ("planning", planning(), Status::Planning),
        ("plan_ready", plan_ready(), Status::PlanReady),
        ("approved", approved(), Status::Approved),
        ("merged", merged(), Status::Merged),
        ("queued", queued(), Status::Queued),
        ("applying", applying(), Status::Applying),
        ("applied", applied(), Status::Applied),
        ("destroying", destroying(), Status::Destroying),
        ("destroyed", destroyed(), Status::Destroyed),
        (
            "failed_plan_failed",
            plan_failed(),
            Status::Failed(FailureCause::PlanFailed),
        ),
        (
            "failed_apply_failed",
            apply_failed(),
            Status::Failed(FailureCause::ApplyFailed),
        ),
        (
            "failed_plan_changed",
            plan_changed(),
            Status::Failed(FailureCause::PlanChanged),
        ),
        (
            "failed_destroy_failed",
            destroy_failed(),
            Status::Failed(FailureCause::DestroyFailed),
        ),
        (
            "failed_destroy_stale",
            destroy_stale(),
            Status::Failed(FailureCause::DestroyStale),
        ),
    ]
}

pub fn change(address: &str, action: ChangeAction) -> ResourceChangeSummary {
    ResourceChangeSummary {
        address: address.to_string(),
        module_address: Some(format!("module.tfpilot_{ID}")),
        data_source: false,
        deposed: None,
        action,
        previous_address: None,
        importing: None,
        action_reason: None,
        sensitive: false,
    }
}

/// A plan summary with the counts of `changes` filled in.
pub fn summary_of(changes: Vec<ResourceChangeSummary>, line: PlanLine) -> PlanSummary {
    let mut counts = ActionCounts::default();
    for c in &changes {
        match c.action {
            ChangeAction::Create => counts.create += 1,
            ChangeAction::Update => counts.update += 1,
            ChangeAction::Delete => counts.delete += 1,
            ChangeAction::Replace(_) => counts.replace += 1,
            ChangeAction::NoOp => counts.no_op += 1,
            ChangeAction::Read => counts.read += 1,
            ChangeAction::Forget => counts.forget += 1,
            ChangeAction::Other(_) => counts.other += 1,
        }
    }
    PlanSummary {
        format_version: "1.2".into(),
        terraform_version: Some("1.15.5".into()),
        applyable: Some(true),
        complete: Some(true),
        errored: false,
        counts,
        plan_line: line,
        nothing_to_show: false,
        resource_changes: changes,
        outputs: Vec::new(),
        drift: Vec::new(),
        deferred: Vec::new(),
        action_invocations: 0,
    }
}

/// A small plan: a bucket created, its policy updated (sensitive), its ACL replaced,
/// one unchanged resource.
pub fn small_plan() -> PlanSummary {
    let m = format!("module.tfpilot_{ID}");
    let mut policy = change(
        &format!("{m}.aws_s3_bucket_policy.this"),
        ChangeAction::Update,
    );
    policy.sensitive = true;
    let mut acl = change(
        &format!("{m}.aws_s3_bucket_acl.this"),
        ChangeAction::Replace(ReplaceOrder::DeleteThenCreate),
    );
    acl.action_reason = Some("replace_because_cannot_update".into());
    summary_of(
        vec![
            change(&format!("{m}.aws_s3_bucket.this"), ChangeAction::Create),
            policy,
            acl,
            change(
                &format!("{m}.aws_s3_bucket_versioning.this"),
                ChangeAction::NoOp,
            ),
        ],
        PlanLine {
            import: 0,
            add: 2,
            change: 1,
            destroy: 1,
        },
    )
}

/// A plan creating `n` objects with long addresses.
pub fn big_plan(n: usize) -> PlanSummary {
    summary_of(
        (0..n)
            .map(|i| {
                change(
                    &format!(
                        "module.tfpilot_{ID}.aws_s3_object.assets[\"static/build/chunk-{i:05}.js\"]"
                    ),
                    ChangeAction::Create,
                )
            })
            .collect(),
        PlanLine {
            add: n,
            ..PlanLine::default()
        },
    )
}

/// The cost estimate shown with the plan: $0.00 → $23.40.
pub fn cost() -> CostEstimate {
    CostEstimate::from_json(
        r#"{"version":"0.2","currency":"USD","projects":[],
            "pastTotalMonthlyCost":"0","totalMonthlyCost":"23.4","diffTotalMonthlyCost":"23.4"}"#,
    )
    .expect("infracost sample parses")
}

/// The plan fingerprint shown next to the summary.
pub fn fingerprint() -> Fingerprint {
    Fingerprint::parse(FINGERPRINT).expect("valid fingerprint")
}

/// The lock as a queued request sees it.
pub fn lock() -> LockView {
    LockView {
        holder: Some("req_dev_vpc_a1b2c3".into()),
        queue_position: Some(2),
        queue_length: Some(3),
    }
}

/// The environment's policy for these cases.
pub fn policy() -> EnvPolicy {
    EnvPolicy {
        required_approvals: Some(1),
        auto_apply: false,
        protected: false,
    }
}

/// The sticky input for a case, with the plan, cost and lock a service would pass.
pub fn input<'a>(
    request: &'a Request,
    plan: &'a PlanSummary,
    cost: &'a CostEstimate,
    lock: &'a LockView,
) -> StickyInput<'a> {
    StickyInput {
        request,
        now: now(),
        plan: Some(plan),
        cost: Some(cost),
        fingerprint: Some(fingerprint_ref()),
        lock: Some(lock),
        policy: policy(),
        repo_url: Some(REPO),
    }
}

/// Asserts the facts derive the expected status (so a snapshot is of what it says).
pub fn check_status(name: &str, r: &Request, expected: Status) {
    assert_eq!(derive_status(r, now()), expected, "case {name}");
}

/// A fingerprint that lives as long as the test binary, for `StickyInput`.
pub fn fingerprint_ref() -> &'static Fingerprint {
    static FP: std::sync::OnceLock<Fingerprint> = std::sync::OnceLock::new();
    FP.get_or_init(fingerprint)
}
