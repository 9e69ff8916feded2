//! REST handlers for issues, labels, issue comments and reactions.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use serde::Deserialize;
use serde_json::Value;

use super::SharedRef;
use super::http::{ApiError, ApiResult, GhJson, PageQuery, RouteTable, paginate, reply};
use super::issues::{IssueEdit, ReactTarget};
use super::world::{Principal, World};

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelArg {
    Name(String),
    Object { name: String },
}

impl LabelArg {
    fn name(self) -> String {
        match self {
            LabelArg::Name(n) | LabelArg::Object { name: n } => n,
        }
    }
}

#[derive(Deserialize)]
struct CreateIssue {
    title: Value,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    labels: Vec<LabelArg>,
}

fn title_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

async fn create_issue(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r)): Path<(String, String)>,
    GhJson(b): GhJson<CreateIssue>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let labels: Vec<String> = b.labels.into_iter().map(LabelArg::name).collect();
    let n = w.create_issue(&o, &r, &login, &title_string(b.title), b.body, &labels)?;
    issue_reply(&w, &o, &r, n, StatusCode::CREATED)
}

fn issue_reply(w: &World, o: &str, r: &str, n: u64, status: StatusCode) -> ApiResult {
    let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
    let issue = repo.issues.get(&n).ok_or_else(ApiError::not_found)?;
    reply(status, w.issue_json(repo, issue))
}

async fn get_issue(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    issue_reply(&w, &o, &r, n, StatusCode::OK)
}

#[derive(Deserialize)]
struct UpdateIssue {
    #[serde(default)]
    title: Option<Value>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    labels: Option<Vec<LabelArg>>,
}

async fn update_issue(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<UpdateIssue>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let edit = IssueEdit {
        title: b.title.map(title_string),
        body: b.body,
        state: b.state,
        state_reason: b.state_reason,
    };
    w.update_issue(&o, &r, n, &login, edit)?;
    if let Some(labels) = b.labels {
        set_labels_inner(
            &mut w,
            &o,
            &r,
            n,
            &login,
            labels.into_iter().map(LabelArg::name).collect(),
        )?;
    }
    issue_reply(&w, &o, &r, n, StatusCode::OK)
}

fn labels_reply(w: &World, o: &str, r: &str, n: u64, status: StatusCode) -> ApiResult {
    let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
    let issue = repo.issues.get(&n).ok_or_else(ApiError::not_found)?;
    let labels: Vec<Value> = issue.labels.iter().map(|l| w.label_json(repo, l)).collect();
    reply(status, Value::Array(labels))
}

async fn list_labels(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    labels_reply(&w, &o, &r, n, StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum LabelsBody {
    Wrapped { labels: Vec<LabelArg> },
    Bare(Vec<LabelArg>),
}

impl LabelsBody {
    fn names(self) -> Vec<String> {
        match self {
            LabelsBody::Wrapped { labels } | LabelsBody::Bare(labels) => {
                labels.into_iter().map(LabelArg::name).collect()
            }
        }
    }
}

async fn add_labels(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<LabelsBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    w.add_labels(&o, &r, n, &login, &b.names())?;
    labels_reply(&w, &o, &r, n, StatusCode::OK)
}

fn set_labels_inner(
    w: &mut World,
    o: &str,
    r: &str,
    n: u64,
    login: &str,
    wanted: Vec<String>,
) -> Result<(), ApiError> {
    let current = w
        .repo(o, r)
        .and_then(|repo| repo.issues.get(&n))
        .map(|i| i.labels.clone())
        .ok_or_else(ApiError::not_found)?;
    for l in current.iter().filter(|l| !wanted.contains(l)) {
        w.remove_label(o, r, n, login, l)?;
    }
    w.add_labels(o, r, n, login, &wanted)
}

async fn set_labels(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<LabelsBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    set_labels_inner(&mut w, &o, &r, n, &login, b.names())?;
    labels_reply(&w, &o, &r, n, StatusCode::OK)
}

async fn remove_label(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n, name)): Path<(String, String, u64, String)>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    w.remove_label(&o, &r, n, &login, &name)?;
    labels_reply(&w, &o, &r, n, StatusCode::OK)
}

#[derive(Deserialize)]
struct CreateLabel {
    name: String,
}

async fn create_label(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    GhJson(b): GhJson<CreateLabel>,
) -> ApiResult {
    let mut w = s.world();
    let id = w.next_id();
    let repo = w.repo_mut(&o, &r).ok_or_else(ApiError::not_found)?;
    if repo.labels.contains_key(&b.name) {
        return Err(ApiError::unprocessable("Validation Failed: already_exists"));
    }
    repo.labels.insert(b.name.clone(), id);
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::CREATED, w.label_json(repo, &b.name))
}

async fn get_label(
    State(s): State<SharedRef>,
    Path((o, r, name)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    if !repo.labels.contains_key(&name) {
        return Err(ApiError::not_found());
    }
    reply(StatusCode::OK, w.label_json(repo, &name))
}

async fn list_comments(
    State(s): State<SharedRef>,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    repo.issues.get(&n).ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = repo
        .comments
        .values()
        .filter(|c| c.issue_number == n)
        .map(|c| w.comment_json(repo, c))
        .collect();
    let url = w.api(&format!("repos/{}/issues/{n}/comments", repo.full_name()));
    paginate(items, &q, &url, |page, _| Value::Array(page))
}

#[derive(Deserialize)]
struct CommentBody {
    body: String,
}

fn comment_reply(w: &World, o: &str, r: &str, id: u64, status: StatusCode) -> ApiResult {
    let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
    let c = repo.comments.get(&id).ok_or_else(ApiError::not_found)?;
    reply(status, w.comment_json(repo, c))
}

async fn create_comment(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<CommentBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let app = w.app.id;
    let id = w.create_comment(&o, &r, n, &login, &b.body, Some(app))?;
    comment_reply(&w, &o, &r, id, StatusCode::CREATED)
}

async fn get_comment(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    comment_reply(&w, &o, &r, id, StatusCode::OK)
}

async fn update_comment(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, id)): Path<(String, String, u64)>,
    GhJson(b): GhJson<CommentBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    w.edit_comment(&o, &r, id, &login, &b.body)?;
    comment_reply(&w, &o, &r, id, StatusCode::OK)
}

async fn delete_comment(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    w.delete_comment(&o, &r, id, &login)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ReactionBody {
    content: String,
}

async fn react_comment(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, id)): Path<(String, String, u64)>,
    GhJson(b): GhJson<ReactionBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let (reaction, created) = w.react(&o, &r, ReactTarget::Comment(id), &login, &b.content)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply(status, w.reaction_json(&reaction))
}

async fn react_issue(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, n)): Path<(String, String, u64)>,
    GhJson(b): GhJson<ReactionBody>,
) -> ApiResult {
    let mut w = s.world();
    let login = w.login_for(&p);
    let (reaction, created) = w.react(&o, &r, ReactTarget::Issue(n), &login, &b.content)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    reply(status, w.reaction_json(&reaction))
}

async fn list_comment_reactions(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let c = repo.comments.get(&id).ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = c.reactions.iter().map(|x| w.reaction_json(x)).collect();
    let url = w.api(&format!(
        "repos/{}/issues/comments/{id}/reactions",
        repo.full_name()
    ));
    paginate(items, &q, &url, |page, _| Value::Array(page))
}

async fn delete_comment_reaction(
    State(s): State<SharedRef>,
    Path((o, r, id, reaction)): Path<(String, String, u64, u64)>,
) -> ApiResult {
    let mut w = s.world();
    let repo = w.repo_mut(&o, &r).ok_or_else(ApiError::not_found)?;
    let c = repo.comments.get_mut(&id).ok_or_else(ApiError::not_found)?;
    c.reactions.retain(|x| x.id != reaction);
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Issue, label, comment and reaction routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add("POST", "/repos/{owner}/{repo}/issues", post(create_issue))
        .add(
            "GET",
            "/repos/{owner}/{repo}/issues/{issue_number}",
            get(get_issue),
        )
        .add(
            "PATCH",
            "/repos/{owner}/{repo}/issues/{issue_number}",
            patch(update_issue),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            get(list_labels),
        )
        .add(
            "POST",
            "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            post(add_labels),
        )
        .add(
            "PUT",
            "/repos/{owner}/{repo}/issues/{issue_number}/labels",
            axum::routing::put(set_labels),
        )
        .add(
            "DELETE",
            "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}",
            delete(remove_label),
        )
        .add("POST", "/repos/{owner}/{repo}/labels", post(create_label))
        .add("GET", "/repos/{owner}/{repo}/labels/{name}", get(get_label))
        .add(
            "GET",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            get(list_comments),
        )
        .add(
            "POST",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            post(create_comment),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            get(get_comment),
        )
        .add(
            "PATCH",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            patch(update_comment),
        )
        .add(
            "DELETE",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            delete(delete_comment),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            get(list_comment_reactions),
        )
        .add(
            "POST",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions",
            post(react_comment),
        )
        .add(
            "DELETE",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions/{reaction_id}",
            delete(delete_comment_reaction),
        )
        .add(
            "POST",
            "/repos/{owner}/{repo}/issues/{issue_number}/reactions",
            post(react_issue),
        )
}
