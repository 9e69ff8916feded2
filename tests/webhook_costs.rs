//! What a delivery costs, counted as the benchmark counts it: store operations
//! (the counting store behind `/metrics`) and GitHub calls (`/metrics`), through
//! the real router against the GitHub simulator.
//!
//! Issue 12's targets: a state-changing `workflow_run` costs at most 4 store
//! operations and 2 GitHub calls; a duplicate delivery costs nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request as HttpRequest, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request, RunStatus, WorkflowKind};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::http::signature::sign;
use tfpilot::sim::WebhookTarget;
use tfpilot::store::{
    Fault, FaultAction, FaultStore, MemoryStore, OpCounts, OpKind, RunIndex, Store,
};

const SECRET: &str = "sim-webhook-secret";
const ID: &str = "req_dev_s3-bucket_cost01";

/// A harness whose request [`ID`] has an open PR (so saved changes reach GitHub).
async fn with_pr(store: Option<Arc<dyn Store>>) -> (Harness, u64) {
    let h = Harness::start(HarnessOptions {
        store,
        ..HarnessOptions::default()
    })
    .await
    .expect("harness");
    // The PR's own `pull_request.opened` is not what is measured here.
    h.sim
        .set_webhook_target(WebhookTarget::Url("http://127.0.0.1:9/".into()));
    let pr = add_request(&h, ID).await;
    (h, pr)
}

/// Stores request `id` with an open PR on its branch; returns the PR number.
async fn add_request(h: &Harness, id: &str) -> u64 {
    let branch = format!("request/{id}");
    h.sim
        .push(
            INFRA_REPO,
            &branch,
            "alice",
            &[(&format!("envs/dev/tfpilot_{id}.tf"), Some("# cost\n"))],
            "request",
        )
        .expect("push");
    let pr = h
        .sim
        .open_pull(INFRA_REPO, "alice", &branch, "main", id, "request")
        .expect("pull");
    let mut doc = Request::new(&RequestId::parse(id).expect("id"));
    doc.environment = Some("dev".into());
    doc.installation_id = Some(h.sim.installation_id());
    doc.target_owner = Some("acme".into());
    doc.target_repo = Some("infra".into());
    let mut facts = PrFacts::new(pr);
    facts.open = true;
    doc.github_mut().pr = Some(facts);
    h.state.service.requests.create(&doc).await.expect("doc");
    h.settle().await.expect("settle");
    pr
}

/// Run `run_id` of the plan workflow for [`ID`], as the dispatch names it.
fn plan_run(run_id: u64, action: &str, status: &str, title: &str) -> Value {
    plan_run_of(ID, run_id, action, status, title)
}

/// Run `run_id` of the plan workflow for request `id`.
fn plan_run_of(id: &str, run_id: u64, action: &str, status: &str, title: &str) -> Value {
    json!({
        "action": action,
        "workflow_run": {
            "id": run_id,
            "name": "tfpilot plan",
            "display_title": title,
            "status": status,
            "conclusion": null,
            "head_branch": format!("request/{id}"),
            "head_sha": "0123456789abcdef0123456789abcdef01234567",
            "run_attempt": 1,
            "updated_at": if status == "queued" { "2026-11-25T09:01:00Z" } else { "2026-11-25T09:02:00Z" },
            "created_at": "2026-11-25T09:00:00Z",
            "html_url": format!("https://github.com/acme/infra/actions/runs/{run_id}"),
            "event": "workflow_dispatch",
        },
        "repository": {
            "id": 1, "name": "infra", "full_name": "acme/infra",
            "owner": {"login": "acme"}, "default_branch": "main", "fork": false
        },
        "installation": {"id": 1},
    })
}

fn nonce_title(run_id: u64) -> String {
    format!("tfpilot plan {ID} n{run_id}")
}

/// The first change a process sends to GitHub also fetches its installation
/// token and the repository's `tfpilot.yml`; both are cached afterwards.
async fn warm_up(h: &Harness) {
    let id = "req_dev_s3-bucket_warm01";
    add_request(h, id).await;
    let run = 4_000_000;
    let title = format!("tfpilot plan {id} n{run}");
    let (code, text) = deliver(
        h,
        "warm-up",
        &plan_run_of(id, run, "requested", "queued", &title),
    )
    .await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "processed"));
}

async fn deliver(h: &Harness, delivery: &str, payload: &Value) -> (StatusCode, String) {
    deliver_as(h, "workflow_run", delivery, payload).await
}

async fn deliver_as(
    h: &Harness,
    event: &str,
    delivery: &str,
    payload: &Value,
) -> (StatusCode, String) {
    let mut payload = payload.clone();
    payload["installation"]["id"] = json!(h.sim.installation_id());
    let body = serde_json::to_vec(&payload).expect("json");
    let req = HttpRequest::post("/webhooks/github")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", sign(SECRET.as_bytes(), &body))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let resp = h.app.clone().oneshot(req).await.expect("answer");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The status of `payload` delivered with a signature made with another secret.
async fn forged(h: &Harness, event: &str, payload: &Value) -> StatusCode {
    let body = serde_json::to_vec(payload).expect("json");
    let req = HttpRequest::post("/webhooks/github")
        .header("x-github-event", event)
        .header("x-github-delivery", format!("{event}-forged"))
        .header("x-hub-signature-256", sign(b"not-the-secret", &body))
        .body(Body::from(body))
        .expect("request");
    h.app.clone().oneshot(req).await.expect("answer").status()
}

fn total(c: &OpCounts) -> u64 {
    OpKind::ALL.into_iter().map(|op| c.total(op)).sum()
}

/// `tfpilot_github_calls_total`, summed, from `/metrics`.
async fn github_calls(h: &Harness) -> u64 {
    let req = HttpRequest::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let resp = h.app.clone().oneshot(req).await.expect("answer");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.starts_with("tfpilot_github_calls_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Store operations and GitHub calls of one delivery.
async fn cost(h: &Harness, delivery: &str, payload: &Value) -> (String, u64, u64) {
    cost_as(h, "workflow_run", delivery, payload).await
}

async fn cost_as(h: &Harness, event: &str, delivery: &str, payload: &Value) -> (String, u64, u64) {
    let ops = h.store_counts.counts();
    let calls = github_calls(h).await;
    let sim_calls = h.sim.calls().len();
    let (code, text) = deliver_as(h, event, delivery, payload).await;
    assert!(code.is_success(), "{delivery}: {code} {text}");
    let spent = h.store_counts.counts().since(&ops);
    let calls = github_calls(h).await - calls;
    if total(&spent) > 4 || calls > 2 {
        // What went over, for the failure message below.
        eprintln!("{delivery}: store {:?}", spent.iter().collect::<Vec<_>>());
        for c in h.sim.calls().iter().skip(sim_calls) {
            eprintln!("{delivery}: GitHub {} {}", c.method, c.route);
        }
    }
    (text, total(&spent), calls)
}

#[tokio::test]
async fn a_state_change_costs_at_most_four_store_operations_and_two_github_calls() {
    let (h, pr) = with_pr(None).await;
    warm_up(&h).await;
    let run = 5_000_001;
    for (i, (action, status)) in [("requested", "queued"), ("in_progress", "in_progress")]
        .into_iter()
        .enumerate()
    {
        let (outcome, ops, calls) = cost(
            &h,
            &format!("state-{i}"),
            &plan_run(run, action, status, &nonce_title(run)),
        )
        .await;
        assert_eq!(outcome, "processed", "{status}");
        assert!(ops <= 4, "{status}: {ops} store operations");
        assert!(calls <= 2, "{status}: {calls} GitHub calls");
    }
    // The work was done: the facts, and the status shown on the PR.
    let doc = h
        .state
        .service
        .requests
        .get(ID)
        .await
        .expect("read")
        .expect("doc");
    let plan = doc.run(WorkflowKind::Plan).expect("plan run");
    assert_eq!(
        (plan.run_id, plan.status.clone()),
        (Some(run), Some(RunStatus::InProgress))
    );
    let comments = h.sim.comments(INFRA_REPO, pr);
    assert_eq!(comments.len(), 1, "one sticky comment");
}

#[tokio::test]
async fn a_duplicate_delivery_costs_no_store_operation_and_no_github_call() {
    let (h, _pr) = with_pr(None).await;
    let run = 5_000_002;
    let queued = plan_run(run, "requested", "queued", &nonce_title(run));
    assert_eq!(cost(&h, "dup-1", &queued).await.0, "processed");
    let (outcome, ops, calls) = cost(&h, "dup-1", &queued).await;
    assert_eq!((outcome.as_str(), ops, calls), ("duplicate", 0, 0));
}

#[tokio::test]
async fn another_delivery_of_the_same_change_is_not_taken_for_a_duplicate() {
    let (h, _pr) = with_pr(None).await;
    let run = 5_000_003;
    let queued = plan_run(run, "requested", "queued", &nonce_title(run));
    assert_eq!(cost(&h, "same-1", &queued).await.0, "processed");
    // Same payload, another id: handled (nothing new), not acknowledged unseen.
    assert_eq!(cost(&h, "same-2", &queued).await.0, "unchanged");
    // An id that only resembles a recorded one is another delivery.
    let running = plan_run(run, "in_progress", "in_progress", &nonce_title(run));
    assert_eq!(cost(&h, "same-1x", &running).await.0, "processed");
}

#[tokio::test]
async fn a_failed_delivery_is_not_remembered_and_its_redelivery_is_processed() {
    let faults = Arc::new(FaultStore::new(Arc::new(MemoryStore::new())));
    let (h, _pr) = with_pr(Some(faults.clone())).await;
    let run = 5_000_004;
    let queued = plan_run(run, "requested", "queued", &nonce_title(run));
    // The facts are stored, then recording the delivery fails: GitHub sees a 500.
    faults.inject(Fault {
        op: OpKind::Create,
        key_prefix: "webhooks/github/deliveries/".into(),
        action: FaultAction::FailBefore,
        times: 1,
    });
    let (code, _) = deliver(&h, "fails-once", &queued).await;
    assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
    // The redelivery is handled again (nothing left to change), then recorded.
    assert_eq!(cost(&h, "fails-once", &queued).await.0, "unchanged");
    assert_eq!(cost(&h, "fails-once", &queued).await.0, "duplicate");
}

#[tokio::test]
async fn a_redelivery_to_another_replica_is_acknowledged_as_a_duplicate_without_a_write() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let (a, _pr) = with_pr(Some(store.clone())).await;
    let run = 5_000_005;
    let queued = plan_run(run, "requested", "queued", &nonce_title(run));
    assert_eq!(cost(&a, "replicas-1", &queued).await.0, "processed");
    // A second replica over the same store, which never saw the delivery.
    let b = Harness::start(HarnessOptions {
        store: Some(store.clone()),
        ..HarnessOptions::default()
    })
    .await
    .expect("replica");
    let before = b.store_counts.counts();
    let (code, text) = deliver(&b, "replicas-1", &queued).await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "duplicate"));
    let spent = b.store_counts.counts().since(&before);
    assert_eq!(spent.total(OpKind::Replace), 0, "{spent:?}");
}

#[tokio::test]
async fn runs_named_by_their_nonce_are_not_indexed_and_branch_runs_are() {
    let (h, _pr) = with_pr(None).await;
    let index = RunIndex::new(h.store.clone());
    let named = 5_000_006;
    deliver(
        &h,
        "named",
        &plan_run(named, "requested", "queued", &nonce_title(named)),
    )
    .await;
    assert_eq!(index.request_id("plan", named).await.expect("read"), None);

    // A plan run whose title names no request, tied to it by its branch: the
    // index keeps that answer.
    let (h, _pr) = with_pr(None).await;
    let index = RunIndex::new(h.store.clone());
    let manual = 5_000_007;
    let (_, text) = deliver(
        &h,
        "manual",
        &plan_run(manual, "requested", "queued", "tfpilot plan"),
    )
    .await;
    assert_eq!(text, "processed");
    assert_eq!(
        index
            .request_id("plan", manual)
            .await
            .expect("read")
            .as_deref(),
        Some(ID)
    );
}

/// A run of a workflow that is not tfpilot's, as most runs in an organization are.
fn unrelated_run() -> Value {
    let mut v = plan_run(
        6_000_001,
        "completed",
        "completed",
        "Bump serde from 1.0.1 to 1.0.2",
    );
    v["workflow_run"]["name"] = json!("CI");
    v["workflow_run"]["head_branch"] = json!("dependabot/cargo/serde");
    v
}

#[tokio::test]
async fn unrelated_runs_are_ignored_before_the_whole_payload_is_read_but_never_before_the_signature()
 {
    let (h, _pr) = with_pr(None).await;
    let (outcome, ops, calls) = cost(&h, "unrelated", &unrelated_run()).await;
    assert_eq!((outcome.as_str(), ops, calls), ("ignored", 0, 0));

    // A wrong signature is refused first, whatever the payload says.
    assert_eq!(
        forged(&h, "workflow_run", &unrelated_run()).await,
        StatusCode::UNAUTHORIZED
    );

    // A payload the full parser refuses is refused, not ignored.
    let mut broken = unrelated_run();
    broken.as_object_mut().expect("object").remove("repository");
    let (code, _) = deliver(&h, "unrelated-broken", &broken).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);

    // The peek decides as the handler does: a tfpilot run is still handled.
    let run = 6_000_002;
    let (outcome, _, _) = cost(
        &h,
        "related",
        &plan_run(run, "requested", "queued", &nonce_title(run)),
    )
    .await;
    assert_eq!(outcome, "processed");
}

/// A person's comment on an issue, as GitHub sends it (a real payload), with
/// `body`.
fn comment(action: &str, body: &str) -> Value {
    let mut v: Value = serde_json::from_str(include_str!(
        "../fixtures/github/webhooks/issue_comment.created.1.json"
    ))
    .expect("fixture");
    v["action"] = json!(action);
    v["comment"]["body"] = json!(body);
    // On the harness's repository, which the simulator knows.
    let (owner, name) = INFRA_REPO.split_once('/').expect("owner/name");
    v["repository"]["name"] = json!(name);
    v["repository"]["full_name"] = json!(INFRA_REPO);
    v["repository"]["owner"]["login"] = json!(owner);
    v
}

#[tokio::test]
async fn comments_not_addressed_to_tfpilot_cost_nothing_and_are_never_ignored_before_the_signature()
{
    let (h, _pr) = with_pr(None).await;
    warm_up(&h).await;
    for (n, (action, body)) in [
        (
            "created",
            "Looks good to me.\n\nCould we pin the provider version?",
        ),
        ("created", "please run /tfpilot apply"),
        ("created", "```\n/tfpilot apply\n```"),
        ("created", "> /tfpilot apply\n\nwhy was this applied?"),
        ("created", ""),
        ("edited", "/tfpilot apply"),
        ("deleted", "/tfpilot apply"),
    ]
    .into_iter()
    .enumerate()
    {
        let (outcome, ops, calls) = cost_as(
            &h,
            "issue_comment",
            &format!("chat-{n}"),
            &comment(action, body),
        )
        .await;
        assert_eq!(
            (outcome.as_str(), ops, calls),
            ("ignored", 0, 0),
            "{action} {body:?}"
        );
    }

    // A wrong signature is refused first, whatever the comment says.
    assert_eq!(
        forged(&h, "issue_comment", &comment("created", "thanks!")).await,
        StatusCode::UNAUTHORIZED
    );

    // A payload the full parser refuses is refused, not ignored.
    for field in ["issue", "repository", "sender"] {
        let mut broken = comment("created", "thanks!");
        broken.as_object_mut().expect("object").remove(field);
        let (code, text) = deliver_as(&h, "issue_comment", "chat-broken", &broken).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "without {field}: {text}");
    }

    // A command in the same payload is not ignored: it is handled (here the issue
    // is not a request, which tfpilot says in a reply).
    let (code, text) = deliver_as(
        &h,
        "issue_comment",
        "chat-command",
        &comment("created", "/tfpilot plan"),
    )
    .await;
    assert_eq!((code, text.as_str()), (StatusCode::OK, "processed"));
}
