//! The handle tests and the demo hold: start, configure, script, inject faults, quiesce.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::AbortHandle;

use super::faults::{CallFault, DeliveryFault, DeliveryFaults, FaultResponse};
use super::hooks::{Activity, HookQueue, WebhookTarget};
use super::http::spec_route;
use super::workflows::{Script, ScriptFn, ScriptRule, WorkflowMode};
use super::world::{AppIdentity, Repo, World, repo_key};
use super::{CallRecord, DeliveryOutcome, ManifestConversion, SimConfig, SimError};

/// State shared by the server, the delivery task, run drivers and the handle.
pub(crate) struct Shared {
    world: Mutex<World>,
    pub activity: Arc<Activity>,
    pub webhook_secret: String,
    pub hook_id: u64,
    pub app_id: u64,
    pub client_id: String,
    pub app_key: jsonwebtoken::DecodingKey,
    pub http: reqwest::Client,
    target: Mutex<Option<WebhookTarget>>,
    delivery_faults: Mutex<(DeliveryFaults, StdRng)>,
    /// Picks among the targets of [`WebhookTarget::Any`] (own RNG: adding replicas
    /// does not change which faults the deliveries get).
    target_rng: Mutex<StdRng>,
    /// Deliveries in flight at once (1: strictly one after another).
    delivery_parallelism: AtomicUsize,
    workflow_mode: WorkflowMode,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a panic while holding the lock leaves consistent-enough state for a simulator
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    /// The world, locked.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// Where the next send goes: the target, with `Any` resolved to one of its members.
    pub(crate) fn pick_target(&self) -> Option<WebhookTarget> {
        let mut target = lock(&self.target).clone()?;
        while let WebhookTarget::Any(members) = target {
            if members.is_empty() {
                return None;
            }
            let i = lock(&self.target_rng).gen_range(0..members.len());
            target = members.into_iter().nth(i)?;
        }
        Some(target)
    }

    pub(crate) fn delivery_parallelism(&self) -> usize {
        self.delivery_parallelism.load(Ordering::SeqCst).max(1)
    }

    pub(crate) fn pick_delivery_fault(&self, event: &str) -> Option<DeliveryFault> {
        let mut guard = lock(&self.delivery_faults);
        let (faults, rng) = &mut *guard;
        faults.pick(event, rng)
    }

    pub(crate) fn pick_call_fault(&self, method: &str, route: &str) -> Option<FaultResponse> {
        let mut w = self.world();
        let World { faults, rng, .. } = &mut *w;
        faults.pick(method, route, rng)
    }

    pub(crate) fn record_call(&self, record: CallRecord) {
        self.world().calls.push(record);
        self.activity.touch();
    }

    pub(crate) fn update_delivery(
        &self,
        id: u64,
        code: Option<u16>,
        outcome: DeliveryOutcome,
        ms: u64,
    ) {
        let mut w = self.world();
        if let Some(d) = w.deliveries.iter_mut().find(|d| d.id == id) {
            d.status_code = code;
            d.outcome = outcome;
            d.duration_ms = ms;
            d.delivered_at = Utc::now();
        }
    }

    /// In automatic mode, drive a run through its states in the background.
    pub(crate) fn schedule_run(self: &Arc<Self>, owner: &str, name: &str, id: u64) {
        let WorkflowMode::Auto { queued, running } = self.workflow_mode else {
            return;
        };
        self.activity.runs_in_flight.fetch_add(1, Ordering::SeqCst);
        let shared = Arc::clone(self);
        let (owner, name) = (owner.to_string(), name.to_string());
        tokio::spawn(async move {
            tokio::time::sleep(queued).await;
            // a run waiting on its concurrency group polls until it may start (or is cancelled)
            loop {
                let (stepped, status) = {
                    let mut w = shared.world();
                    let stepped = w.step_run(&owner, &name, id);
                    let status = w
                        .repo(&owner, &name)
                        .and_then(|r| r.runs.get(&id))
                        .map(|r| r.status.clone());
                    (stepped, status)
                };
                match (stepped.as_deref(), status.as_deref()) {
                    (Some("in_progress"), _) => break,
                    (_, Some("completed")) | (_, None) => {
                        shared
                            .activity
                            .runs_in_flight
                            .fetch_sub(1, Ordering::SeqCst);
                        shared.activity.touch();
                        return;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            tokio::time::sleep(running).await;
            shared.world().step_run(&owner, &name, id);
            shared
                .activity
                .runs_in_flight
                .fetch_sub(1, Ordering::SeqCst);
            shared.activity.touch();
        });
    }
}

/// A repository to create: `owner/name`, default branch, files of the first commit.
#[derive(Clone, Debug)]
pub struct RepoSpec {
    /// `owner/name`.
    pub full_name: String,
    /// Default branch (`main`).
    pub default_branch: String,
    /// Private repository (non-collaborators get permission `none`).
    pub private: bool,
    /// Whether the owner is an organization (else a user).
    pub owner_is_org: bool,
    /// `(path, content)` of the initial commit.
    pub files: Vec<(String, String)>,
}

impl RepoSpec {
    /// A private org repository on `main` with no files yet.
    pub fn new(full_name: &str) -> Self {
        RepoSpec {
            full_name: full_name.to_string(),
            default_branch: "main".to_string(),
            private: true,
            owner_is_org: true,
            files: Vec::new(),
        }
    }
    /// Add a file to the initial commit.
    pub fn file(mut self, path: &str, content: &str) -> Self {
        self.files.push((path.to_string(), content.to_string()));
        self
    }
    /// Use another default branch.
    pub fn default_branch(mut self, branch: &str) -> Self {
        self.default_branch = branch.to_string();
        self
    }
}

/// A running simulator. Dropping it stops the server and the delivery task.
pub struct Simulator {
    pub(crate) shared: Arc<Shared>,
    base_url: String,
    routes: Vec<(&'static str, &'static str)>,
    tasks: Vec<AbortHandle>,
    quiesce_timeout: Duration,
    quiesce_settle: Duration,
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The repository holding workflow run `id`.
fn run_repo(w: &World, id: u64) -> Result<(String, String), SimError> {
    w.repos
        .values()
        .find(|r| r.runs.contains_key(&id))
        .map(|r| (r.owner.clone(), r.name.clone()))
        .ok_or(SimError::Refused {
            status: 404,
            message: format!("no workflow run {id}"),
        })
}

/// Split `owner/name`.
pub(crate) fn split_repo(full: &str) -> Result<(String, String), SimError> {
    full.split_once('/')
        .map(|(o, n)| (o.to_string(), n.to_string()))
        .ok_or_else(|| SimError::Refused {
            status: 404,
            message: format!("{full} is not owner/name"),
        })
}

impl Simulator {
    /// Bind a random 127.0.0.1 port and start serving.
    pub async fn start(config: SimConfig) -> Result<Simulator, SimError> {
        // reqwest is built without a default TLS provider; the simulator only speaks plain
        // HTTP but reqwest still wants one installed (an error means one already is)
        let _ = rustls::crypto::ring::default_provider().install_default();
        let app_key = jsonwebtoken::DecodingKey::from_rsa_pem(config.app_public_key_pem.as_bytes())
            .map_err(|_| SimError::BadPublicKey)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let activity = Arc::new(Activity::default());
        let (queue, rx) = HookQueue::new(activity.clone());
        let app = AppIdentity {
            id: config.app_id,
            slug: config.app_slug.clone(),
            client_id: config.client_id.clone(),
            name: config.app_slug.clone(),
            owner: config.app_owner.clone(),
            installation_id: config.installation_id,
            created_at: Utc::now(),
        };
        let ttl =
            chrono::Duration::from_std(config.token_ttl).unwrap_or(chrono::Duration::hours(1));
        let mut world = World::new(base_url.clone(), app, config.seed, queue, ttl);
        world.orgs.insert(config.app_owner.clone());
        world.stateless_tokens = config.stateless_tokens;
        world.legacy_dispatch = config.legacy_dispatch;
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            activity,
            webhook_secret: config.webhook_secret.clone(),
            hook_id: config.app_id + 100_000,
            app_id: config.app_id,
            client_id: config.client_id.clone(),
            app_key,
            http,
            target: Mutex::new(config.webhook_target.clone()),
            delivery_faults: Mutex::new((
                DeliveryFaults::default(),
                StdRng::seed_from_u64(config.seed ^ 0x5eed),
            )),
            target_rng: Mutex::new(StdRng::seed_from_u64(config.seed ^ 0x07a4_6e75)),
            delivery_parallelism: AtomicUsize::new(1),
            workflow_mode: config.workflow_mode,
        });
        let (router, routes) = super::http::router(shared.clone());
        let server = tokio::spawn(async move {
            // the server ends only when the simulator is dropped (task aborted)
            let _ = axum::serve(listener, router).await;
        });
        let sender = tokio::spawn(super::hooks::run_sender(shared.clone(), rx));
        Ok(Simulator {
            shared,
            base_url,
            routes,
            tasks: vec![server.abort_handle(), sender.abort_handle()],
            quiesce_timeout: config.quiesce_timeout,
            quiesce_settle: config.quiesce_settle,
        })
    }

    /// `http://127.0.0.1:<port>`: the API base URL (what `TFPILOT_GITHUB_API_URL` takes).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Every `(METHOD, /spec/route/{template})` the simulator serves.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.routes
            .iter()
            .map(|(m, p)| (m.to_string(), spec_route(p)))
            .collect()
    }

    /// Where webhook deliveries go from now on.
    pub fn set_webhook_target(&self, target: WebhookTarget) {
        *lock(&self.shared.target) = Some(target);
    }

    /// The id of the App whose installation the simulator serves.
    pub fn app_id(&self) -> u64 {
        self.shared.app_id
    }

    /// The app's installation id.
    pub fn installation_id(&self) -> u64 {
        self.shared.world().app.installation_id
    }

    /// The login the app's installation acts as (`tfpilot[bot]`).
    pub fn bot_login(&self) -> String {
        self.shared.world().app.bot_login()
    }

    /// An installation token, as if the app had exchanged a JWT (for tests calling REST directly).
    pub fn installation_token(&self) -> String {
        let mut w = self.shared.world();
        let id = w.app.installation_id;
        w.issue_token(id).0
    }

    /// Expire every installation token issued so far (the next call with one gets 401).
    pub fn expire_tokens(&self) {
        let mut w = self.shared.world();
        let past = Utc::now() - chrono::Duration::seconds(1);
        w.tokens.values_mut().for_each(|t| t.expires_at = past);
    }

    /// A JWT for the app signed with `private_key_pem` (`iat` 60 s back, `exp` 9 min ahead).
    pub fn sign_app_jwt(&self, private_key_pem: &str) -> Result<String, SimError> {
        use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
        let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
            .map_err(|_| SimError::BadPrivateKey)?;
        let now = Utc::now().timestamp();
        let claims = serde_json::json!({"iat": now - 60, "exp": now + 540, "iss": self.shared.app_id.to_string()});
        encode(&Header::new(Algorithm::RS256), &claims, &key).map_err(|_| SimError::BadPrivateKey)
    }

    /// Make `POST /app-manifests/{code}/conversions` return `conversion` (once).
    pub fn register_manifest_code(&self, code: &str, conversion: ManifestConversion) {
        self.shared
            .world()
            .manifests
            .insert(code.to_string(), conversion);
    }

    /// Every run of `workflow` (file name) in `repo` ends as `script`.
    pub fn script_workflow(&self, repo: &str, workflow: &str, script: Script) {
        self.add_script(repo, workflow, None, Arc::new(move |_| script.clone()));
    }

    /// Runs of `workflow` whose `request_id` input is `request_id` end as `script`
    /// (takes precedence over [`Self::script_workflow`]).
    pub fn script_workflow_for_request(
        &self,
        repo: &str,
        workflow: &str,
        request_id: &str,
        script: Script,
    ) {
        self.add_script(
            repo,
            workflow,
            Some(request_id.to_string()),
            Arc::new(move |_| script.clone()),
        );
    }

    /// Runs of `workflow` end as `f` decides from the run (inputs, attempt, head).
    pub fn script_workflow_with(&self, repo: &str, workflow: &str, f: ScriptFn) {
        self.add_script(repo, workflow, None, f);
    }

    /// Like [`Self::script_workflow_with`], and `f` sees the repository's files under
    /// the path prefixes `reads` at the run's commit in [`super::RunInfo::files`] (a run
    /// that plans from the code it runs on).
    pub fn script_workflow_reading(&self, repo: &str, workflow: &str, reads: &[&str], f: ScriptFn) {
        self.add_rule(
            repo,
            workflow,
            None,
            f,
            reads.iter().map(|r| r.to_string()).collect(),
            None,
        );
    }

    /// Like [`Self::script_workflow_reading`], for a workflow that checks out the commit
    /// its input `checkout_input` names (as tfpilot's apply checks out `commit_sha`):
    /// `f` sees the files at that commit (at the run's head when the input is absent).
    pub fn script_workflow_checking_out(
        &self,
        repo: &str,
        workflow: &str,
        checkout_input: &str,
        reads: &[&str],
        f: ScriptFn,
    ) {
        self.add_rule(
            repo,
            workflow,
            None,
            f,
            reads.iter().map(|r| r.to_string()).collect(),
            Some(checkout_input.to_string()),
        );
    }

    fn add_script(&self, repo: &str, workflow: &str, request_id: Option<String>, script: ScriptFn) {
        self.add_rule(repo, workflow, request_id, script, Vec::new(), None);
    }

    fn add_rule(
        &self,
        repo: &str,
        workflow: &str,
        request_id: Option<String>,
        script: ScriptFn,
        reads: Vec<String>,
        checkout_input: Option<String>,
    ) {
        let (o, n) = repo.split_once('/').unwrap_or((repo, ""));
        self.shared.world().scripts.push(ScriptRule {
            repo: repo_key(o, n),
            workflow: workflow.to_string(),
            request_id,
            script,
            reads,
            checkout_input,
        });
    }

    /// Manual mode: move every unfinished run one step (queued → in_progress → completed).
    /// Returns how many runs moved.
    pub fn advance_workflows(&self) -> usize {
        let mut w = self.shared.world();
        let pending: Vec<(String, String, u64)> = w
            .repos
            .values()
            .flat_map(|r: &Repo| {
                r.runs
                    .values()
                    .filter(|run| run.status != "completed")
                    .map(|run| (r.owner.clone(), r.name.clone(), run.id))
                    .collect::<Vec<_>>()
            })
            .collect();
        pending
            .into_iter()
            .filter(|(o, n, id)| w.step_run(o, n, *id).is_some())
            .count()
    }

    /// Take run `id` (in any repository) through to completed.
    pub fn complete_run(&self, id: u64) -> Result<(), SimError> {
        let mut w = self.shared.world();
        let (o, n) = run_repo(&w, id)?;
        while w.step_run(&o, &n, id).is_some() {}
        let status = w
            .repo(&o, &n)
            .and_then(|r| r.runs.get(&id))
            .map(|r| r.status.clone());
        if status.as_deref() != Some("completed") {
            return Err(SimError::Refused {
                status: 409,
                message: format!("workflow run {id} is waiting for its concurrency group"),
            });
        }
        Ok(())
    }

    /// Move run `id` one step (queued → in_progress → completed); returns its new status,
    /// `None` when it could not move (completed, or waiting for its concurrency group).
    pub fn advance_run(&self, id: u64) -> Result<Option<String>, SimError> {
        let mut w = self.shared.world();
        let (o, n) = run_repo(&w, id)?;
        Ok(w.step_run(&o, &n, id))
    }

    /// A person presses "Cancel workflow" (`workflow_run.completed`, `cancelled`).
    pub fn cancel_run(&self, id: u64) -> Result<(), SimError> {
        let mut w = self.shared.world();
        let (o, n) = run_repo(&w, id)?;
        Ok(w.cancel_run(&o, &n, id)?)
    }

    /// A person presses "Re-run all jobs": same run id, `run_attempt` + 1, back to queued
    /// (`workflow_run.requested`); in automatic mode it runs again by itself.
    pub fn rerun_workflow(&self, id: u64) -> Result<(), SimError> {
        let (o, n) = {
            let mut w = self.shared.world();
            let (o, n) = run_repo(&w, id)?;
            w.rerun(&o, &n, id)?;
            (o, n)
        };
        self.shared.schedule_run(&o, &n, id);
        Ok(())
    }

    /// Fail matching REST calls (counted).
    pub fn fail_calls(&self, fault: CallFault) {
        self.shared.world().faults.rules.push(fault);
    }

    /// Fail a fraction (0.0–1.0) of all REST calls with `response` (seeded RNG).
    pub fn fail_fraction(&self, fraction: f64, response: FaultResponse) {
        self.shared.world().faults.fraction = Some((fraction, vec![response]));
    }

    /// Fail a fraction (0.0–1.0) of all REST calls, each failing call answered with one
    /// of `responses` picked uniformly (seeded RNG): a mix of 5xx and 429, say.
    pub fn fail_fraction_mixed(&self, fraction: f64, responses: Vec<FaultResponse>) {
        self.shared.world().faults.fraction = Some((fraction, responses));
    }

    /// Remove every call fault.
    pub fn clear_call_faults(&self) {
        let mut w = self.shared.world();
        w.faults.rules.clear();
        w.faults.fraction = None;
    }

    /// Replace the delivery fault settings.
    pub fn set_delivery_faults(&self, faults: DeliveryFaults) {
        lock(&self.shared.delivery_faults).0 = faults;
    }

    /// How many deliveries may be in flight at once (default 1: one after another, in
    /// queue order). Above 1 they start in queue order and overlap, as GitHub's do;
    /// the copies of a duplicated delivery then arrive at the same time.
    pub fn set_delivery_parallelism(&self, n: usize) {
        self.shared
            .delivery_parallelism
            .store(n.max(1), Ordering::SeqCst);
    }

    /// Apply `fault` to the next delivery of `event` (`None`: of any event).
    pub fn fault_next_delivery(&self, event: Option<&str>, fault: DeliveryFault) {
        lock(&self.shared.delivery_faults)
            .0
            .next
            .push_back((event.map(str::to_string), fault));
    }

    /// Wait until no delivery is pending, no automatic run is mid-flight, and nothing has
    /// happened (no call, delivery or run step) for the settle time.
    pub async fn quiesce(&self) -> Result<(), SimError> {
        let a = &self.shared.activity;
        let deadline = Instant::now() + self.quiesce_timeout;
        loop {
            let generation = a.generation.load(Ordering::SeqCst);
            let busy =
                a.pending.load(Ordering::SeqCst) > 0 || a.runs_in_flight.load(Ordering::SeqCst) > 0;
            if !busy {
                tokio::time::sleep(self.quiesce_settle).await;
                let still = a.generation.load(Ordering::SeqCst) == generation
                    && a.pending.load(Ordering::SeqCst) == 0
                    && a.runs_in_flight.load(Ordering::SeqCst) == 0;
                if still {
                    return Ok(());
                }
            } else {
                let _ = tokio::time::timeout(Duration::from_millis(20), a.changed.notified()).await;
            }
            if Instant::now() > deadline {
                return Err(SimError::QuiesceTimeout(self.quiesce_timeout));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_handle_can_be_shared_between_tasks() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<super::Simulator>();
    }
}
