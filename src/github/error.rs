//! Errors from talking to GitHub.
//!
//! No variant ever carries a token, a JWT, a private key or a request header: the texts
//! come from GitHub's `message` field, from our own wording, or from transport errors that
//! never see the `Authorization` header.

use std::time::Duration;

/// Why a GitHub call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitHubError {
    /// 404 (or 410 for expired artifacts): the thing does not exist or the app cannot see it.
    #[error("not found: {route}")]
    NotFound {
        /// The route template that was called.
        route: &'static str,
    },
    /// 401 after one token renewal, or the JWT was refused.
    #[error("unauthorized: {route}")]
    Unauthorized {
        /// The route template that was called.
        route: &'static str,
    },
    /// 403 that is not a rate limit: the app lacks a permission.
    #[error("forbidden: {route}: {message}")]
    Forbidden {
        /// The route template that was called.
        route: &'static str,
        /// GitHub's `message`.
        message: String,
    },
    /// Rate limited and the wait GitHub asked for is longer than we are willing to block,
    /// or the retries were used up while limited.
    #[error("rate limited: {route} (retry after {retry_after:?})")]
    RateLimited {
        /// The route template that was called.
        route: &'static str,
        /// How long GitHub asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// 400/409/422 (and other 4xx): GitHub refused the request as given.
    #[error("validation failed ({status}) on {route}: {message}")]
    Validation {
        /// The route template that was called.
        route: &'static str,
        /// HTTP status code.
        status: u16,
        /// GitHub's `message`, with the `errors[].message`/`code` entries appended.
        message: String,
    },
    /// 5xx after the retries were used up.
    #[error("GitHub server error {status} on {route}")]
    Server {
        /// The route template that was called.
        route: &'static str,
        /// HTTP status code.
        status: u16,
    },
    /// Connection, TLS or timeout failure after the retries were used up.
    #[error("transport error on {route}: {message}")]
    Transport {
        /// The route template that was called.
        route: &'static str,
        /// What the HTTP stack said.
        message: String,
    },
    /// The response did not have the shape we expect.
    #[error("could not decode the response of {route}: {message}")]
    Decode {
        /// The route template that was called.
        route: &'static str,
        /// What did not fit (never response values for secret-bearing routes).
        message: String,
    },
    /// Our own input or configuration is unusable (bad key, bad URL, too many check actions).
    #[error("invalid request: {0}")]
    Invalid(String),
}

impl GitHubError {
    /// True when GitHub said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, GitHubError::NotFound { .. })
    }

    /// The HTTP status GitHub answered with, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::NotFound { .. } => Some(404),
            GitHubError::Unauthorized { .. } => Some(401),
            GitHubError::Forbidden { .. } => Some(403),
            GitHubError::Validation { status, .. } | GitHubError::Server { status, .. } => {
                Some(*status)
            }
            GitHubError::RateLimited { .. }
            | GitHubError::Transport { .. }
            | GitHubError::Decode { .. }
            | GitHubError::Invalid(_) => None,
        }
    }
}

/// Result of a GitHub call.
pub type GitHubResult<T> = Result<T, GitHubError>;
