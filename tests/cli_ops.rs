//! The operator commands, run as the real binary against the simulator over HTTP and a
//! folder store: `tfpilot requests` lists and shows, `tfpilot sync <id>` repairs a
//! request whose webhooks were all lost, `tfpilot reconcile` then finds nothing left.

use std::process::Output;
use std::sync::Arc;

use tfpilot::config::forms::submitted_body;
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::request::WorkflowKind;
use tfpilot::harness::{EXAMPLE_CONFIG, Harness, HarnessOptions, INFRA_REPO};
use tfpilot::render::marker;
use tfpilot::sim::{DeliveryFaults, SimConfig, TEST_APP_PRIVATE_KEY_PEM};
use tfpilot::store::{FolderStore, Store, Thread};

async fn tfpilot(args: &[&str], h: &Harness, store_url: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tfpilot"))
        .args(args)
        .env_clear()
        .env("TFPILOT_APP_ID", SimConfig::for_tests().app_id.to_string())
        .env("TFPILOT_PRIVATE_KEY", TEST_APP_PRIVATE_KEY_PEM)
        .env("TFPILOT_STORE", store_url)
        .env("TFPILOT_GITHUB_API_URL", h.sim.base_url())
        .env("TFPILOT_LOG", "error")
        .output()
        .await
        .expect("tfpilot runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A simulator and tfpilot over a folder store: (the folder, its `file://` URL, harness).
async fn start() -> (tempfile::TempDir, String, Harness) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> = Arc::new(FolderStore::open(dir.path()).expect("folder"));
    let url = format!("file://{}", dir.path().display());
    let h = Harness::start(HarnessOptions {
        store: Some(store),
        now: chrono::Utc::now(),
        ..HarnessOptions::default()
    })
    .await
    .expect("harness");
    (dir, url, h)
}

/// Alice's request from the issue form, handled by tfpilot (PR opened, plan
/// dispatched): its id.
async fn request(h: &Harness) -> String {
    let config = RepoConfig::parse(EXAMPLE_CONFIG).expect("config");
    let body = submitted_body(
        &config,
        "s3-bucket",
        &[
            ("Environment", "dev"),
            ("name", "acme-cli-sync"),
            ("project", "core"),
        ],
    )
    .expect("body");
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "bucket", &body, &["tfpilot-request"])
        .expect("issue");
    h.settle().await.expect("settle");
    h.state
        .service
        .index
        .find(Thread::Issue, "acme", "infra", issue)
        .await
        .expect("index")
        .expect("request")
}

#[tokio::test]
async fn sync_repairs_a_request_from_the_command_line_and_requests_shows_it() {
    let (_dir, url, h) = start().await;
    let empty = tfpilot(&["requests"], &h, &url).await;
    assert!(empty.status.success(), "{empty:?}");
    assert_eq!(stdout(&empty), "no live requests\n");

    let id = request(&h).await;
    let svc = &h.state.service;

    // The plan runs and succeeds, and tfpilot hears nothing of it.
    h.sim.set_delivery_faults(DeliveryFaults {
        drop_rate: 1.0,
        ..DeliveryFaults::default()
    });
    h.run_workflows().await.expect("runs");
    let listed = stdout(&tfpilot(&["requests"], &h, &url).await);
    assert!(
        listed.starts_with(&format!("{id}  planning  acme/infra  #")),
        "{listed}"
    );

    let synced = tfpilot(&["sync", &id], &h, &url).await;
    assert!(synced.status.success(), "{synced:?}");
    let text = stdout(&synced);
    assert!(text.starts_with(&format!("{id}: plan_ready\n")), "{text}");
    assert!(
        text.contains(": success"),
        "the plan's outcome is named: {text}"
    );
    let facts = svc.requests.get(&id).await.expect("get").expect("live");
    assert!(
        facts.run(WorkflowKind::Plan).is_some_and(|r| r.succeeded()),
        "the facts were repaired: {facts:?}"
    );

    // Again: nothing left to learn.
    let again = stdout(&tfpilot(&["sync", &id], &h, &url).await);
    assert!(again.contains("already up to date"), "{again}");
    let shown = tfpilot(&["requests", &id], &h, &url).await;
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("facts JSON");
    assert_eq!(json["id"], id.as_str());

    let reconciled = tfpilot(&["reconcile"], &h, &url).await;
    assert!(reconciled.status.success(), "{reconciled:?}");
    assert_eq!(stdout(&reconciled), "nothing to repair\n");
}

#[tokio::test]
async fn operator_commands_fail_clearly_without_what_they_need() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("file://{}", dir.path().display());
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    let unknown = tfpilot(&["sync", "req_dev_s3-bucket_zzzzzz"], &h, &url).await;
    assert!(!unknown.status.success());
    let err = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        err.contains("no live request req_dev_s3-bucket_zzzzzz"),
        "{err}"
    );

    let no_app = tokio::process::Command::new(env!("CARGO_BIN_EXE_tfpilot"))
        .args(["reconcile", "--store", &url])
        .env_clear()
        .output()
        .await
        .expect("runs");
    assert!(!no_app.status.success());
    let err = String::from_utf8_lossy(&no_app.stderr);
    assert!(err.contains("TFPILOT_APP_ID"), "{err}");

    let missing = tfpilot(&["requests", "req_dev_s3-bucket_zzzzzz"], &h, &url).await;
    assert!(!missing.status.success());
    // The private key is never echoed, whatever fails.
    for out in [&unknown, &missing] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("PRIVATE KEY"), "{all}");
    }
}

#[tokio::test]
async fn sync_from_the_command_line_never_takes_another_apps_comment_for_its_own() {
    let (_dir, url, h) = start().await;
    let id = request(&h).await;
    let svc = &h.state.service;
    let pr = svc
        .requests
        .get(&id)
        .await
        .expect("get")
        .and_then(|r| r.pr().map(|p| p.number))
        .expect("a PR");
    let bot = h.sim.bot_login();
    let ours = |h: &Harness| -> Vec<_> {
        h.sim
            .comments(INFRA_REPO, pr)
            .into_iter()
            .filter(|c| c.author == bot && c.body.starts_with(&marker(&id)))
            .collect()
    };
    let shown = ours(&h);
    assert_eq!(shown.len(), 1, "{shown:?}");

    // tfpilot's comment is gone and its id lost (tfpilot hears nothing); another
    // App's comment carries tfpilot's marker.
    h.sim.set_delivery_faults(DeliveryFaults {
        drop_rate: 1.0,
        ..DeliveryFaults::default()
    });
    h.sim
        .delete_comment(INFRA_REPO, shown[0].id, "alice")
        .expect("deleted");
    svc.requests
        .update(&id, |r| {
            let mut next = r.clone();
            next.sticky = None;
            Some(next)
        })
        .await
        .expect("forgotten");
    let imitation = format!("{}\nPosted by a workflow.", marker(&id));
    let theirs = h
        .sim
        .comment_as_app(INFRA_REPO, pr, "other-ci", 4_000_001, &imitation)
        .expect("their comment");

    let synced = tfpilot(&["sync", &id], &h, &url).await;
    assert!(synced.status.success(), "{synced:?}");
    let again = ours(&h);
    assert_eq!(
        again.len(),
        1,
        "tfpilot shows the request in its own comment: {again:?}"
    );
    let facts = svc.requests.get(&id).await.expect("get").expect("live");
    assert_eq!(facts.sticky.and_then(|s| s.comment_id), Some(again[0].id));
    assert_ne!(again[0].id, theirs);
    let other = h
        .sim
        .comments(INFRA_REPO, pr)
        .into_iter()
        .find(|c| c.id == theirs)
        .expect("their comment stays");
    assert_eq!(other.body, imitation, "and is not edited");
}
