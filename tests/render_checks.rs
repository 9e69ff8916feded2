//! Check-run payloads: GitHub's limits on buttons and text, which buttons each status
//! allows, the plan check's progress, and the JSON field names GitHub expects.

mod render_support;

use render_support as s;
use serde_json::json;
use tfpilot::core::request::{RunFacts, RunStatus, WorkflowKind};
use tfpilot::core::status::{FailureCause, Status};
use tfpilot::render::check::{
    MAX_ACTION_DESCRIPTION, MAX_ACTION_IDENTIFIER, MAX_ACTION_LABEL, MAX_ACTIONS,
};
use tfpilot::render::{
    CHECK_TEXT_LIMIT, CheckActionId, CheckConclusion, CheckStatus, LIFECYCLE_CHECK_NAME,
    PLAN_CHECK_NAME, allowed_actions, headline, lifecycle_check, marker, plan_check,
    sticky_comment,
};

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn ids(actions: &[tfpilot::render::CheckAction]) -> Vec<&str> {
    actions.iter().map(|a| a.identifier.as_str()).collect()
}

#[test]
fn every_button_fits_githubs_limits() {
    for a in CheckActionId::ALL {
        let b = a.action();
        assert!(chars(&b.label) <= MAX_ACTION_LABEL, "{b:?}");
        assert!(chars(&b.description) <= MAX_ACTION_DESCRIPTION, "{b:?}");
        assert!(chars(&b.identifier) <= MAX_ACTION_IDENTIFIER, "{b:?}");
        assert_eq!(CheckActionId::parse(&b.identifier), Some(a));
    }
    assert_eq!(
        CheckActionId::ALL.map(|a| a.action().label),
        ["Plan again", "Apply", "Sync"].map(String::from)
    );
    assert_eq!(CheckActionId::parse("destroy"), None);
}

#[test]
fn each_status_offers_exactly_the_buttons_it_allows() {
    let expected: &[(&str, &[&str])] = &[
        ("request_created", &[]),
        ("planning", &["sync"]),
        ("plan_ready", &["plan"]),
        ("approved", &["plan"]),
        ("merged", &["apply"]),
        ("queued", &[]),
        ("applying", &["sync"]),
        ("applied", &[]),
        ("destroying", &["sync"]),
        ("destroyed", &[]),
        ("failed_plan_failed", &["plan"]),
        ("failed_apply_failed", &["apply"]),
        ("failed_plan_changed", &["apply"]),
        ("failed_destroy_failed", &[]),
        ("failed_destroy_stale", &["sync"]),
    ];
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let cases = s::cases();
    assert_eq!(cases.len(), expected.len());
    for ((name, request, status), (ename, eids)) in cases.iter().zip(expected) {
        assert_eq!(name, ename);
        s::check_status(name, request, *status);
        let check = lifecycle_check(&s::input(request, &plan, &cost, &lock), s::HEAD);
        assert!(check.actions.len() <= MAX_ACTIONS, "{name}");
        for a in &check.actions {
            assert!(chars(&a.label) <= MAX_ACTION_LABEL, "{name}");
            assert!(chars(&a.description) <= MAX_ACTION_DESCRIPTION, "{name}");
            assert!(chars(&a.identifier) <= MAX_ACTION_IDENTIFIER, "{name}");
        }
        assert_eq!(ids(&check.actions), *eids, "{name}");
    }
}

#[test]
fn apply_is_never_offered_without_a_merge_and_a_good_plan() {
    for (name, request, status) in s::cases() {
        let offered = allowed_actions(status, &request).contains(&CheckActionId::Apply);
        let plan_ok = request
            .run(WorkflowKind::Plan)
            .is_some_and(|r| r.succeeded());
        if offered {
            assert!(request.is_merged() && plan_ok, "{name}");
            assert!(
                matches!(
                    status,
                    Status::Merged
                        | Status::Failed(FailureCause::ApplyFailed)
                        | Status::Failed(FailureCause::PlanChanged)
                ),
                "{name}"
            );
        }
    }
    // Merged, but the plan ran on an older commit than the one merged.
    let mut r = s::merged();
    if let Some(pr) = r.github_mut().pr.as_mut() {
        pr.head_sha = Some("fffffff0000000".into());
    }
    assert_eq!(allowed_actions(Status::Merged, &r), vec![]);
    // Merged, but the plan never succeeded.
    let mut r = s::merged();
    *r.github_mut().workflows.slot(WorkflowKind::Plan) = Some(RunFacts {
        run_id: Some(9),
        status: Some(RunStatus::Completed),
        conclusion: Some("skipped".into()),
        ..RunFacts::default()
    });
    assert!(!allowed_actions(Status::Merged, &r).contains(&CheckActionId::Apply));
}

#[test]
fn plan_again_is_never_offered_on_a_merged_or_closed_pr_or_while_planning() {
    for (name, request, status) in s::cases() {
        let offered = allowed_actions(status, &request).contains(&CheckActionId::Plan);
        if offered {
            let pr = request.pr().expect("a PR");
            assert!(pr.open && !pr.merged, "{name}");
            assert!(
                !request
                    .run(WorkflowKind::Plan)
                    .is_some_and(|r| r.is_active()),
                "{name}"
            );
        }
    }
    let mut r = s::plan_ready();
    if let Some(pr) = r.github_mut().pr.as_mut() {
        pr.open = false;
    }
    assert_eq!(allowed_actions(Status::PlanReady, &r), vec![]);
}

#[test]
fn the_lifecycle_check_carries_the_status_and_the_comment() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    for (name, request, status) in s::cases() {
        let input = s::input(&request, &plan, &cost, &lock);
        let check = lifecycle_check(&input, s::HEAD);
        assert_eq!(check.name, LIFECYCLE_CHECK_NAME);
        assert_eq!(check.head_sha, s::HEAD);
        assert_eq!(check.external_id, s::ID);
        assert_eq!(check.output.title, headline(status), "{name}");
        // The summary is the comment's content, without the marker.
        let comment = sticky_comment(&input);
        let content = comment
            .strip_prefix(&format!("{}\n", marker(s::ID)))
            .expect("marker first");
        assert_eq!(check.output.summary, content, "{name}");
        assert!(!check.output.summary.contains("<!--"));
        assert_eq!(check.status, CheckStatus::Completed, "{name}");
        let want = match status {
            Status::Failed(_) => CheckConclusion::Failure,
            Status::Applied | Status::Destroyed => CheckConclusion::Success,
            _ => CheckConclusion::Neutral,
        };
        assert_eq!(check.conclusion, Some(want), "{name}");
    }
}

#[test]
fn the_lifecycle_summary_stays_under_the_check_limit() {
    let plan = s::big_plan(3_000);
    let (cost, lock) = (s::cost(), s::lock());
    let request = s::plan_ready();
    let check = lifecycle_check(&s::input(&request, &plan, &cost, &lock), s::HEAD);
    assert!(chars(&check.output.summary) <= CHECK_TEXT_LIMIT);
    assert!(check.output.summary.contains("**Next step:**"));
    assert!(check.output.summary.contains("more; full plan in the run"));
}

#[test]
fn the_plan_check_follows_the_plan_run() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());

    // Nothing dispatched yet: queued.
    let r = s::created();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert_eq!((c.status, c.conclusion), (CheckStatus::Queued, None));

    // Running: in progress, linked to the run.
    let r = s::planning();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert_eq!((c.status, c.conclusion), (CheckStatus::InProgress, None));
    assert_eq!(
        c.details_url.as_deref(),
        Some("https://github.com/acme/infra/actions/runs/1001")
    );

    // Succeeded: the plan summary as output, addresses as text.
    let r = s::plan_ready();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert_eq!(
        (c.status, c.conclusion),
        (CheckStatus::Completed, Some(CheckConclusion::Success))
    );
    assert_eq!(c.name, PLAN_CHECK_NAME);
    assert_eq!(c.output.title, "Plan: 2 to add, 1 to change, 1 to destroy.");
    assert!(c.output.summary.contains("| ➕ `create` | 1 |"));
    assert!(c.output.summary.contains("fingerprint `4f2a9c0d1e8b`"));
    let text = c.output.text.as_deref().expect("addresses");
    assert!(text.contains("aws_s3_bucket_acl.this"));
    assert!(!text.contains("<details>"));
    assert!(c.actions.is_empty());
    insta::assert_json_snapshot!("plan_check_success", c);

    // Failed.
    let r = s::plan_failed();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert_eq!(c.conclusion, Some(CheckConclusion::Failure));
    assert_eq!(c.output.title, "Plan failed");
    assert_eq!(c.output.text, None);

    // Skipped stays skipped (neither a pass nor a failure of the plan).
    let mut r = s::plan_ready();
    if let Some(run) = r.github_mut().workflows.slot(WorkflowKind::Plan).as_mut() {
        run.conclusion = Some("skipped".into());
    }
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert_eq!(c.conclusion, Some(CheckConclusion::Skipped));
}

#[test]
fn a_plan_of_another_commit_does_not_pass_this_one() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let r = s::plan_ready();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), "0123456789abcdef");
    assert_eq!((c.status, c.conclusion), (CheckStatus::Queued, None));
    assert_eq!(c.head_sha, "0123456789abcdef");
}

#[test]
fn a_huge_plan_fits_the_check_text() {
    let plan = s::big_plan(3_000);
    let (cost, lock) = (s::cost(), s::lock());
    let r = s::plan_ready();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert!(chars(&c.output.summary) <= CHECK_TEXT_LIMIT);
    let text = c.output.text.expect("addresses");
    assert!(chars(&text) <= CHECK_TEXT_LIMIT);
    assert!(chars(&text) > CHECK_TEXT_LIMIT - 1_000);
    assert!(text.contains(
        "more; full plan in the run: [plan run](https://github.com/acme/infra/actions/runs/1001)"
    ));
}

#[test]
fn payloads_use_githubs_field_names() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let r = s::merged();
    let c = lifecycle_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    let v = serde_json::to_value(&c).expect("json");
    let keys: Vec<&str> = v
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "head_sha",
            "status",
            "conclusion",
            "external_id",
            "details_url",
            "output",
            "actions"
        ]
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(v["conclusion"], "neutral");
    assert_eq!(v["details_url"], "https://github.com/acme/infra/pull/223");
    assert_eq!(
        v["actions"],
        json!([{"label": "Apply", "description": "Apply the merged, planned change", "identifier": "apply"}])
    );
    assert!(v["output"].get("text").is_none());

    // Not completed: no conclusion key at all (GitHub would complete the run).
    let r = s::planning();
    let c = plan_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    let v = serde_json::to_value(&c).expect("json");
    assert_eq!(v["status"], "in_progress");
    assert!(v.get("conclusion").is_none());
}

#[test]
fn the_payload_hash_changes_only_with_the_payload() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let a = lifecycle_check(&s::input(&s::merged(), &plan, &cost, &lock), s::HEAD);
    let b = lifecycle_check(&s::input(&s::merged(), &plan, &cost, &lock), s::HEAD);
    assert_eq!(a.hash(), b.hash());
    let c = lifecycle_check(&s::input(&s::applying(), &plan, &cost, &lock), s::HEAD);
    assert_ne!(a.hash(), c.hash());
}

/// When the next step tells people to press a button, that button is there.
#[test]
fn buttons_named_in_the_next_step_are_offered() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let mut cases = s::cases();
    let mut stale = s::merged();
    if let Some(pr) = stale.github_mut().pr.as_mut() {
        pr.head_sha = Some("fffffff0000000".into());
    }
    cases.push(("merged_stale_plan", stale, Status::Merged));
    let mut named = 0;
    for (name, request, status) in cases {
        let check = lifecycle_check(&s::input(&request, &plan, &cost, &lock), s::HEAD);
        let next = tfpilot::render::next_step(status, &request, &s::policy());
        for (label, id) in [
            ("\"Apply\"", "apply"),
            ("\"Sync\"", "sync"),
            ("\"Plan again\"", "plan"),
        ] {
            if next.contains(&format!("press {label}")) {
                named += 1;
                assert!(ids(&check.actions).contains(&id), "{name}: {next}");
            }
        }
    }
    assert!(named >= 2, "merged and destroy_stale name a button");
}

#[test]
fn the_lifecycle_check_links_the_pull_request() {
    let (plan, cost, lock) = (s::small_plan(), s::cost(), s::lock());
    let mut r = s::plan_ready();
    if let Some(pr) = r.github_mut().pr.as_mut() {
        pr.url = None;
    }
    let c = lifecycle_check(&s::input(&r, &plan, &cost, &lock), s::HEAD);
    assert_eq!(
        c.details_url.as_deref(),
        Some("https://github.com/acme/infra/pull/223")
    );
}

/// `../shared` beside the crate, or `$TFPILOT_SHARED`.
fn shared_dir() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("TFPILOT_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    dir.is_dir().then_some(dir)
}

/// Create and update bodies validate against GitHub's own request schemas (the
/// OpenAPI description's `maxLength`s count characters, as GitHub does).
#[test]
fn payloads_validate_against_githubs_request_schemas() {
    let Some(shared) = shared_dir() else {
        eprintln!(
            "SKIP: ../shared not present; check-run bodies not validated against GitHub's OpenAPI"
        );
        return;
    };
    let text = std::fs::read_to_string(shared.join("fixtures/github/rest-api.subset.json"))
        .expect("rest-api subset readable");
    let spec: serde_json::Value = serde_json::from_str(&text).expect("json");
    let body_schema = |path: &str, method: &str| {
        spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"].clone()
    };
    let create =
        jsonschema::validator_for(&body_schema("/repos/{owner}/{repo}/check-runs", "post"))
            .expect("create schema compiles");
    let update = jsonschema::validator_for(&body_schema(
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        "patch",
    ))
    .expect("update schema compiles");

    let (small, big) = (s::small_plan(), s::big_plan(3_000));
    let (cost, lock) = (s::cost(), s::lock());
    let mut checked = 0;
    for plan in [&small, &big] {
        for (name, request, _) in s::cases() {
            let input = s::input(&request, plan, &cost, &lock);
            for payload in [
                lifecycle_check(&input, s::HEAD),
                plan_check(&input, s::HEAD),
            ] {
                let body = serde_json::to_value(&payload).expect("json");
                let errors: Vec<String> =
                    create.iter_errors(&body).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{name} create: {errors:?}");
                let body = serde_json::to_value(payload.as_update()).expect("json");
                assert!(body.get("head_sha").is_none());
                let errors: Vec<String> =
                    update.iter_errors(&body).map(|e| e.to_string()).collect();
                assert!(errors.is_empty(), "{name} update: {errors:?}");
                checked += 1;
            }
        }
    }
    // Every case, both plans, both check runs.
    assert_eq!(checked, s::cases().len() * 4);
    assert!(checked >= 60, "cases went missing: {checked}");
    // The schema does catch what we guard against: a fourth button, a long label.
    let mut bad = lifecycle_check(&s::input(&s::merged(), &small, &cost, &lock), s::HEAD);
    bad.actions = vec![CheckActionId::Sync.action(); 4];
    bad.actions[0].label = "x".repeat(21);
    assert!(!create.is_valid(&serde_json::to_value(&bad).expect("json")));
}
