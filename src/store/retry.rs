//! A store wrapper that retries transient failures (`Unavailable`) a few times with
//! backoff, telling a write that landed before its error apart from one that did
//! not by reading the key back: a retried create or replace that then loses its
//! condition has won if the key holds exactly its bytes, and a retried delete that
//! finds nothing has won too. `open_store` puts it over the folder and S3 stores.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ETag, ListPage, Object, Store, StoreError};

/// How often and how patiently transient failures are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransientRetry {
    /// Attempts in total, the first included.
    pub attempts: u32,
    /// Backoff ceiling after the first failure; doubles per attempt (full jitter).
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
}

impl Default for TransientRetry {
    fn default() -> Self {
        // Short: a delivery handler waits for it, and GitHub gives up after 10 s.
        Self {
            attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(200),
        }
    }
}

impl TransientRetry {
    fn backoff(&self, attempt: u32) -> Duration {
        super::modify::full_jitter(self.base_delay, self.max_delay, attempt)
    }
}

/// Retries transient failures of the store it wraps.
pub struct RetryingStore {
    inner: Arc<dyn Store>,
    policy: TransientRetry,
}

impl fmt::Debug for RetryingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryingStore")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl RetryingStore {
    /// Wraps `inner` with the default policy.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self::with_policy(inner, TransientRetry::default())
    }

    /// Wraps `inner` with `policy`.
    pub fn with_policy(inner: Arc<dyn Store>, policy: TransientRetry) -> Self {
        Self { inner, policy }
    }

    async fn pause(&self, attempt: u32) {
        tokio::time::sleep(self.policy.backoff(attempt)).await;
    }

    /// Whether `key` holds exactly `body` (its tag if so); `None` when unknown.
    async fn holds(&self, key: &str, body: &Bytes) -> Option<Option<ETag>> {
        for attempt in 1..=self.policy.attempts.max(1) {
            match self.inner.get(key).await {
                Ok(object) => return Some((object.body == *body).then_some(object.etag)),
                Err(e) if e.is_not_found() => return Some(None),
                Err(e) if e.is_transient() => self.pause(attempt).await,
                Err(_) => return None,
            }
        }
        None
    }

    /// A write retried after `Unavailable`: a lost condition means ours may have landed.
    async fn write<F, Fut>(&self, key: &str, body: &Bytes, call: F) -> Result<ETag, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<ETag, StoreError>>,
    {
        let attempts = self.policy.attempts.max(1);
        let mut uncertain = false;
        let mut attempt = 1;
        loop {
            match call().await {
                Err(e) if e.is_precondition_failed() && uncertain => {
                    return match self.holds(key, body).await {
                        Some(Some(etag)) => Ok(etag),
                        _ => Err(e),
                    };
                }
                Err(StoreError::Unavailable { .. }) if attempt < attempts => {
                    uncertain = true;
                    self.pause(attempt).await;
                    attempt += 1;
                    // The write may have landed: if the key holds our bytes, it did.
                    if let Some(Some(etag)) = self.holds(key, body).await {
                        return Ok(etag);
                    }
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl Store for RetryingStore {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let mut attempt = 1;
        loop {
            match self.inner.get(key).await {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    self.pause(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        self.write(key, &body, || self.inner.create(key, body.clone()))
            .await
    }

    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        self.write(key, &body, || {
            self.inner.replace(key, body.clone(), if_match)
        })
        .await
    }

    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        let mut uncertain = false;
        let mut attempt = 1;
        loop {
            match self.inner.delete(key, if_match).await {
                // Our earlier attempt deleted it.
                Err(e) if e.is_not_found() && uncertain => return Ok(()),
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    uncertain = true;
                    self.pause(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let mut attempt = 1;
        loop {
            match self.inner.list(prefix, start_after, limit).await {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    self.pause(attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Fault, FaultAction, FaultStore, MemoryStore, OpKind};

    fn faulty() -> (Arc<FaultStore>, RetryingStore) {
        let faults = Arc::new(FaultStore::new(Arc::new(MemoryStore::new())));
        let store = RetryingStore::new(faults.clone());
        (faults, store)
    }

    fn fault(op: OpKind, action: FaultAction, times: u32) -> Fault {
        Fault {
            op,
            key_prefix: "k".into(),
            action,
            times,
        }
    }

    #[tokio::test]
    async fn a_create_whose_answer_was_lost_is_ours_and_a_taken_key_is_not() {
        let (faults, store) = faulty();
        faults.inject(fault(OpKind::Create, FaultAction::FailAfter, 1));
        store
            .create("k", Bytes::from_static(b"mine"))
            .await
            .unwrap();
        assert_eq!(store.get("k").await.unwrap().body, "mine");
        assert!(
            store
                .create("k", Bytes::from_static(b"other"))
                .await
                .unwrap_err()
                .is_precondition_failed()
        );
    }

    #[tokio::test]
    async fn a_replace_that_landed_before_its_error_is_not_reported_as_lost() {
        let (faults, store) = faulty();
        let etag = store.create("k", Bytes::from_static(b"1")).await.unwrap();
        faults.inject(fault(OpKind::Replace, FaultAction::FailAfter, 1));
        let new = store
            .replace("k", Bytes::from_static(b"2"), &etag)
            .await
            .unwrap();
        assert_eq!(store.get("k").await.unwrap().etag, new);
        // A stale tag still loses.
        assert!(
            store
                .replace("k", Bytes::from_static(b"3"), &etag)
                .await
                .unwrap_err()
                .is_precondition_failed()
        );
    }

    #[tokio::test]
    async fn failures_before_the_call_are_retried_and_persistent_ones_surface() {
        let (faults, store) = faulty();
        faults.inject(fault(OpKind::Create, FaultAction::FailBefore, 2));
        faults.inject(fault(OpKind::Get, FaultAction::FailBefore, 2));
        store.create("k", Bytes::from_static(b"x")).await.unwrap();
        assert_eq!(store.get("k").await.unwrap().body, "x");
        faults.inject(fault(OpKind::Get, FaultAction::FailBefore, 99));
        assert!(matches!(
            store.get("k").await,
            Err(StoreError::Unavailable { .. })
        ));
    }

    #[tokio::test]
    async fn a_delete_whose_answer_was_lost_succeeds() {
        let (faults, store) = faulty();
        let etag = store.create("k", Bytes::from_static(b"x")).await.unwrap();
        faults.inject(fault(OpKind::Delete, FaultAction::FailAfter, 1));
        store.delete("k", Some(&etag)).await.unwrap();
        assert!(store.get("k").await.unwrap_err().is_not_found());
    }
}
