//! Issue form → request, through the real router against the simulator: one branch,
//! one commit with one file, one PR linked both ways, one request doc, one plan; the
//! same with a duplicate delivery and with a crash after the branch push; problems
//! replied in one comment that follows the issue's edits.

use std::collections::BTreeMap;

use tfpilot::config::forms::module_fields;
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::contract::inputs;
use tfpilot::core::hcl::parsed_module_arguments;
use tfpilot::core::issue_form::{Answer, FieldShape, PROBLEMS_MARKER, render_body};
use tfpilot::core::request::{Request, WorkflowKind};
use tfpilot::harness::{EXAMPLE_CONFIG, Harness, HarnessOptions, INFRA_REPO};
use tfpilot::service::issues::text::CREATED_MARKER;
use tfpilot::sim::{CallFault, CommentView, DeliveryFault, FaultResponse};
use tfpilot::store::{Fault, FaultAction, FaultStore, MemoryStore, OpKind, Thread};

const LABEL: &str = "tfpilot-request";

/// The seed's request `config` block with its id and requester as placeholders.
const SEED_CONFIG: &str = r#"{
    "name": "core-dev-ai-agent-tgqpp8",
    "project": "core",
    "environment": "dev",
    "request_id": "<id>",
    "versioning_enabled": false,
    "force_destroy": true,
    "block_public_access": true,
    "enable_lifecycle": false,
    "noncurrent_expiration_days": 30,
    "abort_multipart_days": 7,
    "encryption_mode": "sse-s3",
    "tags": {
      "ManagedBy": "tfpilot",
      "TfPilotRequestId": "<id>",
      "Project": "core",
      "Environment": "dev",
      "tfpilot:request_id": "<id>",
      "tfpilot:project": "core",
      "tfpilot:environment": "dev",
      "tfpilot:created_by": "<requester>",
      "tfpilot:template_id": "s3-public-assets"
    }
  }"#;

/// An s3-bucket form body as GitHub renders it, from (field id, answer) pairs.
fn body(answers: &[(&str, &str)]) -> String {
    let config = RepoConfig::parse(EXAMPLE_CONFIG).expect("example config");
    let fields = module_fields(&config, "s3-bucket").expect("module");
    let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
    let answers: BTreeMap<String, Answer> = answers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Answer::Text((*v).to_owned())))
        .collect();
    render_body(&shapes, &answers)
}

/// The seed's example: module s3-bucket, preset s3-public-assets, environment dev.
fn seed_body() -> String {
    body(&[
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", "dev"),
        ("tfpilot-preset", "s3-public-assets"),
        ("name", "core-dev-ai-agent-tgqpp8"),
        ("project", "core"),
    ])
}

/// The form issue's `labeled` delivery, as the simulator recorded it.
fn labeled_delivery(h: &Harness) -> tfpilot::sim::DeliveryRecord {
    h.sim
        .deliveries()
        .into_iter()
        .find(|d| d.event == "issues" && d.action.as_deref() == Some("labeled"))
        .expect("the labeled delivery")
}

/// `fault` for the next two `issues` deliveries: a form issue's `opened` and `labeled`.
fn fault_opened_and_labeled(h: &Harness, fault: DeliveryFault) {
    for _ in 0..2 {
        h.sim.fault_next_delivery(Some("issues"), fault.clone());
    }
}

/// alice opens a labelled form issue whose bucket name is invalid.
fn open_invalid_issue(h: &Harness) -> u64 {
    let invalid = body(&[
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", "dev"),
        ("name", "Not_A_Bucket"),
        ("project", "core"),
    ]);
    h.sim
        .open_issue(INFRA_REPO, "alice", "Bucket", &invalid, &[LABEL])
        .expect("issue")
}

/// A harness whose store is wrapped in a [`FaultStore`] the test scripts.
async fn start_with_store_faults() -> (Harness, std::sync::Arc<FaultStore>) {
    let faults = std::sync::Arc::new(FaultStore::new(std::sync::Arc::new(MemoryStore::new())));
    let h = Harness::start(HarnessOptions {
        store: Some(faults.clone()),
        ..HarnessOptions::default()
    })
    .await
    .expect("harness");
    (h, faults)
}

async fn start() -> Harness {
    Harness::start(HarnessOptions::default())
        .await
        .expect("harness")
}

fn request_branches(h: &Harness) -> Vec<(String, String)> {
    h.sim
        .branches(INFRA_REPO)
        .into_iter()
        .filter(|(b, _)| b.starts_with("request/"))
        .collect()
}

fn bot_comments(h: &Harness, number: u64) -> Vec<CommentView> {
    let bot = h.sim.bot_login();
    h.sim
        .comments(INFRA_REPO, number)
        .into_iter()
        .filter(|c| c.author == bot)
        .collect()
}

fn count_calls(h: &Harness, method: &str, route: &str) -> usize {
    h.sim
        .calls()
        .iter()
        .filter(|c| c.method == method && c.route == route && c.status < 300)
        .count()
}

/// Everything one request issue must have produced, exactly once; returns the request.
async fn assert_exactly_one_request(h: &Harness, issue: u64, requester: &str) -> Request {
    let svc = &h.state.service;
    let id = svc
        .index
        .find(Thread::Issue, "acme", "infra", issue)
        .await
        .expect("index")
        .expect("the issue is linked to a request");
    let request = svc
        .requests
        .get(&id)
        .await
        .expect("store")
        .expect("one request doc");
    assert_eq!(
        svc.requests.list_ids().await.expect("list"),
        vec![id.clone()]
    );

    // One branch, holding one commit on top of main with exactly one file.
    let branch = format!("request/{id}");
    let branches = request_branches(h);
    assert_eq!(branches.len(), 1, "{branches:?}");
    assert_eq!(branches[0].0, branch);
    let main = h.sim.branches(INFRA_REPO)["main"].clone();
    assert_eq!(h.sim.commit_parents(&branches[0].1), vec![main]);
    let path = format!("envs/dev/tfpilot_{id}.tf");
    assert_eq!(request.target_files.as_deref(), Some(&[path.clone()][..]));

    // One PR, from that branch, naming the issue; the doc and the PR index know it.
    let pulls = h.sim.pulls(INFRA_REPO);
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert_eq!(pr.head_ref, branch);
    assert_eq!(pr.base_ref, "main");
    assert_eq!(pr.title, format!("Infra request {id}: s3-bucket"));
    let files: Vec<(&str, &str)> = pr
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.status.as_str()))
        .collect();
    assert_eq!(files, vec![(path.as_str(), "added")]);
    let pr_body = pr.body.clone().unwrap_or_default();
    assert!(
        pr_body.contains(&format!("Requested in #{issue}")),
        "{pr_body}"
    );
    assert_eq!(request.pr().map(|p| p.number), Some(pr.number));
    assert_eq!(
        svc.index
            .find(Thread::Pr, "acme", "infra", pr.number)
            .await
            .expect("index"),
        Some(id.clone())
    );

    // One tfpilot comment on the issue, linking the PR.
    let comments = bot_comments(h, issue);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].body.starts_with(CREATED_MARKER));
    assert!(comments[0].body.contains(&format!("#{}", pr.number)));

    // One plan, dispatched on the request branch and tracked by the request.
    let dispatches = h.sim.dispatches();
    assert_eq!(dispatches.len(), 1, "{dispatches:?}");
    assert_eq!(dispatches[0].git_ref, branch);
    assert_eq!(dispatches[0].inputs.get("request_id"), Some(&id));
    assert_eq!(
        request.run(WorkflowKind::Plan).and_then(|r| r.run_id),
        Some(dispatches[0].run_id)
    );

    // The facts the rest of the lifecycle reads.
    assert_eq!(request.requester.as_deref(), Some(requester));
    assert_eq!(request.issue_number, Some(issue));
    assert_eq!(request.environment.as_deref(), Some("dev"));
    assert_eq!(request.module.as_deref(), Some("s3-bucket"));
    assert_eq!(request.installation_id, Some(h.sim.installation_id()));
    assert_eq!(request.target_owner.as_deref(), Some("acme"));
    assert_eq!(request.target_repo.as_deref(), Some("infra"));
    assert_eq!(request.target_base.as_deref(), Some("main"));
    assert_eq!(request.target_env_path.as_deref(), Some("envs/dev"));
    assert_eq!(request.branch_name.as_deref(), Some(branch.as_str()));
    assert_eq!(
        request.renderer_version.as_deref(),
        Some("tfpilot-renderer@1")
    );
    let render = request.render.clone().expect("render facts");
    assert_eq!(render.reproducible, Some(true));
    let file = h.sim.file(INFRA_REPO, &branch, &path).expect("file");
    let file_hash = {
        use sha2::Digest;
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(file.as_bytes()))
        )
    };
    assert_eq!(render.render_hash, Some(file_hash));
    assert!(render.inputs_hash.is_some_and(|h| h.starts_with("sha256:")));
    let module_ref = &request.extra["moduleRef"];
    assert_eq!(module_ref["path"], "modules/s3-bucket");
    assert_eq!(module_ref["repo"], "acme/infra");
    assert_eq!(
        module_ref["commitSha"],
        h.sim.branches(INFRA_REPO)["main"].as_str()
    );
    request
}

#[tokio::test]
async fn the_seed_example_becomes_one_branch_one_file_one_pr_one_request_and_a_plan() {
    let h = start().await;
    let issue = h
        .sim
        .open_issue(
            INFRA_REPO,
            "alice",
            "Public assets bucket",
            &seed_body(),
            &[LABEL],
        )
        .expect("issue");
    h.settle().await.expect("settle");
    let request = assert_exactly_one_request(&h, issue, "alice").await;
    let id = request.id.clone();

    // The committed file's inputs are the seed's config block, and the doc's config too.
    let want: serde_json::Value = serde_json::from_str(
        &SEED_CONFIG
            .replace("<id>", &id)
            .replace("<requester>", "alice"),
    )
    .expect("seed json");
    let branch = format!("request/{id}");
    let file = h
        .sim
        .file(INFRA_REPO, &branch, &format!("envs/dev/tfpilot_{id}.tf"))
        .expect("file");
    let parsed =
        parsed_module_arguments(&file, &tfpilot::core::hcl::module_block_name(&id)).expect("hcl");
    let mut got: serde_json::Map<String, serde_json::Value> = parsed
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::to_value(v).expect("json")))
        .collect();
    assert_eq!(
        got.remove("source"),
        Some(serde_json::json!("../../modules/s3-bucket"))
    );
    assert_eq!(serde_json::Value::Object(got), want);
    assert_eq!(
        serde_json::Value::Object(request.config.clone().expect("config")),
        want
    );
    assert_eq!(request.extra["templateId"], "s3-public-assets");
    assert_eq!(request.project.as_deref(), Some("core"));

    let comment = &bot_comments(&h, issue)[0].body;
    insta::assert_snapshot!("issues_created_comment", comment.replace(&id, "<id>"));
    let pr_body = h.sim.pulls(INFRA_REPO)[0].body.clone().unwrap_or_default();
    insta::assert_snapshot!(
        "issues_pr_body",
        pr_body
            .replace(&id, "<id>")
            .replace(&format!("#{issue}"), "#<issue>")
    );
}

#[tokio::test]
async fn a_duplicated_delivery_still_yields_exactly_one_of_each() {
    let h = start().await;
    // The `labeled` delivery is the one that carries the label (the simulator sends
    // `opened` before the labels, as GitHub may).
    fault_opened_and_labeled(&h, DeliveryFault::Duplicate);
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    assert!(
        h.state.metrics.delivery_count("issues", "duplicate") >= 1,
        "the duplicate was sent and recognised"
    );
    assert_exactly_one_request(&h, issue, "alice").await;
    assert_eq!(
        count_calls(&h, "POST", "/repos/{owner}/{repo}/git/commits"),
        1
    );
    assert_eq!(count_calls(&h, "POST", "/repos/{owner}/{repo}/pulls"), 1);
}

/// Sends a payload to tfpilot's router as GitHub would, under a delivery id of our own.
async fn deliver(h: &Harness, event: &str, guid: &str, payload: &serde_json::Value) -> u16 {
    use tower::ServiceExt;
    let body = serde_json::to_vec(payload).expect("json");
    let secret = tfpilot::sim::SimConfig::for_tests().webhook_secret;
    let request = axum::http::Request::post("/webhooks/github")
        .header("x-github-event", event)
        .header("x-github-delivery", guid)
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            tfpilot::sim::signature(secret.as_bytes(), &body),
        )
        .body(axum::body::Body::from(body))
        .expect("request");
    let response = h.app.clone().oneshot(request).await.expect("response");
    response.status().as_u16()
}

#[tokio::test]
async fn the_same_event_under_several_delivery_ids_at_once_yields_exactly_one_of_each() {
    let h = start().await;
    // GitHub sends `opened` and `labeled` for a form issue, both carrying the label,
    // often at the same moment: several deliveries race through every step.
    fault_opened_and_labeled(&h, DeliveryFault::Drop);
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    assert!(
        request_branches(&h).is_empty(),
        "both deliveries were dropped"
    );
    let labeled = labeled_delivery(&h);
    let guids: Vec<String> = (0..4).map(|i| format!("race-{i}")).collect();
    let statuses = futures::future::join_all(
        guids
            .iter()
            .map(|guid| deliver(&h, "issues", guid, &labeled.payload)),
    )
    .await;
    h.settle().await.expect("settle");
    // A racer may fail (and GitHub would redeliver it); redeliver the failed ones.
    for (i, status) in statuses.iter().enumerate() {
        if *status >= 500 {
            assert!(deliver(&h, "issues", &format!("race-{i}"), &labeled.payload).await < 300);
        }
    }
    h.settle().await.expect("settle");
    assert_exactly_one_request(&h, issue, "alice").await;
    assert_eq!(count_calls(&h, "POST", "/repos/{owner}/{repo}/pulls"), 1);
}

#[tokio::test]
async fn a_crash_after_the_branch_push_resumes_on_redelivery_without_a_second_anything() {
    let h = start().await;
    // Opening the PR fails (through every retry): the delivery errors after the push.
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/pulls",
        20,
        FaultResponse::Status(500),
    ));
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    h.sim.clear_call_faults();
    assert_eq!(request_branches(&h).len(), 1, "the branch was pushed");
    assert!(h.sim.pulls(INFRA_REPO).is_empty());
    assert!(h.sim.dispatches().is_empty());
    let failed = h
        .sim
        .deliveries()
        .into_iter()
        .find(|d| d.event == "issues" && d.status_code.is_some_and(|s| s >= 500))
        .expect("a failed delivery");

    // GitHub's "Redeliver": same delivery id, processed again from the top.
    h.state
        .service
        .github
        .redeliver_webhook(failed.id)
        .await
        .expect("redeliver");
    h.settle().await.expect("settle");
    assert_exactly_one_request(&h, issue, "alice").await;
    assert_eq!(
        count_calls(&h, "POST", "/repos/{owner}/{repo}/git/commits"),
        1
    );
    assert_eq!(count_calls(&h, "POST", "/repos/{owner}/{repo}/git/refs"), 1);

    // And once more, now that everything exists: nothing new.
    h.state
        .service
        .github
        .redeliver_webhook(failed.id)
        .await
        .expect("redeliver");
    h.settle().await.expect("settle");
    assert_exactly_one_request(&h, issue, "alice").await;
    assert_eq!(count_calls(&h, "POST", "/repos/{owner}/{repo}/pulls"), 1);
}

#[tokio::test]
async fn problems_are_one_comment_that_follows_edits_until_the_request_is_created() {
    let h = start().await;
    // One broken answer per rule: unknown environment, pattern, required, minimum,
    // maximum, allowed values, number and map syntax.
    let invalid = body(&[
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", "staging"),
        ("name", "Not_A_Bucket"),
        ("noncurrent_expiration_days", "0"),
        ("abort_multipart_days", "999"),
        ("encryption_mode", "aes-256"),
        ("tags", "just words"),
    ]);
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Bucket", &invalid, &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    let comments = bot_comments(&h, issue);
    assert_eq!(comments.len(), 1, "one reply");
    let first = comments[0].clone();
    assert!(first.body.starts_with(PROBLEMS_MARKER));
    let fields = [
        "**Environment**",
        "**Name**",
        "**Project**",
        "**Noncurrent expiration days**",
        "**Abort multipart days**",
        "**Encryption mode**",
        "**Tags**",
    ];
    for field in fields {
        assert!(
            first.body.contains(&format!("| {field} |")),
            "{field} missing in:\n{}",
            first.body
        );
    }
    assert_eq!(
        first.body.matches("\n| **").count(),
        fields.len(),
        "{}",
        first.body
    );
    insta::assert_snapshot!("issues_problems_comment", first.body);
    assert!(request_branches(&h).is_empty());
    assert!(h.sim.pulls(INFRA_REPO).is_empty());

    // Edited, still invalid (one problem left): the same comment, updated.
    let still_invalid = body(&[
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", "dev"),
        ("name", "core-dev-assets"),
        ("noncurrent_expiration_days", "0"),
    ]);
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &still_invalid)
        .expect("edit");
    h.settle().await.expect("settle");
    let comments = bot_comments(&h, issue);
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0].id, first.id, "the same comment");
    assert_ne!(comments[0].body, first.body);
    assert!(comments[0].body.contains("**Project**"));
    assert!(!comments[0].body.contains("**Name**"));

    // An edit that leaves the same problems sends nothing.
    let updates = count_calls(
        &h,
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
    );
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &format!("{still_invalid}\n"))
        .expect("edit");
    h.settle().await.expect("settle");
    assert_eq!(
        count_calls(
            &h,
            "PATCH",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}"
        ),
        updates
    );

    // Fixed: the request is created and the same comment now links its PR.
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &seed_body())
        .expect("edit");
    h.settle().await.expect("settle");
    assert_exactly_one_request(&h, issue, "alice").await;
    let comments = bot_comments(&h, issue);
    assert_eq!(
        comments[0].id, first.id,
        "the problems comment became the link"
    );
    assert!(!comments[0].body.contains(PROBLEMS_MARKER));
}

#[tokio::test]
async fn an_edit_after_creation_changes_nothing_and_says_so() {
    let h = start().await;
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    let before = assert_exactly_one_request(&h, issue, "alice").await;
    // An edit that changes no answer is no news.
    let comment_before = bot_comments(&h, issue)[0].body.clone();
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &format!("{}\n", seed_body()))
        .expect("edit");
    h.settle().await.expect("settle");
    assert_eq!(bot_comments(&h, issue)[0].body, comment_before);
    let changed = body(&[
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", "prod"),
        ("name", "something-else"),
        ("project", "core"),
    ]);
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &changed)
        .expect("edit");
    h.settle().await.expect("settle");
    let after = assert_exactly_one_request(&h, issue, "alice").await;
    assert_eq!(after.config, before.config);
    assert_eq!(after.environment.as_deref(), Some("dev"));
    let comment = &bot_comments(&h, issue)[0].body;
    assert!(
        comment.contains("edited after the request was created"),
        "{comment}"
    );
}

#[tokio::test]
async fn issues_without_the_label_or_from_bots_are_left_alone() {
    let h = start().await;
    let plain = h
        .sim
        .open_issue(INFRA_REPO, "alice", "A bug", &seed_body(), &["bug"])
        .expect("issue");
    let by_bot = h
        .sim
        .open_issue(
            INFRA_REPO,
            "dependabot[bot]",
            "Assets",
            &seed_body(),
            &[LABEL],
        )
        .expect("issue");
    h.settle().await.expect("settle");
    assert!(h.sim.comments(INFRA_REPO, plain).is_empty());
    assert!(h.sim.comments(INFRA_REPO, by_bot).is_empty());
    assert!(request_branches(&h).is_empty());
    assert!(h.sim.pulls(INFRA_REPO).is_empty());
    assert!(
        h.state
            .service
            .requests
            .list_ids()
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn an_unreadable_config_is_explained_on_a_labelled_issue() {
    let h = start().await;
    h.sim
        .push(
            INFRA_REPO,
            "main",
            "maintainer",
            &[(
                ".github/tfpilot.yml",
                Some("environments: {}\nmodulez: {}\n"),
            )],
            "break the config",
        )
        .expect("push");
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    let comments = bot_comments(&h, issue);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(
        comments[0]
            .body
            .contains("cannot read this repository's `.github/tfpilot.yml`")
    );
    assert!(comments[0].body.contains("modulez"), "{}", comments[0].body);
    assert!(request_branches(&h).is_empty());
}

#[tokio::test]
async fn a_crash_after_posting_the_comment_never_posts_a_second_one() {
    let (h, faults) = start_with_store_faults().await;
    // Recording the comment's id fails through every retry: the delivery fails after
    // the comment was posted, as if tfpilot crashed there.
    faults.inject(Fault {
        op: OpKind::Replace,
        key_prefix: "index/issue-form/".into(),
        action: FaultAction::FailBefore,
        times: 40,
    });
    let issue = open_invalid_issue(&h);
    h.settle().await.expect("settle");
    assert!(faults.pending().is_empty(), "the fault was hit");
    assert!(
        h.sim
            .deliveries()
            .iter()
            .any(|d| d.event == "issues" && d.status_code.is_some_and(|s| s >= 500))
    );
    assert_eq!(bot_comments(&h, issue).len(), 1);

    // Later (the crashed claim has expired) the person fixes the form: the comment
    // that was posted is found and becomes the PR link.
    h.clock.advance(chrono::Duration::minutes(5));
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &seed_body())
        .expect("edit");
    h.settle().await.expect("settle");
    assert_exactly_one_request(&h, issue, "alice").await;
}

/// A delivery that finds the issue comment being posted by another one waits for it;
/// when that one never finishes, it answers 500 instead of "done" (so it is not
/// recorded and GitHub shows it failed), and its redelivery, once the other's claim
/// has expired, posts the one comment.
#[tokio::test]
async fn a_delivery_waiting_on_a_comment_that_never_comes_fails_and_its_redelivery_posts_it() {
    let h = start().await;
    fault_opened_and_labeled(&h, DeliveryFault::Drop);
    let issue = open_invalid_issue(&h);
    h.settle().await.expect("settle");
    let labeled = labeled_delivery(&h);
    // Another delivery claimed the comment moments ago and then died.
    let key = tfpilot::service::issues::comment::thread_key("acme", "infra", issue).unwrap();
    let claimed = serde_json::json!({ "claimedAt": h.state.service.now() });
    h.state
        .service
        .store
        .create(&key, serde_json::to_vec(&claimed).unwrap().into())
        .await
        .expect("claim");

    assert_eq!(deliver(&h, "issues", "wait-1", &labeled.payload).await, 500);
    assert!(bot_comments(&h, issue).is_empty());
    assert!(!h.state.service.deliveries.seen("wait-1").await.unwrap());

    h.clock.advance(chrono::Duration::minutes(3));
    assert_eq!(deliver(&h, "issues", "wait-1", &labeled.payload).await, 200);
    let comments = bot_comments(&h, issue);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with(PROBLEMS_MARKER));
}

/// Two copies of a delivery claim the issue comment at the same instant (tfpilot's
/// clock has one value for both). One copy's claim write times out without reaching
/// the store while the other's lands: the stored claim must not pass for the first
/// copy's own, or both post.
#[tokio::test]
async fn a_claim_that_timed_out_while_a_copy_claimed_the_comment_posts_it_once() {
    let (h, faults) = start_with_store_faults().await;
    fault_opened_and_labeled(&h, DeliveryFault::Drop);
    let issue = open_invalid_issue(&h);
    h.settle().await.expect("settle");
    let labeled = labeled_delivery(&h);
    // The first claim write waits long enough for the other copy's to land, then fails
    // without having been applied. The other copy's post is held up by a rate limit,
    // so when the first copy looks for a comment to adopt there is none yet.
    faults.inject(Fault {
        op: OpKind::Create,
        key_prefix: "index/issue-form/".into(),
        action: FaultAction::TimeOut(std::time::Duration::from_millis(300)),
        times: 1,
    });
    h.sim.fail_calls(CallFault::new(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        1,
        FaultResponse::RateLimited {
            retry_after_secs: 2,
        },
    ));
    let (first, second) = tokio::join!(
        deliver(&h, "issues", "copy-1", &labeled.payload),
        deliver(&h, "issues", "copy-2", &labeled.payload),
    );
    h.settle().await.expect("settle");
    assert!(faults.pending().is_empty(), "the timeout was hit");
    assert!(
        first < 300 && second < 300,
        "both copies answered: {first} {second}"
    );
    let comments = bot_comments(&h, issue);
    assert_eq!(comments.len(), 1, "one problems comment: {comments:#?}");
    assert!(comments[0].body.starts_with(PROBLEMS_MARKER));
}

#[tokio::test]
async fn an_edit_after_the_merge_and_branch_deletion_brings_nothing_back() {
    let h = start().await;
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    let request = assert_exactly_one_request(&h, issue, "alice").await;
    let pr = request.pr().expect("pr").number;
    h.sim.merge_pull(INFRA_REPO, pr, "bob").expect("merge");
    // "Automatically delete head branches", as many repositories have.
    let url = format!(
        "{}/repos/acme/infra/git/refs/heads/request/{}",
        h.sim.base_url(),
        request.id
    );
    let deleted = reqwest::Client::new()
        .delete(url)
        .header(
            "authorization",
            format!("token {}", h.sim.installation_token()),
        )
        .header("user-agent", "tfpilot-test")
        .send()
        .await
        .expect("delete ref");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    h.settle().await.expect("settle");
    assert!(request_branches(&h).is_empty());

    let changed = body(&[
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", "dev"),
        ("name", "another-bucket"),
        ("project", "core"),
    ]);
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &changed)
        .expect("edit");
    h.settle().await.expect("settle");
    assert!(request_branches(&h).is_empty(), "the branch stays deleted");
    assert_eq!(
        count_calls(&h, "POST", "/repos/{owner}/{repo}/git/commits"),
        1
    );
    assert_eq!(h.sim.pulls(INFRA_REPO).len(), 1);
    assert_eq!(
        h.sim
            .dispatches()
            .iter()
            .filter(|d| d.workflow.contains("plan"))
            .count(),
        1
    );
    let comments = bot_comments(&h, issue);
    assert_eq!(comments.len(), 1);
    assert!(
        comments[0]
            .body
            .contains("edited after the request was created")
    );
}

#[tokio::test]
async fn an_edit_after_the_request_was_archived_does_not_bring_it_back() {
    let h = start().await;
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    let request = assert_exactly_one_request(&h, issue, "alice").await;
    let svc = &h.state.service;
    svc.requests.archive(&request.id).await.expect("archive");
    h.sim
        .edit_issue_body(INFRA_REPO, issue, "alice", &format!("{}\n", seed_body()))
        .expect("edit");
    h.settle().await.expect("settle");
    assert!(svc.requests.get(&request.id).await.expect("get").is_none());
    assert!(svc.requests.list_ids().await.expect("list").is_empty());
    assert_eq!(
        count_calls(&h, "POST", "/repos/{owner}/{repo}/git/commits"),
        1
    );
    assert_eq!(h.sim.pulls(INFRA_REPO).len(), 1);
}

#[tokio::test]
async fn a_configured_environment_directory_is_where_the_file_goes_and_what_the_plan_runs_in() {
    let config = EXAMPLE_CONFIG.replace("directory: envs/dev", "directory: stacks/live/dev/");
    assert_ne!(
        config, EXAMPLE_CONFIG,
        "the example names the dev directory"
    );
    let h = Harness::start(HarnessOptions {
        config: Some(config),
        ..HarnessOptions::default()
    })
    .await
    .expect("harness");
    let issue = h
        .sim
        .open_issue(INFRA_REPO, "alice", "Assets bucket", &seed_body(), &[LABEL])
        .expect("issue");
    h.settle().await.expect("settle");
    let id = h
        .state
        .service
        .index
        .find(Thread::Issue, "acme", "infra", issue)
        .await
        .expect("index")
        .expect("request");
    let branch = format!("request/{id}");
    assert!(
        h.sim
            .file(
                INFRA_REPO,
                &branch,
                &format!("stacks/live/dev/tfpilot_{id}.tf")
            )
            .is_some(),
        "the request's file is in the configured directory"
    );
    let plans: Vec<_> = h
        .sim
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == "tfpilot-plan.yml")
        .collect();
    assert_eq!(plans.len(), 1);
    assert_eq!(
        plans[0].inputs.get(inputs::DIRECTORY).map(String::as_str),
        Some("stacks/live/dev"),
        "the plan runs in the configured Terraform root, normalized"
    );
}
