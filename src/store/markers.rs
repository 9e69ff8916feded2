//! Once-markers: `markers/<name>`, created if absent, answering "is this the first
//! time?" across replicas (drift dispatch per schedule slot, redelivery handling).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Store, StoreError, check_segment, modify};

/// The key of a marker; `name` may have several `/`-separated segments.
pub fn key(name: &str) -> Result<String, StoreError> {
    for segment in name.split('/') {
        check_segment("marker name", segment)?;
    }
    Ok(format!("markers/{name}"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Marker {
    /// Random per attempt: lets a caller whose create timed out recognise its own write.
    token: String,
    created_at: DateTime<Utc>,
}

impl Marker {
    fn new(created_at: DateTime<Utc>) -> Marker {
        Marker {
            token: claim_token(),
            created_at,
        }
    }
}

/// A random token that tells one claiming attempt's write from another's, even when
/// they are made at the same instant (an identical write would pass for either).
pub fn claim_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Typed access to once-markers.
#[derive(Debug, Clone)]
pub struct Markers {
    store: Arc<dyn Store>,
}

impl Markers {
    /// Markers in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Sets the marker; `true` exactly once per name, for whoever set it first.
    pub async fn first_time(&self, name: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let key = key(name)?;
        let marker = Marker::new(now);
        let body = modify::encode(&key, &marker)?;
        match self.store.create(&key, body).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_precondition_failed() => Ok(false),
            Err(e @ StoreError::Unavailable { .. }) => self.landed(&key, &marker, e).await,
            Err(e) => Err(e),
        }
    }

    /// Takes the marker over when it was set at least `age` before `now` (its setter is
    /// presumed gone): `true` for the one caller whose conditional replace lands.
    /// `false` when it is younger, missing, or another caller took it first.
    pub async fn take_over_if_older(
        &self,
        name: &str,
        now: DateTime<Utc>,
        age: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let key = key(name)?;
        let Some((stored, etag)) = modify::get_json::<Marker>(&*self.store, &key).await? else {
            return Ok(false);
        };
        if now - stored.created_at < age {
            return Ok(false);
        }
        let marker = Marker::new(now);
        let body = modify::encode(&key, &marker)?;
        match self.store.replace(&key, body, &etag).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_precondition_failed() || e.is_not_found() => Ok(false),
            Err(e @ StoreError::Unavailable { .. }) => self.landed(&key, &marker, e).await,
            Err(e) => Err(e),
        }
    }

    /// After a write of `marker` failed with `failed` (unavailable): whether it landed
    /// anyway, told by our token in what is stored; `failed` when that cannot be read.
    async fn landed(
        &self,
        key: &str,
        marker: &Marker,
        failed: StoreError,
    ) -> Result<bool, StoreError> {
        match modify::get_json::<Marker>(&*self.store, key).await {
            Ok(Some((stored, _))) => Ok(stored.token == marker.token),
            _ => Err(failed),
        }
    }

    /// When the marker was set (`None`: not set).
    pub async fn set_at(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let key = key(name)?;
        Ok(modify::get_json::<Marker>(&*self.store, &key)
            .await?
            .map(|(m, _)| m.created_at))
    }

    /// Stores `value` under the marker `name` if nothing is there yet (what a claimed
    /// action came to, for a later attempt to finish from); `false` when one was.
    pub async fn note<T: Serialize>(&self, name: &str, value: &T) -> Result<bool, StoreError> {
        let key = key(name)?;
        let body = modify::encode(&key, value)?;
        match self.store.create(&key, body.clone()).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_precondition_failed() => Ok(false),
            // The create may have landed before the error: the same bytes say it did.
            Err(e @ StoreError::Unavailable { .. }) => match self.store.get(&key).await {
                Ok(stored) => Ok(stored.body == body),
                Err(_) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// The value stored by [`Markers::note`] under `name`, if any.
    pub async fn read_note<T: for<'de> Deserialize<'de>>(
        &self,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let key = key(name)?;
        Ok(modify::get_json::<T>(&*self.store, &key)
            .await?
            .map(|(v, _)| v))
    }

    /// Removes the marker, so the next `first_time` is true again (for an action that
    /// was claimed and then definitely failed).
    pub async fn clear(&self, name: &str) -> Result<(), StoreError> {
        let key = key(name)?;
        self.store.delete(&key, None).await
    }

    /// Whether the marker is set.
    pub async fn is_set(&self, name: &str) -> Result<bool, StoreError> {
        let key = key(name)?;
        match self.store.get(&key).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }
}
