//! A keyed dispatch takes effect exactly once, even when the attempt that claimed it
//! failed half-way: GitHub refused the dispatch (nothing ran), or GitHub ran it and the
//! facts write was lost. A later attempt (a redelivery, the reconciler) finds out which
//! from the facts and from GitHub's runs, and repairs without a second run.

use std::sync::Arc;

use tfpilot::core::contract::inputs;
use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{Request, WorkflowKind};
use tfpilot::github::Repo;
use tfpilot::harness::{Harness, HarnessOptions};
use tfpilot::service::ServiceError;
use tfpilot::service::dispatch::{Dispatched, dispatch, nonce_for};
use tfpilot::sim::{CallFault, DeliveryFaults, FaultResponse};
use tfpilot::store::{Fault, FaultAction, FaultStore, MemoryStore, OpKind, Store};

const ID: &str = "req_dev_bucket_d15pa7";
const DISPATCH_ROUTE: &str = "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches";

async fn start() -> (Harness, Arc<FaultStore>, Request, Repo) {
    let faults = Arc::new(FaultStore::new(Arc::new(MemoryStore::new())));
    let store: Arc<dyn Store> = faults.clone();
    let h = Harness::start(HarnessOptions {
        store: Some(store),
        ..HarnessOptions::default()
    })
    .await
    .expect("harness");
    let mut request = Request::new(&RequestId::parse(ID).expect("id"));
    request.environment = Some("dev".into());
    request.module = Some("s3-bucket".into());
    request.installation_id = Some(h.sim.installation_id());
    request.target_owner = Some("acme".into());
    request.target_repo = Some("infra".into());
    request.target_base = Some("main".into());
    h.state
        .service
        .requests
        .create(&request)
        .await
        .expect("request stored");
    // The facts are looked at directly: the run's own webhooks (which would also tie
    // the run to the request by its run name) are dropped.
    h.sim.set_delivery_faults(DeliveryFaults {
        drop_rate: 1.0,
        ..DeliveryFaults::default()
    });
    let repo = Repo::new(h.sim.installation_id(), "acme", "infra");
    (h, faults, request, repo)
}

/// GitHub answers every dispatch with 502 (more times than the client retries).
fn refuse_dispatches(h: &Harness) {
    h.sim.fail_calls(CallFault::new(
        "POST",
        DISPATCH_ROUTE,
        50,
        FaultResponse::Status(502),
    ));
}

fn plan_dispatches(h: &Harness) -> Vec<String> {
    h.sim
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == "tfpilot-plan.yml")
        .map(|d| d.inputs.get(inputs::NONCE).cloned().unwrap_or_default())
        .collect()
}

async fn plan(h: &Harness, request: &Request, repo: &Repo) -> Result<Dispatched, ServiceError> {
    dispatch(
        &h.state.service,
        repo,
        request,
        WorkflowKind::Plan,
        "main",
        &[],
        Some("test/plan-1"),
    )
    .await
}

#[tokio::test]
async fn a_refused_dispatch_is_made_again_once_its_claim_is_old_enough() {
    let (h, _faults, request, repo) = start().await;
    refuse_dispatches(&h);
    let first = plan(&h, &request, &repo).await;
    assert!(
        matches!(first, Err(ServiceError::GitHub(_))),
        "GitHub's 502s surface: {first:?}"
    );
    assert!(plan_dispatches(&h).is_empty(), "nothing ran");
    h.sim.clear_call_faults();

    // Moments later (a duplicate on another replica): the claim may still be in flight.
    let soon = plan(&h, &request, &repo).await;
    assert!(
        matches!(soon, Err(ServiceError::DispatchInFlight { .. })),
        "a fresh claim is not second-guessed: {soon:?}"
    );
    assert!(plan_dispatches(&h).is_empty());

    // Later (the redelivery, the reconciler): no run carries the nonce, so it runs now.
    h.clock.advance(chrono::Duration::minutes(2));
    let again = plan(&h, &request, &repo).await.expect("dispatched again");
    let Dispatched::Started { nonce, run_id, .. } = again else {
        panic!("the lost dispatch was not made again: {again:?}")
    };
    assert_eq!(nonce, nonce_for("test/plan-1"));
    assert_eq!(plan_dispatches(&h), vec![nonce.clone()]);
    let facts = h.state.service.requests.get(ID).await.unwrap().unwrap();
    let run = facts.run(WorkflowKind::Plan).expect("plan tracked");
    assert_eq!(run.nonce.as_deref(), Some(nonce.as_str()));
    assert_eq!(run.run_id, run_id);

    // Every later attempt is a no-op.
    h.clock.advance(chrono::Duration::minutes(10));
    let later = plan(&h, &request, &repo).await.expect("no error");
    assert_eq!(later, Dispatched::AlreadyDone);
    assert_eq!(plan_dispatches(&h).len(), 1, "dispatched twice");
}

#[tokio::test]
async fn a_dispatch_whose_facts_write_was_lost_is_found_on_github_not_repeated() {
    let (h, faults, request, repo) = start().await;
    faults.inject(Fault {
        op: OpKind::Replace,
        key_prefix: format!("requests/{ID}.json"),
        action: FaultAction::FailBefore,
        // Every attempt of the update (its default retry policy): lost for good.
        times: 40,
    });
    let first = plan(&h, &request, &repo).await;
    assert!(
        matches!(first, Err(ServiceError::Store(_))),
        "the lost write surfaces: {first:?}"
    );
    assert!(faults.pending().is_empty(), "the fault outlived the update");
    let ran = plan_dispatches(&h);
    assert_eq!(ran.len(), 1, "GitHub ran it");
    let before = h.state.service.requests.get(ID).await.unwrap().unwrap();
    assert!(before.run(WorkflowKind::Plan).is_none(), "facts lost it");

    h.clock.advance(chrono::Duration::minutes(2));
    let again = plan(&h, &request, &repo).await.expect("repaired");
    let Dispatched::Started { nonce, run_id, .. } = again else {
        panic!("the run on GitHub was not recorded: {again:?}")
    };
    assert_eq!(plan_dispatches(&h), ran, "no second run");
    assert_eq!(nonce, ran[0]);
    let runs = h.sim.workflow_runs("acme/infra");
    assert_eq!(run_id, runs.last().map(|r| r.id));
    let facts = h.state.service.requests.get(ID).await.unwrap().unwrap();
    assert_eq!(facts.run(WorkflowKind::Plan).and_then(|r| r.run_id), run_id);
}

#[tokio::test]
async fn a_newer_dispatch_is_never_overwritten_by_an_older_claim() {
    let (h, _faults, request, repo) = start().await;
    refuse_dispatches(&h);
    assert!(plan(&h, &request, &repo).await.is_err());
    h.sim.clear_call_faults();
    // Someone asks for a plan again (a new command): a new key, a new run.
    h.clock.advance(chrono::Duration::minutes(1));
    let newer = dispatch(
        &h.state.service,
        &repo,
        &request,
        WorkflowKind::Plan,
        "main",
        &[],
        Some("test/plan-2"),
    )
    .await
    .expect("dispatched");
    assert!(matches!(newer, Dispatched::Started { .. }));
    // The first command's redelivery arrives late: the newer plan stands.
    h.clock.advance(chrono::Duration::minutes(5));
    let late = plan(&h, &request, &repo).await.expect("no error");
    assert_eq!(late, Dispatched::AlreadyDone);
    assert_eq!(plan_dispatches(&h), [nonce_for("test/plan-2")]);
}

#[tokio::test]
async fn a_dispatch_claimed_moments_ago_elsewhere_is_waited_for_not_failed() {
    let (h, _faults, request, repo) = start().await;
    // The first attempt's dispatch is held up (GitHub asks it to retry in a second):
    // its claim is taken, and no run carries the nonce yet.
    h.sim.fail_calls(CallFault::new(
        "POST",
        DISPATCH_ROUTE,
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 1,
        },
    ));
    let (first, second) = tokio::join!(plan(&h, &request, &repo), async {
        // Another copy (another replica, the lock handed on) starts meanwhile.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        plan(&h, &request, &repo).await
    });
    assert!(
        matches!(first, Ok(Dispatched::Started { .. })),
        "the first attempt dispatches: {first:?}"
    );
    assert_eq!(
        second.expect("the second copy waits for the first, it does not fail"),
        Dispatched::AlreadyDone
    );
    assert_eq!(plan_dispatches(&h).len(), 1, "dispatched once");
}
