//! The real GitHub client: app JWT, cached installation tokens, typed JSON calls.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::auth::{AppCredentials, InstallationToken, TokenCache};
use super::error::{GitHubError, GitHubResult};
use super::metrics::GitHubMetrics;
use super::retry::RetryPolicy;
use super::transport::{Answer, ApiRequest, Transport, error_for};
use super::types::ManifestConversion;

/// GitHub's public API; GitHub Enterprise Server uses `https://HOST/api/v3`.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Environment variable that overrides the API base URL (GHES, the simulator).
pub const API_URL_ENV: &str = "TFPILOT_GITHUB_API_URL";

/// Most pages a list call follows before it stops (100 items per page).
const MAX_PAGES: usize = 50;

/// How to reach GitHub and as whom.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// API base URL, e.g. [`DEFAULT_API_URL`].
    pub api_url: String,
    /// The app's id and private key.
    pub credentials: AppCredentials,
    /// Retry and backoff settings.
    pub retry: RetryPolicy,
    /// Renew an installation token when it expires within this margin.
    pub token_refresh_margin: Duration,
    /// Connect/read/write timeout of one HTTP exchange.
    pub timeout: Duration,
}

impl GitHubConfig {
    /// Defaults for everything but the credentials: [`DEFAULT_API_URL`], 4 attempts,
    /// tokens renewed 5 minutes before expiry, 30 s timeouts.
    pub fn new(credentials: AppCredentials) -> Self {
        GitHubConfig {
            api_url: DEFAULT_API_URL.to_owned(),
            credentials,
            retry: RetryPolicy::default(),
            token_refresh_margin: Duration::from_secs(5 * 60),
            timeout: Duration::from_secs(30),
        }
    }

    /// [`GitHubConfig::new`] with the API URL from `TFPILOT_GITHUB_API_URL` when set.
    pub fn from_env(credentials: AppCredentials) -> Self {
        let mut config = Self::new(credentials);
        if let Ok(url) = std::env::var(API_URL_ENV)
            && !url.trim().is_empty()
        {
            config.api_url = url.trim().to_owned();
        }
        config
    }

    /// Use another API base URL.
    pub fn with_api_url(mut self, api_url: impl Into<String>) -> Self {
        self.api_url = api_url.into();
        self
    }
}

/// The GitHub client used by `serve`: implements [`super::GitHub`].
pub struct GitHubClient {
    pub(crate) transport: Transport,
    credentials: AppCredentials,
    tokens: TokenCache,
    metrics: Arc<GitHubMetrics>,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient")
            .field("app_id", &self.credentials.app_id())
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
    expires_at: DateTime<Utc>,
}

impl GitHubClient {
    /// Build the client. No network traffic happens until the first call.
    pub fn new(config: GitHubConfig) -> GitHubResult<Self> {
        let metrics = Arc::new(GitHubMetrics::new());
        let transport = Transport::new(
            &config.api_url,
            config.retry.clone(),
            config.timeout,
            metrics.clone(),
        )?;
        Ok(GitHubClient {
            transport,
            credentials: config.credentials,
            tokens: TokenCache::new(config.token_refresh_margin),
            metrics,
        })
    }

    /// Call counters and the last rate-limit reading, for `/metrics`.
    pub fn metrics(&self) -> Arc<GitHubMetrics> {
        self.metrics.clone()
    }

    /// An installation token, from the cache or freshly issued. Exposed for callers that
    /// must hand a token to something else (e.g. a git push); prefer the typed calls.
    pub async fn installation_token(&self, installation_id: u64) -> GitHubResult<SecretString> {
        self.tokens
            .get(installation_id, || self.issue_token(installation_id))
            .await
    }

    async fn issue_token(&self, installation_id: u64) -> GitHubResult<InstallationToken> {
        const ROUTE: &str = "/app/installations/{installation_id}/access_tokens";
        let jwt = self.credentials.jwt()?;
        let request = ApiRequest::new(
            Method::POST,
            ROUTE,
            format!("/app/installations/{installation_id}/access_tokens"),
        );
        self.metrics.record_token_request();
        let answer = self.transport.send(&request, Some(&jwt)).await?;
        if !answer.status.is_success() {
            return Err(error_for(ROUTE, &answer));
        }
        // The serde message could quote the token: report the shape problem only.
        let parsed: TokenResponse =
            serde_json::from_slice(&answer.body).map_err(|_| GitHubError::Decode {
                route: ROUTE,
                message: "installation token response lacks token/expires_at".into(),
            })?;
        tracing::info!(
            installation_id,
            expires_at = %parsed.expires_at,
            "installation token issued"
        );
        Ok(InstallationToken {
            token: SecretString::from(parsed.token),
            expires_at: parsed.expires_at,
        })
    }

    /// Forget a token GitHub refused.
    pub(crate) async fn tokens_invalidate(&self, installation_id: u64, token: &SecretString) {
        self.tokens.invalidate(installation_id, token).await;
    }

    /// Send as the installation; a 401 drops the token and retries once with a new one.
    pub(crate) async fn as_installation(
        &self,
        installation_id: u64,
        request: &ApiRequest,
    ) -> GitHubResult<Answer> {
        let mut renewed = false;
        loop {
            let token = self.installation_token(installation_id).await?;
            let answer = self.transport.send(request, Some(&token)).await?;
            if answer.status == StatusCode::UNAUTHORIZED && !renewed {
                tracing::info!(
                    installation_id,
                    route = request.route,
                    "installation token refused; renewing once"
                );
                self.tokens.invalidate(installation_id, &token).await;
                renewed = true;
                continue;
            }
            if answer.status.is_success() || answer.status.is_redirection() {
                return Ok(answer);
            }
            return Err(error_for(request.route, &answer));
        }
    }

    /// Send as the app itself (JWT): webhook deliveries.
    pub(crate) async fn as_app(&self, request: &ApiRequest) -> GitHubResult<Answer> {
        let jwt = self.credentials.jwt()?;
        let answer = self.transport.send(request, Some(&jwt)).await?;
        if answer.status.is_success() {
            Ok(answer)
        } else {
            Err(error_for(request.route, &answer))
        }
    }

    /// GET or send a body, decode the JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        installation_id: u64,
        request: ApiRequest,
    ) -> GitHubResult<T> {
        let answer = self.as_installation(installation_id, &request).await?;
        decode(request.route, &answer.body)
    }

    /// Send and ignore the answer's body.
    pub(crate) async fn no_content(
        &self,
        installation_id: u64,
        request: ApiRequest,
    ) -> GitHubResult<()> {
        self.as_installation(installation_id, &request).await?;
        Ok(())
    }

    /// GET every page of a list (100 per page), following `Link: rel="next"`.
    /// `key` names the array inside a wrapper object (`jobs`, `artifacts`), if any.
    pub(crate) async fn all_pages<T: DeserializeOwned>(
        &self,
        installation_id: u64,
        route: &'static str,
        path: String,
        key: Option<&str>,
    ) -> GitHubResult<Vec<T>> {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut next = Some(format!("{path}{separator}per_page=100"));
        let mut items = Vec::new();
        let mut pages = 0;
        while let Some(path) = next.take() {
            let request = ApiRequest::new(Method::GET, route, path);
            let answer = self.as_installation(installation_id, &request).await?;
            let page: Vec<T> = match key {
                None => decode(route, &answer.body)?,
                Some(key) => {
                    let mut wrapper: serde_json::Value = decode(route, &answer.body)?;
                    let list = wrapper
                        .get_mut(key)
                        .map(serde_json::Value::take)
                        .ok_or_else(|| GitHubError::Decode {
                            route,
                            message: format!("no `{key}` array in the answer"),
                        })?;
                    serde_json::from_value(list).map_err(|e| GitHubError::Decode {
                        route,
                        message: e.to_string(),
                    })?
                }
            };
            items.extend(page);
            pages += 1;
            if pages >= MAX_PAGES {
                tracing::warn!(route, pages, "stopped paging: too many pages");
                break;
            }
            next = self.transport.next_page(&answer.headers);
        }
        Ok(items)
    }
}

pub(crate) fn decode<T: DeserializeOwned>(route: &'static str, body: &[u8]) -> GitHubResult<T> {
    serde_json::from_slice(body).map_err(|e| GitHubError::Decode {
        route,
        message: e.to_string(),
    })
}

#[derive(Deserialize)]
struct ConversionResponse {
    id: u64,
    #[serde(default)]
    slug: Option<String>,
    name: String,
    html_url: String,
    #[serde(default)]
    owner: Option<super::types::User>,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    webhook_secret: Option<String>,
    pem: String,
}

/// Exchange the manifest flow's `code` for the new app's credentials
/// (`POST /app-manifests/{code}/conversions`, unauthenticated). Used by `tfpilot setup`.
pub async fn convert_manifest(
    api_url: &str,
    retry: RetryPolicy,
    code: &str,
) -> GitHubResult<ManifestConversion> {
    const ROUTE: &str = "/app-manifests/{code}/conversions";
    let metrics = Arc::new(GitHubMetrics::new());
    let transport = Transport::new(api_url, retry, Duration::from_secs(30), metrics)?;
    let request = ApiRequest::new(
        Method::POST,
        ROUTE,
        format!("/app-manifests/{}/conversions", super::path::segment(code)),
    );
    let answer = transport.send(&request, None).await?;
    if !answer.status.is_success() {
        return Err(error_for(ROUTE, &answer));
    }
    // The body holds the private key and secrets: never quote it in an error.
    let raw: ConversionResponse =
        serde_json::from_slice(&answer.body).map_err(|_| GitHubError::Decode {
            route: ROUTE,
            message: "manifest conversion response lacks expected fields".into(),
        })?;
    Ok(ManifestConversion {
        id: raw.id,
        slug: raw.slug,
        name: raw.name,
        html_url: raw.html_url,
        owner: raw.owner,
        client_id: raw.client_id,
        client_secret: SecretString::from(raw.client_secret),
        webhook_secret: raw.webhook_secret.map(SecretString::from),
        pem: SecretString::from(raw.pem),
    })
}
