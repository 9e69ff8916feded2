//! One HTTP exchange with GitHub, retried, logged and counted.
//!
//! Requests go through octocrab's raw `execute` with our own `Authorization` header (the
//! octocrab instance itself has no credentials), so retries, the 401 renewal and logging
//! stay in our hands. Artifact downloads use reqwest because they must not follow the
//! redirect blindly (see [`Transport::download`]).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, LOCATION};
use http::{Method, StatusCode};
use octocrab::Octocrab;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::error::{GitHubError, GitHubResult};
use super::metrics::GitHubMetrics;
use super::retry::{AnswerMeta, Attempt, Decision, RetryPolicy, parse_retry_after};

const ACCEPT_JSON: &str = "application/vnd.github+json";

/// A request to send: the route template is what gets logged and counted.
pub(crate) struct ApiRequest {
    pub method: Method,
    /// Route template, e.g. `/repos/{owner}/{repo}/issues/{issue_number}`.
    pub route: &'static str,
    /// Concrete path and query relative to the API base, e.g. `/repos/o/r/issues/7`.
    pub path: String,
    pub body: Option<serde_json::Value>,
}

impl ApiRequest {
    pub(crate) fn new(method: Method, route: &'static str, path: String) -> Self {
        ApiRequest {
            method,
            route,
            path,
            body: None,
        }
    }

    pub(crate) fn with_body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
}

/// An HTTP answer, body fully read.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The HTTP side of the client: octocrab for the API, reqwest for artifact bytes.
pub(crate) struct Transport {
    octo: Octocrab,
    http: reqwest::Client,
    base: Url,
    retry: RetryPolicy,
    metrics: std::sync::Arc<GitHubMetrics>,
}

impl Transport {
    pub(crate) fn new(
        api_url: &str,
        retry: RetryPolicy,
        timeout: Duration,
        metrics: std::sync::Arc<GitHubMetrics>,
    ) -> GitHubResult<Self> {
        install_crypto_provider();
        let base = Url::parse(api_url)
            .map_err(|e| GitHubError::Invalid(format!("bad GitHub API URL {api_url:?}: {e}")))?;
        let octo = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| GitHubError::Invalid(format!("bad GitHub API URL {api_url:?}: {e}")))?
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .set_write_timeout(Some(timeout))
            .build()
            .map_err(|e| GitHubError::Invalid(format!("cannot build the GitHub client: {e}")))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout.saturating_mul(4))
            .user_agent("tfpilot")
            .build()
            .map_err(|e| GitHubError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Transport {
            octo,
            http,
            base,
            retry,
            metrics,
        })
    }

    /// Send with retries on 5xx, connection errors and rate limits; any final answer
    /// (2xx or not) is returned for the caller to judge, except a rate limit we may not
    /// wait out, which becomes `RateLimited`.
    pub(crate) async fn send(
        &self,
        req: &ApiRequest,
        auth: Option<&SecretString>,
    ) -> GitHubResult<Answer> {
        let mut attempt = 1u32;
        loop {
            let started = Instant::now();
            let outcome = self.send_once(req, auth).await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let seen = match &outcome {
                Ok(answer) => {
                    let status = answer.status.as_u16();
                    self.metrics
                        .record_call(req.method.as_str(), req.route, status);
                    tracing::debug!(
                        method = %req.method,
                        route = req.route,
                        status,
                        latency_ms,
                        attempt,
                        "github call"
                    );
                    let meta = answer_meta(answer);
                    if let Some(remaining) = meta.remaining {
                        self.metrics.record_rate_limit_remaining(remaining);
                    }
                    Attempt::Answer(meta)
                }
                Err(message) => {
                    self.metrics.record_call(req.method.as_str(), req.route, 0);
                    tracing::debug!(
                        method = %req.method,
                        route = req.route,
                        latency_ms,
                        attempt,
                        error = %message,
                        "github call got no answer"
                    );
                    Attempt::NoAnswer
                }
            };
            let jitter = rand::thread_rng().r#gen::<f64>();
            match self
                .retry
                .decide(attempt, &seen, chrono::Utc::now().timestamp(), jitter)
            {
                Decision::Done => {
                    return outcome.map_err(|message| GitHubError::Transport {
                        route: req.route,
                        message,
                    });
                }
                Decision::RateLimited(retry_after) => {
                    tracing::warn!(
                        method = %req.method,
                        route = req.route,
                        attempt,
                        retry_after_secs = retry_after.map(|d| d.as_secs()),
                        "github rate limit: giving up"
                    );
                    return Err(GitHubError::RateLimited {
                        route: req.route,
                        retry_after,
                    });
                }
                Decision::RetryAfter(delay) => {
                    tracing::info!(
                        method = %req.method,
                        route = req.route,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "retrying github call"
                    );
                    self.metrics.record_retry();
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    async fn send_once(
        &self,
        req: &ApiRequest,
        auth: Option<&SecretString>,
    ) -> Result<Answer, String> {
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(req.path.as_str())
            .header(ACCEPT, ACCEPT_JSON);
        if let Some(token) = auth {
            builder = builder.header(AUTHORIZATION, bearer(token)?);
        }
        let request = self
            .octo
            .build_request(builder, req.body.as_ref())
            .map_err(|e| format!("cannot build request: {e}"))?;
        let response = self
            .octo
            .execute(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = self
            .octo
            .body_to_string(response)
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?;
        Ok(Answer {
            status,
            headers,
            body: Bytes::from(body),
        })
    }

    /// Download bytes from an endpoint that answers 302 to a short-lived URL elsewhere
    /// (artifact zips). The token goes only to the API host; the redirect target is
    /// fetched without it (its URL carries its own signature), and is never logged.
    pub(crate) async fn download(
        &self,
        route: &'static str,
        path: &str,
        token: &SecretString,
    ) -> GitHubResult<Answer> {
        let url = self.absolute(path)?;
        let first = self
            .retried_reqwest(route, || {
                let request = self
                    .http
                    .get(url.clone())
                    .header(ACCEPT, ACCEPT_JSON)
                    .header("X-GitHub-Api-Version", "2022-11-28");
                async move {
                    let auth = bearer(token)?;
                    let response = request
                        .header(AUTHORIZATION, auth)
                        .send()
                        .await
                        .map_err(|e| e.without_url().to_string())?;
                    read_reqwest(response).await
                }
            })
            .await?;
        if !first.status.is_redirection() {
            return Ok(first);
        }
        let location = first
            .headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| GitHubError::Decode {
                route,
                message: "redirect without a Location header".into(),
            })?;
        let target = url.join(location).map_err(|_| GitHubError::Decode {
            route,
            message: "redirect Location is not a URL".into(),
        })?;
        if target.scheme() != "https" && target.scheme() != "http" {
            return Err(GitHubError::Decode {
                route,
                message: "redirect to a non-HTTP URL".into(),
            });
        }
        // The presigned URL is a credential of its own: log the host only.
        tracing::debug!(
            route,
            host = target.host_str().unwrap_or(""),
            "following artifact redirect"
        );
        const REDIRECT_ROUTE: &str = "{artifact download redirect}";
        self.retried_reqwest(REDIRECT_ROUTE, || {
            let request = self.http.get(target.clone());
            async move {
                let response = request
                    .send()
                    .await
                    .map_err(|e| e.without_url().to_string())?;
                read_reqwest(response).await
            }
        })
        .await
    }

    async fn retried_reqwest<F, Fut>(&self, route: &'static str, send: F) -> GitHubResult<Answer>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<Answer, String>>,
    {
        let mut attempt = 1u32;
        loop {
            let started = Instant::now();
            let outcome = send().await;
            let latency_ms = started.elapsed().as_millis() as u64;
            let seen = match &outcome {
                Ok(answer) => {
                    let status = answer.status.as_u16();
                    self.metrics.record_call("GET", route, status);
                    tracing::debug!(
                        method = "GET",
                        route,
                        status,
                        latency_ms,
                        attempt,
                        "github call"
                    );
                    Attempt::Answer(answer_meta(answer))
                }
                Err(message) => {
                    self.metrics.record_call("GET", route, 0);
                    tracing::debug!(method = "GET", route, latency_ms, attempt, error = %message, "github call got no answer");
                    Attempt::NoAnswer
                }
            };
            let jitter = rand::thread_rng().r#gen::<f64>();
            match self
                .retry
                .decide(attempt, &seen, chrono::Utc::now().timestamp(), jitter)
            {
                Decision::Done => {
                    return outcome.map_err(|message| GitHubError::Transport { route, message });
                }
                Decision::RateLimited(retry_after) => {
                    return Err(GitHubError::RateLimited { route, retry_after });
                }
                Decision::RetryAfter(delay) => {
                    tracing::info!(
                        route,
                        attempt,
                        delay_ms = delay.as_millis() as u64,
                        "retrying github call"
                    );
                    self.metrics.record_retry();
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    fn absolute(&self, path: &str) -> GitHubResult<Url> {
        let base_path = self.base.path().trim_end_matches('/');
        let mut url = self.base.clone();
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let joined = if p.starts_with(base_path) && !base_path.is_empty() {
            p.to_owned()
        } else {
            format!("{base_path}{p}")
        };
        url.set_path(&joined);
        url.set_query((!q.is_empty()).then_some(q));
        Ok(url)
    }

    /// The path+query of the `Link: rel="next"` URL, when it points at our API base.
    /// A link to another host is ignored so a token can never follow it.
    pub(crate) fn next_page(&self, headers: &HeaderMap) -> Option<String> {
        let link = headers.get(http::header::LINK)?.to_str().ok()?;
        let next = link.split(',').find_map(|part| {
            let (url, params) = part.split_once(';')?;
            params
                .split(';')
                .any(|p| p.trim() == "rel=\"next\"")
                .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
        })?;
        let url = self.base.join(next).ok()?;
        if url.origin() != self.base.origin() {
            tracing::warn!("ignoring a pagination link to another host");
            return None;
        }
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        Some(path)
    }
}

async fn read_reqwest(response: reqwest::Response) -> Result<Answer, String> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn bearer(token: &SecretString) -> Result<HeaderValue, String> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose_secret()))
        // The token itself is not echoed: only that it was unusable as a header.
        .map_err(|_| "token is not a valid header value".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

fn answer_meta(answer: &Answer) -> AnswerMeta {
    let now = chrono::Utc::now().timestamp();
    let status = answer.status.as_u16();
    let mentions_rate_limit = status == 403
        && String::from_utf8_lossy(&answer.body)
            .to_ascii_lowercase()
            .contains("rate limit");
    AnswerMeta {
        status,
        retry_after: answer
            .headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, now)),
        remaining: header_u64(&answer.headers, "x-ratelimit-remaining"),
        reset: header_u64(&answer.headers, "x-ratelimit-reset").and_then(|v| i64::try_from(v).ok()),
        mentions_rate_limit,
    }
}

/// GitHub's error body.
#[derive(Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    field: Option<String>,
}

/// GitHub's `message`, with the `errors[]` details appended (422s put the reason there).
pub(crate) fn error_message(body: &[u8]) -> String {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let mut message = parsed.message;
    for detail in parsed.errors {
        let text = match (detail.message, detail.field, detail.code) {
            (Some(m), _, _) => m,
            (None, Some(f), Some(c)) => format!("{f}: {c}"),
            (None, None, Some(c)) => c,
            (None, Some(f), None) => f,
            (None, None, None) => continue,
        };
        message.push_str("; ");
        message.push_str(&text);
    }
    message
}

/// Turn a non-success answer into the error a caller can act on.
pub(crate) fn error_for(route: &'static str, answer: &Answer) -> GitHubError {
    let status = answer.status.as_u16();
    let meta = answer_meta(answer);
    match status {
        401 => GitHubError::Unauthorized { route },
        403 | 429 if meta.is_rate_limited() => GitHubError::RateLimited {
            route,
            retry_after: meta.retry_after,
        },
        403 => GitHubError::Forbidden {
            route,
            message: error_message(&answer.body),
        },
        404 | 410 => GitHubError::NotFound { route },
        500..=599 => GitHubError::Server { route, status },
        _ => GitHubError::Validation {
            route,
            status,
            message: error_message(&answer.body),
        },
    }
}

/// reqwest is built without a TLS provider of its own (ring only, no aws-lc): install
/// ring as the process default once. "Already installed" is fine.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
