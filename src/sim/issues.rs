//! Issues, labels, issue comments and reactions, with the webhooks they announce
//! (the REST handlers are in `issue_routes`).

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::http::ApiError;
use super::shapes::Flavor;
use super::world::{Comment, Issue, Reaction, World};

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
        via_app: Option<u64>,
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
