//! The lifecycle gates: may a request be planned, applied or destroyed now? Evaluated
//! on the stored facts alone (with [`derive_status`]), so a comment, a check-run button
//! and auto-apply all get the same answer.

use chrono::{DateTime, Utc};

use crate::core::patch::approval_count;
use crate::core::request::{Request, WorkflowKind};
use crate::core::status::{FailureCause, Status, derive_status};

/// The environment's rules the gates need (from `.github/tfpilot.yml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateRule {
    /// Approvals needed before apply.
    pub required_approvals: usize,
    /// Approvals for an older head commit don't count.
    pub dismiss_stale: bool,
    /// Destroy needs the request id typed as confirmation.
    pub protected: bool,
}

impl Default for GateRule {
    /// The config's defaults: one approval, stale approvals dismissed, not protected.
    fn default() -> Self {
        GateRule {
            required_approvals: 1,
            dismiss_stale: true,
            protected: false,
        }
    }
}

/// Why a gate is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The request was destroyed.
    Destroyed,
    /// A destroy is running.
    Destroying,
    /// The last destroy has had no result for too long.
    DestroyStale,
    /// The request has no pull request.
    NoPr,
    /// The PR is closed without merge.
    PrClosed,
    /// Plans run on open PRs; this one is merged.
    AlreadyMerged,
    /// A plan is running.
    PlanRunning,
    /// Apply needs the PR merged first.
    NotMerged,
    /// The merge commit is not known yet.
    MergeShaUnknown,
    /// No plan ran.
    NoPlan,
    /// The plan failed.
    PlanFailed,
    /// The plan ran on another commit than the PR's head.
    PlanStale {
        /// The commit planned, if known.
        planned: Option<String>,
        /// The PR's head.
        head: String,
    },
    /// Not enough approvals count.
    NotEnoughApprovals {
        /// Approvals that count.
        have: usize,
        /// Approvals needed.
        need: usize,
    },
    /// The plan changed since review and the plan at apply time is not on the PR yet.
    PlanChangeNotShown,
    /// The plan changed since review, but the plan at apply time could not be read.
    PlanChangeUnreadable {
        /// Why it could not be read.
        reason: String,
    },
    /// Waiting for the environment lock already.
    AlreadyQueued,
    /// An apply is running.
    Applying,
    /// Applied already.
    AlreadyApplied,
    /// Destroy needs an applied (or failed apply) request.
    NotApplied {
        /// The status now.
        status: Status,
    },
    /// A protected environment needs `/tfpilot destroy <request-id>`.
    NeedsConfirmation,
    /// The id typed does not match the request.
    WrongConfirmation {
        /// What was typed.
        given: String,
    },
}

/// The facts checked before a plan.
pub fn plan_gate(req: &Request, now: DateTime<Utc>) -> Result<(), Blocked> {
    destroy_states(derive_status(req, now))?;
    let pr = req.pr().ok_or(Blocked::NoPr)?;
    if pr.merged {
        return Err(Blocked::AlreadyMerged);
    }
    if !pr.open {
        return Err(Blocked::PrClosed);
    }
    if req.run(WorkflowKind::Plan).is_some_and(|r| r.is_active()) {
        return Err(Blocked::PlanRunning);
    }
    Ok(())
}

/// What an open apply gate hands over: the commit to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyGo {
    /// The merge commit (`mergedSha`).
    pub commit_sha: String,
}

/// The facts checked before an apply: merged, a successful plan of the PR's final head,
/// enough approvals for that head, nothing running or queued.
pub fn apply_gate(req: &Request, now: DateTime<Utc>, rule: &GateRule) -> Result<ApplyGo, Blocked> {
    let status = derive_status(req, now);
    destroy_states(status)?;
    match status {
        Status::Queued => return Err(Blocked::AlreadyQueued),
        Status::Applying => return Err(Blocked::Applying),
        Status::Applied => return Err(Blocked::AlreadyApplied),
        _ => {}
    }
    let pr = req.pr().ok_or(Blocked::NoPr)?;
    if !pr.merged {
        return Err(if pr.open {
            Blocked::NotMerged
        } else {
            Blocked::PrClosed
        });
    }
    let commit_sha = req.merged_sha.clone().ok_or(Blocked::MergeShaUnknown)?;
    let plan = req.run(WorkflowKind::Plan).ok_or(Blocked::NoPlan)?;
    if plan.is_active() {
        return Err(Blocked::PlanRunning);
    }
    if !plan.succeeded() {
        return Err(Blocked::PlanFailed);
    }
    let head = pr.head_sha.clone().ok_or(Blocked::NoPr)?;
    if plan.head_sha.as_deref() != Some(head.as_str()) {
        return Err(Blocked::PlanStale {
            planned: plan.head_sha.clone(),
            head,
        });
    }
    let have = approval_count(req, &head, rule.dismiss_stale);
    if have < rule.required_approvals {
        return Err(Blocked::NotEnoughApprovals {
            have,
            need: rule.required_approvals,
        });
    }
    apply_fingerprint(req)?;
    Ok(ApplyGo { commit_sha })
}

/// The facts checked before a destroy: applied (or the apply failed, which may have
/// created something), nothing running or queued, and on a protected environment the
/// request id typed as confirmation. A typed id must match anywhere.
pub fn destroy_gate(
    req: &Request,
    now: DateTime<Utc>,
    rule: &GateRule,
    confirmation: Option<&str>,
) -> Result<(), Blocked> {
    let status = derive_status(req, now);
    match status {
        Status::Destroyed => return Err(Blocked::Destroyed),
        Status::Destroying => return Err(Blocked::Destroying),
        Status::Failed(FailureCause::DestroyStale) => return Err(Blocked::DestroyStale),
        Status::Queued => return Err(Blocked::AlreadyQueued),
        Status::Applying => return Err(Blocked::Applying),
        _ => {}
    }
    let apply = req.run(WorkflowKind::Apply);
    let applied_or_failed = apply.is_some_and(|r| r.succeeded() || r.failed());
    if !applied_or_failed {
        return Err(Blocked::NotApplied { status });
    }
    match confirmation {
        Some(given) if given != req.id => Err(Blocked::WrongConfirmation {
            given: given.to_string(),
        }),
        None if rule.protected => Err(Blocked::NeedsConfirmation),
        _ => Ok(()),
    }
}

fn destroy_states(status: Status) -> Result<(), Blocked> {
    match status {
        Status::Destroyed => Err(Blocked::Destroyed),
        Status::Destroying => Err(Blocked::Destroying),
        Status::Failed(FailureCause::DestroyStale) => Err(Blocked::DestroyStale),
        Status::Failed(FailureCause::DestroyFailed) => Err(Blocked::Destroying),
        _ => Ok(()),
    }
}

/// The fingerprint of the current plan, when the plan artifact was read
/// (`planSummary.fingerprint` for the tracked plan run).
///
/// Read through the JSON form so it works whether the field is modelled or kept as
/// an unknown field.
pub fn planned_fingerprint(req: &Request) -> Option<String> {
    let plan_run = req.run(WorkflowKind::Plan)?.run_id?;
    let doc = serde_json::to_value(req).ok()?;
    let summary = doc.get("planSummary")?;
    if summary.get("runId").and_then(|v| v.as_u64()) != Some(plan_run) {
        return None;
    }
    summary
        .get("fingerprint")
        .and_then(|v| v.as_str())
        .map(str::to_string)
}

/// The fingerprint the next apply expects: the newest plan shown on the PR.
///
/// That is the reviewed plan's ([`planned_fingerprint`]) unless a failed apply found
/// another plan at apply time (`applyPlan`): then that plan's, once a sticky comment
/// showed it (`shownAt`), so `/tfpilot apply` never applies a plan nobody saw. A plan
/// change that was not shown yet, or whose plan could not be read, blocks the apply.
/// `Ok(None)` when no fingerprint is known (the plan artifact was never read).
pub fn apply_fingerprint(req: &Request) -> Result<Option<String>, Blocked> {
    let reviewed = planned_fingerprint(req);
    let Some(fact) = req.apply_plan.as_ref() else {
        return Ok(reviewed);
    };
    let actual = fact.fingerprint.as_ref().map(|f| f.as_str());
    if actual.is_some() && actual == reviewed.as_deref() {
        return Ok(reviewed);
    }
    match (actual, &fact.summary) {
        (Some(actual), Some(_)) => {
            if fact.shown_at.is_some() {
                Ok(Some(actual.to_string()))
            } else {
                Err(Blocked::PlanChangeNotShown)
            }
        }
        // Nothing readable: a failure before planning says nothing about the plan.
        _ if !fact.plan_changed() => Ok(reviewed),
        _ => Err(Blocked::PlanChangeUnreadable {
            reason: fact
                .unreadable
                .clone()
                .unwrap_or_else(|| "the apply artifact holds no readable plan".to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::RequestId;
    use crate::core::request::{Approval, PrFacts, ReviewFact, ReviewState, RunFacts, RunStatus};
    use chrono::TimeZone;

    const HEAD: &str = "1111111111111111111111111111111111111111";
    const OLD: &str = "2222222222222222222222222222222222222222";
    const MERGE: &str = "3333333333333333333333333333333333333333";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn done(conclusion: &str, sha: &str) -> RunFacts {
        RunFacts {
            run_id: Some(1),
            status: Some(RunStatus::Completed),
            conclusion: Some(conclusion.into()),
            head_sha: Some(sha.into()),
            ..RunFacts::default()
        }
    }

    fn merged_request() -> Request {
        let mut r = Request::new(&RequestId::parse("req_dev_s3_tgqpp8").unwrap());
        r.requester = Some("alice".into());
        let mut pr = PrFacts::new(4);
        pr.merged = true;
        pr.head_sha = Some(HEAD.into());
        r.github_mut().pr = Some(pr);
        r.merged_sha = Some(MERGE.into());
        r.github_mut().workflows.plan = Some(done("success", HEAD));
        r.approval = Some(Approval {
            reviews: vec![ReviewFact {
                login: "bob".into(),
                state: ReviewState::Approved,
                commit_id: Some(HEAD.into()),
                submitted_at: None,
                extra: Default::default(),
            }],
            ..Approval::default()
        });
        r
    }

    #[test]
    fn a_merged_planned_approved_request_may_apply_its_merge_commit() {
        let go = apply_gate(&merged_request(), now(), &GateRule::default()).unwrap();
        assert_eq!(go.commit_sha, MERGE);
    }

    #[test]
    fn apply_refuses_a_stale_plan_a_failed_plan_and_missing_approvals() {
        let rule = GateRule::default();
        let mut stale = merged_request();
        stale.github_mut().workflows.plan = Some(done("success", OLD));
        assert!(matches!(
            apply_gate(&stale, now(), &rule),
            Err(Blocked::PlanStale { .. })
        ));
        let mut failed = merged_request();
        failed.github_mut().workflows.plan = Some(done("failure", HEAD));
        assert_eq!(apply_gate(&failed, now(), &rule), Err(Blocked::PlanFailed));
        let two = GateRule {
            required_approvals: 2,
            ..rule
        };
        assert_eq!(
            apply_gate(&merged_request(), now(), &two),
            Err(Blocked::NotEnoughApprovals { have: 1, need: 2 })
        );
        let mut open = merged_request();
        if let Some(pr) = open.github_mut().pr.as_mut() {
            pr.merged = false;
            pr.open = true;
        }
        assert_eq!(apply_gate(&open, now(), &rule), Err(Blocked::NotMerged));
    }

    #[test]
    fn destroy_needs_an_apply_and_on_protected_envs_the_id() {
        let rule = GateRule {
            protected: true,
            ..GateRule::default()
        };
        let mut r = merged_request();
        assert!(matches!(
            destroy_gate(&r, now(), &rule, None),
            Err(Blocked::NotApplied { .. })
        ));
        r.github_mut().workflows.apply = Some(done("success", MERGE));
        assert_eq!(
            destroy_gate(&r, now(), &rule, None),
            Err(Blocked::NeedsConfirmation)
        );
        assert_eq!(
            destroy_gate(&r, now(), &rule, Some("req_dev_s3_xxxxxx")),
            Err(Blocked::WrongConfirmation {
                given: "req_dev_s3_xxxxxx".into()
            })
        );
        assert_eq!(
            destroy_gate(&r, now(), &rule, Some("req_dev_s3_tgqpp8")),
            Ok(())
        );
    }

    #[test]
    fn nothing_is_planned_once_destroyed() {
        let mut r = merged_request();
        r.github_mut().workflows.destroy = Some(done("success", MERGE));
        assert_eq!(plan_gate(&r, now()), Err(Blocked::Destroyed));
    }

    const FP_REVIEWED: &str =
        "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const FP_NEW: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn fp(s: &str) -> crate::core::fingerprint::Fingerprint {
        crate::core::fingerprint::Fingerprint::parse(s).unwrap()
    }

    /// Merged, reviewed with [`FP_REVIEWED`]; apply run 5 refused on [`FP_NEW`].
    fn refused_on_a_changed_plan() -> Request {
        let mut r = merged_request();
        r.plan_summary = Some(crate::core::request::PlanSummaryFacts {
            run_id: 1,
            run_attempt: None,
            head_sha: Some(HEAD.into()),
            read_at: None,
            summary: None,
            omitted_changes: 0,
            fingerprint: Some(fp(FP_REVIEWED)),
            cost: None,
            unreadable: None,
            extra: Default::default(),
        });
        let mut apply = done("failure", MERGE);
        apply.run_id = Some(5);
        r.github_mut().workflows.apply = Some(apply);
        let plan =
            crate::core::plan::Plan::from_json(r#"{"format_version":"1.2","resource_changes":[]}"#)
                .unwrap();
        r.apply_plan = Some(crate::core::request::ApplyPlanFacts {
            run_id: 5,
            run_attempt: None,
            read_at: None,
            expected: Some(FP_REVIEWED.into()),
            fingerprint: Some(fp(FP_NEW)),
            matched: Some(false),
            summary: Some(plan.summary()),
            omitted_changes: 0,
            unreadable: None,
            shown_at: None,
            extra: Default::default(),
        });
        r
    }

    #[test]
    fn the_reviewed_fingerprint_is_expected_until_a_changed_plan_was_shown() {
        let rule = GateRule::default();
        let mut r = merged_request();
        r.plan_summary = refused_on_a_changed_plan().plan_summary;
        assert_eq!(apply_fingerprint(&r), Ok(Some(FP_REVIEWED.to_string())));

        let mut r = refused_on_a_changed_plan();
        assert_eq!(
            derive_status(&r, now()),
            Status::Failed(FailureCause::PlanChanged)
        );
        // Nobody saw the new plan yet: no apply, not even of the reviewed one.
        assert_eq!(apply_fingerprint(&r), Err(Blocked::PlanChangeNotShown));
        assert_eq!(
            apply_gate(&r, now(), &rule),
            Err(Blocked::PlanChangeNotShown)
        );
        // Shown on the PR: the next apply expects exactly that plan.
        if let Some(f) = r.apply_plan.as_mut() {
            f.shown_at = Some(now());
        }
        assert_eq!(apply_fingerprint(&r), Ok(Some(FP_NEW.to_string())));
        assert!(apply_gate(&r, now(), &rule).is_ok());
        // Approvals are still the environment's rule.
        let two = GateRule {
            required_approvals: 2,
            ..rule
        };
        assert_eq!(
            apply_gate(&r, now(), &two),
            Err(Blocked::NotEnoughApprovals { have: 1, need: 2 })
        );
    }

    #[test]
    fn a_changed_plan_that_could_not_be_read_is_never_applied() {
        let mut r = refused_on_a_changed_plan();
        if let Some(f) = r.apply_plan.as_mut() {
            f.summary = None;
            f.unreadable = Some("the plan artifact has expired".into());
            f.shown_at = Some(now());
        }
        assert_eq!(
            apply_fingerprint(&r),
            Err(Blocked::PlanChangeUnreadable {
                reason: "the plan artifact has expired".into()
            })
        );
        // An apply that failed before planning says nothing about the plan.
        if let Some(f) = r.apply_plan.as_mut() {
            f.matched = None;
            f.fingerprint = None;
        }
        assert_eq!(apply_fingerprint(&r), Ok(Some(FP_REVIEWED.to_string())));
    }
}
