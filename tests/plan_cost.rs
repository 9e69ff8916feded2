//! Infracost cost reading on a committed sample (written for tfpilot) and on
//! the shared Infracost golden files (`../shared/fixtures/terraform/infracost`
//! or `$TFPILOT_SHARED/...`, compared with their `*.expected.json`).

use std::path::{Path, PathBuf};

use serde_json::Value;
use tfpilot::core::cost::{Amount, CostEstimate, Direction, TotalsSource};

fn committed(name: &str) -> CostEstimate {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/plans")
        .join(name);
    CostEstimate::from_json(&std::fs::read_to_string(path).expect("read")).expect("parse")
}

fn amt(s: &str) -> Option<Amount> {
    Some(Amount::parse(s).expect("amount"))
}

#[test]
fn committed_sample_keeps_every_digit() {
    let c = committed("infracost-diff.json");
    assert_eq!(c.currency, "USD");
    assert_eq!(c.source, TotalsSource::TopLevel);
    assert_eq!(c.before, amt("9"));
    // 22 significant digits: an f64 would read 26 and 17.
    assert_eq!(
        c.after.map(|a| a.to_string()).as_deref(),
        Some("26.0000000000000000005")
    );
    assert_eq!(
        c.delta.map(|a| a.to_string()).as_deref(),
        Some("17.0000000000000000005")
    );
    assert_eq!(c.delta.map(|d| d.to_fixed(2)).as_deref(), Some("17.00"));
    assert_eq!(c.direction(), Some(Direction::Increase));
    assert!(c.has_errors());
    assert_eq!(c.projects[1].errors[0].code, Some(102));
}

#[test]
fn committed_old_shape_sums_the_projects() {
    let c = committed("infracost-diff.old-shape.json");
    assert_eq!(c.source, TotalsSource::SummedProjects);
    assert_eq!(c.before, amt("9"));
    assert_eq!(c.after, amt("26.0000000000000000005"));
    assert_eq!(c.delta, amt("17.0000000000000000005"));
}

fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TFPILOT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("fixtures/terraform/infracost");
    dir.is_dir().then_some(dir)
}

fn exp_amount(v: &Value) -> Option<Amount> {
    v.as_str()
        .map(|s| Amount::parse(s).expect("expected amount parses"))
}

#[test]
fn shared_infracost_files_match_their_expected_values() {
    let Some(dir) = shared_dir() else {
        eprintln!("SKIP: ../shared not present; shared Infracost fixtures not checked");
        return;
    };
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("dir").filter_map(Result::ok) {
        let path = entry.path();
        let name = path.to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".infracost.json") else {
            continue;
        };
        let exp: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{stem}.expected.json")).expect("expected"),
        )
        .expect("json");
        let c =
            CostEstimate::from_json(&std::fs::read_to_string(&path).expect("read")).expect("parse");
        assert_eq!(
            Some(c.currency.as_str()),
            exp["currency"].as_str(),
            "{name}"
        );
        // Present top-level keys are used verbatim; absent ones fall back to project sums.
        for (key, got) in [("past", c.before), ("total", c.after), ("diff", c.delta)] {
            let want = if exp["present"][key] == Value::Bool(true) {
                exp_amount(&exp[key])
            } else {
                exp_amount(&exp["derived_from_projects"][key])
            };
            assert_eq!(got, want, "{name}: {key}");
            assert_eq!(
                c.projects
                    .iter()
                    .filter_map(|p| match key {
                        "past" => p.before,
                        "total" => p.after,
                        _ => p.delta,
                    })
                    .try_fold(Amount::ZERO, Amount::checked_add),
                exp_amount(&exp["derived_from_projects"][key]).or(Some(Amount::ZERO)),
                "{name}: sum of projects {key}"
            );
        }
        let direction = c.direction().map(|d| match d {
            Direction::Increase => "increase",
            Direction::Decrease => "decrease",
            Direction::Unchanged => "unchanged",
        });
        assert_eq!(direction, exp["direction"].as_str(), "{name}: direction");
        let projects = exp["projects"].as_array().expect("projects");
        assert_eq!(c.projects.len(), projects.len(), "{name}");
        for (got, want) in c.projects.iter().zip(projects) {
            assert_eq!(Some(got.name.as_str()), want["name"].as_str(), "{name}");
            assert_eq!(got.before, exp_amount(&want["past"]), "{name}");
            assert_eq!(got.after, exp_amount(&want["total"]), "{name}");
            assert_eq!(got.delta, exp_amount(&want["diff"]), "{name}");
            let codes: Vec<Value> = got
                .errors
                .iter()
                .map(|e| e.code.map(Value::from).unwrap_or(Value::Null))
                .collect();
            assert_eq!(Value::Array(codes), want["error_codes"], "{name}");
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "all 4 shared Infracost files");
}
