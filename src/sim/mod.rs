//! A stateful GitHub that runs here: the REST subset tfpilot uses, workflows with scripted
//! outcomes, and signed webhooks back to tfpilot.
//!
//! ```no_run
//! # async fn demo(app: axum::Router) -> Result<(), tfpilot::sim::SimError> {
//! use tfpilot::sim::*;
//! let sim = Simulator::start(SimConfig::for_tests()).await?;      // random 127.0.0.1 port
//! sim.set_webhook_target(WebhookTarget::Router(app));             // or WebhookTarget::Url
//! sim.create_repo(RepoSpec::new("acme/infra").file(".github/workflows/tfpilot-plan.yml", "..."))?;
//! sim.script_workflow("acme/infra", "tfpilot-plan.yml", Script::success()
//!     .with_artifact(ArtifactSpec::new("tfpilot-plan", &[("plan.json", b"{}")])));
//! let issue = sim.open_issue("acme/infra", "alice", "Need a bucket", "body", &["tfpilot"])?;
//! sim.quiesce().await?;                 // deliveries sent, automatic runs finished, idle
//! sim.advance_workflows();              // manual mode: every unfinished run one step
//! sim.quiesce().await?;
//! assert!(sim.comments("acme/infra", issue).iter().any(|c| c.author == sim.bot_login()));
//! # Ok(()) }
//! ```
//!
//! - Start: [`Simulator::start`] with a [`SimConfig`] ([`SimConfig::for_tests`]: the fixture
//!   key pair, installation 777, app 4242 `tfpilot`, manual workflows, seed 7);
//!   [`Simulator::base_url`] is the API URL; tfpilot authenticates as the app with
//!   [`TEST_APP_PRIVATE_KEY_PEM`].
//! - People act through the handle (`open_issue`, `edit_issue_body`, `comment`, `edit_comment`,
//!   `delete_comment`, `approve`, `request_changes`, `push`, `open_pull`, `merge_pull`,
//!   `press_check_action`, `rerun_check`, `set_permission`, `add_team_member`, `install_app`);
//!   each announces the webhooks GitHub would.
//! - Workflows: `script_workflow`, `script_workflow_for_request`, `script_workflow_with`;
//!   [`WorkflowMode::Manual`] with `advance_workflows` / `advance_run` / `complete_run`
//!   (people also `cancel_run` and `rerun_workflow`), or
//!   [`WorkflowMode::Auto`]. Dispatch reads the workflow file at the dispatched ref
//!   (`name`, `run-name`, `workflow_dispatch.inputs`, `concurrency`), refuses unknown or
//!   missing inputs like GitHub, and applies concurrency groups (`pending` runs,
//!   `queue: max`, `cancel-in-progress`, and GitHub's default of cancelling an older
//!   pending run).
//! - Faults: `fail_calls`, `fail_fraction`, `fail_fraction_mixed`, `clear_call_faults`,
//!   `set_delivery_faults`, `fault_next_delivery`.
//! - Deliveries: one at a time in queue order, or `set_delivery_parallelism(n)` in
//!   flight at once; [`WebhookTarget::Any`] sends each (each copy of a duplicate
//!   separately) to a random one of several targets (replicas).
//! - Inspection: `comments`, `issue`, `pull`/`pulls`, `branches`, `file`, `paths`,
//!   `check_runs`/`check_runs_named`, `dispatches`, `workflow_runs`, `calls`/`write_calls`,
//!   `deliveries`; `quiesce` waits for idle.
//!
//! Routes and response bodies follow `fixtures/github/rest-api.subset.json` (checked by
//! `tests/sim_contract.rs`); webhook payloads follow `fixtures/github/webhooks.schema.json`
//! and parse into `core::webhook::Event` (`tests/sim_webhooks.rs`); tfpilot's own client
//! runs a request's life against it (`tests/sim_client.rs`).
//!
//! Where it differs from GitHub, on purpose: one job per run and no logs; no `push`,
//! `check_suite` or `workflow_job` events; html URLs point at `/_html/...` on the simulator;
//! the artifact download redirect goes to `/_sim/artifacts/{key}` (valid 60 s); all
//! repositories belong to the one installation; org membership never shows as MEMBER in
//! `author_association` (as for private members on GitHub).

mod actions;
mod app;
mod checks;
mod concurrency;
mod faults;
mod git;
mod gitdata;
mod handle;
mod hooks;
mod http;
mod inspect;
mod issue_routes;
mod issues;
mod pulls;
mod repos;
mod shapes;
mod shapes_ci;
mod user;
mod workflows;
mod world;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use faults::{CallFault, DeliveryFault, DeliveryFaults, FaultResponse};
pub use handle::{RepoSpec, Simulator};
pub use hooks::{WebhookTarget, signature};
pub use inspect::{CheckRunView, CommentView, FileChangeView, IssueView, PullView, RunView};
pub use workflows::{ArtifactSpec, Conclusion, RunInfo, Script, ScriptFn, WorkflowMode};
pub use world::{CheckAction, Principal};

/// What can go wrong when driving the simulator from Rust.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// Binding or serving the HTTP listener failed.
    #[error("simulator I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The app public key in the config is not an RSA public key in PEM form.
    #[error("app public key is not a valid RSA PEM")]
    BadPublicKey,
    /// The app private key could not be used to sign a JWT.
    #[error("app private key is not a valid RSA PEM")]
    BadPrivateKey,
    /// A user action was refused the way GitHub would refuse it.
    #[error("GitHub would answer {status}: {message}")]
    Refused {
        /// HTTP status GitHub would return.
        status: u16,
        /// GitHub's message.
        message: String,
    },
    /// `quiesce` waited longer than its limit.
    #[error("simulator did not quiesce within {0:?}")]
    QuiesceTimeout(Duration),
}

/// How the simulator is set up.
#[derive(Clone)]
pub struct SimConfig {
    /// GitHub App id (the JWT's `iss`).
    pub app_id: u64,
    /// App slug; the bot login is `<slug>[bot]`.
    pub app_slug: String,
    /// App client id (also accepted as the JWT's `iss`).
    pub client_id: String,
    /// Account that owns the app and the installation.
    pub app_owner: String,
    /// The one installation of the app.
    pub installation_id: u64,
    /// The app's RSA public key (PEM, SPKI or PKCS#1) that JWTs must verify against.
    pub app_public_key_pem: String,
    /// Secret for `X-Hub-Signature-256`.
    pub webhook_secret: String,
    /// Where deliveries go; can be set later with [`Simulator::set_webhook_target`].
    pub webhook_target: Option<WebhookTarget>,
    /// Seed of every random choice (delivery guids, tokens, faults).
    pub seed: u64,
    /// How workflow runs advance.
    pub workflow_mode: WorkflowMode,
    /// Lifetime of installation tokens (GitHub: one hour).
    pub token_ttl: Duration,
    /// Behave like GitHub Enterprise Server ≤ 3.20 on dispatch: a body with
    /// `return_run_details` is refused with 422 (tfpilot must retry without it).
    pub legacy_dispatch: bool,
    /// Issue long stateless-format installation tokens (`ghs_<app id>_<jwt-like>`, ~500
    /// characters with dots), as GitHub has been rolling out since 2026-04.
    pub stateless_tokens: bool,
    /// How long `quiesce` waits at most.
    pub quiesce_timeout: Duration,
    /// How long nothing must happen before `quiesce` calls the system idle.
    pub quiesce_settle: Duration,
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the webhook secret stays out of debug output
        f.debug_struct("SimConfig")
            .field("app_id", &self.app_id)
            .field("app_slug", &self.app_slug)
            .field("installation_id", &self.installation_id)
            .field("seed", &self.seed)
            .field("workflow_mode", &self.workflow_mode)
            .finish_non_exhaustive()
    }
}

/// The fixed test key pair in `fixtures/github/` (test and demo use only; never a real app).
pub const TEST_APP_PRIVATE_KEY_PEM: &str =
    include_str!("../../fixtures/github/sim-app.private-key.pem");
/// Public half of [`TEST_APP_PRIVATE_KEY_PEM`].
pub const TEST_APP_PUBLIC_KEY_PEM: &str =
    include_str!("../../fixtures/github/sim-app.public-key.pem");

impl SimConfig {
    /// A config with the fixture key pair, manual workflows and seed 7: deterministic tests.
    pub fn for_tests() -> Self {
        SimConfig {
            app_id: 4242,
            app_slug: "tfpilot".to_string(),
            client_id: "Iv1.sim0000000000".to_string(),
            app_owner: "acme".to_string(),
            installation_id: 777,
            app_public_key_pem: TEST_APP_PUBLIC_KEY_PEM.to_string(),
            webhook_secret: "sim-webhook-secret".to_string(),
            webhook_target: None,
            seed: 7,
            workflow_mode: WorkflowMode::Manual,
            token_ttl: Duration::from_secs(3600),
            legacy_dispatch: false,
            stateless_tokens: false,
            quiesce_timeout: Duration::from_secs(30),
            quiesce_settle: Duration::from_millis(100),
        }
    }
}

/// Permission level on a repository (`GET .../collaborators/{user}/permission`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// No access.
    None,
    /// read
    Read,
    /// triage (reported as `read` + role `triage`)
    Triage,
    /// write
    Write,
    /// maintain (reported as `write` + role `maintain`)
    Maintain,
    /// admin
    Admin,
}

impl Permission {
    /// `(permission, role_name)` as GitHub reports them.
    pub fn reported(self) -> (&'static str, &'static str) {
        match self {
            Permission::None => ("none", "none"),
            Permission::Read => ("read", "read"),
            Permission::Triage => ("read", "triage"),
            Permission::Write => ("write", "write"),
            Permission::Maintain => ("write", "maintain"),
            Permission::Admin => ("admin", "admin"),
        }
    }
}

/// Team role of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeamRole {
    /// member
    Member,
    /// maintainer
    Maintainer,
}

/// A review's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewState {
    /// Approve.
    Approved,
    /// Request changes.
    ChangesRequested,
    /// Comment only.
    Commented,
}

impl ReviewState {
    /// Upper-case name used by the REST API (`APPROVED`).
    pub fn rest_name(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
        }
    }
    /// Lower-case name used in webhooks (`approved`).
    pub fn hook_name(self) -> &'static str {
        match self {
            ReviewState::Approved => "approved",
            ReviewState::ChangesRequested => "changes_requested",
            ReviewState::Commented => "commented",
        }
    }
}

/// Credentials a manifest conversion returns for a code the test registered.
#[derive(Clone)]
pub struct ManifestConversion {
    /// App id.
    pub id: u64,
    /// App slug.
    pub slug: String,
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// Webhook secret.
    pub webhook_secret: String,
    /// Private key PEM.
    pub pem: String,
}

impl std::fmt::Debug for ManifestConversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestConversion")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .finish_non_exhaustive()
    }
}

/// One REST call the simulator answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRecord {
    /// HTTP method (`GET`, `POST`, ...).
    pub method: String,
    /// Route template as in the OpenAPI spec (`/repos/{owner}/{repo}/issues`).
    pub route: String,
    /// Concrete path.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Who called.
    pub principal: Principal,
}

impl CallRecord {
    /// Whether this call changes something on GitHub (anything but GET/HEAD).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }
}

/// One `workflow_dispatch` the simulator accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchRecord {
    /// `owner/name`.
    pub repo: String,
    /// Workflow file name (`tfpilot-plan.yml`).
    pub workflow: String,
    /// The `ref` given.
    pub git_ref: String,
    /// Inputs as sent.
    pub inputs: BTreeMap<String, String>,
    /// Whether `return_run_details: true` was sent.
    pub return_run_details: bool,
    /// The run it created.
    pub run_id: u64,
}

/// What happened to a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Still queued.
    Pending,
    /// Posted; the receiver answered (see `status_code`).
    Delivered,
    /// Posting failed (connection error or timeout).
    Failed,
    /// Dropped on purpose by a fault.
    Dropped,
    /// No webhook target was configured.
    NoTarget,
}

/// One webhook delivery (backs `GET /app/hook/deliveries`).
#[derive(Clone, Debug)]
pub struct DeliveryRecord {
    /// Delivery id (as in `/app/hook/deliveries/{id}`).
    pub id: u64,
    /// `X-GitHub-Delivery`; redeliveries keep it.
    pub guid: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// Payload `action`.
    pub action: Option<String>,
    /// Installation the payload names.
    pub installation_id: Option<u64>,
    /// Repository the payload names.
    pub repository_id: Option<u64>,
    /// Whether this is a redelivery.
    pub redelivery: bool,
    /// The JSON payload.
    pub payload: Value,
    /// HTTP status the receiver answered.
    pub status_code: Option<u16>,
    /// What happened.
    pub outcome: DeliveryOutcome,
    /// When it was (last) sent.
    pub delivered_at: chrono::DateTime<chrono::Utc>,
    /// How long the receiver took.
    pub duration_ms: u64,
}

/// Shared between the HTTP server, the delivery task and the handle.
pub(crate) type SharedRef = Arc<handle::Shared>;

/// Every GitHub route the simulator serves, module by module.
pub(crate) fn routes_table() -> http::RouteTable {
    let t = http::RouteTable::new();
    let t = app::routes(t);
    let t = repos::routes(t);
    let t = gitdata::routes(t);
    let t = issue_routes::routes(t);
    let t = pulls::routes(t);
    let t = checks::routes(t);
    actions::routes(t)
}
