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
use tfpilot::core::request::{PrFacts, Request, WorkflowKind};
use tfpilot::core::status::{Status, derive_status};
use tfpilot::github::{AppCredentials, GitHub, GitHubClient, GitHubConfig, Repo};
use tfpilot::render::{LIFECYCLE_CHECK_NAME, PLAN_CHECK_NAME, headline, marker};
use tfpilot::serve::{Parts, assemble};
use tfpilot::service::dispatch::{Dispatched, dispatch};
use tfpilot::service::effects::{sticky_deleted, sync_effects};
use tfpilot::service::{FakeClock, Service, Settings};
use tfpilot::sim::{
    ArtifactSpec, CallFault, CheckRunView, CommentView, FaultResponse, Script, SimConfig,
    Simulator, TEST_APP_PRIVATE_KEY_PEM, WebhookTarget,
};
use tfpilot::store::{Fault, FaultAction, FaultStore, MemoryStore, OpKind};

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

/// tfpilot's GitHub client, as the test App, against `sim`.
fn app_client(sim: &Simulator) -> GitHubClient {
    let credentials = AppCredentials::from_pem(
        sim.app_id(),
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )
    .expect("pem");
    GitHubClient::new(GitHubConfig::new(credentials).with_api_url(sim.base_url())).expect("client")
}

/// A tfpilot instance (a replica) over `store` and `sim`.
fn tfpilot_over(sim: &Simulator, store: Arc<FaultStore>) -> tfpilot::serve::Assembled {
    assemble(Parts {
        webhook_secret: SecretString::from(SECRET),
        store,
        github: Arc::new(app_client(sim)),
        github_metrics: None,
        clock: Arc::new(FakeClock::new(
            Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap(),
        )),
        settings: Settings {
            app_id: Some(sim.app_id()),
            ..Settings::default()
        },
    })
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
        let h = Harness::start_empty().await;
        h.svc
            .requests
            .create(&h.new_request())
            .await
            .expect("request stored");
        h
    }

    /// The request document tfpilot would have stored when it opened the PR.
    fn new_request(&self) -> Request {
        let mut request = Request::new(&RequestId::parse(ID).expect("id"));
        request.requester = Some("alice".into());
        request.environment = Some("dev".into());
        request.module = Some("bucket".into());
        request.installation_id = Some(self.sim.installation_id());
        request.target_owner = Some("acme".into());
        request.target_repo = Some("infra".into());
        request.target_base = Some("main".into());
        request.branch_name = Some(format!("request/{ID}"));
        request
    }

    /// A simulator with the repository and tfpilot wired to it, and no request stored.
    async fn start_empty() -> Harness {
        let sim = Simulator::start(SimConfig::for_tests())
            .await
            .expect("simulator");
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
        let faults = Arc::new(FaultStore::new(Arc::new(MemoryStore::new())));
        let assembled = tfpilot_over(&sim, faults.clone());
        let svc = assembled.state.service.clone();
        let app = tfpilot::http::app(assembled.state);
        sim.set_webhook_target(WebhookTarget::Router(app.clone()));
        let repo = Repo::new(sim.installation_id(), "acme", "infra");
        let client = app_client(&sim);
        Harness {
            sim,
            app,
            svc,
            faults,
            client,
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

    /// Bob approves the PR: the one sticky comment, `shown`, is edited to show it.
    async fn approval_edits(&self, pr: u64, shown: &CommentView) {
        self.sim.approve(REPO, pr, "bob").expect("approve");
        self.settle().await;
        let after = self.sticky(pr);
        assert_eq!(after.id, shown.id, "the same comment");
        assert_ne!(after.body, shown.body, "edited to show the approval");
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

    /// The derived status now, after asserting that the `tfpilot` check run on `head`
    /// and the sticky comment both show it.
    async fn shown_status(&self, pr: u64, head: &str) -> Status {
        let status = derive_status(&self.request().await, self.svc.now());
        let check = self.check(LIFECYCLE_CHECK_NAME, head);
        assert_eq!(check.title.as_deref(), Some(headline(status)), "{check:#?}");
        let body = self.sticky(pr).body;
        assert!(
            body.contains(&format!("### {}", headline(status))),
            "{status:?}: {body}"
        );
        status
    }

    /// Where the write log and the request's timeline stand now.
    async fn mark(&self) -> Mark {
        Mark {
            writes: self.sim.write_calls().len(),
            timeline: self.request().await.timeline.len(),
        }
    }

    /// What happened since `mark`: GitHub writes, and saved fact changes (each
    /// appends one timeline line).
    async fn since(&self, name: &str, mark: Mark) -> Step {
        Step {
            name: name.to_string(),
            writes: self.sim.write_calls()[mark.writes..]
                .iter()
                .map(|c| (c.method.clone(), c.path.clone()))
                .collect(),
            saved: self.request().await.timeline.len() - mark.timeline,
        }
    }
}

struct Mark {
    writes: usize,
    timeline: usize,
}

#[derive(Debug)]
struct Step {
    name: String,
    /// `(method, path)` of each GitHub write.
    writes: Vec<(String, String)>,
    /// Saved fact changes.
    saved: usize,
}

/// Per comment and per check run, at most one PATCH per saved change; and no
/// GitHub writes but comments, check runs and dispatches.
fn assert_at_most_one_patch_per_change(step: &Step) {
    let mut patches: BTreeMap<&str, usize> = BTreeMap::new();
    for (method, path) in &step.writes {
        assert!(
            path.contains("/issues/")
                || path.contains("/check-runs")
                || path.ends_with("/dispatches"),
            "{}: unexpected write {method} {path}",
            step.name
        );
        if method == "PATCH" {
            *patches.entry(path).or_default() += 1;
        }
    }
    for (path, n) in patches {
        assert!(
            n <= step.saved,
            "{}: {n} PATCHes of {path} for {} saved changes: {step:#?}",
            step.name,
            step.saved
        );
    }
}

#[tokio::test]
async fn a_request_lifecycle_keeps_one_comment_edited_in_place_and_checks_follow_it() {
    let h = Harness::start().await;
    h.script_plan_with_artifact();
    let mut steps: Vec<Step> = Vec::new();
    let mut seen: Vec<Status> = Vec::new();

    // The PR opens: the comment and both check runs are created.
    let from = h.mark().await;
    let pr = h.open_pr().await;
    let head = h.head(pr);
    let first = h.sticky(pr);
    assert!(first.body.contains("No plan yet"), "{}", first.body);
    assert_eq!(h.check(PLAN_CHECK_NAME, &head).status, "queued");
    steps.push(h.since("pr opened", from).await);
    seen.push(h.shown_status(pr, &head).await);

    // Plan dispatched: planning, the plan check queued.
    let from = h.mark().await;
    h.dispatch(WorkflowKind::Plan, &format!("request/{ID}"), &[])
        .await;
    steps.push(h.since("plan dispatched", from).await);
    seen.push(h.shown_status(pr, &head).await);
    let plan_check = h.check(PLAN_CHECK_NAME, &head);
    assert_eq!(plan_check.status, "queued");
    assert_eq!(plan_check.title.as_deref(), Some("Plan queued"));
    assert_eq!(h.sticky(pr).id, first.id, "edited in place");

    // The run starts: in progress.
    let from = h.mark().await;
    h.advance().await;
    steps.push(h.since("plan in progress", from).await);
    seen.push(h.shown_status(pr, &head).await);
    assert_eq!(h.check(PLAN_CHECK_NAME, &head).status, "in_progress");
    assert!(h.sticky(pr).body.contains("A plan is running"));

    // The run completes: the artifact is read, the summary shown on both.
    let from = h.mark().await;
    h.advance().await;
    steps.push(h.since("plan completed", from).await);
    seen.push(h.shown_status(pr, &head).await);
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
    assert!(
        sticky
            .body
            .contains("**Monthly cost:** \\$9.00 → \\$26.00 (+\\$17.00)"),
        "the cost from the artifact is shown: {}",
        sticky.body
    );
    let lifecycle = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert!(
        lifecycle.summary.unwrap_or_default().contains(&title),
        "lifecycle check carries the comment's content"
    );

    // Approved, then merged.
    let from = h.mark().await;
    h.sim.approve(REPO, pr, "bob").expect("approve");
    h.settle().await;
    steps.push(h.since("approved", from).await);
    seen.push(h.shown_status(pr, &head).await);
    let approved_title = h.check(LIFECYCLE_CHECK_NAME, &head).title;
    assert_ne!(
        approved_title, lifecycle.title,
        "the lifecycle check moved on"
    );

    let from = h.mark().await;
    let merge_sha = h.sim.merge_pull(REPO, pr, "bob").expect("merge");
    h.settle().await;
    steps.push(h.since("merged", from).await);
    seen.push(h.shown_status(pr, &head).await);
    let merged = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert!(
        merged.actions.iter().any(|a| a.identifier == "apply"),
        "merged with a good plan offers Apply: {merged:#?}"
    );

    // An apply run (dispatched as `/tfpilot apply` will): applying, then applied.
    let fingerprint = facts.fingerprint.expect("fp").to_string();
    let from = h.mark().await;
    h.dispatch(
        WorkflowKind::Apply,
        "main",
        &[
            (inputs::COMMIT_SHA, merge_sha.clone()),
            (inputs::EXPECTED_FINGERPRINT, fingerprint),
        ],
    )
    .await;
    steps.push(h.since("apply dispatched", from).await);
    seen.push(h.shown_status(pr, &head).await);
    for step in ["apply in progress", "apply completed"] {
        let from = h.mark().await;
        h.advance().await;
        steps.push(h.since(step, from).await);
        seen.push(h.shown_status(pr, &head).await);
    }
    let last = h.sticky(pr);
    assert_eq!(last.id, first.id, "one comment from start to end");
    let applied = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert_eq!(
        applied.conclusion.as_deref(),
        Some("success"),
        "{applied:#?}"
    );
    assert_eq!(
        h.sim
            .check_runs_named(REPO, LIFECYCLE_CHECK_NAME, &head)
            .len(),
        1,
        "the lifecycle check run is updated, not repeated"
    );

    // The lifecycle check and the comment followed every status, in order.
    assert_eq!(
        seen,
        [
            Status::Planning,
            Status::Planning,
            Status::Planning,
            Status::PlanReady,
            Status::Approved,
            Status::Merged,
            Status::Applying,
            Status::Applying,
            Status::Applied,
        ]
    );
    insta::assert_snapshot!(
        "plan_check_after_the_plan",
        format!("{title}\n---\n{summary}")
    );

    for step in &steps {
        assert!(step.saved >= 1, "{}: no fact saved: {step:#?}", step.name);
        assert_at_most_one_patch_per_change(step);
        // Every step here changed what people see, so something was sent.
        assert!(!step.writes.is_empty(), "{}: nothing sent", step.name);
    }

    // Replaying every delivery (as new deliveries, so none is skipped as a duplicate)
    // changes no fact, so nothing is sent.
    let from = h.mark().await;
    let deliveries = h.sim.deliveries();
    assert!(deliveries.len() >= 8);
    for (i, d) in deliveries.iter().enumerate() {
        let status = post(&h.app, &d.event, &format!("replay-{i}"), &d.payload).await;
        assert!(status < 300, "replay of {} answered {status}", d.event);
    }
    let replay = h.since("replay", from).await;
    assert_eq!(replay.saved, 0, "replayed deliveries change no fact");
    assert_eq!(replay.writes, Vec::new(), "replay wrote to GitHub");
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
    // The PR exists before tfpilot knows the request, so nothing is shown yet.
    let h = Harness::start_empty().await;
    let pr = h.open_pr().await;
    assert!(h.bot_comments(pr).is_empty());
    let view = h.sim.pull(REPO, pr).expect("pr");
    let mut request = h.new_request();
    let mut facts = PrFacts::new(pr);
    facts.open = true;
    facts.head_sha = Some(view.head_sha.clone());
    request.github_mut().pr = Some(facts);
    h.svc.requests.create(&request).await.expect("stored");

    // Storing the sticky state fails for good after the comment was created: the
    // write fails and so does the read that would tell whether it landed.
    let key = format!("requests/{ID}.json");
    let fault = |op, action, times| Fault {
        op,
        key_prefix: key.clone(),
        action,
        times,
    };
    let pass = FaultAction::Delay(std::time::Duration::ZERO);
    // Reads: the pass's own, the update's, then the check after the failed write.
    h.faults.inject(fault(OpKind::Get, pass, 2));
    h.faults
        .inject(fault(OpKind::Get, FaultAction::FailBefore, 1));
    h.faults
        .inject(fault(OpKind::Replace, FaultAction::FailBefore, 1));
    let crashed = sync_effects(&h.svc, ID).await;
    assert!(crashed.is_err(), "the store failed: {crashed:?}");
    assert!(h.faults.pending().is_empty(), "every fault was hit");
    let created = h.sticky(pr);
    assert_eq!(
        h.request().await.sticky.and_then(|s| s.comment_id),
        None,
        "the id was lost"
    );

    // The next change finds the comment by its marker instead of making another.
    h.approval_edits(pr, &created).await;
    assert_eq!(
        h.request().await.sticky.and_then(|s| s.comment_id),
        Some(created.id)
    );
}

#[tokio::test]
async fn a_marker_comment_by_the_app_is_adopted_and_one_by_a_person_or_another_app_is_not() {
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
    // A workflow posting with its GITHUB_TOKEN comments as another App's bot.
    let other_app = h
        .sim
        .comment_as_app(
            REPO,
            pr,
            "github-actions",
            15_368,
            &format!("{}\nfake status", marker(ID)),
        )
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
    assert!(
        !mine.body.contains("an older render"),
        "and brought up to date"
    );
    let comments = h.sim.comments(REPO, pr);
    for (id, whose) in [(typed, "a person's"), (other_app, "another App's")] {
        let theirs = comments.iter().find(|c| c.id == id).expect("still there");
        assert!(
            theirs.body.ends_with("fake status"),
            "{whose} comment is never edited"
        );
    }
    assert_eq!(comments.len(), 3);
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
    sync_effects(&h.svc, ID).await.expect("sync");
    let again = h
        .sim
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/artifacts"))
        .count();
    assert_eq!(gets, again);
}

#[tokio::test]
async fn a_saved_change_that_renders_the_same_sends_nothing_and_bursts_coalesce() {
    let h = Harness::start().await;
    let pr = h.open_pr().await;
    let shown = h.sticky(pr);

    // A fact the comment does not show changes: rendered again, nothing sent.
    let from = h.mark().await;
    let updated = h
        .svc
        .requests
        .update(ID, |r| {
            let mut next = r.clone();
            next.extra.insert("note".into(), Value::from("not shown"));
            Some(next)
        })
        .await
        .expect("saved");
    assert!(updated.saved);
    tfpilot::service::effects::request_saved(&h.svc, &updated.request).await;
    assert_eq!(h.since("invisible change", from).await.writes, Vec::new());

    // A burst: one visible change, then many calls at once (as concurrent
    // deliveries would make) cost one edit of the comment.
    let from = h.mark().await;
    let updated = h
        .svc
        .requests
        .update(ID, |r| {
            let mut next = r.clone();
            next.requester = Some("carol".into());
            Some(next)
        })
        .await
        .expect("saved");
    let calls = (0..5).map(|_| tfpilot::service::effects::request_saved(&h.svc, &updated.request));
    futures::future::join_all(calls).await;
    let step = h.since("burst", from).await;
    let comment_patches = step
        .writes
        .iter()
        .filter(|(m, p)| m == "PATCH" && p.contains("/issues/comments/"))
        .count();
    assert_eq!(comment_patches, 1, "{step:#?}");
    let now = h.sticky(pr);
    assert_eq!(now.id, shown.id);
    assert!(now.body.contains("carol"), "{}", now.body);
}

#[tokio::test]
async fn new_commits_get_their_own_check_runs_and_the_same_comment() {
    let h = Harness::start().await;
    h.script_plan_with_artifact();
    let pr = h.open_pr().await;
    let first_head = h.head(pr);
    let first = h.sticky(pr);
    h.dispatch(WorkflowKind::Plan, &format!("request/{ID}"), &[])
        .await;
    h.advance().await;
    h.advance().await;
    assert_eq!(
        h.check(PLAN_CHECK_NAME, &first_head).conclusion.as_deref(),
        Some("success")
    );

    let second_head = h
        .sim
        .push(
            REPO,
            &format!("request/{ID}"),
            "alice",
            &[(&format!("envs/dev/tfpilot_{ID}.tf"), Some("# changed\n"))],
            "tweak",
        )
        .expect("push");
    h.settle().await;
    assert_ne!(second_head, first_head);
    // The new commit has no plan yet: its plan check waits, the old one stays.
    let waiting = h.check(PLAN_CHECK_NAME, &second_head);
    assert_eq!(waiting.status, "queued");
    assert_eq!(
        h.check(PLAN_CHECK_NAME, &first_head).conclusion.as_deref(),
        Some("success")
    );
    assert_eq!(
        h.sim
            .check_runs_named(REPO, LIFECYCLE_CHECK_NAME, &second_head)
            .len(),
        1
    );
    let sticky = h.sticky(pr);
    assert_eq!(sticky.id, first.id);
    // The push re-plans by itself (autoplan): the same comment now says a plan of
    // the new head is running, and exactly one more plan was dispatched.
    assert_eq!(h.sim.dispatches().len(), 2);
    assert!(
        sticky.body.contains("Planning"),
        "after a push the comment said: {}",
        sticky.body
    );
}

#[tokio::test]
async fn a_failed_check_run_call_keeps_what_was_sent_and_is_retried_on_the_next_change() {
    let h = Harness::start().await;
    // GitHub refuses check runs for a while (422 is not retried by the client).
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/check-runs",
        1,
        FaultResponse::Status(422),
    ));
    let pr = h.open_pr().await;
    let head = h.head(pr);
    let shown = h.sticky(pr);
    assert!(
        h.sim
            .check_runs_named(REPO, PLAN_CHECK_NAME, &head)
            .is_empty()
    );
    let sticky = h.request().await.sticky.expect("sticky state");
    assert_eq!(
        sticky.comment_id,
        Some(shown.id),
        "the comment sent is recorded"
    );
    assert!(sticky.plan_check.is_none());

    let from = h.mark().await;
    h.sim.approve(REPO, pr, "bob").expect("approve");
    h.settle().await;
    let step = h.since("approved", from).await;
    assert_eq!(h.sticky(pr).id, shown.id);
    let comment_writes: Vec<_> = step
        .writes
        .iter()
        .filter(|(_, p)| p.contains("/issues/"))
        .collect();
    assert_eq!(
        comment_writes.len(),
        1,
        "one edit, no second comment: {step:#?}"
    );
    assert_eq!(
        h.sim.check_runs_named(REPO, PLAN_CHECK_NAME, &head).len(),
        1
    );
    assert_eq!(
        h.sim
            .check_runs_named(REPO, LIFECYCLE_CHECK_NAME, &head)
            .len(),
        1
    );
}

#[tokio::test]
async fn the_deleted_event_of_the_sticky_comment_shows_it_again_at_once() {
    let h = Harness::start().await;
    let pr = h.open_pr().await;
    let first = h.sticky(pr);
    // Someone else's deleted comment changes nothing.
    sticky_deleted(&h.svc, ID, first.id + 1000)
        .await
        .expect("ignored");
    assert_eq!(h.sticky(pr).id, first.id);

    h.sim
        .delete_comment(REPO, first.id, "alice")
        .expect("delete");
    h.settle().await;
    sticky_deleted(&h.svc, ID, first.id)
        .await
        .expect("shown again");
    let again = h.sticky(pr);
    assert_ne!(again.id, first.id);
    assert_eq!(again.body, first.body);
    assert_eq!(
        h.request().await.sticky.and_then(|s| s.comment_id),
        Some(again.id)
    );
}

/// A request whose PR is open and shown nowhere yet, and a second replica:
/// (harness, PR number, head, the other replica's service).
async fn unshown_request_and_another_replica() -> (Harness, u64, String, Arc<Service>) {
    let h = Harness::start_empty().await;
    let pr = h.open_pr().await;
    let head = h.sim.pull(REPO, pr).expect("pr").head_sha;
    let mut request = h.new_request();
    let mut facts = PrFacts::new(pr);
    facts.open = true;
    facts.head_sha = Some(head.clone());
    request.github_mut().pr = Some(facts);
    h.svc.requests.create(&request).await.expect("stored");
    let other = tfpilot_over(&h.sim, h.faults.clone()).state.service;
    (h, pr, head, other)
}

/// This replica's pass, and the other's 300 ms later, at once; both succeed.
async fn passes_at_once(h: &Harness, other: &Service) {
    let (first, second) = tokio::join!(sync_effects(&h.svc, ID), async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sync_effects(other, ID).await
    });
    first.expect("this replica's pass");
    second.expect("the other replica's pass");
}

#[tokio::test]
async fn two_replicas_showing_a_new_request_at_once_leave_one_comment() {
    // Two replicas render the request's first state at the same moment (two
    // deliveries of one request, each to its own replica): neither finds a comment,
    // so both create one. The second to record its comment deletes it and takes
    // the first's, so the PR keeps one, edited from then on.
    let (h, pr, _, other) = unshown_request_and_another_replica().await;

    // This replica's create is held up a second (GitHub asks it to retry), after it
    // looked and found no comment; the other replica looks, creates and records.
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 1,
        },
    ));
    passes_at_once(&h, &other).await;

    let kept = h.sticky(pr);
    assert_eq!(
        h.request().await.sticky.and_then(|s| s.comment_id),
        Some(kept.id),
        "the comment kept is the one recorded"
    );
    // The next change edits it, on either replica.
    h.approval_edits(pr, &kept).await;
}

#[tokio::test]
async fn of_two_check_runs_created_at_once_the_newest_is_the_one_kept_up_to_date() {
    // Both replicas create the check runs; the one that created first records last
    // (its store write is slow). GitHub shows the newest check run of a name on a
    // commit, so that is the one whose id is kept and edited.
    let (h, pr, head, other) = unshown_request_and_another_replica().await;
    h.faults.inject(Fault {
        op: OpKind::Replace,
        key_prefix: format!("requests/{ID}.json"),
        action: FaultAction::Delay(std::time::Duration::from_millis(1500)),
        times: 1,
    });
    passes_at_once(&h, &other).await;
    assert!(h.faults.pending().is_empty(), "the slow write happened");

    let sticky = h.request().await.sticky.expect("sticky");
    for (name, recorded) in [
        (PLAN_CHECK_NAME, sticky.plan_check),
        (LIFECYCLE_CHECK_NAME, sticky.lifecycle_check),
    ] {
        let runs = h.sim.check_runs_named(REPO, name, &head);
        assert_eq!(runs.len(), 2, "both replicas created {name}: {runs:#?}");
        let newest = runs.iter().map(|r| r.id).max();
        assert_eq!(
            recorded.map(|c| c.check_run_id),
            newest,
            "{name}: the newest is recorded"
        );
    }
    // The next change edits the newest.
    let before = h.check(LIFECYCLE_CHECK_NAME, &head);
    h.sim.approve(REPO, pr, "bob").expect("approve");
    h.settle().await;
    let after = h.check(LIFECYCLE_CHECK_NAME, &head);
    assert_eq!(after.id, before.id);
    assert_ne!(after, before, "edited to show the approval");
}
