//! Redelivery against the simulator: a delivery tfpilot failed is asked for
//! again exactly once, by one pass, whichever replica runs it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use tfpilot::github::{AppCredentials, GitHubClient, GitHubConfig};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::http::metrics::Metrics;
use tfpilot::service::redelivery::{RedeliveryPolicy, redeliver_failed};
use tfpilot::service::{Service, Settings};
use tfpilot::sim::{DeliveryRecord, TEST_APP_PRIVATE_KEY_PEM, WebhookTarget};
use tower::ServiceExt;

/// How the endpoint in front of tfpilot misbehaves for its first `n` deliveries.
#[derive(Clone, Copy)]
enum Failure {
    /// Answer 500 without passing the delivery on (tfpilot never sees it).
    Refuse,
    /// Pass it on, then answer 500 anyway (tfpilot recorded it; the answer was lost).
    LoseAnswer,
}

/// A router that fails the first `n` deliveries as `how`, then passes everything to `app`.
fn failing_front(app: Router, n: usize, how: Failure) -> Router {
    let count = Arc::new(AtomicUsize::new(0));
    Router::new().fallback(move |req: Request<Body>| {
        let app = app.clone();
        let count = count.clone();
        async move {
            let fail = count.fetch_add(1, Ordering::SeqCst) < n;
            if fail && matches!(how, Failure::Refuse) {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            let resp: Response = match app.oneshot(req).await {
                Ok(r) => r.into_response(),
                Err(never) => match never {},
            };
            if fail {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                resp
            }
        }
    })
}

fn attempts(h: &Harness, guid: &str) -> Vec<DeliveryRecord> {
    h.sim
        .deliveries()
        .into_iter()
        .filter(|d| d.guid == guid)
        .collect()
}

/// A second tfpilot over the same store and the same (simulated) GitHub.
fn second_replica(h: &Harness) -> Arc<Service> {
    let credentials = AppCredentials::from_pem(
        tfpilot::sim::SimConfig::for_tests().app_id,
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )
    .expect("credentials");
    let client = GitHubClient::new(GitHubConfig::new(credentials).with_api_url(h.sim.base_url()))
        .expect("client");
    Arc::new(Service::new(
        h.store.clone(),
        Arc::new(client),
        h.clock.clone(),
        Arc::new(Metrics::new(None, None)),
        Settings::default(),
    ))
}

async fn harness_with_one_refused_delivery() -> (Harness, String) {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    h.sim
        .set_webhook_target(WebhookTarget::Router(failing_front(
            h.app.clone(),
            1,
            Failure::Refuse,
        )));
    h.sim
        .open_issue(INFRA_REPO, "alice", "Need a bucket", "please", &[])
        .expect("issue");
    h.settle().await.expect("settle");
    let failed: Vec<DeliveryRecord> = h
        .sim
        .deliveries()
        .into_iter()
        .filter(|d| d.status_code == Some(500))
        .collect();
    assert_eq!(failed.len(), 1, "exactly one delivery was refused");
    let guid = failed[0].guid.clone();
    (h, guid)
}

#[tokio::test]
async fn a_refused_delivery_is_redelivered_once_and_a_second_pass_does_nothing() {
    let (h, guid) = harness_with_one_refused_delivery().await;
    let svc = h.state.service.clone();
    let policy = RedeliveryPolicy::default();

    let first = redeliver_failed(&svc, &policy).await.expect("pass");
    assert_eq!(first.redelivered, vec![guid.clone()]);
    h.settle().await.expect("settle");
    let tries = attempts(&h, &guid);
    assert_eq!(tries.len(), 2, "the original and one redelivery: {tries:?}");
    assert!(
        tries
            .iter()
            .any(|d| d.redelivery && d.status_code.is_some_and(|c| (200..300).contains(&c))),
        "the redelivery was accepted: {tries:?}"
    );

    let second = redeliver_failed(&svc, &policy).await.expect("pass");
    assert!(second.redelivered.is_empty(), "{second:?}");
    h.settle().await.expect("settle");
    assert_eq!(attempts(&h, &guid).len(), 2, "no further redelivery");
}

#[tokio::test]
async fn a_redelivery_that_fails_again_is_asked_for_again_until_the_attempts_run_out() {
    let (h, guid) = harness_with_one_refused_delivery().await;
    let svc = h.state.service.clone();
    let policy = RedeliveryPolicy::default();
    // Every redelivery is refused too: each failed attempt is asked for once more,
    // until the delivery has failed `max_attempts` times; then the pass gives up.
    h.sim
        .set_webhook_target(WebhookTarget::Router(failing_front(
            h.app.clone(),
            usize::MAX,
            Failure::Refuse,
        )));
    for attempt in 1..policy.max_attempts {
        let pass = redeliver_failed(&svc, &policy).await.expect("pass");
        assert_eq!(pass.redelivered, vec![guid.clone()], "attempt {attempt}");
        h.settle().await.expect("settle");
        assert_eq!(attempts(&h, &guid).len(), attempt + 1);
        // Right away, the failed redelivery is not asked for again (replicas passing
        // one after another must not spend every attempt at once).
        if attempt + 1 < policy.max_attempts {
            let soon = redeliver_failed(&svc, &policy).await.expect("pass");
            assert!(soon.redelivered.is_empty(), "{soon:?}");
            assert_eq!(soon.too_soon, 1, "{soon:?}");
        }
        h.clock.advance(policy.min_gap);
    }
    let last = redeliver_failed(&svc, &policy).await.expect("pass");
    assert!(last.redelivered.is_empty(), "{last:?}");
    assert_eq!(last.gave_up, vec![guid.clone()]);
    h.settle().await.expect("settle");
    assert_eq!(attempts(&h, &guid).len(), policy.max_attempts);
}

#[tokio::test]
async fn a_redelivery_that_fails_once_more_is_then_accepted() {
    let (h, guid) = harness_with_one_refused_delivery().await;
    let svc = h.state.service.clone();
    let policy = RedeliveryPolicy::default();
    // The first redelivery is refused as well; the second is accepted.
    h.sim
        .set_webhook_target(WebhookTarget::Router(failing_front(
            h.app.clone(),
            1,
            Failure::Refuse,
        )));
    let first = redeliver_failed(&svc, &policy).await.expect("pass");
    assert_eq!(first.redelivered, vec![guid.clone()]);
    h.settle().await.expect("settle");
    h.clock.advance(policy.min_gap);
    let second = redeliver_failed(&svc, &policy).await.expect("pass");
    assert_eq!(second.redelivered, vec![guid.clone()]);
    h.settle().await.expect("settle");
    let tries = attempts(&h, &guid);
    assert_eq!(tries.len(), 3, "{tries:?}");
    assert!(
        tries
            .iter()
            .any(|d| d.redelivery && d.status_code.is_some_and(|c| (200..300).contains(&c))),
        "accepted at last: {tries:?}"
    );
    let third = redeliver_failed(&svc, &policy).await.expect("pass");
    assert!(
        third.redelivered.is_empty() && third.gave_up.is_empty(),
        "{third:?}"
    );
}

#[tokio::test]
async fn two_replicas_running_the_pass_at_once_redeliver_it_once() {
    let (h, guid) = harness_with_one_refused_delivery().await;
    let a = h.state.service.clone();
    let b = second_replica(&h);
    let policy = RedeliveryPolicy::default();
    let (ra, rb) = tokio::join!(redeliver_failed(&a, &policy), redeliver_failed(&b, &policy));
    let (ra, rb) = (ra.expect("pass a"), rb.expect("pass b"));
    assert_eq!(
        ra.redelivered.len() + rb.redelivered.len(),
        1,
        "{ra:?} {rb:?}"
    );
    h.settle().await.expect("settle");
    assert_eq!(attempts(&h, &guid).len(), 2);
}

#[tokio::test]
async fn a_failed_delivery_tfpilot_recorded_is_not_asked_for() {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    // tfpilot handles (and records) the installation event, but the answer is lost.
    h.sim
        .set_webhook_target(WebhookTarget::Router(failing_front(
            h.app.clone(),
            1,
            Failure::LoseAnswer,
        )));
    h.sim.install_app("alice");
    h.settle().await.expect("settle");
    let failed: Vec<DeliveryRecord> = h
        .sim
        .deliveries()
        .into_iter()
        .filter(|d| d.status_code == Some(500))
        .collect();
    assert_eq!(failed.len(), 1);
    let report = redeliver_failed(&h.state.service, &RedeliveryPolicy::default())
        .await
        .expect("pass");
    assert!(report.redelivered.is_empty(), "{report:?}");
    assert_eq!(report.already_recorded, 1);
    assert_eq!(attempts(&h, &failed[0].guid).len(), 1);
}

#[tokio::test]
async fn a_pass_asks_for_at_most_max_per_pass() {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    h.sim
        .set_webhook_target(WebhookTarget::Router(failing_front(
            h.app.clone(),
            3,
            Failure::Refuse,
        )));
    for i in 0..3 {
        h.sim
            .open_issue(INFRA_REPO, "alice", &format!("Issue {i}"), "x", &[])
            .expect("issue");
    }
    h.settle().await.expect("settle");
    let policy = RedeliveryPolicy {
        max_per_pass: 2,
        ..RedeliveryPolicy::default()
    };
    let first = redeliver_failed(&h.state.service, &policy)
        .await
        .expect("pass");
    assert_eq!(first.failed, 3);
    assert_eq!(first.redelivered.len(), 2);
    h.settle().await.expect("settle");
    let second = redeliver_failed(&h.state.service, &policy)
        .await
        .expect("pass");
    assert_eq!(second.redelivered.len(), 1, "the one left over: {second:?}");
}

#[tokio::test]
async fn deliveries_older_than_the_window_are_left_alone() {
    let (h, guid) = harness_with_one_refused_delivery().await;
    // Four days later the failed delivery is outside GitHub's three-day window.
    h.clock.set(chrono::Utc::now() + chrono::TimeDelta::days(4));
    let report = redeliver_failed(&h.state.service, &RedeliveryPolicy::default())
        .await
        .expect("pass");
    assert!(report.redelivered.is_empty(), "{report:?}");
    assert_eq!(report.listed, 0);
    assert_eq!(attempts(&h, &guid).len(), 1);
}
