//! "The plan changed since review": the reviewed plan and the plan an apply run made
//! at the merge commit, side by side, with the resources that differ.
//!
//! Shown in the sticky comment's head (never cut) while the request has a plan at
//! apply time that differs from the reviewed one and nothing was applied yet. The
//! text ends by saying exactly which plan `/tfpilot apply` applies, because after a
//! refusal it applies this newly shown plan, not the reviewed one.

use std::collections::BTreeMap;

use crate::core::command::Verb;
use crate::core::fingerprint::Fingerprint;
use crate::core::plan::{ActionClass, PlanSummary};
use crate::core::request::{ApplyPlanFacts, Request, WorkflowKind};
use crate::core::status::{FailureCause, Status};

use super::headline::command;
use super::md::{clip, code, code_cell, link, text, thousands};
use super::plan::symbol;

/// Most differing resources listed; the rest are counted.
pub const MAX_DIFFERENCES_SHOWN: usize = 20;

/// Longest address shown.
const MAX_ADDRESS_CHARS: usize = 300;

/// The plan at apply time to show, if any: a failed apply's plan that differs from
/// the reviewed one (`reviewed`: its fingerprint), while nothing was applied or
/// destroyed since.
pub fn shown_apply_plan<'a>(
    request: &'a Request,
    reviewed: Option<&Fingerprint>,
) -> Option<&'a ApplyPlanFacts> {
    let fact = request.apply_plan.as_ref()?;
    if request
        .run(WorkflowKind::Apply)
        .is_some_and(|r| r.succeeded())
        || request.run(WorkflowKind::Destroy).is_some()
    {
        return None;
    }
    let differs = match (&fact.fingerprint, reviewed) {
        (Some(actual), Some(reviewed)) => actual != reviewed,
        (Some(_), None) => true,
        (None, _) => false,
    };
    (fact.plan_changed() || differs).then_some(fact)
}

/// Where the two plans came from, for the table's last row.
#[derive(Debug, Clone, Default)]
pub struct RunLinks {
    /// The reviewed plan's run id.
    pub plan_run: Option<u64>,
    /// The reviewed plan's run page.
    pub plan_url: Option<String>,
    /// The refused apply run's page.
    pub apply_url: Option<String>,
}

/// The section: a counts table (reviewed | at apply time), the resources that differ,
/// and which plan `/tfpilot apply` applies.
pub fn section(
    fact: &ApplyPlanFacts,
    reviewed: Option<&PlanSummary>,
    reviewed_fingerprint: Option<&Fingerprint>,
    status: Status,
    runs: RunLinks,
) -> String {
    let RunLinks {
        plan_run,
        plan_url,
        apply_url,
    } = runs;
    let mut out = "\n#### ⚠️ The plan changed since review\n\n".to_string();
    let Some(now) = fact.summary.as_ref() else {
        let why = fact
            .unreadable
            .as_deref()
            .unwrap_or("the apply run's artifact holds no readable plan");
        let run = apply_url
            .as_deref()
            .map_or("the apply run".to_string(), |u| link("the apply run", u));
        out.push_str(&format!(
            "The plan made at apply time could not be read ({}); {run} shows it. It cannot \
             be reviewed here, so tfpilot will not apply it.\n",
            text(&clip(why.trim_end_matches('.'), 200))
        ));
        return out;
    };
    // Terraform's `Plan:` line counts: add, change, destroy.
    let counts = |p: &PlanSummary| [p.plan_line.add, p.plan_line.change, p.plan_line.destroy];
    let before = reviewed.map(counts);
    let after = counts(now);
    let short = |f: Option<&Fingerprint>| f.map_or("unknown".to_string(), |f| code(f.short()));
    let cell_link = |label: &str, url: &Option<String>| match url {
        Some(u) => link(label, u),
        None => text(label),
    };
    out.push_str("| | Reviewed plan | Plan at apply time |\n|---|---:|---:|\n");
    for (i, label) in ["➕ add", "🔧 change", "➖ destroy"]
        .into_iter()
        .enumerate()
    {
        out.push_str(&format!(
            "| {label} | {} | {} |\n",
            before.map_or("?".to_string(), |b| thousands(b[i])),
            thousands(after[i])
        ));
    }
    out.push_str(&format!(
        "| Fingerprint | {} | {} |\n",
        short(reviewed_fingerprint),
        short(fact.fingerprint.as_ref())
    ));
    out.push_str(&format!(
        "| Run | {} | {} |\n\n",
        cell_link(
            &plan_run.map_or("plan run".to_string(), |id| format!("plan run #{id}")),
            &plan_url
        ),
        cell_link(&format!("apply run #{}", fact.run_id), &apply_url)
    ));
    out.push_str(&differences(reviewed, now));
    if fact.omitted_changes > 0 {
        out.push_str(&format!(
            "\nThe plan at apply time lists {} more changes than tfpilot keeps; the apply run's artifact has them all.\n",
            thousands(fact.omitted_changes)
        ));
    }
    let fp = short(fact.fingerprint.as_ref());
    let apply = command(Verb::Apply);
    out.push('\n');
    out.push_str(&match status {
        Status::Failed(FailureCause::PlanChanged) => format!(
            "{apply} now applies the **plan at apply time** (fingerprint {fp}), exactly as \
             shown here, and nothing else; if it differs again, tfpilot refuses again and \
             shows the newer plan.\n"
        ),
        _ => format!(
            "tfpilot applies the **plan at apply time** (fingerprint {fp}) shown here, not \
             the reviewed plan.\n"
        ),
    });
    out
}

/// The resources whose action differs between the plans, or a line saying only
/// planned values differ.
fn differences(reviewed: Option<&PlanSummary>, now: &PlanSummary) -> String {
    let Some(reviewed) = reviewed else {
        return "The reviewed plan's summary is not available to compare with.\n".to_string();
    };
    let actions = |p: &PlanSummary| -> BTreeMap<(String, Option<String>), ActionClass> {
        p.notable()
            .map(|rc| ((rc.address.clone(), rc.deposed.clone()), rc.action.class()))
            .collect()
    };
    let before = actions(reviewed);
    let after = actions(now);
    let mut keys: Vec<&(String, Option<String>)> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    let lines: Vec<String> = keys
        .into_iter()
        .filter_map(|key| {
            let address = code(&clip(&key.0, MAX_ADDRESS_CHARS));
            match (before.get(key), after.get(key)) {
                (None, Some(a)) => Some(format!(
                    "- {} {address}: {} only at apply time\n",
                    symbol(*a),
                    code_cell(a.as_str())
                )),
                (Some(b), None) => Some(format!(
                    "- {} {address}: {} only in the reviewed plan\n",
                    symbol(*b),
                    code_cell(b.as_str())
                )),
                (Some(b), Some(a)) if a != b => Some(format!(
                    "- {} {address}: {} reviewed, {} at apply time\n",
                    symbol(*a),
                    code_cell(b.as_str()),
                    code_cell(a.as_str())
                )),
                _ => None,
            }
        })
        .collect();
    if lines.is_empty() {
        return "The same resources change in the same way; their planned values differ.\n"
            .to_string();
    }
    let mut out = "**Resources that differ:**\n\n".to_string();
    for line in lines.iter().take(MAX_DIFFERENCES_SHOWN) {
        out.push_str(line);
    }
    if lines.len() > MAX_DIFFERENCES_SHOWN {
        out.push_str(&format!(
            "- … and {} more\n",
            thousands(lines.len() - MAX_DIFFERENCES_SHOWN)
        ));
    }
    out
}
