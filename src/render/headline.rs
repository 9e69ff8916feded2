//! One headline per derived status, and the next step a person takes from there.

use crate::core::command::{PREFIX, Verb};
use crate::core::request::{Request, WorkflowKind};
use crate::core::status::{FailureCause, Status, is_plan_stale, plan_change};

use super::md::{clip, code};
use super::view::EnvPolicy;

/// The headline for a status: an emoji and a few words, the same in the comment and
/// as the `tfpilot` check run's title.
pub fn headline(status: Status) -> &'static str {
    match status {
        Status::RequestCreated => "📝 Request created",
        Status::Planning => "⏳ Planning",
        Status::PlanReady => "📋 Plan ready for review",
        Status::Approved => "👍 Approved, ready to merge",
        Status::Merged => "🔀 Merged, ready to apply",
        Status::Queued => "🚦 Queued for the environment lock",
        Status::Applying => "🚀 Applying",
        Status::Applied => "✅ Applied",
        Status::Destroying => "🔥 Destroying",
        Status::Destroyed => "🪦 Destroyed",
        Status::Failed(FailureCause::PlanFailed) => "❌ Plan failed",
        Status::Failed(FailureCause::ApplyFailed) => "❌ Apply failed",
        Status::Failed(FailureCause::PlanChanged) => {
            "⚠️ Apply refused: the plan changed since review"
        }
        Status::Failed(FailureCause::DestroyFailed) => "❌ Destroy failed",
        Status::Failed(FailureCause::DestroyStale) => {
            "⚠️ Destroy stale: no result after 15 minutes"
        }
    }
}

/// A command as the person types it, in a code span: `` `/tfpilot apply` ``.
/// Spelled from the parser's own verbs, so the text never names a command that
/// the parser would refuse.
pub fn command(verb: Verb) -> String {
    code(&format!("{PREFIX} {verb}"))
}

/// The command that starts a destroy: protected environments want the request id
/// typed out as a confirmation.
fn destroy_command(request: &Request, policy: &EnvPolicy) -> String {
    if policy.protected {
        // Valid ids are at most 64 characters; the clip only bounds a broken document.
        code(&format!(
            "{PREFIX} {} {}",
            Verb::Destroy,
            clip(&request.id, 100)
        ))
    } else {
        command(Verb::Destroy)
    }
}

/// How many more approvals are needed, when the policy says how many count.
fn approvals_missing(request: &Request, policy: &EnvPolicy) -> Option<usize> {
    let required = policy.required_approvals?;
    let have = request.approval.as_ref().map_or(0, |a| a.approvers.len());
    Some(required.saturating_sub(have))
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The next step as Markdown: the exact command to comment or the button to press.
pub fn next_step(status: Status, request: &Request, policy: &EnvPolicy) -> String {
    let plan_cmd = command(Verb::Plan);
    let apply_cmd = command(Verb::Apply);
    let sync_cmd = command(Verb::Sync);
    let pr = request.pr();
    match status {
        Status::RequestCreated => match pr {
            Some(p) if !p.open && !p.merged => format!(
                "The pull request #{} was closed without merging. Reopen it to continue, \
                 or close the request issue if the request is no longer needed.",
                p.number
            ),
            _ => "Nothing to do yet: tfpilot is opening the pull request and will plan it."
                .to_string(),
        },
        Status::Planning => {
            if request
                .run(WorkflowKind::Plan)
                .is_some_and(|r| r.is_active())
            {
                "Wait for the plan run to finish; this comment updates by itself.".to_string()
            } else {
                format!("Comment {plan_cmd} to plan this pull request.")
            }
        }
        Status::PlanReady => {
            if is_plan_stale(request) {
                format!(
                    "New commits arrived after this plan: wait for the new plan, or comment \
                     {plan_cmd} to start it."
                )
            } else {
                let who = match approvals_missing(request, policy) {
                    Some(n) if n > 0 => format!(" ({} needed)", plural(n, "approval", "approvals")),
                    _ => String::new(),
                };
                format!(
                    "Approve the PR in GitHub's review UI{who}, then merge. \
                     The requester's own approval does not count."
                )
            }
        }
        Status::Approved => {
            if policy.auto_apply {
                "Merge the PR; tfpilot applies it right after the merge.".to_string()
            } else {
                format!("Merge the PR, then comment {apply_cmd}.")
            }
        }
        Status::Merged => {
            let plan_ok = request
                .run(WorkflowKind::Plan)
                .is_some_and(|r| r.succeeded())
                && !is_plan_stale(request);
            if !plan_ok {
                format!(
                    "The PR merged without a successful plan of its last commit, so nothing \
                     can be applied. Comment {sync_cmd} if such a plan did run, or open a new \
                     request."
                )
            } else if policy.auto_apply {
                format!(
                    "Nothing to do: the apply starts by itself. If it does not, comment {apply_cmd}."
                )
            } else {
                format!("Comment {apply_cmd} or press \"Apply\" on the `tfpilot` check.")
            }
        }
        Status::Queued => {
            let what = request
                .queued()
                .map_or(WorkflowKind::Apply, |q| q.kind)
                .as_str();
            format!(
                "Nothing to do: the {what} waits for the environment lock and starts by itself \
                 when the request ahead of it finishes. {} releases a stuck lock.",
                command(Verb::Unlock)
            )
        }
        Status::Applying => {
            "Wait for the apply run to finish; this comment updates by itself.".to_string()
        }
        Status::Applied => format!(
            "Comment {} when the resources are no longer needed.",
            destroy_command(request, policy)
        ),
        Status::Destroying => {
            "Wait for the destroy run to finish; this comment updates by itself.".to_string()
        }
        Status::Destroyed => match request.github.as_ref().and_then(|g| g.cleanup_pr.as_ref()) {
            Some(c) if c.open && !c.merged => format!(
                "Merge the cleanup pull request #{} to remove the request's file.",
                c.number
            ),
            _ => "Nothing left to do: the resources are gone.".to_string(),
        },
        Status::Failed(FailureCause::PlanFailed) => {
            let branch = request
                .branch_name
                .clone()
                .unwrap_or_else(|| format!("request/{}", request.id));
            format!(
                "Read the plan run's log (linked below), push a fix to {}, or comment \
                 {plan_cmd} to try again.",
                code(&clip(&branch, 200))
            )
        }
        Status::Failed(FailureCause::ApplyFailed) => format!(
            "Read the apply run's log (linked below), then comment {apply_cmd} to try again."
        ),
        Status::Failed(FailureCause::PlanChanged) => {
            if plan_change(request).is_some_and(|f| f.summary.is_none()) {
                "The plan at apply time could not be read, so it cannot be reviewed or applied: \
                 read the apply run's log (linked below) and open a new request to plan the \
                 change again."
                    .to_string()
            } else {
                format!(
                    "Compare the reviewed plan with the plan at apply time below. To apply the \
                     plan at apply time, exactly as shown here, comment {apply_cmd}; to apply \
                     nothing, leave it and open a new request for what is wanted."
                )
            }
        }
        Status::Failed(FailureCause::DestroyFailed) => format!(
            "Read the destroy run's log (linked below), then comment {} to try again.",
            destroy_command(request, policy)
        ),
        Status::Failed(FailureCause::DestroyStale) => format!(
            "Comment {sync_cmd} (or press \"Sync\" on the `tfpilot` check) to fetch the real \
             outcome of the destroy."
        ),
    }
}

/// A one-line reason a status is what it is, shown under the headline when useful.
pub fn reason(status: Status, request: &Request) -> Option<String> {
    match status {
        Status::Failed(FailureCause::DestroyStale) => request.destroy_triggered_at().map(|t| {
            format!(
                "The destroy was dispatched at {} and GitHub has not reported a result since.",
                t.format("%Y-%m-%d %H:%M UTC")
            )
        }),
        Status::Failed(FailureCause::PlanChanged) => Some(
            "The apply run planned again at the merge commit and got another plan than the one \
             reviewed on this pull request (another change reached the default branch, or the \
             infrastructure changed), so it applied nothing."
                .to_string(),
        ),
        _ => None,
    }
}
