//! The request-issue comments about drift, pinned: a wording change is a reviewed diff.

use chrono::{TimeZone, Utc};

use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{DriftFacts, Request};
use tfpilot::service::drift::{drift_comment, recovery_comment};

fn request() -> Request {
    let mut r = Request::new(&RequestId::parse("req_prod_s3-bucket_ab12cd").expect("id"));
    r.environment = Some("prod".into());
    r
}

fn facts(drifted: bool) -> DriftFacts {
    let at = |h| Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).single();
    DriftFacts {
        drifted,
        checked_at: at(if drifted { 6 } else { 12 }),
        detected_at: at(6),
        recovered_at: if drifted { None } else { at(12) },
        run_id: Some(4004),
        run_url: Some("https://github.com/acme/infra/actions/runs/4004".into()),
        summary: Some(if drifted {
            "Plan: 0 to add, 2 to change, 0 to destroy.".into()
        } else {
            "No changes.".into()
        }),
        changes: drifted.then_some(2),
        ..DriftFacts::default()
    }
}

#[test]
fn drift_found_comment() {
    let body = drift_comment(&request(), &facts(true));
    assert!(body.contains("2 to change"));
    insta::assert_snapshot!(body);
}

#[test]
fn drift_resolved_comment() {
    let body = recovery_comment(&request(), &facts(false));
    assert!(
        body.contains("2026-11-25 06:00 UTC"),
        "says when it was found"
    );
    insta::assert_snapshot!(body);
}
