//! tfpilot's own workflow templates run in the simulator: inputs, run names and
//! concurrency groups behave as GitHub Actions applies them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tfpilot::sim::{RepoSpec, SimConfig, Simulator, WorkflowMode};

const REPO: &str = "acme/infra";

fn template(name: &str) -> String {
    let path = format!("{}/templates/workflows/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn start(config: SimConfig) -> Simulator {
    let sim = Simulator::start(config).await.unwrap();
    let mut spec = RepoSpec::new(REPO).file("README.md", "# infra\n");
    for f in [
        "tfpilot-plan.yml",
        "tfpilot-apply.yml",
        "tfpilot-destroy.yml",
    ] {
        spec = spec.file(&format!(".github/workflows/{f}"), &template(f));
    }
    spec = spec.file(
        ".github/workflows/single.yml",
        "name: single\non:\n  workflow_dispatch:\n    inputs:\n      n:\n        required: true\nconcurrency: one-at-a-time\njobs:\n  a:\n    runs-on: ubuntu-latest\n",
    );
    sim.create_repo(spec).unwrap();
    sim
}

async fn dispatch(sim: &Simulator, workflow: &str, inputs: Value) -> u64 {
    let resp = reqwest::Client::new()
        .post(format!(
            "{}/repos/{REPO}/actions/workflows/{workflow}/dispatches",
            sim.base_url()
        ))
        .header(
            "authorization",
            format!("token {}", sim.installation_token()),
        )
        .json(&json!({"ref": "main", "inputs": inputs, "return_run_details": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
    resp.json::<Value>().await.unwrap()["workflow_run_id"]
        .as_u64()
        .unwrap()
}

fn apply_inputs(request: &str, env: &str, nonce: &str) -> Value {
    json!({"request_id": request, "environment": env, "directory": format!("envs/{env}"), "nonce": nonce,
           "commit_sha": "0".repeat(40), "expected_fingerprint": "f"})
}

fn statuses(sim: &Simulator) -> BTreeMap<u64, (String, Option<String>)> {
    sim.workflow_runs(REPO)
        .into_iter()
        .map(|r| (r.id, (r.status, r.conclusion)))
        .collect()
}

#[tokio::test]
async fn applies_in_one_environment_queue_and_all_run_in_order() {
    let sim = start(SimConfig::for_tests()).await;
    let a = dispatch(
        &sim,
        "tfpilot-apply.yml",
        apply_inputs("req_dev_s3_aaaaaa", "dev", "n1"),
    )
    .await;
    let b = dispatch(
        &sim,
        "tfpilot-apply.yml",
        apply_inputs("req_dev_s3_bbbbbb", "dev", "n2"),
    )
    .await;
    let c = dispatch(
        &sim,
        "tfpilot-apply.yml",
        apply_inputs("req_dev_s3_cccccc", "dev", "n3"),
    )
    .await;
    let other_env = dispatch(
        &sim,
        "tfpilot-apply.yml",
        apply_inputs("req_prd_s3_dddddd", "prd", "n4"),
    )
    .await;
    let runs = sim.workflow_runs(REPO);
    assert_eq!(runs[0].display_title, "tfpilot apply req_dev_s3_aaaaaa n1");
    let s = statuses(&sim);
    assert_eq!(s[&a].0, "queued");
    assert_eq!(
        (s[&b].0.as_str(), s[&c].0.as_str()),
        ("pending", "pending"),
        "queue: max keeps both waiting"
    );
    assert_eq!(
        s[&other_env].0, "queued",
        "another environment is another group"
    );

    // one at a time, first come first served
    let mut order = Vec::new();
    for _ in 0..12 {
        sim.advance_workflows();
        for r in sim.workflow_runs(REPO) {
            if r.status == "completed" && !order.contains(&r.id) {
                order.push(r.id);
            }
        }
        let running_dev = sim
            .workflow_runs(REPO)
            .iter()
            .filter(|r| r.inputs["environment"] == "dev" && r.status == "in_progress")
            .count();
        assert!(running_dev <= 1, "never two applies in dev at once");
    }
    let dev_order: Vec<u64> = order
        .iter()
        .copied()
        .filter(|id| *id != other_env)
        .collect();
    assert_eq!(dev_order, vec![a, b, c]);
    assert!(
        statuses(&sim)
            .values()
            .all(|(st, c)| st == "completed" && c.as_deref() == Some("success"))
    );
}

#[tokio::test]
async fn without_queue_max_a_newer_pending_run_cancels_the_older_one() {
    let sim = start(SimConfig::for_tests()).await;
    let a = dispatch(&sim, "single.yml", json!({"n": "1"})).await;
    let b = dispatch(&sim, "single.yml", json!({"n": "2"})).await;
    let c = dispatch(&sim, "single.yml", json!({"n": "3"})).await;
    let s = statuses(&sim);
    assert_eq!(s[&a].0, "queued");
    assert_eq!(
        s[&b],
        ("completed".to_string(), Some("cancelled".to_string())),
        "GitHub's default loses b"
    );
    assert_eq!(s[&c].0, "pending");
    assert!(sim.complete_run(c).is_err(), "c waits for a");
    sim.complete_run(a).unwrap();
    sim.complete_run(c).unwrap();
    assert_eq!(statuses(&sim)[&c].1.as_deref(), Some("success"));
}

#[tokio::test]
async fn a_new_plan_for_the_same_request_cancels_the_running_one() {
    let sim = start(SimConfig::for_tests()).await;
    let inputs = |nonce: &str| json!({"request_id": "req_dev_s3_aaaaaa", "environment": "dev", "directory": "envs/dev", "nonce": nonce});
    let first = dispatch(&sim, "tfpilot-plan.yml", inputs("n1")).await;
    sim.advance_workflows();
    assert_eq!(statuses(&sim)[&first].0, "in_progress");
    let second = dispatch(&sim, "tfpilot-plan.yml", inputs("n2")).await;
    let other = dispatch(
        &sim,
        "tfpilot-plan.yml",
        json!({"request_id": "req_dev_s3_bbbbbb", "environment": "dev", "directory": "envs/dev", "nonce": "n3"}),
    )
    .await;
    let s = statuses(&sim);
    assert_eq!(
        s[&first],
        ("completed".to_string(), Some("cancelled".to_string()))
    );
    assert_eq!(
        (s[&second].0.as_str(), s[&other].0.as_str()),
        ("queued", "queued")
    );
    sim.quiesce().await.unwrap();
    let cancelled = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.event == "workflow_run" && d.action.as_deref() == Some("completed"))
        .map(|d| d.payload["workflow_run"]["conclusion"].clone())
        .collect::<Vec<_>>();
    assert_eq!(cancelled, vec![json!("cancelled")]);
}

#[tokio::test]
async fn automatic_mode_drains_a_queued_group() {
    let mut config = SimConfig::for_tests();
    config.workflow_mode = WorkflowMode::Auto {
        queued: Duration::from_millis(5),
        running: Duration::from_millis(20),
    };
    let sim = start(config).await;
    for (i, nonce) in ["n1", "n2", "n3"].iter().enumerate() {
        dispatch(&sim, "tfpilot-destroy.yml", json!({"request_id": format!("req_dev_s3_00000{i}"), "environment": "dev", "directory": "envs/dev", "nonce": nonce})).await;
    }
    sim.quiesce().await.unwrap();
    let runs = sim.workflow_runs(REPO);
    assert!(
        runs.iter()
            .all(|r| r.conclusion.as_deref() == Some("success")),
        "{runs:?}"
    );
    // strictly one after the other: each run completes before the next starts
    let steps: Vec<(String, u64)> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.event == "workflow_run" && d.action.as_deref() != Some("requested"))
        .map(|d| {
            (
                d.action.unwrap_or_default(),
                d.payload["workflow_run"]["id"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, u64)> = runs
        .iter()
        .flat_map(|r| {
            [
                ("in_progress".to_string(), r.id),
                ("completed".to_string(), r.id),
            ]
        })
        .collect();
    assert_eq!(steps, expected);
}

#[tokio::test]
async fn people_cancel_and_rerun_runs_from_the_actions_page() {
    let sim = start(SimConfig::for_tests()).await;
    let inputs = json!({"request_id": "req_dev_s3_aaaaaa", "environment": "dev", "directory": "envs/dev", "nonce": "n1"});
    let run = dispatch(&sim, "tfpilot-plan.yml", inputs).await;
    assert_eq!(
        sim.advance_run(run).unwrap().as_deref(),
        Some("in_progress")
    );
    sim.cancel_run(run).unwrap();
    assert!(
        sim.cancel_run(run).is_err(),
        "a completed run cannot be cancelled"
    );
    assert_eq!(statuses(&sim)[&run].1.as_deref(), Some("cancelled"));
    sim.rerun_workflow(run).unwrap();
    let r = &sim.workflow_runs(REPO)[0];
    assert_eq!((r.id, r.run_attempt, r.status.as_str()), (run, 2, "queued"));
    sim.complete_run(run).unwrap();
    sim.quiesce().await.unwrap();
    let attempts: Vec<(String, u64)> = sim
        .deliveries()
        .into_iter()
        .filter(|d| d.event == "workflow_run")
        .map(|d| {
            (
                d.action.unwrap_or_default(),
                d.payload["workflow_run"]["run_attempt"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        vec![
            ("requested".into(), 1),
            ("in_progress".into(), 1),
            ("completed".into(), 1),
            ("requested".into(), 2),
            ("in_progress".into(), 2),
            ("completed".into(), 2),
        ]
    );
}
