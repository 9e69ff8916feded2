//! The plan section: Terraform's `Plan:` line, the counts table, the fingerprint,
//! and the changed addresses, cut to fit a character budget.

use super::md::{chars, clip, code, code_cell, link, text, thousands};
use super::view::{PlanAction, PlanChange, PlanView};

/// Longest address shown; `for_each` keys can be arbitrarily long.
const MAX_ADDRESS_CHARS: usize = 300;

/// The short fingerprint shown next to the summary: 12 hex digits, whatever form
/// (`sha256:<hex>` or already short) was passed in.
pub fn short_fingerprint(fp: &str) -> String {
    let hex = fp.strip_prefix("sha256:").unwrap_or(fp);
    hex.chars()
        .filter(char::is_ascii_hexdigit)
        .take(12)
        .collect()
}

/// The summary: the `Plan:` line with fingerprint and Terraform version, then the
/// counts table (or "No changes."). Bounded in size whatever the plan holds.
pub fn summary(plan: &PlanView, fingerprint: Option<&str>) -> String {
    let mut out = format!("**{}**", plan.line);
    if let Some(fp) = fingerprint.map(short_fingerprint).filter(|f| !f.is_empty()) {
        out.push_str(&format!(" · fingerprint {}", code(&fp)));
    }
    if let Some(v) = &plan.terraform_version {
        out.push_str(&format!(" · Terraform {}", text(&clip(v, 40))));
    }
    out.push_str("\n\n");
    if plan.is_empty() {
        out.push_str("No changes: the infrastructure already matches the configuration.\n");
    } else {
        out.push_str("| Action | Resources |\n|---|---:|\n");
        for action in PlanAction::ALL {
            let n = plan.count(action);
            if n > 0 {
                out.push_str(&format!(
                    "| {} {} | {} |\n",
                    action.symbol(),
                    code_cell(action.as_str()),
                    thousands(n)
                ));
            }
        }
    }
    if plan.drifted > 0 {
        out.push_str(&format!(
            "\n⚠️ {} changed outside Terraform since the last apply.\n",
            if plan.drifted == 1 {
                "1 resource".to_string()
            } else {
                format!("{} resources", thousands(plan.drifted))
            }
        ));
    }
    out
}

/// One list line for a change.
fn change_line(c: &PlanChange) -> String {
    let mut line = format!(
        "- {} {}",
        c.action.symbol(),
        code(&clip(&c.address, MAX_ADDRESS_CHARS))
    );
    if let Some(from) = &c.moved_from {
        line.push_str(&format!(
            " (moved from {})",
            code(&clip(from, MAX_ADDRESS_CHARS))
        ));
    }
    if c.importing {
        line.push_str(" (imported)");
    }
    if let Some(reason) = &c.reason {
        line.push_str(&format!(" ({})", text(&clip(reason, 60))));
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
pub fn addresses(plan: &PlanView, budget: usize, run_url: Option<&str>, collapsed: bool) -> String {
    let total = plan.changing().count();
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
    for c in plan.changing() {
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
    use crate::render::view::PlanLine;

    fn change(address: &str, action: PlanAction) -> PlanChange {
        PlanChange {
            address: address.to_string(),
            action,
            sensitive: false,
            reason: None,
            moved_from: None,
            importing: false,
        }
    }

    fn plan(n: usize) -> PlanView {
        PlanView {
            terraform_version: Some("1.15.5".into()),
            line: PlanLine {
                add: n,
                ..PlanLine::default()
            },
            changes: (0..n)
                .map(|i| change(&format!("aws_s3_bucket.b[{i}]"), PlanAction::Create))
                .collect(),
            drifted: 0,
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
    fn no_op_resources_are_counted_but_not_listed() {
        let mut p = plan(1);
        p.changes
            .push(change("null_resource.same", PlanAction::NoOp));
        let s = summary(&p, Some("sha256:0123456789abcdef"));
        assert!(s.contains("| ⚪ `no-op` | 1 |"));
        assert!(s.contains("fingerprint `0123456789ab`"));
        let a = addresses(&p, 10_000, None, true);
        assert!(!a.contains("null_resource.same"));
        assert!(a.contains("Changed resources (1)"));
    }

    #[test]
    fn an_empty_plan_says_no_changes() {
        let s = summary(&plan(0), None);
        assert!(s.contains("No changes"));
        assert_eq!(addresses(&plan(0), 10_000, None, true), "");
    }
}
