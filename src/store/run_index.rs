//! The run index: `webhooks/github/run-index/<kind>/run-<runId>.json` maps a workflow
//! run to its request in one read, as the seed's `putRunIndex`/`getRequestIdByRunId` did.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use super::modify;
use super::{Store, StoreError, check_segment};

/// How long an entry is meant to live (metadata only, unless a bucket lifecycle rule
/// on `webhooks/github/run-index/` acts on it).
pub const RUN_INDEX_TTL_DAYS: i64 = 90;

/// One run index entry, in the seed's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunIndexEntry {
    /// The workflow kind (`plan`, `apply`, `destroy`, `cleanup`, `drift_plan`).
    pub kind: String,
    /// The GitHub Actions run id.
    #[serde(deserialize_with = "number_or_string")]
    pub run_id: u64,
    /// The request the run belongs to.
    pub request_id: String,
    /// When the entry was written.
    pub created_at: DateTime<Utc>,
    /// `created_at` + 90 days.
    pub expires_at: DateTime<Utc>,
}

/// The seed's TypeScript wrote run ids as numbers, but strings appear in older docs.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// The key of one entry.
pub fn key(kind: &str, run_id: u64) -> Result<String, StoreError> {
    check_segment("workflow kind", kind)?;
    Ok(format!(
        "webhooks/github/run-index/{kind}/run-{run_id}.json"
    ))
}

/// Typed access to the run index.
#[derive(Debug, Clone)]
pub struct RunIndex {
    store: Arc<dyn Store>,
}

impl RunIndex {
    /// The run index in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Records that run `run_id` of `kind` belongs to `request_id`. The first writer
    /// wins: returns the entry as stored, which names another request only if the run
    /// was already indexed to it.
    pub async fn put(
        &self,
        kind: &str,
        run_id: u64,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<RunIndexEntry, StoreError> {
        check_segment("request id", request_id)?;
        let key = key(kind, run_id)?;
        let entry = RunIndexEntry {
            kind: kind.to_owned(),
            run_id,
            request_id: request_id.to_owned(),
            created_at: now,
            expires_at: now + Duration::days(RUN_INDEX_TTL_DAYS),
        };
        if modify::create_json(&*self.store, &key, &entry).await? {
            return Ok(entry);
        }
        match modify::get_json::<RunIndexEntry>(&*self.store, &key).await? {
            Some((existing, _)) => {
                if existing.request_id != request_id {
                    tracing::warn!(
                        kind,
                        run_id,
                        indexed = %existing.request_id,
                        attempted = request_id,
                        "run already indexed to another request; keeping the first"
                    );
                }
                Ok(existing)
            }
            // Deleted between our create and read: nothing to keep, so try once more.
            None if modify::create_json(&*self.store, &key, &entry).await? => Ok(entry),
            None => Err(StoreError::precondition(&key)),
        }
    }

    /// Looks a run up.
    pub async fn get(&self, kind: &str, run_id: u64) -> Result<Option<RunIndexEntry>, StoreError> {
        let key = key(kind, run_id)?;
        Ok(modify::get_json(&*self.store, &key).await?.map(|(e, _)| e))
    }

    /// The request id a run belongs to, if indexed.
    pub async fn request_id(&self, kind: &str, run_id: u64) -> Result<Option<String>, StoreError> {
        Ok(self.get(kind, run_id).await?.map(|e| e.request_id))
    }
}
