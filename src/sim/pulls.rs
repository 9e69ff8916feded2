//! Pull requests: open, edit, close, merge, reviews, with their webhooks.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post, put};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::git::Signature;
use super::http::{ApiError, ApiResult, GhJson, PageQuery, RouteTable, paginate, reply};
use super::issues::IssueEdit;
use super::shapes::Flavor;
use super::world::{Issue, Principal, Pull, Review, World};
use super::{ReviewState, SharedRef};

impl World {
    /// Announce `pull_request.<action>`.
    pub(crate) fn emit_pull(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        action: &str,
        sender: &str,
        extra: Option<Value>,
    ) {
        let Some(repo) = self.repo(owner, name) else {
            return;
        };
        let Some(p) = repo.pulls.get(&number) else {
            return;
        };
        let pr = self.pull_json(repo, p, Flavor::Hook, false);
        let mut m = Map::new();
        m.insert("action".into(), json!(action));
        m.insert("number".into(), json!(number));
        m.insert("pull_request".into(), pr);
        m.extend(self.hook_base(owner, name, sender));
        if let Some(Value::Object(x)) = extra {
            m.extend(x);
        }
        self.emit("pull_request", Some(action), Value::Object(m));
    }

    /// Open a pull request from `head` into `base` (both branches of this repository).
    pub(crate) fn create_pull(
        &mut self,
        owner: &str,
        name: &str,
        user: &str,
        new: NewPull,
    ) -> Result<u64, ApiError> {
        let NewPull {
            title,
            body,
            head,
            base,
            draft,
        } = new;
        let (head, base) = (head.as_str(), base.as_str());
        // `owner:branch` names the head's repository owner; only same-repository heads exist here
        let head = head.rsplit_once(':').map_or(head, |(_, b)| b).to_string();
        self.ensure_user(user);
        let id = self.next_id();
        let issue_id = self.next_id();
        let merged_already = self
            .repo(owner, name)
            .and_then(|r| {
                let head = r.refs.get(&format!("heads/{head}"))?;
                let base = r.refs.get(&format!("heads/{base}"))?;
                Some(self.git.is_ancestor(head, base))
            })
            .unwrap_or(false);
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let head_sha = repo
            .refs
            .get(&format!("heads/{head}"))
            .cloned()
            .ok_or_else(|| {
                ApiError::unprocessable(format!("Validation Failed: head {head} invalid"))
            })?;
        let base_sha = repo
            .refs
            .get(&format!("heads/{base}"))
            .cloned()
            .ok_or_else(|| {
                ApiError::unprocessable(format!("Validation Failed: base {base} invalid"))
            })?;
        // GitHub refuses a head whose commits are all in the base already (the same
        // commit, or a branch merged before).
        if head_sha == base_sha || merged_already {
            return Err(ApiError::unprocessable(format!(
                "Validation Failed: No commits between {base} and {head}"
            )));
        }
        let exists = repo.pulls.values().any(|p| {
            p.head_ref == head
                && p.base_ref == base
                && repo.issues.get(&p.number).is_some_and(|i| i.open)
        });
        if exists {
            return Err(ApiError::unprocessable(format!(
                "Validation Failed: A pull request already exists for {owner}:{head}."
            )));
        }
        let number = repo.next_number;
        repo.next_number += 1;
        let now = Utc::now();
        repo.issues.insert(
            number,
            Issue {
                id: issue_id,
                number,
                title,
                body,
                user: user.to_string(),
                open: true,
                state_reason: None,
                labels: Vec::new(),
                created_at: now,
                updated_at: now,
                closed_at: None,
                is_pull: true,
                reactions: Vec::new(),
            },
        );
        repo.pulls.insert(
            number,
            Pull {
                number,
                id,
                head_ref: head,
                head_sha,
                base_ref: base.to_string(),
                draft,
                merged: false,
                merged_at: None,
                merged_by: None,
                merge_commit_sha: None,
            },
        );
        self.emit_pull(owner, name, number, "opened", user, None);
        Ok(number)
    }

    /// Merge a pull request: a merge commit on the base branch, the PR closed and merged,
    /// `pull_request.closed` with `merged: true`.
    pub(crate) fn merge_pull(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        user: &str,
        how: MergeHow,
    ) -> Result<String, ApiError> {
        let MergeHow {
            expected_head,
            message,
            squash,
        } = how;
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let p = repo
            .pulls
            .get(&number)
            .cloned()
            .ok_or_else(ApiError::not_found)?;
        let open = repo.issues.get(&number).is_some_and(|i| i.open);
        if p.merged || !open {
            return Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Pull Request is not mergeable",
            ));
        }
        if let Some(sha) = expected_head
            && sha != p.head_sha
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Head branch was modified. Review and try the merge again.",
            ));
        }
        let merged = self.merged_tree(repo, &p).map_err(|_| {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Pull Request is not mergeable",
            )
        })?;
        let base_tip = repo
            .refs
            .get(&format!("heads/{}", p.base_ref))
            .cloned()
            .unwrap_or_default();
        let title = repo
            .issues
            .get(&number)
            .map(|i| i.title.clone())
            .unwrap_or_default();
        let tree = self.git.put_tree(merged);
        let sig = Signature {
            name: user.to_string(),
            email: super::world::noreply_email(user),
            date: Utc::now(),
        };
        let msg = message.unwrap_or_else(|| {
            if squash {
                format!("{title} (#{number})")
            } else {
                format!(
                    "Merge pull request #{number} from {owner}/{}\n\n{title}",
                    p.head_ref
                )
            }
        });
        // a squash (or rebase, modelled the same way) is one commit on the base branch
        let parents = if squash {
            vec![base_tip]
        } else {
            vec![base_tip, p.head_sha.clone()]
        };
        let sha = self.git.put_commit(tree, parents, msg, sig.clone(), sig);
        let now = Utc::now();
        if let Some(repo) = self.repo_mut(owner, name) {
            repo.refs
                .insert(format!("heads/{}", p.base_ref), sha.clone());
            repo.pushed_at = now;
            if let Some(pr) = repo.pulls.get_mut(&number) {
                pr.merged = true;
                pr.merged_at = Some(now);
                pr.merged_by = Some(user.to_string());
                pr.merge_commit_sha = Some(sha.clone());
            }
            if let Some(i) = repo.issues.get_mut(&number) {
                i.open = false;
                i.closed_at = Some(now);
                i.updated_at = now;
            }
        }
        self.emit_pull(owner, name, number, "closed", user, None);
        self.close_linked_issues(owner, name, number, user);
        Ok(sha)
    }

    /// A merge into the default branch closes the issues the PR names with a closing keyword
    /// (`Closes #12`, `fixes #3`, ...), as GitHub does, each with `issues.closed`.
    fn close_linked_issues(&mut self, owner: &str, name: &str, number: u64, user: &str) {
        let Some(repo) = self.repo(owner, name) else {
            return;
        };
        let into_default = repo
            .pulls
            .get(&number)
            .is_some_and(|p| p.base_ref == repo.default_branch);
        let text = repo
            .issues
            .get(&number)
            .map(|i| format!("{}\n{}", i.title, i.body.clone().unwrap_or_default()))
            .unwrap_or_default();
        if !into_default {
            return;
        }
        let Ok(re) =
            regex::Regex::new(r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b")
        else {
            return;
        };
        let linked: Vec<u64> = re
            .captures_iter(&text)
            .filter_map(|c| c.get(1)?.as_str().parse().ok())
            .filter(|n| *n != number)
            .collect();
        for n in linked {
            let is_open_issue = self
                .repo(owner, name)
                .and_then(|r| r.issues.get(&n))
                .is_some_and(|i| i.open && !i.is_pull);
            if is_open_issue {
                let edit = IssueEdit {
                    state: Some("closed".to_string()),
                    ..IssueEdit::default()
                };
                // the issue exists and is open, so this cannot be refused
                let _ = self.update_issue(owner, name, n, user, edit);
            }
        }
    }

    /// Submit a review on the PR's current head; announces `pull_request_review.submitted`.
    pub(crate) fn submit_review(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        user: &str,
        state: ReviewState,
        body: &str,
    ) -> Result<u64, ApiError> {
        self.ensure_user(user);
        let id = self.next_id();
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let p = repo.pulls.get(&number).ok_or_else(ApiError::not_found)?;
        let author = repo
            .issues
            .get(&number)
            .map(|i| i.user.clone())
            .unwrap_or_default();
        if author == user && state != ReviewState::Commented {
            return Err(ApiError::unprocessable(
                "Can not approve your own pull request",
            ));
        }
        let review = Review {
            id,
            pull_number: number,
            user: user.to_string(),
            state,
            body: body.to_string(),
            commit_id: p.head_sha.clone(),
            submitted_at: Utc::now(),
        };
        repo.reviews.push(review.clone());
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let mut review_json = self.review_json(repo, &review);
        // webhooks name the state in lower case, REST in upper case
        review_json["state"] = json!(state.hook_name());
        let pr = repo
            .pulls
            .get(&number)
            .map(|p| self.pull_json(repo, p, Flavor::Hook, true))
            .unwrap_or_default();
        let mut m = Map::new();
        m.insert("action".into(), json!("submitted"));
        m.insert("review".into(), review_json);
        m.insert("pull_request".into(), pr);
        m.extend(self.hook_base(owner, name, user));
        self.emit("pull_request_review", Some("submitted"), Value::Object(m));
        Ok(id)
    }
}

/// How to merge: the head the caller expects, the commit message, squash or merge commit.
#[derive(Default)]
pub(crate) struct MergeHow<'a> {
    pub expected_head: Option<&'a str>,
    pub message: Option<String>,
    pub squash: bool,
}

/// A pull request to open.
pub(crate) struct NewPull {
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub base: String,
    pub draft: bool,
}

fn pull_reply(w: &World, o: &str, r: &str, n: u64, status: StatusCode) -> ApiResult {
    let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
    let p = repo.pulls.get(&n).ok_or_else(ApiError::not_found)?;
    reply(status, w.pull_json(repo, p, Flavor::Rest, false))
}

#[derive(Deserialize)]
struct CreatePull {
    title: String,
    head: String,
    base: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    draft: bool,
}

async fn create_pull(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r)): Path<(String, String)>,
    GhJson(b): GhJson<CreatePull>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let new = NewPull {
        title: b.title,
        body: b.body,
        head: b.head,
        base: b.base,
        draft: b.draft,
    };
    let n = w.create_pull(&o, &r, &login, new)?;
    pull_reply(&w, &o, &r, n, StatusCode::CREATED)
}

async fn get_pull(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    pull_reply(&w, &o, &r, n, StatusCode::OK)
}

#[derive(Deserialize)]
struct UpdatePull {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    base: Option<String>,
}

async fn update_pull(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<UpdatePull>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let pr = repo.pulls.get(&n).ok_or_else(ApiError::not_found)?;
    if pr.merged && b.state.as_deref() == Some("open") {
        return Err(ApiError::unprocessable(
            "Validation Failed: state cannot be changed. The pull request has been merged.",
        ));
    }
    if let Some(base) = &b.base {
        if !repo.refs.contains_key(&format!("heads/{base}")) {
            return Err(ApiError::unprocessable(format!(
                "Validation Failed: Proposed base branch '{base}' was not found"
            )));
        }
        if let Some(pr) = w.repo_mut(&o, &r).and_then(|repo| repo.pulls.get_mut(&n)) {
            pr.base_ref = base.clone();
        }
    }
    let edit = IssueEdit {
        title: b.title,
        body: b.body,
        state: b.state,
        state_reason: None,
    };
    w.update_issue(&o, &r, n, &login, edit)?;
    pull_reply(&w, &o, &r, n, StatusCode::OK)
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    head: Option<String>,
    base: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn list_pulls(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let state = q.state.as_deref().unwrap_or("open");
    // `head` is `user:branch`; GitHub filters by both parts
    let head = q.head.as_deref().map(|h| match h.split_once(':') {
        Some((user, branch)) => (Some(user.to_string()), branch.to_string()),
        None => (None, h.to_string()),
    });
    let items: Vec<Value> = repo
        .pulls
        .values()
        .rev()
        .filter(|p| {
            let open = repo.issues.get(&p.number).is_some_and(|i| i.open);
            let state_ok = match state {
                "open" => open,
                "closed" => !open,
                _ => true,
            };
            let head_ok = head.as_ref().is_none_or(|(user, branch)| {
                *branch == p.head_ref
                    && user
                        .as_ref()
                        .is_none_or(|u| u.eq_ignore_ascii_case(&repo.owner))
            });
            let base_ok = q.base.as_ref().is_none_or(|b| *b == p.base_ref);
            state_ok && head_ok && base_ok
        })
        .map(|p| w.pull_json(repo, p, Flavor::Rest, true))
        .collect();
    let url = w.api(&format!("repos/{}/pulls", repo.full_name()));
    let pq = PageQuery {
        page: q.page,
        per_page: q.per_page,
    };
    paginate(items, &pq, &url, |page, _| Value::Array(page))
}

async fn pull_files(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let p = repo.pulls.get(&n).ok_or_else(ApiError::not_found)?;
    let full = repo.full_name();
    let items: Vec<Value> = w
        .pull_files(repo, p)
        .into_iter()
        .map(|f| {
            json!({
                "sha": f.sha,
                "filename": f.path,
                "status": f.status,
                "additions": 0,
                "deletions": 0,
                "changes": 0,
                "blob_url": w.html(&format!("{full}/blob/{}/{}", p.head_sha, f.path)),
                "raw_url": w.html(&format!("{full}/raw/{}/{}", p.head_sha, f.path)),
                "contents_url": w.api(&format!("repos/{full}/contents/{}?ref={}", f.path, p.head_sha)),
            })
        })
        .collect();
    let url = w.api(&format!("repos/{full}/pulls/{n}/files"));
    paginate(items, &q, &url, |page, _| Value::Array(page))
}

async fn check_merged(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    match repo.pulls.get(&n) {
        Some(p) if p.merged => Ok(StatusCode::NO_CONTENT.into_response()),
        _ => Err(ApiError::not_found()),
    }
}

#[derive(Deserialize, Default)]
struct MergeBody {
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    commit_title: Option<String>,
    #[serde(default)]
    commit_message: Option<String>,
    #[serde(default)]
    merge_method: Option<String>,
}

async fn merge_pull(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<MergeBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let message = match (b.commit_title, b.commit_message) {
        (Some(t), Some(m)) => Some(format!("{t}\n\n{m}")),
        (Some(t), None) => Some(t),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    };
    let squash = match b.merge_method.as_deref() {
        None | Some("merge") => false,
        Some("squash" | "rebase") => true,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "Invalid request.\n\nmerge_method {other} is not a valid value"
            )));
        }
    };
    let how = MergeHow {
        expected_head: b.sha.as_deref(),
        message,
        squash,
    };
    let sha = w.merge_pull(&o, &r, n, &login, how)?;
    reply(
        StatusCode::OK,
        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
    )
}

async fn list_reviews(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    repo.pulls.get(&n).ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = repo
        .reviews
        .iter()
        .filter(|x| x.pull_number == n)
        .map(|x| w.review_json(repo, x))
        .collect();
    let url = w.api(&format!("repos/{}/pulls/{n}/reviews", repo.full_name()));
    paginate(items, &q, &url, |page, _| Value::Array(page))
}

/// Pull request routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add("GET", "/repos/{owner}/{repo}/pulls", get(list_pulls))
        .add("POST", "/repos/{owner}/{repo}/pulls", post(create_pull))
        .add(
            "GET",
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            get(get_pull),
        )
        .add(
            "PATCH",
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            patch(update_pull),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/pulls/{pull_number}/files",
            get(pull_files),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            get(check_merged),
        )
        .add(
            "PUT",
            "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
            put(merge_pull),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            get(list_reviews),
        )
}
