//! The reconciler repairs what lost webhooks left behind, through the same
//! patch and render code, and does nothing when nothing is wrong.

use chrono::Duration;

use tfpilot::config::forms::submitted_body;
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::contract::inputs;
use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{Request, WorkflowKind};
use tfpilot::core::status::{Status, derive_status};
use tfpilot::github::Repo;
use tfpilot::harness::{EXAMPLE_CONFIG, Harness, HarnessOptions, INFRA_REPO};
use tfpilot::service::lifecycle::{Started, start_or_queue};
use tfpilot::service::reconcile::pass;
use tfpilot::sim::{CallFault, DeliveryFaults, FaultResponse, Permission};
use tfpilot::store::{Acquire, Thread};

/// A harness whose clock starts at the simulator's (wall-clock) time: "stuck"
/// compares GitHub's run timestamps with tfpilot's now.
async fn start() -> Harness {
    Harness::start(HarnessOptions {
        now: chrono::Utc::now(),
        ..HarnessOptions::default()
    })
    .await
    .unwrap()
}

/// Opens an issue from the form for a `dev` bucket named `name` and lets tfpilot
/// handle it: the issue's number and the id of the request it created.
async fn open_bucket_request(h: &Harness, name: &str) -> (u64, String) {
    let config = RepoConfig::parse(EXAMPLE_CONFIG).unwrap();
    let body = submitted_body(
        &config,
        "s3-bucket",
        &[("Environment", "dev"), ("name", name), ("project", "core")],
    )
    .unwrap();
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "bucket", &body, &["tfpilot-request"])
        .unwrap();
    h.settle().await.unwrap();
    let id = h
        .state
        .service
        .index
        .find(Thread::Issue, "acme", "infra", issue)
        .await
        .unwrap()
        .expect("a request created from the issue");
    (issue, id)
}

/// The number of request `id`'s PR.
async fn pr_of(h: &Harness, id: &str) -> u64 {
    let request = h.state.service.requests.get(id).await.unwrap().unwrap();
    request.pr().expect("a request PR").number
}

#[tokio::test]
async fn a_plan_whose_deliveries_were_lost_is_recovered_and_shown() {
    let h = start().await;
    let (_, id) = open_bucket_request(&h, "acme-lost-hooks").await;
    let svc = &h.state.service;

    // Every delivery from now on is lost; the plan runs and succeeds unseen.
    h.sim.set_delivery_faults(DeliveryFaults {
        drop_rate: 1.0,
        ..DeliveryFaults::default()
    });
    h.run_workflows().await.unwrap();
    let stuck = svc.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(derive_status(&stuck, svc.now()), Status::Planning);

    // Too early: nothing looks stuck yet, nothing is touched.
    let report = pass(svc).await.unwrap();
    assert!(report.synced.is_empty(), "{report:?}");

    h.clock.advance(Duration::minutes(11));
    let report = pass(svc).await.unwrap();
    assert_eq!(report.synced, vec![id.clone()]);
    let repaired = svc.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(derive_status(&repaired, svc.now()), Status::PlanReady);
    let pr = repaired.pr().unwrap().number;
    let bot = h.sim.bot_login();
    let sticky = h
        .sim
        .comments(INFRA_REPO, pr)
        .into_iter()
        .find(|c| c.author == bot)
        .expect("sticky comment");
    assert!(sticky.body.contains("Plan ready"), "{}", sticky.body);

    // A second pass finds nothing to do and calls GitHub for no write.
    let writes_before = h.sim.write_calls().len();
    let report = pass(svc).await.unwrap();
    assert!(
        report.synced.is_empty() && report.rerendered.is_empty(),
        "{report:?}"
    );
    assert_eq!(h.sim.write_calls().len(), writes_before);
}

#[tokio::test]
async fn an_issue_whose_link_to_the_pr_was_never_posted_gets_it() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    // GitHub refuses every new comment while the request is created, and the
    // delivery is not redelivered.
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        1_000,
        FaultResponse::Status(502),
    ));
    let (issue, id) = open_bucket_request(&h, "acme-no-link").await;
    h.sim.clear_call_faults();
    let svc = &h.state.service;
    let bot = h.sim.bot_login();
    let links = || {
        h.sim
            .comments(INFRA_REPO, issue)
            .into_iter()
            .filter(|c| c.author == bot)
            .map(|c| c.body)
            .collect::<Vec<_>>()
    };
    assert!(links().is_empty(), "{:#?}", links());

    let report = pass(svc).await.unwrap();
    assert_eq!(report.issue_comments, vec![id.clone()], "{report:?}");
    let pr = pr_of(&h, &id).await;
    let posted = links();
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert!(
        posted[0].contains(&format!("opened #{pr}")),
        "{}",
        posted[0]
    );

    // Posted once: the next pass reads that and posts nothing.
    let report = pass(svc).await.unwrap();
    assert!(report.issue_comments.is_empty(), "{report:?}");
    assert_eq!(links().len(), 1);
}

/// Two merged requests in `dev`, stored as tfpilot would have them, in a harness
/// whose clock starts at the simulator's (wall-clock) time.
async fn two_merged_requests() -> (Harness, Repo, Request, Request) {
    let h = start().await;
    let head = h
        .sim
        .branches(INFRA_REPO)
        .get("main")
        .cloned()
        .expect("main");
    let mut docs = Vec::new();
    for id in ["req_dev_bucket_aaaaaa", "req_dev_bucket_bbbbbb"] {
        let mut r = Request::new(&RequestId::parse(id).unwrap());
        r.environment = Some("dev".into());
        r.module = Some("s3-bucket".into());
        r.installation_id = Some(h.sim.installation_id());
        r.target_owner = Some("acme".into());
        r.target_repo = Some("infra".into());
        r.target_base = Some("main".into());
        r.merged_sha = Some(head.clone());
        h.state.service.requests.create(&r).await.unwrap();
        docs.push(r);
    }
    let repo = Repo::new(h.sim.installation_id(), "acme", "infra");
    let b = docs.pop().unwrap();
    let a = docs.pop().unwrap();
    (h, repo, a, b)
}

fn applies_of(h: &Harness, id: &str) -> usize {
    h.sim
        .dispatches()
        .iter()
        .filter(|d| {
            d.workflow == "tfpilot-apply.yml"
                && d.inputs.get(inputs::REQUEST_ID).map(String::as_str) == Some(id)
        })
        .count()
}

async fn holder(h: &Harness) -> Option<String> {
    h.state
        .service
        .locks
        .get(("acme", "infra", "dev"))
        .await
        .unwrap()
        .and_then(|d| d.holder)
        .map(|holder| holder.request_id)
}

#[tokio::test]
async fn a_lock_whose_run_ended_unseen_is_released_and_handed_on() {
    let (h, repo, a, b) = two_merged_requests().await;
    let svc = &h.state.service;
    let started = start_or_queue(svc, &repo, &a, WorkflowKind::Apply, "t/a")
        .await
        .unwrap();
    assert!(matches!(started, Started::Dispatched { .. }), "{started:?}");
    let queued = start_or_queue(svc, &repo, &b, WorkflowKind::Apply, "t/b")
        .await
        .unwrap();
    assert!(
        matches!(queued, Started::Queued { position: 1, .. }),
        "{queued:?}"
    );

    // A's apply finishes, and every webhook about it is lost.
    h.sim.set_delivery_faults(DeliveryFaults {
        drop_rate: 1.0,
        ..DeliveryFaults::default()
    });
    h.run_workflows().await.unwrap();
    assert_eq!(holder(&h).await.as_deref(), Some(a.id.as_str()), "stuck");

    let report = pass(svc).await.unwrap();
    assert_eq!(report.released, ["acme/infra/dev"], "{report:?}");
    assert_eq!(holder(&h).await.as_deref(), Some(b.id.as_str()));
    assert_eq!(applies_of(&h, &b.id), 1, "the next in line was started");
    let a_now = svc.requests.get(&a.id).await.unwrap().unwrap();
    assert!(
        a_now
            .run(WorkflowKind::Apply)
            .is_some_and(|r| r.succeeded()),
        "A's facts learned its apply succeeded"
    );

    // Nothing left to repair: B's run is still going.
    let again = pass(svc).await.unwrap();
    assert!(
        again.released.is_empty() && again.redispatched.is_empty(),
        "{again:?}"
    );
    assert_eq!(applies_of(&h, &a.id), 1);
    assert_eq!(applies_of(&h, &b.id), 1);
}

#[tokio::test]
async fn a_holder_whose_dispatch_failed_is_dispatched_again_once() {
    let (h, repo, a, b) = two_merged_requests().await;
    let svc = &h.state.service;
    start_or_queue(svc, &repo, &a, WorkflowKind::Apply, "t/a")
        .await
        .unwrap();
    start_or_queue(svc, &repo, &b, WorkflowKind::Apply, "t/b")
        .await
        .unwrap();
    // A's apply concludes and the lock passes to B, but GitHub refuses B's dispatch.
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
        50,
        FaultResponse::Status(503),
    ));
    h.run_workflows().await.unwrap();
    h.sim.clear_call_faults();
    assert_eq!(holder(&h).await.as_deref(), Some(b.id.as_str()));
    assert_eq!(applies_of(&h, &b.id), 0, "B's dispatch failed");

    // Within the grace period the reconciler leaves the grant alone.
    let early = pass(svc).await.unwrap();
    assert!(early.redispatched.is_empty(), "{early:?}");

    h.clock.advance(Duration::minutes(6));
    let report = pass(svc).await.unwrap();
    assert_eq!(report.redispatched, vec![b.id.clone()], "{report:?}");
    assert_eq!(applies_of(&h, &b.id), 1);
    let b_now = svc.requests.get(&b.id).await.unwrap().unwrap();
    assert!(b_now.run(WorkflowKind::Apply).is_some(), "B tracks its run");

    // Another replica's pass, or the next one: no second run.
    h.clock.advance(Duration::minutes(6));
    let again = pass(svc).await.unwrap();
    assert!(again.redispatched.is_empty(), "{again:?}");
    assert_eq!(applies_of(&h, &b.id), 1);
}

/// A stale copy of a request (read before its apply was recorded) must not make it
/// wait for the lock again, nor have it applied a second time when its turn comes.
#[tokio::test]
async fn an_applied_request_is_never_queued_or_applied_again() {
    let (h, repo, a, b) = two_merged_requests().await;
    let svc = &h.state.service;
    let env = ("acme", "infra", "dev");
    // B applies and finishes; then A takes the lock.
    start_or_queue(svc, &repo, &b, WorkflowKind::Apply, "t/b")
        .await
        .unwrap();
    h.run_workflows().await.unwrap();
    h.settle().await.unwrap();
    let b_now = svc.requests.get(&b.id).await.unwrap().unwrap();
    assert_eq!(derive_status(&b_now, svc.now()), Status::Applied);
    start_or_queue(svc, &repo, &a, WorkflowKind::Apply, "t/a")
        .await
        .unwrap();
    assert_eq!(holder(&h).await.as_deref(), Some(a.id.as_str()));

    // A late attempt judged B's apply on the copy it read before the apply.
    let late = start_or_queue(svc, &repo, &b, WorkflowKind::Apply, "t/b-late")
        .await
        .unwrap();
    assert!(matches!(late, Started::AlreadyDone), "{late:?}");
    let lock = svc.locks.get(env).await.unwrap().unwrap();
    assert!(lock.queue.is_empty(), "B does not wait: {lock:?}");
    let b_now = svc.requests.get(&b.id).await.unwrap().unwrap();
    assert_eq!(derive_status(&b_now, svc.now()), Status::Applied);

    // Had it got into the queue anyway (a replica that still queues), its turn
    // passes it by instead of applying it again.
    let queued = svc
        .locks
        .acquire(env, &b.id, WorkflowKind::Apply.as_str(), svc.now())
        .await
        .unwrap();
    assert!(matches!(queued, Acquire::Queued { .. }), "{queued:?}");
    h.run_workflows().await.unwrap();
    h.settle().await.unwrap();
    assert_eq!(applies_of(&h, &a.id), 1);
    assert_eq!(applies_of(&h, &b.id), 1, "B was not applied twice");
    assert_eq!(holder(&h).await, None, "the lock was passed on and is free");
    let b_now = svc.requests.get(&b.id).await.unwrap().unwrap();
    assert_eq!(derive_status(&b_now, svc.now()), Status::Applied);
    // Nor does the reconciler find anything to redo.
    h.clock.advance(Duration::minutes(30));
    let report = pass(svc).await.unwrap();
    assert!(report.redispatched.is_empty(), "{report:?}");
    assert_eq!(applies_of(&h, &b.id), 1);
}

/// A `dev` request (no approvals, applied on merge) taken to applied, its requester
/// allowed to destroy it. Returns the request's id and PR.
async fn applied_request(h: &Harness, name: &str) -> (String, u64) {
    h.sim
        .set_permission(INFRA_REPO, "alice", Permission::Write)
        .unwrap();
    let (_, id) = open_bucket_request(h, name).await;
    h.run_workflows().await.unwrap();
    let svc = &h.state.service;
    let pr = pr_of(h, &id).await;
    h.sim.merge_pull(INFRA_REPO, pr, "alice").unwrap();
    h.settle().await.unwrap();
    h.run_workflows().await.unwrap();
    let applied = svc.requests.get(&id).await.unwrap().unwrap();
    assert_eq!(derive_status(&applied, svc.now()), Status::Applied);
    (id, pr)
}

/// `/tfpilot destroy` on `pr`, and the destroy run.
async fn destroy(h: &Harness, pr: u64) {
    h.sim
        .comment(INFRA_REPO, pr, "alice", "/tfpilot destroy")
        .unwrap();
    h.settle().await.unwrap();
    h.run_workflows().await.unwrap();
}

fn cleanup_pulls(h: &Harness, id: &str) -> Vec<tfpilot::sim::PullView> {
    h.sim
        .pulls(INFRA_REPO)
        .into_iter()
        .filter(|p| p.head_ref == format!("cleanup/{id}"))
        .collect()
}

#[tokio::test]
async fn a_destroyed_request_whose_cleanup_pr_was_never_opened_gets_it_and_is_archived() {
    let h = start().await;
    let (id, pr) = applied_request(&h, "acme-no-cleanup").await;
    // GitHub refuses every new PR from the destroy on: neither the destroy's dispatch
    // nor its completion opens the cleanup PR, and nothing is redelivered.
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/pulls",
        1_000,
        FaultResponse::Status(502),
    ));
    destroy(&h, pr).await;
    h.sim.clear_call_faults();
    let svc = &h.state.service;
    let stuck = svc.requests.get(&id).await.unwrap().expect("still live");
    assert_eq!(derive_status(&stuck, svc.now()), Status::Destroyed);
    assert!(cleanup_pulls(&h, &id).is_empty());

    // Too early: the destroy's own completion may still be at work.
    let report = pass(svc).await.unwrap();
    assert!(report.cleaned_up.is_empty(), "{report:?}");
    assert!(cleanup_pulls(&h, &id).is_empty());

    h.clock.advance(Duration::minutes(11));
    let report = pass(svc).await.unwrap();
    assert_eq!(report.cleaned_up, vec![id.clone()], "{report:?}");
    let cleanup = cleanup_pulls(&h, &id);
    assert_eq!(cleanup.len(), 1, "{cleanup:#?}");
    assert!(cleanup[0].merged, "dev merges its cleanup PR by itself");
    assert_eq!(
        h.sim
            .file(INFRA_REPO, "main", &format!("envs/dev/tfpilot_{id}.tf")),
        None,
        "the request's file is gone from the default branch"
    );
    assert!(svc.requests.get(&id).await.unwrap().is_none(), "archived");

    let writes_before = h.sim.write_calls().len();
    let report = pass(svc).await.unwrap();
    assert!(report.is_quiet(), "{report:?}");
    assert_eq!(h.sim.write_calls().len(), writes_before);
}

#[tokio::test]
async fn a_cleanup_pr_merged_while_deliveries_were_lost_archives_its_request() {
    // Here a person merges cleanup PRs.
    let config =
        EXAMPLE_CONFIG.replacen("cleanup_auto_merge: true", "cleanup_auto_merge: false", 1);
    let h = Harness::start(HarnessOptions {
        now: chrono::Utc::now(),
        config: Some(config),
        ..HarnessOptions::default()
    })
    .await
    .unwrap();
    let (id, pr) = applied_request(&h, "acme-lost-merge").await;
    destroy(&h, pr).await;
    let svc = &h.state.service;
    let cleanup = cleanup_pulls(&h, &id);
    assert_eq!(cleanup.len(), 1, "{cleanup:#?}");
    assert!(cleanup[0].open);

    // Waiting for a person is nothing to repair: one read of the cleanup PR, no write.
    h.clock.advance(Duration::minutes(11));
    let writes_before = h.sim.write_calls().len();
    let report = pass(svc).await.unwrap();
    assert!(report.is_quiet(), "{report:?}");
    assert_eq!(h.sim.write_calls().len(), writes_before);
    let waiting = svc.requests.get(&id).await.unwrap().expect("still live");
    assert_eq!(derive_status(&waiting, svc.now()), Status::Destroyed);

    // The person's merge is never delivered.
    h.sim.set_delivery_faults(DeliveryFaults {
        drop_rate: 1.0,
        ..DeliveryFaults::default()
    });
    h.sim
        .merge_pull(INFRA_REPO, cleanup[0].number, "alice")
        .unwrap();
    h.settle().await.unwrap();
    assert!(svc.requests.get(&id).await.unwrap().is_some());

    let report = pass(svc).await.unwrap();
    assert_eq!(report.cleaned_up, vec![id.clone()], "{report:?}");
    assert!(svc.requests.get(&id).await.unwrap().is_none(), "archived");
    assert_eq!(cleanup_pulls(&h, &id).len(), 1, "no second cleanup PR");
}

#[tokio::test]
async fn a_cleanup_pr_that_cannot_be_merged_waits_without_failing_the_delivery() {
    let h = start().await;
    let (id, pr) = applied_request(&h, "acme-conflict").await;
    let file = format!("envs/dev/tfpilot_{id}.tf");
    h.sim
        .comment(INFRA_REPO, pr, "alice", "/tfpilot destroy")
        .unwrap();
    h.settle().await.unwrap();
    let cleanup = cleanup_pulls(&h, &id);
    assert_eq!(cleanup.len(), 1, "{cleanup:#?}");
    // Someone edits the request's file on the default branch while the destroy runs:
    // the cleanup PR (which deletes it) now conflicts, and GitHub answers its merge
    // with 405 "Pull Request is not mergeable".
    h.sim
        .push(
            INFRA_REPO,
            "main",
            "alice",
            &[(&file, Some("# edited by hand\n"))],
            "hand edit",
        )
        .unwrap();
    let delivered = h.sim.deliveries().len();
    h.run_workflows().await.unwrap();
    let svc = &h.state.service;
    let failed: Vec<_> = h.sim.deliveries()[delivered..]
        .iter()
        .filter(|d| !d.status_code.is_some_and(|s| (200..300).contains(&s)))
        .map(|d| (d.event.clone(), d.action.clone(), d.status_code))
        .collect();
    assert!(
        failed.is_empty(),
        "a cleanup PR tfpilot cannot merge is no failed delivery: {failed:?}"
    );
    let waiting = svc.requests.get(&id).await.unwrap().expect("still live");
    assert_eq!(derive_status(&waiting, svc.now()), Status::Destroyed);
    assert!(cleanup_pulls(&h, &id)[0].open, "the cleanup PR waits");

    // Nothing changes while the conflict stands: the reconciler tries, and waits.
    h.clock.advance(Duration::minutes(11));
    let report = pass(svc).await.unwrap();
    assert!(report.cleaned_up.is_empty(), "{report:?}");
    assert!(svc.requests.get(&id).await.unwrap().is_some());

    // A person resolves it on the default branch; the next pass merges and archives.
    h.sim
        .push(INFRA_REPO, "main", "alice", &[(&file, None)], "resolve")
        .unwrap();
    h.settle().await.unwrap();
    let report = pass(svc).await.unwrap();
    assert_eq!(report.cleaned_up, vec![id.clone()], "{report:?}");
    assert!(cleanup_pulls(&h, &id)[0].merged);
    assert!(svc.requests.get(&id).await.unwrap().is_none(), "archived");
}
