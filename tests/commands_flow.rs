//! PR commands against the simulator, through tfpilot's real router: the whole
//! lifecycle, refusals (reply texts snapshotted), the environment queue with one and
//! with two tfpilot instances, the stale destroy and `sync`, and duplicate deliveries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use secrecy::SecretString;
use tower::ServiceExt;

use tfpilot::core::contract;
use tfpilot::core::request::{Request, WorkflowKind};
use tfpilot::core::status::{FailureCause, Status, derive_status};
use tfpilot::core::webhook::parse_event;
use tfpilot::github::{AppCredentials, GitHubClient, GitHubConfig};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::http::app;
use tfpilot::serve::{Parts, assemble};
use tfpilot::service::{Outcome, ServiceError, Settings};
use tfpilot::sim::{
    DeliveryFault, Permission, Script, SimConfig, TEST_APP_PRIVATE_KEY_PEM, TeamRole, WebhookTarget,
};

/// The config the tests run under: dev needs one approval and cleans up by itself;
/// prod is protected. Apply and destroy keep their default (maintain).
const CONFIG: &str = "environments:
  dev:
    required_approvals: 1
    cleanup_auto_merge: true
  prod:
    protected: true
    required_approvals: 1
    apply:
      teams: [acme/platform]
  staging:
    required_approvals: 1
    auto_apply: true
";

const REQUESTER: &str = "alice";
const REVIEWER: &str = "rita";
const MAINTAINER: &str = "maya";
const WRITER: &str = "wes";
const TEAM_MEMBER: &str = "tina";

async fn start() -> Harness {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    h.sim
        .push(
            INFRA_REPO,
            "main",
            "admin",
            &[(".github/tfpilot.yml", Some(CONFIG))],
            "tests: tfpilot config",
        )
        .expect("config pushed");
    for (user, p) in [
        (REQUESTER, Permission::Write),
        (REVIEWER, Permission::Write),
        (MAINTAINER, Permission::Maintain),
        (WRITER, Permission::Write),
        (TEAM_MEMBER, Permission::Write),
    ] {
        h.sim
            .set_permission(INFRA_REPO, user, p)
            .expect("permission");
    }
    h.settle().await.expect("settle");
    h
}

/// A request as the issue flow leaves it, its PR open (see `Harness::open_request_pr`).
async fn open_request(h: &Harness, id: &str) -> u64 {
    h.open_request_pr(id, REQUESTER).await.expect("request PR")
}

/// `user` comments `body` on `pr`; the comment id once tfpilot answered.
async fn say(h: &Harness, pr: u64, user: &str, body: &str) -> u64 {
    h.say(pr, user, body).await.expect("comment")
}

/// tfpilot's replies (not its sticky comment) posted after comment `after`.
fn replies_after(h: &Harness, pr: u64, after: u64) -> Vec<String> {
    h.replies_after(pr, after)
}

/// The one reply to comment `after` (panics when there is none or several).
fn reply_to(h: &Harness, pr: u64, after: u64) -> String {
    let mut r = replies_after(h, pr, after);
    assert_eq!(r.len(), 1, "exactly one reply expected: {r:#?}");
    r.remove(0)
}

/// tfpilot's reactions on a comment.
fn bot_reactions(h: &Harness, pr: u64, comment: u64) -> Vec<String> {
    let bot = h.sim.bot_login();
    h.sim
        .comments(INFRA_REPO, pr)
        .into_iter()
        .find(|c| c.id == comment)
        .expect("comment")
        .reactions
        .into_iter()
        .filter(|(u, _)| *u == bot)
        .map(|(_, c)| c)
        .collect()
}

async fn stored(h: &Harness, id: &str) -> Request {
    h.state
        .service
        .requests
        .get(id)
        .await
        .expect("read")
        .expect("live request")
}

async fn status(h: &Harness, id: &str) -> Status {
    derive_status(&stored(h, id).await, h.state.service.now())
}

/// A dispatch as the tests look at it.
struct Dispatch {
    request_id: String,
    git_ref: String,
    inputs: std::collections::BTreeMap<String, String>,
}

fn dispatches_of(h: &Harness, workflow: &str) -> Vec<Dispatch> {
    h.sim
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == workflow)
        .map(|d| Dispatch {
            request_id: d
                .inputs
                .get(contract::inputs::REQUEST_ID)
                .cloned()
                .unwrap_or_default(),
            git_ref: d.git_ref.clone(),
            inputs: d.inputs.clone(),
        })
        .collect()
}

/// Plans (by a comment), approves and merges a request; returns the PR number.
async fn planned_approved_merged(h: &Harness, id: &str) -> u64 {
    let pr = open_request(h, id).await;
    say(h, pr, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(status(h, id).await, Status::PlanReady);
    h.sim.approve(INFRA_REPO, pr, REVIEWER).expect("approve");
    h.settle().await.expect("settle");
    assert_eq!(status(h, id).await, Status::Approved);
    h.sim.merge_pull(INFRA_REPO, pr, MAINTAINER).expect("merge");
    h.settle().await.expect("settle");
    assert_eq!(status(h, id).await, Status::Merged);
    pr
}

#[tokio::test]
async fn a_request_goes_from_plan_to_history_through_pr_commands() {
    let h = start().await;
    let id = "req_dev_s3-bucket_ab12cd";
    let pr = open_request(&h, id).await;
    assert_eq!(
        status(&h, id).await,
        Status::Planning,
        "an open PR waits for its plan"
    );

    let c = say(&h, pr, REQUESTER, "/tfpilot plan").await;
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    assert!(replies_after(&h, pr, c).is_empty());
    let plans = dispatches_of(&h, contract::PLAN.file);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].git_ref, format!("request/{id}"));
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, id).await, Status::PlanReady);

    h.sim.approve(INFRA_REPO, pr, REVIEWER).expect("approve");
    h.settle().await.expect("settle");
    assert_eq!(status(&h, id).await, Status::Approved);
    let merge_sha = h.sim.merge_pull(INFRA_REPO, pr, MAINTAINER).expect("merge");
    h.settle().await.expect("settle");
    assert_eq!(status(&h, id).await, Status::Merged);

    let c = say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    let applies = dispatches_of(&h, contract::APPLY.file);
    assert_eq!(applies.len(), 1);
    assert_eq!(
        applies[0].git_ref, "main",
        "apply runs from the default branch"
    );
    assert_eq!(
        applies[0].inputs.get(contract::inputs::COMMIT_SHA),
        Some(&merge_sha),
        "apply runs the merge commit"
    );
    assert!(
        applies[0]
            .inputs
            .contains_key(contract::inputs::EXPECTED_FINGERPRINT)
    );
    assert_eq!(status(&h, id).await, Status::Applying);
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, id).await, Status::Applied);

    let c = say(&h, pr, MAINTAINER, "/tfpilot destroy").await;
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    assert_eq!(status(&h, id).await, Status::Destroying);
    let cleanup: Vec<_> = h
        .sim
        .pulls(INFRA_REPO)
        .into_iter()
        .filter(|p| p.head_ref == format!("cleanup/{id}"))
        .collect();
    assert_eq!(
        cleanup.len(),
        1,
        "the cleanup PR is opened with the destroy"
    );
    assert!(cleanup[0].open);

    // A late copy of the apply's completion (new delivery id) leaves the destroy's lock.
    let late = h
        .sim
        .deliveries()
        .into_iter()
        .rev()
        .find(|d| {
            d.event == "workflow_run"
                && d.payload["action"] == "completed"
                && d.payload["workflow_run"]["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with(contract::APPLY.file))
        })
        .expect("apply completion delivery");
    let body = serde_json::to_vec(&late.payload).expect("payload");
    Box::pin(h.state.service.handle_delivery(
        "late-copy",
        parse_event("workflow_run", &body).expect("event"),
    ))
    .await
    .expect("late copy");
    let holder = h
        .state
        .service
        .locks
        .get(("acme", "infra", "dev"))
        .await
        .unwrap()
        .and_then(|l| l.holder)
        .expect("held");
    assert_eq!(
        (holder.request_id.as_str(), holder.kind.as_str()),
        (id, "destroy")
    );
    h.run_workflows().await.expect("runs");

    let cleanup = h
        .sim
        .pulls(INFRA_REPO)
        .into_iter()
        .find(|p| p.head_ref == format!("cleanup/{id}"))
        .expect("cleanup PR");
    assert!(
        cleanup.merged,
        "dev merges its cleanup PR after the destroy"
    );
    assert_eq!(
        h.sim
            .file(INFRA_REPO, "main", &format!("envs/dev/tfpilot_{id}.tf")),
        None,
        "the request's file is gone from the default branch"
    );
    let svc = &h.state.service;
    assert!(
        svc.requests.get(id).await.unwrap().is_none(),
        "no longer live"
    );
    let archived = svc
        .requests
        .get_archived(id)
        .await
        .unwrap()
        .expect("history/<id>.json");
    assert_eq!(derive_status(&archived, svc.now()), Status::Destroyed);
    let lock = svc.locks.get(("acme", "infra", "dev")).await.unwrap();
    assert!(lock.is_none_or(|l| l.holder.is_none()), "the lock is free");
}

fn redact(text: &str, h: &Harness) -> String {
    let _ = h;
    let re = regex::Regex::new(r"`[0-9a-f]{7}`").expect("regex");
    re.replace_all(text, "`<sha>`").into_owned()
}

#[tokio::test]
async fn refusals_say_why_and_what_would_work() {
    let h = start().await;

    // Apply before merge.
    let a = "req_dev_s3-bucket_aaaaaa";
    let pr_a = open_request(&h, a).await;
    say(&h, pr_a, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    let c = say(&h, pr_a, MAINTAINER, "/tfpilot apply").await;
    insta::assert_snapshot!("apply_before_merge", reply_to(&h, pr_a, c));
    assert_eq!(bot_reactions(&h, pr_a, c), vec!["eyes"]);

    // Apply without approvals (merged without review).
    h.sim
        .merge_pull(INFRA_REPO, pr_a, MAINTAINER)
        .expect("merge");
    h.settle().await.expect("settle");
    let c = say(&h, pr_a, MAINTAINER, "/tfpilot apply").await;
    insta::assert_snapshot!("apply_without_approvals", reply_to(&h, pr_a, c));

    // Apply by someone with write permission only (maintain needed).
    let c = say(&h, pr_a, WRITER, "/tfpilot apply").await;
    insta::assert_snapshot!("apply_by_writer", reply_to(&h, pr_a, c));

    // Apply with a failed plan.
    let b = "req_dev_s3-bucket_bbbbbb";
    h.sim
        .script_workflow_for_request(INFRA_REPO, contract::PLAN.file, b, Script::failure());
    let pr_b = open_request(&h, b).await;
    say(&h, pr_b, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(
        status(&h, b).await,
        Status::Failed(FailureCause::PlanFailed)
    );
    h.sim.approve(INFRA_REPO, pr_b, REVIEWER).expect("approve");
    h.sim
        .merge_pull(INFRA_REPO, pr_b, MAINTAINER)
        .expect("merge");
    h.settle().await.expect("settle");
    let c = say(&h, pr_b, MAINTAINER, "/tfpilot apply").await;
    insta::assert_snapshot!("apply_with_failed_plan", reply_to(&h, pr_b, c));

    // Apply with a stale plan: the plan ran on another commit than the final head.
    let s = "req_dev_s3-bucket_ssssss";
    let pr_s = planned_approved_merged(&h, s).await;
    h.state
        .service
        .requests
        .update(s, |r| {
            let mut next = r.clone();
            if let Some(plan) = next.github_mut().workflows.plan.as_mut() {
                plan.head_sha = Some("0123456789abcdef0123456789abcdef01234567".into());
            }
            Some(next)
        })
        .await
        .expect("older plan");
    let c = say(&h, pr_s, MAINTAINER, "/tfpilot apply").await;
    insta::assert_snapshot!("apply_with_stale_plan", redact(&reply_to(&h, pr_s, c), &h));
    assert!(
        dispatches_of(&h, contract::APPLY.file).is_empty(),
        "nothing was applied"
    );

    // Destroy on a protected environment without the id, then with it.
    let p = "req_prod_s3-bucket_pppppp";
    let pr_p = planned_approved_merged(&h, p).await;
    say(&h, pr_p, MAINTAINER, "/tfpilot apply").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, p).await, Status::Applied);
    let c = say(&h, pr_p, MAINTAINER, "/tfpilot destroy").await;
    insta::assert_snapshot!("destroy_protected_without_id", reply_to(&h, pr_p, c));
    assert!(dispatches_of(&h, contract::DESTROY.file).is_empty());
    let c = say(&h, pr_p, MAINTAINER, &format!("/tfpilot destroy {p}")).await;
    assert!(replies_after(&h, pr_p, c).is_empty());
    assert_eq!(dispatches_of(&h, contract::DESTROY.file).len(), 1);

    // A malformed command runs nothing and says what was meant.
    let c = say(&h, pr_a, MAINTAINER, "/tfpilot aply").await;
    insta::assert_snapshot!("malformed", reply_to(&h, pr_a, c));

    // `help` and `status` answer.
    let c = say(&h, pr_a, REQUESTER, "/tfpilot help").await;
    insta::assert_snapshot!("help", reply_to(&h, pr_a, c));
    let c = say(&h, pr_s, REQUESTER, "/tfpilot status").await;
    insta::assert_snapshot!("status_merged", reply_to(&h, pr_s, c));
}

#[tokio::test]
async fn bots_edited_comments_and_other_threads_get_no_action() {
    let h = start().await;
    let id = "req_dev_s3-bucket_cccccc";
    let pr = open_request(&h, id).await;
    let before = h.sim.dispatches().len();

    // A bot (tfpilot itself included) is ignored: no reply, no reaction.
    let c = say(&h, pr, "dependabot[bot]", "/tfpilot plan").await;
    assert!(replies_after(&h, pr, c).is_empty());
    assert!(bot_reactions(&h, pr, c).is_empty());

    // A command edited into a comment is ignored.
    let c = say(&h, pr, REQUESTER, "looks good").await;
    h.sim
        .edit_comment(INFRA_REPO, c, REQUESTER, "/tfpilot plan")
        .expect("edit");
    h.settle().await.expect("settle");
    assert!(replies_after(&h, pr, c).is_empty());
    assert!(bot_reactions(&h, pr, c).is_empty());
    assert_eq!(h.sim.dispatches().len(), before, "nothing dispatched");

    // A comment that does not address tfpilot gets nothing either.
    let c = say(&h, pr, REQUESTER, "`/tfpilot plan` would plan again").await;
    assert!(replies_after(&h, pr, c).is_empty());
    assert!(bot_reactions(&h, pr, c).is_empty());

    // A PR that is not a request gets help when it addresses tfpilot.
    h.sim
        .push(
            INFRA_REPO,
            "feature/docs",
            REQUESTER,
            &[("README.md", Some("# docs\n"))],
            "docs",
        )
        .expect("push");
    let other = h
        .sim
        .open_pull(INFRA_REPO, REQUESTER, "feature/docs", "main", "docs", "")
        .expect("pr");
    h.settle().await.expect("settle");
    let c = say(&h, other, REQUESTER, "/tfpilot apply").await;
    insta::assert_snapshot!("not_a_request", reply_to(&h, other, c));
    assert_eq!(h.sim.dispatches().len(), before, "nothing dispatched");

    // On the request's issue, the reply points at its PR.
    let issue = h
        .sim
        .open_issue(INFRA_REPO, REQUESTER, "bucket please", "", &[])
        .expect("issue");
    h.state
        .service
        .index
        .link(tfpilot::store::Thread::Issue, "acme", "infra", issue, id)
        .await
        .expect("link");
    h.settle().await.expect("settle");
    let c = say(&h, issue, REQUESTER, "/tfpilot plan").await;
    assert_eq!(
        reply_to(&h, issue, c),
        format!(
            "@alice tfpilot commands run on the request's pull request: comment on #{pr} instead."
        )
    );
    assert_eq!(h.sim.dispatches().len(), before, "nothing dispatched");
}

#[test]
fn a_fork_pr_gets_a_refusal() {
    // The simulator has no forks; the decision is `pull.head.repo` vs the repository,
    // and this is the text that answers it.
    insta::assert_snapshot!(
        "fork_pr",
        tfpilot::service::command::replies::fork_reply("/tfpilot plan", "mallory")
    );
}

#[tokio::test]
async fn the_same_delivery_twice_reacts_once_and_dispatches_once() {
    let h = start().await;
    let id = "req_dev_s3-bucket_dddddd";
    let pr = open_request(&h, id).await;
    h.sim
        .fault_next_delivery(Some("issue_comment"), DeliveryFault::Duplicate);
    let c = say(&h, pr, REQUESTER, "/tfpilot plan").await;
    assert_eq!(
        h.state.metrics.delivery_count("issue_comment", "duplicate"),
        1,
        "the comment was delivered twice and recognized the second time"
    );
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    assert_eq!(dispatches_of(&h, contract::PLAN.file).len(), 1);
    assert!(replies_after(&h, pr, c).is_empty());

    // A delivery processed by two replicas at once: one dispatch, one reaction. The
    // simulator drops it so that both copies below are its first processing.
    let other = "req_dev_s3-bucket_d2d2d2";
    let pr2 = open_request(&h, other).await;
    let d = Undelivered::comment(&h, pr2, "/tfpilot plan").await;
    let c2 = d.comment;
    assert!(
        bot_reactions(&h, pr2, c2).is_empty(),
        "dropped: not seen yet"
    );
    let (a, b) = tokio::join!(d.handle(&h), d.handle(&h));
    a.expect("first copy");
    b.expect("second copy");
    h.settle().await.expect("settle");
    assert_eq!(bot_reactions(&h, pr2, c2), vec!["rocket"], "one reaction");
    let plans: Vec<_> = dispatches_of(&h, contract::PLAN.file)
        .into_iter()
        .filter(|d| d.request_id == other)
        .collect();
    assert_eq!(plans.len(), 1, "one dispatch");
}

/// A comment delivered to tfpilot but not processed yet (the simulator dropped it),
/// with a way to hand the same delivery to the service as often as a test likes.
struct Undelivered {
    guid: String,
    body: Vec<u8>,
    comment: u64,
}

impl Undelivered {
    async fn comment(h: &Harness, pr: u64, text: &str) -> Undelivered {
        h.sim
            .fault_next_delivery(Some("issue_comment"), DeliveryFault::Drop);
        let comment = say(h, pr, REQUESTER, text).await;
        let record = h
            .sim
            .deliveries()
            .into_iter()
            .rev()
            .find(|d| d.event == "issue_comment")
            .expect("delivery");
        Undelivered {
            guid: record.guid,
            body: serde_json::to_vec(&record.payload).expect("payload"),
            comment,
        }
    }

    /// `/tfpilot plan` on a new request's PR, not processed yet, and its command
    /// claimed by an attempt that has not answered; the PR number too.
    async fn claimed_plan(h: &Harness, id: &str) -> (u64, Undelivered) {
        let pr = open_request(h, id).await;
        let d = Undelivered::comment(h, pr, "/tfpilot plan").await;
        let svc = &h.state.service;
        assert!(svc.markers.first_time(&d.claim(), svc.now()).await.unwrap());
        (pr, d)
    }

    /// The claim an attempt takes before it runs the comment's first command.
    fn claim(&self) -> String {
        format!("command/{}/{}/0", self.guid, self.comment)
    }

    async fn handle(&self, h: &Harness) -> Result<Outcome, ServiceError> {
        let event = parse_event("issue_comment", &self.body).expect("event");
        Box::pin(h.state.service.handle_delivery(&self.guid, event)).await
    }
}

/// A copy of a delivery that finds its command claimed by an attempt that never
/// answered does not call itself a duplicate (that would record the delivery, and the
/// command would be lost): it answers 500, so the delivery stays failed and is tried
/// again. Once the claim is stale, the next attempt runs the command: one dispatch,
/// one reaction.
#[tokio::test]
async fn a_command_claimed_by_an_attempt_that_died_runs_on_a_later_attempt() {
    let h = start().await;
    let id = "req_dev_s3-bucket_e5e5e5";
    let (pr, d) = Undelivered::claimed_plan(&h, id).await;
    let svc = &h.state.service;
    let first = d.handle(&h).await;
    assert!(
        matches!(first, Err(ServiceError::CommandInFlight { .. })),
        "{first:?}"
    );
    assert!(
        !svc.deliveries.seen(&d.guid).await.unwrap(),
        "a delivery whose command nobody answered is not recorded"
    );
    assert!(bot_reactions(&h, pr, d.comment).is_empty());
    assert!(dispatches_of(&h, contract::PLAN.file).is_empty());

    h.clock.advance(chrono::Duration::minutes(11));
    let later = d.handle(&h).await.expect("the stale claim is taken over");
    assert_eq!(later, Outcome::Processed);
    h.settle().await.expect("settle");
    assert_eq!(bot_reactions(&h, pr, d.comment), vec!["rocket"]);
    assert_eq!(dispatches_of(&h, contract::PLAN.file).len(), 1);
    assert!(svc.deliveries.seen(&d.guid).await.unwrap());
}

/// Two copies of one delivery at once, and the one that claimed the command fails
/// (GitHub down, say) and gives the claim back: the waiting copy runs the command
/// instead of having answered "duplicate" before.
#[tokio::test]
async fn a_copy_waiting_on_a_claimer_that_fails_runs_the_command_itself() {
    let h = start().await;
    let id = "req_dev_s3-bucket_f6f6f6";
    let (pr, d) = Undelivered::claimed_plan(&h, id).await;
    let svc = &h.state.service;
    // The claimer works for a while, fails and gives the claim back.
    let claimer = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        svc.markers.clear(&d.claim()).await.expect("given back");
    };
    let (copy, ()) = tokio::join!(d.handle(&h), claimer);
    assert_eq!(copy.expect("the waiting copy ran it"), Outcome::Processed);
    h.settle().await.expect("settle");
    assert_eq!(bot_reactions(&h, pr, d.comment), vec!["rocket"]);
    let plans = dispatches_of(&h, contract::PLAN.file);
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].request_id, id);
}

/// Steps every run one at a time, asserting at most one apply is unfinished at any
/// moment; returns the request ids in the order their applies were dispatched.
async fn run_applies_one_at_a_time(h: &Harness) -> Vec<String> {
    loop {
        h.settle().await.expect("settle");
        let active = h
            .sim
            .workflow_runs(INFRA_REPO)
            .into_iter()
            .filter(|r| r.workflow == contract::APPLY.file && r.status != "completed")
            .count();
        assert!(active <= 1, "{active} applies at once in one environment");
        if h.sim.advance_workflows() == 0 {
            break;
        }
    }
    dispatches_of(h, contract::APPLY.file)
        .into_iter()
        .map(|d| d.request_id)
        .collect()
}

async fn three_queue_up(h: &Harness) {
    let ids = [
        "req_dev_s3-bucket_q1q1q1",
        "req_dev_s3-bucket_q2q2q2",
        "req_dev_s3-bucket_q3q3q3",
    ];
    let mut prs = Vec::new();
    for id in ids {
        prs.push(planned_approved_merged(h, id).await);
    }
    // All three ask at once.
    let mut comments = Vec::new();
    for pr in &prs {
        comments.push(
            h.sim
                .comment(INFRA_REPO, *pr, MAINTAINER, "/tfpilot apply")
                .expect("comment"),
        );
    }
    h.settle().await.expect("settle");
    assert_eq!(
        dispatches_of(h, contract::APPLY.file).len(),
        1,
        "one apply at a time"
    );
    assert_eq!(status(h, ids[0]).await, Status::Applying);
    assert_eq!(status(h, ids[1]).await, Status::Queued);
    assert_eq!(status(h, ids[2]).await, Status::Queued);
    let r1 = reply_to(h, prs[1], comments[1]);
    let r2 = reply_to(h, prs[2], comments[2]);
    assert!(r1.contains("number 1 in line"), "{r1}");
    assert!(r2.contains("number 2 in line"), "{r2}");
    insta::assert_snapshot!("queued", r2);

    let order = run_applies_one_at_a_time(h).await;
    assert_eq!(order, ids.to_vec(), "dispatched in queue order");
    for id in ids {
        assert_eq!(status(h, id).await, Status::Applied);
    }
    let runs = h.sim.workflow_runs(INFRA_REPO);
    assert!(
        runs.iter()
            .all(|r| r.conclusion.as_deref() != Some("cancelled")),
        "no run was cancelled"
    );
    let lock = h
        .state
        .service
        .locks
        .get(("acme", "infra", "dev"))
        .await
        .unwrap()
        .expect("lock doc");
    assert!(lock.holder.is_none() && lock.queue.is_empty());
}

#[tokio::test]
async fn three_applies_in_one_environment_run_one_after_another() {
    let h = start().await;
    three_queue_up(&h).await;
}

#[tokio::test]
async fn two_instances_sharing_the_store_keep_the_queue() {
    let h = start().await;
    // A second tfpilot over the same store and clock, its own GitHub client and caches;
    // the simulator's deliveries alternate between the two.
    let sim_config = SimConfig::for_tests();
    let credentials = AppCredentials::from_pem(
        sim_config.app_id,
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )
    .expect("key");
    let client = GitHubClient::new(GitHubConfig::new(credentials).with_api_url(h.sim.base_url()))
        .expect("client");
    let second = assemble(Parts {
        webhook_secret: SecretString::from(sim_config.webhook_secret.clone()),
        store: h.store.clone(),
        github: Arc::new(client),
        github_metrics: None,
        clock: h.clock.clone(),
        settings: Settings::default(),
    });
    let apps = [h.app.clone(), app(second.state.clone())];
    let turn = Arc::new(AtomicUsize::new(0));
    let router = Router::new().fallback(move |req: axum::extract::Request<Body>| {
        let n = turn.fetch_add(1, Ordering::SeqCst);
        let target = apps[n % 2].clone();
        async move {
            match target.oneshot(req).await {
                Ok(r) => r.into_response(),
                Err(never) => match never {},
            }
        }
    });
    h.sim.set_webhook_target(WebhookTarget::Router(router));
    three_queue_up(&h).await;
}

#[tokio::test]
async fn a_stale_destroy_fails_and_sync_recovers_the_real_outcome() {
    let h = start().await;
    let id = "req_dev_s3-bucket_eeeeee";
    let pr = planned_approved_merged(&h, id).await;
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, id).await, Status::Applied);

    // The destroy runs, but none of its progress reaches tfpilot.
    say(&h, pr, MAINTAINER, "/tfpilot destroy").await;
    assert_eq!(status(&h, id).await, Status::Destroying);
    h.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(
        status(&h, id).await,
        Status::Failed(FailureCause::DestroyStale)
    );
    let c = say(&h, pr, REQUESTER, "/tfpilot status").await;
    let text = reply_to(&h, pr, c);
    assert!(text.contains("/tfpilot sync"), "{text}");
    insta::assert_snapshot!("status_stale_destroy", text);

    for _ in 0..2 {
        h.sim
            .fault_next_delivery(Some("workflow_run"), DeliveryFault::Drop);
    }
    h.sim.advance_workflows();
    h.settle().await.expect("settle");
    h.sim.advance_workflows();
    h.settle().await.expect("settle");
    assert_eq!(
        status(&h, id).await,
        Status::Failed(FailureCause::DestroyStale),
        "tfpilot heard nothing"
    );

    let c = say(&h, pr, MAINTAINER, "/tfpilot sync").await;
    let text = reply_to(&h, pr, c);
    assert!(text.contains("destroy run"), "{text}");
    assert!(text.contains("**destroyed**"), "{text}");
    let archived = h
        .state
        .service
        .requests
        .get_archived(id)
        .await
        .unwrap()
        .expect("archived after the recovered destroy");
    assert_eq!(
        derive_status(&archived, h.state.service.now()),
        Status::Destroyed
    );
    let _ = WorkflowKind::Destroy;
}

#[tokio::test]
async fn a_new_push_plans_again_once_and_the_older_plan_is_stale() {
    let h = start().await;
    let id = "req_dev_s3-bucket_ffffff";
    let pr = open_request(&h, id).await;
    say(&h, pr, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, id).await, Status::PlanReady);

    h.sim
        .fault_next_delivery(Some("pull_request"), DeliveryFault::Duplicate);
    let head = h
        .sim
        .push(
            INFRA_REPO,
            &format!("request/{id}"),
            REQUESTER,
            &[(
                &format!("envs/dev/tfpilot_{id}.tf") as &str,
                Some("# changed\n"),
            )],
            "tweak",
        )
        .expect("push");
    h.settle().await.expect("settle");
    let plans: Vec<_> = dispatches_of(&h, contract::PLAN.file);
    assert_eq!(
        plans.len(),
        2,
        "one autoplan for the new head, even delivered twice"
    );
    assert_eq!(status(&h, id).await, Status::Planning);
    h.run_workflows().await.expect("runs");
    let doc = stored(&h, id).await;
    assert_eq!(
        doc.run(WorkflowKind::Plan)
            .and_then(|r| r.head_sha.as_deref()),
        Some(head.as_str()),
        "the plan now covers the new head"
    );
    assert!(!tfpilot::core::status::is_plan_stale(&doc));
}

#[tokio::test]
async fn buttons_run_the_same_commands_with_the_same_authorization() {
    let h = start().await;
    let id = "req_dev_s3-bucket_gggggg";
    let pr = planned_approved_merged(&h, id).await;
    let head = h.sim.pull(INFRA_REPO, pr).expect("pr").head_sha;
    let check = h
        .sim
        .check_runs_named(INFRA_REPO, tfpilot::render::LIFECYCLE_CHECK_NAME, &head)
        .into_iter()
        .last()
        .expect("lifecycle check run");
    assert!(
        check.actions.iter().any(|a| a.identifier == "apply"),
        "merged: the Apply button is offered"
    );

    // Someone with write permission presses Apply: refused, as the comment would be.
    let before = h
        .sim
        .comments(INFRA_REPO, pr)
        .iter()
        .map(|c| c.id)
        .max()
        .unwrap_or(0);
    h.sim
        .press_check_action(INFRA_REPO, check.id, WRITER, "apply")
        .expect("press");
    h.settle().await.expect("settle");
    let refused = reply_to(&h, pr, before);
    assert!(
        refused.contains("@wes tfpilot did not run this"),
        "{refused}"
    );
    assert!(refused.contains("`maintain` permission"), "{refused}");
    assert!(dispatches_of(&h, contract::APPLY.file).is_empty());

    // A maintainer presses it: applied from the default branch.
    h.sim
        .press_check_action(INFRA_REPO, check.id, MAINTAINER, "apply")
        .expect("press");
    h.settle().await.expect("settle");
    assert_eq!(dispatches_of(&h, contract::APPLY.file).len(), 1);
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, id).await, Status::Applied);
}

#[tokio::test]
async fn rerunning_the_plan_check_plans_again() {
    let h = start().await;
    let id = "req_dev_s3-bucket_hhhhhh";
    let pr = open_request(&h, id).await;
    say(&h, pr, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    let head = h.sim.pull(INFRA_REPO, pr).expect("pr").head_sha;
    let check = h
        .sim
        .check_runs_named(INFRA_REPO, tfpilot::render::PLAN_CHECK_NAME, &head)
        .into_iter()
        .last()
        .expect("plan check run");
    h.sim
        .rerun_check(INFRA_REPO, check.id, REQUESTER)
        .expect("rerun");
    h.settle().await.expect("settle");
    assert_eq!(dispatches_of(&h, contract::PLAN.file).len(), 2);
}

#[tokio::test]
async fn team_members_may_apply_where_the_rule_names_their_team() {
    let h = start().await;
    h.sim
        .add_team_member("acme", "platform", TEAM_MEMBER, TeamRole::Member);
    let id = "req_prod_s3-bucket_tttttt";
    let pr = planned_approved_merged(&h, id).await;
    let c = say(&h, pr, TEAM_MEMBER, "/tfpilot apply").await;
    assert!(replies_after(&h, pr, c).is_empty());
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    assert_eq!(dispatches_of(&h, contract::APPLY.file).len(), 1);
}

#[tokio::test]
async fn merging_applies_where_the_environment_says_so() {
    let h = start().await;
    let id = "req_staging_s3-bucket_iiiiii";
    let pr = open_request(&h, id).await;
    say(&h, pr, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    h.sim.approve(INFRA_REPO, pr, REVIEWER).expect("approve");
    h.settle().await.expect("settle");
    assert!(dispatches_of(&h, contract::APPLY.file).is_empty());
    h.sim.merge_pull(INFRA_REPO, pr, MAINTAINER).expect("merge");
    h.settle().await.expect("settle");
    assert_eq!(status(&h, id).await, Status::Applying);
    let applies = dispatches_of(&h, contract::APPLY.file);
    assert_eq!(applies.len(), 1, "auto-apply on merge");
    assert_eq!(applies[0].request_id, id);
}

#[tokio::test]
async fn a_stuck_lock_is_released_by_unlock_and_a_finished_holder_by_itself() {
    let h = start().await;
    let a = "req_dev_s3-bucket_la1111";
    let b = "req_dev_s3-bucket_lb2222";
    let c_id = "req_dev_s3-bucket_lc3333";
    let pr_a = planned_approved_merged(&h, a).await;
    let pr_b = planned_approved_merged(&h, b).await;
    let pr_c = planned_approved_merged(&h, c_id).await;

    // A's apply hangs (never advanced); B queues behind it.
    say(&h, pr_a, MAINTAINER, "/tfpilot apply").await;
    say(&h, pr_b, MAINTAINER, "/tfpilot apply").await;
    assert_eq!(status(&h, b).await, Status::Queued);

    // Unlock needs apply permission.
    let c = say(&h, pr_b, WRITER, "/tfpilot unlock").await;
    assert!(reply_to(&h, pr_b, c).contains("did not run this"));
    let c = say(&h, pr_b, MAINTAINER, "/tfpilot unlock").await;
    let text = reply_to(&h, pr_b, c);
    insta::assert_snapshot!("unlock", text);
    let applies = dispatches_of(&h, contract::APPLY.file);
    assert_eq!(applies.len(), 2, "B started once A's lock was released");
    assert_eq!(applies[1].request_id, b);
    assert_eq!(status(&h, b).await, Status::Applying);

    // B's run waits for A's on GitHub's side (the workflow's concurrency group, never
    // cancelled); A finishes after all, which changes nothing for the lock B holds.
    let run_of = |rid: &str| {
        h.sim
            .workflow_runs(INFRA_REPO)
            .into_iter()
            .find(|r| {
                r.workflow == contract::APPLY.file
                    && r.inputs.get("request_id").map(String::as_str) == Some(rid)
            })
            .expect("run")
    };
    h.sim.complete_run(run_of(a).id).expect("complete A");
    h.settle().await.expect("settle");
    assert_eq!(status(&h, a).await, Status::Applied);
    assert_eq!(status(&h, b).await, Status::Applying);

    // B's run finishes but tfpilot hears nothing of it; C asks: B's lock is released
    // because GitHub says its run is over, and C starts.
    for _ in 0..3 {
        h.sim
            .fault_next_delivery(Some("workflow_run"), DeliveryFault::Drop);
    }
    let b_run = h
        .sim
        .workflow_runs(INFRA_REPO)
        .into_iter()
        .find(|r| {
            r.workflow == contract::APPLY.file
                && r.inputs.get("request_id").map(String::as_str) == Some(b)
        })
        .expect("B's run");
    h.sim.complete_run(b_run.id).expect("complete");
    h.settle().await.expect("settle");
    let c = say(&h, pr_c, MAINTAINER, "/tfpilot apply").await;
    assert!(replies_after(&h, pr_c, c).is_empty(), "not queued");
    let applies = dispatches_of(&h, contract::APPLY.file);
    assert_eq!(applies.len(), 3);
    assert_eq!(applies[2].request_id, c_id);
}

/// An s3-bucket form body for `environment`, as GitHub renders the issue form.
fn form_body(environment: &str) -> String {
    use std::collections::BTreeMap;
    use tfpilot::config::forms::module_fields;
    use tfpilot::config::repo::RepoConfig;
    use tfpilot::core::issue_form::{Answer, FieldShape, render_body};
    let config = RepoConfig::parse(tfpilot::harness::EXAMPLE_CONFIG).expect("example config");
    let fields = module_fields(&config, "s3-bucket").expect("module");
    let shapes: Vec<FieldShape> = fields.iter().map(|f| f.shape.clone()).collect();
    let answers: BTreeMap<String, Answer> = [
        ("tfpilot-module", "s3-bucket"),
        ("tfpilot-environment", environment),
        ("tfpilot-preset", "s3-public-assets"),
        ("name", "core-dev-assets-x1"),
        ("project", "core"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), Answer::Text((*v).to_owned())))
    .collect();
    render_body(&shapes, &answers)
}

#[tokio::test]
async fn an_issue_form_request_lives_and_ends_in_history_under_the_example_config() {
    // The example config: dev needs no approval, applies on merge, lets writers
    // destroy and merges its cleanup PR.
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    h.sim
        .set_permission(INFRA_REPO, REQUESTER, Permission::Write)
        .expect("permission");
    let issue = h
        .sim
        .open_issue(
            INFRA_REPO,
            REQUESTER,
            "Assets",
            &form_body("dev"),
            &["tfpilot-request"],
        )
        .expect("issue");
    h.settle().await.expect("settle");
    let svc = &h.state.service;
    let id = svc
        .index
        .find(tfpilot::store::Thread::Issue, "acme", "infra", issue)
        .await
        .unwrap()
        .expect("a request for the issue");
    let pr = stored(&h, &id).await.pr().expect("its PR").number;
    assert_eq!(status(&h, &id).await, Status::Planning);
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, &id).await, Status::PlanReady);

    h.sim.merge_pull(INFRA_REPO, pr, REQUESTER).expect("merge");
    h.settle().await.expect("settle");
    assert_eq!(status(&h, &id).await, Status::Applying, "applied on merge");
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, &id).await, Status::Applied);

    let c = say(&h, pr, REQUESTER, "/tfpilot destroy").await;
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    assert_eq!(status(&h, &id).await, Status::Destroying);
    h.run_workflows().await.expect("runs");
    assert!(svc.requests.get(&id).await.unwrap().is_none());
    let archived = svc
        .requests
        .get_archived(&id)
        .await
        .unwrap()
        .expect("history");
    assert_eq!(derive_status(&archived, svc.now()), Status::Destroyed);
    assert!(
        h.sim
            .pulls(INFRA_REPO)
            .iter()
            .any(|p| p.head_ref == format!("cleanup/{id}") && p.merged),
        "cleanup PR merged"
    );
}

#[test]
fn every_refusal_text_names_why_and_what_would_work() {
    use tfpilot::config::repo::{Access, Permission as Level};
    use tfpilot::core::command::CommandAction;
    use tfpilot::core::gates::Blocked;
    use tfpilot::core::policy::Denial;
    use tfpilot::service::command::replies;

    let id = "req_prod_s3-bucket_abc123";
    let blocked = [
        Blocked::Destroyed,
        Blocked::Destroying,
        Blocked::DestroyStale,
        Blocked::NoPr,
        Blocked::PrClosed,
        Blocked::AlreadyMerged,
        Blocked::PlanRunning,
        Blocked::NotMerged,
        Blocked::MergeShaUnknown,
        Blocked::NoPlan,
        Blocked::PlanFailed,
        Blocked::PlanStale {
            planned: None,
            head: "89abcdef0123456789abcdef0123456789abcdef".into(),
        },
        Blocked::NotEnoughApprovals { have: 1, need: 2 },
        Blocked::AlreadyQueued,
        Blocked::Applying,
        Blocked::AlreadyApplied,
        Blocked::NotApplied {
            status: Status::PlanReady,
        },
        Blocked::NeedsConfirmation,
        Blocked::WrongConfirmation {
            given: "req_prod_s3-bucket_zzzzzz".into(),
        },
    ];
    let mut out = String::new();
    for b in &blocked {
        let (why, next) = replies::blocked(b, &CommandAction::Apply, id);
        assert!(why.ends_with('.') && next.ends_with('.'), "{why} / {next}");
        out.push_str(&format!("{b:?}\n  why: {why}\n  next: {next}\n"));
    }
    let denial = Denial {
        rule: Access {
            permission: Level::Admin,
            teams: vec!["acme/platform".into()],
            users: vec!["octocat".into()],
        },
        have: None,
    };
    let (why, next) = replies::denied(
        &CommandAction::Destroy {
            confirm: Some(id.into()),
        },
        "prod",
        &denial,
    );
    out.push_str(&format!("denied destroy\n  why: {why}\n  next: {next}\n"));
    out.push_str(&format!(
        "unknown request\n  {}\n",
        replies::unknown_request_reply("alice", id)
    ));
    out.push_str(&format!(
        "sync\n{}\n",
        replies::sync_reply(
            "/tfpilot sync",
            &["destroy run 42: success".into()],
            Status::Destroyed
        )
    ));
    out.push_str(&format!(
        "sync, nothing changed\n{}\n",
        replies::sync_reply("/tfpilot sync", &[], Status::Applied)
    ));
    out.push_str(&format!(
        "unlock, not held\n{}\n",
        replies::unlock_reply("/tfpilot unlock", "prod", None, None)
    ));
    out.push_str(&format!(
        "auto-apply refused\n{}\n",
        replies::auto_apply_blocked("the last plan failed, so there is nothing reviewed to apply.")
    ));
    insta::assert_snapshot!("refusal_texts", out);
}
