//! A store wrapper that injects faults into chosen operations: fail before the call,
//! apply the call and then report failure ("write applied, response lost"), or delay.
//! Tests use it to prove the repositories survive what S3 and networks really do.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{ETag, ListPage, Object, OpKind, Store, StoreError};

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// Return `Unavailable` without calling the inner store.
    FailBefore,
    /// Call the inner store, then return `Unavailable` whatever it did.
    FailAfter,
    /// Wait, then call the inner store.
    Delay(Duration),
    /// Wait, then return `Unavailable` without calling the inner store: a request that
    /// timed out before it got there, while other callers went on.
    TimeOut(Duration),
}

/// One fault: which operation on which keys, what to do, how many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The operation to hit.
    pub op: OpKind,
    /// Only keys (or list prefixes) starting with this.
    pub key_prefix: String,
    /// What happens.
    pub action: FaultAction,
    /// How many matching operations it hits before it is spent.
    pub times: u32,
}

/// Faults on a random fraction of every operation, on top of the scripted ones.
#[derive(Debug, Clone, PartialEq)]
pub struct FractionalFaults {
    /// Probability (0.0–1.0) that an operation of any kind fails.
    pub rate: f64,
    /// Of the failing writes, the share (0.0–1.0) that is applied before the error
    /// ("write applied, response lost"); the rest fail before reaching the store.
    pub lost_response_share: f64,
    /// Seed of the random draws.
    pub seed: u64,
}

/// How many faults a [`FaultStore`] injected, by what they did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InjectedCounts {
    /// Failed without calling the inner store.
    pub failed_before: u64,
    /// Applied by the inner store, then reported as failed.
    pub failed_after: u64,
    /// Delayed.
    pub delayed: u64,
}

struct Fractional {
    faults: FractionalFaults,
    rng: StdRng,
}

/// Wraps a store and applies scripted faults.
pub struct FaultStore {
    inner: Arc<dyn Store>,
    faults: Mutex<Vec<Fault>>,
    fractional: Mutex<Option<Fractional>>,
    injected: Mutex<InjectedCounts>,
}

impl fmt::Debug for FaultStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl FaultStore {
    /// No faults yet.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            faults: Mutex::new(Vec::new()),
            fractional: Mutex::new(None),
            injected: Mutex::new(InjectedCounts::default()),
        }
    }

    /// Fails a random fraction of all operations from now on (`None`: stop).
    pub fn set_fractional(&self, faults: Option<FractionalFaults>) {
        *self.fractional.lock().unwrap_or_else(|p| p.into_inner()) = faults.map(|f| Fractional {
            rng: StdRng::seed_from_u64(f.seed),
            faults: f,
        });
    }

    /// The faults injected so far.
    pub fn injected(&self) -> InjectedCounts {
        *self.injected.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, action: &FaultAction) {
        let mut n = self.injected.lock().unwrap_or_else(|p| p.into_inner());
        match action {
            FaultAction::FailBefore => n.failed_before += 1,
            FaultAction::FailAfter => n.failed_after += 1,
            FaultAction::Delay(_) => n.delayed += 1,
            FaultAction::TimeOut(_) => {
                n.delayed += 1;
                n.failed_before += 1;
            }
        }
    }

    fn roll(&self, op: OpKind) -> Option<FaultAction> {
        let mut guard = self.fractional.lock().unwrap_or_else(|p| p.into_inner());
        let Fractional { faults, rng } = guard.as_mut()?;
        if !rng.gen_bool(faults.rate.clamp(0.0, 1.0)) {
            return None;
        }
        // a read that "landed" is just a failed read; only writes can be lost responses
        let lost = op.is_write() && rng.gen_bool(faults.lost_response_share.clamp(0.0, 1.0));
        Some(if lost {
            FaultAction::FailAfter
        } else {
            FaultAction::FailBefore
        })
    }

    /// Adds a fault; the first matching unspent fault applies.
    pub fn inject(&self, fault: Fault) {
        self.faults().push(fault);
    }

    /// Faults not yet spent.
    pub fn pending(&self) -> Vec<Fault> {
        self.faults()
            .iter()
            .filter(|f| f.times > 0)
            .cloned()
            .collect()
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take(&self, op: OpKind, key: &str) -> Option<FaultAction> {
        let scripted = {
            let mut faults = self.faults();
            faults
                .iter_mut()
                .find(|f| f.op == op && f.times > 0 && key.starts_with(&f.key_prefix))
                .map(|fault| {
                    fault.times -= 1;
                    fault.action.clone()
                })
        };
        let action = scripted.or_else(|| self.roll(op))?;
        self.count(&action);
        Some(action)
    }

    async fn run<T, Fut>(&self, op: OpKind, key: &str, call: Fut) -> Result<T, StoreError>
    where
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let injected = || StoreError::Unavailable {
            key: key.to_owned(),
            reason: format!("injected fault on {}", op.as_str()),
        };
        match self.take(op, key) {
            None => call.await,
            Some(FaultAction::FailBefore) => Err(injected()),
            Some(FaultAction::FailAfter) => {
                let _ = call.await;
                Err(injected())
            }
            Some(FaultAction::Delay(d)) => {
                tokio::time::sleep(d).await;
                call.await
            }
            Some(FaultAction::TimeOut(d)) => {
                tokio::time::sleep(d).await;
                Err(injected())
            }
        }
    }
}

#[async_trait]
impl Store for FaultStore {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        self.run(OpKind::Get, key, self.inner.get(key)).await
    }

    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        self.run(OpKind::Create, key, self.inner.create(key, body))
            .await
    }

    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        self.run(
            OpKind::Replace,
            key,
            self.inner.replace(key, body, if_match),
        )
        .await
    }

    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        self.run(OpKind::Delete, key, self.inner.delete(key, if_match))
            .await
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        self.run(
            OpKind::List,
            prefix,
            self.inner.list(prefix, start_after, limit),
        )
        .await
    }
}
