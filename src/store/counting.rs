//! A store wrapper counting operations by kind and outcome: tests prove "idempotent
//! patches cost zero writes" with it, and `/metrics` exports it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;

use super::{ETag, ListPage, Object, Store, StoreError};

/// A store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// `get`
    Get,
    /// `create` (If-None-Match)
    Create,
    /// `replace` (If-Match)
    Replace,
    /// `delete`
    Delete,
    /// `list`
    List,
}

impl OpKind {
    /// Every kind, in a fixed order.
    pub const ALL: [OpKind; 5] = [
        OpKind::Get,
        OpKind::Create,
        OpKind::Replace,
        OpKind::Delete,
        OpKind::List,
    ];

    /// A lower-case label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Create => "create",
            Self::Replace => "replace",
            Self::Delete => "delete",
            Self::List => "list",
        }
    }

    /// True for operations that change the store.
    pub fn is_write(self) -> bool {
        matches!(self, Self::Create | Self::Replace | Self::Delete)
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Succeeded.
    Ok,
    /// `NotFound`.
    NotFound,
    /// `PreconditionFailed` (a lost race or an existing key).
    PreconditionFailed,
    /// `Unavailable` (transient).
    Unavailable,
    /// Any other error.
    Error,
}

impl Outcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::NotFound,
        Outcome::PreconditionFailed,
        Outcome::Unavailable,
        Outcome::Error,
    ];

    /// A lower-case label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotFound => "not_found",
            Self::PreconditionFailed => "precondition_failed",
            Self::Unavailable => "unavailable",
            Self::Error => "error",
        }
    }

    fn of<T>(result: &Result<T, StoreError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(StoreError::NotFound { .. }) => Self::NotFound,
            Err(StoreError::PreconditionFailed { .. }) => Self::PreconditionFailed,
            Err(StoreError::Unavailable { .. }) => Self::Unavailable,
            Err(_) => Self::Error,
        }
    }
}

fn index(op: OpKind, outcome: Outcome) -> usize {
    let op = OpKind::ALL.iter().position(|o| *o == op).unwrap_or(0);
    let outcome = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
    op * Outcome::ALL.len() + outcome
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpCounts {
    counts: [u64; 25],
}

impl OpCounts {
    /// Operations of `op` that ended with `outcome`.
    pub fn get(&self, op: OpKind, outcome: Outcome) -> u64 {
        self.counts[index(op, outcome)]
    }

    /// All operations of `op`, whatever their outcome.
    pub fn total(&self, op: OpKind) -> u64 {
        Outcome::ALL.iter().map(|o| self.get(op, *o)).sum()
    }

    /// Attempted writes (create, replace, delete), whatever their outcome.
    pub fn writes(&self) -> u64 {
        OpKind::ALL
            .iter()
            .filter(|op| op.is_write())
            .map(|op| self.total(*op))
            .sum()
    }

    /// Writes that succeeded.
    pub fn successful_writes(&self) -> u64 {
        OpKind::ALL
            .iter()
            .filter(|op| op.is_write())
            .map(|op| self.get(*op, Outcome::Ok))
            .sum()
    }

    /// Every non-zero counter as `(op, outcome, count)`, for exporting.
    pub fn iter(&self) -> impl Iterator<Item = (OpKind, Outcome, u64)> + '_ {
        OpKind::ALL.into_iter().flat_map(move |op| {
            Outcome::ALL
                .into_iter()
                .map(move |outcome| (op, outcome, self.get(op, outcome)))
                .filter(|(_, _, n)| *n > 0)
        })
    }

    /// Counts since an earlier snapshot.
    pub fn since(&self, earlier: &OpCounts) -> OpCounts {
        let mut counts = [0; 25];
        for (i, c) in counts.iter_mut().enumerate() {
            *c = self.counts[i].saturating_sub(earlier.counts[i]);
        }
        OpCounts { counts }
    }
}

/// Wraps a store and counts what passes through.
pub struct CountingStore {
    inner: Arc<dyn Store>,
    counters: [AtomicU64; 25],
}

impl fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingStore")
            .field("inner", &self.inner)
            .field("counts", &self.counts())
            .finish()
    }
}

impl CountingStore {
    /// Counts operations on `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> OpCounts {
        OpCounts {
            counts: std::array::from_fn(|i| self.counters[i].load(Ordering::Relaxed)),
        }
    }

    fn note<T>(&self, op: OpKind, result: Result<T, StoreError>) -> Result<T, StoreError> {
        self.counters[index(op, Outcome::of(&result))].fetch_add(1, Ordering::Relaxed);
        result
    }
}

#[async_trait]
impl Store for CountingStore {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let result = self.inner.get(key).await;
        self.note(OpKind::Get, result)
    }

    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        let result = self.inner.create(key, body).await;
        self.note(OpKind::Create, result)
    }

    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        let result = self.inner.replace(key, body, if_match).await;
        self.note(OpKind::Replace, result)
    }

    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        let result = self.inner.delete(key, if_match).await;
        self.note(OpKind::Delete, result)
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let result = self.inner.list(prefix, start_after, limit).await;
        self.note(OpKind::List, result)
    }
}

/// Exports a [`CountingStore`]'s counts on `/metrics` as
/// `tfpilot_store_operations_total{op, outcome}`:
/// `registry.register_collector(Box::new(StoreMetrics(counting.clone())))`.
#[derive(Debug)]
pub struct StoreMetrics(pub Arc<CountingStore>);

impl prometheus_client::collector::Collector for StoreMetrics {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;

        let counts = self.0.counts();
        let mut family = encoder.encode_descriptor(
            "tfpilot_store_operations",
            "Store operations by kind and outcome.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (op, outcome, n) in counts.iter() {
            let labels = [("op", op.as_str()), ("outcome", outcome.as_str())];
            ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn counts_by_kind_and_outcome_and_exports_them() {
        let counting = Arc::new(CountingStore::new(Arc::new(MemoryStore::new())));
        counting
            .create("k", Bytes::from_static(b"1"))
            .await
            .unwrap();
        assert!(
            counting
                .create("k", Bytes::from_static(b"2"))
                .await
                .is_err()
        );
        assert!(counting.get("missing").await.is_err());
        let counts = counting.counts();
        assert_eq!(counts.get(OpKind::Create, Outcome::Ok), 1);
        assert_eq!(counts.get(OpKind::Create, Outcome::PreconditionFailed), 1);
        assert_eq!(counts.get(OpKind::Get, Outcome::NotFound), 1);
        assert_eq!(counts.writes(), 2);
        assert_eq!(counts.successful_writes(), 1);

        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(StoreMetrics(counting.clone())));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(
                "tfpilot_store_operations_total{op=\"create\",outcome=\"precondition_failed\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("tfpilot_store_operations_total{op=\"get\",outcome=\"not_found\"} 1"),
            "{text}"
        );
    }
}
