//! Check runs: create, update, list, re-request, and the buttons people press.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SharedRef;
use super::http::{ApiError, ApiResult, GhJson, PageQuery, RouteTable, paginate, reply};
use super::shapes::Flavor;
use super::world::{CheckAction, CheckRun, World};

const CONCLUSIONS: [&str; 8] = [
    "action_required",
    "cancelled",
    "failure",
    "neutral",
    "success",
    "skipped",
    "stale",
    "timed_out",
];

impl World {
    /// Announce `check_run.<action>`.
    pub(crate) fn emit_check(
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
        let Some(c) = repo.check_runs.get(&id) else {
            return;
        };
        let mut m = Map::new();
        m.insert("action".into(), json!(action));
        m.insert(
            "check_run".into(),
            self.check_run_json(repo, c, Flavor::Hook),
        );
        m.extend(self.hook_base(owner, name, sender));
        if let Some(Value::Object(x)) = extra {
            m.extend(x);
        }
        self.emit("check_run", Some(action), Value::Object(m));
    }

    /// The check suite of `sha` for the app, created on first use.
    pub(crate) fn suite_for(&mut self, owner: &str, name: &str, sha: &str) -> u64 {
        let fresh = self.next_id();
        match self.repo_mut(owner, name) {
            Some(repo) => *repo.check_suites.entry(sha.to_string()).or_insert(fresh),
            None => fresh,
        }
    }

    /// A person presses a check run's button: `check_run.requested_action` to the app.
    pub(crate) fn request_action(
        &mut self,
        owner: &str,
        name: &str,
        id: u64,
        user: &str,
        identifier: &str,
    ) -> Result<(), ApiError> {
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let c = repo.check_runs.get(&id).ok_or_else(ApiError::not_found)?;
        if !c.actions.iter().any(|a| a.identifier == identifier) {
            return Err(ApiError::unprocessable(format!(
                "check run {id} has no action {identifier}"
            )));
        }
        self.emit_check(
            owner,
            name,
            id,
            "requested_action",
            user,
            Some(json!({"requested_action": {"identifier": identifier}})),
        );
        Ok(())
    }

    /// "Re-run" on a check run: `check_run.rerequested` to the app (the run itself is unchanged).
    pub(crate) fn rerequest_check(
        &mut self,
        owner: &str,
        name: &str,
        id: u64,
        user: &str,
    ) -> Result<(), ApiError> {
        let repo = self.repo(owner, name).ok_or_else(ApiError::not_found)?;
        let c = repo.check_runs.get(&id).ok_or_else(ApiError::not_found)?;
        if c.status != "completed" {
            return Err(ApiError::unprocessable(
                "This check run is not rerequestable",
            ));
        }
        self.emit_check(owner, name, id, "rerequested", user, None);
        Ok(())
    }
}

#[derive(Deserialize)]
struct Output {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct CheckBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    head_sha: Option<String>,
    #[serde(default)]
    details_url: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    started_at: Option<DateTime<Utc>>,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    output: Option<Output>,
    #[serde(default)]
    actions: Option<Vec<CheckAction>>,
}

fn validate(b: &CheckBody) -> Result<(), ApiError> {
    if let Some(s) = &b.status
        && !["queued", "in_progress", "completed"].contains(&s.as_str())
    {
        return Err(ApiError::unprocessable(format!(
            "Validation Failed: status {s} is not valid"
        )));
    }
    if let Some(c) = &b.conclusion
        && !CONCLUSIONS.contains(&c.as_str())
    {
        return Err(ApiError::unprocessable(format!(
            "Validation Failed: conclusion {c} is not valid"
        )));
    }
    if b.status.as_deref() == Some("completed") && b.conclusion.is_none() {
        return Err(ApiError::unprocessable(
            "Validation Failed: conclusion is required when status is completed",
        ));
    }
    if let Some(actions) = &b.actions {
        if actions.len() > 3 {
            return Err(ApiError::unprocessable(
                "Validation Failed: actions can have at most 3 items",
            ));
        }
        for a in actions {
            if a.label.chars().count() > 20
                || a.description.chars().count() > 40
                || a.identifier.chars().count() > 20
            {
                return Err(ApiError::unprocessable(
                    "Validation Failed: action label ≤ 20, description ≤ 40, identifier ≤ 20 characters",
                ));
            }
        }
    }
    if let Some(o) = &b.output
        && (o
            .summary
            .as_ref()
            .is_some_and(|s| s.chars().count() > 65_535)
            || o.text.as_ref().is_some_and(|s| s.chars().count() > 65_535))
    {
        return Err(ApiError::unprocessable(
            "Validation Failed: output.summary and output.text are limited to 65535 characters",
        ));
    }
    Ok(())
}

fn check_reply(w: &World, o: &str, r: &str, id: u64, status: StatusCode) -> ApiResult {
    let repo = w.repo(o, r).ok_or_else(ApiError::not_found)?;
    let c = repo.check_runs.get(&id).ok_or_else(ApiError::not_found)?;
    reply(status, w.check_run_json(repo, c, Flavor::Rest))
}

async fn create_check(
    State(s): State<SharedRef>,
    Path((o, r)): Path<(String, String)>,
    GhJson(b): GhJson<CheckBody>,
) -> ApiResult {
    validate(&b)?;
    let mut w = s.world();
    let name = b
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::unprocessable("Validation Failed: name is missing"))?;
    let head_sha = b
        .head_sha
        .clone()
        .ok_or_else(|| ApiError::unprocessable("Validation Failed: head_sha is missing"))?;
    if !w.git.commits.contains_key(&head_sha) {
        return Err(ApiError::unprocessable(
            "Validation Failed: No commit found for SHA",
        ));
    }
    w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let suite_id = w.suite_for(&o, &r, &head_sha);
    let id = w.next_id();
    let now = Utc::now();
    // giving a conclusion completes the run, as on GitHub
    let status = if b.conclusion.is_some() {
        "completed".to_string()
    } else {
        b.status.clone().unwrap_or_else(|| "queued".to_string())
    };
    let completed = status == "completed";
    let run = CheckRun {
        id,
        suite_id,
        name,
        head_sha,
        status,
        conclusion: b.conclusion.clone(),
        external_id: b.external_id.clone(),
        details_url: b.details_url.clone(),
        started_at: b.started_at.unwrap_or(now),
        completed_at: completed.then(|| b.completed_at.unwrap_or(now)),
        title: b.output.as_ref().and_then(|o| o.title.clone()),
        summary: b.output.as_ref().and_then(|o| o.summary.clone()),
        text: b.output.as_ref().and_then(|o| o.text.clone()),
        actions: b.actions.clone().unwrap_or_default(),
    };
    if let Some(repo) = w.repo_mut(&o, &r) {
        repo.check_runs.insert(id, run);
    }
    let bot = w.app.bot_login();
    w.emit_check(&o, &r, id, "created", &bot, None);
    if completed {
        w.emit_check(&o, &r, id, "completed", &bot, None);
    }
    check_reply(&w, &o, &r, id, StatusCode::CREATED)
}

async fn get_check(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let w = s.world();
    check_reply(&w, &o, &r, id, StatusCode::OK)
}

async fn update_check(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
    GhJson(b): GhJson<CheckBody>,
) -> ApiResult {
    validate(&b)?;
    let mut w = s.world();
    let repo = w.repo_mut(&o, &r).ok_or_else(ApiError::not_found)?;
    let c = repo
        .check_runs
        .get_mut(&id)
        .ok_or_else(ApiError::not_found)?;
    let was_completed = c.status == "completed";
    if let Some(n) = b.name {
        c.name = n;
    }
    if let Some(u) = b.details_url {
        c.details_url = Some(u);
    }
    if let Some(e) = b.external_id {
        c.external_id = Some(e);
    }
    if let Some(st) = b.status {
        c.status = st;
    }
    if let Some(conclusion) = b.conclusion {
        c.conclusion = Some(conclusion);
        c.status = "completed".to_string();
    }
    if c.status == "completed" {
        c.completed_at = Some(b.completed_at.unwrap_or_else(Utc::now));
    } else {
        // an app may move its run back to queued/in_progress (e.g. on re-run)
        c.conclusion = None;
        c.completed_at = None;
    }
    if let Some(out) = b.output {
        c.title = out.title.or(c.title.take());
        c.summary = out.summary.or(c.summary.take());
        c.text = out.text.or(c.text.take());
    }
    if let Some(actions) = b.actions {
        c.actions = actions;
    }
    let now_completed = c.status == "completed";
    if now_completed && !was_completed {
        let bot = w.app.bot_login();
        w.emit_check(&o, &r, id, "completed", &bot, None);
    }
    check_reply(&w, &o, &r, id, StatusCode::OK)
}

#[derive(Deserialize)]
struct ListChecks {
    check_name: Option<String>,
    status: Option<String>,
    filter: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn list_for_ref(
    State(s): State<SharedRef>,
    Path((o, r, reference)): Path<(String, String, String)>,
    Query(q): Query<ListChecks>,
) -> ApiResult {
    let w = s.world();
    let repo = w.repo(&o, &r).ok_or_else(ApiError::not_found)?;
    let sha = w
        .resolve_ref(repo, &reference)
        .ok_or_else(|| ApiError::unprocessable(format!("No commit found for SHA: {reference}")))?;
    let mut runs: Vec<&CheckRun> = repo
        .check_runs
        .values()
        .rev()
        .filter(|c| c.head_sha == sha)
        .filter(|c| q.check_name.as_ref().is_none_or(|n| *n == c.name))
        .filter(|c| q.status.as_ref().is_none_or(|st| *st == c.status))
        .collect();
    // `filter=latest` (the default) keeps the newest run of each name
    if q.filter.as_deref() != Some("all") {
        let mut seen = std::collections::BTreeSet::new();
        runs.retain(|c| seen.insert(c.name.clone()));
    }
    let items: Vec<Value> = runs
        .into_iter()
        .map(|c| w.check_run_json(repo, c, Flavor::Rest))
        .collect();
    let url = w.api(&format!(
        "repos/{}/commits/{reference}/check-runs",
        repo.full_name()
    ));
    let pq = PageQuery {
        page: q.page,
        per_page: q.per_page,
    };
    paginate(
        items,
        &pq,
        &url,
        |page, total| json!({"total_count": total, "check_runs": page}),
    )
}

async fn rerequest(
    State(s): State<SharedRef>,
    Path((o, r, id)): Path<(String, String, u64)>,
) -> ApiResult {
    let mut w = s.world();
    let bot = w.app.bot_login();
    w.rerequest_check(&o, &r, id, &bot)?;
    Ok((StatusCode::CREATED, axum::Json(json!({}))).into_response())
}

/// Check run routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add(
        "POST",
        "/repos/{owner}/{repo}/check-runs",
        post(create_check),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        get(get_check),
    )
    .add(
        "PATCH",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}",
        patch(update_check),
    )
    .add(
        "POST",
        "/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest",
        post(rerequest),
    )
    .add(
        "GET",
        "/repos/{owner}/{repo}/commits/{ref}/check-runs",
        get(list_for_ref),
    )
}
