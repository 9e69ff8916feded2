//! What tfpilot writes for a request issue: the issue comment once the request
//! exists, and the request PR's title and body. Plain functions of their inputs, so
//! wording changes are reviewed as snapshot diffs.

use serde_json::Value;

use crate::config::repo::CONFIG_PATH;
use crate::core::issue_form::PROBLEMS_MARKER;
use crate::core::request::Request;

/// The seed's name for the preset a request used (kept in the request doc).
pub const TEMPLATE_ID: &str = "templateId";

/// Marks tfpilot's one comment on a request issue once the request exists (the
/// problems comment carries [`crate::core::issue_form::PROBLEMS_MARKER`]; it is the
/// same comment, edited).
pub const CREATED_MARKER: &str = "<!-- tfpilot:issue-form-request -->";

/// The request PR's title (the seed's wording).
pub fn pr_title(request_id: &str, module: &str) -> String {
    format!("Infra request {request_id}: {module}")
}

/// The request PR's body: where it came from, what it asks for, what happens next.
///
/// It says "Requested in #N", not "Closes #N": closing keywords would close the
/// request issue when the PR merges, but the request lives on after the merge
/// (apply, drift, destroy), and the issue is where its requester hears about it.
pub fn pr_body(request: &Request) -> String {
    let issue = request
        .issue_number
        .map(|n| format!("Requested in #{n}"))
        .unwrap_or_else(|| "Requested".to_owned());
    let requester = request.requester.as_deref().unwrap_or("unknown");
    let mut out = format!(
        "{issue} by @{requester}.\n\n| | |\n|---|---|\n| Request | `{}` |\n",
        request.id
    );
    let rows = [
        ("Environment", request.environment.as_deref()),
        ("Module", request.module.as_deref()),
        (
            "Preset",
            request.extra.get(TEMPLATE_ID).and_then(Value::as_str),
        ),
        (
            "File",
            request
                .target_files
                .as_ref()
                .and_then(|f| f.first())
                .map(String::as_str),
        ),
    ];
    for (label, value) in rows {
        if let Some(value) = value {
            out.push_str(&format!("| {label} | `{}` |\n", cell(value)));
        }
    }
    out.push_str("\n### Inputs\n\n| Input | Value |\n|---|---|\n");
    for (name, value) in request.config.iter().flatten() {
        out.push_str(&format!("| `{}` | {} |\n", cell(name), value_cell(value)));
    }
    out.push_str(
        "\ntfpilot plans this PR now; the result appears in the `tfpilot/plan` check and \
         in tfpilot's comment below. Changes to the request go through this PR: push to \
         its branch and tfpilot plans again. Comment `/tfpilot help` for the commands.\n",
    );
    out
}

/// The issue comment once the request exists: a link to its PR and, after the issue
/// was edited, why that edit changed nothing.
pub fn created_comment(request_id: &str, pr_number: u64, edited_after_creation: bool) -> String {
    let mut out = format!(
        "{CREATED_MARKER}\ntfpilot created request `{request_id}` and opened #{pr_number} for it. \
         Its plan is running: follow the request, approve and apply it on #{pr_number}.\n"
    );
    if edited_after_creation {
        out.push_str(
            "\n**This issue was edited after the request was created; the edit changes \
             nothing.** The request's inputs are fixed in its PR: change the file on the \
             PR's branch (tfpilot plans again), or close the PR and open a new request.\n",
        );
    }
    out
}

/// The issue comment when the repository's config cannot be read: the request cannot
/// be checked until a maintainer fixes it.
pub fn config_problem_comment(error: &str) -> String {
    let quoted: String = error.lines().map(|l| format!("> {l}\n")).collect();
    format!(
        "{PROBLEMS_MARKER}\ntfpilot cannot read this repository's `{CONFIG_PATH}`, so it \
         cannot check this request yet:\n\n{quoted}\nA maintainer needs to fix the file on \
         the default branch; then edit this issue (… → **Edit**) and tfpilot checks it again.\n"
    )
}

/// A value as a table cell: strings as code, other JSON compact, pipes escaped.
fn value_cell(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    format!("`{}`", cell(&text))
}

/// Keeps a table cell on one line, its pipes and backticks literal.
fn cell(s: &str) -> String {
    s.replace('\n', " ").replace('|', "\\|").replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pr_body_links_the_issue_without_closing_it() {
        let id = crate::core::ids::RequestId::parse("req_dev_s3-bucket_ab12cd").unwrap();
        let mut request = Request::new(&id);
        request.issue_number = Some(7);
        request.requester = Some("alice".into());
        request.environment = Some("dev".into());
        request.module = Some("s3-bucket".into());
        request
            .extra
            .insert(TEMPLATE_ID.into(), Value::String("s3-public-assets".into()));
        let mut config = serde_json::Map::new();
        config.insert("name".into(), Value::String("a|b`c".into()));
        config.insert("force_destroy".into(), Value::Bool(true));
        request.config = Some(config);
        let body = pr_body(&request);
        assert!(body.starts_with("Requested in #7 by @alice."));
        assert!(!body.to_lowercase().contains("closes #"));
        assert!(body.contains("| `name` | `a\\|b'c` |"));
        assert!(body.contains("| `force_destroy` | `true` |"));
        assert!(body.contains("| Preset | `s3-public-assets` |"));
    }

    #[test]
    fn the_created_comment_mentions_the_edit_only_after_one() {
        let plain = created_comment("req_dev_x_ab12cd", 3, false);
        assert!(plain.starts_with(CREATED_MARKER));
        assert!(plain.contains("#3"));
        assert!(!plain.contains("edited"));
        let edited = created_comment("req_dev_x_ab12cd", 3, true);
        assert!(edited.contains("edited after the request was created"));
    }
}
