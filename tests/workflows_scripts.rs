//! The shell steps of the workflow templates, run for real with bash against a fake
//! `terraform` on PATH: request-id validation agrees with the app, the plan targets the
//! request's module, apply refuses a changed plan, drift writes `drift.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tfpilot::core::contract::{
    self, APPLY, ApplyFingerprint, DRIFT_PLAN, DriftResult, PLAN, WORKFLOWS, WorkflowContract,
};

fn step_script(workflow: &WorkflowContract, id: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("templates/workflows")
        .join(workflow.file);
    let text = std::fs::read_to_string(path).expect("template");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("yaml");
    doc["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| job["steps"].as_array().expect("steps").iter())
        .find(|s| s["id"] == id)
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("{}: no step {id}", workflow.file))
        .to_owned()
}

fn tools_present() -> bool {
    let ok = |cmd: &str| {
        Command::new(cmd)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let present = ok("bash") && ok("python3");
    if !present {
        eprintln!("SKIP: bash or python3 not found; the workflow step scripts were not run");
    }
    present
}

/// A runner-like sandbox: RUNNER_TEMP, GITHUB_OUTPUT, a workspace and a fake terraform.
struct Runner {
    dir: tempfile::TempDir,
}

const FAKE_TERRAFORM: &str = r#"#!/usr/bin/env bash
printf '%s\n' "$*" >> "$FAKE_TF_LOG"
for arg in "$@"; do
  case "$arg" in
    plan)
      printf '%s\n' "${FAKE_PLAN_OUTPUT:-No changes.}"
      exit "${FAKE_PLAN_RC:-0}"
      ;;
    show)
      printf '{"format_version":"1.2","resource_changes":[]}\n'
      exit 0
      ;;
    apply)
      printf 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed.\n'
      exit 0
      ;;
  esac
done
exit 0
"#;

impl Runner {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin");
        std::fs::create_dir_all(dir.path().join("temp")).expect("temp");
        std::fs::create_dir_all(dir.path().join("workspace")).expect("workspace");
        let tf = bin.join("terraform");
        std::fs::write(&tf, FAKE_TERRAFORM).expect("fake terraform");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tf, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        std::fs::write(dir.path().join("output"), "").expect("GITHUB_OUTPUT");
        Runner { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn run(&self, script: &str, env: &[(&str, &str)]) -> Output {
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .current_dir(self.path("workspace"))
            .env("PATH", path)
            .env("RUNNER_TEMP", self.path("temp"))
            .env("GITHUB_WORKSPACE", self.path("workspace"))
            .env("GITHUB_OUTPUT", self.path("output"))
            .env("FAKE_TF_LOG", self.path("terraform.log"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("bash runs")
    }

    fn outputs(&self) -> String {
        std::fs::read_to_string(self.path("output")).expect("outputs")
    }

    fn terraform_calls(&self) -> String {
        std::fs::read_to_string(self.path("terraform.log")).unwrap_or_default()
    }

    fn artifact_file(&self, workflow: &WorkflowContract, file: &str) -> PathBuf {
        self.path("temp").join(workflow.artifact.name).join(file)
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn bash_validation_accepts_exactly_the_ids_the_app_accepts() {
    if !tools_present() {
        return;
    }
    let long_module = "m".repeat(50);
    let too_long = format!("req_dev_{long_module}_a1b2c3");
    let candidates = [
        "req_dev_s3-bucket_a1b2c3",
        "req_prod-eu_vpc_000000",
        "req_dev_s3-bucket_a1b2c",
        "req_dev_s3-bucket_A1B2C3",
        "req_dev__a1b2c3",
        "req_-dev_vpc_a1b2c3",
        "req_dev_vpc-_a1b2c3",
        "req_d_v--pc_a1b2c3",
        "req_dev_s3_bucket_a1b2c3",
        "req_dev_vpc_a1b2c3 ",
        "req_dev_vpc_a1b2c3\nreq_dev_vpc_a1b2c3",
        "req_dev_$(touch pwned)_a1b2c3",
        "req_dev_vpc_a1b2c3;id",
        "",
        too_long.as_str(),
    ];
    for workflow in WORKFLOWS {
        let script = step_script(workflow, "request");
        for id in candidates {
            let runner = Runner::new();
            let out = runner.run(&script, &[("REQUEST_ID", id), ("ENVIRONMENT", "dev")]);
            assert_eq!(
                out.status.success(),
                contract::is_valid_request_id(id),
                "{}: {id:?}\n{}",
                workflow.file,
                stdout(&out)
            );
            assert!(!runner.path("workspace/pwned").exists());
            if out.status.success() {
                assert_eq!(
                    runner.outputs(),
                    format!("module={}\ndir=envs/dev\n", contract::target_module(id))
                );
            } else {
                // The rejected value is never echoed into the log (workflow-command injection).
                assert!(stdout(&out).contains("tfpilot: invalid request id"));
                assert!(id.is_empty() || !stdout(&out).contains(id));
            }
        }
    }
}

#[test]
fn bash_validation_rejects_environment_names_that_escape_the_folder() {
    if !tools_present() {
        return;
    }
    let script = step_script(&PLAN, "request");
    for (env, ok) in [
        ("dev", true),
        ("prod-eu", true),
        ("../prod", false),
        ("dev/x", false),
        ("", false),
    ] {
        let out = Runner::new().run(
            &script,
            &[("REQUEST_ID", "req_dev_vpc_a1b2c3"), ("ENVIRONMENT", env)],
        );
        assert_eq!(out.status.success(), ok, "{env:?}");
    }
}

#[test]
fn plan_targets_the_request_module_without_taking_the_lock() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    let out = runner.run(
        &step_script(&PLAN, "plan"),
        &[
            ("TF_DIR", "envs/dev"),
            ("MODULE", "tfpilot_req_dev_s3_bucket_a1b2c3"),
            (
                "FAKE_PLAN_OUTPUT",
                "Plan: 1 to add, 0 to change, 0 to destroy.",
            ),
        ],
    );
    assert!(out.status.success(), "{}", stdout(&out));
    let calls = runner.terraform_calls();
    let plan_call = calls.lines().next().expect("plan call");
    assert!(plan_call.starts_with("-chdir=envs/dev plan "));
    assert!(plan_call.contains(" -lock=false "));
    assert!(plan_call.contains(" -target=module.tfpilot_req_dev_s3_bucket_a1b2c3 "));
    let text = std::fs::read_to_string(runner.artifact_file(&PLAN, contract::files::PLAN_TXT))
        .expect("plan.txt");
    assert!(text.contains("Plan: 1 to add"));
    let json = std::fs::read_to_string(runner.artifact_file(&PLAN, contract::files::PLAN_JSON))
        .expect("plan.json");
    assert!(json.contains("format_version"));
}

#[test]
fn a_failing_plan_fails_the_step_and_keeps_its_output() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    let out = runner.run(
        &step_script(&PLAN, "plan"),
        &[
            ("TF_DIR", "envs/dev"),
            ("MODULE", "tfpilot_req_dev_vpc_a1b2c3"),
            ("FAKE_PLAN_OUTPUT", "Error: Unsupported argument"),
            ("FAKE_PLAN_RC", "1"),
        ],
    );
    assert!(!out.status.success());
    let text = std::fs::read_to_string(runner.artifact_file(&PLAN, contract::files::PLAN_TXT))
        .expect("plan.txt");
    assert!(text.contains("Error: Unsupported argument"));
}

/// Installs a stand-in for `.github/tfpilot/fingerprint.py` that derives the fingerprint
/// from its arguments, so the test also sees what the workflow passes it.
fn install_fingerprint_script(runner: &Runner) {
    let script = runner
        .path("workspace")
        .join(contract::FINGERPRINT_SCRIPT_PATH);
    std::fs::create_dir_all(script.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &script,
        "import os, sys\nassert os.path.isfile(sys.argv[1])\nprint('fp-' + sys.argv[2])\n",
    )
    .expect("script");
}

fn plan_then_fingerprint(runner: &Runner, expected: &str) -> Output {
    let module = "tfpilot_req_dev_vpc_a1b2c3";
    let env = [
        ("TF_DIR", "envs/dev"),
        ("MODULE", module),
        ("EXPECTED_FINGERPRINT", expected),
    ];
    let plan = runner.run(&step_script(&APPLY, "plan"), &env);
    assert!(plan.status.success(), "{}", stdout(&plan));
    assert!(
        runner
            .terraform_calls()
            .contains(" -target=module.tfpilot_req_dev_vpc_a1b2c3 ")
    );
    assert!(!runner.terraform_calls().contains("-lock=false"));
    runner.run(&step_script(&APPLY, contract::FINGERPRINT_STEP_ID), &env)
}

fn fingerprint_json(runner: &Runner) -> ApplyFingerprint {
    let text =
        std::fs::read_to_string(runner.artifact_file(&APPLY, contract::files::FINGERPRINT_JSON))
            .expect("fingerprint.json");
    serde_json::from_str(&text).expect("fingerprint.json parses")
}

#[test]
fn apply_goes_ahead_when_the_fingerprint_matches() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    install_fingerprint_script(&runner);
    let out = plan_then_fingerprint(&runner, "fp-tfpilot_req_dev_vpc_a1b2c3");
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        fingerprint_json(&runner),
        ApplyFingerprint {
            expected: "fp-tfpilot_req_dev_vpc_a1b2c3".into(),
            actual: "fp-tfpilot_req_dev_vpc_a1b2c3".into(),
            matched: true,
        }
    );
    let applied = runner.run(&step_script(&APPLY, "apply"), &[("TF_DIR", "envs/dev")]);
    assert!(applied.status.success());
    let last = runner.terraform_calls();
    let apply_call = last.lines().last().expect("apply call");
    assert!(apply_call.contains(" apply "));
    assert!(apply_call.ends_with("/tfplan.binary"), "{apply_call}");
}

#[test]
fn apply_stops_with_a_distinct_message_when_the_plan_changed() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    install_fingerprint_script(&runner);
    let out = plan_then_fingerprint(&runner, "fp-reviewed-long-ago");
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains(&format!(
            "::error title=tfpilot::{}",
            contract::PLAN_CHANGED_MESSAGE
        )),
        "{}",
        stdout(&out)
    );
    let fp = fingerprint_json(&runner);
    assert!(!fp.matched);
    assert_eq!(fp.expected, "fp-reviewed-long-ago");
    assert_eq!(fp.actual, "fp-tfpilot_req_dev_vpc_a1b2c3");
    // The new plan is in the artifact folder for tfpilot to show.
    assert!(
        runner
            .artifact_file(&APPLY, contract::files::PLAN_JSON)
            .exists()
    );
}

#[test]
fn apply_refuses_without_the_fingerprint_script() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    let out = plan_then_fingerprint(&runner, "fp-x");
    assert!(!out.status.success());
    assert!(stdout(&out).contains("fingerprint.py is missing"));
}

#[test]
fn default_branch_workflows_refuse_other_branches() {
    if !tools_present() {
        return;
    }
    for workflow in WORKFLOWS.into_iter().filter(|w| w.runs_from_default_branch) {
        let script = step_script_by_name(workflow, "Check the branch");
        for (git_ref, ok) in [
            ("refs/heads/main", true),
            ("refs/heads/request/req_dev_vpc_a1b2c3", false),
            ("refs/tags/main", false),
        ] {
            let out = Runner::new().run(
                &script,
                &[("GITHUB_REF", git_ref), ("DEFAULT_BRANCH", "main")],
            );
            assert_eq!(out.status.success(), ok, "{}: {git_ref}", workflow.file);
        }
    }
}

fn drift(runner: &Runner, output: &str, rc: &str) -> Output {
    runner.run(
        &step_script(&DRIFT_PLAN, "drift"),
        &[
            ("TF_DIR", "envs/dev"),
            ("MODULE", "tfpilot_req_dev_vpc_a1b2c3"),
            ("FAKE_PLAN_OUTPUT", output),
            ("FAKE_PLAN_RC", rc),
        ],
    )
}

fn drift_json(runner: &Runner) -> Option<DriftResult> {
    let path = runner.artifact_file(&DRIFT_PLAN, contract::files::DRIFT_JSON);
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).expect("drift.json parses"))
}

#[test]
fn drift_reports_changes_from_the_detailed_exit_code() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    let out = drift(
        &runner,
        "  ~ update in-place\n\nPlan: 0 to add, 1 to change, 0 to destroy.",
        "2",
    );
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(
        drift_json(&runner),
        Some(DriftResult {
            has_drift: true,
            summary: "Plan: 0 to add, 1 to change, 0 to destroy.".into()
        })
    );
    assert!(runner.outputs().contains("has_drift=true"));
    assert!(runner.terraform_calls().contains("-detailed-exitcode"));

    let clean = Runner::new();
    let out = drift(
        &clean,
        "No changes. Your infrastructure matches the configuration.",
        "0",
    );
    assert!(out.status.success());
    let result = drift_json(&clean).expect("drift.json");
    assert!(!result.has_drift);
    assert!(result.summary.starts_with("No changes."));
}

#[test]
fn drift_summary_survives_quotes_and_a_failed_plan_writes_no_result() {
    if !tools_present() {
        return;
    }
    let runner = Runner::new();
    let out = drift(&runner, "odd \"quoted\" output $(x) `y`", "2");
    assert!(out.status.success());
    let result = drift_json(&runner).expect("drift.json");
    assert!(result.has_drift);
    assert_eq!(result.summary, "Changes detected.");

    let failed = Runner::new();
    let out = drift(&failed, "Error: No valid credential sources found", "1");
    assert!(!out.status.success());
    assert!(stdout(&out).contains("drift plan failed"));
    assert_eq!(drift_json(&failed), None);
}

#[test]
fn init_step_defaults_the_state_key_per_environment_and_uses_the_variables() {
    if !tools_present() {
        return;
    }
    for workflow in WORKFLOWS {
        let script = step_script_by_name(workflow, "Terraform init");
        let runner = Runner::new();
        let out = runner.run(
            &script,
            &[
                ("TF_DIR", "envs/prod"),
                ("ENVIRONMENT", "prod"),
                ("STATE_BUCKET", "state-bucket-from-var"),
                ("STATE_KEY", ""),
                ("STATE_REGION", "region-from-var"),
                ("STATE_LOCK_TABLE", ""),
            ],
        );
        assert!(out.status.success(), "{}", stdout(&out));
        let call = runner.terraform_calls();
        for part in [
            "-chdir=envs/prod init -input=false",
            "-backend-config=bucket=state-bucket-from-var",
            "-backend-config=key=prod/terraform.tfstate",
            "-backend-config=region=region-from-var",
            "-backend-config=use_lockfile=true",
        ] {
            assert!(call.contains(part), "{}: {part} in {call}", workflow.file);
        }
    }
}

fn step_script_by_name(workflow: &WorkflowContract, name: &str) -> String {
    let path: &Path = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path.join("templates/workflows").join(workflow.file))
        .expect("template");
    let doc: Value = serde_yaml_ng::from_str(&text).expect("yaml");
    doc["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| job["steps"].as_array().expect("steps").iter())
        .find(|s| s["name"] == name)
        .and_then(|s| s["run"].as_str())
        .unwrap_or_else(|| panic!("{}: no step {name}", workflow.file))
        .to_owned()
}
