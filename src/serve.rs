//! `tfpilot serve`: wires the store, the GitHub client and the router, then listens.

use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;

use std::io::Write;

use crate::cli::{ConnectArgs, ReconcileArgs, RequestsArgs, ServeArgs, SyncArgs, init_logging};
use crate::core::status::derive_status;
use crate::github::{AppCredentials, GitHub, GitHubClient, GitHubConfig, GitHubMetrics};
use crate::http::metrics::Metrics;
use crate::http::{AppState, app};
use crate::service::{Clock, Service, Settings, SystemClock};
use crate::store::{CountingStore, Store, open_store};

/// The parts a running tfpilot is made of.
pub struct Parts {
    /// The webhook secret.
    pub webhook_secret: SecretString,
    /// The store (it gets wrapped in a counter for `/metrics`).
    pub store: Arc<dyn Store>,
    /// GitHub.
    pub github: Arc<dyn GitHub>,
    /// The GitHub client's counters, when it has them.
    pub github_metrics: Option<Arc<GitHubMetrics>>,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// Handler settings.
    pub settings: Settings,
}

/// A ready router state, and the store counters behind it.
pub struct Assembled {
    /// What `app()` takes.
    pub state: AppState,
    /// Every store operation, counted.
    pub store_counts: Arc<CountingStore>,
}

/// Assembles the router state from its parts (used by `serve`, the demo and tests).
pub fn assemble(parts: Parts) -> Assembled {
    let counting = Arc::new(CountingStore::new(parts.store));
    let metrics = Arc::new(Metrics::new(Some(counting.clone()), parts.github_metrics));
    let service = Arc::new(Service::new(
        counting.clone(),
        parts.github,
        parts.clock,
        metrics.clone(),
        parts.settings,
    ));
    Assembled {
        state: AppState {
            webhook_secret: Arc::new(parts.webhook_secret),
            service,
            metrics,
        },
        store_counts: counting,
    }
}

/// Runs `tfpilot serve` until SIGTERM or Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let Some(secret) = args.webhook_secret.filter(|s| !s.is_empty()) else {
        anyhow::bail!(
            "no webhook secret: set TFPILOT_WEBHOOK_SECRET (or --webhook-secret) to the secret configured on the GitHub App"
        );
    };
    init_logging(args.log_format);
    let (client, store) = connect(&args.connect).await?;
    let github_metrics = client.metrics();
    let assembled = assemble(Parts {
        webhook_secret: SecretString::from(secret),
        store,
        github: Arc::new(client),
        github_metrics: Some(github_metrics),
        clock: Arc::new(SystemClock),
        settings: Settings {
            debug_webhooks: std::env::var("DEBUG_WEBHOOKS").is_ok_and(|v| v == "1"),
            app_id: args.connect.app_id,
        },
    });
    tokio::spawn(drift_ticks(assembled.state.service.clone()));
    if args.reconcile_interval_secs > 0 {
        tokio::spawn(reconcile_passes(
            assembled.state.service.clone(),
            std::time::Duration::from_secs(args.reconcile_interval_secs),
        ));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %args.listen, store = %args.connect.store, api = %args.connect.github_api_url, "tfpilot serving");
    // Failed deliveries are asked for again on start and every interval (0: never).
    let redelivery_secs = args.redelivery_interval_secs;
    let redelivery = (redelivery_secs > 0).then(|| {
        crate::service::redelivery::spawn_loop(
            assembled.state.service.clone(),
            crate::service::redelivery::RedeliveryPolicy::default(),
            std::time::Duration::from_secs(redelivery_secs),
        )
    });
    let service = assembled.state.service.clone();
    axum::serve(listener, app(assembled.state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;
    if let Some(task) = redelivery {
        task.abort();
    }
    // A delivery whose HTTP request GitHub abandoned still runs in its own task.
    let in_flight = service.in_flight.count();
    if in_flight > 0 {
        tracing::info!(in_flight, "finishing the deliveries in flight");
        if !service.in_flight.wait_idle(SHUTDOWN_GRACE).await {
            tracing::warn!(
                in_flight = service.in_flight.count(),
                "deliveries still in flight at exit; they fail and GitHub can redeliver them"
            );
        }
    }
    tracing::info!("tfpilot stopped");
    Ok(())
}

/// The GitHub App client and the store, from the command line.
pub async fn connect(args: &ConnectArgs) -> anyhow::Result<(GitHubClient, Arc<dyn Store>)> {
    let Some(app_id) = args.app_id else {
        anyhow::bail!("no GitHub App id: set TFPILOT_APP_ID (or --app-id)");
    };
    crate::github::install_crypto_provider();
    let credentials = match (&args.private_key_path, &args.private_key) {
        (Some(path), _) => AppCredentials::from_pem_file(app_id, path)
            .with_context(|| format!("reading the App's private key from {}", path.display()))?,
        (None, Some(pem)) => AppCredentials::from_pem(app_id, &SecretString::from(pem.clone()))
            .context("reading the App's private key from TFPILOT_PRIVATE_KEY")?,
        (None, None) => anyhow::bail!(
            "no GitHub App private key: set TFPILOT_PRIVATE_KEY_PATH (or --private-key-path) to the PEM file, or TFPILOT_PRIVATE_KEY to its contents"
        ),
    };
    let client =
        GitHubClient::new(GitHubConfig::new(credentials).with_api_url(&args.github_api_url))
            .context("setting up the GitHub client")?;
    let store = open_store(&args.store)
        .await
        .with_context(|| format!("opening the store {}", args.store))?;
    Ok((client, store))
}

/// A service for one-off commands (`sync`, `reconcile`): the same handlers as `serve`.
async fn one_off_service(args: &ConnectArgs) -> anyhow::Result<Arc<Service>> {
    init_logging(crate::cli::LogFormat::Pretty);
    let (client, store) = connect(args).await?;
    let github_metrics = client.metrics();
    let metrics = Arc::new(Metrics::new(None, Some(github_metrics)));
    Ok(Arc::new(Service::new(
        store,
        Arc::new(client),
        Arc::new(SystemClock),
        metrics,
        // The App id, as `serve` has it, so its own comments are told from other Apps'.
        Settings {
            app_id: args.app_id,
            ..Settings::default()
        },
    )))
}

/// `tfpilot sync <id>`: what `/tfpilot sync` does, from the command line.
pub async fn sync_one(args: SyncArgs) -> anyhow::Result<()> {
    let service = one_off_service(&args.connect).await?;
    let lines = sync_lines(&service, &args.request_id).await?;
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Syncs one request and says what changed, in lines (first: the request and its status).
pub async fn sync_lines(service: &Service, request_id: &str) -> anyhow::Result<Vec<String>> {
    let Some(request) = service.requests.get(request_id).await? else {
        anyhow::bail!(
            "no live request {request_id} in the store (archived requests are under history/)"
        );
    };
    let Some(repo) = crate::service::dispatch::repo_of_request(&request) else {
        anyhow::bail!(
            "request {request_id} names no repository or installation: nothing to sync against"
        );
    };
    let report = crate::service::sync::sync_request(service, &repo, request_id).await?;
    let after = service.requests.get(request_id).await?;
    let status = after
        .as_ref()
        .map(|r| derive_status(r, service.now()).to_string())
        .unwrap_or_else(|| "archived".to_string());
    let mut lines = vec![format!("{request_id}: {status}")];
    if report.changes.is_empty() {
        lines.push("  already up to date with GitHub".to_string());
    }
    lines.extend(report.changes.iter().map(|c| format!("  {c}")));
    Ok(lines)
}

/// `tfpilot reconcile`: one reconciler pass now.
pub async fn reconcile_once(args: ReconcileArgs) -> anyhow::Result<()> {
    let service = one_off_service(&args.connect).await?;
    let report = crate::service::reconcile::pass(&service).await?;
    let mut out = std::io::stdout().lock();
    let rows: [(&str, &Vec<String>); 7] = [
        ("re-read from GitHub", &report.synced),
        ("comment rendered again", &report.rerendered),
        ("lock released", &report.released),
        ("lost dispatch repaired", &report.redispatched),
        ("issue comment posted", &report.issue_comments),
        ("cleanup carried on", &report.cleaned_up),
        ("not repaired (see the log)", &report.failed),
    ];
    if report.is_quiet() {
        writeln!(out, "nothing to repair")?;
    }
    for (what, ids) in rows {
        for id in ids {
            writeln!(out, "{what}: {id}")?;
        }
    }
    if !report.failed.is_empty() {
        anyhow::bail!("{} could not be repaired this pass", report.failed.len());
    }
    Ok(())
}

/// `tfpilot requests [<id>]`: the live requests and their status, or one request's facts.
pub async fn requests(args: RequestsArgs) -> anyhow::Result<()> {
    let store = open_store(&args.store)
        .await
        .with_context(|| format!("opening the store {}", args.store))?;
    let text = requests_text(store, args.request_id.as_deref(), chrono::Utc::now()).await?;
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// What `tfpilot requests` prints.
pub async fn requests_text(
    store: Arc<dyn Store>,
    request_id: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<String> {
    let requests = crate::store::Requests::new(store);
    if let Some(id) = request_id {
        let Some(request) = requests.get(id).await? else {
            anyhow::bail!("no live request {id} in the store");
        };
        return Ok(serde_json::to_string_pretty(&request)? + "\n");
    }
    let mut text = String::new();
    for id in requests.list_ids().await? {
        let Some(r) = requests.get(&id).await? else {
            continue;
        };
        let repo = match (&r.target_owner, &r.target_repo) {
            (Some(o), Some(n)) => format!("{o}/{n}"),
            _ => "-".to_string(),
        };
        let pr = r
            .pr()
            .map_or_else(|| "-".to_string(), |p| format!("#{}", p.number));
        text.push_str(&format!(
            "{id}  {status}  {repo}  {pr}  {env}\n",
            status = derive_status(&r, now),
            env = r.environment.as_deref().unwrap_or("-"),
        ));
    }
    if text.is_empty() {
        text.push_str("no live requests\n");
    }
    Ok(text)
}

/// Every minute, dispatches due drift plans (once per request and period, however
/// many replicas tick) and reads drift results the webhook path missed.
async fn reconcile_passes(service: Arc<Service>, every: std::time::Duration) {
    let mut every = tokio::time::interval(every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match crate::service::reconcile::pass(&service).await {
            Ok(r) if r.is_quiet() => {}
            Ok(r) => tracing::info!(
                event = "reconcile.pass",
                synced = r.synced.len(),
                rerendered = r.rerendered.len(),
                released = r.released.len(),
                redispatched = r.redispatched.len(),
                issue_comments = r.issue_comments.len(),
                cleaned_up = r.cleaned_up.len(),
                failed = r.failed.len(),
                "reconciler repaired requests"
            ),
            Err(e) => {
                tracing::warn!(event = "reconcile.failed", error = %e, "reconciler pass failed; the next one tries again")
            }
        }
    }
}

async fn drift_ticks(service: Arc<Service>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = crate::service::drift::tick(&service).await {
            tracing::warn!(event = "drift.tick_failed", error = %e, "drift tick failed; next minute tries again");
        }
    }
}

/// How long shutdown waits for deliveries still being handled (within the usual
/// 30 seconds a container gets between SIGTERM and SIGKILL).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Resolves on SIGTERM or Ctrl-C: the server then stops accepting and finishes
/// the deliveries in flight.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
