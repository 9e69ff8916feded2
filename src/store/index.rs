//! PR and issue index: `index/pr/<owner>/<repo>/<n>.json` and `index/issue/...` point
//! at a request id, so a comment finds its request with one read.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::modify;
use super::{Store, StoreError, check_segment};

/// Which GitHub thread an index entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thread {
    /// A pull request.
    Pr,
    /// An issue.
    Issue,
}

impl Thread {
    fn segment(self) -> &'static str {
        match self {
            Self::Pr => "pr",
            Self::Issue => "issue",
        }
    }
}

/// The key of one entry.
pub fn key(thread: Thread, owner: &str, repo: &str, number: u64) -> Result<String, StoreError> {
    check_segment("owner", owner)?;
    check_segment("repository", repo)?;
    Ok(format!(
        "index/{}/{owner}/{repo}/{number}.json",
        thread.segment()
    ))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    request_id: String,
}

/// Typed access to the PR/issue index.
#[derive(Debug, Clone)]
pub struct RequestIndex {
    store: Arc<dyn Store>,
}

impl RequestIndex {
    /// The index in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Links a PR or issue to a request; the first writer wins and its request id is
    /// returned (equal to `request_id` unless another request claimed it first).
    pub async fn link(
        &self,
        thread: Thread,
        owner: &str,
        repo: &str,
        number: u64,
        request_id: &str,
    ) -> Result<String, StoreError> {
        check_segment("request id", request_id)?;
        let key = key(thread, owner, repo, number)?;
        let entry = Entry {
            request_id: request_id.to_owned(),
        };
        if modify::create_json(&*self.store, &key, &entry).await? {
            return Ok(entry.request_id);
        }
        match modify::get_json::<Entry>(&*self.store, &key).await? {
            Some((existing, _)) => Ok(existing.request_id),
            None => Err(StoreError::precondition(&key)),
        }
    }

    /// The request linked to a PR or issue.
    pub async fn find(
        &self,
        thread: Thread,
        owner: &str,
        repo: &str,
        number: u64,
    ) -> Result<Option<String>, StoreError> {
        let key = key(thread, owner, repo, number)?;
        Ok(modify::get_json::<Entry>(&*self.store, &key)
            .await?
            .map(|(e, _)| e.request_id))
    }
}
