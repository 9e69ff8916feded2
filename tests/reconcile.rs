//! The reconciler repairs what lost webhooks left behind, through the same
//! patch and render code, and does nothing when nothing is wrong.

use chrono::Duration;

use tfpilot::config::forms::submitted_body;
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::status::{Status, derive_status};
use tfpilot::harness::{EXAMPLE_CONFIG, Harness, HarnessOptions, INFRA_REPO};
use tfpilot::service::reconcile::pass;
use tfpilot::sim::DeliveryFaults;
use tfpilot::store::Thread;

#[tokio::test]
async fn a_plan_whose_deliveries_were_lost_is_recovered_and_shown() {
    // tfpilot's clock starts at the simulator's (wall-clock) time: "stuck" compares
    // GitHub's run timestamps with tfpilot's now.
    let h = Harness::start(HarnessOptions {
        now: chrono::Utc::now(),
        ..HarnessOptions::default()
    })
    .await
    .unwrap();
    let config = RepoConfig::parse(EXAMPLE_CONFIG).unwrap();
    let body = submitted_body(
        &config,
        "s3-bucket",
        &[
            ("Environment", "dev"),
            ("name", "acme-lost-hooks"),
            ("project", "core"),
        ],
    )
    .unwrap();
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "bucket", &body, &["tfpilot-request"])
        .unwrap();
    h.settle().await.unwrap();
    let svc = &h.state.service;
    let id = svc
        .index
        .find(Thread::Issue, "acme", "infra", issue)
        .await
        .unwrap()
        .expect("request");

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
