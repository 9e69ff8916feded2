//! Real webhook payloads parse into tfpilot's event types.

use tfpilot::core::webhook::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/fixtures/github/webhooks/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn workflow_run_completed_parses_with_its_run_facts() {
    let Event::WorkflowRun(e) =
        parse_event("workflow_run", &fixture("workflow_run.completed.1.json")).unwrap()
    else {
        panic!("not a workflow_run");
    };
    assert_eq!(e.action, "completed");
    assert_eq!(e.workflow_run.id, 289782451);
    assert_eq!(e.workflow_run.conclusion.as_deref(), Some("success"));
    assert_eq!(e.workflow_run.run_attempt, 1);
}

#[test]
fn comment_on_a_pr_is_recognised_as_such() {
    let Event::IssueComment(e) = parse_event(
        "issue_comment",
        &fixture("derived/issue_comment.created.1.json"),
    )
    .unwrap() else {
        panic!("not an issue_comment");
    };
    assert!(e.issue.is_pull_request());
    assert!(!e.comment.user.is_bot());
}

#[test]
fn fork_pr_is_detected() {
    let Event::PullRequest(e) = parse_event(
        "pull_request",
        &fixture("derived/pull_request.opened.1.json"),
    )
    .unwrap() else {
        panic!("not a pull_request");
    };
    assert!(e.pull_request.is_from_fork());
    let Event::PullRequest(e) =
        parse_event("pull_request", &fixture("pull_request.opened.1.json")).unwrap()
    else {
        panic!("not a pull_request");
    };
    assert!(!e.pull_request.is_from_fork());
}

#[test]
fn unknown_events_keep_their_action_and_wrong_shapes_are_errors() {
    let e = parse_event("push", &fixture("push.1.json")).unwrap();
    assert_eq!(e.name(), "push");
    assert!(matches!(
        parse_event("workflow_run", br#"{"action":"completed"}"#),
        Err(ParseError::Shape { .. })
    ));
    assert!(matches!(
        parse_event("issues", b"not json"),
        Err(ParseError::NotJson(_))
    ));
    assert!(matches!(
        parse_event("ping", b"[1,2]"),
        Err(ParseError::Shape { .. })
    ));
}

#[test]
fn installation_events_carry_their_id() {
    let e = parse_event("installation", &fixture("installation.created.1.json")).unwrap();
    assert!(e.installation_id().is_some());
    assert_eq!(e.name(), "installation");
}

#[test]
fn shape_errors_never_quote_payload_values() {
    let body =
        br#"{"action":"completed","workflow_run":{"id":"TOP-SECRET-TITLE"},"repository":{}}"#;
    let err = parse_event("workflow_run", body).unwrap_err().to_string();
    assert!(!err.contains("TOP-SECRET"), "{err}");
    assert!(err.contains("expected"), "{err}");
}
