//! The app itself: webhook deliveries and the manifest conversion.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::*;

/// One app webhook delivery (`hook-delivery-item`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookDelivery {
    /// Delivery id (for redelivery).
    pub id: u64,
    /// `X-GitHub-Delivery`, kept across redeliveries.
    pub guid: String,
    /// When delivered.
    pub delivered_at: DateTime<Utc>,
    /// Whether this was a redelivery.
    pub redelivery: bool,
    /// `OK` when fine.
    pub status: String,
    /// HTTP status our endpoint answered (0 when unreachable).
    pub status_code: u16,
    /// Event name.
    pub event: String,
    /// Action.
    #[serde(default)]
    pub action: Option<String>,
    /// Installation.
    #[serde(default)]
    pub installation_id: Option<u64>,
    /// Repository.
    #[serde(default)]
    pub repository_id: Option<u64>,
}

/// One page of app webhook deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    /// Deliveries, newest first.
    pub deliveries: Vec<HookDelivery>,
    /// Cursor for the next page (from the `Link` header), if any.
    pub next_cursor: Option<String>,
}

/// What `POST /app-manifests/{code}/conversions` returns: the new app and its secrets.
pub struct ManifestConversion {
    /// App id.
    pub id: u64,
    /// App slug.
    pub slug: Option<String>,
    /// App name.
    pub name: String,
    /// Web link.
    pub html_url: String,
    /// Owner account.
    pub owner: Option<User>,
    /// OAuth client id (also usable as JWT `iss`).
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: SecretString,
    /// Webhook secret, when the manifest had a hook.
    pub webhook_secret: Option<SecretString>,
    /// The app's private key (PEM).
    pub pem: SecretString,
}

impl std::fmt::Debug for ManifestConversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestConversion")
            .field("id", &self.id)
            .field("slug", &self.slug)
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("secrets", &"[redacted]")
            .finish()
    }
}
