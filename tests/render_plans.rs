//! The plan section rendered from real `terraform show -json` plans (the committed
//! fixtures made with Terraform 1.15.5) and a real-shaped Infracost file.

mod render_support;

use render_support as s;
use tfpilot::core::cost::CostEstimate;
use tfpilot::core::plan::{ActionClass, Plan};
use tfpilot::render::{plan, sticky_comment};

/// The made-up secrets inside the sensitive fixtures; they must never be shown.
const SECRETS: [&str; 2] = ["tfp-fixture-secret-Qx7mW2", "tfp-fixture-rotated-Lk93Zp"];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/fixtures/plans/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("committed fixture")
}

#[test]
fn every_fixture_plan_renders_its_counts_and_no_secret() {
    for name in [
        "create",
        "noop",
        "update",
        "replace",
        "delete",
        "sensitive",
        "destroy",
    ] {
        let summary = Plan::from_json(&fixture(&format!("{name}.plan.json")))
            .expect("fixture parses")
            .summary();
        let head = plan::summary(&summary, None);
        let list = plan::addresses(&summary, 65_535, None, true);
        let both = format!("{head}{list}");
        if summary.notable().next().is_some() {
            for class in ActionClass::ALL {
                let n = summary.counts.get(class);
                let row = format!("`{}` | {n} |", class.as_str());
                assert_eq!(both.contains(&row), n > 0, "{name}: {class:?}\n{both}");
            }
        } else {
            let unchanged = format!("({} resources unchanged)", summary.counts.no_op);
            assert!(both.contains(&unchanged), "{name}: {both}");
            assert!(!both.contains("| Action |"), "{name}");
        }
        assert!(
            both.contains(&format!("**{}**", summary.plan_line)),
            "{name}"
        );
        for secret in SECRETS {
            assert!(!both.contains(secret), "{name} shows a secret");
        }
        insta::assert_snapshot!(format!("plan_{name}"), both);
    }
}

#[test]
fn the_infracost_fixture_shows_before_after_and_delta() {
    let cost = CostEstimate::from_json(&fixture("infracost-diff.json")).expect("parses");
    let request = s::plan_ready();
    let (p, lock) = (s::small_plan(), s::lock());
    let body = sticky_comment(&s::input(&request, &p, &cost, &lock));
    let line = body
        .lines()
        .find(|l| l.starts_with("- **Monthly cost:**"))
        .expect("cost line");
    insta::assert_snapshot!("cost_line_infracost_fixture", line);
    assert!(line.contains("\\$9.00 → \\$26.00 (+\\$17.00)"), "{line}");
    // One of its projects reported an error.
    assert!(line.contains("may be incomplete"));
}
