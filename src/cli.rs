//! The command line: `tfpilot serve | healthcheck | ...`.
//!
//! Every flag can also come from the environment; secrets never show their
//! values in `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// tfpilot: self-service Terraform through GitHub alone.
#[derive(Debug, Parser)]
#[command(
    name = "tfpilot",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Try it offline first: `tfpilot demo`.\n\
                  Getting started: `tfpilot setup` creates the GitHub App, `tfpilot init` prepares an \
                  infrastructure repository, `tfpilot serve` runs the app.\n\
                  Every flag, environment variable and .github/tfpilot.yml key: docs/configuration.md"
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Play a request's whole lifecycle offline against a simulated GitHub (start here).
    Demo(DemoArgs),
    /// Run the GitHub App: receive webhooks, keep facts, drive plans and applies.
    #[command(after_help = SERVE_ENV_HELP)]
    Serve(ServeArgs),
    /// Ask a running `tfpilot serve` for /healthz (for container health checks).
    Healthcheck(HealthcheckArgs),
    /// Write tfpilot's workflows, config example and issue forms into an infrastructure repository.
    Init(InitArgs),
    /// Generate the issue forms from `.github/tfpilot.yml` into `.github/ISSUE_TEMPLATE/`.
    Forms(FormsArgs),
    /// Create the GitHub App through GitHub's manifest flow and write its credentials and an env file for `serve`.
    Setup(SetupArgs),
    /// Re-read one request's PR, reviews and runs from GitHub and repair its facts (as `/tfpilot sync` does).
    #[command(after_help = SERVE_ENV_HELP)]
    Sync(SyncArgs),
    /// Run one reconciler pass now: stuck runs, lagging comments, stale environment locks.
    #[command(after_help = SERVE_ENV_HELP)]
    Reconcile(ReconcileArgs),
    /// List the live requests in the store with their status, or print one request's facts.
    Requests(RequestsArgs),
}

/// How to reach GitHub as the App and the store (shared by `serve`, `sync`, `reconcile`).
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The GitHub App's id (required; `tfpilot setup` writes it to tfpilot.env).
    #[arg(long, env = "TFPILOT_APP_ID")]
    pub app_id: Option<u64>,
    /// Path to the GitHub App's private key (PEM); this or --private-key is required.
    #[arg(long, env = "TFPILOT_PRIVATE_KEY_PATH")]
    pub private_key_path: Option<PathBuf>,
    /// The GitHub App's private key itself (PEM), instead of a path.
    #[arg(
        long,
        env = "TFPILOT_PRIVATE_KEY",
        hide_env_values = true,
        conflicts_with = "private_key_path"
    )]
    pub private_key: Option<String>,
    /// Where facts are kept: `file://<dir>`, `s3://<bucket>/<prefix>` or `memory://`.
    #[arg(long, env = "TFPILOT_STORE", default_value = "file://./tfpilot-data")]
    pub store: String,
    /// GitHub's REST API base URL (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(
        long,
        env = "TFPILOT_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
}

/// `tfpilot sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The request id (`req_<env>_<module>_<suffix>`), as shown in the sticky comment.
    pub request_id: String,
    /// GitHub and the store.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `tfpilot reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// GitHub and the store.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `tfpilot requests`.
#[derive(Debug, Args)]
pub struct RequestsArgs {
    /// Print this request's facts (JSON) instead of the list.
    pub request_id: Option<String>,
    /// Where facts are kept: `file://<dir>`, `s3://<bucket>/<prefix>` or `memory://`.
    #[arg(long, env = "TFPILOT_STORE", default_value = "file://./tfpilot-data")]
    pub store: String,
}

/// `tfpilot setup`.
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Where GitHub sends webhooks: the public URL of `tfpilot serve` followed by `/webhooks/github`.
    #[arg(long, env = "TFPILOT_WEBHOOK_URL")]
    pub webhook_url: String,
    /// Create the app under this organization (you must be an owner) instead of your personal account.
    #[arg(long)]
    pub org: Option<String>,
    /// The app's name, unique on GitHub, at most 34 characters [default: tfpilot-<org>, or tfpilot-<random> for a personal app].
    #[arg(long)]
    pub name: Option<String>,
    /// The app's homepage shown on GitHub [default: the organization's page, or --github-url].
    #[arg(long)]
    pub homepage_url: Option<String>,
    /// GitHub's web address (GitHub Enterprise Server: `https://HOST`).
    #[arg(long, env = "TFPILOT_GITHUB_URL", default_value = "https://github.com")]
    pub github_url: String,
    /// GitHub's REST API base URL, used to exchange the code for the credentials (GitHub Enterprise Server: `https://HOST/api/v3`).
    #[arg(
        long,
        visible_alias = "api-url",
        env = "TFPILOT_GITHUB_API_URL",
        default_value = "https://api.github.com"
    )]
    pub github_api_url: String,
    /// Loopback address of the local setup page; GitHub sends the browser back to it.
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Directory for the credentials (`tfpilot-app.json`, the private key PEM) and `tfpilot.env`, all mode 0600.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    /// Overwrite credential files that already exist in --out.
    #[arg(long)]
    pub force: bool,
    /// Open the setup page in the default browser.
    #[arg(long)]
    pub open: bool,
}

/// Environment variables `serve` reads besides its flags' own.
const SERVE_ENV_HELP: &str = "Also read from the environment:
  TFPILOT_LOG       log filter, e.g. `info` or `info,tfpilot=debug` [default: info]
  DEBUG_WEBHOOKS=1  log how each workflow_run delivery was matched to its request
  AWS_REGION, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_PROFILE, ...
                    the standard AWS chain, for an `s3://` store";

/// `tfpilot demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Which story to play.
    #[arg(long, value_enum, default_value_t = crate::demo::Scenario::Lifecycle)]
    pub scenario: crate::demo::Scenario,
    /// Pause for Enter between steps.
    #[arg(long)]
    pub step: bool,
    /// Keep the facts in this store instead of a temporary folder (`file://…`, `s3://…`).
    #[arg(long, env = "TFPILOT_DEMO_STORE")]
    pub store: Option<String>,
}

/// `tfpilot init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The infrastructure repository checkout to write into.
    pub path: PathBuf,
    /// Replace files that differ from what init would write (otherwise they are kept and reported).
    #[arg(long)]
    pub force: bool,
}

/// `tfpilot forms`.
#[derive(Debug, Args)]
pub struct FormsArgs {
    /// The infrastructure repository checkout (reads `.github/tfpilot.yml`, writes `.github/ISSUE_TEMPLATE/`).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Print the forms instead of writing them.
    #[arg(long)]
    pub stdout: bool,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `tfpilot serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TFPILOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The webhook secret set on the GitHub App (required).
    #[arg(long, env = "TFPILOT_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
    /// GitHub and the store.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Format of the log lines on stderr (which lines: TFPILOT_LOG).
    #[arg(long, env = "TFPILOT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Seconds between passes that ask GitHub to redeliver failed webhook deliveries (0: never).
    #[arg(long, env = "TFPILOT_REDELIVERY_INTERVAL_SECS", default_value_t = 600)]
    pub redelivery_interval_secs: u64,
    /// Seconds between reconciler passes that repair stuck runs and lagging comments (0: never).
    #[arg(long, env = "TFPILOT_RECONCILE_INTERVAL_SECS", default_value_t = 300)]
    pub reconcile_interval_secs: u64,
}

/// `tfpilot healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The address `tfpilot serve` listens on.
    #[arg(long, env = "TFPILOT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// Installs the tracing subscriber (once; later calls are ignored).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TFPILOT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn,aws=warn,hyper=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo(args) => demo(args).await,
        Command::Serve(args) => crate::serve::run(args).await,
        Command::Healthcheck(args) => healthcheck(args).await,
        Command::Init(args) => init(args),
        Command::Forms(args) => forms(args),
        Command::Setup(args) => crate::setup::run(args).await,
        Command::Sync(args) => crate::serve::sync_one(args).await,
        Command::Reconcile(args) => crate::serve::reconcile_once(args).await,
        Command::Requests(args) => crate::serve::requests(args).await,
    }
}

/// Reads and checks `.github/tfpilot.yml` under `repo`, falling back to the bundled example.
fn repo_config(repo: &std::path::Path) -> anyhow::Result<(crate::config::repo::RepoConfig, bool)> {
    use crate::config::repo::{CONFIG_PATH, RepoConfig};
    let path = repo.join(CONFIG_PATH);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok((RepoConfig::parse(&text)?, true)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((
            RepoConfig::parse(include_str!("../templates/tfpilot.yml"))?,
            false,
        )),
        Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    }
}

fn init(args: InitArgs) -> anyhow::Result<()> {
    let (config, _) = repo_config(&args.path)?;
    let extra_files = crate::config::forms::generate_forms(&config)
        .into_iter()
        .map(|(name, yaml)| {
            (
                PathBuf::from(crate::config::forms::FORMS_DIR).join(name),
                yaml,
            )
        })
        .collect();
    let report = crate::init::run(
        &args.path,
        crate::init::InitOptions {
            force: args.force,
            extra_files,
        },
    )?;
    use std::io::Write;
    write!(std::io::stdout().lock(), "{report}")?;
    Ok(())
}

fn forms(args: FormsArgs) -> anyhow::Result<()> {
    let (config, found) = repo_config(&args.path)?;
    if !found {
        anyhow::bail!(
            "no {} in {}: run `tfpilot init {}` first, or point at an infrastructure repository",
            crate::config::repo::CONFIG_PATH,
            args.path.display(),
            args.path.display()
        );
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let dir = args.path.join(crate::config::forms::FORMS_DIR);
    for (name, yaml) in crate::config::forms::generate_forms(&config) {
        if args.stdout {
            writeln!(out, "# {}/{name}\n{yaml}", crate::config::forms::FORMS_DIR)?;
            continue;
        }
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(&name);
        let unchanged = std::fs::read_to_string(&path).is_ok_and(|old| old == yaml);
        if unchanged {
            writeln!(out, "unchanged  {}", path.display())?;
        } else {
            std::fs::write(&path, yaml)?;
            writeln!(out, "wrote      {}", path.display())?;
        }
    }
    Ok(())
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    // The demo's own log lines would drown its story; errors still show.
    let filter = tracing_subscriber::EnvFilter::try_from_env("TFPILOT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let mut out = std::io::stdout().lock();
    crate::demo::run(
        crate::demo::DemoOptions {
            scenario: args.scenario,
            step: args.step,
            store: args.store,
        },
        &mut out,
    )
    .await?;
    Ok(())
}

async fn healthcheck(args: HealthcheckArgs) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A plain HTTP/1.0 GET keeps this free of TLS and client set-up.
    let mut addr = args.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let fut = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(std::time::Duration::from_secs(3), fut)
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {addr} within 3 s"))??;
    let head = String::from_utf8_lossy(&buf);
    if head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200") {
        println!("ok");
        Ok(())
    } else {
        anyhow::bail!(
            "unhealthy: {}",
            head.lines().next().unwrap_or("no status line")
        )
    }
}
