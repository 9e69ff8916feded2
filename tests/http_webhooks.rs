//! The webhook path end to end through the real router: signature first, then
//! parsing, deduplication, the guard rules, and writes only for real changes.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use tower::ServiceExt;

use tfpilot::core::request::{Request, WorkflowKind};
use tfpilot::core::status::{Status, derive_status};
use tfpilot::github::{AppCredentials, GitHubClient, GitHubConfig};
use tfpilot::http::signature::sign;
use tfpilot::serve::{Assembled, Parts, assemble};
use tfpilot::service::{FakeClock, Settings};
use tfpilot::store::{MemoryStore, OpCounts, OpKind, Requests, Store};

const SECRET: &str = "test-webhook-secret";
const REQUEST_ID: &str = "req_dev_s3_tgqpp8";

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A router over `store`, with a GitHub client that cannot reach anything: these
/// flows must not need GitHub.
fn router_over(store: Arc<dyn Store>) -> Assembled {
    tfpilot::github::install_crypto_provider();
    let pem = std::fs::read_to_string(root().join("fixtures/keys/test-app.pem")).expect("key");
    let credentials = AppCredentials::from_pem(1, &SecretString::from(pem)).expect("credentials");
    let client =
        GitHubClient::new(GitHubConfig::new(credentials).with_api_url("http://127.0.0.1:9"))
            .expect("client");
    assemble(Parts {
        webhook_secret: SecretString::from(SECRET),
        store,
        github: Arc::new(client),
        github_metrics: None,
        clock: Arc::new(FakeClock::new(
            Utc.with_ymd_and_hms(2026, 2, 26, 19, 0, 0).unwrap(),
        )),
        settings: Settings::default(),
    })
}

/// A store holding the seed request, and a router over it.
async fn seeded() -> (Arc<dyn Store>, Assembled, axum::Router) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    Requests::new(store.clone())
        .create(&seed_request())
        .await
        .unwrap();
    let a = router_over(store.clone());
    let app = tfpilot::http::app(a.state.clone());
    (store, a, app)
}

async fn send(
    app: &axum::Router,
    event: &str,
    delivery: &str,
    body: &[u8],
    signature: Option<String>,
) -> (StatusCode, String) {
    let mut req = HttpRequest::post("/webhooks/github")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        req = req.header("x-hub-signature-256", sig);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_vec())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn deliver(
    app: &axum::Router,
    event: &str,
    delivery: &str,
    body: &Value,
) -> (StatusCode, String) {
    let bytes = serde_json::to_vec(body).unwrap();
    let sig = sign(SECRET.as_bytes(), &bytes);
    send(app, event, delivery, &bytes, Some(sig)).await
}

fn total_ops(c: &OpCounts) -> u64 {
    [
        OpKind::Get,
        OpKind::Create,
        OpKind::Replace,
        OpKind::Delete,
        OpKind::List,
    ]
    .into_iter()
    .map(|op| c.total(op))
    .sum()
}

/// The seed's request, tracking no plan run yet, PR open.
fn seed_request() -> Request {
    let text = std::fs::read_to_string(root().join("fixtures/requests/seed-example.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    let obj = v.as_object_mut().unwrap();
    obj.remove("planRun");
    serde_json::from_value(v).unwrap()
}

/// A `workflow_run` payload for run `id` of the plan workflow, built from a real one.
fn plan_run(id: u64, action: &str, status: &str, conclusion: Option<&str>, updated: &str) -> Value {
    let text = std::fs::read_to_string(
        root().join("fixtures/github/webhooks/workflow_run.requested.1.json"),
    )
    .unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["action"] = json!(action);
    v["installation"] = json!({"id": 42, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI="});
    let run = &mut v["workflow_run"];
    run["id"] = json!(id);
    run["name"] = json!("tfpilot plan");
    run["display_title"] = json!(format!("tfpilot plan {REQUEST_ID} n0nce{id}"));
    run["status"] = json!(status);
    run["conclusion"] = json!(conclusion);
    run["updated_at"] = json!(updated);
    run["head_branch"] = json!(format!("request/{REQUEST_ID}"));
    run["head_sha"] = json!("c02cef273d1a05b15dc52c354a3e1db53de23dc3");
    v
}

fn plan_lifecycle(id: u64) -> Vec<Value> {
    vec![
        plan_run(id, "requested", "queued", None, "2026-02-26T18:46:00Z"),
        plan_run(
            id,
            "in_progress",
            "in_progress",
            None,
            "2026-02-26T18:46:30Z",
        ),
        plan_run(
            id,
            "completed",
            "completed",
            Some("success"),
            "2026-02-26T18:48:00Z",
        ),
    ]
}

async fn stored(store: &Arc<dyn Store>) -> Request {
    Requests::new(store.clone())
        .get(REQUEST_ID)
        .await
        .unwrap()
        .expect("request")
}

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 26, 19, 0, 0).unwrap()
}

/// The facts that must not depend on delivery order (the timeline and version
/// record history, which does).
fn facts(r: &Request) -> Value {
    let mut v = serde_json::to_value(r).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("timeline");
    o.remove("version");
    v
}

#[tokio::test]
async fn bad_signatures_are_refused_with_401_and_touch_nothing() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = router_over(store);
    let app = tfpilot::http::app(a.state.clone());
    let body = serde_json::to_vec(&plan_run(
        1,
        "requested",
        "queued",
        None,
        "2026-02-26T18:46:00Z",
    ))
    .unwrap();
    let good = sign(SECRET.as_bytes(), &body);

    let mut tampered = body.clone();
    tampered[10] ^= 1;
    assert_eq!(
        send(&app, "workflow_run", "d1", &tampered, Some(good.clone()))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let mut bad_sig = good.clone().into_bytes();
    let last = bad_sig.len() - 1;
    bad_sig[last] = if bad_sig[last] == b'0' { b'1' } else { b'0' };
    let bad_sig = String::from_utf8(bad_sig).unwrap();
    assert_eq!(
        send(&app, "workflow_run", "d2", &body, Some(bad_sig))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        send(&app, "workflow_run", "d3", &body, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let wrong_secret = sign(b"another secret", &body);
    assert_eq!(
        send(&app, "workflow_run", "d4", &body, Some(wrong_secret))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        total_ops(&a.store_counts.counts()),
        0,
        "no store access on 401"
    );
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_without_store_access() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = router_over(store);
    let app = tfpilot::http::app(a.state.clone());

    let not_json = b"{not json";
    let (code, text) = send(
        &app,
        "workflow_run",
        "m1",
        not_json,
        Some(sign(SECRET.as_bytes(), not_json)),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "{text}");
    let wrong_shape = br#"{"action":"completed","workflow_run":{"name":"x"}}"#;
    let (code, _) = send(
        &app,
        "workflow_run",
        "m2",
        wrong_shape,
        Some(sign(SECRET.as_bytes(), wrong_shape)),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    let huge = vec![b' '; tfpilot::http::MAX_BODY_BYTES + 1];
    let (code, _) = send(
        &app,
        "workflow_run",
        "m3",
        &huge,
        Some(sign(SECRET.as_bytes(), &huge)),
    )
    .await;
    assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE);

    let (code, _) = send(
        &app,
        "push",
        "m4",
        b"{}",
        Some(sign(SECRET.as_bytes(), b"{}")),
    )
    .await;
    assert_eq!(
        code,
        StatusCode::ACCEPTED,
        "unsupported events are acknowledged"
    );
    assert_eq!(
        total_ops(&a.store_counts.counts()),
        0,
        "no store access on 400/413/202"
    );
}

#[tokio::test]
async fn every_real_payload_gets_a_deliberate_answer() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let a = router_over(store);
    let app = tfpilot::http::app(a.state.clone());
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/github/webhooks/manifest.json")).unwrap(),
    )
    .unwrap();
    let mut seen = 0;
    for dir in [
        "fixtures/github/webhooks",
        "fixtures/github/webhooks/derived",
    ] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name == "manifest.json" || name == "validation.json" {
                continue;
            }
            let event = name.split('.').next().unwrap().to_string();
            let body = std::fs::read(&path).unwrap();
            let (code, text) = send(
                &app,
                &event,
                &format!("fixture-{name}"),
                &body,
                Some(sign(SECRET.as_bytes(), &body)),
            )
            .await;
            assert!(
                code.is_success() || code == StatusCode::BAD_REQUEST,
                "{dir}/{name}: {code} {text}"
            );
            assert_ne!(
                code,
                StatusCode::BAD_REQUEST,
                "{dir}/{name} is a real payload: {text}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 60, "only {seen} payloads found");
    assert!(manifest.is_object() || manifest.is_array());
}

#[tokio::test]
async fn a_plan_runs_deliveries_in_order_give_planning_then_plan_ready() {
    let (store, _a, app) = seeded().await;

    let events = plan_lifecycle(22456244688);
    let (code, text) = deliver(&app, "workflow_run", "p1", &events[0]).await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "processed"));
    assert_eq!(
        derive_status(&stored(&store).await, now()),
        Status::Planning
    );
    deliver(&app, "workflow_run", "p2", &events[1]).await;
    assert_eq!(
        derive_status(&stored(&store).await, now()),
        Status::Planning
    );
    let (code, text) = deliver(&app, "workflow_run", "p3", &events[2]).await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "processed"));
    let doc = stored(&store).await;
    assert_eq!(derive_status(&doc, now()), Status::PlanReady);
    let plan = doc.run(WorkflowKind::Plan).expect("plan facts");
    assert_eq!(plan.run_id, Some(22456244688));
    assert_eq!(plan.conclusion.as_deref(), Some("success"));
    // The run's title names the request (the dispatch nonce), which resolves
    // every delivery of it without a read: no run index entry is written.
    let indexed = tfpilot::store::RunIndex::new(store.clone())
        .request_id("plan", 22456244688)
        .await
        .unwrap();
    assert_eq!(indexed, None);
}

/// A small deterministic shuffle (no RNG crate needed in the test).
fn permutations(n: usize) -> Vec<Vec<usize>> {
    fn go(prefix: &mut Vec<usize>, rest: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if rest.is_empty() {
            out.push(prefix.clone());
            return;
        }
        for i in 0..rest.len() {
            let x = rest.remove(i);
            prefix.push(x);
            go(prefix, rest, out);
            prefix.pop();
            rest.insert(i, x);
        }
    }
    let mut out = Vec::new();
    go(&mut Vec::new(), &mut (0..n).collect(), &mut out);
    out
}

#[tokio::test]
async fn shuffled_and_duplicated_deliveries_end_in_the_same_facts_with_one_write_per_change() {
    // The reference: in order, once each.
    let reference = {
        let (store, _a, app) = seeded().await;
        for (i, e) in plan_lifecycle(7).iter().enumerate() {
            deliver(&app, "workflow_run", &format!("ref{i}"), e).await;
        }
        facts(&stored(&store).await)
    };
    let events = plan_lifecycle(7);
    for order in permutations(3) {
        // Each event twice (new delivery ids, as GitHub's re-sends of the same
        // state would be), in this order, then the whole sequence again.
        let (store, a, app) = seeded().await;
        let before = a.store_counts.counts();
        let mut processed = 0;
        for round in 0..2 {
            for &i in &order {
                for copy in 0..2 {
                    let (code, text) = deliver(
                        &app,
                        "workflow_run",
                        &format!("o{round}-{i}-{copy}"),
                        &events[i],
                    )
                    .await;
                    assert_eq!(code, StatusCode::OK, "{text}");
                    if text == "processed" {
                        processed += 1;
                    }
                }
            }
        }
        let doc = stored(&store).await;
        assert_eq!(facts(&doc), reference, "order {order:?}");
        let writes = a.store_counts.counts().since(&before);
        assert_eq!(
            writes.total(OpKind::Replace),
            processed,
            "order {order:?}: request writes"
        );
        assert_eq!(
            doc.version,
            seed_request().version + processed,
            "order {order:?}: one version per saved change"
        );
    }
}

#[tokio::test]
async fn another_run_of_the_same_kind_changes_nothing_and_unrelated_workflows_cost_nothing() {
    let (store, a, app) = seeded().await;
    for (i, e) in plan_lifecycle(100).iter().enumerate() {
        deliver(&app, "workflow_run", &format!("a{i}"), e).await;
    }
    let tracked = stored(&store).await;

    let before = a.store_counts.counts();
    let (code, text) = deliver(
        &app,
        "workflow_run",
        "other",
        &plan_run(
            200,
            "completed",
            "completed",
            Some("failure"),
            "2026-02-26T18:59:00Z",
        ),
    )
    .await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "unchanged"));
    assert_eq!(
        a.store_counts
            .counts()
            .since(&before)
            .total(OpKind::Replace),
        0
    );
    assert_eq!(stored(&store).await, tracked);

    let mut unrelated = plan_run(
        300,
        "completed",
        "completed",
        Some("success"),
        "2026-02-26T18:59:00Z",
    );
    unrelated["workflow_run"]["name"] = json!("CI");
    unrelated["workflow_run"]["display_title"] = json!("Bump serde from 1.0.1 to 1.0.2");
    unrelated["workflow_run"]["head_branch"] = json!("dependabot/cargo/serde");
    let before = a.store_counts.counts();
    let (code, _) = deliver(&app, "workflow_run", "unrelated", &unrelated).await;
    assert_eq!(code, StatusCode::ACCEPTED);
    assert_eq!(
        total_ops(&a.store_counts.counts().since(&before)),
        0,
        "no store access at all"
    );
}

#[tokio::test]
async fn a_redelivered_delivery_id_is_acknowledged_with_zero_writes() {
    let (_store, a, app) = seeded().await;
    let e = &plan_lifecycle(9)[0];
    assert_eq!(
        deliver(&app, "workflow_run", "same-guid", e).await.1,
        "processed"
    );
    let before = a.store_counts.counts();
    let (code, text) = deliver(&app, "workflow_run", "same-guid", e).await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "duplicate"));
    assert_eq!(a.store_counts.counts().since(&before).writes(), 0);
}

#[tokio::test]
async fn health_readiness_and_metrics_answer_and_metrics_count_deliveries() {
    let (_store, _a, app) = seeded().await;
    for (i, e) in plan_lifecycle(11).iter().enumerate() {
        deliver(&app, "workflow_run", &format!("h{i}"), e).await;
    }
    deliver(&app, "workflow_run", "h0", &plan_lifecycle(11)[0]).await;
    for path in ["/healthz", "/readyz"] {
        let resp = app
            .clone()
            .oneshot(HttpRequest::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
    let resp = app
        .clone()
        .oneshot(HttpRequest::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        text.contains(
            r#"tfpilot_webhook_deliveries_total{event="workflow_run",outcome="processed"} 3"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"tfpilot_webhook_deliveries_total{event="workflow_run",outcome="duplicate"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains("tfpilot_webhook_processing_seconds_count 4"),
        "{text}"
    );
    assert!(
        text.contains(r#"tfpilot_store_operations_total{op="replace",outcome="ok"} 3"#),
        "{text}"
    );
}

#[test]
fn serve_without_a_webhook_secret_says_how_to_set_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tfpilot"))
        .arg("serve")
        .env_remove("TFPILOT_WEBHOOK_SECRET")
        .env("TFPILOT_STORE", "memory://")
        .output()
        .expect("run tfpilot");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TFPILOT_WEBHOOK_SECRET"), "{stderr}");
}
