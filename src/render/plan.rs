//! The plan section: Terraform's `Plan:` line, the counts table, the fingerprint,
//! and the changed addresses, cut to fit a character budget.

use crate::core::fingerprint::Fingerprint;
use crate::core::plan::{
    ActionClass, ChangeAction, PlanSummary, ReplaceOrder, ResourceChangeSummary,
};

use super::md::{chars, clip, code, code_cell, link, text, thousands};

/// Longest address shown; `for_each` keys can be arbitrarily long.
const MAX_ADDRESS_CHARS: usize = 300;

/// The symbol shown before an action, so a long list can be scanned by eye.
pub fn symbol(class: ActionClass) -> &'static str {
    match class {
        ActionClass::Create => "➕",
        ActionClass::Update => "🔧",
        ActionClass::Delete => "➖",
        ActionClass::Replace => "🔁",
        ActionClass::NoOp => "⚪",
        ActionClass::Read => "🔍",
        ActionClass::Forget => "✂️",
        ActionClass::Other => "❔",
    }
}

/// `n` and the noun in the right number: `1 output`, `2 outputs`, `1,000 outputs`.
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// The changes worth listing, grouped by action in the counts table's order.
fn listed(plan: &PlanSummary) -> impl Iterator<Item = &ResourceChangeSummary> {
    ActionClass::ALL
        .into_iter()
        .flat_map(move |class| plan.notable().filter(move |rc| rc.action.class() == class))
}

/// The summary: the `Plan:` line with fingerprint and Terraform version, then the
/// counts table (or "No changes."). Bounded in size whatever the plan holds.
pub fn summary(plan: &PlanSummary, fingerprint: Option<&Fingerprint>) -> String {
    let mut out = format!("**{}**", plan.plan_line);
    if let Some(fp) = fingerprint {
        out.push_str(&format!(" · fingerprint {}", code(fp.short())));
    }
    if let Some(v) = &plan.terraform_version {
        out.push_str(&format!(" · Terraform {}", text(&clip(v, 40))));
    }
    out.push_str("\n\n");
    if plan.errored {
        out.push_str("⚠️ Terraform reported errors while planning; the run's log has them.\n\n");
    }
    if plan.notable().next().is_none() {
        out.push_str("No changes: the infrastructure already matches the configuration");
        match plan.counts.no_op {
            0 => out.push_str(".\n"),
            1 => out.push_str(" (1 resource unchanged).\n"),
            n => out.push_str(&format!(" ({} resources unchanged).\n", thousands(n))),
        }
    } else {
        out.push_str("| Action | Resources |\n|---|---:|\n");
        for class in ActionClass::ALL {
            let n = plan.counts.get(class);
            if n > 0 {
                out.push_str(&format!(
                    "| {} {} | {} |\n",
                    symbol(class),
                    code_cell(class.as_str()),
                    thousands(n)
                ));
            }
        }
    }
    let outputs = plan
        .outputs
        .iter()
        .filter(|o| o.action != ChangeAction::NoOp)
        .count();
    let mut notes = Vec::new();
    if outputs > 0 {
        notes.push(format!("{} change.", count(outputs, "output", "outputs")));
    }
    if !plan.drift.is_empty() {
        notes.push(format!(
            "⚠️ {} changed outside Terraform since the last apply.",
            count(plan.drift.len(), "resource", "resources")
        ));
    }
    if !plan.deferred.is_empty() {
        notes.push(format!(
            "{} deferred to a later plan.",
            count(plan.deferred.len(), "change", "changes")
        ));
    }
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join(" "));
        out.push('\n');
    }
    out
}

/// One list line for a change.
fn change_line(c: &ResourceChangeSummary) -> String {
    let mut line = format!(
        "- {} {}",
        symbol(c.action.class()),
        code(&clip(&c.address, MAX_ADDRESS_CHARS))
    );
    if c.deposed.is_some() {
        line.push_str(" (deposed object)");
    }
    if let Some(from) = &c.previous_address {
        line.push_str(&format!(
            " (moved from {})",
            code(&clip(from, MAX_ADDRESS_CHARS))
        ));
    }
    if c.importing.is_some() {
        line.push_str(" (imported)");
    }
    if c.action == ChangeAction::Replace(ReplaceOrder::CreateThenDelete) {
        line.push_str(" (create before destroy)");
    }
    if let Some(reason) = &c.action_reason {
        line.push_str(&format!(" ({})", code(&clip(reason, 60))));
    }
    if c.sensitive {
        line.push_str(" 🔒 sensitive values hidden");
    }
    line.push('\n');
    line
}

/// The note that replaces the addresses that did not fit.
fn more_note(n: usize, run_url: Option<&str>) -> String {
    match run_url {
        Some(url) => format!(
            "\n… {} more; full plan in the run: {}\n",
            thousands(n),
            link("plan run", url)
        ),
        None => format!(
            "\n… {} more; the full plan is in the plan run's artifact.\n",
            thousands(n)
        ),
    }
}

/// The changed addresses, grouped by action, in at most `budget` characters.
///
/// Addresses that do not fit are replaced by a note that counts them and links the
/// run. `collapsed` wraps the list in a `<details>` section (the comment); without it
/// the list is bare (a check run's text). Returns an empty string when nothing
/// changes, or when not even the note fits.
pub fn addresses(
    plan: &PlanSummary,
    budget: usize,
    run_url: Option<&str>,
    collapsed: bool,
) -> String {
    let total = listed(plan).count();
    if total == 0 {
        return String::new();
    }
    let (open, close) = if collapsed {
        (
            format!(
                "\n<details><summary>Changed resources ({})</summary>\n\n",
                thousands(total)
            ),
            "\n</details>\n".to_string(),
        )
    } else {
        (String::new(), String::new())
    };
    // The note for `total` is at least as long as for any smaller count, so
    // reserving it up front guarantees whatever follows fits.
    let reserve = chars(&open) + chars(&close) + chars(&more_note(total, run_url));
    if reserve > budget {
        let note = more_note(total, run_url);
        return if chars(&note) <= budget {
            note
        } else {
            String::new()
        };
    }
    let room = budget - reserve;
    let mut used = 0;
    let mut shown = 0;
    let mut body = String::new();
    for c in listed(plan) {
        let line = change_line(c);
        let n = chars(&line);
        if used + n > room {
            break;
        }
        used += n;
        shown += 1;
        body.push_str(&line);
    }
    let mut out = open;
    out.push_str(&body);
    if shown < total {
        out.push_str(&more_note(total - shown, run_url));
    }
    out.push_str(&close);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plan::{ActionCounts, PlanLine};

    fn change(address: &str, action: ChangeAction) -> ResourceChangeSummary {
        ResourceChangeSummary {
            address: address.to_string(),
            module_address: None,
            data_source: false,
            deposed: None,
            action,
            previous_address: None,
            importing: None,
            action_reason: None,
            sensitive: false,
        }
    }

    fn plan(n: usize) -> PlanSummary {
        PlanSummary {
            format_version: "1.2".into(),
            terraform_version: Some("1.15.5".into()),
            applyable: Some(true),
            complete: Some(true),
            errored: false,
            counts: ActionCounts {
                create: n,
                ..ActionCounts::default()
            },
            plan_line: PlanLine {
                add: n,
                ..PlanLine::default()
            },
            nothing_to_show: n == 0,
            resource_changes: (0..n)
                .map(|i| change(&format!("aws_s3_bucket.b[{i}]"), ChangeAction::Create))
                .collect(),
            outputs: Vec::new(),
            drift: Vec::new(),
            deferred: Vec::new(),
            action_invocations: 0,
        }
    }

    #[test]
    fn everything_fits_without_a_note() {
        let out = addresses(&plan(3), 10_000, Some("https://x.test/run/1"), true);
        assert!(out.contains("aws_s3_bucket.b[2]"));
        assert!(!out.contains("more; full plan"));
        assert!(out.starts_with("\n<details>"));
        assert!(out.ends_with("</details>\n"));
    }

    #[test]
    fn cut_lists_count_what_is_missing_and_stay_in_budget() {
        let p = plan(500);
        for budget in [0, 10, 100, 200, 1_000, 5_000] {
            let out = addresses(&p, budget, Some("https://x.test/run/1"), true);
            assert!(chars(&out) <= budget, "budget {budget}: {}", chars(&out));
        }
        let out = addresses(&p, 1_000, Some("https://x.test/run/1"), true);
        let shown = out.matches("- ➕").count();
        assert!(shown > 0);
        let note = format!("… {} more; full plan in the run: [plan run]", 500 - shown);
        assert!(out.contains(&note), "{out}");
    }

    #[test]
    fn plain_no_ops_are_counted_but_not_listed() {
        let mut p = plan(1);
        p.resource_changes
            .push(change("null_resource.same", ChangeAction::NoOp));
        p.counts.no_op = 1;
        let mut moved = change("null_resource.new_name", ChangeAction::NoOp);
        moved.previous_address = Some("null_resource.old_name".into());
        p.resource_changes.push(moved);
        p.counts.no_op += 1;
        let fp =
            Fingerprint::parse(&format!("sha256:{}", "0123456789abcdef".repeat(4))).expect("valid");
        let s = summary(&p, Some(&fp));
        assert!(s.contains("| ⚪ `no-op` | 2 |"));
        assert!(s.contains("fingerprint `0123456789ab`"));
        let a = addresses(&p, 10_000, None, true);
        assert!(!a.contains("null_resource.same"));
        assert!(a.contains("`null_resource.new_name` (moved from `null_resource.old_name`)"));
        assert!(a.contains("Changed resources (2)"));
    }

    #[test]
    fn an_empty_plan_says_no_changes() {
        let s = summary(&plan(0), None);
        assert!(s.contains("No changes"));
        assert_eq!(addresses(&plan(0), 10_000, None, true), "");
    }
}
