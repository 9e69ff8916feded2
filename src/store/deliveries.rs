//! Processed webhook deliveries: `webhooks/github/deliveries/<id>`, written after a
//! delivery was handled, so a redelivery is acknowledged and skipped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::modify;
use super::{Store, StoreError, check_segment};

/// Where delivery records are kept.
pub const PREFIX: &str = "webhooks/github/deliveries/";

/// The key of one delivery record.
pub fn key(delivery_id: &str) -> Result<String, StoreError> {
    check_segment("delivery id", delivery_id)?;
    Ok(format!("{PREFIX}{delivery_id}"))
}

/// What is stored per delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    /// GitHub's `X-GitHub-Delivery` id.
    pub delivery_id: String,
    /// When tfpilot finished processing it.
    pub processed_at: DateTime<Utc>,
}

/// Typed access to delivery records.
#[derive(Debug, Clone)]
pub struct Deliveries {
    store: Arc<dyn Store>,
}

impl Deliveries {
    /// Delivery records in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records a processed delivery; `Ok(false)` when it was already recorded.
    pub async fn record(&self, delivery_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let key = key(delivery_id)?;
        let record = DeliveryRecord {
            delivery_id: delivery_id.to_owned(),
            processed_at: now,
        };
        modify::create_json(&*self.store, &key, &record).await
    }

    /// Whether a delivery was already processed.
    pub async fn seen(&self, delivery_id: &str) -> Result<bool, StoreError> {
        let key = key(delivery_id)?;
        match self.store.get(&key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
