//! Facts storage: a small trait over versioned objects, three backends, and typed
//! repositories (requests, run index, deliveries, PR/issue index, environment locks,
//! once-markers) built on top of it.
//!
//! Every write is conditional: create-if-absent (`If-None-Match: *`) or
//! replace-if-match (`If-Match: <etag>`). Read–modify–write goes through one helper
//! ([`modify::modify_json`]) that retries on a lost race and skips the write when nothing
//! changed, so any number of tfpilot replicas can share one bucket or folder.

pub mod counting;
pub mod deliveries;
pub mod fault;
pub mod fs;
pub mod index;
pub mod locks;
pub mod markers;
pub mod memory;
pub mod modify;
pub mod requests;
pub mod retry;
pub mod run_index;
pub mod s3;
pub mod testing;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub use counting::{CountingStore, OpCounts, OpKind, Outcome, StoreMetrics};
pub use deliveries::{Deliveries, DeliveryRecord};
pub use fault::{Fault, FaultAction, FaultStore, FractionalFaults, InjectedCounts};
pub use fs::FolderStore;
pub use index::{RequestIndex, Thread};
pub use locks::{Acquire, EnvLocks, EnvRef, LockDoc, LockHolder, QueuedClaim, Release};
pub use markers::Markers;
pub use memory::MemoryStore;
pub use modify::{Change, Modified, RetryPolicy};
pub use requests::{Archived, Requests, Updated};
pub use retry::{RetryingStore, TransientRetry};
pub use run_index::{RunIndex, RunIndexEntry};
pub use s3::S3Store;

/// The most keys one `list` call returns (S3's own limit for ListObjectsV2).
pub const MAX_LIST_PAGE: usize = 1000;

/// An opaque version tag of a stored object; equal tags mean equal content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    /// Wraps a tag as the backend reported it (S3 keeps the quotes).
    pub fn new(tag: impl Into<String>) -> Self {
        Self(tag.into())
    }

    /// The tag as sent back in `If-Match`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored object: its bytes and the tag to send back with a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The stored bytes.
    pub body: Bytes,
    /// The version tag of exactly these bytes.
    pub etag: ETag,
}

/// One page of keys from [`Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Keys in ascending byte order, relative to the store's root.
    pub keys: Vec<String>,
    /// Pass this as `start_after` to get the next page; `None` on the last page.
    pub next_start_after: Option<String>,
}

/// Why a store operation failed. Errors name the key, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Nothing is stored under the key.
    #[error("nothing stored at `{key}`")]
    NotFound {
        /// The key that was read or written.
        key: String,
    },
    /// A conditional write lost: the key already exists, or changed since it was read.
    #[error("conditional write to `{key}` failed: it already exists or changed since it was read")]
    PreconditionFailed {
        /// The key that was written.
        key: String,
    },
    /// The backend could not be reached or answered with a transient error; retry later.
    #[error("store unavailable at `{key}`: {reason}")]
    Unavailable {
        /// The key of the operation.
        key: String,
        /// What the backend said (error code and message, no credentials).
        reason: String,
    },
    /// The stored bytes are not what tfpilot expects (for example corrupt JSON).
    #[error("invalid data at `{key}`: {reason}")]
    InvalidData {
        /// The key holding the bad data.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The key cannot be stored (bad characters, `..`, a reserved name).
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A read–modify–write kept losing races and gave up.
    #[error("gave up updating `{key}` after {attempts} conflicting attempts")]
    Contention {
        /// The contended key.
        key: String,
        /// How many writes were tried.
        attempts: u32,
    },
    /// The backend refused the operation for a reason that retrying will not fix.
    #[error("store refused operation on `{key}`: {reason}")]
    Backend {
        /// The key of the operation.
        key: String,
        /// What the backend said (error code and message, no credentials).
        reason: String,
    },
    /// The store cannot be set up as configured (for example no AWS region).
    #[error("store misconfigured: {reason}")]
    Misconfigured {
        /// What is missing or wrong.
        reason: String,
    },
    /// The store URL could not be understood.
    #[error("invalid store URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, with any user info removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl StoreError {
    /// True when retrying the same operation later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Contention { .. })
    }

    /// True for a lost conditional write (HTTP 412, or S3's 409 for a concurrent racer).
    pub fn is_precondition_failed(&self) -> bool {
        matches!(self, Self::PreconditionFailed { .. })
    }

    /// True when the key holds nothing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    pub(crate) fn not_found(key: &str) -> Self {
        Self::NotFound {
            key: key.to_owned(),
        }
    }

    pub(crate) fn precondition(key: &str) -> Self {
        Self::PreconditionFailed {
            key: key.to_owned(),
        }
    }

    pub(crate) fn invalid_data(key: &str, reason: impl fmt::Display) -> Self {
        Self::InvalidData {
            key: key.to_owned(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn invalid_key(key: &str, reason: impl fmt::Display) -> Self {
        Self::InvalidKey {
            key: key.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// Versioned object storage with conditional writes: the one interface every backend
/// (memory, local folder, S3) implements with the same semantics.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Reads an object; `NotFound` when the key holds nothing.
    async fn get(&self, key: &str) -> Result<Object, StoreError>;

    /// Writes `body` only if the key holds nothing (`If-None-Match: *`);
    /// `PreconditionFailed` when it exists.
    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError>;

    /// Overwrites the object only if its tag is still `if_match` (`If-Match`);
    /// `PreconditionFailed` when it changed, `NotFound` when it is gone.
    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError>;

    /// Deletes the object. Unconditional deletes of a missing key succeed (as on S3);
    /// with `if_match`, a changed object gives `PreconditionFailed` and a missing one `NotFound`.
    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError>;

    /// Lists keys starting with `prefix` after `start_after`, ascending, at most
    /// `limit` (capped at [`MAX_LIST_PAGE`]) per page.
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError>;
}

/// Lists every key under `prefix`, following pages.
pub async fn list_all(store: &dyn Store, prefix: &str) -> Result<Vec<String>, StoreError> {
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list(prefix, after.as_deref(), MAX_LIST_PAGE).await?;
        keys.extend(page.keys);
        match page.next_start_after {
            Some(next) => after = Some(next),
            None => return Ok(keys),
        }
    }
}

/// Opens a store from its URL: `file://<path>` (a local folder; `file://./tfpilot-data`
/// is relative to the working directory), `s3://<bucket>[/<prefix>]` (credentials, region
/// and `AWS_ENDPOINT_URL` from the standard AWS chain), or `memory://` (a fresh,
/// process-local store for tests and demos).
pub async fn open_store(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    let bad = |reason: &str| StoreError::InvalidUrl {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(bad("a folder path is required, e.g. file://./tfpilot-data"));
        }
        // Transient failures are retried here, before a handler sees them.
        Ok(Arc::new(RetryingStore::new(Arc::new(FolderStore::open(
            path,
        )?))))
    } else if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("a bucket is required, e.g. s3://my-bucket/tfpilot"));
        }
        Ok(Arc::new(RetryingStore::new(Arc::new(
            S3Store::from_env(bucket, prefix).await?,
        ))))
    } else if url.starts_with("memory://") {
        Ok(Arc::new(MemoryStore::new()))
    } else {
        Err(bad("expected file://, s3:// or memory://"))
    }
}

/// Drops any `user:password@` part so a URL can appear in an error.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://…@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Checks one path segment of a key built from outside input (an id, an owner, a repo):
/// non-empty, not `.`/`..`, only ASCII letters, digits and `._-`.
pub(crate) fn check_segment(what: &str, value: &str) -> Result<(), StoreError> {
    let ok = !value.is_empty()
        && value.len() <= 200
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid_key(
            value,
            format_args!("{what} must be 1-200 of A-Z a-z 0-9 . _ - and not . or .."),
        ))
    }
}

/// The tag of a body for backends that derive it from content (memory, folder).
pub(crate) fn content_etag(body: &[u8]) -> ETag {
    use sha2::{Digest, Sha256};
    ETag(format!("\"{}\"", hex::encode(Sha256::digest(body))))
}

/// Cuts one page out of ascending `keys` (already filtered by prefix) the way S3 does.
pub(crate) fn page_of<I>(keys: I, start_after: Option<&str>, limit: usize) -> ListPage
where
    I: IntoIterator<Item = String>,
{
    let limit = limit.clamp(1, MAX_LIST_PAGE);
    let mut iter = keys
        .into_iter()
        .skip_while(|k| start_after.is_some_and(|after| k.as_str() <= after));
    let keys: Vec<String> = iter.by_ref().take(limit).collect();
    let more = iter.next().is_some();
    let next_start_after = if more { keys.last().cloned() } else { None };
    ListPage {
        keys,
        next_start_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_reject_traversal_and_separators() {
        assert!(check_segment("id", "req_dev_s3_abc123").is_ok());
        assert!(check_segment("repo", ".github").is_ok());
        for bad in ["", ".", "..", "a/b", "a\\b", "a b", "é"] {
            assert!(check_segment("id", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn redacts_user_info() {
        assert_eq!(redact_url("s3://key:secret@bucket/p"), "s3://…@bucket/p");
        assert_eq!(redact_url("file://./tfpilot-data"), "file://./tfpilot-data");
    }

    #[tokio::test]
    async fn open_store_opens_folders_and_memory() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}", dir.path().join("data").display());
        let store = open_store(&url).await.unwrap();
        store
            .create("requests/a.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert!(dir.path().join("data/requests/a.json").is_file());
        let memory = open_store("memory://").await.unwrap();
        assert!(
            memory
                .get("requests/a.json")
                .await
                .unwrap_err()
                .is_not_found()
        );
    }

    #[tokio::test]
    async fn open_store_rejects_unknown_schemes_without_echoing_secrets() {
        let err = open_store("ftp://user:hunter2@host/x").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains("expected file://"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(open_store("file://").await.is_err());
        assert!(open_store("s3://").await.is_err());
    }
}
