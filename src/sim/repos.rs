//! Repositories, branches, the git data API, contents, collaborators and teams.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::git::{Signature, TreeInput, top_level};
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

fn repo_or_404<'a>(w: &'a World, owner: &str, name: &str) -> Result<&'a Repo, ApiError> {
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

async fn get_ref(
    State(s): State<SharedRef>,
    Path((o, r, name)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let name = name.trim_start_matches("refs/").to_string();
    let sha = repo.refs.get(&name).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, w.ref_json(repo, &name, sha))
}

async fn matching_refs(
    State(s): State<SharedRef>,
    Path((o, r, prefix)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let prefix = prefix.trim_start_matches("refs/").to_string();
    let refs: Vec<Value> = repo
        .refs
        .iter()
        .filter(|(n, _)| n.starts_with(&prefix))
        .map(|(n, sha)| w.ref_json(repo, n, sha))
        .collect();
    reply(StatusCode::OK, Value::Array(refs))
}

#[derive(Deserialize)]
struct CreateRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

async fn create_ref(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r)): Path<(String, String)>,
    GhJson(body): GhJson<CreateRef>,
) -> ApiResult {
    let mut w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let Some(name) = body.name.strip_prefix("refs/").filter(|n| n.contains('/')) else {
        return Err(ApiError::unprocessable(
            "Reference name must start with 'refs/' and have at least two slashes.",
        ));
    };
    if repo.refs.contains_key(name) {
        return Err(ApiError::unprocessable("Reference already exists"));
    }
    if !w.git.commits.contains_key(&body.sha) {
        return Err(ApiError::unprocessable("Object does not exist"));
    }
    let name = name.to_string();
    let login = w.login_for(&p);
    match name.strip_prefix("heads/") {
        Some(branch) => w.move_branch(&o, &r, branch, &body.sha, &login),
        None => {
            if let Some(repo) = w.repo_mut(&o, &r) {
                repo.refs.insert(name.clone(), body.sha.clone());
            }
        }
    }
    let repo = repo_or_404(&w, &o, &r)?;
    reply(StatusCode::CREATED, w.ref_json(repo, &name, &body.sha))
}

#[derive(Deserialize)]
struct UpdateRef {
    sha: String,
    #[serde(default)]
    force: bool,
}

async fn update_ref(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, name)): Path<(String, String, String)>,
    GhJson(body): GhJson<UpdateRef>,
) -> ApiResult {
    let mut w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let name = name.trim_start_matches("refs/").to_string();
    let current = repo
        .refs
        .get(&name)
        .cloned()
        .ok_or_else(|| ApiError::unprocessable("Reference does not exist"))?;
    if !w.git.commits.contains_key(&body.sha) {
        return Err(ApiError::unprocessable("Object does not exist"));
    }
    if !body.force && !w.git.is_ancestor(&current, &body.sha) {
        return Err(ApiError::unprocessable("Update is not a fast forward"));
    }
    let login = w.login_for(&p);
    match name.strip_prefix("heads/") {
        Some(branch) => w.move_branch(&o, &r, branch, &body.sha, &login),
        None => {
            if let Some(repo) = w.repo_mut(&o, &r) {
                repo.refs.insert(name.clone(), body.sha.clone());
            }
        }
    }
    let repo = repo_or_404(&w, &o, &r)?;
    reply(StatusCode::OK, w.ref_json(repo, &name, &body.sha))
}

async fn delete_ref(
    State(s): State<SharedRef>,
    Path((o, r, name)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = s.world();
    let repo = w.repo_mut(&o, &r).ok_or_else(ApiError::not_found)?;
    let name = name.trim_start_matches("refs/");
    repo.refs
        .remove(name)
        .ok_or_else(|| ApiError::unprocessable("Reference does not exist"))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct CreateBlob {
    content: String,
    #[serde(default)]
    encoding: Option<String>,
}

async fn create_blob(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    GhJson(body): GhJson<CreateBlob>,
) -> ApiResult {
    let mut w = s.world();
    let full = repo_or_404(&w, &o, &r)?.full_name();
    let bytes = match body.encoding.as_deref() {
        Some("base64") => B64
            .decode(body.content.replace(['\n', '\r'], ""))
            .map_err(|_| ApiError::unprocessable("content is not valid Base64"))?,
        Some("utf-8") | None => body.content.into_bytes(),
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "encoding {other} is not supported"
            )));
        }
    };
    let sha = w.git.put_blob(bytes);
    reply(
        StatusCode::CREATED,
        json!({"url": w.api(&format!("repos/{full}/git/blobs/{sha}")), "sha": sha}),
    )
}

#[derive(Deserialize)]
struct CreateTree {
    #[serde(default)]
    base_tree: Option<String>,
    tree: Vec<TreeInput>,
}

fn tree_json(w: &World, repo: &Repo, sha: &str, recursive: bool) -> Option<Value> {
    let flat = w.git.tree(sha)?;
    let full = repo.full_name();
    let entry = |path: &str, mode: &str, kind: &str, sha: &str| {
        let mut e = json!({"path": path, "mode": mode, "type": kind, "sha": sha});
        if kind == "blob" {
            e["size"] = json!(w.git.blobs.get(sha).map(Vec::len).unwrap_or_default());
            e["url"] = json!(w.api(&format!("repos/{full}/git/blobs/{sha}")));
        } else {
            e["url"] = json!(w.api(&format!("repos/{full}/git/trees/{sha}")));
        }
        e
    };
    let entries: Vec<Value> = if recursive {
        flat.iter()
            .map(|(p, e)| entry(p, &e.mode, "blob", &e.sha))
            .collect()
    } else {
        top_level(&w.git, flat)
            .iter()
            .map(|(p, m, k, s)| entry(p, m, k, s))
            .collect()
    };
    Some(json!({
        "sha": sha,
        "url": w.api(&format!("repos/{full}/git/trees/{sha}")),
        "tree": entries,
        "truncated": false,
    }))
}

async fn create_tree(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    GhJson(body): GhJson<CreateTree>,
) -> ApiResult {
    let mut w = s.world();
    repo_or_404(&w, &o, &r)?;
    let sha = w
        .git
        .create_tree(body.base_tree.as_deref(), body.tree)
        .map_err(ApiError::unprocessable)?;
    let repo = repo_or_404(&w, &o, &r)?;
    let v = tree_json(&w, repo, &sha, false).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::CREATED, v)
}

#[derive(Deserialize)]
struct TreeQuery {
    recursive: Option<String>,
}

async fn get_tree(
    State(s): State<SharedRef>,
    Path((o, r, sha)): Path<(String, String, String)>,
    Query(q): Query<TreeQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let recursive = q
        .recursive
        .is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let v = tree_json(&w, repo, &sha, recursive).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, v)
}

#[derive(Deserialize)]
struct GitUser {
    name: String,
    email: String,
    #[serde(default)]
    date: Option<chrono::DateTime<Utc>>,
}

#[derive(Deserialize)]
struct CreateCommit {
    message: String,
    tree: String,
    #[serde(default)]
    parents: Vec<String>,
    #[serde(default)]
    author: Option<GitUser>,
    #[serde(default)]
    committer: Option<GitUser>,
}

async fn create_commit(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r)): Path<(String, String)>,
    GhJson(body): GhJson<CreateCommit>,
) -> ApiResult {
    let mut w = s.world();
    repo_or_404(&w, &o, &r)?;
    if w.git.tree(&body.tree).is_none() {
        return Err(ApiError::unprocessable("Tree SHA does not exist"));
    }
    if let Some(missing) = body
        .parents
        .iter()
        .find(|p| !w.git.commits.contains_key(*p))
    {
        return Err(ApiError::unprocessable(format!(
            "Parent SHA does not exist or is not a commit object: {missing}"
        )));
    }
    let login = w.login_for(&p);
    let default = Signature {
        name: login.clone(),
        email: super::world::noreply_email(&login),
        date: Utc::now(),
    };
    let to_sig = |u: Option<GitUser>| match u {
        Some(u) => Signature {
            name: u.name,
            email: u.email,
            date: u.date.unwrap_or_else(Utc::now),
        },
        None => default.clone(),
    };
    let author = to_sig(body.author);
    let committer = match body.committer {
        Some(c) => to_sig(Some(c)),
        None => author.clone(),
    };
    let sha = w
        .git
        .put_commit(body.tree, body.parents, body.message, author, committer);
    let repo = repo_or_404(&w, &o, &r)?;
    let c = w.git.commits.get(&sha).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::CREATED, w.git_commit_json(repo, c))
}

async fn get_git_commit(
    State(s): State<SharedRef>,
    Path((o, r, sha)): Path<(String, String, String)>,
) -> ApiResult {
    let w = s.world();
    let repo = repo_or_404(&w, &o, &r)?;
    let c = w.git.commits.get(&sha).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, w.git_commit_json(repo, c))
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
        .add("GET", "/repos/{owner}/{repo}/git/ref/{*ref}", get(get_ref))
        .add(
            "GET",
            "/repos/{owner}/{repo}/git/matching-refs/{*ref}",
            get(matching_refs),
        )
        .add("POST", "/repos/{owner}/{repo}/git/refs", post(create_ref))
        .add(
            "PATCH",
            "/repos/{owner}/{repo}/git/refs/{*ref}",
            axum::routing::patch(update_ref),
        )
        .add(
            "DELETE",
            "/repos/{owner}/{repo}/git/refs/{*ref}",
            axum::routing::delete(delete_ref),
        )
        .add("POST", "/repos/{owner}/{repo}/git/blobs", post(create_blob))
        .add("POST", "/repos/{owner}/{repo}/git/trees", post(create_tree))
        .add(
            "GET",
            "/repos/{owner}/{repo}/git/trees/{tree_sha}",
            get(get_tree),
        )
        .add(
            "POST",
            "/repos/{owner}/{repo}/git/commits",
            post(create_commit),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/git/commits/{commit_sha}",
            get(get_git_commit),
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
