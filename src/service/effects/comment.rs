//! The sticky comment: one per request PR, found by its marker, edited in place.

use crate::core::request::Request;
use crate::github::{IssueComment, Repo};
use crate::render::{StickyInput, body_hash, is_sticky_for, sticky_comment};

use super::super::{Service, ServiceError};

/// What the comment step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommentSent {
    /// The body was unchanged: nothing was sent.
    Unchanged,
    /// The stored comment was edited.
    Updated {
        /// The comment.
        id: u64,
        /// Hash of the body now shown.
        hash: String,
    },
    /// A comment of ours with the marker was found (its id had not been stored);
    /// it was edited only when its body differed.
    Adopted {
        /// The comment.
        id: u64,
        /// Hash of the body now shown.
        hash: String,
        /// True when it was edited.
        edited: bool,
    },
    /// A new comment was created (first render, or the old one was deleted).
    Created {
        /// The comment.
        id: u64,
        /// Hash of the body now shown.
        hash: String,
    },
}

impl CommentSent {
    /// The comment id and body hash to store, when they may have changed.
    pub fn state(&self) -> Option<(u64, &str)> {
        match self {
            CommentSent::Unchanged => None,
            CommentSent::Updated { id, hash }
            | CommentSent::Adopted { id, hash, .. }
            | CommentSent::Created { id, hash } => Some((*id, hash)),
        }
    }
}

/// True when the comment was written by a GitHub App (a `Bot` account named
/// `<slug>[bot]`). People can type a marker into their own comments; they cannot
/// post as a bot, so their copies are never taken for the sticky comment.
pub fn is_app_author(comment: &IssueComment) -> bool {
    comment
        .user
        .as_ref()
        .is_some_and(|u| u.kind == "Bot" && u.login.ends_with("[bot]"))
}

/// The request's sticky comment among a PR's comments: the first by the app whose
/// body starts with the request's marker.
pub fn find_sticky<'a>(comments: &'a [IssueComment], request_id: &str) -> Option<&'a IssueComment> {
    comments
        .iter()
        .find(|c| is_app_author(c) && is_sticky_for(&c.body, request_id))
}

/// Renders the sticky comment and sends it if it differs from what was last sent.
pub(super) async fn send(
    svc: &Service,
    repo: &Repo,
    doc: &Request,
    pr_number: u64,
    input: &StickyInput<'_>,
) -> Result<CommentSent, ServiceError> {
    let body = sticky_comment(input);
    let hash = body_hash(&body);
    let sticky = doc.sticky.as_ref();
    let stored_id = sticky.and_then(|s| s.comment_id);
    let stored_hash = sticky.and_then(|s| s.render_hash.as_deref());
    if let Some(id) = stored_id {
        if stored_hash == Some(hash.as_str()) {
            return Ok(CommentSent::Unchanged);
        }
        match svc.github.update_comment(repo, id, &body).await {
            Ok(_) => return Ok(CommentSent::Updated { id, hash }),
            // Someone deleted it: show the status again in a new comment.
            Err(e) if e.is_not_found() => {
                tracing::info!(request_id = %doc.id, comment_id = id, "sticky comment was deleted; creating it again");
                let created = svc.github.create_comment(repo, pr_number, &body).await?;
                return Ok(CommentSent::Created {
                    id: created.id,
                    hash,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    // No id stored: a crash may have come between creating the comment and storing
    // its id (or a create was retried after a 5xx). Look before creating another.
    let comments = svc.github.list_comments(repo, pr_number).await?;
    if let Some(found) = find_sticky(&comments, &doc.id) {
        let id = found.id;
        let edited = found.body != body;
        if edited {
            svc.github.update_comment(repo, id, &body).await?;
        }
        return Ok(CommentSent::Adopted { id, hash, edited });
    }
    let created = svc.github.create_comment(repo, pr_number, &body).await?;
    Ok(CommentSent::Created {
        id: created.id,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::github::User;
    use crate::render::marker;

    fn comment(id: u64, login: &str, kind: &str, body: &str) -> IssueComment {
        IssueComment {
            id,
            body: body.to_string(),
            html_url: format!("https://github.test/c/{id}"),
            user: Some(User {
                login: login.to_string(),
                id: 1,
                kind: kind.to_string(),
            }),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn a_marker_typed_by_a_person_is_not_the_sticky_comment() {
        let id = "req_dev_s3_tgqpp8";
        let body = format!("{}\n### fake status", marker(id));
        let comments = vec![
            comment(1, "mallory", "User", &body),
            comment(2, "tfpilot[bot]", "Bot", "hello"),
            comment(3, "tfpilot[bot]", "Bot", &body),
        ];
        assert_eq!(find_sticky(&comments, id).map(|c| c.id), Some(3));
        assert_eq!(find_sticky(&comments[..2], id).map(|c| c.id), None);
        // Another request's sticky comment on the same PR is not this one's.
        assert!(find_sticky(&comments, "req_dev_s3_aaaaaa").is_none());
    }
}
