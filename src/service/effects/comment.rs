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

/// True when the comment was written by this GitHub App (`app_id`). People can type
/// a marker into their own comments, and another App (a workflow's
/// `github-actions[bot]`, say) can post one; neither copy is ever taken for
/// tfpilot's. An App's comment is a `Bot` account named `<slug>[bot]`, and GitHub
/// names the App that posted it (`performed_via_github_app`): one that names another
/// App is not tfpilot's. Without that field, or without a known App id (tests that
/// build a service by hand), any App's comment counts.
pub fn is_app_author(comment: &IssueComment, app_id: Option<u64>) -> bool {
    let by_an_app = comment
        .user
        .as_ref()
        .is_some_and(|u| u.kind == "Bot" && u.login.ends_with("[bot]"));
    let by_another_app = match (app_id, &comment.performed_via_github_app) {
        (Some(ours), Some(app)) => app.id != ours,
        _ => false,
    };
    by_an_app && !by_another_app
}

/// The request's sticky comment among a PR's comments: the first by this App whose
/// body starts with the request's marker.
pub fn find_sticky<'a>(
    comments: &'a [IssueComment],
    request_id: &str,
    app_id: Option<u64>,
) -> Option<&'a IssueComment> {
    comments
        .iter()
        .find(|c| is_app_author(c, app_id) && is_sticky_for(&c.body, request_id))
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
    if let Some(found) = find_sticky(&comments, &doc.id, svc.settings.app_id) {
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
    use crate::github::{AppRef, User};
    use crate::render::marker;

    const APP_ID: u64 = 4_242;

    /// A comment by `login`; `app`: the id of the App that posted it.
    fn comment(id: u64, login: &str, kind: &str, app: Option<u64>, body: &str) -> IssueComment {
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
            performed_via_github_app: app.map(|id| AppRef { id }),
        }
    }

    #[test]
    fn a_marker_typed_by_a_person_or_posted_by_another_app_is_not_the_sticky_comment() {
        let id = "req_dev_s3_tgqpp8";
        let body = format!("{}\n### fake status", marker(id));
        let comments = vec![
            comment(1, "mallory", "User", None, &body),
            // a workflow posting with its GITHUB_TOKEN
            comment(2, "github-actions[bot]", "Bot", Some(15_368), &body),
            comment(3, "tfpilot[bot]", "Bot", Some(APP_ID), "hello"),
            comment(4, "tfpilot[bot]", "Bot", Some(APP_ID), &body),
        ];
        let found = |c: &[IssueComment], id| find_sticky(c, id, Some(APP_ID)).map(|c| c.id);
        assert_eq!(found(&comments, id), Some(4));
        assert_eq!(found(&comments[..3], id), None);
        // Another request's sticky comment on the same PR is not this one's.
        assert_eq!(found(&comments, "req_dev_s3_aaaaaa"), None);
        // Without a known App id, any App's comment is taken (people's never).
        assert_eq!(find_sticky(&comments, id, None).map(|c| c.id), Some(2));
        assert_eq!(find_sticky(&comments[..1], id, None).map(|c| c.id), None);
        // An App's comment that GitHub does not attribute counts as this App's.
        let unattributed = [comment(5, "tfpilot[bot]", "Bot", None, &body)];
        assert_eq!(found(&unattributed, id), Some(5));
    }
}
