//! The harness end to end: a request's plan dispatched through tfpilot's own
//! dispatch code, run by the simulator, and its workflow_run deliveries patched
//! into the facts through the real router.

use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request, WorkflowKind};
use tfpilot::core::status::{Status, derive_status};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::service::dispatch::{Dispatched, dispatch, repo_of_request};

#[tokio::test]
async fn a_dispatched_plan_runs_and_its_deliveries_make_the_request_plan_ready() {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    let id = RequestId::parse("req_dev_s3-bucket_ab12cd").unwrap();
    let sha = h
        .sim
        .push(
            INFRA_REPO,
            "request/req_dev_s3-bucket_ab12cd",
            "tfpilot[bot]",
            &[(
                "envs/dev/tfpilot_req_dev_s3-bucket_ab12cd.tf",
                Some("# request\n"),
            )],
            "request",
        )
        .expect("push");
    let mut request = Request::new(&id);
    request.environment = Some("dev".into());
    request.installation_id = Some(h.sim.installation_id());
    request.target_owner = Some("acme".into());
    request.target_repo = Some("infra".into());
    let mut pr = PrFacts::new(1);
    pr.open = true;
    pr.head_sha = Some(sha.clone());
    request.github_mut().pr = Some(pr);
    let svc = &h.state.service;
    svc.requests.create(&request).await.unwrap();

    let repo = repo_of_request(&request).unwrap();
    let Dispatched::Started { run_id, .. } = dispatch(
        svc,
        &repo,
        &request,
        WorkflowKind::Plan,
        "request/req_dev_s3-bucket_ab12cd",
        &[],
        Some("smoke-1"),
    )
    .await
    .unwrap() else {
        panic!("not dispatched");
    };
    assert!(run_id.is_some(), "the simulator returns the run id");
    // The same once-key never dispatches twice.
    assert_eq!(
        dispatch(
            svc,
            &repo,
            &request,
            WorkflowKind::Plan,
            "request/req_dev_s3-bucket_ab12cd",
            &[],
            Some("smoke-1")
        )
        .await
        .unwrap(),
        Dispatched::AlreadyDone
    );
    assert_eq!(h.sim.dispatches().len(), 1);

    let now = h.state.service.now();
    let stored = svc.requests.get(id.as_str()).await.unwrap().unwrap();
    assert_eq!(derive_status(&stored, now), Status::Planning);
    h.run_workflows().await.expect("runs");
    let stored = svc.requests.get(id.as_str()).await.unwrap().unwrap();
    let plan = stored.run(WorkflowKind::Plan).expect("plan facts");
    assert_eq!(plan.run_id, run_id);
    assert_eq!(plan.conclusion.as_deref(), Some("success"));
    assert_eq!(derive_status(&stored, now), Status::PlanReady);
}
