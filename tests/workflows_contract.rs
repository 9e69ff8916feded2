//! The workflow templates agree with `core::contract`: inputs, run names, artifact names,
//! the files inside artifacts, the request-id rule, pinning, permissions and concurrency.

use std::collections::BTreeSet;
use std::path::PathBuf;

use regex::Regex;
use serde_json::Value;
use tfpilot::core::contract::{
    self, APPLY, DESTROY, DRIFT_PLAN, PLAN, WORKFLOWS, WorkflowContract,
};

fn template_path(workflow: &WorkflowContract) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("templates/workflows")
        .join(workflow.file)
}

fn raw(workflow: &WorkflowContract) -> String {
    std::fs::read_to_string(template_path(workflow))
        .unwrap_or_else(|e| panic!("{}: {e}", workflow.file))
}

fn parsed(workflow: &WorkflowContract) -> Value {
    serde_yaml_ng::from_str(&raw(workflow)).unwrap_or_else(|e| panic!("{}: {e}", workflow.file))
}

/// Every step of every job, in order.
fn steps(doc: &Value) -> Vec<&Value> {
    doc["jobs"]
        .as_object()
        .expect("jobs")
        .values()
        .flat_map(|job| job["steps"].as_array().expect("steps").iter())
        .collect()
}

fn step_by_id<'a>(doc: &'a Value, id: &str) -> &'a Value {
    steps(doc)
        .into_iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step with id {id}"))
}

fn scripts(doc: &Value) -> Vec<&str> {
    steps(doc)
        .into_iter()
        .filter_map(|s| s["run"].as_str())
        .collect()
}

#[test]
fn the_installed_files_are_the_contract_files() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("templates/workflows");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("templates/workflows")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let in_contract: BTreeSet<String> = WORKFLOWS.iter().map(|w| w.file.to_owned()).collect();
    assert_eq!(on_disk, in_contract);
}

#[test]
fn names_and_run_names_match_the_contract() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        assert_eq!(doc["name"], workflow.name, "{}", workflow.file);
        let run_name = doc["run-name"].as_str().expect("run-name");
        assert_eq!(
            run_name,
            format!(
                "{} ${{{{ inputs.{} }}}} ${{{{ inputs.{} }}}}",
                workflow.name,
                contract::inputs::REQUEST_ID,
                contract::inputs::NONCE
            ),
            "{}",
            workflow.file
        );
        // What GitHub would show, filled in, is what the app parses.
        let shown = run_name
            .replace("${{ inputs.request_id }}", "req_dev_vpc_a1b2c3")
            .replace("${{ inputs.nonce }}", "n1");
        let parts = contract::parse_run_name(&shown).expect("parses");
        assert_eq!(parts.workflow, workflow);
        assert_eq!(parts.request_id, "req_dev_vpc_a1b2c3");
    }
}

#[test]
fn inputs_match_the_contract_and_are_required_strings() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        let on = doc["on"].as_object().expect("on");
        assert_eq!(
            on.keys().collect::<Vec<_>>(),
            ["workflow_dispatch"],
            "{}: only dispatched by tfpilot",
            workflow.file
        );
        let inputs = doc["on"]["workflow_dispatch"]["inputs"]
            .as_object()
            .expect("inputs");
        let names: BTreeSet<&str> = inputs.keys().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = workflow.inputs.iter().copied().collect();
        assert_eq!(names, wanted, "{}", workflow.file);
        for (name, input) in inputs {
            assert_eq!(input["required"], true, "{}: {name}", workflow.file);
            assert_eq!(input["type"], "string", "{}: {name}", workflow.file);
        }
    }
}

#[test]
fn each_workflow_uploads_its_one_artifact_with_the_contract_files() {
    let written = Regex::new(r#"\$\{out\}/([A-Za-z0-9._-]+)"#).expect("regex");
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        let uploads: Vec<&Value> = steps(&doc)
            .into_iter()
            .filter(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("actions/upload-artifact@"))
            })
            .collect();
        assert_eq!(uploads.len(), 1, "{}: one artifact", workflow.file);
        let with = &uploads[0]["with"];
        assert_eq!(with["name"], workflow.artifact.name, "{}", workflow.file);
        assert_eq!(
            with["path"],
            format!("${{{{ runner.temp }}}}/{}", workflow.artifact.name),
            "{}",
            workflow.file
        );
        let mut files = BTreeSet::new();
        for script in scripts(&doc) {
            if script.contains("${out}") {
                assert!(
                    script.contains(&format!(
                        "out=\"${{RUNNER_TEMP}}/{}\"",
                        workflow.artifact.name
                    )),
                    "{}: a script writes outside the artifact folder",
                    workflow.file
                );
            }
            files.extend(written.captures_iter(script).map(|c| c[1].to_owned()));
        }
        let wanted: BTreeSet<String> = workflow
            .artifact
            .files
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        assert_eq!(files, wanted, "{}", workflow.file);
    }
}

#[test]
fn every_template_validates_the_request_id_with_the_app_rule() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        let script = step_by_id(&doc, "request")["run"].as_str().expect("run");
        assert!(
            script.contains(&format!(
                "request_id_pattern='{}'",
                contract::REQUEST_ID_PATTERN
            )),
            "{}: request id pattern differs from contract.rs",
            workflow.file
        );
        assert!(
            script.contains(&format!(
                "\"${{#REQUEST_ID}}\" -gt {}",
                contract::REQUEST_ID_MAX_LEN
            )),
            "{}: request id length limit differs",
            workflow.file
        );
        assert!(
            script.contains(&format!(
                "environment_pattern='{}'",
                contract::ENVIRONMENT_PATTERN
            )),
            "{}",
            workflow.file
        );
        assert!(
            script.contains(&format!(
                "directory_pattern='{}'",
                contract::DIRECTORY_PATTERN
            )) && script.contains(&format!(
                "\"${{#DIRECTORY}}\" -gt {}",
                contract::DIRECTORY_MAX_LEN
            )),
            "{}: directory rule differs from contract.rs",
            workflow.file
        );
        // The validation comes before anything else touches the values.
        assert_eq!(steps(&doc)[0]["id"], "request", "{}", workflow.file);
    }
    let apply = parsed(&APPLY);
    let script = step_by_id(&apply, "apply_inputs")["run"]
        .as_str()
        .expect("run");
    assert!(script.contains(&format!("=~ {} ]]", contract::COMMIT_SHA_PATTERN)));
    assert!(script.contains(&format!("=~ {} ]]", contract::FINGERPRINT_PATTERN)));
}

#[test]
fn values_reach_scripts_only_through_env() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        for script in scripts(&doc) {
            assert!(
                !script.contains("${{"),
                "{}: expression inside run:\n{script}",
                workflow.file
            );
        }
        let job_env = doc["jobs"]
            .as_object()
            .expect("jobs")
            .values()
            .next()
            .expect("a job")["env"]
            .clone();
        assert_eq!(job_env["REQUEST_ID"], "${{ inputs.request_id }}");
        assert_eq!(job_env["ENVIRONMENT"], "${{ inputs.environment }}");
    }
}

#[test]
fn every_action_is_pinned_to_a_commit_with_its_version() {
    let uses_line = Regex::new(r"^\s*(?:-\s+)?uses:\s*(.*)$").expect("regex");
    let pinned = Regex::new(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
        .expect("regex");
    for workflow in WORKFLOWS {
        let text = raw(workflow);
        let mut count = 0;
        for line in text.lines() {
            if let Some(c) = uses_line.captures(line) {
                count += 1;
                assert!(
                    pinned.is_match(&c[1]),
                    "{}: not pinned to a SHA with a version comment: {line}",
                    workflow.file
                );
            }
        }
        assert!(count >= 4, "{}", workflow.file);
    }
}

#[test]
fn permissions_are_minimal() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        assert_eq!(
            doc["permissions"],
            serde_json::json!({}),
            "{}: no default grant",
            workflow.file
        );
        for (job_name, job) in doc["jobs"].as_object().expect("jobs") {
            let perms = job["permissions"].as_object().expect("job permissions");
            let expected = serde_json::json!({"contents": "read", "id-token": "write"});
            assert_eq!(
                Value::Object(perms.clone()),
                expected,
                "{}: job {job_name}",
                workflow.file
            );
        }
        // Cloud identity comes from OIDC with the role and region in variables.
        let aws = steps(&doc)
            .into_iter()
            .find(|s| {
                s["uses"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("aws-actions/configure-aws-credentials@"))
            })
            .expect("configure-aws-credentials");
        assert_eq!(
            aws["with"]["role-to-assume"],
            "${{ vars.TFPILOT_AWS_ROLE_ARN }}"
        );
        assert_eq!(aws["with"]["aws-region"], "${{ vars.TFPILOT_AWS_REGION }}");
        // Checkout never leaves the token on disk.
        for step in steps(&doc) {
            if step["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
            {
                assert_eq!(step["with"]["persist-credentials"], false);
            }
        }
    }
}

#[test]
fn apply_and_destroy_share_a_per_environment_group_that_never_cancels() {
    let apply = parsed(&APPLY)["concurrency"].clone();
    let destroy = parsed(&DESTROY)["concurrency"].clone();
    assert_eq!(apply, destroy);
    assert!(
        apply["group"]
            .as_str()
            .expect("group")
            .contains("${{ inputs.environment }}")
    );
    assert!(
        !apply["group"]
            .as_str()
            .expect("group")
            .contains("request_id")
    );
    assert_eq!(apply["cancel-in-progress"], false);
    assert_eq!(apply["queue"], "max");
    for workflow in WORKFLOWS {
        let group = parsed(workflow)["concurrency"]["group"]
            .as_str()
            .expect("group")
            .to_owned();
        assert_eq!(
            group == apply["group"],
            workflow.serialized_per_environment,
            "{}",
            workflow.file
        );
    }
}

#[test]
fn reviewed_code_only_where_the_contract_says_so() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        let check = steps(&doc)
            .into_iter()
            .find(|s| s["name"] == "Check the branch");
        assert_eq!(
            check.is_some(),
            workflow.runs_from_default_branch,
            "{}",
            workflow.file
        );
        if let Some(check) = check {
            assert_eq!(
                check["env"]["DEFAULT_BRANCH"],
                "${{ github.event.repository.default_branch }}"
            );
            assert!(
                check["run"]
                    .as_str()
                    .expect("run")
                    .contains("\"$GITHUB_REF\" != \"refs/heads/${DEFAULT_BRANCH}\"")
            );
        }
    }
}

#[test]
fn terraform_is_called_as_the_seed_did() {
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        let all = scripts(&doc).join("\n");
        assert!(
            all.contains("\"-target=module.${MODULE}\""),
            "{}: targets the request module",
            workflow.file
        );
        let lock_free = all.contains("-lock=false");
        let read_only = workflow == &PLAN || workflow == &DRIFT_PLAN;
        assert_eq!(lock_free, read_only, "{}: -lock=false", workflow.file);
        assert_eq!(
            all.contains("-detailed-exitcode"),
            workflow == &DRIFT_PLAN,
            "{}",
            workflow.file
        );
        assert!(all.contains("-input=false"), "{}", workflow.file);
    }
}

#[test]
fn apply_checks_the_fingerprint_before_applying() {
    let doc = parsed(&APPLY);
    let ids: Vec<&str> = steps(&doc)
        .into_iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    let position = |id: &str| ids.iter().position(|i| *i == id).expect(id);
    assert!(position("plan") < position(contract::FINGERPRINT_STEP_ID));
    assert!(position(contract::FINGERPRINT_STEP_ID) < position("apply"));
    let script = step_by_id(&doc, contract::FINGERPRINT_STEP_ID)["run"]
        .as_str()
        .expect("run");
    assert!(script.contains(contract::PLAN_CHANGED_MESSAGE));
    assert!(script.contains(contract::FINGERPRINT_SCRIPT_PATH));
    // Apply uses the saved plan, never a fresh one.
    let apply = step_by_id(&doc, "apply")["run"].as_str().expect("run");
    assert!(apply.contains("\"${RUNNER_TEMP}/tfplan.binary\""));
    assert!(!apply.contains("-auto-approve"));
    // The checkout is the merge commit tfpilot named.
    let checkout = steps(&doc)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/checkout@"))
        })
        .expect("checkout");
    assert_eq!(
        checkout["with"]["ref"],
        "${{ steps.apply_inputs.outputs.commit_sha }}"
    );
}

#[test]
fn variables_and_secrets_are_the_documented_ones() {
    let vars = Regex::new(r"vars\.([A-Z0-9_]+)").expect("regex");
    let secrets = Regex::new(r"secrets\.([A-Z0-9_]+)").expect("regex");
    let mut used_vars = BTreeSet::new();
    let mut used_secrets = BTreeSet::new();
    for workflow in WORKFLOWS {
        let text = raw(workflow);
        used_vars.extend(vars.captures_iter(&text).map(|c| c[1].to_owned()));
        used_secrets.extend(secrets.captures_iter(&text).map(|c| c[1].to_owned()));
    }
    let documented_vars: BTreeSet<String> = contract::VARIABLES
        .iter()
        .map(|s| s.name.to_owned())
        .collect();
    let documented_secrets: BTreeSet<String> = contract::SECRETS
        .iter()
        .map(|s| s.name.to_owned())
        .collect();
    assert_eq!(used_vars, documented_vars);
    assert_eq!(used_secrets, documented_secrets);
}

/// Every string inside a YAML value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// What actionlint would catch for us: references to inputs, step outputs and env that
/// do not exist (a typo there silently becomes an empty string at run time).
#[test]
fn expressions_refer_to_things_that_exist() {
    let input_ref = Regex::new(r"\binputs\.([A-Za-z0-9_-]+)").expect("regex");
    let step_ref =
        Regex::new(r"\bsteps\.([A-Za-z0-9_-]+)\.(outputs\.([A-Za-z0-9_-]+)|outcome|conclusion)")
            .expect("regex");
    let env_ref = Regex::new(r"\benv\.([A-Za-z0-9_]+)").expect("regex");
    for workflow in WORKFLOWS {
        let doc = parsed(workflow);
        let mut all = Vec::new();
        strings(&doc, &mut all);
        for s in &all {
            for c in input_ref.captures_iter(s) {
                assert!(
                    workflow.inputs.contains(&&c[1]),
                    "{}: unknown input {}",
                    workflow.file,
                    &c[1]
                );
            }
        }
        for job in doc["jobs"].as_object().expect("jobs").values() {
            let job_env = job["env"].as_object().cloned().unwrap_or_default();
            let mut earlier: Vec<&Value> = Vec::new();
            for step in job["steps"].as_array().expect("steps") {
                let mut texts = Vec::new();
                strings(step, &mut texts);
                for text in &texts {
                    for c in step_ref.captures_iter(text) {
                        let id = &c[1];
                        let source = earlier
                            .iter()
                            .find(|s| s["id"] == id)
                            .unwrap_or_else(|| panic!("{}: no earlier step {id}", workflow.file));
                        if let Some(output) = c.get(3) {
                            let run = source["run"].as_str().unwrap_or_default();
                            assert!(
                                run.contains(&format!("echo \"{}=", output.as_str())),
                                "{}: step {id} never sets output {}",
                                workflow.file,
                                output.as_str()
                            );
                        }
                    }
                }
                if let Some(condition) = step["if"].as_str() {
                    for c in env_ref.captures_iter(condition) {
                        assert!(
                            job_env.contains_key(&c[1]),
                            "{}: if: uses env.{} which the job does not set",
                            workflow.file,
                            &c[1]
                        );
                    }
                }
                earlier.push(step);
            }
        }
    }
}
