//! tfpilot running against the GitHub simulator, in one process: the scenario
//! driver used by flow tests, the demo and the benchmarks.
//!
//! `Harness::start` starts the simulator, seeds an infrastructure repository
//! (`acme/infra`: the example `tfpilot.yml`, tfpilot's workflows, an `s3-bucket`
//! module), builds tfpilot's real router against the simulator's API, and points
//! the simulator's webhooks at that router. Tests then act as people through
//! `harness.sim` and wait with `harness.settle()`.

use std::sync::Arc;

use axum::Router;
use chrono::{DateTime, TimeZone, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::config::forms::{FORMS_DIR, generate_forms};
use crate::config::repo::RepoConfig;
use crate::core::contract::{self, inputs};
use crate::github::{AppCredentials, GitHubClient, GitHubConfig, GitHubError, RetryPolicy};
use crate::http::{AppState, app};
use crate::init::TEMPLATE_FILES;
use crate::serve::{Parts, assemble};
use crate::service::{FakeClock, Settings};
use crate::sim::{
    ArtifactSpec, RepoSpec, RunInfo, Script, SimConfig, SimError, Simulator,
    TEST_APP_PRIVATE_KEY_PEM, WebhookTarget, WorkflowMode,
};
use crate::store::{CountingStore, MemoryStore, Store};

/// The infrastructure repository every harness seeds.
pub const INFRA_REPO: &str = "acme/infra";

/// The example catalogue the harness repository uses (`templates/tfpilot.yml`).
pub const EXAMPLE_CONFIG: &str = include_str!("../templates/tfpilot.yml");

/// Why the harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The simulator failed.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The GitHub client could not be built.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The example config does not parse.
    #[error("example config: {0}")]
    Config(String),
}

/// How to start a harness.
pub struct HarnessOptions {
    /// The store (default: in memory).
    pub store: Option<Arc<dyn Store>>,
    /// How workflow runs advance (default: by hand, `sim.advance_workflows()`).
    pub workflow_mode: WorkflowMode,
    /// The fake clock's start.
    pub now: DateTime<Utc>,
    /// Script the four workflows to succeed with realistic artifacts (default true).
    pub default_scripts: bool,
    /// Simulator seed.
    pub seed: u64,
    /// The repository's `.github/tfpilot.yml` (default: [`EXAMPLE_CONFIG`]).
    pub config: Option<String>,
}

impl Default for HarnessOptions {
    fn default() -> Self {
        HarnessOptions {
            store: None,
            workflow_mode: WorkflowMode::Manual,
            now: Utc
                .with_ymd_and_hms(2026, 11, 25, 9, 0, 0)
                .single()
                .unwrap_or_else(Utc::now),
            default_scripts: true,
            seed: 7,
            config: None,
        }
    }
}

/// A running simulator + tfpilot pair.
pub struct Harness {
    /// The simulated GitHub.
    pub sim: Simulator,
    /// tfpilot's router (what the simulator delivers webhooks to).
    pub app: Router,
    /// The router's state (service, metrics).
    pub state: AppState,
    /// Every store operation tfpilot made, counted.
    pub store_counts: Arc<CountingStore>,
    /// The store behind the counter.
    pub store: Arc<dyn Store>,
    /// tfpilot's clock.
    pub clock: Arc<FakeClock>,
}

impl Harness {
    /// Starts the pair and seeds [`INFRA_REPO`].
    pub async fn start(opts: HarnessOptions) -> Result<Harness, HarnessError> {
        let (sim, secret, app_id) = seeded_sim(
            opts.workflow_mode,
            opts.seed,
            opts.config.as_deref(),
            opts.default_scripts,
        )
        .await?;
        let client = sim_github_client(&sim, app_id)?;
        let github_metrics = client.metrics();
        let store = opts.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let clock = Arc::new(FakeClock::new(opts.now));
        let assembled = assemble(Parts {
            webhook_secret: SecretString::from(secret),
            store: store.clone(),
            github: Arc::new(client),
            github_metrics: Some(github_metrics),
            clock: clock.clone(),
            settings: Settings {
                app_id: Some(app_id),
                ..Settings::default()
            },
        });
        let app = app(assembled.state.clone());
        sim.set_webhook_target(WebhookTarget::Router(app.clone()));
        Ok(Harness {
            sim,
            app,
            state: assembled.state,
            store_counts: assembled.store_counts,
            store,
            clock,
        })
    }

    /// Waits until every delivery was answered, no automatic run is mid-flight, and
    /// tfpilot handles no delivery (one may outlive the simulator's 10 s timeout).
    pub async fn settle(&self) -> Result<(), SimError> {
        settle_with(&self.sim, &[&self.state.service]).await
    }

    /// Advances every unfinished workflow run one step (queued → in_progress →
    /// completed) and settles, until none is left; returns how many steps ran.
    pub async fn run_workflows(&self) -> Result<usize, SimError> {
        let mut steps = 0;
        loop {
            self.settle().await?;
            let n = self.sim.advance_workflows();
            if n == 0 {
                return Ok(steps);
            }
            steps += n;
        }
    }
}

impl Harness {
    /// A request as the issue flow leaves it, made directly: stored (environment
    /// from the id, module `s3-bucket`, requested by `requester`), its file pushed to
    /// `request/<id>`, its PR open. Returns the PR number.
    pub async fn open_request_pr(&self, id: &str, requester: &str) -> Result<u64, HarnessError> {
        let rid = crate::core::ids::RequestId::parse(id)
            .map_err(|e| HarnessError::Config(format!("request id {id}: {e}")))?;
        let env = id.split('_').nth(1).unwrap_or("dev").to_string();
        let mut request = crate::core::request::Request::new(&rid);
        request.requester = Some(requester.into());
        request.environment = Some(env.clone());
        request.module = Some("s3-bucket".into());
        request.installation_id = Some(self.sim.installation_id());
        request.target_owner = Some("acme".into());
        request.target_repo = Some("infra".into());
        request.target_base = Some("main".into());
        request.target_env_path = Some(format!("envs/{env}"));
        request.branch_name = Some(format!("request/{id}"));
        self.state
            .service
            .requests
            .create(&request)
            .await
            .map_err(|e| HarnessError::Config(format!("storing {id}: {e}")))?;
        let path = format!("envs/{env}/tfpilot_{id}.tf");
        let body =
            format!("module \"tfpilot_{id}\" {{\n  source = \"../../modules/s3-bucket\"\n}}\n");
        let branch = format!("request/{id}");
        self.sim.push(
            INFRA_REPO,
            &branch,
            requester,
            &[(path.as_str(), Some(body.as_str()))],
            "request",
        )?;
        let pr = self.sim.open_pull(
            INFRA_REPO,
            requester,
            &branch,
            "main",
            &format!("tfpilot: {id}"),
            "",
        )?;
        self.settle().await?;
        Ok(pr)
    }

    /// `user` comments `body` on `pr`; returns the comment id once tfpilot answered.
    pub async fn say(&self, pr: u64, user: &str, body: &str) -> Result<u64, HarnessError> {
        let id = self.sim.comment(INFRA_REPO, pr, user, body)?;
        self.settle().await?;
        Ok(id)
    }

    /// tfpilot's replies (not its sticky comment) posted on `pr` after comment `after`.
    pub fn replies_after(&self, pr: u64, after: u64) -> Vec<String> {
        let bot = self.sim.bot_login();
        self.sim
            .comments(INFRA_REPO, pr)
            .into_iter()
            .filter(|c| c.id > after && c.author == bot)
            .filter(|c| crate::render::sticky_request_id(&c.body).is_none())
            .map(|c| c.body)
            .collect()
    }
}

/// The seeded infrastructure repository: `config_text` as `.github/tfpilot.yml`,
/// the workflows, the forms generated from the config, one module.
pub fn infra_repo_spec(config_text: &str) -> Result<RepoSpec, HarnessError> {
    let config = RepoConfig::parse(config_text).map_err(|e| HarnessError::Config(e.to_string()))?;
    let mut spec = RepoSpec::new(INFRA_REPO).file(crate::config::repo::CONFIG_PATH, config_text);
    for file in TEMPLATE_FILES {
        if file.path != crate::config::repo::CONFIG_PATH {
            spec = spec.file(file.path, file.contents);
        }
    }
    for (name, yaml) in generate_forms(&config) {
        spec = spec.file(&format!("{FORMS_DIR}/{name}"), &yaml);
    }
    spec = spec
        .file("modules/s3-bucket/main.tf", S3_MODULE_MAIN)
        .file("modules/s3-bucket/variables.tf", S3_MODULE_VARIABLES)
        .file("envs/dev/main.tf", &env_root("dev"))
        .file("envs/prod/main.tf", &env_root("prod"))
        .file(
            "README.md",
            "# acme/infra\n\nInfrastructure, requested through tfpilot.\n",
        );
    Ok(spec)
}

fn env_root(env: &str) -> String {
    format!(
        "terraform {{\n  backend \"s3\" {{}}\n}}\n\n# tfpilot writes one tfpilot_<request>.tf per request into envs/{env}/.\n"
    )
}

const S3_MODULE_MAIN: &str = r#"resource "aws_s3_bucket" "this" {
  bucket        = var.name
  force_destroy = var.force_destroy
  tags          = var.tags
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id
  versioning_configuration {
    status = var.versioning_enabled ? "Enabled" : "Suspended"
  }
}
"#;

const S3_MODULE_VARIABLES: &str = r#"variable "name" {
  type        = string
  description = "Bucket name"
}

variable "force_destroy" {
  type    = bool
  default = false
}

variable "versioning_enabled" {
  type    = bool
  default = true
}

variable "tags" {
  type    = map(string)
  default = {}
}
"#;

/// Scripts plan, apply, destroy and drift to succeed, with the artifacts the real
/// workflows upload (a plan of the request's module, computed per run).
pub fn script_default_workflows(sim: &Simulator) {
    sim.script_workflow_with(
        INFRA_REPO,
        contract::PLAN.file,
        Arc::new(|run: &RunInfo| plan_script(run, "create")),
    );
    sim.script_workflow_with(
        INFRA_REPO,
        contract::APPLY.file,
        Arc::new(|run: &RunInfo| {
            let plan = sample_plan(request_of(run), "create");
            Script::success().with_artifact(ArtifactSpec::new(
                contract::APPLY.artifact.name,
                &[(contract::files::PLAN_JSON, plan.as_bytes())],
            ))
        }),
    );
    sim.script_workflow_with(
        INFRA_REPO,
        contract::DESTROY.file,
        Arc::new(|run: &RunInfo| {
            let plan = sample_plan(request_of(run), "delete");
            Script::success().with_artifact(ArtifactSpec::new(
                contract::DESTROY.artifact.name,
                &[(contract::files::PLAN_JSON, plan.as_bytes())],
            ))
        }),
    );
    sim.script_workflow_with(
        INFRA_REPO,
        contract::DRIFT_PLAN.file,
        Arc::new(|_run: &RunInfo| {
            let drift = json!({"hasDrift": false, "summary": "No changes."}).to_string();
            Script::success().with_artifact(ArtifactSpec::new(
                contract::DRIFT_PLAN.artifact.name,
                &[(contract::files::DRIFT_JSON, drift.as_bytes())],
            ))
        }),
    );
}

fn request_of(run: &RunInfo) -> &str {
    run.inputs
        .get(inputs::REQUEST_ID)
        .map(String::as_str)
        .unwrap_or("req_unknown_unknown_000000")
}

/// A successful plan run whose artifact plans `action` on the request's module.
pub fn plan_script(run: &RunInfo, action: &str) -> Script {
    let plan = sample_plan(request_of(run), action);
    let text = format!(
        "Terraform will perform the following actions:\n\n  # module.{}.aws_s3_bucket.this will be {action}d\n",
        crate::core::ids::module_name(request_of(run))
    );
    Script::success().with_artifact(ArtifactSpec::new(
        contract::PLAN.artifact.name,
        &[
            (contract::files::PLAN_JSON, plan.as_bytes()),
            (contract::files::PLAN_TXT, text.as_bytes()),
        ],
    ))
}

/// A realistic `terraform show -json` plan (format 1.2) for the example
/// `s3-bucket` module of request `request_id`: a bucket and its versioning,
/// with `action` (`create`, `update`, `delete`).
pub fn sample_plan(request_id: &str, action: &str) -> String {
    let module = format!("module.{}", crate::core::ids::module_name(request_id));
    let bucket_after: Value = json!({
        "bucket": format!("acme-{}", request_id.replace('_', "-")),
        "force_destroy": false,
        "tags": {"ManagedBy": "tfpilot", "TfPilotRequestId": request_id},
    });
    let (before, after, actions) = match action {
        "delete" => (bucket_after.clone(), Value::Null, json!(["delete"])),
        "update" => {
            let mut after = bucket_after.clone();
            after["force_destroy"] = json!(true);
            (bucket_after.clone(), after, json!(["update"]))
        }
        _ => (Value::Null, bucket_after.clone(), json!(["create"])),
    };
    let change = |resource: &str, before: &Value, after: &Value| {
        json!({
            "address": format!("{module}.{resource}"),
            "module_address": module,
            "mode": "managed",
            "type": resource.split('.').next().unwrap_or(resource),
            "name": "this",
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": actions,
                "before": before,
                "after": after,
                "after_unknown": if after.is_null() { json!(false) } else { json!({"arn": true, "id": true}) },
                "before_sensitive": if before.is_null() { json!(false) } else { json!({}) },
                "after_sensitive": if after.is_null() { json!(false) } else { json!({}) },
            }
        })
    };
    let versioning_after = if after.is_null() {
        Value::Null
    } else {
        json!({"versioning_configuration": [{"status": "Enabled"}]})
    };
    let versioning_before = if before.is_null() {
        Value::Null
    } else {
        json!({"versioning_configuration": [{"status": "Enabled"}]})
    };
    json!({
        "format_version": "1.2",
        "terraform_version": "1.15.5",
        "resource_changes": [
            change("aws_s3_bucket.this", &before, &after),
            change("aws_s3_bucket_versioning.this", &versioning_before, &versioning_after),
        ],
        "applyable": true,
        "complete": true,
        "errored": false,
    })
    .to_string()
}

/// Scripts plan and apply to plan from the module's code (files under `module_dir`,
/// e.g. `modules/s3-bucket/`) as Terraform would: the plan at the PR's head, the apply
/// at the `commit_sha` it is dispatched with (the merge commit), which it checks out
/// like the template does. So a module change that reached the default branch after
/// the plan was reviewed and before the PR merged changes the plan the apply makes.
///
/// The apply script does what `templates/workflows/tfpilot-apply.yml` does: it plans,
/// computes the fingerprint with [`crate::core::fingerprint`], compares it with the
/// `expected_fingerprint` input, and uploads `tfpilot-apply-plan` (`plan.json`,
/// `plan.txt`, `fingerprint.json`); it succeeds (and adds `apply.txt`) only on a
/// match, and fails without planning on a missing or malformed input.
pub fn script_module_workflows(sim: &Simulator, module_dir: &str) {
    let dir = module_dir.to_string();
    sim.script_workflow_reading(
        INFRA_REPO,
        contract::PLAN.file,
        &[module_dir],
        Arc::new(
            move |run: &RunInfo| match module_plan(request_of(run), &run.files, &dir) {
                Ok(plan) => Script::success().with_artifact(ArtifactSpec::new(
                    contract::PLAN.artifact.name,
                    &[
                        (contract::files::PLAN_JSON, plan.as_bytes()),
                        (contract::files::PLAN_TXT, plan_text(&plan).as_bytes()),
                    ],
                )),
                Err(_) => Script::failure(),
            },
        ),
    );
    let dir = module_dir.to_string();
    sim.script_workflow_checking_out(
        INFRA_REPO,
        contract::APPLY.file,
        inputs::COMMIT_SHA,
        &[module_dir],
        Arc::new(move |run: &RunInfo| apply_from_module(run, &dir)),
    );
}

/// The apply script of [`script_module_workflows`].
fn apply_from_module(run: &RunInfo, module_dir: &str) -> Script {
    let expected = run
        .inputs
        .get(inputs::EXPECTED_FINGERPRINT)
        .cloned()
        .unwrap_or_default();
    let valid = regex::Regex::new(contract::FINGERPRINT_PATTERN)
        .map(|re| re.is_match(&expected))
        .unwrap_or(false);
    if !valid {
        // "Validate apply inputs" fails before anything is planned: no artifact.
        return Script::failure();
    }
    let request_id = request_of(run);
    let Ok(plan) = module_plan(request_id, &run.files, module_dir) else {
        return Script::failure();
    };
    let Ok(parsed) = crate::core::plan::Plan::from_json(&plan) else {
        return Script::failure();
    };
    let module = contract::target_module(request_id);
    let actual = crate::core::fingerprint::fingerprint(&parsed, Some(&module));
    let matched = actual.as_str() == expected;
    let report = contract::ApplyFingerprint {
        expected,
        actual: actual.as_str().to_string(),
        matched,
    };
    let report = serde_json::to_string(&report).unwrap_or_default();
    let text = plan_text(&plan);
    let mut files: Vec<(&str, &[u8])> = vec![
        (contract::files::PLAN_JSON, plan.as_bytes()),
        (contract::files::PLAN_TXT, text.as_bytes()),
        (contract::files::FINGERPRINT_JSON, report.as_bytes()),
    ];
    let applied = "Apply complete!\n";
    if matched {
        files.push((contract::files::APPLY_TXT, applied.as_bytes()));
    }
    let artifact = ArtifactSpec::new(contract::APPLY.artifact.name, &files);
    let script = if matched {
        Script::success()
    } else {
        Script::failure()
    };
    script.with_artifact(artifact)
}

/// Terraform's `Plan:` line for a plan of creates.
fn plan_text(plan: &str) -> String {
    let n = crate::core::plan::Plan::from_json(plan)
        .map(|p| p.summary().plan_line.add)
        .unwrap_or(0);
    format!("Plan: {n} to add, 0 to change, 0 to destroy.\n")
}

/// A `terraform show -json` plan creating every `resource` block of the module's
/// `.tf` files under `module_dir` (from `files`), inside request `request_id`'s
/// module: literal attributes are known planned values, anything else (variables,
/// references) is known only after apply. Fails on a file that is not HCL.
pub fn module_plan(
    request_id: &str,
    files: &std::collections::BTreeMap<String, Vec<u8>>,
    module_dir: &str,
) -> Result<String, String> {
    let module = format!("module.{}", crate::core::ids::module_name(request_id));
    let mut changes = Vec::new();
    for (path, bytes) in files {
        if !path.starts_with(module_dir) || !path.ends_with(".tf") {
            continue;
        }
        let text = std::str::from_utf8(bytes).map_err(|e| format!("{path}: {e}"))?;
        let body = hcl::parse(text).map_err(|e| format!("{path}: {e}"))?;
        for block in body.blocks().filter(|b| b.identifier() == "resource") {
            let [kind, name] = block.labels() else {
                continue;
            };
            let (kind, name) = (kind.as_str(), name.as_str());
            let mut after = serde_json::Map::new();
            let mut unknown = serde_json::Map::new();
            let ctx = hcl::eval::Context::new();
            for attr in block.body().attributes() {
                use hcl::eval::Evaluate;
                match attr.expr().evaluate(&ctx) {
                    Ok(v) => {
                        after.insert(
                            attr.key().to_string(),
                            serde_json::to_value(v).unwrap_or(Value::Null),
                        );
                    }
                    Err(_) => {
                        unknown.insert(attr.key().to_string(), json!(true));
                    }
                }
            }
            unknown.insert("id".into(), json!(true));
            changes.push(json!({
                "address": format!("{module}.{kind}.{name}"),
                "module_address": module,
                "mode": "managed",
                "type": kind,
                "name": name,
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": ["create"],
                    "before": null,
                    "after": after,
                    "after_unknown": unknown,
                    "before_sensitive": false,
                    "after_sensitive": {},
                }
            }));
        }
    }
    Ok(json!({
        "format_version": "1.2",
        "terraform_version": "1.15.5",
        "resource_changes": changes,
        "applyable": true,
        "complete": true,
        "errored": false,
    })
    .to_string())
}

// ---------------------------------------------------------------------------
// Several replicas (issue 12): N tfpilot instances behind one simulator.

/// How to start [`Replicas`].
pub struct ReplicaOptions {
    /// One store client per replica (all over the same bucket or folder, typically);
    /// the number of replicas is the number of stores.
    pub stores: Vec<Arc<dyn Store>>,
    /// How workflow runs advance.
    pub workflow_mode: WorkflowMode,
    /// The shared fake clock's start.
    pub now: DateTime<Utc>,
    /// Script the four workflows to succeed with realistic artifacts.
    pub default_scripts: bool,
    /// Simulator seed (delivery faults, replica picks, call faults).
    pub seed: u64,
    /// The repository's `.github/tfpilot.yml` (default: [`EXAMPLE_CONFIG`]).
    pub config: Option<String>,
}

/// One tfpilot instance of [`Replicas`], serving over loopback HTTP.
pub struct Replica {
    /// Its router's state (its own service, GitHub client and caches).
    pub state: AppState,
    /// Every store operation this replica made, counted.
    pub store_counts: Arc<CountingStore>,
    /// The store client it was given (behind the counter).
    pub store: Arc<dyn Store>,
    /// Where it listens (`http://<addr>/webhooks/github`).
    pub addr: std::net::SocketAddr,
    server: tokio::task::AbortHandle,
}

/// A simulator and several tfpilot replicas, each its own `assemble(Parts)` served
/// with axum on 127.0.0.1 like `tfpilot serve`; each delivery goes to a random one.
pub struct Replicas {
    /// The simulated GitHub.
    pub sim: Simulator,
    /// The replicas, in the order of [`ReplicaOptions::stores`].
    pub replicas: Vec<Replica>,
    /// The clock every replica reads.
    pub clock: Arc<FakeClock>,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for r in &self.replicas {
            r.server.abort();
        }
    }
}

/// A GitHub client of the test app against `sim`, with short retry backoffs.
/// A started simulator with [`INFRA_REPO`] seeded: (simulator, webhook secret, app id).
async fn seeded_sim(
    workflow_mode: WorkflowMode,
    seed: u64,
    config_text: Option<&str>,
    default_scripts: bool,
) -> Result<(Simulator, String, u64), HarnessError> {
    crate::github::install_crypto_provider();
    let mut config = SimConfig::for_tests();
    config.workflow_mode = workflow_mode;
    config.seed = seed;
    // A burst of deliveries with failures injected takes long: a copy of a delivery
    // may wait up to 8 s for another, a few at a time (the delivery parallelism).
    config.quiesce_timeout = std::time::Duration::from_secs(120);
    let secret = config.webhook_secret.clone();
    let app_id = config.app_id;
    let sim = Simulator::start(config).await?;
    sim.create_repo(infra_repo_spec(config_text.unwrap_or(EXAMPLE_CONFIG))?)?;
    if default_scripts {
        script_default_workflows(&sim);
    }
    Ok((sim, secret, app_id))
}

fn sim_github_client(sim: &Simulator, app_id: u64) -> Result<GitHubClient, HarnessError> {
    let credentials = AppCredentials::from_pem(
        app_id,
        &SecretString::from(TEST_APP_PRIVATE_KEY_PEM.to_string()),
    )?;
    let mut github_config = GitHubConfig::new(credentials).with_api_url(sim.base_url());
    github_config.retry = RetryPolicy {
        base_delay: std::time::Duration::from_millis(5),
        max_delay: std::time::Duration::from_millis(50),
        ..github_config.retry
    };
    Ok(GitHubClient::new(github_config)?)
}

impl Harness {
    /// Starts the simulator, seeds [`INFRA_REPO`] and serves one replica per store on
    /// its own loopback port; the simulator's deliveries go to a random replica each.
    pub async fn start_replicas(opts: ReplicaOptions) -> Result<Replicas, HarnessError> {
        let (sim, secret, app_id) = seeded_sim(
            opts.workflow_mode,
            opts.seed,
            opts.config.as_deref(),
            opts.default_scripts,
        )
        .await?;
        let clock = Arc::new(FakeClock::new(opts.now));
        let mut replicas = Vec::new();
        let mut targets = Vec::new();
        for store in opts.stores {
            let client = sim_github_client(&sim, app_id)?;
            let github_metrics = client.metrics();
            let assembled = assemble(Parts {
                webhook_secret: SecretString::from(secret.clone()),
                store: store.clone(),
                github: Arc::new(client),
                github_metrics: Some(github_metrics),
                clock: clock.clone(),
                settings: Settings {
                    app_id: Some(app_id),
                    ..Settings::default()
                },
            });
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(SimError::Io)?;
            let addr = listener.local_addr().map_err(SimError::Io)?;
            let router = app(assembled.state.clone());
            let server = tokio::spawn(async move {
                // ends when the replicas are dropped (task aborted)
                let _ = axum::serve(listener, router).await;
            });
            targets.push(WebhookTarget::Url(format!("http://{addr}/webhooks/github")));
            replicas.push(Replica {
                state: assembled.state,
                store_counts: assembled.store_counts,
                store,
                addr,
                server: server.abort_handle(),
            });
        }
        sim.set_webhook_target(WebhookTarget::Any(targets));
        Ok(Replicas {
            sim,
            replicas,
            clock,
        })
    }
}

impl Replicas {
    /// Waits until every delivery was answered, no automatic run is mid-flight, and
    /// no replica handles a delivery (one may outlive the simulator's 10 s timeout).
    pub async fn settle(&self) -> Result<(), SimError> {
        let services: Vec<&crate::service::Service> =
            self.replicas.iter().map(|r| &*r.state.service).collect();
        settle_with(&self.sim, &services).await
    }

    /// Each replica's store operation counts, in replica order.
    pub fn store_counts(&self) -> Vec<crate::store::OpCounts> {
        self.replicas
            .iter()
            .map(|r| r.store_counts.counts())
            .collect()
    }
}

/// Quiesces the simulator, then waits for tfpilot's handlers; again while a handler
/// that outlived its request could have caused more deliveries.
async fn settle_with(
    sim: &Simulator,
    services: &[&crate::service::Service],
) -> Result<(), SimError> {
    loop {
        sim.quiesce().await?;
        let mut were_busy = false;
        for service in services {
            if service.in_flight.count() > 0 {
                were_busy = true;
                service
                    .in_flight
                    .wait_idle(std::time::Duration::from_secs(120))
                    .await;
            }
        }
        if !were_busy {
            return Ok(());
        }
    }
}
