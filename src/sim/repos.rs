//! Repositories, branches, commits, contents, collaborators and teams (git data: `gitdata`).

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::git::{Signature, TreeInput};
use super::http::{ApiError, ApiResult, GhJson, RouteTable, reply};
use super::shapes::Flavor;
use super::world::{Principal, Repo, World};
use super::{SharedRef, TeamRole};

impl World {
    /// Resolve a branch name, `heads/x`, `refs/heads/x`, tag or commit sha to a commit sha.
    pub(crate) fn resolve_ref(&self, repo: &Repo, r: &str) -> Option<String> {
        let r = r.trim_start_matches("refs/");
        for candidate in [r.to_string(), format!("heads/{r}"), format!("tags/{r}")] {
            if let Some(sha) = repo.refs.get(&candidate) {
                return Some(sha.clone());
            }
        }
        self.git.commits.contains_key(r).then(|| r.to_string())
    }

    /// Move `branch` to `sha` as a push by `pusher` would: open pull requests whose head is
    /// the branch follow it and announce `pull_request.synchronize`.
    pub(crate) fn move_branch(
        &mut self,
        owner: &str,
        name: &str,
        branch: &str,
        sha: &str,
        pusher: &str,
    ) {
        let Some(repo) = self.repo_mut(owner, name) else {
            return;
        };
        let before = repo.refs.insert(format!("heads/{branch}"), sha.to_string());
        repo.pushed_at = Utc::now();
        let numbers: Vec<u64> = repo.open_pulls_for_head(branch).collect();
        for n in numbers {
            let Some(repo) = self.repo_mut(owner, name) else {
                return;
            };
            if let Some(p) = repo.pulls.get_mut(&n) {
                p.head_sha = sha.to_string();
            }
            if let Some(i) = repo.issues.get_mut(&n) {
                i.updated_at = Utc::now();
            }
            let extra = json!({"before": before.clone().unwrap_or_default(), "after": sha});
            self.emit_pull(owner, name, n, "synchronize", pusher, Some(extra));
        }
    }

    /// Commit `changes` (path → new content, `None` deletes) on top of `branch` and move it.
    pub(crate) fn commit_to_branch(
        &mut self,
        owner: &str,
        name: &str,
        branch: &str,
        changes: Vec<(String, Option<String>)>,
        message: &str,
        author: &str,
    ) -> Result<String, ApiError> {
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let parent = repo.refs.get(&format!("heads/{branch}")).cloned();
        let base_tree = parent
            .as_ref()
            .and_then(|p| self.git.commits.get(p))
            .map(|c| c.tree.clone());
        let entries = changes
            .into_iter()
            .map(|(path, content)| TreeInput {
                path,
                mode: None,
                kind: None,
                sha: if content.is_none() { Some(None) } else { None },
                content,
            })
            .collect();
        let tree = self
            .git
            .create_tree(base_tree.as_deref(), entries)
            .map_err(ApiError::unprocessable)?;
        let sig = Signature {
            name: author.to_string(),
            email: super::world::noreply_email(author),
            date: Utc::now(),
        };
        let sha = self.git.put_commit(
            tree,
            parent.into_iter().collect(),
            message.to_string(),
            sig.clone(),
            sig,
        );
        self.move_branch(owner, name, branch, &sha, author);
        Ok(sha)
    }

    /// REST `commit` (repos/get-commit and the branch's `commit`).
    fn commit_json(&self, repo: &Repo, sha: &str) -> Value {
        let Some(c) = self.git.commits.get(sha) else {
            return Value::Null;
        };
        let full = repo.full_name();
        let api = self.api(&format!("repos/{full}/commits/{sha}"));
        let parent = c.parents.first().cloned();
        let files: Vec<Value> = {
            let empty = Default::default();
            let old = parent
                .as_deref()
                .and_then(|p| self.git.files_at(p))
                .unwrap_or(&empty);
            let new = self.git.files_at(sha).unwrap_or(&empty);
            super::git::GitStore::diff(old, new)
                .into_iter()
                .map(|f| json!({"sha": f.sha, "filename": f.path, "status": f.status, "additions": 0, "deletions": 0, "changes": 0, "blob_url": self.html(&format!("{full}/blob/{sha}/{}", f.path)), "raw_url": self.html(&format!("{full}/raw/{sha}/{}", f.path)), "contents_url": self.api(&format!("repos/{full}/contents/{}?ref={sha}", f.path))}))
                .collect()
        };
        json!({
            "url": api,
            "sha": sha,
            "node_id": format!("C_{sha}"),
            "html_url": self.html(&format!("{full}/commit/{sha}")),
            "comments_url": format!("{api}/comments"),
            "commit": {
                "url": self.api(&format!("repos/{full}/git/commits/{sha}")),
                "author": {"name": c.author.name, "email": c.author.email, "date": super::world::ts(c.author.date)},
                "committer": {"name": c.committer.name, "email": c.committer.email, "date": super::world::ts(c.committer.date)},
                "message": c.message,
                "comment_count": 0,
                "tree": {"sha": c.tree, "url": self.api(&format!("repos/{full}/git/trees/{}", c.tree))},
            },
            "author": null,
            "committer": null,
            "parents": c.parents.iter().map(|p| json!({"sha": p, "url": self.api(&format!("repos/{full}/commits/{p}")), "html_url": self.html(&format!("{full}/commit/{p}"))})).collect::<Vec<_>>(),
            "files": files,
        })
    }
}

pub(crate) fn repo_or_404<'a>(w: &'a World, owner: &str, name: &str) -> Result<&'a Repo, ApiError> {
    w.repo(owner, name).ok_or_else(ApiError::not_found)
}

async fn get_repo(State(s): State<SharedRef>, Path((o, r)): Path<(String, String)>) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    reply(StatusCode::OK, w.repo_json(repo, Flavor::Rest))
}

async fn get_branch(
    State(s): State<SharedRef>,
    Path((o, r, branch)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let sha = repo
        .refs
        .get(&format!("heads/{branch}"))
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "Branch not found"))?;
    let full = repo.full_name();
    let api = w.api(&format!("repos/{full}/branches/{branch}"));
    reply(
        StatusCode::OK,
        json!({
            "name": branch,
            "commit": w.commit_json(repo, sha),
            "_links": {"html": w.html(&format!("{full}/tree/{branch}")), "self": api},
            "protected": false,
            "protection": {"enabled": false},
            "protection_url": format!("{api}/protection"),
        }),
    )
}

async fn get_commit(
    State(s): State<SharedRef>,
    Path((o, r, reference)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let sha = w
        .resolve_ref(repo, &reference)
        .ok_or_else(|| ApiError::unprocessable(format!("No commit found for SHA: {reference}")))?;
    reply(StatusCode::OK, w.commit_json(repo, &sha))
}

#[derive(Deserialize)]
struct RefQuery {
    #[serde(rename = "ref")]
    reference: Option<String>,
}

fn content_entry(
    w: &World,
    repo: &Repo,
    at: &str,
    path: &str,
    sha: &str,
    kind: &str,
    size: usize,
) -> Value {
    let full = repo.full_name();
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = w.api(&format!("repos/{full}/contents/{path}?ref={at}"));
    let git_url = if kind == "file" {
        w.api(&format!("repos/{full}/git/blobs/{sha}"))
    } else {
        w.api(&format!("repos/{full}/git/trees/{sha}"))
    };
    let html = w.html(&format!("{full}/blob/{at}/{path}"));
    json!({
        "type": kind,
        "size": size,
        "name": name,
        "path": path,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html,
        "download_url": if kind == "file" { json!(w.html(&format!("{full}/raw/{at}/{path}"))) } else { Value::Null },
        "_links": {"self": url, "git": git_url, "html": html},
    })
}

async fn get_contents(
    State(s): State<SharedRef>,
    Path((o, r, path)): Path<(String, String, String)>,
    Query(q): Query<RefQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let at = q.reference.unwrap_or_else(|| repo.default_branch.clone());
    let commit = w.resolve_ref(repo, &at).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No commit found for the ref {at}"),
        )
    })?;
    let flat = w.git.files_at(&commit).ok_or_else(ApiError::not_found)?;
    let path = path.trim_matches('/').to_string();
    if let Some(entry) = flat.get(&path) {
        let bytes = w.git.blobs.get(&entry.sha).cloned().unwrap_or_default();
        let mut v = content_entry(&w, repo, &at, &path, &entry.sha, "file", bytes.len());
        v["encoding"] = json!("base64");
        v["content"] = json!(B64.encode(&bytes));
        return reply(StatusCode::OK, v);
    }
    let lead = format!("{path}/");
    let mut children: std::collections::BTreeMap<String, Value> = Default::default();
    for (p, e) in flat.iter().filter(|(p, _)| p.starts_with(&lead)) {
        let rest = &p[lead.len()..];
        match rest.split_once('/') {
            None => {
                let size = w.git.blobs.get(&e.sha).map(Vec::len).unwrap_or_default();
                children.insert(
                    rest.to_string(),
                    content_entry(&w, repo, &at, p, &e.sha, "file", size),
                );
            }
            Some((dir, _)) => {
                let dir_path = format!("{path}/{dir}");
                children
                    .entry(dir.to_string())
                    .or_insert_with(|| content_entry(&w, repo, &at, &dir_path, "", "dir", 0));
            }
        }
    }
    if children.is_empty() {
        return Err(ApiError::not_found());
    }
    reply(
        StatusCode::OK,
        Value::Array(children.into_values().collect()),
    )
}

#[derive(Deserialize)]
struct PutContents {
    message: String,
    content: String,
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    branch: Option<String>,
}

async fn put_contents(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, path)): Path<(String, String, String)>,
    GhJson(body): GhJson<PutContents>,
) -> ApiResult {
    let mut w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let branch = body.branch.unwrap_or_else(|| repo.default_branch.clone());
    let tip = repo
        .refs
        .get(&format!("heads/{branch}"))
        .cloned()
        .ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("Branch {branch} not found"))
        })?;
    let existing = w
        .git
        .files_at(&tip)
        .and_then(|f| f.get(&path))
        .map(|e| e.sha.clone());
    match (&existing, &body.sha) {
        (Some(_), None) => return Err(ApiError::unprocessable("\"sha\" wasn't supplied.")),
        (Some(cur), Some(given)) if cur != given => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{path} does not match {given}"),
            ));
        }
        _ => {}
    }
    let bytes = B64
        .decode(body.content.replace(['\n', '\r'], ""))
        .map_err(|_| ApiError::unprocessable("content is not valid Base64"))?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let login = w.login_for(&p);
    let sha = w.commit_to_branch(
        &o,
        &r,
        &branch,
        vec![(path.clone(), Some(text))],
        &body.message,
        &login,
    )?;
    let repo = repo_or_404(&w, &o, &r)?;
    let blob = w
        .git
        .files_at(&sha)
        .and_then(|f| f.get(&path))
        .map(|e| e.sha.clone())
        .unwrap_or_default();
    let content = content_entry(&w, repo, &branch, &path, &blob, "file", bytes.len());
    let commit = w
        .git
        .commits
        .get(&sha)
        .map(|c| w.git_commit_json(repo, c))
        .unwrap_or_default();
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    reply(status, json!({"content": content, "commit": commit}))
}

async fn collaborator_permission(
    State(s): State<SharedRef>,
    Path((o, r, user)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    if !w.users.contains_key(&user) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{user} is not a user"),
        ));
    }
    let level = if user == repo.owner {
        super::Permission::Admin
    } else {
        repo.permissions
            .get(&user)
            .copied()
            .unwrap_or(if repo.private {
                super::Permission::None
            } else {
                super::Permission::Read
            })
    };
    let (permission, role) = level.reported();
    let mut u = w.user_json(&user);
    u["permissions"] = json!({
        "admin": level >= super::Permission::Admin,
        "maintain": level >= super::Permission::Maintain,
        "push": level >= super::Permission::Write,
        "triage": level >= super::Permission::Triage,
        "pull": level >= super::Permission::Read,
    });
    u["role_name"] = json!(role);
    reply(
        StatusCode::OK,
        json!({"permission": permission, "role_name": role, "user": u}),
    )
}

async fn team_membership(
    State(s): State<SharedRef>,
    Path((org, team, user)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let role = w
        .teams
        .get(&(org.to_ascii_lowercase(), team.to_ascii_lowercase()))
        .and_then(|m| m.get(&user))
        .ok_or_else(ApiError::not_found)?;
    reply(
        StatusCode::OK,
        json!({
            "url": w.api(&format!("orgs/{org}/teams/{team}/memberships/{user}")),
            "role": match role { TeamRole::Member => "member", TeamRole::Maintainer => "maintainer" },
            "state": "active",
        }),
    )
}

/// Repository, git data, contents and access routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add("GET", "/repos/{owner}/{repo}", get(get_repo))
        .add(
            "GET",
            "/repos/{owner}/{repo}/branches/{branch}",
            get(get_branch),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/commits/{ref}",
            get(get_commit),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/contents/{*path}",
            get(get_contents),
        )
        .add(
            "PUT",
            "/repos/{owner}/{repo}/contents/{*path}",
            axum::routing::put(put_contents),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
            get(collaborator_permission),
        )
        .add(
            "GET",
            "/orgs/{org}/teams/{team_slug}/memberships/{username}",
            get(team_membership),
        )
}
