//! Apply exactly the plan people reviewed: through tfpilot's real router and the
//! simulator, a shared module changes on the default branch after the plan was
//! reviewed and before the PR merged, so the merge commit the apply checks out plans
//! differently,
//! the apply refuses ("the plan changed since review"), the PR comment shows both
//! plans, and the next `/tfpilot apply` applies the newly shown plan, never one
//! nobody saw. The fingerprint each apply was dispatched with is asserted.

use tfpilot::core::contract::{self, inputs};
use tfpilot::core::request::Request;
use tfpilot::core::status::{FailureCause, Status, derive_status};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO, script_module_workflows};
use tfpilot::sim::{CallFault, DeliveryFault, FaultResponse, Permission};

const CONFIG: &str = "environments:
  dev:
    required_approvals: 1
";

const REQUESTER: &str = "alice";
const REVIEWER: &str = "rita";
const MAINTAINER: &str = "maya";
const WRITER: &str = "wes";

const MODULE_DIR: &str = "modules/s3-bucket/";

/// The shared module after someone added a public access block on `main`.
const MODULE_WITH_ACCESS_BLOCK: &str = r#"resource "aws_s3_bucket" "this" {
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = var.versioning_enabled ? "Enabled" : "Suspended"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}
"#;

async fn start() -> Harness {
    let h = Harness::start(HarnessOptions::default())
        .await
        .expect("harness");
    script_module_workflows(&h.sim, MODULE_DIR);
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

/// The sticky comment's body as it is on the PR.
fn sticky(h: &Harness, pr: u64, id: &str) -> String {
    h.sim
        .comments(INFRA_REPO, pr)
        .into_iter()
        .find(|c| tfpilot::render::sticky_request_id(&c.body) == Some(id))
        .expect("sticky comment")
        .body
}

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

/// The `expected_fingerprint` of every apply dispatched, in order.
fn apply_fingerprints(h: &Harness) -> Vec<String> {
    h.sim
        .dispatches()
        .into_iter()
        .filter(|d| d.workflow == contract::APPLY.file)
        .map(|d| {
            d.inputs
                .get(inputs::EXPECTED_FINGERPRINT)
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn short(fp: &str) -> &str {
    &fp["sha256:".len().."sha256:".len() + 12]
}

/// Plans (reviewed: the sticky shows its fingerprint), approves and merges; returns
/// (PR number, reviewed fingerprint). With `module_moves`, the shared module changes
/// on `main` after the review and before the merge (the base moved under the PR).
async fn reviewed_and_merged(h: &Harness, id: &str, module_moves: bool) -> (u64, String) {
    let pr = open_request(h, id).await;
    say(h, pr, REQUESTER, "/tfpilot plan").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(status(h, id).await, Status::PlanReady);
    let reviewed = stored(h, id)
        .await
        .plan_summary
        .and_then(|p| p.fingerprint)
        .expect("the plan's fingerprint is in the facts")
        .as_str()
        .to_string();
    let body = sticky(h, pr, id);
    assert!(
        body.contains(&format!("fingerprint `{}`", short(&reviewed))),
        "the reviewed plan shows its fingerprint:\n{body}"
    );
    assert!(body.contains("Plan: 2 to add"), "{body}");
    h.sim.approve(INFRA_REPO, pr, REVIEWER).expect("approve");
    h.settle().await.expect("settle");
    if module_moves {
        module_changes_on_main(h).await;
    }
    h.sim.merge_pull(INFRA_REPO, pr, MAINTAINER).expect("merge");
    h.settle().await.expect("settle");
    assert_eq!(status(h, id).await, Status::Merged);
    (pr, reviewed)
}

/// The shared module changes on the default branch (another PR merged meanwhile).
async fn module_changes_on_main(h: &Harness) {
    h.sim
        .push(
            INFRA_REPO,
            "main",
            "mallory",
            &[("modules/s3-bucket/main.tf", Some(MODULE_WITH_ACCESS_BLOCK))],
            "s3-bucket: block public access",
        )
        .expect("module pushed");
    h.settle().await.expect("settle");
}

#[tokio::test]
async fn a_plan_changed_since_review_is_refused_shown_and_then_applied_as_shown() {
    let h = start().await;
    let id = "req_dev_s3-bucket_ab12cd";
    let (pr, reviewed) = reviewed_and_merged(&h, id, true).await;

    // The first apply expects the reviewed plan, and refuses the one it finds; the
    // run's conclusion is delivered twice and read once.
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    let run = h.sim.dispatches().last().expect("apply dispatched").run_id;
    h.sim.advance_run(run).expect("in progress");
    h.settle().await.expect("settle");
    h.sim
        .fault_next_delivery(Some("workflow_run"), DeliveryFault::Duplicate);
    h.sim.advance_run(run).expect("completed");
    h.settle().await.expect("settle");
    assert_eq!(apply_fingerprints(&h), vec![reviewed.clone()]);
    let refusals = stored(&h, id)
        .await
        .timeline
        .iter()
        .filter(|e| e.what.contains("refused: the plan changed since review"))
        .count();
    assert_eq!(refusals, 1);
    assert_eq!(
        h.state.metrics.delivery_count("workflow_run", "duplicate"),
        1,
        "the conclusion was delivered twice and recognized the second time"
    );
    assert_eq!(
        status(&h, id).await,
        Status::Failed(FailureCause::PlanChanged)
    );
    let facts = stored(&h, id)
        .await
        .apply_plan
        .expect("the plan at apply time is stored");
    assert_eq!(facts.matched, Some(false));
    assert_eq!(facts.expected.as_deref(), Some(reviewed.as_str()));
    assert!(facts.shown_at.is_some(), "the comment showing it was sent");
    let new = facts
        .fingerprint
        .expect("its fingerprint")
        .as_str()
        .to_string();
    assert_ne!(new, reviewed);

    // Both plans side by side, and what `/tfpilot apply` will do now.
    let body = sticky(&h, pr, id);
    for part in [
        "Apply refused: the plan changed since review",
        "| | Reviewed plan | Plan at apply time |",
        "| ➕ add | 2 | 3 |",
        &format!(
            "| Fingerprint | `{}` | `{}` |",
            short(&reviewed),
            short(&new)
        ),
        &format!(
            "`module.{}.aws_s3_bucket_public_access_block.this`: `create` only at apply time",
            contract::target_module(id)
        ),
        &format!(
            "`/tfpilot apply` now applies the **plan at apply time** (fingerprint `{}`)",
            short(&new)
        ),
    ] {
        assert!(body.contains(part), "missing {part:?} in:\n{body}");
    }

    // Someone who may not apply is refused, with one reply, and nothing runs.
    let c = say(&h, pr, WRITER, "/tfpilot apply").await;
    let replies = replies_after(&h, pr, c);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(
        replies[0].contains("tfpilot did not run this") && replies[0].contains("maintain"),
        "{}",
        replies[0]
    );
    assert_eq!(apply_fingerprints(&h).len(), 1);

    // The second apply, delivered twice: one dispatch, of the newly shown plan.
    h.sim
        .fault_next_delivery(Some("issue_comment"), DeliveryFault::Duplicate);
    let c = say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    assert_eq!(bot_reactions(&h, pr, c), vec!["rocket"]);
    assert!(replies_after(&h, pr, c).is_empty());
    assert_eq!(apply_fingerprints(&h), vec![reviewed.clone(), new.clone()]);
    h.run_workflows().await.expect("runs");
    assert_eq!(status(&h, id).await, Status::Applied);
    let body = sticky(&h, pr, id);
    assert!(body.contains("### ✅ Applied"), "{body}");
    assert!(
        !body.contains("The plan changed since review"),
        "the section is gone once applied:\n{body}"
    );
    // Applied means nothing more to apply.
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    assert_eq!(apply_fingerprints(&h).len(), 2);
}

#[tokio::test]
async fn a_plan_at_apply_time_is_never_applied_before_the_comment_shows_it() {
    let h = start().await;
    let id = "req_dev_s3-bucket_cd34ef";
    let (pr, reviewed) = reviewed_and_merged(&h, id, true).await;
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    // GitHub refuses every comment edit while the refused apply is read.
    h.sim.fail_calls(CallFault::new(
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        1_000,
        FaultResponse::Status(502),
    ));
    h.run_workflows().await.expect("runs");
    let facts = stored(&h, id).await.apply_plan.expect("stored");
    assert!(facts.plan_changed());
    assert!(facts.shown_at.is_none(), "the comment could not show it");
    assert!(!sticky(&h, pr, id).contains("The plan changed since review"));

    let c = say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    let replies = replies_after(&h, pr, c);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(
        replies[0].contains("not shown on the pull request yet"),
        "{}",
        replies[0]
    );
    assert_eq!(
        apply_fingerprints(&h),
        vec![reviewed.clone()],
        "nothing dispatched"
    );

    // GitHub is back: `/tfpilot sync` brings the comment up to date, then apply works.
    h.sim.clear_call_faults();
    say(&h, pr, MAINTAINER, "/tfpilot sync").await;
    assert!(sticky(&h, pr, id).contains("The plan changed since review"));
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    let new = facts.fingerprint.expect("fingerprint").as_str().to_string();
    assert_eq!(apply_fingerprints(&h), vec![reviewed, new]);
}

#[tokio::test]
async fn the_re_apply_counts_approvals_as_github_has_them_now() {
    let h = start().await;
    let id = "req_dev_s3-bucket_ef56ab";
    let (pr, _) = reviewed_and_merged(&h, id, true).await;
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(
        status(&h, id).await,
        Status::Failed(FailureCause::PlanChanged)
    );

    // The reviewer withdraws the approval; tfpilot never hears of it by webhook.
    h.sim
        .fault_next_delivery(Some("pull_request_review"), DeliveryFault::Drop);
    h.sim
        .request_changes(INFRA_REPO, pr, REVIEWER, "not this plan")
        .expect("review");
    h.settle().await.expect("settle");
    assert!(stored(&h, id).await.is_approved(), "the facts are stale");

    let c = say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    let replies = replies_after(&h, pr, c);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert!(
        replies[0].contains("needs 1 approval") && replies[0].contains("0 count"),
        "{}",
        replies[0]
    );
    assert_eq!(apply_fingerprints(&h).len(), 1, "nothing dispatched");
    assert!(!stored(&h, id).await.is_approved(), "the facts caught up");

    // Approved again: the newly shown plan is applied.
    h.sim.approve(INFRA_REPO, pr, REVIEWER).expect("approve");
    h.settle().await.expect("settle");
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(apply_fingerprints(&h).len(), 2);
    assert_eq!(status(&h, id).await, Status::Applied);
}

#[tokio::test]
async fn an_unchanged_module_applies_the_reviewed_plan_at_once() {
    let h = start().await;
    let id = "req_dev_s3-bucket_a1b2c3";
    let (pr, reviewed) = reviewed_and_merged(&h, id, false).await;
    say(&h, pr, MAINTAINER, "/tfpilot apply").await;
    h.run_workflows().await.expect("runs");
    assert_eq!(apply_fingerprints(&h), vec![reviewed]);
    assert_eq!(status(&h, id).await, Status::Applied);
    assert!(stored(&h, id).await.apply_plan.is_none());
}
