//! Drift detection end to end against the simulator, with the fake clock and two
//! tfpilot instances over one store: one drift dispatch per request per period,
//! a drifted result reported on the request issue (reopened) and in the sticky
//! comment, and a later clean run recorded as the recovery.

use std::sync::Arc;

use chrono::Duration;
use secrecy::SecretString;
use serde_json::json;

use tfpilot::core::contract::{self, files};
use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request, RunFacts, RunStatus};
use tfpilot::core::status::{Status, derive_status};
use tfpilot::github::{AppCredentials, GitHubClient, GitHubConfig};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::serve::{Parts, assemble};
use tfpilot::service::drift::{TickReport, tick};
use tfpilot::service::{Clock, Service, Settings};
use tfpilot::sim::{
    ArtifactSpec, CallFault, FaultResponse, Script, SimConfig, TEST_APP_PRIVATE_KEY_PEM,
};

const ID: &str = "req_dev_s3-bucket_dr1ft0";

/// A second tfpilot replica: its own GitHub client and service, the same store,
/// simulator and clock as the harness's.
fn second_instance(h: &Harness) -> Arc<Service> {
    let credentials = AppCredentials::from_pem(
        SimConfig::for_tests().app_id,
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )
    .expect("credentials");
    let client = GitHubClient::new(GitHubConfig::new(credentials).with_api_url(h.sim.base_url()))
        .expect("client");
    assemble(Parts {
        webhook_secret: SecretString::from("unused by this replica".to_string()),
        store: h.store.clone(),
        github: Arc::new(client),
        github_metrics: None,
        clock: h.clock.clone(),
        settings: Settings::default(),
    })
    .state
    .service
}

/// An applied request in `dev` (drift: daily in the example config), with a real
/// merged PR and a closed request issue in the simulator.
async fn applied_request(h: &Harness) -> (u64, u64) {
    let branch = format!("request/{ID}");
    let file = format!("envs/dev/tfpilot_{ID}.tf");
    let sha = h
        .sim
        .push(
            INFRA_REPO,
            &branch,
            "alice",
            &[(file.as_str(), Some("# request\n"))],
            "request",
        )
        .expect("push");
    let pr = h
        .sim
        .open_pull(
            INFRA_REPO,
            "alice",
            &branch,
            "main",
            "tfpilot: s3-bucket",
            "",
        )
        .expect("pr");
    let merge_sha = h.sim.merge_pull(INFRA_REPO, pr, "alice").expect("merge");
    // No request label: this test builds the request doc itself.
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "A bucket", "please", &[])
        .expect("issue");
    h.sim
        .close_issue(INFRA_REPO, issue, "alice")
        .expect("close");
    h.settle().await.expect("settle");

    let mut request = Request::new(&RequestId::parse(ID).expect("id"));
    request.environment = Some("dev".into());
    request.installation_id = Some(h.sim.installation_id());
    request.target_owner = Some("acme".into());
    request.target_repo = Some("infra".into());
    request.target_base = Some("main".into());
    request.issue_number = Some(issue);
    request.merged_sha = Some(merge_sha);
    let mut facts = PrFacts::new(pr);
    facts.merged = true;
    facts.head_sha = Some(sha);
    facts.url = Some(format!("https://github.com/{INFRA_REPO}/pull/{pr}"));
    request.github_mut().pr = Some(facts);
    request.github_mut().workflows.apply = Some(RunFacts {
        run_id: Some(900),
        status: Some(RunStatus::Completed),
        conclusion: Some("success".into()),
        run_attempt: Some(1),
        ..RunFacts::default()
    });
    h.state
        .service
        .requests
        .create(&request)
        .await
        .expect("create");
    (pr, issue)
}

fn script_drift(h: &Harness, has_drift: bool, summary: &str) {
    let body = json!({"hasDrift": has_drift, "summary": summary}).to_string();
    h.sim.script_workflow(
        INFRA_REPO,
        contract::DRIFT_PLAN.file,
        Script::success().with_artifact(ArtifactSpec::new(
            contract::DRIFT_PLAN.artifact.name,
            &[(files::DRIFT_JSON, body.as_bytes())],
        )),
    );
}

fn drift_dispatches(h: &Harness) -> Vec<String> {
    h.sim
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == contract::DRIFT_PLAN.file)
        .map(|d| d.git_ref)
        .collect()
}

/// Both replicas tick at the same moment, three times over; returns the summed reports.
async fn tick_both(a: &Service, b: &Service) -> TickReport {
    let mut total = TickReport::default();
    for _ in 0..3 {
        let (ra, rb) = tokio::join!(tick(a), tick(b));
        for r in [ra.expect("tick a"), rb.expect("tick b")] {
            total.dispatched += r.dispatched;
            total.already_dispatched += r.already_dispatched;
            total.scheduled += r.scheduled;
            total.failed += r.failed;
        }
    }
    total
}

fn comments_with(h: &Harness, number: u64, text: &str) -> Vec<String> {
    h.sim
        .comments(INFRA_REPO, number)
        .into_iter()
        .map(|c| c.body)
        .filter(|b| b.contains(text))
        .collect()
}

async fn stored(h: &Harness) -> Request {
    h.state
        .service
        .requests
        .get(ID)
        .await
        .expect("get")
        .expect("request")
}

#[tokio::test]
async fn drift_is_checked_once_per_period_reported_and_its_recovery_recorded() {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    let (pr, issue) = applied_request(&h).await;
    let a = h.state.service.clone();
    let b = second_instance(&h);
    assert_eq!(
        derive_status(&stored(&h).await, h.clock.now()),
        Status::Applied
    );

    // Period 1: two replicas, ticking together, dispatch once, from the default branch.
    script_drift(&h, true, "Plan: 0 to add, 1 to change, 0 to destroy.");
    let report = tick_both(&a, &b).await;
    assert_eq!(report.dispatched, 1, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(drift_dispatches(&h), vec!["main".to_string()]);

    h.run_workflows().await.expect("runs");
    let doc = stored(&h).await;
    let drift = doc.drift.clone().expect("drift facts recorded");
    assert!(drift.drifted);
    assert!(drift.detected_at.is_some());
    assert_eq!(drift.changes, Some(1));
    assert_eq!(
        drift.summary.as_deref(),
        Some("Plan: 0 to add, 1 to change, 0 to destroy.")
    );
    assert!(drift.notified_at.is_some());
    assert_eq!(
        derive_status(&doc, h.clock.now()),
        Status::Applied,
        "drift does not change the lifecycle status"
    );

    // The request issue is told once, with the summary, and reopened.
    let told = comments_with(&h, issue, "Drift detected");
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("1 to change"), "{}", told[0]);
    assert!(h.sim.issue(INFRA_REPO, issue).expect("issue").open);
    // The sticky comment on the PR shows the drift.
    let sticky = comments_with(&h, pr, "changed outside Terraform");
    assert_eq!(sticky.len(), 1, "one sticky comment shows drift");

    // Later in the same period: nothing new is dispatched or told.
    h.clock.advance(Duration::minutes(30));
    assert_eq!(tick_both(&a, &b).await.dispatched, 0);
    assert_eq!(drift_dispatches(&h).len(), 1);
    assert_eq!(comments_with(&h, issue, "Drift detected").len(), 1);

    // Period 2 (dev checks daily): one more dispatch; this run is clean.
    h.clock.advance(Duration::hours(24));
    script_drift(&h, false, "No changes.");
    let report = tick_both(&a, &b).await;
    assert_eq!(report.dispatched, 1, "{report:?}");
    assert_eq!(drift_dispatches(&h).len(), 2);
    h.run_workflows().await.expect("runs");

    let doc = stored(&h).await;
    let drift = doc.drift.clone().expect("drift facts");
    assert!(!drift.drifted);
    assert!(drift.recovered_at.is_some(), "recovery recorded");
    assert!(drift.detected_at.is_some(), "when it was found is kept");
    assert_eq!(derive_status(&doc, h.clock.now()), Status::Applied);
    assert_eq!(comments_with(&h, issue, "Drift resolved").len(), 1);
    assert!(
        comments_with(&h, pr, "changed outside Terraform").is_empty(),
        "the sticky comment no longer shows drift"
    );

    // Ticking on in period 2 neither dispatches nor tells again.
    assert_eq!(tick_both(&a, &b).await.dispatched, 0);
    assert_eq!(drift_dispatches(&h).len(), 2);
    assert_eq!(comments_with(&h, issue, "Drift resolved").len(), 1);
    assert_eq!(comments_with(&h, issue, "Drift detected").len(), 1);
}

#[tokio::test]
async fn requests_not_applied_or_without_a_schedule_get_no_drift_check() {
    let config = tfpilot::harness::EXAMPLE_CONFIG.replace("drift: daily", "drift: off");
    let h = Harness::start(HarnessOptions {
        config: Some(config),
        ..HarnessOptions::default()
    })
    .await
    .expect("harness");
    applied_request(&h).await;
    // A second request, in prod (drift every 6 hours) but only planned.
    let mut planned = Request::new(&RequestId::parse("req_prod_s3-bucket_pl4nd0").expect("id"));
    planned.environment = Some("prod".into());
    planned.installation_id = Some(h.sim.installation_id());
    planned.target_owner = Some("acme".into());
    planned.target_repo = Some("infra".into());
    planned.github_mut().workflows.plan = Some(RunFacts {
        run_id: Some(5),
        status: Some(RunStatus::Completed),
        conclusion: Some("success".into()),
        ..RunFacts::default()
    });
    h.state
        .service
        .requests
        .create(&planned)
        .await
        .expect("create");

    let report = tick(&h.state.service).await.expect("tick");
    assert_eq!(report.requests, 2);
    assert_eq!(report.scheduled, 0, "{report:?}");
    assert!(drift_dispatches(&h).is_empty());
}

#[tokio::test]
async fn a_result_the_webhook_path_could_not_read_is_read_by_the_next_tick() {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    let (_pr, issue) = applied_request(&h).await;
    script_drift(&h, true, "Plan: 2 to add, 0 to change, 0 to destroy.");
    let report = tick(&h.state.service).await.expect("tick");
    assert_eq!(report.dispatched, 1);
    // GitHub fails every artifact listing while the run completes.
    h.sim.fail_calls(CallFault::new(
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
        100,
        FaultResponse::Status(503),
    ));
    h.run_workflows().await.expect("runs");
    assert!(stored(&h).await.drift.is_none(), "nothing read yet");
    assert!(comments_with(&h, issue, "Drift detected").is_empty());

    h.sim.clear_call_faults();
    let report = tick(&h.state.service).await.expect("tick");
    assert_eq!(report.read, 1, "{report:?}");
    assert_eq!(report.dispatched, 0, "same period: no second dispatch");
    let drift = stored(&h).await.drift.expect("drift recorded");
    assert!(drift.drifted);
    assert_eq!(drift.changes, Some(2));
    assert_eq!(comments_with(&h, issue, "Drift detected").len(), 1);
    // Read once: a further tick reads and tells nothing more.
    assert_eq!(tick(&h.state.service).await.expect("tick").read, 0);
    assert_eq!(comments_with(&h, issue, "Drift detected").len(), 1);
}

#[tokio::test]
async fn a_drift_run_that_never_finishes_does_not_stop_the_schedule() {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    applied_request(&h).await;
    let svc = &h.state.service;
    assert_eq!(tick(svc).await.expect("tick").dispatched, 1);
    // The run stays queued. The next period starts less than a day after the
    // dispatch: the unfinished run is given until a full interval has passed.
    let next_period = (h.clock.now() + Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 30, 0)
        .expect("time")
        .and_utc();
    h.clock.set(next_period);
    assert_eq!(tick(svc).await.expect("tick").dispatched, 0);
    assert_eq!(drift_dispatches(&h).len(), 1);
    // A day after the dispatch it counts as lost, and this period's check goes out.
    h.clock.advance(Duration::hours(9));
    assert_eq!(tick(svc).await.expect("tick").dispatched, 1);
    assert_eq!(drift_dispatches(&h).len(), 2);
}
