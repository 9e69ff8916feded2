//! Request documents: `requests/<id>.json` while live, `history/<id>.json` once archived.

use std::sync::Arc;

use crate::core::request::Request;

use super::modify::{self, Change, RetryPolicy};
use super::{Store, StoreError, check_segment};

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
}

impl Requests {
    /// Requests stored in `store`, with the default retry policy.
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
    pub async fn update<F>(&self, id: &str, mut f: F) -> Result<Updated, StoreError>
    where
        F: FnMut(&Request) -> Option<Request>,
    {
        let key = live_key(id)?;
        let outcome = modify::modify_json(&*self.store, &key, &self.retry, |current| {
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
        .await?;
        let request = outcome.value.ok_or_else(|| StoreError::not_found(&key))?;
        Ok(Updated {
            request,
            saved: outcome.saved,
        })
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
