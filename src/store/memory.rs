//! An in-process store for tests and `tfpilot demo`: same semantics as S3, no I/O.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::{ETag, ListPage, Object, Store, StoreError, content_etag, page_of};

/// Objects in a `BTreeMap` behind a mutex; tags are content hashes.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Object>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Object>> {
        // A panic while holding the lock cannot leave a half-written entry (every
        // mutation is one map call), so a poisoned lock is still consistent.
        self.objects
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        self.objects()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::not_found(key))
    }

    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        let mut objects = self.objects();
        if objects.contains_key(key) {
            return Err(StoreError::precondition(key));
        }
        let etag = content_etag(&body);
        objects.insert(
            key.to_owned(),
            Object {
                body,
                etag: etag.clone(),
            },
        );
        Ok(etag)
    }

    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        let mut objects = self.objects();
        let current = objects
            .get_mut(key)
            .ok_or_else(|| StoreError::not_found(key))?;
        if &current.etag != if_match {
            return Err(StoreError::precondition(key));
        }
        let etag = content_etag(&body);
        *current = Object {
            body,
            etag: etag.clone(),
        };
        Ok(etag)
    }

    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        let mut objects = self.objects();
        match (objects.get(key), if_match) {
            (None, None) => Ok(()),
            (None, Some(_)) => Err(StoreError::not_found(key)),
            (Some(current), Some(tag)) if &current.etag != tag => {
                Err(StoreError::precondition(key))
            }
            (Some(_), _) => {
                objects.remove(key);
                Ok(())
            }
        }
    }

    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        let objects = self.objects();
        let keys = objects
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .map(|(k, _)| k)
            .take_while(|k| k.starts_with(prefix))
            .cloned();
        Ok(page_of(keys, start_after, limit))
    }
}
