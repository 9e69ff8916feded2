//! `tfpilot setup`: creates the GitHub App through GitHub's manifest flow.
//!
//! A local page (loopback only) holds a form that posts `app-manifest/manifest.json`, with
//! its placeholders filled, to GitHub's "new app" page. GitHub creates the app and sends the
//! browser back to our `/callback` with a one-time `code`; we check the `state` we put in the
//! form, exchange the code (`POST /app-manifests/{code}/conversions`) and write what GitHub
//! returned to files only the current user can read. Secrets are never printed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{Mutex, oneshot};

use crate::cli::SetupArgs;
use crate::github::types::ManifestConversion;
use crate::github::{GitHubError, RetryPolicy, convert_manifest};

/// The manifest template shipped in `app-manifest/manifest.json`.
pub const MANIFEST_TEMPLATE: &str = include_str!("../app-manifest/manifest.json");
/// The credentials file written into `--out`: the whole conversion response (mode 0600).
pub const CREDENTIALS_FILE: &str = "tfpilot-app.json";
/// The private key PEM written into `--out` (mode 0600).
pub const PRIVATE_KEY_FILE: &str = "tfpilot-app.private-key.pem";
/// The env file for `tfpilot serve` written into `--out` (mode 0600).
pub const ENV_FILE: &str = "tfpilot.env";
/// The path GitHub redirects the browser to after creating the app.
pub const CALLBACK_PATH: &str = "/callback";

/// Why setup could not go on. Texts never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The bundled manifest template is broken (a build problem, not a user one).
    #[error("app-manifest/manifest.json: {0}")]
    Template(String),
    /// A flag's value is not usable.
    #[error("--{flag}: {message}")]
    BadArgument {
        /// The flag, without dashes.
        flag: &'static str,
        /// What is wrong and what would work.
        message: String,
    },
    /// A credential file already exists and `--force` was not given.
    #[error(
        "{0} already exists: move it away or pass --force (setup never overwrites credentials silently)"
    )]
    Exists(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The local page could not listen.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// GitHub refused or failed the code exchange.
    #[error("exchanging the code with GitHub failed: {0}")]
    Conversion(#[from] GitHubError),
    /// GitHub's answer had a value that cannot go into the env file.
    #[error("GitHub returned a {0} that cannot be written to an env file")]
    UnsafeValue(&'static str),
    /// The local server stopped before the app was created.
    #[error("the setup page stopped before GitHub sent the app back: {0}")]
    Serve(String),
}

/// What fills the manifest's placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestValues {
    /// `{{APP_NAME}}`: the app name, unique on GitHub.
    pub name: String,
    /// `{{HOMEPAGE_URL}}`: the app's homepage (`url`).
    pub homepage_url: String,
    /// `{{WEBHOOK_URL}}`: where GitHub sends webhooks.
    pub webhook_url: String,
    /// `{{REDIRECT_URL}}`: our local callback.
    pub redirect_url: String,
}

/// The manifest template with its placeholders filled (replaced inside parsed JSON strings,
/// so a value can never change the document's structure).
pub fn render_manifest(template: &str, values: &ManifestValues) -> Result<Value, SetupError> {
    let mut manifest: Value =
        serde_json::from_str(template).map_err(|e| SetupError::Template(e.to_string()))?;
    let pairs = [
        ("{{APP_NAME}}", values.name.as_str()),
        ("{{HOMEPAGE_URL}}", values.homepage_url.as_str()),
        ("{{WEBHOOK_URL}}", values.webhook_url.as_str()),
        ("{{REDIRECT_URL}}", values.redirect_url.as_str()),
    ];
    fill(&mut manifest, &pairs)?;
    Ok(manifest)
}

fn fill(value: &mut Value, pairs: &[(&str, &str)]) -> Result<(), SetupError> {
    match value {
        Value::String(s) => {
            for (placeholder, with) in pairs {
                if s.contains(placeholder) {
                    *s = s.replace(placeholder, with);
                }
            }
            if s.contains("{{") {
                return Err(SetupError::Template(format!(
                    "unknown placeholder in {s:?}"
                )));
            }
        }
        Value::Array(items) => {
            for item in items {
                fill(item, pairs)?;
            }
        }
        Value::Object(map) => {
            for item in map.values_mut() {
                fill(item, pairs)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// GitHub's "new app from manifest" page: personal (`/settings/apps/new`) or an
/// organization's (`/organizations/<org>/settings/apps/new`), with `state` in the query.
pub fn new_app_url(github_url: &str, org: Option<&str>, state: &str) -> Result<String, SetupError> {
    let base = parse_http_url("github-url", github_url)?;
    let base = base.as_str().trim_end_matches('/');
    let path = match org {
        Some(org) => {
            if !valid_login(org) {
                return Err(SetupError::BadArgument {
                    flag: "org",
                    message: format!(
                        "`{org}` is not an organization login (letters, digits and single hyphens)"
                    ),
                });
            }
            format!("/organizations/{org}/settings/apps/new")
        }
        None => "/settings/apps/new".to_owned(),
    };
    Ok(format!("{base}{path}?state={state}"))
}

fn valid_login(login: &str) -> bool {
    !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && !login.ends_with('-')
        && !login.contains("--")
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn parse_http_url(flag: &'static str, raw: &str) -> Result<url::Url, SetupError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| SetupError::BadArgument {
        flag,
        message: format!("`{raw}` is not a URL ({e})"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SetupError::BadArgument {
            flag,
            message: format!("`{raw}` is not an http(s) URL"),
        });
    }
    Ok(url)
}

/// Everything `setup` needs, checked.
#[derive(Debug, Clone)]
pub struct SetupOptions {
    /// GitHub's web URL.
    pub github_url: String,
    /// GitHub's REST API base URL.
    pub api_url: String,
    /// Organization that will own the app (None: the signed-in user).
    pub org: Option<String>,
    /// App name.
    pub name: String,
    /// App homepage.
    pub homepage_url: String,
    /// Webhook URL.
    pub webhook_url: String,
    /// Where the files go.
    pub out: PathBuf,
    /// Replace existing files.
    pub force: bool,
    /// How hard to retry the code exchange.
    pub retry: RetryPolicy,
}

impl SetupOptions {
    /// From the command line: defaults filled, URLs and names checked.
    pub fn from_args(args: &SetupArgs) -> Result<Self, SetupError> {
        parse_http_url("github-url", &args.github_url)?;
        parse_http_url("github-api-url", &args.github_api_url)?;
        parse_http_url("webhook-url", &args.webhook_url)?;
        let org = args.org.as_deref().map(str::trim).filter(|o| !o.is_empty());
        let name = match args.name.as_deref().map(str::trim) {
            Some(n) if !n.is_empty() => n.to_owned(),
            // App names are unique across GitHub: a personal app gets a random suffix.
            _ => match org {
                Some(org) => format!("tfpilot-{org}"),
                None => format!("tfpilot-{:06x}", rand::random::<u32>() & 0xff_ffff),
            },
        };
        if name.chars().count() > 34 {
            return Err(SetupError::BadArgument {
                flag: "name",
                message: format!("`{name}` is longer than GitHub's 34 characters for app names"),
            });
        }
        let homepage_url = match args.homepage_url.as_deref() {
            Some(h) => parse_http_url("homepage-url", h)?.to_string(),
            None => {
                let base = args.github_url.trim().trim_end_matches('/');
                match org {
                    Some(org) => format!("{base}/{org}"),
                    None => base.to_owned(),
                }
            }
        };
        Ok(SetupOptions {
            github_url: args.github_url.trim().to_owned(),
            api_url: args.github_api_url.trim().trim_end_matches('/').to_owned(),
            org: org.map(str::to_owned),
            name,
            homepage_url,
            webhook_url: args.webhook_url.trim().to_owned(),
            out: args.out.clone(),
            force: args.force,
            retry: RetryPolicy::default(),
        })
    }
}

/// The three files setup writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    /// [`CREDENTIALS_FILE`].
    pub credentials: PathBuf,
    /// [`PRIVATE_KEY_FILE`].
    pub private_key: PathBuf,
    /// [`ENV_FILE`].
    pub env_file: PathBuf,
}

impl OutputPaths {
    /// The paths under `out`.
    pub fn in_dir(out: &Path) -> Self {
        OutputPaths {
            credentials: out.join(CREDENTIALS_FILE),
            private_key: out.join(PRIVATE_KEY_FILE),
            env_file: out.join(ENV_FILE),
        }
    }

    fn all(&self) -> [&Path; 3] {
        [&self.credentials, &self.private_key, &self.env_file]
    }
}

/// What setup created, without its secrets (safe to print).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedApp {
    /// App id.
    pub id: u64,
    /// App slug.
    pub slug: Option<String>,
    /// App name.
    pub name: String,
    /// The app's page on GitHub.
    pub html_url: String,
    /// GitHub returned a webhook secret (it was written to the env file).
    pub has_webhook_secret: bool,
    /// Where the files are.
    pub paths: OutputPaths,
}

/// Writes the conversion response to `out`: credentials JSON, private key PEM and the env
/// file for `serve`, each created with mode 0600.
pub fn write_credentials(
    out: &Path,
    api_url: &str,
    conversion: &ManifestConversion,
    force: bool,
) -> Result<CreatedApp, SetupError> {
    std::fs::create_dir_all(out).map_err(|source| SetupError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    // The env file names the key by absolute path so `serve` finds it from any directory.
    let out_abs = std::fs::canonicalize(out).map_err(|source| SetupError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    let paths = OutputPaths::in_dir(&out_abs);
    if !force {
        check_absent(&paths)?;
    }
    let webhook_secret = conversion
        .webhook_secret
        .as_ref()
        .map(|s| s.expose_secret().to_owned());
    let credentials = json!({
        "id": conversion.id,
        "slug": conversion.slug,
        "name": conversion.name,
        "html_url": conversion.html_url,
        "owner": conversion.owner.as_ref().map(|o| o.login.clone()),
        "client_id": conversion.client_id,
        "client_secret": conversion.client_secret.expose_secret(),
        "webhook_secret": webhook_secret,
        "pem": conversion.pem.expose_secret(),
        "api_url": api_url,
        "private_key_path": paths.private_key,
    });
    let credentials_text = serde_json::to_string_pretty(&credentials)
        .map_err(|e| SetupError::Template(e.to_string()))?;
    let env_text = env_file_text(
        conversion,
        api_url,
        &paths.private_key,
        webhook_secret.as_deref(),
    )?;
    write_private(
        &paths.private_key,
        conversion.pem.expose_secret().as_bytes(),
        force,
    )?;
    write_private(
        &paths.credentials,
        format!("{credentials_text}\n").as_bytes(),
        force,
    )?;
    write_private(&paths.env_file, env_text.as_bytes(), force)?;
    Ok(CreatedApp {
        id: conversion.id,
        slug: conversion.slug.clone(),
        name: conversion.name.clone(),
        html_url: conversion.html_url.clone(),
        has_webhook_secret: webhook_secret.is_some(),
        paths,
    })
}

/// Fails when any output file exists (before GitHub is involved, so nothing is lost).
pub fn check_absent(paths: &OutputPaths) -> Result<(), SetupError> {
    for path in paths.all() {
        if path.exists() {
            return Err(SetupError::Exists(path.to_path_buf()));
        }
    }
    Ok(())
}

/// `KEY=value` lines without quotes, as `docker --env-file`, systemd's `EnvironmentFile=`
/// and `set -a; . ./tfpilot.env` all read them.
fn env_file_text(
    conversion: &ManifestConversion,
    api_url: &str,
    key_path: &Path,
    webhook_secret: Option<&str>,
) -> Result<String, SetupError> {
    let plain = |what: &'static str, v: &str| {
        if v.is_empty()
            || v.chars()
                .any(|c| c.is_control() || c.is_whitespace() || "\"'`$\\#".contains(c))
        {
            Err(SetupError::UnsafeValue(what))
        } else {
            Ok(())
        }
    };
    let key_path = key_path.to_string_lossy();
    plain("private key path", &key_path)?;
    plain("API URL", api_url)?;
    let mut text = format!(
        "# tfpilot serve settings for the GitHub App {} (id {}), written by `tfpilot setup`.\n\
         # Keep this file secret: it holds the webhook secret.\n\
         TFPILOT_APP_ID={}\n\
         TFPILOT_PRIVATE_KEY_PATH={key_path}\n\
         TFPILOT_GITHUB_API_URL={api_url}\n",
        conversion.name, conversion.id, conversion.id
    );
    match webhook_secret {
        Some(secret) => {
            plain("webhook secret", secret)?;
            text.push_str(&format!("TFPILOT_WEBHOOK_SECRET={secret}\n"));
        }
        None => text.push_str(
            "# GitHub returned no webhook secret: set one in the app's settings and here.\n\
             # TFPILOT_WEBHOOK_SECRET=\n",
        ),
    }
    Ok(text)
}

fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), SetupError> {
    use std::io::Write;
    let err = |source| SetupError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    // `mode` applies only to new files: an overwritten one keeps its old mode otherwise.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)
}

/// The running setup page, waiting for GitHub to send the browser back.
pub struct SetupServer {
    addr: SocketAddr,
    created: oneshot::Receiver<CreatedApp>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: Option<oneshot::Sender<()>>,
}

struct Flow {
    options: SetupOptions,
    state: String,
    action: String,
    manifest: String,
    /// Taken by the one callback that succeeds; also serializes conversions.
    created: Mutex<Option<oneshot::Sender<CreatedApp>>>,
}

impl SetupServer {
    /// Checks the output files are free, binds `listen` (loopback only) and starts serving.
    pub async fn start(options: SetupOptions, listen: SocketAddr) -> Result<Self, SetupError> {
        if !listen.ip().is_loopback() {
            return Err(SetupError::BadArgument {
                flag: "listen",
                message: format!(
                    "{listen} is not a loopback address: the setup page receives the app's credentials, so it listens on 127.0.0.1 or ::1 only"
                ),
            });
        }
        if !options.force
            && let Ok(out) = std::fs::canonicalize(&options.out)
        {
            check_absent(&OutputPaths::in_dir(&out))?;
        }
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| SetupError::Listen {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| SetupError::Listen {
            addr: listen,
            source,
        })?;
        let state = random_hex(16);
        let manifest = render_manifest(
            MANIFEST_TEMPLATE,
            &ManifestValues {
                name: options.name.clone(),
                homepage_url: options.homepage_url.clone(),
                webhook_url: options.webhook_url.clone(),
                redirect_url: format!("http://{addr}{CALLBACK_PATH}"),
            },
        )?;
        let manifest =
            serde_json::to_string(&manifest).map_err(|e| SetupError::Template(e.to_string()))?;
        let action = new_app_url(&options.github_url, options.org.as_deref(), &state)?;
        let (created_tx, created_rx) = oneshot::channel();
        let flow = Arc::new(Flow {
            options,
            state,
            action,
            manifest,
            created: Mutex::new(Some(created_tx)),
        });
        let router = Router::new()
            .route("/", get(page))
            .route(CALLBACK_PATH, get(callback))
            .with_state(flow);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.await;
                })
                .await
        });
        Ok(SetupServer {
            addr,
            created: created_rx,
            server,
            shutdown: Some(shutdown_tx),
        })
    }

    /// The address the page listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page to open in a browser.
    pub fn page_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Waits until GitHub sent the browser back and the files are written, then stops.
    pub async fn wait(mut self) -> Result<CreatedApp, SetupError> {
        let created = tokio::select! {
            created = &mut self.created => created.map_err(|_| SetupError::Serve("the page was dropped".into())),
            ended = &mut self.server => Err(SetupError::Serve(match ended {
                Ok(Ok(())) => "the server ended".to_owned(),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            })),
        }?;
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Let the browser's callback response finish before the process exits.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut self.server).await;
        Ok(created)
    }
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Escapes text for HTML element content and double- or single-quoted attributes.
fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn page(State(flow): State<Arc<Flow>>) -> Html<String> {
    let owner = match &flow.options.org {
        Some(org) => format!("the organization <b>{}</b>", escape_html(org)),
        None => "your personal account".to_owned(),
    };
    let manifest: Value = serde_json::from_str(&flow.manifest).unwrap_or(Value::Null);
    let permissions = manifest["default_permissions"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    format!(
                        "{}: {}",
                        escape_html(k),
                        escape_html(v.as_str().unwrap_or(""))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let events = manifest["default_events"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(escape_html)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>tfpilot setup</title></head>
<body style="font-family: sans-serif; max-width: 42em; margin: 2em auto">
<h1>Create the tfpilot GitHub App</h1>
<p>This creates the GitHub App <b>{name}</b> on {github} for {owner}.
GitHub will ask you to confirm, then send you back here; <code>tfpilot setup</code> then
stores the app's credentials in <code>{out}</code>.</p>
<ul>
<li>Webhook URL: <code>{webhook}</code></li>
<li>Permissions: {permissions}</li>
<li>Events: {events}</li>
</ul>
<form id="manifest-form" action="{action}" method="post">
<input type="hidden" name="manifest" value="{manifest}">
<button type="submit">Create the GitHub App on {github}</button>
</form>
</body>
</html>
"#,
        name = escape_html(&flow.options.name),
        github = escape_html(&flow.options.github_url),
        out = escape_html(&flow.options.out.display().to_string()),
        webhook = escape_html(&flow.options.webhook_url),
        action = escape_html(&flow.action),
        manifest = escape_html(&flow.manifest),
    ))
}

/// The query GitHub appends to the redirect URL.
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

fn done_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tfpilot setup</title></head>\
         <body style=\"font-family: sans-serif; max-width: 42em; margin: 2em auto\"><h1>{}</h1><p>{}</p></body></html>\n",
        escape_html(title),
        body
    );
    (status, Html(html)).into_response()
}

async fn callback(State(flow): State<Arc<Flow>>, Query(q): Query<CallbackQuery>) -> Response {
    // The state proves the redirect comes from the form this process served (no CSRF).
    if q.state.as_deref() != Some(flow.state.as_str()) {
        return done_page(
            StatusCode::BAD_REQUEST,
            "Unexpected redirect",
            "The <code>state</code> does not match the form this setup page served. Start again from the setup page.",
        );
    }
    let Some(code) = q
        .code
        .filter(|c| !c.is_empty() && c.len() <= 200 && c.chars().all(|c| c.is_ascii_graphic()))
    else {
        return done_page(
            StatusCode::BAD_REQUEST,
            "No code",
            "GitHub sent no app code back. Start again from the setup page.",
        );
    };
    // Holding the lock over the exchange makes a double-submitted redirect wait, then see
    // that the app already exists instead of spending the code twice.
    let mut slot = flow.created.lock().await;
    if slot.is_none() {
        return done_page(
            StatusCode::OK,
            "Already done",
            "The app was created and its credentials written. You can close this tab.",
        );
    }
    let conversion = match convert_manifest(
        &flow.options.api_url,
        flow.options.retry.clone(),
        &code,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            let e = SetupError::from(e);
            eprintln!("error: {e}");
            return done_page(
                StatusCode::BAD_GATEWAY,
                "GitHub did not hand over the app",
                &format!(
                    "{}<br>Codes expire after an hour and work once; start again from the <a href=\"/\">setup page</a>.",
                    escape_html(&e.to_string())
                ),
            );
        }
    };
    let created = match write_credentials(
        &flow.options.out,
        &flow.options.api_url,
        &conversion,
        flow.options.force,
    ) {
        Ok(created) => created,
        Err(e) => {
            eprintln!("error: {e}");
            return done_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Could not store the credentials",
                &format!(
                    "{}<br>The app {} was created on GitHub: generate a new private key in its settings, or delete it and run setup again.",
                    escape_html(&e.to_string()),
                    escape_html(&conversion.html_url)
                ),
            );
        }
    };
    let html_url = escape_html(&created.html_url);
    let body = format!(
        "The GitHub App <a href=\"{html_url}\">{}</a> (id {}) exists and its credentials are in <code>{}</code>.<br>\
         Next: <a href=\"{html_url}/installations/new\">install it</a> on your infrastructure repository. \
         You can close this tab; the terminal shows the remaining steps.",
        escape_html(&created.name),
        created.id,
        escape_html(&created.paths.credentials.display().to_string()),
    );
    if let Some(tx) = slot.take() {
        let _ = tx.send(created);
    }
    done_page(StatusCode::OK, "App created", &body)
}

/// Runs `tfpilot setup`: serve the page, wait for GitHub, write the files, print next steps.
pub async fn run(args: SetupArgs) -> anyhow::Result<()> {
    crate::github::install_crypto_provider();
    let options = SetupOptions::from_args(&args)?;
    let owner = match &options.org {
        Some(org) => format!("organization {org}"),
        None => "your personal account".to_owned(),
    };
    let server = SetupServer::start(options.clone(), args.listen).await?;
    let url = server.page_url();
    println!(
        "Creating the GitHub App `{}` for {owner} on {}.\n\
         Open {url} in a browser signed in to GitHub and press the button.\n\
         Waiting for GitHub to send the browser back (Ctrl-C to give up)...",
        options.name, options.github_url
    );
    if args.open {
        open_browser(&url);
    }
    let created = server.wait().await?;
    let env_file = created.paths.env_file.display();
    let install = format!(
        "{}/installations/new",
        created.html_url.trim_end_matches('/')
    );
    println!(
        "\nCreated the GitHub App `{}` (id {}): {}\n\
         Wrote (mode 0600, keep them secret):\n  {}\n  {}\n  {}\n",
        created.name,
        created.id,
        created.html_url,
        created.paths.credentials.display(),
        created.paths.private_key.display(),
        env_file,
    );
    if !created.has_webhook_secret {
        println!(
            "GitHub returned no webhook secret: set one in the app's settings and add\n\
             TFPILOT_WEBHOOK_SECRET=<it> to {env_file} before starting serve.\n"
        );
    }
    println!(
        "Next steps:\n\
         1. Install the app on your infrastructure repository: {install}\n\
         2. In a checkout of that repository: tfpilot init . && git add .github && git commit -m 'Add tfpilot' && git push\n\
         3. Start tfpilot where {} reaches it:\n     set -a; . {env_file}; set +a; tfpilot serve\n   \
         (or: docker run --env-file {env_file} -v <key dir>:<key dir> ...)",
        options.webhook_url
    );
    Ok(())
}

/// Best effort: a missing opener only means the person opens the printed URL themselves.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(e) = std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("could not start {opener} ({e}): open {url} yourself");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> ManifestValues {
        ManifestValues {
            name: "tfpilot-acme".into(),
            homepage_url: "https://github.com/acme".into(),
            webhook_url: "https://tfpilot.acme.test/webhooks/github".into(),
            redirect_url: "http://127.0.0.1:3000/callback".into(),
        }
    }

    #[test]
    fn placeholders_are_filled_and_none_remain() {
        let m = render_manifest(MANIFEST_TEMPLATE, &values()).unwrap();
        assert_eq!(m["name"], "tfpilot-acme");
        assert_eq!(m["url"], "https://github.com/acme");
        assert_eq!(
            m["hook_attributes"]["url"],
            "https://tfpilot.acme.test/webhooks/github"
        );
        assert_eq!(m["redirect_url"], "http://127.0.0.1:3000/callback");
        assert!(!m.to_string().contains("{{"));
    }

    #[test]
    fn a_value_cannot_change_the_manifest_structure() {
        let mut v = values();
        v.name = "x\", \"public\": true, \"y\": \"".into();
        let m = render_manifest(MANIFEST_TEMPLATE, &v).unwrap();
        assert_eq!(m["public"], false);
        assert_eq!(m["name"], v.name.as_str());
    }

    #[test]
    fn unknown_placeholder_is_refused() {
        let err = render_manifest(r#"{"name": "{{NOPE}}"}"#, &values()).unwrap_err();
        assert!(err.to_string().contains("NOPE"), "{err}");
    }

    #[test]
    fn new_app_url_personal_and_org() {
        assert_eq!(
            new_app_url("https://github.com/", None, "s1").unwrap(),
            "https://github.com/settings/apps/new?state=s1"
        );
        assert_eq!(
            new_app_url("https://ghe.acme.test", Some("acme"), "s2").unwrap(),
            "https://ghe.acme.test/organizations/acme/settings/apps/new?state=s2"
        );
        assert!(new_app_url("https://github.com", Some("ac/me"), "s").is_err());
        assert!(new_app_url("ftp://github.com", None, "s").is_err());
    }

    #[test]
    fn html_escaping_covers_attribute_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
