//! tfpilot's one comment on a request issue: the problems list while the form is
//! invalid, then the link to the request's PR. Its id lives in
//! `index/issue-form/<owner>/<repo>/<n>.json`, so every later delivery edits the same
//! comment, and the hash of its last body, so an unchanged body costs no call.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::issue_form::PROBLEMS_MARKER;
use crate::github::Repo;
use crate::store::modify::{self, Change, RetryPolicy};
use crate::store::{StoreError, check_segment};

use super::text::CREATED_MARKER;
use crate::service::effects::is_app_author;
use crate::service::{Service, ServiceError, claims};

/// How long a claim to create the comment keeps other deliveries from creating it.
/// After that the claimer is presumed crashed and another delivery takes over (after
/// looking for a comment the claimer may have posted before it crashed).
const CLAIM_TTL_SECS: i64 = 120;

/// What tfpilot remembers about a request issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IssueThreadDoc {
    /// tfpilot's comment on the issue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_id: Option<u64>,
    /// `sha256:<hex>` of the comment's last body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hash: Option<String>,
    /// Set while a delivery creates the comment (so two deliveries don't both create one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<DateTime<Utc>>,
    /// Random per claiming attempt. Two copies of a delivery claiming at the same
    /// instant would otherwise write identical bytes, and a copy whose write timed out
    /// would read the other's claim as its own (and both would post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_token: Option<String>,
    /// The issue was edited after its request was created (the comment says so, for good).
    #[serde(default)]
    pub edited_after_creation: bool,
}

/// The key of an issue's thread document.
pub fn thread_key(owner: &str, repo: &str, number: u64) -> Result<String, StoreError> {
    check_segment("owner", owner)?;
    check_segment("repository", repo)?;
    Ok(format!("index/issue-form/{owner}/{repo}/{number}.json"))
}

/// Reads an issue's thread document (default when there is none).
pub async fn load(svc: &Service, repo: &Repo, number: u64) -> Result<IssueThreadDoc, ServiceError> {
    let key = thread_key(&repo.owner, &repo.name, number)?;
    Ok(modify::get_json::<IssueThreadDoc>(&*svc.store, &key)
        .await?
        .map(|(doc, _)| doc)
        .unwrap_or_default())
}

/// Records that the issue was edited after its request exists; returns the doc as stored.
pub async fn mark_edited_after_creation(
    svc: &Service,
    repo: &Repo,
    number: u64,
) -> Result<IssueThreadDoc, ServiceError> {
    let key = thread_key(&repo.owner, &repo.name, number)?;
    let done = modify::modify_json(&*svc.store, &key, &RetryPolicy::default(), |cur| {
        let mut doc: IssueThreadDoc = cur.cloned().unwrap_or_default();
        if doc.edited_after_creation {
            return Ok(Change::Keep(()));
        }
        doc.edited_after_creation = true;
        Ok(Change::Write(doc, ()))
    })
    .await?;
    Ok(done.value.unwrap_or_default())
}

/// `sha256:<hex>` of a comment body.
fn body_hash(body: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(body.as_bytes())))
}

enum Claim {
    /// The comment exists: edit it.
    Existing(u64, Option<String>),
    /// This delivery may create it.
    Mine,
}

/// Makes tfpilot's comment on issue `number` say `body`: creates it once, edits it
/// afterwards, and sends nothing when the body is unchanged. Returns whether a call
/// changed the comment.
pub async fn show(
    svc: &Service,
    repo: &Repo,
    number: u64,
    body: &str,
) -> Result<bool, ServiceError> {
    let key = thread_key(&repo.owner, &repo.name, number)?;
    let hash = body_hash(body);
    // Another delivery creating the comment right now: answering "done" would record
    // this delivery even if that one fails, so wait for its comment id instead (and
    // give up with an error, so a redelivery comes, if it takes long).
    let mut wait = claims::Wait::new();
    let token = crate::store::markers::claim_token();
    let claim = loop {
        let now = svc.now();
        let claim = modify::modify_json(&*svc.store, &key, &RetryPolicy::default(), |cur| {
            let mut doc: IssueThreadDoc = cur.cloned().unwrap_or_default();
            if let Some(id) = doc.comment_id {
                return Ok(Change::Keep(Some(Claim::Existing(
                    id,
                    doc.body_hash.clone(),
                ))));
            }
            if doc
                .claimed_at
                .is_some_and(|at| now - at < Duration::seconds(CLAIM_TTL_SECS))
            {
                return Ok(Change::Keep(None));
            }
            doc.claimed_at = Some(now);
            doc.claim_token = Some(token.clone());
            Ok(Change::Write(doc, Some(Claim::Mine)))
        })
        .await?
        .result;
        if let Some(claim) = claim {
            break claim;
        }
        if !wait.pause().await {
            tracing::info!(
                event = "issue_form.comment_busy",
                issue = number,
                "another delivery is still creating the issue comment"
            );
            return Err(ServiceError::CommentInFlight { issue: number });
        }
    };
    let comment_id = match claim {
        Claim::Existing(_, last) if last.as_deref() == Some(hash.as_str()) => return Ok(false),
        Claim::Existing(id, _) => match svc.github.update_comment(repo, id, body).await {
            Ok(c) => c.id,
            // Someone deleted it: post it again.
            Err(e) if e.is_not_found() => svc.github.create_comment(repo, number, body).await?.id,
            Err(e) => return Err(e.into()),
        },
        Claim::Mine => match create_or_adopt(svc, repo, number, body).await {
            Ok(id) => id,
            Err(e) => {
                // Nothing was posted as far as this delivery knows: give the claim
                // back so the redelivery does not wait out the claim's lifetime. (If
                // GitHub did post it, the redelivery adopts it by its marker.)
                let released =
                    modify::modify_json(&*svc.store, &key, &RetryPolicy::default(), |cur| {
                        let mut doc: IssueThreadDoc = cur.cloned().unwrap_or_default();
                        // Only our own claim: a later one (ours expired) is someone else's.
                        if doc.comment_id.is_some() || doc.claim_token.as_ref() != Some(&token) {
                            return Ok(Change::Keep(()));
                        }
                        doc.claimed_at = None;
                        doc.claim_token = None;
                        Ok(Change::Write(doc, ()))
                    })
                    .await;
                if let Err(store) = released {
                    tracing::warn!(issue = number, error = %store, "issue comment claim not given back");
                }
                return Err(e);
            }
        },
    };
    modify::modify_json(&*svc.store, &key, &RetryPolicy::default(), |cur| {
        let mut doc: IssueThreadDoc = cur.cloned().unwrap_or_default();
        doc.comment_id = Some(comment_id);
        doc.body_hash = Some(hash.clone());
        doc.claimed_at = None;
        doc.claim_token = None;
        Ok(Change::Write(doc, ()))
    })
    .await?;
    Ok(true)
}

/// Posts the comment, or edits the one an earlier attempt posted before it could
/// record the id (a crash, a lost store write).
async fn create_or_adopt(
    svc: &Service,
    repo: &Repo,
    number: u64,
    body: &str,
) -> Result<u64, ServiceError> {
    Ok(match find_own_comment(svc, repo, number).await? {
        Some(id) => svc.github.update_comment(repo, id, body).await?.id,
        None => svc.github.create_comment(repo, number, body).await?.id,
    })
}

/// tfpilot's earlier comment on the issue: this App's comment (the same rule as the
/// sticky comment's, [`is_app_author`]) that starts with one of tfpilot's issue-form
/// markers.
async fn find_own_comment(
    svc: &Service,
    repo: &Repo,
    number: u64,
) -> Result<Option<u64>, ServiceError> {
    let comments = svc.github.list_comments(repo, number).await?;
    Ok(comments
        .iter()
        .find(|c| {
            is_app_author(c, svc.settings.app_id)
                && (c.body.starts_with(PROBLEMS_MARKER) || c.body.starts_with(CREATED_MARKER))
        })
        .map(|c| c.id))
}
