//! Environment locks: `locks/<owner>/<repo>/<env>.json` holds who may apply or destroy
//! in an environment now, and a FIFO queue of who waits. Every transition is one
//! conditional write of the whole document, so two replicas can never both hand out
//! the lock, and nobody's place in the queue is lost.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::modify::{self, Change, RetryPolicy};
use super::{Store, StoreError, check_segment};

/// The request currently allowed to run in the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockHolder {
    /// The holding request.
    pub request_id: String,
    /// What it runs (`apply`, `destroy`).
    pub kind: String,
    /// The workflow run, once dispatched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
    /// When it got the lock.
    pub since: DateTime<Utc>,
}

/// A request waiting for the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuedClaim {
    /// The waiting request.
    pub request_id: String,
    /// What it will run.
    pub kind: String,
    /// When it joined the queue.
    pub queued_at: DateTime<Utc>,
}

/// The stored lock document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LockDoc {
    /// Who holds the lock, if anyone.
    #[serde(default)]
    pub holder: Option<LockHolder>,
    /// Who waits, first in line first.
    #[serde(default)]
    pub queue: Vec<QueuedClaim>,
}

impl LockDoc {
    /// 1-based place of a request in the queue.
    pub fn position(&self, request_id: &str) -> Option<usize> {
        self.queue
            .iter()
            .position(|c| c.request_id == request_id)
            .map(|i| i + 1)
    }

    /// The `acquire` transition (pure: the store applies it with one conditional write).
    pub fn acquire(
        current: Option<&LockDoc>,
        request_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Change<LockDoc, Acquire> {
        let mut doc = current.cloned().unwrap_or_default();
        if doc.holder.is_none()
            && doc
                .queue
                .first()
                .is_some_and(|c| c.request_id != request_id)
        {
            // Free but others wait (only after a manual edit): the longest waiter goes
            // first, and this request queues behind it as usual.
            doc.promote_next(now);
        }
        match doc.holder.clone() {
            Some(holder) if holder.request_id == request_id => Change::Keep(Acquire::Held {
                holder,
                newly: false,
            }),
            Some(holder) => {
                let position = match doc.position(request_id) {
                    Some(position) if current == Some(&doc) => {
                        return Change::Keep(Acquire::Queued { position, holder });
                    }
                    Some(position) => position,
                    None => {
                        doc.queue.push(QueuedClaim {
                            request_id: request_id.to_owned(),
                            kind: kind.to_owned(),
                            queued_at: now,
                        });
                        doc.queue.len()
                    }
                };
                Change::Write(doc, Acquire::Queued { position, holder })
            }
            None => {
                doc.queue.retain(|c| c.request_id != request_id);
                let holder = LockHolder {
                    request_id: request_id.to_owned(),
                    kind: kind.to_owned(),
                    run_id: None,
                    since: now,
                };
                doc.holder = Some(holder.clone());
                Change::Write(
                    doc,
                    Acquire::Held {
                        holder,
                        newly: true,
                    },
                )
            }
        }
    }

    /// The `release` transition: `holder` must hold the lock (`None`: whoever holds it).
    pub fn release(
        current: Option<&LockDoc>,
        holder: Option<&str>,
        now: DateTime<Utc>,
    ) -> Change<LockDoc, Release> {
        let Some(mut doc) = current.cloned() else {
            return Change::Keep(Release::NotHolder { holder: None });
        };
        let holds = match (&doc.holder, holder) {
            (Some(h), Some(id)) => h.request_id == id,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !holds {
            return Change::Keep(Release::NotHolder { holder: doc.holder });
        }
        doc.promote_next(now);
        let next = doc.holder.clone();
        Change::Write(doc, Release::Released { next })
    }

    /// The `remove_from_queue` transition; `true` when the request was waiting.
    pub fn remove_from_queue(current: Option<&LockDoc>, request_id: &str) -> Change<LockDoc, bool> {
        match current {
            Some(doc) if doc.position(request_id).is_some() => {
                let mut doc = doc.clone();
                doc.queue.retain(|c| c.request_id != request_id);
                Change::Write(doc, true)
            }
            _ => Change::Keep(false),
        }
    }

    /// The `attach_run` transition; `true` when `request_id` holds the lock.
    pub fn attach_run(
        current: Option<&LockDoc>,
        request_id: &str,
        run_id: u64,
    ) -> Change<LockDoc, bool> {
        let Some(mut doc) = current.cloned() else {
            return Change::Keep(false);
        };
        match &mut doc.holder {
            Some(holder) if holder.request_id == request_id => {
                if holder.run_id == Some(run_id) {
                    return Change::Keep(true);
                }
                holder.run_id = Some(run_id);
                Change::Write(doc, true)
            }
            _ => Change::Keep(false),
        }
    }

    fn promote_next(&mut self, now: DateTime<Utc>) {
        self.holder = if self.queue.is_empty() {
            None
        } else {
            let next = self.queue.remove(0);
            Some(LockHolder {
                request_id: next.request_id,
                kind: next.kind,
                run_id: None,
                since: now,
            })
        };
    }
}

/// The answer to [`EnvLocks::acquire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquire {
    /// The request holds the lock (`newly`: this call took it).
    Held {
        /// The holder record.
        holder: LockHolder,
        /// False when the request already held it.
        newly: bool,
    },
    /// Someone else holds it; the request waits at `position` (1 = next).
    Queued {
        /// 1-based place in the queue.
        position: usize,
        /// Who holds the lock now.
        holder: LockHolder,
    },
}

/// The answer to [`EnvLocks::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// Released; the lock went to the first in the queue, if any.
    Released {
        /// The new holder.
        next: Option<LockHolder>,
    },
    /// The request did not hold the lock; nothing changed.
    NotHolder {
        /// Who holds it.
        holder: Option<LockHolder>,
    },
}

/// The key of an environment's lock.
pub fn key(owner: &str, repo: &str, env: &str) -> Result<String, StoreError> {
    check_segment("owner", owner)?;
    check_segment("repository", repo)?;
    check_segment("environment", env)?;
    Ok(format!("locks/{owner}/{repo}/{env}.json"))
}

/// Environment locks in a store.
#[derive(Debug, Clone)]
pub struct EnvLocks {
    store: Arc<dyn Store>,
    retry: RetryPolicy,
}

/// Which environment: `(owner, repo, env)`.
pub type EnvRef<'a> = (&'a str, &'a str, &'a str);

impl EnvLocks {
    /// Locks in `store`, with the default retry policy.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            retry: RetryPolicy::default(),
        }
    }

    /// Same store, another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The lock document (`None`: never locked).
    pub async fn get(&self, env: EnvRef<'_>) -> Result<Option<LockDoc>, StoreError> {
        let key = key(env.0, env.1, env.2)?;
        Ok(modify::get_json(&*self.store, &key).await?.map(|(d, _)| d))
    }

    /// Takes the lock if it is free, else joins the end of the queue. Idempotent: a
    /// holder stays holder, a waiting request keeps its place.
    pub async fn acquire(
        &self,
        env: EnvRef<'_>,
        request_id: &str,
        kind: &str,
        now: DateTime<Utc>,
    ) -> Result<Acquire, StoreError> {
        check_segment("request id", request_id)?;
        self.modify(env, |doc| Ok(LockDoc::acquire(doc, request_id, kind, now)))
            .await
    }

    /// Releases the lock held by `request_id` and hands it to the first in the queue.
    pub async fn release(
        &self,
        env: EnvRef<'_>,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Release, StoreError> {
        self.modify(env, |doc| Ok(LockDoc::release(doc, Some(request_id), now)))
            .await
    }

    /// Releases the lock whoever holds it (`/tfpilot unlock`) and hands it on.
    pub async fn force_release(
        &self,
        env: EnvRef<'_>,
        now: DateTime<Utc>,
    ) -> Result<Release, StoreError> {
        self.modify(env, |doc| Ok(LockDoc::release(doc, None, now)))
            .await
    }

    /// Takes a request out of the queue (it was closed or its apply cancelled);
    /// `true` when it was waiting.
    pub async fn remove_from_queue(
        &self,
        env: EnvRef<'_>,
        request_id: &str,
    ) -> Result<bool, StoreError> {
        self.modify(env, |doc| Ok(LockDoc::remove_from_queue(doc, request_id)))
            .await
    }

    /// Records the workflow run of the holder; `false` when `request_id` does not hold.
    pub async fn attach_run(
        &self,
        env: EnvRef<'_>,
        request_id: &str,
        run_id: u64,
    ) -> Result<bool, StoreError> {
        self.modify(env, |doc| Ok(LockDoc::attach_run(doc, request_id, run_id)))
            .await
    }

    /// Every environment that has a lock document, as `(owner, repo, env)`, ascending.
    pub async fn list(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let keys = super::list_all(&*self.store, "locks/").await?;
        Ok(keys
            .iter()
            .filter_map(|k| {
                let rest = k.strip_prefix("locks/")?.strip_suffix(".json")?;
                let mut parts = rest.split('/');
                let (owner, repo, env) = (parts.next()?, parts.next()?, parts.next()?);
                if parts.next().is_some() {
                    return None;
                }
                Some((owner.to_owned(), repo.to_owned(), env.to_owned()))
            })
            .collect())
    }

    async fn modify<R, F>(&self, env: EnvRef<'_>, f: F) -> Result<R, StoreError>
    where
        F: FnMut(Option<&LockDoc>) -> Result<Change<LockDoc, R>, StoreError>,
    {
        let key = key(env.0, env.1, env.2)?;
        Ok(modify::modify_json(&*self.store, &key, &self.retry, f)
            .await?
            .result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    const ENV: EnvRef<'static> = ("acme", "infra", "prod");

    fn at(minute: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 1, 1, 12, minute, 0).unwrap()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Acquire(usize),
        Release(usize),
        ForceRelease,
        Remove(usize),
        Attach(usize),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (0..5usize).prop_map(Op::Acquire),
            3 => (0..5usize).prop_map(Op::Release),
            1 => Just(Op::ForceRelease),
            1 => (0..5usize).prop_map(Op::Remove),
            1 => (0..5usize).prop_map(Op::Attach),
        ]
    }

    fn apply<R>(doc: &mut Option<LockDoc>, change: Change<LockDoc, R>) -> R {
        match change {
            Change::Keep(r) => r,
            Change::Write(next, r) => {
                assert_ne!(doc.as_ref(), Some(&next), "a write that changes nothing");
                *doc = Some(next);
                r
            }
        }
    }

    proptest::proptest! {
        /// Whatever happens: at most one holder, never also queued, nobody queued
        /// twice, nobody waits on a free lock, and the lock passes in queue order.
        #[test]
        fn lock_invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(), 0..60)) {
            let ids = ["req_a", "req_b", "req_c", "req_d", "req_e"];
            let mut doc: Option<LockDoc> = None;
            for (step, op) in ops.iter().enumerate() {
                let now = at(u32::try_from(step % 60).unwrap());
                let queue_before: Vec<String> = doc
                    .as_ref()
                    .map(|d| d.queue.iter().map(|c| c.request_id.clone()).collect())
                    .unwrap_or_default();
                match op {
                    Op::Acquire(i) => {
                        let change = LockDoc::acquire(doc.as_ref(), ids[*i], "apply", now);
                        match apply(&mut doc, change) {
                            Acquire::Held { holder, .. } => {
                                proptest::prop_assert_eq!(holder.request_id.as_str(), ids[*i]);
                            }
                            Acquire::Queued { position, .. } => {
                                let d = doc.as_ref().unwrap();
                                proptest::prop_assert_eq!(d.position(ids[*i]), Some(position));
                            }
                        }
                    }
                    Op::Release(i) => {
                        let change = LockDoc::release(doc.as_ref(), Some(ids[*i]), now);
                        if let Release::Released { next } = apply(&mut doc, change) {
                            // The lock goes to whoever waited first.
                            let next = next.map(|h| h.request_id);
                            proptest::prop_assert_eq!(next, queue_before.first().cloned());
                        }
                    }
                    Op::ForceRelease => {
                        let change = LockDoc::release(doc.as_ref(), None, now);
                        apply(&mut doc, change);
                    }
                    Op::Remove(i) => {
                        let change = LockDoc::remove_from_queue(doc.as_ref(), ids[*i]);
                        apply(&mut doc, change);
                    }
                    Op::Attach(i) => {
                        let change = LockDoc::attach_run(doc.as_ref(), ids[*i], 7);
                        apply(&mut doc, change);
                    }
                }
                if let Some(d) = &doc {
                    let mut queued: Vec<&str> = d.queue.iter().map(|c| c.request_id.as_str()).collect();
                    if let Some(h) = &d.holder {
                        proptest::prop_assert!(!queued.contains(&h.request_id.as_str()));
                    } else {
                        proptest::prop_assert!(d.queue.is_empty(), "waiting on a free lock");
                    }
                    let len = queued.len();
                    queued.sort_unstable();
                    queued.dedup();
                    proptest::prop_assert_eq!(queued.len(), len, "queued twice");
                }
            }
        }
    }

    #[test]
    fn a_free_lock_with_waiters_goes_to_the_longest_waiter() {
        // Only reachable by editing the document by hand, but then be fair.
        let doc = LockDoc {
            holder: None,
            queue: vec![QueuedClaim {
                request_id: "req_b".into(),
                kind: "destroy".into(),
                queued_at: at(0),
            }],
        };
        let Change::Write(next, Acquire::Queued { position, holder }) =
            LockDoc::acquire(Some(&doc), "req_a", "apply", at(1))
        else {
            panic!("req_a jumped the queue")
        };
        assert_eq!((position, holder.request_id.as_str()), (1, "req_b"));
        assert_eq!(next.position("req_a"), Some(1));
        let Change::Write(_, Acquire::Held { newly: true, .. }) =
            LockDoc::acquire(Some(&doc), "req_b", "destroy", at(1))
        else {
            panic!("the head of the queue did not get a free lock")
        };
    }

    #[tokio::test]
    async fn acquire_queue_release_in_order() {
        let locks = EnvLocks::new(Arc::new(MemoryStore::new()));
        let a = locks.acquire(ENV, "req_a", "apply", at(0)).await.unwrap();
        assert!(matches!(a, Acquire::Held { newly: true, .. }));
        let b = locks.acquire(ENV, "req_b", "apply", at(1)).await.unwrap();
        assert!(matches!(b, Acquire::Queued { position: 1, .. }));
        let c = locks.acquire(ENV, "req_c", "destroy", at(2)).await.unwrap();
        assert!(matches!(c, Acquire::Queued { position: 2, .. }));
        // Asking again changes nothing.
        let b_again = locks.acquire(ENV, "req_b", "apply", at(3)).await.unwrap();
        assert!(matches!(b_again, Acquire::Queued { position: 1, .. }));
        let a_again = locks.acquire(ENV, "req_a", "apply", at(3)).await.unwrap();
        assert!(matches!(a_again, Acquire::Held { newly: false, .. }));

        // Only the holder releases.
        let not = locks.release(ENV, "req_c", at(4)).await.unwrap();
        assert!(matches!(not, Release::NotHolder { .. }));
        let Release::Released { next: Some(next) } =
            locks.release(ENV, "req_a", at(5)).await.unwrap()
        else {
            panic!("lock not handed on")
        };
        assert_eq!(next.request_id, "req_b");
        assert_eq!(next.since, at(5));
        assert!(locks.attach_run(ENV, "req_b", 42).await.unwrap());
        assert!(!locks.attach_run(ENV, "req_c", 43).await.unwrap());
        assert!(locks.remove_from_queue(ENV, "req_c").await.unwrap());
        assert!(!locks.remove_from_queue(ENV, "req_c").await.unwrap());
        let doc = locks.get(ENV).await.unwrap().unwrap();
        assert_eq!(doc.holder.as_ref().and_then(|h| h.run_id), Some(42));
        assert!(doc.queue.is_empty());
        let last = locks.force_release(ENV, at(6)).await.unwrap();
        assert_eq!(last, Release::Released { next: None });
        let free = locks.acquire(ENV, "req_c", "destroy", at(7)).await.unwrap();
        assert!(matches!(free, Acquire::Held { newly: true, .. }));
    }

    #[tokio::test]
    async fn list_names_every_locked_environment() {
        let store = Arc::new(MemoryStore::new());
        let locks = EnvLocks::new(store.clone());
        assert!(locks.list().await.unwrap().is_empty());
        locks.acquire(ENV, "req_a", "apply", at(0)).await.unwrap();
        locks
            .acquire(("acme", "infra", "dev"), "req_b", "apply", at(0))
            .await
            .unwrap();
        // Not a lock document: ignored.
        store
            .create("locks/acme/README", bytes::Bytes::from_static(b"x"))
            .await
            .unwrap();
        let envs = locks.list().await.unwrap();
        let names: Vec<_> = envs
            .iter()
            .map(|(o, r, e)| format!("{o}/{r}/{e}"))
            .collect();
        assert_eq!(names, ["acme/infra/dev", "acme/infra/prod"]);
    }
}
