//! The HTTP surface: webhook intake (signature first), health, readiness, metrics.

pub mod metrics;
pub mod signature;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::IgnoredAny;
use tower_http::catch_panic::CatchPanicLayer;

use crate::core::command::addresses_tfpilot;
use crate::core::webhook::{Event, parse_event};
use crate::service::{Outcome, Service, workflow_run};
use metrics::Metrics;

/// GitHub does not deliver payloads over 25 MB; we refuse them too.
pub const MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// What the router needs.
#[derive(Clone)]
pub struct AppState {
    /// The webhook secret shared with GitHub.
    pub webhook_secret: Arc<SecretString>,
    /// Event handling.
    pub service: Arc<Service>,
    /// Counters and histograms.
    pub metrics: Arc<Metrics>,
}

/// Builds the router used by `tfpilot serve`, the demo and the tests.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/webhooks/github", post(webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

/// A delivery whose signature has been verified; nothing else is trusted before this.
pub struct VerifiedDelivery {
    /// `X-GitHub-Event`.
    pub event: String,
    /// `X-GitHub-Delivery` (the redelivery-stable id).
    pub delivery_id: String,
    /// The raw body.
    pub body: Bytes,
}

/// Why a delivery was refused before parsing.
#[derive(Debug)]
pub enum DeliveryRejection {
    /// Missing or wrong signature.
    Unauthorized(signature::SignatureError),
    /// Over 25 MB.
    TooLarge,
    /// Missing event or delivery header, or an unreadable body.
    BadRequest(String),
}

impl IntoResponse for DeliveryRejection {
    fn into_response(self) -> Response {
        match self {
            DeliveryRejection::Unauthorized(e) => {
                (StatusCode::UNAUTHORIZED, e.to_string()).into_response()
            }
            DeliveryRejection::TooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload over 25 MB").into_response()
            }
            DeliveryRejection::BadRequest(m) => (StatusCode::BAD_REQUEST, m).into_response(),
        }
    }
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl FromRequest<AppState> for VerifiedDelivery {
    type Rejection = DeliveryRejection;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        if let Some(len) = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok())
            && len > MAX_BODY_BYTES
        {
            return Err(DeliveryRejection::TooLarge);
        }
        // Only these three headers are needed once the body is read (no copy of the map).
        let signature = headers.get("x-hub-signature-256").cloned();
        let event = header_str(headers, "x-github-event");
        let delivery_id = header_str(headers, "x-github-delivery");
        let body = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                DeliveryRejection::TooLarge
            } else {
                DeliveryRejection::BadRequest(e.body_text())
            }
        })?;
        signature::verify(
            state.webhook_secret.expose_secret().as_bytes(),
            &body,
            signature.as_ref().map(|v| v.as_bytes()),
        )
        .map_err(DeliveryRejection::Unauthorized)?;
        let event = event
            .ok_or_else(|| DeliveryRejection::BadRequest("missing X-GitHub-Event header".into()))?;
        let delivery_id = delivery_id.ok_or_else(|| {
            DeliveryRejection::BadRequest("missing X-GitHub-Delivery header".into())
        })?;
        Ok(VerifiedDelivery {
            event,
            delivery_id,
            body,
        })
    }
}

async fn webhook(
    State(state): State<AppState>,
    delivery: Result<VerifiedDelivery, DeliveryRejection>,
) -> Response {
    let started = Instant::now();
    let delivery = match delivery {
        Ok(d) => d,
        Err(rejection) => {
            tracing::warn!(event = "webhook.rejected", reason = ?rejection, "delivery refused");
            state.metrics.delivery("unknown", "rejected");
            return rejection.into_response();
        }
    };
    // Most deliveries of an organization are neither tfpilot's runs nor commands:
    // those are answered from a borrowed peek at a few fields, with no full parse.
    let ignored: Option<fn(&Metrics)> = match delivery.event.as_str() {
        "workflow_run" => not_tfpilots_run(&state, &delivery.body).then_some(Metrics::ignored_run),
        "issue_comment" => not_a_command(&delivery.body).then_some(Metrics::ignored_comment),
        _ => None,
    };
    if let Some(count) = ignored {
        state
            .metrics
            .delivery_seconds
            .observe(started.elapsed().as_secs_f64());
        count(&state.metrics);
        return (StatusCode::ACCEPTED, Outcome::Ignored.as_str()).into_response();
    }
    let event = match parse_event(&delivery.event, &delivery.body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(
                event = "webhook.malformed",
                delivery_id = %delivery.delivery_id,
                github_event = %delivery.event,
                error = %e,
                "payload refused"
            );
            state.metrics.delivery(&delivery.event, "malformed");
            return (StatusCode::BAD_REQUEST, e.to_string()).into_response();
        }
    };
    let name = event.name().to_string();
    if let Event::Unsupported { action, .. } = &event {
        tracing::debug!(delivery_id = %delivery.delivery_id, github_event = %name, action = ?action, "unsupported event acknowledged");
        state.metrics.delivery(&name, "unsupported");
        return (StatusCode::ACCEPTED, "event not handled by tfpilot").into_response();
    }
    // Handled in its own task: GitHub gives up on a delivery after 10 seconds and
    // closes the connection, which would cancel this handler mid-way (a command
    // claimed but never answered). The task finishes the work whatever the client does.
    let service = state.service.clone();
    let delivery_id = delivery.delivery_id.clone();
    let result = match tokio::spawn(async move {
        let _handling = service.in_flight.enter();
        Box::pin(service.handle_delivery(&delivery_id, event)).await
    })
    .await
    {
        Ok(result) => result,
        Err(join) => {
            tracing::error!(
                event = "webhook.panicked",
                delivery_id = %delivery.delivery_id,
                github_event = %name,
                error = %join,
                "delivery handler panicked"
            );
            state.metrics.delivery(&name, "error");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    state
        .metrics
        .delivery_seconds
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(outcome) => {
            state.metrics.delivery(&name, outcome.as_str());
            let code = match outcome {
                Outcome::Ignored | Outcome::Unsupported => StatusCode::ACCEPTED,
                _ => StatusCode::OK,
            };
            (code, outcome.as_str()).into_response()
        }
        Err(e) => {
            tracing::error!(
                event = "webhook.failed",
                delivery_id = %delivery.delivery_id,
                github_event = %name,
                error = %e,
                "delivery failed; GitHub will show it as failed and it can be redelivered"
            );
            state.metrics.delivery(&name, "error");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Just enough of a `workflow_run` payload to tell whether the run is tfpilot's:
/// most runs in an organization are not, and reading only these fields (borrowed,
/// everything else skipped) makes ignoring them cheap.
#[derive(Deserialize)]
struct RunPeek<'a> {
    #[serde(borrow)]
    workflow_run: RunNames<'a>,
    // Required, so a payload the full parser refuses is refused, not ignored.
    #[serde(rename = "action")]
    _action: IgnoredAny,
    #[serde(rename = "repository")]
    _repository: IgnoredAny,
}

#[derive(Deserialize)]
struct RunNames<'a> {
    id: u64,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    display_title: Option<Cow<'a, str>>,
}

/// True when a verified `workflow_run` body is certainly not a tfpilot run (the same
/// rule as the handler's, [`workflow_run::classify`]); false when unsure, so the
/// full parse decides.
fn not_tfpilots_run(state: &AppState, body: &[u8]) -> bool {
    let Ok(peek) = serde_json::from_slice::<RunPeek<'_>>(body) else {
        return false;
    };
    let run = &peek.workflow_run;
    workflow_run::classify(
        &state.service,
        run.id,
        run.name.as_deref().unwrap_or(""),
        run.display_title.as_deref().unwrap_or(""),
    )
    .is_none()
}

/// Just enough of an `issue_comment` payload to tell whether it may be a command.
#[derive(Deserialize)]
struct CommentPeek<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    comment: CommentText<'a>,
    // Required, so a payload the full parser refuses is refused, not ignored.
    #[serde(rename = "issue")]
    _issue: IgnoredAny,
    #[serde(rename = "repository")]
    _repository: IgnoredAny,
    #[serde(rename = "sender")]
    _sender: IgnoredAny,
}

#[derive(Deserialize)]
struct CommentText<'a> {
    #[serde(borrow, default)]
    body: Option<Cow<'a, str>>,
    #[serde(rename = "id")]
    _id: u64,
    #[serde(rename = "user")]
    _user: IgnoredAny,
}

/// True when a verified `issue_comment` body is certainly not a command (the same
/// rules as [`crate::service::command::comment_is_relevant`]: not a new comment, or no line
/// addresses `/tfpilot`); false when unsure, so the full parse decides.
fn not_a_command(body: &[u8]) -> bool {
    let Ok(peek) = serde_json::from_slice::<CommentPeek<'_>>(body) else {
        return false;
    };
    peek.action != "created" || !addresses_tfpilot(peek.comment.body.as_deref().unwrap_or(""))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.service.ready().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unavailable: {e}"),
        )
            .into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::not_a_command;
    use crate::core::webhook::{Event, parse_event};
    use crate::service::command::comment_is_relevant;

    /// Real `issue_comment` payloads, one per action.
    fn fixtures() -> Vec<Value> {
        [
            include_str!("../../fixtures/github/webhooks/issue_comment.created.1.json"),
            include_str!("../../fixtures/github/webhooks/issue_comment.created.2.json"),
            include_str!("../../fixtures/github/webhooks/issue_comment.edited.1.json"),
            include_str!("../../fixtures/github/webhooks/issue_comment.deleted.1.json"),
        ]
        .into_iter()
        .map(|s| serde_json::from_str(s).expect("fixture"))
        .collect()
    }

    /// The peek against the handler's own rule, on one payload: it never ignores
    /// what the handler acts on, and it does ignore a person's comment the handler
    /// would ignore.
    fn agrees(mut payload: Value, body: Option<&str>) {
        payload["comment"]["body"] = body.map_or(Value::Null, |b| json!(b));
        let bytes = serde_json::to_vec(&payload).expect("json");
        let Ok(Event::IssueComment(e)) = parse_event("issue_comment", &bytes) else {
            panic!("the fixture no longer parses");
        };
        let ignored = not_a_command(&bytes);
        if comment_is_relevant(&e) {
            assert!(!ignored, "a command was ignored: {body:?}");
        } else if !e.comment.user.is_bot() && !e.sender.is_bot() {
            assert!(
                ignored,
                "a person's non-command went the long way: {body:?}"
            );
        }
    }

    #[test]
    fn the_comment_peek_decides_as_the_handler_on_real_payloads() {
        let bodies = [
            None,
            Some(""),
            Some("/tfpilot apply"),
            Some("  /tfpilot plan\r\nthanks"),
            Some("/tfpilot"),
            Some("/tfpilot bogus --now"),
            Some("/tfpilotapply"),
            Some("please /tfpilot apply"),
            Some("```\n/tfpilot apply\n```"),
            Some("> /tfpilot apply"),
            Some("<!-- /tfpilot apply -->"),
            Some("`/tfpilot apply`"),
            Some("Looks good.\n\n/tfpilot apply\n\n```\n/tfpilot destroy\n```"),
            Some("\u{feff}/tfpilot apply"),
            Some("/TFPILOT apply"),
        ];
        for payload in fixtures() {
            for body in bodies {
                agrees(payload.clone(), body);
            }
        }
    }

    proptest! {
        #[test]
        fn the_comment_peek_never_ignores_a_command(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("/tfpilot".to_string()),
                    Just(" apply".to_string()),
                    Just(" plan".to_string()),
                    Just("\n".to_string()),
                    Just("\r\n".to_string()),
                    Just("```".to_string()),
                    Just("> ".to_string()),
                    Just("<!-- ".to_string()),
                    Just(" -->".to_string()),
                    Just("`".to_string()),
                    Just("    ".to_string()),
                    Just("\"\\é".to_string()),
                    "[a-z /]{0,8}",
                ],
                0..12,
            ),
            which in 0usize..4,
        ) {
            let body = parts.concat();
            agrees(fixtures().swap_remove(which), Some(&body));
        }
    }
}
