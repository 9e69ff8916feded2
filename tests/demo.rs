//! The README's first command, as a test: `tfpilot demo` plays the whole
//! lifecycle and ends archived, with one tfpilot comment and the cleanup merged.

use tfpilot::demo::{DemoOptions, Scenario, run};

#[tokio::test]
async fn the_lifecycle_demo_ends_archived_with_one_comment_and_the_cleanup_merged() {
    let mut out = Vec::new();
    let outcome = run(
        DemoOptions {
            scenario: Scenario::Lifecycle,
            step: false,
            store: None,
        },
        &mut out,
    )
    .await;
    let text = String::from_utf8_lossy(&out);
    let outcome = outcome.unwrap_or_else(|e| panic!("demo failed: {e:#}\n{text}"));
    assert!(outcome.archived, "{text}");
    assert!(outcome.cleanup_merged, "{text}");
    assert_eq!(
        outcome.bot_comments_on_pr, 1,
        "one sticky comment, edited in place\n{text}"
    );
    for status in ["planning", "plan_ready", "approved", "merged", "applied"] {
        assert!(
            text.contains(&format!("status: {status}")),
            "{status} missing\n{text}"
        );
    }
    assert!(text.contains("/tfpilot apply") && text.contains("/tfpilot destroy"));
}

#[tokio::test]
async fn the_other_scenarios_run_to_their_end() {
    for scenario in [
        Scenario::RefusedApply,
        Scenario::FailedPlan,
        Scenario::Queue,
    ] {
        let mut out = Vec::new();
        let result = run(
            DemoOptions {
                scenario,
                step: false,
                store: None,
            },
            &mut out,
        )
        .await;
        let text = String::from_utf8_lossy(&out);
        result.unwrap_or_else(|e| panic!("{scenario:?} failed: {e:#}\n{text}"));
    }
}
