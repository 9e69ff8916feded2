//! The sticky PR comment: status headline, next step, facts, plan, runs, timeline.
//!
//! Deterministic: the same facts render the same bytes, so "unchanged render → call
//! nothing" works. That is why no time relative to `now` ("3 minutes ago") and no
//! document `version` is ever written: either would change the body on every render
//! (writing the render hash itself bumps the version).

use chrono::{DateTime, Utc};

use crate::core::command::Verb;
use crate::core::cost::{Amount, CostEstimate, Direction};
use crate::core::fingerprint::Fingerprint;
use crate::core::plan::PlanSummary;
use crate::core::request::{ApplyPlanFacts, Request, RunFacts, RunStatus, WorkflowKind};
use crate::core::status::{Status, derive_status, is_plan_stale};

use super::headline::{command, headline, next_step, reason};
use super::md::{chars, clip, code, code_cell, link, short_sha, text, thousands};
use super::plan;
use super::plan_change;
use super::view::{EnvPolicy, LockView};
use super::{COMMENT_LIMIT, marker};

/// How many timeline lines the comment shows (newest last).
pub const TIMELINE_SHOWN: usize = 5;

/// Longest timeline text shown per line.
const MAX_TIMELINE_CHARS: usize = 200;

/// Longest value shown in a fact line (environment, module, login...).
const MAX_FACT_CHARS: usize = 100;

/// Approvers named before "and N more".
const MAX_APPROVERS_SHOWN: usize = 10;

/// Everything the sticky comment and the `tfpilot` check run are rendered from.
#[derive(Debug, Clone, Copy)]
pub struct StickyInput<'a> {
    /// The request document.
    pub request: &'a Request,
    /// The moment the status is derived for (the stale-destroy rule needs it).
    pub now: DateTime<Utc>,
    /// The latest plan's summary, when its artifact was read.
    pub plan: Option<&'a PlanSummary>,
    /// The cost estimate, when the plan artifact held one.
    pub cost: Option<&'a CostEstimate>,
    /// The plan's fingerprint (shown in its short form).
    pub fingerprint: Option<&'a Fingerprint>,
    /// The environment lock, when the request waits on it or holds it.
    pub lock: Option<&'a LockView>,
    /// The environment's policy.
    pub policy: EnvPolicy,
    /// The repository's web address (`https://github.com/o/r`), to link runs whose
    /// facts have an id but no URL yet.
    pub repo_url: Option<&'a str>,
}

impl StickyInput<'_> {
    /// The derived status at `now`.
    pub fn status(&self) -> Status {
        derive_status(self.request, self.now)
    }
}

/// The web address of the run tracked for `kind`, when one is known.
pub fn run_url(request: &Request, kind: WorkflowKind, repo_url: Option<&str>) -> Option<String> {
    let run = request.run(kind)?;
    if let Some(url) = &run.url {
        return Some(url.clone());
    }
    let repo = repo_url?.trim_end_matches('/');
    run.run_id.map(|id| format!("{repo}/actions/runs/{id}"))
}

/// The sticky comment body: the hidden marker, then the content, under GitHub's
/// 65,536-character limit.
pub fn sticky_comment(input: &StickyInput<'_>) -> String {
    let mark = format!("{}\n", marker(&input.request.id));
    let content = render_content(input, COMMENT_LIMIT.saturating_sub(chars(&mark)));
    mark + &content
}

/// The content without the marker, in at most `limit` characters. The status,
/// next step and facts are written in full; the plan's address list takes what room
/// is left, and the runs and timeline go before the headline would be cut.
pub fn render_content(input: &StickyInput<'_>, limit: usize) -> String {
    let status = input.status();
    let request = input.request;

    let head = head_section(input, status);
    let plan_head = plan_section_head(input);
    let runs = runs_section(request, input.repo_url);
    let timeline = timeline_section(request);
    let footer = format!(
        "\n<sub>Updated by tfpilot. Commands: comment {}.</sub>\n",
        command(Verb::Help)
    );

    // In page order; when everything does not fit, parts go from the end (footer,
    // timeline, runs, plan) before the head would be cut.
    let mut tail = vec![plan_head, runs, timeline, footer];
    let size = |tail: &[String]| chars(&head) + tail.iter().map(|s| chars(s)).sum::<usize>();
    while size(&tail) > limit && tail.pop().is_some() {}
    let fixed = size(&tail);
    if fixed > limit {
        // Only reachable with a limit far below a comment's; never split a character.
        return clip(&head, limit);
    }
    let plan_url = run_url(request, WorkflowKind::Plan, input.repo_url);
    let details = match shown_plan(input) {
        Some(p) if !tail.is_empty() => plan::addresses(p, limit - fixed, plan_url.as_deref(), true),
        _ => String::new(),
    };
    let mut out = head;
    for (i, part) in tail.iter().enumerate() {
        out.push_str(part);
        if i == 0 {
            out.push_str(&details);
        }
    }
    out
}

/// Headline, reason, next step and facts: never cut.
fn head_section(input: &StickyInput<'_>, status: Status) -> String {
    let request = input.request;
    let mut out = format!("### {}\n\n", headline(status));
    if let Some(r) = reason(status, request) {
        out.push_str(&r);
        out.push_str("\n\n");
    }
    out.push_str(&format!(
        "**Next step:** {}\n\n",
        next_step(status, request, &input.policy)
    ));
    for (label, value) in facts(input, status) {
        out.push_str(&format!("- **{label}:** {value}\n"));
    }
    if let Some(fact) = shown_apply_plan(input) {
        let plan_url = run_url(request, WorkflowKind::Plan, input.repo_url);
        let apply_url =
            if request.run(WorkflowKind::Apply).and_then(|r| r.run_id) == Some(fact.run_id) {
                run_url(request, WorkflowKind::Apply, input.repo_url)
            } else {
                input
                    .repo_url
                    .map(|r| format!("{}/actions/runs/{}", r.trim_end_matches('/'), fact.run_id))
            };
        out.push_str(&plan_change::section(
            fact,
            shown_plan(input),
            input.fingerprint,
            status,
            plan_change::RunLinks {
                plan_run: request.run(WorkflowKind::Plan).and_then(|r| r.run_id),
                plan_url,
                apply_url,
            },
        ));
    }
    out
}

/// The plan at apply time the comment shows beside the reviewed plan, if any (see
/// [`plan_change::shown_apply_plan`]).
pub fn shown_apply_plan<'a>(input: &StickyInput<'a>) -> Option<&'a ApplyPlanFacts> {
    plan_change::shown_apply_plan(input.request, input.fingerprint)
}

/// The fact lines, label and Markdown value.
fn facts(input: &StickyInput<'_>, status: Status) -> Vec<(&'static str, String)> {
    let request = input.request;
    let mut facts = Vec::new();
    let mut req = code(&clip(&request.id, MAX_FACT_CHARS));
    if let Some(n) = request.issue_number {
        req.push_str(&format!(" (issue #{n})"));
    }
    facts.push(("Request", req));
    if let Some(env) = &request.environment {
        let mut v = code(&clip(env, MAX_FACT_CHARS));
        if input.policy.protected {
            v.push_str(" (protected)");
        }
        facts.push(("Environment", v));
    }
    if let Some(m) = &request.module {
        facts.push(("Module", code(&clip(m, MAX_FACT_CHARS))));
    }
    if let Some(who) = &request.requester {
        // A login is written without `@`: an edited comment would notify again.
        facts.push(("Requested by", text(&clip(who, MAX_FACT_CHARS))));
    }
    if let Some(pr) = request.pr() {
        let mut v = format!("#{}", pr.number);
        if let Some(sha) = &pr.head_sha {
            v.push_str(&format!(" at {}", code(&short_sha(sha))));
        }
        if let Some(m) = &request.merged_sha {
            v.push_str(&format!(", merged as {}", code(&short_sha(m))));
        }
        facts.push(("Pull request", v));
    }
    if request.pr().is_some() {
        facts.push(("Approvals", approvals(request, &input.policy)));
    }
    // The estimate belongs to the plan: shown only next to a plan that is shown.
    if let Some(cost) = input.cost.filter(|_| shown_plan(input).is_some()) {
        facts.push(("Monthly cost", cost_line(cost)));
    }
    if let Some(lock) = lock_line(input.lock, request, status) {
        facts.push(("Environment lock", lock));
    }
    if let Some(drift) = drift_line(request, input.repo_url) {
        facts.push(("Drift", drift));
    }
    facts
}

fn approvals(request: &Request, policy: &EnvPolicy) -> String {
    let approvers: &[String] = request
        .approval
        .as_ref()
        .map_or(&[], |a| a.approvers.as_slice());
    let mut out = match policy.required_approvals {
        Some(req) => format!("{} of {req}", approvers.len()),
        None => approvers.len().to_string(),
    };
    if !approvers.is_empty() {
        let named: Vec<String> = approvers
            .iter()
            .take(MAX_APPROVERS_SHOWN)
            .map(|a| text(&clip(a, MAX_FACT_CHARS)))
            .collect();
        out.push_str(&format!(": {}", named.join(", ")));
        if approvers.len() > MAX_APPROVERS_SHOWN {
            out.push_str(&format!(
                " and {} more",
                approvers.len() - MAX_APPROVERS_SHOWN
            ));
        }
    }
    out
}

/// An amount with two decimals and its currency: `$23.40`, `-$5.00`, `23.40 EUR`.
fn money(amount: Amount, currency: &str) -> String {
    let fixed = amount.to_fixed(2);
    if currency == "USD" {
        match fixed.strip_prefix('-') {
            Some(rest) => format!("-${rest}"),
            None => format!("${fixed}"),
        }
    } else {
        format!("{fixed} {}", clip(currency, 10))
    }
}

fn cost_line(cost: &CostEstimate) -> String {
    let cur = cost.currency.as_str();
    let shown = |a: Option<Amount>| a.map_or("unknown".to_string(), |a| money(a, cur));
    let mut out = text(&format!("{} → {}", shown(cost.before), shown(cost.after)));
    if let (Some(delta), Some(direction)) = (cost.delta, cost.direction()) {
        let signed = match direction {
            Direction::Increase => format!("+{}", money(delta, cur)),
            Direction::Decrease => money(delta, cur),
            Direction::Unchanged => "no change".to_string(),
        };
        out.push_str(&format!(" ({})", text(&signed)));
    }
    if cost.has_errors() {
        out.push_str(" (Infracost reported errors; the estimate may be incomplete)");
    }
    out
}

fn lock_line(lock: Option<&LockView>, request: &Request, status: Status) -> Option<String> {
    let lock = lock?;
    let holder = lock.holder.as_deref();
    if holder == Some(request.id.as_str()) {
        return Some("held by this request".to_string());
    }
    if status != Status::Queued {
        return None;
    }
    let mut out = match holder {
        Some(h) => format!("held by {}", code(&clip(h, MAX_FACT_CHARS))),
        None => "free".to_string(),
    };
    match (lock.queue_position, lock.queue_length) {
        (Some(p), Some(n)) => {
            out.push_str(&format!("; this request is number {p} of {n} in the queue"))
        }
        (Some(p), None) => out.push_str(&format!("; this request is number {p} in the queue")),
        _ => {}
    }
    Some(out)
}

fn drift_line(request: &Request, repo_url: Option<&str>) -> Option<String> {
    let drift = request.drift.as_ref().filter(|d| d.drifted)?;
    let mut out = "⚠️ the infrastructure changed outside Terraform".to_string();
    if let Some(n) = drift.changes {
        out.push_str(&format!(
            " ({} {})",
            thousands(n as usize),
            if n == 1 { "resource" } else { "resources" }
        ));
    }
    if let Some(at) = drift.checked_at {
        out.push_str(&format!(", found {}", at.format("%Y-%m-%d %H:%M UTC")));
    }
    if let Some(url) = run_url(request, WorkflowKind::DriftPlan, repo_url) {
        out.push_str(&format!(": {}", link("drift plan", &url)));
    }
    Some(out)
}

/// The plan summary to show: only for a finished plan run that did not fail, so an
/// older summary never sits under a running or failed plan.
pub fn shown_plan<'a>(input: &StickyInput<'a>) -> Option<&'a PlanSummary> {
    let run = input.request.run(WorkflowKind::Plan)?;
    if run.failed() || run.is_active() {
        return None;
    }
    input.plan
}

/// The plan heading, the state of the plan run, and the summary (bounded).
fn plan_section_head(input: &StickyInput<'_>) -> String {
    let request = input.request;
    let url = run_url(request, WorkflowKind::Plan, input.repo_url);
    let run_ref = url
        .as_deref()
        .map_or("the plan run".to_string(), |u| link("the plan run", u));
    let mut out = "\n#### Plan\n\n".to_string();
    let run = request.run(WorkflowKind::Plan);
    if is_plan_stale(request) {
        let plan_sha = run.and_then(|r| r.head_sha.as_deref()).unwrap_or_default();
        let head = request
            .pr()
            .and_then(|p| p.head_sha.as_deref())
            .unwrap_or_default();
        out.push_str(&format!(
            "⚠️ This plan ran on {}, but the pull request is now at {}: it does not show \
             the latest commits.\n\n",
            code(&short_sha(plan_sha)),
            code(&short_sha(head))
        ));
    }
    match (run, input.plan) {
        (None, _) => out.push_str("No plan yet.\n"),
        (Some(r), _) if r.failed() => {
            out.push_str(&format!("The plan failed; {run_ref} shows why.\n"));
        }
        (Some(r), _) if r.is_active() => {
            out.push_str(&format!("A plan is running: {run_ref}.\n"));
        }
        (Some(_), Some(p)) => out.push_str(&plan::summary(p, input.fingerprint)),
        (Some(r), None) if r.succeeded() => out.push_str(&format!(
            "The plan succeeded, but its summary could not be read; see {run_ref}.\n"
        )),
        (Some(r), None) => out.push_str(&format!(
            "The plan ended with {}; see {run_ref}.\n",
            code(r.conclusion.as_deref().unwrap_or("no conclusion"))
        )),
    }
    out
}

/// The status cell of a run: symbol and GitHub's words.
pub fn run_state(run: &RunFacts) -> String {
    if let Some(c) = run.conclusion.as_deref() {
        let symbol = if run.succeeded() {
            "✅"
        } else if run.failed() {
            "❌"
        } else {
            "⚪"
        };
        return format!("{symbol} {}", code_cell(&clip(c, 30)));
    }
    match &run.status {
        Some(RunStatus::InProgress) => "⏳ `in_progress`".to_string(),
        Some(RunStatus::Completed) => "⚪ `completed`".to_string(),
        Some(RunStatus::Queued) => "🕒 `queued`".to_string(),
        Some(RunStatus::Other(s)) => format!("🕒 {}", code_cell(&clip(s, 30))),
        None if run.run_id.is_none() => "🕒 dispatched".to_string(),
        None => "🕒 unknown".to_string(),
    }
}

fn kind_label(kind: WorkflowKind) -> &'static str {
    match kind {
        WorkflowKind::Plan => "plan",
        WorkflowKind::Apply => "apply",
        WorkflowKind::Destroy => "destroy",
        WorkflowKind::Cleanup => "cleanup",
        WorkflowKind::DriftPlan => "drift check",
    }
}

/// The runs table, one row per tracked kind.
fn runs_section(request: &Request, repo_url: Option<&str>) -> String {
    let rows: Vec<String> = WorkflowKind::ALL
        .into_iter()
        .filter_map(|kind| {
            let run = request.run(kind)?;
            let mut cell = match (run.run_id, run_url(request, kind, repo_url)) {
                (Some(id), Some(url)) => link(&format!("#{id}"), &url),
                (Some(id), None) => format!("#{id}"),
                (None, Some(url)) => link("run", &url),
                (None, None) => "not started yet".to_string(),
            };
            if let Some(a) = run.run_attempt.filter(|a| *a > 1) {
                cell.push_str(&format!(" (attempt {a})"));
            }
            Some(format!(
                "| {} | {} | {cell} |\n",
                kind_label(kind),
                run_state(run)
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut out = "\n#### Runs\n\n| Workflow | Status | Run |\n|---|---|---|\n".to_string();
    for r in rows {
        out.push_str(&r);
    }
    out
}

/// The last few timeline lines: time, what, who.
fn timeline_section(request: &Request) -> String {
    let start = request.timeline.len().saturating_sub(TIMELINE_SHOWN);
    let entries = &request.timeline[start..];
    if entries.is_empty() {
        return String::new();
    }
    let mut out = "\n#### Recent activity\n\n".to_string();
    for e in entries {
        let when = e.at.map_or("—".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M UTC").to_string()
        });
        out.push_str(&format!(
            "- {when} · {}",
            text(&clip(&e.what, MAX_TIMELINE_CHARS))
        ));
        if let Some(who) = &e.who {
            out.push_str(&format!(" · {}", text(&clip(who, MAX_FACT_CHARS))));
        }
        out.push('\n');
    }
    out
}
