//! What people see on the PR: the sticky status comment and the check runs.
//!
//! Pure functions from the request facts (plus plan summary, cost, lock and the
//! environment's policy) to text. No I/O and no clock: `now` comes in, and the same
//! facts always render the same bytes, so the service compares [`body_hash`]es and
//! calls GitHub only when something visible changed.
//!
//! Sizes are counted in characters, as GitHub counts them: a comment body holds at
//! most [`COMMENT_LIMIT`], a check run's summary and text [`CHECK_TEXT_LIMIT`] each.
//! Only the plan's address list is ever cut (with a note and a link to the run);
//! the status, the facts and the next step are always written in full.

use sha2::{Digest, Sha256};

pub mod check;
pub mod headline;
pub mod md;
pub mod plan;
pub mod plan_change;
pub mod sticky;
pub mod view;

pub use check::{
    CheckAction, CheckActionId, CheckConclusion, CheckOutput, CheckRunPayload, CheckRunUpdate,
    CheckStatus, LIFECYCLE_CHECK_NAME, PLAN_CHECK_NAME, allowed_actions, lifecycle_check,
    plan_check,
};
pub use headline::{headline, next_step};
pub use sticky::{StickyInput, render_content, sticky_comment};
pub use view::{EnvPolicy, LockView};

/// GitHub's limit on an issue or PR comment body, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// GitHub's limit on a check run's `output.summary` and `output.text`, in characters.
pub const CHECK_TEXT_LIMIT: usize = 65_535;

const MARKER_PREFIX: &str = "<!-- tfpilot:request:";
const MARKER_SUFFIX: &str = " -->";

/// The hidden marker that starts a request's sticky comment: `<!-- tfpilot:request:<id> -->`.
///
/// Valid request ids are written as they are. Anything outside `[A-Za-z0-9_-]` is
/// percent-encoded, so no id can close the HTML comment early and two different
/// ids never share a marker.
pub fn marker(id: &str) -> String {
    let mut out = String::from(MARKER_PREFIX);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out.push_str(MARKER_SUFFIX);
    out
}

/// True when `body` is the sticky comment of request `id` (it starts with its marker),
/// so the service can find a comment whose id it failed to store. Anyone can type a
/// marker: the service must also check that the comment's author is the app.
pub fn is_sticky_for(body: &str, id: &str) -> bool {
    body.trim_start().starts_with(&marker(id))
}

/// The request id named by a sticky comment's marker, when `body` starts with one
/// and the id needs no decoding.
pub fn sticky_request_id(body: &str) -> Option<&str> {
    let rest = body.trim_start().strip_prefix(MARKER_PREFIX)?;
    let (id, _) = rest.split_once(MARKER_SUFFIX)?;
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    plain.then_some(id)
}

/// SHA-256 of a rendered body, lowercase hex: equal hashes mean nothing to send.
pub fn body_hash(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_is_the_documented_html_comment() {
        assert_eq!(
            marker("req_dev_s3_tgqpp8"),
            "<!-- tfpilot:request:req_dev_s3_tgqpp8 -->"
        );
        assert!(marker_round_trips("req_dev_s3_tgqpp8"));
    }

    fn marker_round_trips(id: &str) -> bool {
        let body = format!("{}\n### x", marker(id));
        is_sticky_for(&body, id) && sticky_request_id(&body) == Some(id)
    }

    #[test]
    fn a_hostile_id_cannot_close_the_comment() {
        let m = marker("x --> <b>hi</b>");
        assert_eq!(m.matches("-->").count(), 1);
        assert!(m.ends_with(" -->"));
        assert_ne!(marker("a b"), marker("a_b"));
        assert_eq!(sticky_request_id(&m), None);
    }

    #[test]
    fn another_requests_comment_is_not_ours() {
        let body = format!("{}\n", marker("req_dev_s3_aaaaaa"));
        assert!(!is_sticky_for(&body, "req_dev_s3_bbbbbb"));
        assert!(!is_sticky_for(
            "hello <!-- tfpilot:request:req_dev_s3_bbbbbb -->",
            "req_dev_s3_bbbbbb"
        ));
    }

    #[test]
    fn body_hash_is_sha256_hex() {
        assert_eq!(
            body_hash(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_ne!(body_hash("a"), body_hash("b"));
    }
}
