//! Request documents: `requests/<id>.json` while live, `history/<id>.json` once archived.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use crate::core::request::Request;

use super::modify::{self, Change, RetryPolicy};
use super::{Object, Store, StoreError, check_segment};

/// How many documents [`Requests`] remembers it wrote (see [`Requests::update_after_write`]).
const WRITTEN_CAPACITY: usize = 256;

/// The key of a live request.
pub fn live_key(id: &str) -> Result<String, StoreError> {
    check_segment("request id", id)?;
    Ok(format!("requests/{id}.json"))
}

/// The key of an archived request.
pub fn history_key(id: &str) -> Result<String, StoreError> {
    check_segment("request id", id)?;
    Ok(format!("history/{id}.json"))
}

/// The result of [`Requests::update`].
#[derive(Debug, Clone, PartialEq)]
pub struct Updated {
    /// The request as stored afterwards.
    pub request: Request,
    /// Whether a write happened (false: the change was empty, nothing was written).
    pub saved: bool,
}

/// The result of [`Requests::archive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Archived {
    /// This call moved the request to `history/`.
    Moved,
    /// It was already archived (an earlier call finished the job).
    AlreadyArchived,
}

/// Typed access to request documents with optimistic concurrency.
#[derive(Debug, Clone)]
pub struct Requests {
    store: Arc<dyn Store>,
    retry: RetryPolicy,
    /// The last document this process wrote per request, with its tag.
    written: Arc<Mutex<Written>>,
}

/// The documents [`Requests`] wrote last, at most [`WRITTEN_CAPACITY`]; the one
/// written longest ago is forgotten first (a burst of other writes between a
/// request's two writes must not make the second one read again).
#[derive(Debug, Default)]
struct Written {
    docs: HashMap<String, Object>,
    order: VecDeque<String>,
}

impl Written {
    fn insert(&mut self, id: &str, object: Object) {
        self.forget(id);
        while self.order.len() >= WRITTEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.docs.remove(&old);
            }
        }
        self.docs.insert(id.to_owned(), object);
        self.order.push_back(id.to_owned());
    }

    fn forget(&mut self, id: &str) {
        if self.docs.remove(id).is_some() {
            self.order.retain(|known| known != id);
        }
    }
}

impl Requests {
    /// Requests stored in `store`, with the default retry policy.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            retry: RetryPolicy::default(),
            written: Arc::default(),
        }
    }

    /// Same store, another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Reads a live request; `None` when there is none (it may be archived).
    pub async fn get(&self, id: &str) -> Result<Option<Request>, StoreError> {
        let key = live_key(id)?;
        Ok(modify::get_json(&*self.store, &key).await?.map(|(r, _)| r))
    }

    /// Reads an archived request.
    pub async fn get_archived(&self, id: &str) -> Result<Option<Request>, StoreError> {
        let key = history_key(id)?;
        Ok(modify::get_json(&*self.store, &key).await?.map(|(r, _)| r))
    }

    /// Stores a new request (`If-None-Match: *`); `PreconditionFailed` if the id is taken.
    pub async fn create(&self, request: &Request) -> Result<(), StoreError> {
        let key = live_key(&request.id)?;
        if modify::create_json(&*self.store, &key, request).await? {
            Ok(())
        } else {
            Err(StoreError::precondition(&key))
        }
    }

    /// Reads the request, applies `f`, and writes the result with `If-Match`, retrying
    /// from a fresh read when another writer got there first. `f` returning `None` (or
    /// an unchanged document) costs no write; otherwise `version` is incremented.
    /// `f` may run more than once and must depend only on the request it is given.
    pub async fn update<F>(&self, id: &str, f: F) -> Result<Updated, StoreError>
    where
        F: FnMut(&Request) -> Option<Request>,
    {
        self.update_from(id, None, f).await
    }

    /// [`Requests::update`] right after this process wrote the request: the first
    /// attempt starts from the document it wrote instead of reading it again (one
    /// store read less). If anyone wrote since, the conditional write fails and the
    /// update goes on from a fresh read, as `update` does.
    pub async fn update_after_write<F>(&self, id: &str, f: F) -> Result<Updated, StoreError>
    where
        F: FnMut(&Request) -> Option<Request>,
    {
        let known = self.written().docs.get(id).cloned();
        self.update_from(id, known, f).await
    }

    async fn update_from<F>(
        &self,
        id: &str,
        known: Option<Object>,
        mut f: F,
    ) -> Result<Updated, StoreError>
    where
        F: FnMut(&Request) -> Option<Request>,
    {
        let key = live_key(id)?;
        let outcome = modify::modify_json_from(&*self.store, &key, &self.retry, known, |current| {
            let current: &Request = current.ok_or_else(|| StoreError::not_found(&key))?;
            match f(current) {
                Some(mut next) if next != *current => {
                    if next.id != current.id {
                        return Err(StoreError::invalid_data(
                            &key,
                            "an update may not change the request id",
                        ));
                    }
                    next.version = current.version + 1;
                    Ok(Change::Write(next, ()))
                }
                _ => Ok(Change::Keep(())),
            }
        })
        .await;
        let (outcome, stored) = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.written().forget(id);
                return Err(e);
            }
        };
        {
            // Bounded: the store is the truth, this only saves reads.
            let mut written = self.written();
            match stored {
                Some(object) => written.insert(id, object),
                None => written.forget(id),
            }
        }
        let request = outcome.value.ok_or_else(|| StoreError::not_found(&key))?;
        Ok(Updated {
            request,
            saved: outcome.saved,
        })
    }

    fn written(&self) -> std::sync::MutexGuard<'_, Written> {
        self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves a request to `history/<id>.json`: history is written first, then the live
    /// document is deleted if it has not changed meanwhile. Running it again after a
    /// crash between the two steps finishes the job.
    pub async fn archive(&self, id: &str) -> Result<Archived, StoreError> {
        let live = live_key(id)?;
        let history = history_key(id)?;
        let attempts = self.retry.max_attempts.max(1);
        for _ in 0..attempts {
            let object = match self.store.get(&live).await {
                Ok(object) => object,
                Err(e) if e.is_not_found() => {
                    return match self.store.get(&history).await {
                        Ok(_) => Ok(Archived::AlreadyArchived),
                        Err(e) => Err(e),
                    };
                }
                Err(e) => return Err(e),
            };
            // Refuse to archive (and so delete) a document we cannot read.
            let _: Request = modify::decode(&live, &object)?;
            self.put_history(&history, object.body.clone()).await?;
            match self.store.delete(&live, Some(&object.etag)).await {
                Ok(()) => return Ok(Archived::Moved),
                // Updated (or archived by another replica) meanwhile: copy again.
                Err(e) if e.is_precondition_failed() || e.is_not_found() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Contention {
            key: live,
            attempts,
        })
    }

    /// Writes the history copy, replacing an older copy left by an interrupted archive.
    async fn put_history(&self, key: &str, body: bytes::Bytes) -> Result<(), StoreError> {
        for _ in 0..self.retry.max_attempts.max(1) {
            match self.store.create(key, body.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_precondition_failed() => {}
                Err(e) => return Err(e),
            }
            let existing = match self.store.get(key).await {
                Ok(existing) => existing,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e),
            };
            if existing.body == body {
                return Ok(());
            }
            // Two archivers of one request: the one that read the live document
            // before the other's last update must not put its older copy over the
            // newer one (the newer archiver has deleted the live document already).
            if stored_version(&existing.body)
                .is_some_and(|theirs| stored_version(&body).is_none_or(|ours| theirs >= ours))
            {
                return Ok(());
            }
            match self.store.replace(key, body.clone(), &existing.etag).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_precondition_failed() || e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Contention {
            key: key.to_owned(),
            attempts: self.retry.max_attempts,
        })
    }

    /// Ids of all live requests, ascending.
    pub async fn list_ids(&self) -> Result<Vec<String>, StoreError> {
        let keys = super::list_all(&*self.store, "requests/").await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix("requests/")?.strip_suffix(".json"))
            .filter(|id| !id.contains('/'))
            .map(str::to_owned)
            .collect())
    }
}

/// The `version` of a stored request document, if it decodes.
fn stored_version(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Versioned {
        #[serde(default)]
        version: u64,
    }
    serde_json::from_slice::<Versioned>(body)
        .ok()
        .map(|v| v.version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::ids::RequestId;
    use crate::store::{CountingStore, MemoryStore, OpKind};

    const ID: &str = "req_dev_s3_abc123";

    async fn fixture() -> (Arc<CountingStore>, Requests, Requests) {
        let counting = Arc::new(CountingStore::new(Arc::new(MemoryStore::new())));
        let mine = Requests::new(counting.clone());
        let other = Requests::new(counting.clone());
        mine.create(&Request::new(&RequestId::parse(ID).expect("id")))
            .await
            .expect("created");
        (counting, mine, other)
    }

    fn set_requester(name: &'static str) -> impl FnMut(&Request) -> Option<Request> {
        move |r| {
            let mut next = r.clone();
            next.requester = Some(name.into());
            Some(next)
        }
    }

    #[tokio::test]
    async fn an_update_after_its_own_write_does_not_read_again() {
        let (counting, mine, _) = fixture().await;
        mine.update(ID, set_requester("alice"))
            .await
            .expect("first");
        let before = counting.counts();
        let u = mine
            .update_after_write(ID, set_requester("bob"))
            .await
            .expect("second");
        let spent = counting.counts().since(&before);
        assert_eq!(
            (spent.total(OpKind::Get), spent.total(OpKind::Replace)),
            (0, 1)
        );
        assert_eq!(u.request.requester.as_deref(), Some("bob"));
        assert_eq!(u.request.version, 2);
    }

    /// Holds the first history create back until released (an archiver that read
    /// the live document, then stalled).
    #[derive(Debug)]
    struct StallFirstHistoryWrite {
        inner: MemoryStore,
        stalled: std::sync::atomic::AtomicBool,
        reached: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    #[async_trait::async_trait]
    impl Store for StallFirstHistoryWrite {
        async fn get(&self, key: &str) -> Result<Object, StoreError> {
            self.inner.get(key).await
        }
        async fn create(
            &self,
            key: &str,
            body: bytes::Bytes,
        ) -> Result<super::super::ETag, StoreError> {
            if key.starts_with("history/")
                && !self.stalled.swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let released = self.release.notified();
                self.reached.notify_one();
                released.await;
            }
            self.inner.create(key, body).await
        }
        async fn replace(
            &self,
            key: &str,
            body: bytes::Bytes,
            if_match: &super::super::ETag,
        ) -> Result<super::super::ETag, StoreError> {
            self.inner.replace(key, body, if_match).await
        }
        async fn delete(
            &self,
            key: &str,
            if_match: Option<&super::super::ETag>,
        ) -> Result<(), StoreError> {
            self.inner.delete(key, if_match).await
        }
        async fn list(
            &self,
            prefix: &str,
            start_after: Option<&str>,
            limit: usize,
        ) -> Result<super::super::ListPage, StoreError> {
            self.inner.list(prefix, start_after, limit).await
        }
    }

    #[tokio::test]
    async fn a_stalled_archiver_never_puts_an_older_copy_over_the_history() {
        let store = Arc::new(StallFirstHistoryWrite {
            inner: MemoryStore::new(),
            stalled: std::sync::atomic::AtomicBool::new(false),
            reached: tokio::sync::Notify::new(),
            release: tokio::sync::Notify::new(),
        });
        let requests = Requests::new(store.clone());
        requests
            .create(&Request::new(&RequestId::parse(ID).expect("id")))
            .await
            .expect("created");
        // One archiver reads the live document and stalls before writing history.
        let stalled = {
            let requests = requests.clone();
            tokio::spawn(async move { requests.archive(ID).await })
        };
        store.reached.notified().await;
        // Meanwhile the request learns one more fact and another archiver moves it.
        let late = requests
            .update(ID, set_requester("learned-late"))
            .await
            .expect("update");
        assert_eq!(
            requests.archive(ID).await.expect("archive"),
            Archived::Moved
        );
        store.release.notify_one();
        assert_eq!(
            stalled.await.expect("task").expect("archive"),
            Archived::AlreadyArchived
        );
        let history = requests
            .get_archived(ID)
            .await
            .expect("read")
            .expect("archived");
        assert_eq!(history.requester.as_deref(), Some("learned-late"));
        assert_eq!(history.version, late.request.version);
    }

    #[test]
    fn the_remembered_documents_stay_bounded_and_the_latest_are_kept() {
        let mut written = Written::default();
        let object = || Object {
            body: bytes::Bytes::from_static(b"{}"),
            etag: crate::store::content_etag(b"{}"),
        };
        for i in 0..WRITTEN_CAPACITY + 10 {
            written.insert(&format!("req_{i}"), object());
        }
        // req_10 is the oldest left; written again, it is the newest.
        written.insert("req_10", object());
        written.insert("req_new", object());
        assert_eq!(written.docs.len(), WRITTEN_CAPACITY);
        assert_eq!(written.order.len(), WRITTEN_CAPACITY);
        assert!(written.docs.contains_key("req_10"), "rewritten: kept");
        assert!(!written.docs.contains_key("req_11"), "oldest: forgotten");
        assert!(
            written
                .docs
                .contains_key(&format!("req_{}", WRITTEN_CAPACITY + 9))
        );
    }

    #[tokio::test]
    async fn a_write_by_someone_else_meanwhile_is_not_lost() {
        let (_, mine, other) = fixture().await;
        mine.update(ID, set_requester("alice")).await.expect("mine");
        other
            .update(ID, |r| {
                let mut next = r.clone();
                next.environment = Some("prod".into());
                Some(next)
            })
            .await
            .expect("theirs");
        let u = mine
            .update_after_write(ID, set_requester("bob"))
            .await
            .expect("after");
        assert_eq!(u.request.environment.as_deref(), Some("prod"));
        assert_eq!(u.request.requester.as_deref(), Some("bob"));
        assert_eq!(u.request.version, 3);
        assert_eq!(mine.get(ID).await.expect("read"), Some(u.request));
    }

    #[tokio::test]
    async fn nothing_to_do_on_the_remembered_document_is_checked_on_the_stored_one() {
        let (_, mine, other) = fixture().await;
        mine.update(ID, set_requester("alice")).await.expect("mine");
        other
            .update(ID, |r| {
                let mut next = r.clone();
                next.requester = None;
                Some(next)
            })
            .await
            .expect("theirs");
        // Already "alice" in what this process wrote, but not any more in the store.
        let u = mine
            .update_after_write(ID, |r| {
                (r.requester.as_deref() != Some("alice")).then(|| {
                    let mut next = r.clone();
                    next.requester = Some("alice".into());
                    next
                })
            })
            .await
            .expect("after");
        assert!(u.saved);
        assert_eq!(
            mine.get(ID).await.expect("read").and_then(|r| r.requester),
            Some("alice".into())
        );
    }
}
