//! The contract between tfpilot and the workflows `tfpilot init` installs.
//!
//! Workflow file names, dispatch inputs, run names, artifact names and the files inside
//! them, and the request-id rule live here and nowhere else in the code. The templates in
//! `templates/workflows/` must agree: `tests/workflows_contract.rs` parses every template
//! and fails when an input, artifact, file name or run name differs from this module.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The request-id rule, as a regex source: `req_<env>_<module>_<6 chars>`, env and module
/// of `[a-z0-9-]` without a hyphen at either end. The workflows validate ids in bash with
/// this exact text; it must accept exactly what `core::ids::RequestId::parse` accepts.
pub const REQUEST_ID_PATTERN: &str =
    r"^req_[a-z0-9]([a-z0-9-]*[a-z0-9])?_[a-z0-9]([a-z0-9-]*[a-z0-9])?_[a-z0-9]{6}$";

/// Longest request id the workflows accept.
pub const REQUEST_ID_MAX_LEN: usize = 64;

/// The environment-name rule the workflows apply before using the name as a directory.
pub const ENVIRONMENT_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$";

/// The `directory` rule every workflow applies before `terraform -chdir`: a relative
/// path of plain segments (the workflows also refuse `.` and `..` segments), as
/// `config::catalogue::check_repo_path` accepts for `environments.<name>.directory`.
pub const DIRECTORY_PATTERN: &str = r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$";

/// Longest `directory` the workflows accept.
pub const DIRECTORY_MAX_LEN: usize = 200;

/// The `commit_sha` rule of the apply workflow: a full commit SHA.
pub const COMMIT_SHA_PATTERN: &str = r"^[0-9a-f]{40}$";

/// The `expected_fingerprint` rule of the apply workflow.
pub const FINGERPRINT_PATTERN: &str = r"^[A-Za-z0-9:._-]{1,128}$";

/// First word of every tfpilot run name: `tfpilot <kind words> <request id> <nonce>`.
pub const RUN_NAME_PREFIX: &str = "tfpilot";

/// Prefix of the Terraform module block of a request (`module.tfpilot_<sanitized id>`).
pub const MODULE_PREFIX: &str = "tfpilot_";

/// Directory of the workflow files in the infrastructure repository.
pub const WORKFLOWS_DIR: &str = ".github/workflows";

/// Where `tfpilot init` puts the fingerprint script; the apply workflow runs it as
/// `python3 .github/tfpilot/fingerprint.py <plan.json> <module name>`.
pub const FINGERPRINT_SCRIPT_PATH: &str = ".github/tfpilot/fingerprint.py";

/// Id of the apply workflow step that compares fingerprints; it alone fails on a mismatch.
pub const FINGERPRINT_STEP_ID: &str = "fingerprint";

/// The error annotation the apply workflow writes when the plan differs from the reviewed one.
pub const PLAN_CHANGED_MESSAGE: &str = "tfpilot: plan changed since review";

/// Names of the `workflow_dispatch` inputs.
pub mod inputs {
    /// The request id (`req_<env>_<module>_<6 chars>`); every workflow.
    pub const REQUEST_ID: &str = "request_id";
    /// The environment name; every workflow.
    pub const ENVIRONMENT: &str = "environment";
    /// The environment's Terraform root in the repository
    /// (`environments.<name>.directory`, default `envs/<name>`); every workflow.
    pub const DIRECTORY: &str = "directory";
    /// The dispatch nonce, echoed in the run name; every workflow.
    pub const NONCE: &str = "nonce";
    /// The merge commit to plan and apply; apply only.
    pub const COMMIT_SHA: &str = "commit_sha";
    /// Fingerprint of the plan reviewed on the PR; apply only.
    pub const EXPECTED_FINGERPRINT: &str = "expected_fingerprint";
}

/// Names of the files inside the artifacts.
pub mod files {
    /// `terraform show -json` of the saved plan.
    pub const PLAN_JSON: &str = "plan.json";
    /// Human-readable plan output (also holds Terraform's error when the plan failed).
    pub const PLAN_TXT: &str = "plan.txt";
    /// `infracost diff --format=json`; only when the `INFRACOST_API_KEY` secret is set.
    pub const INFRACOST_DIFF_JSON: &str = "infracost-diff.json";
    /// `{"expected", "actual", "matched"}` written by the apply workflow ([`ApplyFingerprint`]).
    pub const FINGERPRINT_JSON: &str = "fingerprint.json";
    /// Output of `terraform apply` of the saved plan.
    pub const APPLY_TXT: &str = "apply.txt";
    /// Output of the destroy.
    pub const DESTROY_TXT: &str = "destroy.txt";
    /// `{"hasDrift", "summary"}` written by the drift workflow ([`DriftResult`]).
    pub const DRIFT_JSON: &str = "drift.json";
}

/// The one artifact a workflow uploads, and the files it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactContract {
    /// Artifact name, as listed by the artifacts API.
    pub name: &'static str,
    /// Files the artifact may hold (some only in some outcomes; see each workflow).
    pub files: &'static [&'static str],
}

/// Everything tfpilot relies on about one workflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkflowContract {
    /// The kind, as the request facts spell it (`github.workflows[kind]`).
    pub kind: &'static str,
    /// File name under `.github/workflows/`, used to dispatch.
    pub file: &'static str,
    /// The workflow `name:`; `workflow_run.name` carries it.
    pub name: &'static str,
    /// Inputs of the dispatch, all required.
    pub inputs: &'static [&'static str],
    /// The artifact the run uploads.
    pub artifact: ArtifactContract,
    /// True when runs of this kind share the per-environment state concurrency group.
    pub serialized_per_environment: bool,
    /// True when the workflow refuses to run unless dispatched on the default branch
    /// (reviewed code only); false for plan, which runs on the request branch.
    pub runs_from_default_branch: bool,
}

const COMMON_INPUTS: &[&str] = &[
    inputs::REQUEST_ID,
    inputs::ENVIRONMENT,
    inputs::DIRECTORY,
    inputs::NONCE,
];

/// The plan workflow (dispatched on the request branch).
pub const PLAN: WorkflowContract = WorkflowContract {
    kind: "plan",
    file: "tfpilot-plan.yml",
    name: "tfpilot plan",
    inputs: COMMON_INPUTS,
    artifact: ArtifactContract {
        name: "tfpilot-plan",
        files: &[
            files::PLAN_JSON,
            files::PLAN_TXT,
            files::INFRACOST_DIFF_JSON,
        ],
    },
    serialized_per_environment: false,
    runs_from_default_branch: false,
};

/// The apply workflow (dispatched from the default branch at the merge commit).
pub const APPLY: WorkflowContract = WorkflowContract {
    kind: "apply",
    file: "tfpilot-apply.yml",
    name: "tfpilot apply",
    inputs: &[
        inputs::REQUEST_ID,
        inputs::ENVIRONMENT,
        inputs::DIRECTORY,
        inputs::NONCE,
        inputs::COMMIT_SHA,
        inputs::EXPECTED_FINGERPRINT,
    ],
    artifact: ArtifactContract {
        name: "tfpilot-apply-plan",
        files: &[
            files::PLAN_JSON,
            files::PLAN_TXT,
            files::FINGERPRINT_JSON,
            files::APPLY_TXT,
        ],
    },
    serialized_per_environment: true,
    runs_from_default_branch: true,
};

/// The destroy workflow (dispatched from the default branch).
pub const DESTROY: WorkflowContract = WorkflowContract {
    kind: "destroy",
    file: "tfpilot-destroy.yml",
    name: "tfpilot destroy",
    inputs: COMMON_INPUTS,
    artifact: ArtifactContract {
        name: "tfpilot-destroy",
        files: &[files::PLAN_JSON, files::PLAN_TXT, files::DESTROY_TXT],
    },
    serialized_per_environment: true,
    runs_from_default_branch: true,
};

/// The drift-plan workflow (dispatched from the default branch on a schedule).
pub const DRIFT_PLAN: WorkflowContract = WorkflowContract {
    kind: "drift_plan",
    file: "tfpilot-drift.yml",
    name: "tfpilot drift plan",
    inputs: COMMON_INPUTS,
    artifact: ArtifactContract {
        name: "tfpilot-drift",
        files: &[files::DRIFT_JSON, files::PLAN_TXT, files::PLAN_JSON],
    },
    serialized_per_environment: false,
    runs_from_default_branch: true,
};

/// Every workflow tfpilot installs and dispatches.
pub const WORKFLOWS: [&WorkflowContract; 4] = [&PLAN, &APPLY, &DESTROY, &DRIFT_PLAN];

impl WorkflowContract {
    /// Path of the workflow file in the repository, as `workflow_run.path` reports it.
    pub fn path(&self) -> String {
        format!("{WORKFLOWS_DIR}/{}", self.file)
    }

    /// The run name a dispatch with these values produces (`workflow_run.display_title`).
    pub fn run_name(&self, request_id: &str, nonce: &str) -> String {
        format!("{} {request_id} {nonce}", self.name)
    }
}

/// The workflow of a kind (`plan`, `apply`, `destroy`, `drift_plan`).
pub fn workflow_by_kind(kind: &str) -> Option<&'static WorkflowContract> {
    WORKFLOWS.into_iter().find(|w| w.kind == kind)
}

/// The workflow whose file is at `path` (`workflow_run.path`, e.g.
/// `.github/workflows/tfpilot-plan.yml`, possibly followed by `@ref`).
///
/// The path is fixed by the file, unlike the run name, which embeds user-chosen text
/// (a module called `apply-gateway` puts "apply" into a plan's display title).
pub fn workflow_by_path(path: &str) -> Option<&'static WorkflowContract> {
    let path = path.split_once('@').map_or(path, |(p, _)| p);
    WORKFLOWS.into_iter().find(|w| w.path() == path)
}

/// A tfpilot run name taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunName<'a> {
    /// The workflow whose `name:` starts the run name.
    pub workflow: &'static WorkflowContract,
    /// The request id that was dispatched.
    pub request_id: &'a str,
    /// The dispatch nonce.
    pub nonce: &'a str,
}

/// Takes apart a `workflow_run.display_title` made by a tfpilot workflow; `None` for any
/// other title, or when the request id in it is not a valid id.
pub fn parse_run_name(display_title: &str) -> Option<RunName<'_>> {
    // Longest name first: "tfpilot drift plan" must not be read as kind "drift".
    let mut by_length = WORKFLOWS;
    by_length.sort_by_key(|w| std::cmp::Reverse(w.name.len()));
    by_length.into_iter().find_map(|workflow| {
        let rest = display_title
            .strip_prefix(workflow.name)?
            .strip_prefix(' ')?;
        let (request_id, nonce) = rest.split_once(' ')?;
        (is_valid_request_id(request_id) && !nonce.is_empty() && !nonce.contains(' ')).then_some(
            RunName {
                workflow,
                request_id,
                nonce,
            },
        )
    })
}

static REQUEST_ID_RE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(REQUEST_ID_PATTERN).ok());

/// The request-id rule of the workflows: [`REQUEST_ID_PATTERN`] and at most
/// [`REQUEST_ID_MAX_LEN`] characters.
pub fn is_valid_request_id(request_id: &str) -> bool {
    request_id.len() <= REQUEST_ID_MAX_LEN
        && REQUEST_ID_RE
            .as_ref()
            .is_some_and(|re| re.is_match(request_id))
}

/// Name of the request's module block, the workflows' `-target=module.<this>`: the seed's
/// rule, every character outside `[A-Za-z0-9_]` becomes `_`.
pub fn target_module(request_id: &str) -> String {
    let sanitized: String = request_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{MODULE_PREFIX}{sanitized}")
}

/// `drift.json` from the drift artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftResult {
    /// True when the plan found changes (`-detailed-exitcode` 2).
    pub has_drift: bool,
    /// Terraform's one-line summary ("Plan: 1 to add, 0 to change, 0 to destroy.").
    pub summary: String,
}

/// `fingerprint.json` from the apply artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyFingerprint {
    /// The fingerprint tfpilot dispatched (`expected_fingerprint`).
    pub expected: String,
    /// The fingerprint of the plan made at apply time.
    pub actual: String,
    /// True when they are equal and the saved plan was (or is being) applied.
    pub matched: bool,
}

/// A variable or secret the workflows read from the repository or its environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Name as written in the workflows (`vars.<name>` / `secrets.<name>`).
    pub name: &'static str,
    /// Whether the workflows fail without it.
    pub required: bool,
    /// What to set it to.
    pub help: &'static str,
}

/// The variables the workflows read (`vars.*`); set them per repository or per GitHub
/// environment (named like the tfpilot environment).
pub const VARIABLES: &[Setting] = &[
    Setting {
        name: "TFPILOT_AWS_ROLE_ARN",
        required: true,
        help: "IAM role the workflows assume through GitHub OIDC",
    },
    Setting {
        name: "TFPILOT_AWS_REGION",
        required: true,
        help: "AWS region for the provider credentials",
    },
    Setting {
        name: "TFPILOT_STATE_BUCKET",
        required: true,
        help: "S3 bucket holding the Terraform state",
    },
    Setting {
        name: "TFPILOT_STATE_KEY",
        required: false,
        help: "state object key (default: <environment>/terraform.tfstate)",
    },
    Setting {
        name: "TFPILOT_STATE_REGION",
        required: false,
        help: "region of the state bucket (default: TFPILOT_AWS_REGION)",
    },
    Setting {
        name: "TFPILOT_STATE_LOCK_TABLE",
        required: false,
        help: "DynamoDB lock table (default: S3 native locking, use_lockfile=true)",
    },
    Setting {
        name: "TFPILOT_TERRAFORM_VERSION",
        required: false,
        help: "Terraform version for hashicorp/setup-terraform (default: latest)",
    },
];

/// The secrets the workflows read (`secrets.*`).
pub const SECRETS: &[Setting] = &[Setting {
    name: "INFRACOST_API_KEY",
    required: false,
    help: "adds a cost estimate (infracost-diff.json) to each plan",
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_follow_the_rule() {
        assert!(is_valid_request_id("req_dev_s3-bucket_a1b2c3"));
        assert!(is_valid_request_id("req_prod-eu_vpc_000000"));
        assert!(!is_valid_request_id("req_dev_s3-bucket_a1b2c"));
        assert!(!is_valid_request_id("req_dev_s3-bucket_A1B2C3"));
        assert!(!is_valid_request_id("req_dev_s3_bucket_a1b2c3_x"));
        assert!(!is_valid_request_id("req_dev_s3-bucket_a1b2c3\n"));
        assert!(!is_valid_request_id("req_dev_$(id)_a1b2c3"));
        assert!(!is_valid_request_id("req_-dev_vpc_a1b2c3"));
        assert!(!is_valid_request_id("req_dev_vpc-_a1b2c3"));
        assert!(is_valid_request_id("req_d_v--pc_a1b2c3"));
        let long = format!("req_dev_{}_a1b2c3", "m".repeat(60));
        assert!(!is_valid_request_id(&long));
    }

    #[test]
    fn target_module_replaces_what_hcl_cannot_name() {
        assert_eq!(
            target_module("req_dev_s3-bucket_a1b2c3"),
            "tfpilot_req_dev_s3_bucket_a1b2c3"
        );
    }

    #[test]
    fn run_names_round_trip() {
        for workflow in WORKFLOWS {
            let title = workflow.run_name("req_dev_apply-gw_a1b2c3", "n0nce");
            let parsed = parse_run_name(&title).expect("tfpilot run name");
            assert_eq!(parsed.workflow.kind, workflow.kind);
            assert_eq!(parsed.request_id, "req_dev_apply-gw_a1b2c3");
            assert_eq!(parsed.nonce, "n0nce");
        }
        assert_eq!(parse_run_name("Terraform Plan"), None);
        assert_eq!(parse_run_name("tfpilot plan not-an-id n0nce"), None);
        assert_eq!(parse_run_name("tfpilot plan req_dev_vpc_a1b2c3 "), None);
    }

    #[test]
    fn workflows_are_found_by_path_and_kind() {
        assert_eq!(
            workflow_by_path(".github/workflows/tfpilot-apply.yml@refs/heads/main"),
            Some(&APPLY)
        );
        assert_eq!(workflow_by_path(".github/workflows/other.yml"), None);
        assert_eq!(workflow_by_kind("drift_plan"), Some(&DRIFT_PLAN));
        assert_eq!(workflow_by_kind("cleanup"), None);
    }

    #[test]
    fn names_classify_like_the_seed() {
        // The seed's rule: drift+plan, then apply, destroy, cleanup, plan.
        fn classify(name: &str) -> &'static str {
            let lower = name.to_lowercase();
            if lower.contains("drift") && lower.contains("plan") {
                "drift_plan"
            } else if lower.contains("apply") {
                "apply"
            } else if lower.contains("destroy") {
                "destroy"
            } else if lower.contains("cleanup") {
                "cleanup"
            } else if lower.contains("plan") {
                "plan"
            } else {
                "unknown"
            }
        }
        for workflow in WORKFLOWS {
            assert_eq!(classify(workflow.name), workflow.kind, "{}", workflow.name);
        }
    }

    #[test]
    fn artifact_files_parse_into_types() {
        let drift: DriftResult =
            serde_json::from_str(r#"{"hasDrift": true, "summary": "Plan: 1 to add."}"#)
                .expect("drift.json");
        assert!(drift.has_drift);
        let fp: ApplyFingerprint =
            serde_json::from_str(r#"{"expected": "a", "actual": "b", "matched": false}"#)
                .expect("fingerprint.json");
        assert!(!fp.matched);
    }
}
