//! Every text tfpilot answers a command with, from plain functions (snapshotted in
//! `tests/commands_replies.rs`). A refusal quotes the command, says why, and says
//! what would work.

use crate::core::command::{Command, CommandAction, Problem, help_text};
use crate::core::gates::Blocked;
use crate::core::policy::{Denial, describe_rule, permission_name};
use crate::core::request::{Request, WorkflowKind};
use crate::core::status::{FailureCause, Status};
use crate::store::LockDoc;

/// The command as typed (normalized): `/tfpilot destroy req_…`.
pub fn command_text(command: &CommandAction) -> String {
    let mut text = format!("/tfpilot {}", command.verb());
    for arg in command.args() {
        text.push(' ');
        text.push_str(arg);
    }
    text
}

/// A quoted command line.
fn quote(command: &str) -> String {
    format!("> {command}")
}

/// A refusal: the quoted command, why, and what would work.
pub fn refusal(command: &str, actor: &str, why: &str, what_works: &str) -> String {
    format!(
        "{}\n\n@{actor} tfpilot did not run this: {why}\n\n{what_works}",
        quote(command)
    )
}

/// Why a gate refuses `command`, and what would work instead.
pub fn blocked(b: &Blocked, command: &CommandAction, request_id: &str) -> (String, String) {
    let verb = command.verb();
    let (why, next): (String, String) = match b {
        Blocked::Destroyed => (
            "this request was destroyed.".into(),
            "Open a new request from the issue form to create it again.".into(),
        ),
        Blocked::Destroying => (
            "a destroy of this request is running or failed.".into(),
            "Wait for the destroy to finish; if it failed, fix the cause and type `/tfpilot destroy` again.".into(),
        ),
        Blocked::DestroyStale => (
            "the last destroy has reported nothing for more than 15 minutes.".into(),
            "Type `/tfpilot sync` to fetch its real result from GitHub.".into(),
        ),
        Blocked::NoPr => (
            "tfpilot knows no pull request for this request.".into(),
            "Type `/tfpilot sync` to re-read it from GitHub.".into(),
        ),
        Blocked::PrClosed => (
            "the pull request is closed without being merged.".into(),
            "Reopen it to plan again.".into(),
        ),
        Blocked::AlreadyMerged => (
            "the pull request is merged; plans run on open pull requests.".into(),
            "Type `/tfpilot apply` to apply the merged plan.".into(),
        ),
        Blocked::PlanRunning => (
            "a plan is still running.".into(),
            format!("Wait for it to finish, then type `/tfpilot {verb}` again."),
        ),
        Blocked::NotMerged => (
            "the pull request is not merged yet; apply runs the merged change only.".into(),
            "Get the required approvals, merge the pull request, then type `/tfpilot apply`.".into(),
        ),
        Blocked::MergeShaUnknown => (
            "the merge commit is not known yet.".into(),
            "Type `/tfpilot sync`, then `/tfpilot apply`.".into(),
        ),
        Blocked::NoPlan => (
            "no plan ran for this request.".into(),
            "Push a commit or type `/tfpilot plan` on the open pull request first.".into(),
        ),
        Blocked::PlanFailed => (
            "the last plan failed, so there is nothing reviewed to apply.".into(),
            "Fix the request (the plan run's log says why), push, and apply once a plan succeeds.".into(),
        ),
        Blocked::PlanStale { planned, head } => (
            format!(
                "the last successful plan ran on {} but the pull request's head is `{}`.",
                planned
                    .as_deref()
                    .map_or("an unknown commit".to_string(), |p| format!("`{}`", short(p))),
                short(head)
            ),
            "A plan of the final head is needed: type `/tfpilot plan` (on an open pull request) or `/tfpilot sync` if that plan already ran.".into(),
        ),
        Blocked::NotEnoughApprovals { have, need } => (
            format!(
                "this environment needs {need} approval{} of the pull request's final head; {have} count{} (the requester's own and approvals of older commits don't).",
                plural(*need),
                if *have == 1 { "s" } else { "" }
            ),
            "Ask a reviewer to approve the pull request, then type `/tfpilot apply` again.".into(),
        ),
        Blocked::PlanChangeNotShown => (
            "the plan changed since review, and the plan made at apply time is not shown on the pull request yet; tfpilot applies only a plan people could see.".into(),
            "Wait for tfpilot's status comment to show both plans (or type `/tfpilot sync`), read them, then type `/tfpilot apply` again.".into(),
        ),
        Blocked::PlanChangeUnreadable { reason } => (
            format!(
                "the plan changed since review, and the plan made at apply time could not be read ({}), so nobody could review it.",
                reason.trim_end_matches('.')
            ),
            "See the apply run's log. Open a new request to plan and review the change again.".into(),
        ),
        Blocked::AlreadyQueued => (
            "this request already waits for the environment lock.".into(),
            "It starts by itself when the environment is free; `/tfpilot status` shows its place.".into(),
        ),
        Blocked::Applying => (
            "an apply of this request is running.".into(),
            "Wait for it to finish.".into(),
        ),
        Blocked::AlreadyApplied => (
            "this request is applied already.".into(),
            "To change it, open a new request; to remove it, type `/tfpilot destroy`.".into(),
        ),
        Blocked::NotApplied { status } => (
            format!(
                "only an applied request (or one whose apply failed) can be destroyed; this one is `{}`.",
                status.as_str()
            ),
            "Close the pull request instead if nothing was applied.".into(),
        ),
        Blocked::NeedsConfirmation => (
            "this environment is protected: destroy needs the request id as confirmation.".into(),
            format!("Type `/tfpilot destroy {request_id}`."),
        ),
        Blocked::WrongConfirmation { given } => (
            format!("`{given}` is not this request's id."),
            format!("Type `/tfpilot destroy {request_id}`."),
        ),
    };
    (why, next)
}

/// Why the person may not run `command` in `environment`, and who may.
pub fn denied(command: &CommandAction, environment: &str, denial: &Denial) -> (String, String) {
    let have = match denial.have {
        Some(p) => format!("`{}` permission", permission_name(p)),
        None => "no permission".to_string(),
    };
    (
        format!(
            "`/tfpilot {}` in `{environment}` needs {}; you have {have}.",
            command.verb(),
            describe_rule(&denial.rule)
        ),
        format!(
            "Ask someone who meets that rule to type it, or change `{}` in `.github/tfpilot.yml` on the default branch.",
            rule_key(command, environment)
        ),
    )
}

fn rule_key(command: &CommandAction, environment: &str) -> String {
    let action = match command {
        CommandAction::Plan | CommandAction::Sync => "plan",
        CommandAction::Destroy { .. } => "destroy",
        _ => "apply",
    };
    format!("environments.{environment}.{action}")
}

/// The reply on a PR whose head branch lives in a fork.
pub fn fork_reply(command: &str, actor: &str) -> String {
    refusal(
        command,
        actor,
        "this pull request comes from a fork, and fork pull requests never run tfpilot workflows.",
        "tfpilot requests are opened from the issue form; their pull requests live in this repository.",
    )
}

/// The reply when `/tfpilot` is addressed on a thread that is not a request PR.
pub fn not_a_request_reply(actor: &str) -> String {
    format!(
        "@{actor} this is not a tfpilot request pull request, so there is nothing to run here. \
         Open a request from the issue form; its pull request takes these commands.\n\n{}",
        help_text()
    )
}

/// The reply to a command on a request's issue: commands run on its PR.
pub fn use_the_pr_reply(actor: &str, pr: u64) -> String {
    format!(
        "@{actor} tfpilot commands run on the request's pull request: comment on #{pr} instead."
    )
}

/// The reply when the request was archived (destroyed and cleaned up) or is unknown.
pub fn unknown_request_reply(actor: &str, request_id: &str) -> String {
    format!(
        "@{actor} request `{request_id}` is not active any more (it was destroyed and archived, or never stored)."
    )
}

/// The reply to a comment with malformed `/tfpilot` lines: nothing runs.
pub fn malformed_reply(actor: &str, problems: &[Problem], valid: &[Command]) -> String {
    let mut out = String::new();
    for p in problems {
        out.push_str(&quote(&p.text));
        out.push('\n');
    }
    out.push_str(&format!(
        "\n@{actor} tfpilot did not run anything in this comment:\n\n"
    ));
    for p in problems {
        out.push_str(&format!("- line {}: {}\n", p.line, p.message()));
    }
    if !valid.is_empty() {
        out.push_str(
            "\nThe other commands in the comment were not run either, so nothing runs half-way: fix the line and comment again.\n",
        );
    }
    out
}

/// The reply when an apply or destroy waits for the environment lock.
pub fn queued_reply(
    command: &str,
    kind: WorkflowKind,
    environment: &str,
    position: usize,
    holder: &str,
) -> String {
    format!(
        "{}\n\nQueued: `{environment}` is busy with `{holder}`. This {kind} is number {position} in line and starts by itself when the environment is free.",
        quote(command)
    )
}

/// The reply to `/tfpilot status`.
pub fn status_reply(request: &Request, status: Status, lock: Option<&LockDoc>) -> String {
    let mut out = format!("Request `{}` is **{}**.", request.id, status.as_str());
    let line = match status {
        Status::Failed(FailureCause::DestroyStale) => {
            " The destroy has reported nothing for more than 15 minutes: type `/tfpilot sync` to fetch its real result."
        }
        Status::Failed(FailureCause::DestroyFailed) => {
            " The destroy failed; see its run, then type `/tfpilot destroy` to try again."
        }
        Status::Failed(FailureCause::ApplyFailed) => {
            " The apply failed; see its run, then type `/tfpilot apply` to retry."
        }
        Status::Failed(FailureCause::PlanChanged) => {
            " The apply refused: the plan changed since review. The status comment shows both plans; `/tfpilot apply` applies the plan shown there as the plan at apply time."
        }
        Status::Failed(FailureCause::PlanFailed) => {
            " The plan failed; see its run, fix the request and push."
        }
        Status::Planning => " A plan is running or about to.",
        Status::PlanReady => " Next: get approvals, then merge.",
        Status::Approved => " Next: merge the pull request.",
        Status::Merged => " Next: `/tfpilot apply`.",
        Status::Queued => " It waits for the environment lock.",
        Status::Applying => " The apply is running.",
        Status::Applied => " Applied. `/tfpilot destroy` removes it.",
        Status::Destroying => " The destroy is running.",
        Status::Destroyed => " Destroyed.",
        Status::RequestCreated => " Next: the pull request's plan.",
    };
    out.push_str(line);
    if let (Some(lock), Some(env)) = (lock, request.environment.as_deref()) {
        if let Some(pos) = lock.position(&request.id) {
            out.push_str(&format!(" Place in the `{env}` queue: {pos}."));
        }
        if let Some(h) = &lock.holder
            && h.request_id != request.id
        {
            out.push_str(&format!(
                " `{env}` is held by `{}` ({}).",
                h.request_id, h.kind
            ));
        }
    }
    out
}

/// The reply to `/tfpilot unlock`.
pub fn unlock_reply(
    command: &str,
    environment: &str,
    released: Option<&str>,
    next: Option<&str>,
) -> String {
    let mut out = quote(command);
    out.push_str("\n\n");
    match released {
        Some(holder) => out.push_str(&format!(
            "Released the `{environment}` lock held by `{holder}`."
        )),
        None => out.push_str(&format!("The `{environment}` lock was not held.")),
    }
    if let Some(next) = next {
        out.push_str(&format!(" Next in line: `{next}`, started now."));
    }
    out
}

/// The reply to `/tfpilot sync`: what changed.
pub fn sync_reply(command: &str, changes: &[String], status: Status) -> String {
    let mut out = quote(command);
    out.push_str("\n\n");
    if changes.is_empty() {
        out.push_str("Synced with GitHub: nothing had changed.\n");
    } else {
        out.push_str("Synced with GitHub:\n\n");
        for c in changes {
            out.push_str(&format!("- {c}\n"));
        }
    }
    out.push_str(&format!("\nStatus: **{}**.", status.as_str()));
    out
}

/// The PR comment when a merge did not start the environment's auto-apply.
pub fn auto_apply_blocked(why: &str) -> String {
    format!(
        "This environment applies on merge, but tfpilot did not start the apply: {why}\n\nFix that, then type `/tfpilot apply`."
    )
}

fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
