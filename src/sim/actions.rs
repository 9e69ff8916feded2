//! GitHub Actions routes: workflows, dispatch, runs, jobs, artifacts and their download.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SharedRef;
use super::http::{ApiError, ApiResult, GhJson, PageQuery, RouteTable, paginate, reply};
use super::world::{Principal, Repo, Run, World};

fn input_string(v: Value) -> String {
    match v {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct DispatchBody {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    inputs: BTreeMap<String, Value>,
    #[serde(default)]
    return_run_details: Option<bool>,
}

async fn dispatch(
    State(s): State<SharedRef>,
    Extension(p): Extension<Principal>,
    Path((o, r, workflow)): Path<(String, String, String)>,
    headers: axum::http::HeaderMap,
    GhJson(b): GhJson<DispatchBody>,
) -> ApiResult {
    let run_id;
    let body;
    // API version 2026-03-10 always answers with the run details
    let new_api = headers
        .get("x-github-api-version")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v >= "2026-03-10");
    let wants_details = new_api || b.return_run_details == Some(true);
    {
        let mut w = s.world();
        if w.legacy_dispatch && b.return_run_details.is_some() {
            return Err(ApiError::unprocessable(
                "Invalid request.\n\n\"return_run_details\" is not a permitted key.",
            ));
        }
        let actor = w.login_for(&p);
        let inputs = b
            .inputs
            .into_iter()
            .map(|(k, v)| (k, input_string(v)))
            .collect();
        run_id = w.dispatch(
            &o,
            &r,
            &workflow,
            &b.git_ref,
            inputs,
            &actor,
            b.return_run_details == Some(true),
        )?;
        let full = w.repo(&o, &r).map(|x| x.full_name()).unwrap_or_default();
        body = json!({
            "workflow_run_id": run_id,
            "run_url": w.api(&format!("repos/{full}/actions/runs/{run_id}")),
            "html_url": w.html(&format!("{full}/actions/runs/{run_id}")),
        });
    }
    s.schedule_run(&o, &r, run_id);
    if wants_details {
        reply(StatusCode::OK, body)
    } else {
        Ok(StatusCode::NO_CONTENT.into_response())
    }
}

fn workflows_of(w: &mut World, o: &str, r: &str) -> Result<Vec<Value>, ApiError> {
    let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
    let tip = repo
        .refs
        .get(&format!("heads/{}", repo.default_branch))
        .cloned()
        .unwrap_or_default();
    let files: Vec<(String, String)> = w
        .git
        .files_at(&tip)
        .map(|f| {
            f.keys()
                .filter(|p| {
                    p.starts_with(".github/workflows/")
                        && (p.ends_with(".yml") || p.ends_with(".yaml"))
                })
                .map(|p| {
                    let file = p.rsplit('/').next().unwrap_or(p).to_string();
                    (p.clone(), file)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for (path, file) in files {
        let name = w
            .workflow_at(&tip, &file)
            .and_then(|(_, d)| d.name)
            .unwrap_or_else(|| path.clone());
        let id = w.workflow_id(o, r, &path);
        let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
        out.push(w.workflow_json(repo, id, &path, &name));
    }
    Ok(out)
}

async fn list_workflows(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let mut w = s.world();
    let items = workflows_of(&mut w, &o, &r)?;
    let url = w.api(&format!("repos/{o}/{r}/actions/workflows"));
    paginate(
        items,
        &q,
        &url,
        |page, total| json!({"total_count": total, "workflows": page}),
    )
}

async fn get_workflow(
    State(s): State<SharedRef>,
    Path((o, r, workflow)): Path<(String, String, String)>,
) -> ApiResult {
    let mut w = s.world();
    let file = w
        .workflow_file_name(&o, &r, &workflow)
        .ok_or_else(ApiError::not_found)?;
    let items = workflows_of(&mut w, &o, &r)?;
    items
        .into_iter()
        .find(|v| {
            v["path"]
                .as_str()
                .is_some_and(|p| p.ends_with(&format!("/{file}")))
        })
        .map(|v| reply(StatusCode::OK, v))
        .unwrap_or_else(|| Err(ApiError::not_found()))
}

#[derive(Deserialize, Default)]
struct RunsQuery {
    actor: Option<String>,
    branch: Option<String>,
    event: Option<String>,
    status: Option<String>,
    created: Option<String>,
    head_sha: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

/// GitHub's `created` filter: `>=T`, `>T`, `<=T`, `<T`, `A..B`, or a date.
fn created_matches(filter: &str, t: DateTime<Utc>) -> bool {
    if let Some((a, b)) = filter.split_once("..") {
        let lo = parse_time(a).is_none_or(|x| t >= x);
        let hi = parse_time(b).is_none_or(|x| t <= x);
        return lo && hi;
    }
    for (prefix, cmp) in [(">=", 0), ("<=", 1), (">", 2), ("<", 3)] {
        if let Some(rest) = filter.strip_prefix(prefix) {
            return parse_time(rest).is_none_or(|x| match cmp {
                0 => t >= x,
                1 => t <= x,
                2 => t > x,
                _ => t < x,
            });
        }
    }
    parse_time(filter).is_none_or(|x| t.date_naive() == x.date_naive())
}

fn run_matches(q: &RunsQuery, run: &Run) -> bool {
    q.actor.as_ref().is_none_or(|a| *a == run.actor)
        && q.branch.as_ref().is_none_or(|b| *b == run.head_branch)
        && q.event.as_ref().is_none_or(|e| *e == run.event)
        && q.head_sha.as_ref().is_none_or(|h| *h == run.head_sha)
        && q.status
            .as_ref()
            .is_none_or(|st| *st == run.status || run.conclusion.as_ref() == Some(st))
        && q.created
            .as_ref()
            .is_none_or(|c| created_matches(c, run.created_at))
}

fn runs_page(
    w: &World,
    repo: &Repo,
    q: &RunsQuery,
    workflow_id: Option<u64>,
    url: &str,
) -> ApiResult {
    let items: Vec<Value> = repo
        .runs
        .values()
        .rev()
        .filter(|r| workflow_id.is_none_or(|id| r.workflow_id == id))
        .filter(|r| run_matches(q, r))
        .map(|r| w.run_json(repo, r))
        .collect();
    let pq = PageQuery {
        page: q.page,
        per_page: q.per_page,
    };
    paginate(
        items,
        &pq,
        url,
        |page, total| json!({"total_count": total, "workflow_runs": page}),
    )
}

async fn list_runs(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<RunsQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let url = w.api(&format!("repos/{}/actions/runs", repo.full_name()));
    runs_page(&w, repo, &q, None, &url)
}

async fn list_workflow_runs(
    State(s): State<SharedRef>,
    Path((o, r, workflow)): Path<(String, String, String)>,
    Query(q): Query<RunsQuery>,
) -> ApiResult {
    let mut w = s.world();
    let file = w
        .workflow_file_name(&o, &r, &workflow)
        .ok_or_else(ApiError::not_found)?;
    let path = format!(".github/workflows/{file}");
    let id = w.workflow_id(&o, &r, &path);
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let url = w.api(&format!(
        "repos/{}/actions/workflows/{workflow}/runs",
        repo.full_name()
    ));
    runs_page(&w, repo, &q, Some(id), &url)
}

async fn get_run(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let run = repo.runs.get(&id).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, w.run_json(repo, run))
}

async fn list_jobs(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let run = repo.runs.get(&id).ok_or_else(ApiError::not_found)?;
    let url = w.api(&format!(
        "repos/{}/actions/runs/{id}/jobs",
        repo.full_name()
    ));
    paginate(
        vec![w.job_json(repo, run)],
        &q,
        &url,
        |page, total| json!({"total_count": total, "jobs": page}),
    )
}

async fn get_job(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let run = repo
        .runs
        .values()
        .find(|x| x.job_id == id)
        .ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, w.job_json(repo, run))
}

async fn list_run_artifacts(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    repo.runs.get(&id).ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = repo
        .artifacts
        .values()
        .filter(|a| a.run_id == id)
        .map(|a| w.artifact_json(repo, a))
        .collect();
    let url = w.api(&format!(
        "repos/{}/actions/runs/{id}/artifacts",
        repo.full_name()
    ));
    paginate(
        items,
        &q,
        &url,
        |page, total| json!({"total_count": total, "artifacts": page}),
    )
}

async fn list_repo_artifacts(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let items: Vec<Value> = repo
        .artifacts
        .values()
        .rev()
        .map(|a| w.artifact_json(repo, a))
        .collect();
    let url = w.api(&format!("repos/{}/actions/artifacts", repo.full_name()));
    paginate(
        items,
        &q,
        &url,
        |page, total| json!({"total_count": total, "artifacts": page}),
    )
}

async fn get_artifact(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let a = repo.artifacts.get(&id).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, w.artifact_json(repo, a))
}

async fn download_artifact(
    State(s): State<SharedRef>,
    Path((o, r, id, format)): Path<(String, String, u64, String)>,
) -> ApiResult {
    let mut w = s.world();
    if format != "zip" {
        return Err(ApiError::not_found());
    }
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    repo.artifacts.get(&id).ok_or_else(ApiError::not_found)?;
    let key = w.random_string(32);
    let repo_key = super::world::repo_key(&o, &r);
    // GitHub's redirect target is valid for one minute
    w.artifact_links.insert(
        key.clone(),
        (repo_key, id, Utc::now() + chrono::Duration::seconds(60)),
    );
    let location = format!("{}/_sim/artifacts/{key}", w.base_url);
    let mut resp = StatusCode::FOUND.into_response();
    let v = HeaderValue::from_str(&location).map_err(|_| ApiError::not_found())?;
    resp.headers_mut().insert("location", v);
    Ok(resp)
}

/// `GET /_sim/artifacts/{key}`: the short-lived download URL the 302 points to.
pub(crate) async fn download_zip(State(s): State<SharedRef>, Path(key): Path<String>) -> Response {
    let w = s.world();
    let Some((repo_key, id, expires)) = w.artifact_links.get(&key).cloned() else {
        return ApiError::not_found().into_response();
    };
    if expires < Utc::now() {
        return ApiError::new(StatusCode::GONE, "This download link has expired").into_response();
    }
    match w.repos.get(&repo_key).and_then(|r| r.artifacts.get(&id)) {
        Some(a) => (
            StatusCode::OK,
            [("content-type", "application/zip")],
            a.zip.clone(),
        )
            .into_response(),
        None => ApiError::not_found().into_response(),
    }
}

async fn rerun(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    s.world().rerun(&o, &r, id)?;
    s.schedule_run(&o, &r, id);
    reply(StatusCode::CREATED, json!({}))
}

async fn cancel(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    s.world().cancel_run(&o, &r, id)?;
    reply(StatusCode::ACCEPTED, json!({}))
}

/// Actions routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add(
        "GET",
        "/repos/{owner}/{repo}/actions/workflows",
        get(list_workflows),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}",
        get(get_workflow),
    )
    .add(
        "POST",
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches",
        post(dispatch),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
        get(list_workflow_runs),
    )
    .add("GET", "/repos/{owner}/{repo}/actions/runs", get(list_runs))
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}",
        get(get_run),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
        get(list_jobs),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/jobs/{job_id}",
        get(get_job),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/artifacts",
        get(list_run_artifacts),
    )
    .add(
        "POST",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/rerun",
        post(rerun),
    )
    .add(
        "POST",
        "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel",
        post(cancel),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/artifacts",
        get(list_repo_artifacts),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}",
        get(get_artifact),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/actions/artifacts/{artifact_id}/{archive_format}",
        get(download_artifact),
    )
}
