//! The simulator's HTTP plumbing: errors in GitHub's shape, JSON bodies, authentication,
//! injected faults and the call log, and the table of served routes.

use axum::Router;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::faults::FaultResponse;
use super::world::Principal;
use super::{CallRecord, SharedRef, SimError};

/// An error answered the way GitHub answers it: `{message, documentation_url, status}`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not Found")
    }
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "message": self.message,
            "documentation_url": "https://docs.github.com/rest",
            "status": self.status.as_u16().to_string(),
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert("retry-after", v);
        }
        resp
    }
}

impl From<ApiError> for SimError {
    fn from(e: ApiError) -> Self {
        SimError::Refused {
            status: e.status.as_u16(),
            message: e.message,
        }
    }
}

/// Handler result.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// `status` + JSON body.
pub(crate) fn reply(status: StatusCode, body: Value) -> ApiResult {
    Ok((status, axum::Json(body)).into_response())
}

/// A JSON request body, rejected like GitHub does (400 unparsable, 422 wrong shape).
pub(crate) struct GhJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for GhJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Problems parsing JSON"))?;
        let text: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        let value: Value = serde_json::from_slice(text)
            .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "Problems parsing JSON"))?;
        serde_json::from_value(value)
            .map(GhJson)
            .map_err(|e| ApiError::unprocessable(format!("Invalid request.\n\n{e}")))
    }
}

/// Routes served, recorded as they are added (the contract test reads this list).
pub(crate) struct RouteTable {
    pub router: Router<SharedRef>,
    pub routes: Vec<(&'static str, &'static str)>,
}

impl RouteTable {
    pub fn new() -> Self {
        RouteTable {
            router: Router::new(),
            routes: Vec::new(),
        }
    }

    /// Serve `method path` (axum syntax; `{*x}` where GitHub's `{x}` may hold slashes).
    pub fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        handler: MethodRouter<SharedRef>,
    ) -> Self {
        self.routes.push((method, path));
        self.router = self.router.route(path, handler);
        self
    }
}

/// The spec's form of an axum route (`{*ref}` → `{ref}`).
pub(crate) fn spec_route(axum_path: &str) -> String {
    axum_path.replace("{*", "{")
}

enum AuthRule {
    None,
    Jwt,
    InstallationToken,
}

fn auth_rule(route: &str) -> AuthRule {
    if route.starts_with("/app-manifests/") {
        AuthRule::None
    } else if route == "/app"
        || route.starts_with("/app/")
        || route == "/repos/{owner}/{repo}/installation"
    {
        AuthRule::Jwt
    } else {
        AuthRule::InstallationToken
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, cred) = value.split_once(' ')?;
    matches!(scheme.to_ascii_lowercase().as_str(), "bearer" | "token")
        .then(|| cred.trim().to_string())
}

fn authenticate(
    shared: &SharedRef,
    route: &str,
    headers: &HeaderMap,
) -> Result<Principal, ApiError> {
    let rule = auth_rule(route);
    if matches!(rule, AuthRule::None) {
        return Ok(Principal::Anonymous);
    }
    let Some(cred) = bearer(headers) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Requires authentication",
        ));
    };
    match rule {
        AuthRule::Jwt => shared.verify_jwt(&cred).map(|()| Principal::App),
        _ => shared.check_token(&cred).map(Principal::Installation),
    }
}

async fn gate(State(shared): State<SharedRef>, mut req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| spec_route(m.as_str()))
        .unwrap_or_default();
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let record = |status: u16, principal: Principal| CallRecord {
        method: method.clone(),
        route: route.clone(),
        path: path.clone(),
        status,
        principal,
    };
    let principal = match authenticate(&shared, &route, req.headers()) {
        Ok(p) => p,
        Err(e) => {
            shared.record_call(record(e.status.as_u16(), Principal::Anonymous));
            return e.into_response();
        }
    };
    if let Some(fault) = shared.pick_call_fault(&method, &route) {
        let reset_in = match fault {
            FaultResponse::PrimaryRateLimit { reset_in_secs } => reset_in_secs,
            _ => 0,
        };
        let err = match fault {
            FaultResponse::PrimaryRateLimit { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "API rate limit exceeded for installation. If you reach out to GitHub Support for help, please include the request ID.",
            ),
            FaultResponse::Status(code) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
                ApiError::new(status, status.canonical_reason().unwrap_or("Server Error"))
            }
            FaultResponse::RateLimited { retry_after_secs } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                    .to_string(),
                retry_after: Some(retry_after_secs),
            },
        };
        shared.record_call(record(err.status.as_u16(), principal));
        let primary = err.message.starts_with("API rate limit exceeded");
        let mut resp = err.into_response();
        if primary {
            let reset = chrono::Utc::now().timestamp() + i64::try_from(reset_in).unwrap_or(0);
            let h = resp.headers_mut();
            h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            if let Ok(v) = HeaderValue::from_str(&reset.to_string()) {
                h.insert("x-ratelimit-reset", v);
            }
        }
        return resp;
    }
    req.extensions_mut().insert(principal.clone());
    let mut resp = next.run(req).await;
    shared.record_call(record(resp.status().as_u16(), principal));
    let headers = resp.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("core"));
    let reset = (chrono::Utc::now().timestamp() + 3600).to_string();
    if let Ok(v) = HeaderValue::from_str(&reset) {
        headers.insert("x-ratelimit-reset", v);
    }
    headers.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    resp
}

/// The whole router: every GitHub route behind the gate, plus the simulator's own
/// `/_sim/...` routes (artifact downloads) that stand in for GitHub's other hosts.
pub(crate) fn router(shared: SharedRef) -> (Router, Vec<(&'static str, &'static str)>) {
    let table = super::routes_table();
    let routes = table.routes.clone();
    let gated = table
        .router
        .route_layer(middleware::from_fn_with_state(shared.clone(), gate));
    let own = Router::new().route(
        "/_sim/artifacts/{key}",
        axum::routing::get(super::actions::download_zip),
    );
    (gated.merge(own).with_state(shared), routes)
}

/// `?page=&per_page=` as GitHub takes them.
#[derive(serde::Deserialize, Default)]
pub(crate) struct PageQuery {
    pub page: Option<usize>,
    pub per_page: Option<usize>,
}

/// One page of `items` with GitHub's `Link` header (`next`, `last`); `wrap` turns the page
/// into the body (a bare array, or an object such as `{total_count, workflow_runs}`).
pub(crate) fn paginate(
    items: Vec<Value>,
    q: &PageQuery,
    url: &str,
    wrap: impl FnOnce(Vec<Value>, usize) -> Value,
) -> ApiResult {
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let body: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut resp = (StatusCode::OK, axum::Json(wrap(body, total))).into_response();
    if page < last {
        let sep = if url.contains('?') { '&' } else { '?' };
        let link = format!(
            "<{url}{sep}per_page={per_page}&page={}>; rel=\"next\", <{url}{sep}per_page={per_page}&page={last}>; rel=\"last\"",
            page + 1
        );
        if let Ok(v) = HeaderValue::from_str(&link) {
            resp.headers_mut().insert("link", v);
        }
    }
    Ok(resp)
}
