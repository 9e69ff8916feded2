//! The reply texts of the command parser, as insta snapshots: a change of
//! wording is a reviewed diff.

use tfpilot::core::command::{CommandParse, help_text, parse_comment};

fn messages(body: &str) -> String {
    match parse_comment(body) {
        CommandParse::Malformed { problems, .. } => problems
            .iter()
            .map(|p| format!("line {}: {}", p.line, p.message()))
            .collect::<Vec<_>>()
            .join("\n"),
        other => panic!("expected a malformed comment, got {other:?}"),
    }
}

#[test]
fn help_reply() {
    insta::assert_snapshot!(help_text());
}

#[test]
fn refusal_messages() {
    let body = "/tfpilot aply\n/tfpilot paln\n/tfpilot r+\n/tfpilot\n/tfpilot plan -d new-project\n\
                /tfpilot destroy req_dev_s3_ab12cd now please\n/tfpilot hold cancel";
    insta::assert_snapshot!(messages(body));
}
