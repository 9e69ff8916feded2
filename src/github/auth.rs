//! GitHub App authentication: the app's JWT and the per-installation token cache.

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use octocrab::jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::error::{GitHubError, GitHubResult};

/// How far before `iat` GitHub's clock may be: GitHub recommends 60 s.
const CLOCK_DRIFT_SECS: i64 = 60;
/// JWT lifetime from `now`: 9 minutes, so `exp - iat` is 10 minutes, GitHub's maximum.
const JWT_LIFETIME_SECS: i64 = 9 * 60;

/// The app's identity: its id and RSA private key. Debug never prints the key.
#[derive(Clone)]
pub struct AppCredentials {
    app_id: u64,
    key: EncodingKey,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    // A string, as RFC 7519 says and as go-github's ghinstallation sends it: standard JWT
    // validators (the simulator's included) reject a numeric `iss`; GitHub takes both.
    iss: String,
}

impl AppCredentials {
    /// From the PEM text (PKCS#1 as GitHub downloads it, or PKCS#8).
    pub fn from_pem(app_id: u64, pem: &SecretString) -> GitHubResult<Self> {
        // jsonwebtoken's error names the problem ("InvalidKeyFormat"), never the key bytes.
        let key = EncodingKey::from_rsa_pem(pem.expose_secret().as_bytes())
            .map_err(|e| GitHubError::Invalid(format!("app private key is not an RSA PEM: {e}")))?;
        Ok(AppCredentials { app_id, key })
    }

    /// From a PEM file (e.g. `TFPILOT_PRIVATE_KEY_PATH`).
    pub fn from_pem_file(app_id: u64, path: &Path) -> GitHubResult<Self> {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            GitHubError::Invalid(format!(
                "cannot read app private key {}: {e}",
                path.display()
            ))
        })?;
        Self::from_pem(app_id, &SecretString::from(pem))
    }

    /// The app id (the JWT's `iss`, as a decimal string).
    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// A fresh RS256 JWT for app-level calls: `iat` = now − 60 s, `exp` = now + 9 min.
    pub fn jwt(&self) -> GitHubResult<SecretString> {
        self.jwt_at(Utc::now().timestamp())
    }

    /// The JWT as issued at `now` (epoch seconds).
    pub fn jwt_at(&self, now: i64) -> GitHubResult<SecretString> {
        let claims = Claims {
            iat: now - CLOCK_DRIFT_SECS,
            exp: now + JWT_LIFETIME_SECS,
            iss: self.app_id.to_string(),
        };
        encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| GitHubError::Invalid(format!("cannot sign the app JWT: {e}")))
    }
}

/// An installation token and when GitHub says it expires.
#[derive(Clone)]
pub(crate) struct InstallationToken {
    pub token: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// One installation's cached token, and the last failed refresh so that callers who
/// were waiting for that refresh share its failure instead of each trying again.
#[derive(Default)]
struct SlotState {
    token: Option<InstallationToken>,
    failure: Option<(Instant, GitHubError)>,
}

type Slot = Arc<tokio::sync::Mutex<SlotState>>;

/// Installation tokens, one slot per installation.
///
/// Each slot has its own async mutex held across the refresh, so concurrent callers of
/// one installation wait for the single refresh in flight instead of starting their own,
/// while other installations are not blocked.
pub(crate) struct TokenCache {
    refresh_margin: Duration,
    slots: Mutex<HashMap<u64, Slot>>,
}

impl TokenCache {
    pub(crate) fn new(refresh_margin: Duration) -> Self {
        TokenCache {
            refresh_margin,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, installation_id: u64) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(installation_id).or_default().clone()
    }

    /// The cached token, or a fresh one from `fetch` when none is cached or the cached
    /// one expires within the refresh margin.
    pub(crate) async fn get<F, Fut>(
        &self,
        installation_id: u64,
        fetch: F,
    ) -> GitHubResult<SecretString>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = GitHubResult<InstallationToken>>,
    {
        let arrived = Instant::now();
        let slot = self.slot(installation_id);
        let mut state = slot.lock().await;
        if let Some(token) = state.token.as_ref() {
            let margin =
                chrono::Duration::from_std(self.refresh_margin).unwrap_or(chrono::Duration::zero());
            if token.expires_at - margin > Utc::now() {
                return Ok(token.token.clone());
            }
        }
        // A refresh that ended while we waited failed: it was our refresh too.
        if let Some((failed_at, error)) = &state.failure
            && *failed_at >= arrived
        {
            return Err(error.clone());
        }
        match fetch().await {
            Ok(fresh) => {
                let token = fresh.token.clone();
                state.token = Some(fresh);
                state.failure = None;
                Ok(token)
            }
            Err(error) => {
                state.failure = Some((Instant::now(), error.clone()));
                Err(error)
            }
        }
    }

    /// Forget `failed` after GitHub refused it (401). A token that was already replaced by
    /// a concurrent caller is left alone, so a burst of 401s causes one renewal.
    pub(crate) async fn invalidate(&self, installation_id: u64, failed: &SecretString) {
        let slot = self.slot(installation_id);
        let mut state = slot.lock().await;
        let same = state
            .token
            .as_ref()
            .is_some_and(|t| t.token.expose_secret() == failed.expose_secret());
        if same {
            state.token = None;
        }
    }
}
