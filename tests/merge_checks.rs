//! `tfpilot/plan` as a required check: it concludes on every request head, and a
//! merge queue's `merge_group` gets a conclusion on its own head SHA within one
//! delivery, so neither the merge button nor the queue ever waits on tfpilot.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request as HttpRequest;
use serde_json::json;
use tower::ServiceExt;

use tfpilot::config::forms::submitted_body;
use tfpilot::config::repo::RepoConfig;
use tfpilot::harness::{EXAMPLE_CONFIG, Harness, HarnessOptions, INFRA_REPO, plan_script};
use tfpilot::http::signature::sign;
use tfpilot::render::PLAN_CHECK_NAME;
use tfpilot::sim::{RunInfo, Script};
use tfpilot::store::Thread;

/// Opens a valid request issue; returns (request id, PR number, PR head SHA).
async fn request(h: &Harness, bucket: &str) -> (String, u64, String) {
    let config = RepoConfig::parse(EXAMPLE_CONFIG).unwrap();
    let body = submitted_body(
        &config,
        "s3-bucket",
        &[
            ("Environment", "dev"),
            ("name", bucket),
            ("project", "core"),
        ],
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
        .expect("a request was created");
    let req = h.state.service.requests.get(&id).await.unwrap().unwrap();
    let pr = req.pr().unwrap().number;
    let head = h.sim.pull(INFRA_REPO, pr).unwrap().head_sha;
    (id, pr, head)
}

fn plan_check(h: &Harness, sha: &str) -> (String, Option<String>) {
    let runs = h.sim.check_runs_named(INFRA_REPO, PLAN_CHECK_NAME, sha);
    let last = runs.last().expect("a tfpilot/plan check run");
    (last.status.clone(), last.conclusion.clone())
}

#[tokio::test]
async fn the_plan_check_concludes_success_or_failure_on_the_request_head() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let (_, _, head) = request(&h, "acme-check-ok").await;
    assert_ne!(
        plan_check(&h, &head).0,
        "completed",
        "waits while the plan runs"
    );
    h.run_workflows().await.unwrap();
    assert_eq!(
        plan_check(&h, &head),
        ("completed".into(), Some("success".into()))
    );

    // A failing plan concludes failure: a repository requiring the check cannot merge.
    h.sim.script_workflow_with(
        INFRA_REPO,
        tfpilot::core::contract::PLAN.file,
        Arc::new(|run: &RunInfo| {
            let mut s = plan_script(run, "create");
            s.conclusion = Script::failure().conclusion;
            s
        }),
    );
    let (_, _, head) = request(&h, "acme-check-bad").await;
    h.run_workflows().await.unwrap();
    assert_eq!(
        plan_check(&h, &head),
        ("completed".into(), Some("failure".into()))
    );
}

async fn merge_group(
    h: &Harness,
    pr: u64,
    base_sha: &str,
    head_sha: &str,
) -> axum::http::StatusCode {
    let payload = json!({
        "action": "checks_requested",
        "merge_group": {
            "head_sha": head_sha,
            "head_ref": format!("refs/heads/gh-readonly-queue/main/pr-{pr}-{base_sha}"),
            "base_ref": "refs/heads/main",
            "base_sha": base_sha,
        },
        "repository": {"id": 1, "name": "infra", "full_name": "acme/infra", "owner": {"login": "acme"}},
        "installation": {"id": h.sim.installation_id()},
        "sender": {"login": "github-merge-queue[bot]", "type": "Bot"},
    });
    let body = serde_json::to_vec(&payload).unwrap();
    let resp = h
        .app
        .clone()
        .oneshot(
            HttpRequest::post("/webhooks/github")
                .header("x-github-event", "merge_group")
                .header("x-github-delivery", format!("mg-{pr}-{head_sha}"))
                .header("x-hub-signature-256", sign(b"sim-webhook-secret", &body))
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    resp.status()
}

#[tokio::test]
async fn a_merge_group_gets_a_plan_conclusion_on_its_head_within_one_delivery() {
    let h = Harness::start(HarnessOptions::default()).await.unwrap();
    let (_, pr, head) = request(&h, "acme-queue-ok").await;
    h.run_workflows().await.unwrap();
    // The queue builds its own commit on a temporary branch.
    let queue_commit = |n: u64| {
        h.sim
            .push(
                INFRA_REPO,
                &format!("gh-readonly-queue/main/pr-{n}-{head}"),
                "github-merge-queue[bot]",
                &[("queue.txt", Some("queued\n"))],
                "merge queue",
            )
            .unwrap()
    };
    let queue_head = queue_commit(pr);
    h.settle().await.unwrap();
    let status = merge_group(&h, pr, &head, &queue_head).await;
    assert!(status.is_success(), "{status}");
    assert_eq!(
        plan_check(&h, &queue_head),
        ("completed".into(), Some("success".into()))
    );

    // A PR that is not a request never stalls the queue either.
    let other_head = queue_commit(999);
    h.settle().await.unwrap();
    assert!(merge_group(&h, 999, &head, &other_head).await.is_success());
    assert_eq!(
        plan_check(&h, &other_head),
        ("completed".into(), Some("success".into()))
    );
}
