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
    if delivery.event == "workflow_run" && not_tfpilots_run(&state, &delivery.body) {
        state
            .metrics
            .delivery_seconds
            .observe(started.elapsed().as_secs_f64());
        state.metrics.ignored_run();
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
