//! App authentication (JWT → installation token), the app's own endpoints, webhook
//! delivery listing/redelivery, and the manifest conversion.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::handle::Shared;
use super::http::{ApiError, ApiResult, RouteTable, reply};
use super::shapes::{Flavor, app_events, app_permissions};
use super::world::{IssuedToken, World, ts};
use super::{DeliveryOutcome, DeliveryRecord, SharedRef};

#[derive(Deserialize)]
struct Claims {
    iss: Value,
    iat: i64,
    exp: i64,
}

impl Shared {
    /// Check an app JWT: RS256 signature by the app key, `iss` = app id (or client id),
    /// not expired, `exp` at most 10 minutes ahead, `iat` not in the future.
    pub(crate) fn verify_jwt(&self, jwt: &str) -> Result<(), ApiError> {
        use jsonwebtoken::{Algorithm, Validation, decode};
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, m);
        let mut validation = Validation::new(Algorithm::RS256);
        // `iss` is checked below: GitHub accepts the app id as an integer, which jsonwebtoken
        // rejects when it validates `iss` itself
        validation.set_required_spec_claims(&["exp"]);
        validation.leeway = 0;
        validation.validate_aud = false;
        let data = decode::<Claims>(jwt, &self.app_key, &validation)
            .map_err(|_| unauthorized("A JSON web token could not be decoded"))?;
        let now = Utc::now().timestamp();
        let iss_ok = match &data.claims.iss {
            Value::Number(n) => n.as_u64() == Some(self.app_id),
            Value::String(s) => *s == self.app_id.to_string() || *s == self.client_id,
            _ => false,
        };
        if !iss_ok {
            return Err(unauthorized("'Issuer' claim ('iss') must be an Integer"));
        }
        if data.claims.exp > now + 600 {
            return Err(unauthorized(
                "'Expiration time' claim ('exp') is too far in the future",
            ));
        }
        if data.claims.iat > now + 1 {
            return Err(unauthorized(
                "'Issued at' claim ('iat') must be an Integer representing a time in the past",
            ));
        }
        Ok(())
    }

    /// The installation an installation token belongs to, if it is known and unexpired.
    pub(crate) fn check_token(&self, token: &str) -> Result<u64, ApiError> {
        let world = self.world();
        match world.tokens.get(token) {
            Some(t) if t.expires_at > Utc::now() => Ok(t.installation_id),
            _ => Err(ApiError::new(StatusCode::UNAUTHORIZED, "Bad credentials")),
        }
    }
}

impl World {
    /// Issue a new installation token.
    pub(crate) fn issue_token(&mut self, installation_id: u64) -> (String, IssuedToken) {
        let token = if self.stateless_tokens {
            // shaped like the stateless format: app id, then three dot-separated parts
            let (a, b, c) = (
                self.random_string(36),
                self.random_string(380),
                self.random_string(86),
            );
            format!("ghs_{}_{a}.{b}.{c}", self.app.id)
        } else {
            format!("ghs_{}", self.random_string(36))
        };
        let issued = IssuedToken {
            installation_id,
            expires_at: Utc::now() + self.token_ttl,
        };
        self.tokens.insert(token.clone(), issued.clone());
        (token, issued)
    }

    /// REST `installation`.
    pub(crate) fn installation_json(&self) -> Value {
        let id = self.app.installation_id;
        let owner = self.app.owner.clone();
        json!({
            "id": id,
            "account": self.user_json(&owner),
            "repository_selection": "all",
            "access_tokens_url": self.api(&format!("app/installations/{id}/access_tokens")),
            "repositories_url": self.api("installation/repositories"),
            "html_url": self.html(&format!("organizations/{owner}/settings/installations/{id}")),
            "app_id": self.app.id,
            "app_slug": self.app.slug,
            "target_id": self.users.get(&owner).map(|u| u.id).unwrap_or_default(),
            "target_type": if self.is_org(&owner) { "Organization" } else { "User" },
            "permissions": app_permissions(),
            "events": app_events(),
            "created_at": ts(self.app.created_at),
            "updated_at": ts(self.app.created_at),
            "single_file_name": null,
            "has_multiple_single_files": false,
            "single_file_paths": [],
            "suspended_by": null,
            "suspended_at": null,
        })
    }

    fn delivery_item(&self, d: &DeliveryRecord) -> Value {
        let ok = matches!(d.status_code, Some(c) if (200..400).contains(&c));
        json!({
            "id": d.id,
            "guid": d.guid,
            "delivered_at": ts(d.delivered_at),
            "redelivery": d.redelivery,
            "duration": d.duration_ms as f64 / 1000.0,
            "status": match (&d.outcome, ok) {
                (_, true) => "OK".to_string(),
                (DeliveryOutcome::Pending, _) => "pending".to_string(),
                (_, false) => match d.status_code { Some(c) => format!("Invalid HTTP Response: {c}"), None => "failed to connect to host".to_string() },
            },
            "status_code": d.status_code.unwrap_or(0),
            "event": d.event,
            "action": d.action,
            "installation_id": d.installation_id,
            "repository_id": d.repository_id,
            "throttled_at": null,
        })
    }
}

async fn get_app(State(s): State<SharedRef>) -> ApiResult {
    let w = s.world();
    reply(StatusCode::OK, w.app_json(Flavor::Rest))
}

async fn list_installations(State(s): State<SharedRef>) -> ApiResult {
    let w = s.world();
    reply(StatusCode::OK, json!([w.installation_json()]))
}

async fn get_installation(State(s): State<SharedRef>, Path(id): Path<u64>) -> ApiResult {
    let w = s.world();
    if id != w.app.installation_id {
        return Err(ApiError::not_found());
    }
    reply(StatusCode::OK, w.installation_json())
}

async fn repo_installation(
    State(s): State<SharedRef>,
    Path((owner, repo)): Path<(String, String)>,
) -> ApiResult {
    let w = s.world();
    w.repo(&owner, &repo).ok_or_else(ApiError::not_found)?;
    reply(StatusCode::OK, w.installation_json())
}

async fn create_token(State(s): State<SharedRef>, Path(id): Path<u64>) -> ApiResult {
    let mut w = s.world();
    if id != w.app.installation_id {
        return Err(ApiError::not_found());
    }
    let (token, issued) = w.issue_token(id);
    reply(
        StatusCode::CREATED,
        json!({
            "token": token,
            "expires_at": ts(issued.expires_at),
            "permissions": app_permissions(),
            "repository_selection": "all",
        }),
    )
}

async fn installation_repos(State(s): State<SharedRef>) -> ApiResult {
    let w = s.world();
    let repos: Vec<Value> = w
        .repos
        .values()
        .map(|r| w.repo_json(r, Flavor::Hook))
        .collect();
    reply(
        StatusCode::OK,
        json!({"total_count": repos.len(), "repository_selection": "all", "repositories": repos}),
    )
}

async fn revoke_token(State(s): State<SharedRef>, headers: axum::http::HeaderMap) -> ApiResult {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_string())
        .unwrap_or_default();
    s.world().tokens.remove(&token);
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct DeliveriesQuery {
    per_page: Option<usize>,
    cursor: Option<u64>,
    status: Option<String>,
}

async fn list_deliveries(
    State(s): State<SharedRef>,
    Query(q): Query<DeliveriesQuery>,
) -> ApiResult {
    let w = s.world();
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let wanted = |d: &&DeliveryRecord| match q.status.as_deref() {
        Some("success") => matches!(d.status_code, Some(c) if (200..400).contains(&c)),
        Some("failure") => !matches!(d.status_code, Some(c) if (200..400).contains(&c)),
        _ => true,
    };
    // newest first, as GitHub lists them; the cursor is the id to continue below
    let items: Vec<&DeliveryRecord> = w
        .deliveries
        .iter()
        .rev()
        .filter(|d| q.cursor.is_none_or(|c| d.id < c))
        .filter(wanted)
        .take(per_page + 1)
        .collect();
    let more = items.len() > per_page;
    let page: Vec<Value> = items
        .iter()
        .take(per_page)
        .map(|d| w.delivery_item(d))
        .collect();
    let mut resp = (StatusCode::OK, axum::Json(Value::Array(page))).into_response();
    if more && let Some(last) = items.get(per_page.saturating_sub(1)) {
        let link = format!(
            "<{}?per_page={per_page}&cursor={}>; rel=\"next\"",
            w.api("app/hook/deliveries"),
            last.id
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&link) {
            resp.headers_mut().insert("link", v);
        }
    }
    Ok(resp)
}

async fn get_delivery(State(s): State<SharedRef>, Path(id): Path<u64>) -> ApiResult {
    let w = s.world();
    let d = w
        .deliveries
        .iter()
        .find(|d| d.id == id)
        .ok_or_else(ApiError::not_found)?;
    let mut v = w.delivery_item(d);
    v["request"] = json!({
        "headers": {"X-GitHub-Event": d.event, "X-GitHub-Delivery": d.guid, "User-Agent": "GitHub-Hookshot/sim"},
        "payload": d.payload,
    });
    v["response"] = json!({"headers": {}, "payload": null});
    v["url"] = json!("");
    reply(StatusCode::OK, v)
}

async fn redeliver(State(s): State<SharedRef>, Path(id): Path<u64>) -> ApiResult {
    let mut w = s.world();
    let original = w
        .deliveries
        .iter()
        .find(|d| d.id == id)
        .cloned()
        .ok_or_else(ApiError::not_found)?;
    let new_id = w.next_id();
    let record = DeliveryRecord {
        id: new_id,
        redelivery: true,
        status_code: None,
        outcome: DeliveryOutcome::Pending,
        delivered_at: Utc::now(),
        duration_ms: 0,
        ..original
    };
    w.deliveries.push(record.clone());
    w.hooks.enqueue(record);
    reply(StatusCode::ACCEPTED, json!({}))
}

async fn manifest_conversion(State(s): State<SharedRef>, Path(code): Path<String>) -> ApiResult {
    let mut w = s.world();
    // a code is good for one conversion, as on GitHub
    let conv = w.manifests.remove(&code).ok_or_else(ApiError::not_found)?;
    let mut v = w.app_json(Flavor::Rest);
    v["id"] = json!(conv.id);
    v["slug"] = json!(conv.slug);
    v["name"] = json!(conv.slug);
    v["client_id"] = json!(conv.client_id);
    v["client_secret"] = json!(conv.client_secret);
    v["webhook_secret"] = json!(conv.webhook_secret);
    v["pem"] = json!(conv.pem);
    reply(StatusCode::CREATED, v)
}

/// The app routes.
pub(crate) fn routes(t: RouteTable) -> RouteTable {
    t.add("GET", "/app", get(get_app))
        .add("GET", "/app/installations", get(list_installations))
        .add(
            "GET",
            "/app/installations/{installation_id}",
            get(get_installation),
        )
        .add(
            "POST",
            "/app/installations/{installation_id}/access_tokens",
            post(create_token),
        )
        .add(
            "GET",
            "/repos/{owner}/{repo}/installation",
            get(repo_installation),
        )
        .add("GET", "/installation/repositories", get(installation_repos))
        .add("DELETE", "/installation/token", delete(revoke_token))
        .add("GET", "/app/hook/deliveries", get(list_deliveries))
        .add(
            "GET",
            "/app/hook/deliveries/{delivery_id}",
            get(get_delivery),
        )
        .add(
            "POST",
            "/app/hook/deliveries/{delivery_id}/attempts",
            post(redeliver),
        )
        .add(
            "POST",
            "/app-manifests/{code}/conversions",
            post(manifest_conversion),
        )
}
