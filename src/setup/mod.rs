//! `tfpilot setup`: creates the GitHub App through GitHub's manifest flow.
//!
//! A local page (loopback only) holds a form that posts `app-manifest/manifest.json`, with
//! its placeholders filled, to GitHub's "new app" page. GitHub creates the app and sends the
//! browser back to our `/callback` with a one-time `code`; we check the `state` we put in the
//! form, exchange the code (`POST /app-manifests/{code}/conversions`) and write what GitHub
//! returned to files only the current user can read. Secrets are never printed.

mod credentials;
mod manifest;
mod page;

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cli::SetupArgs;
use crate::github::{GitHubError, RetryPolicy};

pub use credentials::{CreatedApp, OutputPaths, check_absent, write_credentials};
use manifest::parse_http_url;
pub use manifest::{ManifestValues, new_app_url, render_manifest};
pub use page::SetupServer;

/// The manifest template shipped in `app-manifest/manifest.json`.
pub const MANIFEST_TEMPLATE: &str = include_str!("../../app-manifest/manifest.json");
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

    fn args(org: Option<&str>, name: Option<&str>, webhook_url: &str) -> SetupArgs {
        SetupArgs {
            webhook_url: webhook_url.into(),
            org: org.map(Into::into),
            name: name.map(Into::into),
            homepage_url: None,
            github_url: "https://github.com/".into(),
            github_api_url: "https://api.github.com/".into(),
            listen: "127.0.0.1:3000".parse().unwrap(),
            out: PathBuf::from("."),
            force: false,
            open: false,
        }
    }

    const HOOK: &str = "https://tfpilot.acme.test/webhooks/github";

    #[test]
    fn an_organization_app_is_named_and_homed_after_the_organization() {
        let o = SetupOptions::from_args(&args(Some("acme"), None, HOOK)).unwrap();
        assert_eq!(o.name, "tfpilot-acme");
        assert_eq!(o.homepage_url, "https://github.com/acme");
        assert_eq!(o.api_url, "https://api.github.com");
        assert_eq!(o.org.as_deref(), Some("acme"));
    }

    #[test]
    fn a_personal_app_gets_a_random_suffix() {
        let o = SetupOptions::from_args(&args(None, None, HOOK)).unwrap();
        let suffix = o.name.strip_prefix("tfpilot-").unwrap();
        assert_eq!(suffix.len(), 6, "{}", o.name);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()), "{}", o.name);
        assert_eq!(o.homepage_url, "https://github.com");
    }

    #[test]
    fn unusable_values_name_their_flag() {
        let err = SetupOptions::from_args(&args(None, None, "not a url")).unwrap_err();
        assert!(err.to_string().starts_with("--webhook-url:"), "{err}");
        let long = "x".repeat(35);
        let err = SetupOptions::from_args(&args(None, Some(&long), HOOK)).unwrap_err();
        assert!(err.to_string().starts_with("--name:"), "{err}");
    }
}
