//! Issues, labels, issue comments and reactions, with the webhooks they announce.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SharedRef;
use super::http::{ApiError, ApiResult, GhJson, PageQuery, RouteTable, paginate, reply};
use super::shapes::Flavor;
use super::world::{Comment, Issue, Principal, Reaction, World};

/// The reaction contents GitHub accepts.
const REACTIONS: [&str; 8] = [
    "+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes",
];

impl World {
    /// `{repository, sender, installation, organization?}`: what every app webhook carries.
    pub(crate) fn hook_base(
        &mut self,
        owner: &str,
        name: &str,
        sender: &str,
    ) -> Map<String, Value> {
        self.ensure_user(sender);
        let mut m = Map::new();
        if let Some(repo) = self.repo(owner, name) {
            m.insert("repository".into(), self.repo_json(repo, Flavor::Hook));
            if self.is_org(&repo.owner) {
                m.insert("organization".into(), self.org_json(&repo.owner));
            }
        }
        m.insert("sender".into(), self.user_json(sender));
        m.insert("installation".into(), self.installation_lite());
        m
    }

    fn org_json(&self, login: &str) -> Value {
        let id = self.users.get(login).map(|u| u.id).unwrap_or_default();
        let api = self.api(&format!("orgs/{login}"));
        json!({
            "login": login,
            "id": id,
            "node_id": format!("O_{id}"),
            "url": api,
            "repos_url": format!("{api}/repos"),
            "events_url": format!("{api}/events"),
            "hooks_url": format!("{api}/hooks"),
            "issues_url": format!("{api}/issues"),
            "members_url": format!("{api}/members{{/member}}"),
            "public_members_url": format!("{api}/public_members{{/member}}"),
            "avatar_url": format!("{}/_avatars/{id}", self.base_url),
            "description": null,
        })
    }

    /// Announce `issues.<action>` (or `pull_request.<action>` when the issue is a PR).
    pub(crate) fn emit_issue(
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
        let Some(issue) = repo.issues.get(&number) else {
            return;
        };
        if issue.is_pull {
            self.emit_pull(owner, name, number, action, sender, extra);
            return;
        }
        let issue_json = self.issue_json(repo, issue);
        let mut m = Map::new();
        m.insert("action".into(), json!(action));
        m.insert("issue".into(), issue_json);
        m.extend(self.hook_base(owner, name, sender));
        if let Some(Value::Object(x)) = extra {
            m.extend(x);
        }
        self.emit("issues", Some(action), Value::Object(m));
    }

    fn emit_comment(
        &mut self,
        owner: &str,
        name: &str,
        id: u64,
        action: &str,
        sender: &str,
        extra: Option<Value>,
    ) {
        let Some(repo) = self.repo(owner, name) else {
            return;
        };
        let Some(c) = repo.comments.get(&id) else {
            return;
        };
        let Some(issue) = repo.issues.get(&c.issue_number) else {
            return;
        };
        let mut m = Map::new();
        m.insert("action".into(), json!(action));
        m.insert("issue".into(), self.issue_json(repo, issue));
        m.insert("comment".into(), self.comment_json(repo, c));
        m.extend(self.hook_base(owner, name, sender));
        if let Some(Value::Object(x)) = extra {
            m.extend(x);
        }
        self.emit("issue_comment", Some(action), Value::Object(m));
    }

    /// Open an issue (labels are announced after `opened`, one `labeled` each, as GitHub does).
    pub(crate) fn create_issue(
        &mut self,
        owner: &str,
        name: &str,
        user: &str,
        title: &str,
        body: Option<String>,
        labels: &[String],
    ) -> Result<u64, ApiError> {
        if title.trim().is_empty() {
            return Err(ApiError::unprocessable(
                "Validation Failed: title can't be blank",
            ));
        }
        self.ensure_user(user);
        let id = self.next_id();
        let label_ids: Vec<u64> = labels.iter().map(|_| self.next_id()).collect();
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let number = repo.next_number;
        repo.next_number += 1;
        let now = Utc::now();
        repo.issues.insert(
            number,
            Issue {
                id,
                number,
                title: title.to_string(),
                body,
                user: user.to_string(),
                open: true,
                state_reason: None,
                labels: Vec::new(),
                created_at: now,
                updated_at: now,
                closed_at: None,
                is_pull: false,
                reactions: Vec::new(),
            },
        );
        for (l, lid) in labels.iter().zip(label_ids) {
            repo.labels.entry(l.clone()).or_insert(lid);
        }
        self.emit_issue(owner, name, number, "opened", user, None);
        self.add_labels(owner, name, number, user, labels)?;
        Ok(number)
    }

    /// Add labels; announces `labeled` for each label the issue did not have.
    pub(crate) fn add_labels(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        user: &str,
        labels: &[String],
    ) -> Result<(), ApiError> {
        for l in labels {
            let lid = self.next_id();
            let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
            repo.labels.entry(l.clone()).or_insert(lid);
            let issue = repo
                .issues
                .get_mut(&number)
                .ok_or_else(ApiError::not_found)?;
            if issue.labels.contains(l) {
                continue;
            }
            issue.labels.push(l.clone());
            issue.updated_at = Utc::now();
            let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
            let label = self.label_json(repo, l);
            self.emit_issue(
                owner,
                name,
                number,
                "labeled",
                user,
                Some(json!({"label": label})),
            );
        }
        Ok(())
    }

    /// Remove a label; announces `unlabeled`.
    pub(crate) fn remove_label(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        user: &str,
        label: &str,
    ) -> Result<(), ApiError> {
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let issue = repo
            .issues
            .get_mut(&number)
            .ok_or_else(ApiError::not_found)?;
        let before = issue.labels.len();
        issue.labels.retain(|l| l != label);
        if issue.labels.len() == before {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "Label does not exist"));
        }
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let label = self.label_json(repo, label);
        self.emit_issue(
            owner,
            name,
            number,
            "unlabeled",
            user,
            Some(json!({"label": label})),
        );
        Ok(())
    }

    /// Edit title/body/state; announces `edited` (with `changes`), `closed` or `reopened`.
    pub(crate) fn update_issue(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        user: &str,
        edit: IssueEdit,
    ) -> Result<(), ApiError> {
        let IssueEdit {
            title,
            body,
            state,
            state_reason,
        } = edit;
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let issue = repo
            .issues
            .get_mut(&number)
            .ok_or_else(ApiError::not_found)?;
        let mut changes = Map::new();
        if let Some(t) = title.filter(|t| *t != issue.title) {
            changes.insert("title".into(), json!({"from": issue.title}));
            issue.title = t;
        }
        if let Some(b) = body.filter(|b| Some(b) != issue.body.as_ref()) {
            changes.insert(
                "body".into(),
                json!({"from": issue.body.clone().unwrap_or_default()}),
            );
            issue.body = Some(b);
        }
        let mut state_action = None;
        match state.as_deref() {
            Some("closed") if issue.open => {
                issue.open = false;
                issue.closed_at = Some(Utc::now());
                issue.state_reason = Some(state_reason.unwrap_or_else(|| "completed".to_string()));
                state_action = Some("closed");
            }
            Some("open") if !issue.open => {
                issue.open = true;
                issue.closed_at = None;
                issue.state_reason = Some("reopened".to_string());
                state_action = Some("reopened");
            }
            Some("open" | "closed") | None => {}
            Some(other) => {
                return Err(ApiError::unprocessable(format!(
                    "Validation Failed: state {other} is not valid"
                )));
            }
        }
        if !changes.is_empty() || state_action.is_some() {
            issue.updated_at = Utc::now();
        }
        if !changes.is_empty() {
            self.emit_issue(
                owner,
                name,
                number,
                "edited",
                user,
                Some(json!({"changes": changes})),
            );
        }
        if let Some(a) = state_action {
            self.emit_issue(owner, name, number, a, user, None);
        }
        Ok(())
    }

    /// Comment on an issue or PR; announces `issue_comment.created`.
    pub(crate) fn create_comment(
        &mut self,
        owner: &str,
        name: &str,
        number: u64,
        user: &str,
        body: &str,
        via_app: bool,
    ) -> Result<u64, ApiError> {
        if body.chars().count() > 65_536 {
            return Err(ApiError::unprocessable(
                "Validation Failed: Body is too long (maximum is 65536 characters)",
            ));
        }
        self.ensure_user(user);
        let id = self.next_id();
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let issue = repo
            .issues
            .get_mut(&number)
            .ok_or_else(ApiError::not_found)?;
        let now = Utc::now();
        issue.updated_at = now;
        repo.comments.insert(
            id,
            Comment {
                id,
                issue_number: number,
                user: user.to_string(),
                body: body.to_string(),
                via_app,
                created_at: now,
                updated_at: now,
                reactions: Vec::new(),
            },
        );
        self.emit_comment(owner, name, id, "created", user, None);
        Ok(id)
    }

    /// Edit a comment; announces `issue_comment.edited` with `changes.body.from`.
    pub(crate) fn edit_comment(
        &mut self,
        owner: &str,
        name: &str,
        id: u64,
        user: &str,
        body: &str,
    ) -> Result<(), ApiError> {
        if body.chars().count() > 65_536 {
            return Err(ApiError::unprocessable(
                "Validation Failed: Body is too long (maximum is 65536 characters)",
            ));
        }
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let c = repo.comments.get_mut(&id).ok_or_else(ApiError::not_found)?;
        if c.body == body {
            return Ok(());
        }
        let from = std::mem::replace(&mut c.body, body.to_string());
        c.updated_at = Utc::now();
        self.emit_comment(
            owner,
            name,
            id,
            "edited",
            user,
            Some(json!({"changes": {"body": {"from": from}}})),
        );
        Ok(())
    }

    /// Delete a comment; announces `issue_comment.deleted`.
    pub(crate) fn delete_comment(
        &mut self,
        owner: &str,
        name: &str,
        id: u64,
        user: &str,
    ) -> Result<(), ApiError> {
        self.repo(owner, name)
            .and_then(|r| r.comments.get(&id))
            .ok_or_else(ApiError::not_found)?;
        // the payload shows the comment as it was, so announce before removing
        self.emit_comment(owner, name, id, "deleted", user, None);
        if let Some(repo) = self.repo_mut(owner, name) {
            repo.comments.remove(&id);
        }
        Ok(())
    }

    /// React to a comment (`Some(id)`) or an issue (`None`); `(reaction, created)` —
    /// the same user and content twice gives the existing reaction, as GitHub does.
    pub(crate) fn react(
        &mut self,
        owner: &str,
        name: &str,
        target: ReactTarget,
        user: &str,
        content: &str,
    ) -> Result<(Reaction, bool), ApiError> {
        if !REACTIONS.contains(&content) {
            return Err(ApiError::unprocessable(format!(
                "Validation Failed: content {content} is not a valid reaction"
            )));
        }
        self.ensure_user(user);
        let id = self.next_id();
        let repo = self.repo_mut(owner, name).ok_or_else(ApiError::not_found)?;
        let list = match target {
            ReactTarget::Comment(cid) => {
                &mut repo
                    .comments
                    .get_mut(&cid)
                    .ok_or_else(ApiError::not_found)?
                    .reactions
            }
            ReactTarget::Issue(n) => {
                &mut repo
                    .issues
                    .get_mut(&n)
                    .ok_or_else(ApiError::not_found)?
                    .reactions
            }
        };
        if let Some(r) = list.iter().find(|r| r.user == user && r.content == content) {
            return Ok((r.clone(), false));
        }
        let r = Reaction {
            id,
            user: user.to_string(),
            content: content.to_string(),
            created_at: Utc::now(),
        };
        list.push(r.clone());
        Ok((r, true))
    }
}

/// Changes to an issue (or a PR's issue half); `None` leaves a field alone.
#[derive(Default)]
pub(crate) struct IssueEdit {
    pub title: Option<String>,
    pub body: Option<String>,
    pub state: Option<String>,
    pub state_reason: Option<String>,
}

/// What a reaction is on.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ReactTarget {
    Comment(u64),
    Issue(u64),
}

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
    let id = w.create_comment(&o, &r, n, &login, &b.body, true)?;
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
