//! The git data API: refs, blobs, trees and commits.

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

use super::SharedRef;
use super::git::{Signature, TreeInput, top_level};
use super::http::{ApiError, ApiResult, GhJson, RouteTable, reply};
use super::repos::repo_or_404;
use super::world::{Principal, Repo, World};

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
        top_level(flat)
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

/// Git data routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add("GET", "/repos/{owner}/{repo}/git/ref/{*ref}", get(get_ref))
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
}
