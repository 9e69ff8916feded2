//! What people see on the PR, against the GitHub simulator: one sticky comment edited
//! in place over a request's life, check runs following the plan and the lifecycle,
//! and GitHub write calls counted per step (nothing for an unchanged render).
//!
//! Webhooks go from the simulator through the real router; tfpilot's real GitHub
//! client calls the simulator back. The plan and apply dispatches are made through
//! `service::dispatch::dispatch` (what the PR commands call).

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

use tfpilot::core::contract::inputs;
use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{Request, WorkflowKind};
use tfpilot::github::{AppCredentials, GitHub, GitHubClient, GitHubConfig, Repo};
use tfpilot::render::{LIFECYCLE_CHECK_NAME, PLAN_CHECK_NAME, marker};
use tfpilot::serve::{Parts, assemble};
use tfpilot::service::dispatch::{Dispatched, dispatch};
use tfpilot::service::{FakeClock, Service, Settings};
use tfpilot::sim::{
    ArtifactSpec, CheckRunView, CommentView, Script, SimConfig, Simulator,
    TEST_APP_PRIVATE_KEY_PEM, WebhookTarget,
};
use tfpilot::store::{Fault, FaultAction, FaultStore, MemoryStore, OpKind, Store};

const REPO: &str = "acme/infra";
/// The fixture plans target this request's module (`module.tfpilot_req_dev_bucket_a1b2c3`).
const ID: &str = "req_dev_bucket_a1b2c3";
const SECRET: &str = "sim-webhook-secret";

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Harness {
    sim: Simulator,
    app: axum::Router,
    svc: Arc<Service>,
    faults: Arc<FaultStore>,
    /// tfpilot's client, to act as the app where a test needs to.
    client: GitHubClient,
    repo: Repo,
}

impl Harness {
    async fn start() -> Harness {
        let config = SimConfig::for_tests();
        let app_id = config.app_id;
        let sim = Simulator::start(config).await.expect("simulator");
        sim.create_repo(
            tfpilot::sim::RepoSpec::new(REPO)
                .file("README.md", "# infra\n")
                .file(
                    ".github/workflows/tfpilot-plan.yml",
                    &read("templates/workflows/tfpilot-plan.yml"),
                )
                .file(
                    ".github/workflows/tfpilot-apply.yml",
                    &read("templates/workflows/tfpilot-apply.yml"),
                ),
        )
        .expect("repo");
        let client = || {
            let credentials = AppCredentials::from_pem(
                app_id,
                &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
            )
            .expect("pem");
            GitHubClient::new(GitHubConfig::new(credentials).with_api_url(sim.base_url()))
                .expect("client")
        };
        let faults = Arc::new(FaultStore::new(Arc::new(MemoryStore::new())));
        let store: Arc<dyn Store> = faults.clone();
        let assembled = assemble(Parts {
            webhook_secret: SecretString::from(SECRET),
            store,
            github: Arc::new(client()),
            github_metrics: None,
            clock: Arc::new(FakeClock::new(
                Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
            )),
            settings: Settings::default(),
        });
        let svc = assembled.state.service.clone();
        let app = tfpilot::http::app(assembled.state);
        sim.set_webhook_target(WebhookTarget::Router(app.clone()));
        let repo = Repo::new(sim.installation_id(), "acme", "infra");
        let mut request = Request::new(&RequestId::parse(ID).expect("id"));
        request.requester = Some("alice".into());
        request.environment = Some("dev".into());
        request.module = Some("bucket".into());
        request.installation_id = Some(sim.installation_id());
        request.target_owner = Some("acme".into());
        request.target_repo = Some("infra".into());
        request.target_base = Some("main".into());
        request.branch_name = Some(format!("request/{ID}"));
        svc.requests.create(&request).await.expect("request stored");
        Harness {
            sim,
            app,
            svc,
            faults,
            client: client(),
            repo,
        }
    }

    /// Scripts the plan run: success with the fixture plan (and a cost estimate).
    fn script_plan_with_artifact(&self) {
        let plan = read("fixtures/plans/create.plan.json");
        let cost = read("fixtures/plans/infracost-diff.json");
        self.sim.script_workflow(
            REPO,
            "tfpilot-plan.yml",
            Script::success().with_artifact(ArtifactSpec::new(
                "tfpilot-plan",
                &[
                    ("plan.json", plan.as_bytes()),
                    ("plan.txt", b"Plan: 7 to add, 0 to change, 0 to destroy."),
                    ("infracost-diff.json", cost.as_bytes()),
                ],
            )),
        );
        self.sim
            .script_workflow(REPO, "tfpilot-apply.yml", Script::success());
    }

    /// Pushes the request branch and opens its PR; returns the PR number.
    async fn open_pr(&self) -> u64 {
        self.sim
            .push(
                REPO,
                &format!("request/{ID}"),
                "tfpilot[bot]",
                &[(
                    &format!("envs/dev/tfpilot_{ID}.tf"),
                    Some("module \"tfpilot_req_dev_bucket_a1b2c3\" {}\n"),
                )],
                "tfpilot: request",
            )
            .expect("push");
        let pr = self
            .sim
            .open_pull(
                REPO,
                "alice",
                &format!("request/{ID}"),
                "main",
                &format!("tfpilot: {ID}"),
                "Infrastructure request",
            )
            .expect("pull");
        self.settle().await;
        pr
    }

    async fn settle(&self) {
        self.sim.quiesce().await.expect("quiesce");
    }

    async fn request(&self) -> Request {
        self.svc
            .requests
            .get(ID)
            .await
            .expect("store")
            .expect("request")
    }

    async fn dispatch(&self, kind: WorkflowKind, git_ref: &str, extra: &[(&'static str, String)]) {
        let request = self.request().await;
        let outcome = dispatch(&self.svc, &self.repo, &request, kind, git_ref, extra, None)
            .await
            .expect("dispatch");
        assert!(matches!(outcome, Dispatched::Started { .. }));
        self.settle().await;
    }

    async fn advance(&self) {
        assert!(self.sim.advance_workflows() > 0, "a run to advance");
        self.settle().await;
    }

    fn bot_comments(&self, pr: u64) -> Vec<CommentView> {
        self.sim
            .comments(REPO, pr)
            .into_iter()
            .filter(|c| c.author == self.sim.bot_login())
            .collect()
    }

    /// The one sticky comment: asserts there is exactly one tfpilot comment.
    fn sticky(&self, pr: u64) -> CommentView {
        let mine = self.bot_comments(pr);
        assert_eq!(mine.len(), 1, "exactly one tfpilot comment: {mine:#?}");
        assert!(mine[0].body.starts_with(&marker(ID)));
        mine[0].clone()
    }

    fn check(&self, name: &str, head: &str) -> CheckRunView {
        let runs = self.sim.check_runs_named(REPO, name, head);
        runs.last()
            .cloned()
            .unwrap_or_else(|| panic!("no {name} check run on {head}"))
    }

    fn head(&self, pr: u64) -> String {
        self.sim.pull(REPO, pr).expect("pr").head_sha
    }

    fn write_count(&self) -> usize {
        self.sim.write_calls().len()
    }
}

/// The comment and check-run writes made since call `from` of the write log:
/// `(method, concrete path)`.
fn writes_since(h: &Harness, from: usize) -> Vec<(String, String)> {
    h.sim.write_calls()[from..]
        .iter()
        .map(|c| (c.method.clone(), c.path.clone()))
        .collect()
}

/// At most one PATCH per comment and per check run among `writes`, and only
/// comment/check-run/dispatch writes at all.
fn assert_at_most_one_patch_each(step: &str, writes: &[(String, String)]) {
    let mut patches: BTreeMap<&str, usize> = BTreeMap::new();
    for (method, path) in writes {
        assert!(
            path.contains("/issues/")
                || path.contains("/check-runs")
                || path.ends_with("/dispatches"),
            "{step}: unexpected write {method} {path}"
        );
        if method == "PATCH" {
            *patches.entry(path).or_default() += 1;
        }
    }
    for (path, n) in patches {
        assert!(n <= 1, "{step}: {n} PATCHes of {path}: {writes:#?}");
    }
}

#[tokio::test]
async fn a_request_lifecycle_keeps_one_comment_edited_in_place_and_checks_follow_it() {
    let h = Harness::start().await;
    h.script_plan_with_artifact();
    let mut steps: Vec<(String, Vec<(String, String)>)> = Vec::new();

    // The PR opens: the comment and both check runs are created.
    let from = h.write_count();
    let pr = h.open_pr().await;
    let head = h.head(pr);
    let first = h.sticky(pr);
    assert!(first.body.contains("No plan yet"), "{}", first.body);
    assert_eq!(h.check(PLAN_CHECK_NAME, &head).status, "queued");
    steps.push(("pr opened".into(), writes_since(&h, from)));

    // Plan dispatched: planning, the plan check queued.
    let from = h.write_count();
    h.dispatch(WorkflowKind::Plan, &format!("request/{ID}"), &[])
        .await;
    steps.push(("plan dispatched".into(), writes_since(&h, from)));
    let plan_check = h.check(PLAN_CHECK_NAME, &head);
    assert_eq!(plan_check.status, "queued");
    assert_eq!(plan_check.title.as_deref(), Some("Plan queued"));
    assert_eq!(h.sticky(pr).id, first.id, "edited in place");

    // The run starts: in progress.
    let from = h.write_count();
    h.advance().await;
    steps.push(("plan in progress".into(), writes_since(&h, from)));
    assert_eq!(h.check(PLAN_CHECK_NAME, &head).status, "in_progress");
    assert!(h.sticky(pr).body.contains("A plan is running"));

    // The run completes: the artifact is read, the summary shown on both.
    let from = h.write_count();
    h.advance().await;
    steps.push(("plan completed".into(), writes_since(&h, from)));
    let plan_check = h.check(PLAN_CHECK_NAME, &head);
    assert_eq!(plan_check.status, "completed");
    assert_eq!(plan_check.conclusion.as_deref(), Some("success"));
    let title = plan_check.title.clone().unwrap_or_default();
    assert!(title.starts_with("Plan: "), "{title}");
    let summary = plan_check.summary.clone().unwrap_or_default();
    assert!(summary.contains("fingerprint"), "{summary}");
    let stored = h.request().await;
    let facts = stored.plan_summary.clone().expect("plan summary stored");
    assert!(facts.unreadable.is_none(), "{facts:?}");
    assert!(facts.fingerprint.is_some());
    assert!(facts.cost.is_some(), "the infracost file was read");
    let sticky = h.sticky(pr);
    assert_eq!(sticky.id, first.id);
    assert!(sticky.body.contains(&title), "{}", sticky.body);
    let lifecycle = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert!(
        lifecycle.summary.unwrap_or_default().contains(&title),
        "lifecycle check carries the comment's content"
    );

    // Approved, then merged.
    let from = h.write_count();
    h.sim.approve(REPO, pr, "bob").expect("approve");
    h.settle().await;
    steps.push(("approved".into(), writes_since(&h, from)));
    let approved_title = h.check(LIFECYCLE_CHECK_NAME, &head).title;
    assert_ne!(approved_title, lifecycle.title, "the lifecycle check moved on");

    let from = h.write_count();
    let merge_sha = h.sim.merge_pull(REPO, pr, "bob").expect("merge");
    h.settle().await;
    steps.push(("merged".into(), writes_since(&h, from)));
    let merged = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert!(
        merged.actions.iter().any(|a| a.identifier == "apply"),
        "merged with a good plan offers Apply: {merged:#?}"
    );

    // An apply run (dispatched as `/tfpilot apply` will): applying, then applied.
    let fingerprint = facts.fingerprint.expect("fp").to_string();
    let from = h.write_count();
    h.dispatch(
        WorkflowKind::Apply,
        "main",
        &[
            (inputs::COMMIT_SHA, merge_sha.clone()),
            (inputs::EXPECTED_FINGERPRINT, fingerprint),
        ],
    )
    .await;
    steps.push(("apply dispatched".into(), writes_since(&h, from)));
    for step in ["apply in progress", "apply completed"] {
        let from = h.write_count();
        h.advance().await;
        steps.push((step.into(), writes_since(&h, from)));
    }
    let last = h.sticky(pr);
    assert_eq!(last.id, first.id, "one comment from start to end");
    let applied = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert_eq!(applied.conclusion.as_deref(), Some("success"), "{applied:#?}");
    assert_eq!(
        h.sim.check_runs_named(REPO, LIFECYCLE_CHECK_NAME, &head).len(),
        1,
        "the lifecycle check run is updated, not repeated"
    );

    for (step, writes) in &steps {
        assert_at_most_one_patch_each(step, writes);
    }
    // The steps that changed what people see did send something.
    for (step, writes) in &steps {
        assert!(!writes.is_empty(), "{step}: nothing sent");
    }

    // Replaying every delivery (as new deliveries, so none is skipped as a duplicate)
    // changes no fact, so nothing is sent.
    let from = h.write_count();
    let deliveries = h.sim.deliveries();
    assert!(deliveries.len() >= 8);
    for (i, d) in deliveries.iter().enumerate() {
        let status = post(&h.app, &d.event, &format!("replay-{i}"), &d.payload).await;
        assert!(status < 300, "replay of {} answered {status}", d.event);
    }
    assert_eq!(writes_since(&h, from), Vec::new(), "replay wrote to GitHub");
    assert_eq!(h.sticky(pr).body, last.body);
}

/// Posts `payload` to the router as GitHub would, signed; returns the status.
async fn post(app: &axum::Router, event: &str, guid: &str, payload: &Value) -> u16 {
    let body = serde_json::to_vec(payload).expect("json");
    let sig = tfpilot::http::signature::sign(SECRET.as_bytes(), &body);
    let req = axum::http::Request::post("/webhooks/github")
        .header("x-github-event", event)
        .header("x-github-delivery", guid)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sig)
        .body(axum::body::Body::from(body))
        .expect("request");
    app.clone()
        .oneshot(req)
        .await
        .expect("router")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_deleted_comment_is_created_again_on_the_next_change() {
    let h = Harness::start().await;
    h.script_plan_with_artifact();
    let pr = h.open_pr().await;
    let first = h.sticky(pr);
    h.sim
        .delete_comment(REPO, first.id, "alice")
        .expect("delete");
    h.settle().await;
    assert!(h.bot_comments(pr).is_empty());

    h.sim.approve(REPO, pr, "bob").expect("approve");
    h.settle().await;
    let again = h.sticky(pr);
    assert_ne!(again.id, first.id);
    let stored = h.request().await;
    assert_eq!(
        stored.sticky.and_then(|s| s.comment_id),
        Some(again.id),
        "the new id is stored, so the next change edits it"
    );
    h.dispatch(WorkflowKind::Plan, &format!("request/{ID}"), &[])
        .await;
    assert_eq!(h.sticky(pr).id, again.id);
}

#[tokio::test]
async fn a_crash_between_creating_the_comment_and_storing_its_id_leaves_one_comment() {
    let h = Harness::start().await;
    h.script_plan_with_artifact();
    // The PR's facts are saved, then storing the sticky state fails once: the
    // comment exists on GitHub but its id is not in the facts.
    let key = format!("requests/{ID}.json");
    let pr = open_pr_failing_second_replace(&h, &key).await;
    let created = h.sticky(pr);
    let stored = h.request().await;
    assert!(stored.pr().is_some(), "PR facts saved");
    assert_eq!(
        stored.sticky.and_then(|s| s.comment_id),
        None,
        "the id was lost"
    );

    // The next change finds the comment by its marker instead of making another.
    h.dispatch(WorkflowKind::Plan, &format!("request/{ID}"), &[])
        .await;
    let after = h.sticky(pr);
    assert_eq!(after.id, created.id);
    assert!(after.body.contains("Plan queued") || after.body.contains("plan"));
    let stored = h.request().await;
    assert_eq!(stored.sticky.and_then(|s| s.comment_id), Some(created.id));
}

/// Opens the PR with the second write of the request document failing (the first
/// is the handler's PR facts, the second the effects' sticky state).
async fn open_pr_failing_second_replace(h: &Harness, key: &str) -> u64 {
    // FaultStore applies the first matching unspent fault: a harmless delay takes
    // the first write, the failure the second.
    h.faults.inject(Fault {
        op: OpKind::Replace,
        key_prefix: key.to_string(),
        action: FaultAction::Delay(std::time::Duration::from_millis(1)),
        times: 1,
    });
    h.faults.inject(Fault {
        op: OpKind::Replace,
        key_prefix: key.to_string(),
        action: FaultAction::FailBefore,
        times: 1,
    });
    h.open_pr().await
}

#[tokio::test]
async fn a_marker_comment_by_the_app_is_adopted_and_one_typed_by_a_person_is_not() {
    let h = Harness::start().await;
    let pr = h.open_pr().await;
    let first = h.sticky(pr);
    // Start over without a stored id: the first comment is gone, a person types the
    // marker, and the app's own earlier create (whose id was never stored) is there.
    h.sim
        .delete_comment(REPO, first.id, "alice")
        .expect("delete");
    h.svc
        .requests
        .update(ID, |r| {
            let mut next = r.clone();
            next.sticky = None;
            Some(next)
        })
        .await
        .expect("forget the sticky state");
    let typed = h
        .sim
        .comment(REPO, pr, "mallory", &format!("{}\nfake status", marker(ID)))
        .expect("comment");
    let earlier = h
        .client
        .create_comment(&h.repo, pr, &format!("{}\nan older render", marker(ID)))
        .await
        .expect("app comment");
    h.settle().await;

    h.sim.approve(REPO, pr, "bob").expect("approve");
    h.settle().await;
    let mine = h.sticky(pr);
    assert_eq!(mine.id, earlier.id, "the app's comment was adopted");
    assert!(!mine.body.contains("an older render"), "and brought up to date");
    let comments = h.sim.comments(REPO, pr);
    let person = comments.iter().find(|c| c.id == typed).expect("still there");
    assert!(
        person.body.ends_with("fake status"),
        "a person's comment is never edited"
    );
    assert_eq!(comments.len(), 2);
}

#[tokio::test]
async fn a_plan_without_an_artifact_is_shown_as_unreadable_and_the_request_goes_on() {
    let h = Harness::start().await;
    h.sim
        .script_workflow(REPO, "tfpilot-plan.yml", Script::success());
    let pr = h.open_pr().await;
    let head = h.head(pr);
    h.dispatch(WorkflowKind::Plan, &format!("request/{ID}"), &[])
        .await;
    h.advance().await;
    h.advance().await;
    let stored = h.request().await;
    let facts = stored.plan_summary.expect("the fact is stored");
    assert!(facts.summary.is_none());
    assert!(
        facts
            .unreadable
            .as_deref()
            .is_some_and(|u| u.contains("no `tfpilot-plan` artifact")),
        "{facts:?}"
    );
    let body = h.sticky(pr).body;
    assert!(body.contains("summary could not be read"), "{body}");
    let check = h.check(PLAN_CHECK_NAME, &head);
    assert_eq!(check.conclusion.as_deref(), Some("success"));
    assert!(check.details_url.is_some(), "links the run");
    // Read once: another pass does not download again.
    let gets = h
        .sim
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/artifacts"))
        .count();
    tfpilot::service::effects::sync_effects(&h.svc, ID)
        .await
        .expect("sync");
    let again = h
        .sim
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/artifacts"))
        .count();
    assert_eq!(gets, again);
}
