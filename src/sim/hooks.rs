//! Webhook deliveries: a queue drained in order by one background task, signed like GitHub's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::faults::DeliveryFault;
use super::{DeliveryOutcome, DeliveryRecord, SharedRef};

/// Where deliveries are posted.
#[derive(Clone)]
pub enum WebhookTarget {
    /// POST to this URL over HTTP.
    Url(String),
    /// Call this router in-process (no port needed), like bors' tests do.
    Router(axum::Router),
    /// Each send (each copy of a duplicated delivery separately) goes to one of these,
    /// picked with the simulator's seeded RNG: replicas behind a load balancer.
    Any(Vec<WebhookTarget>),
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookTarget::Url(u) => write!(f, "Url({u})"),
            WebhookTarget::Router(_) => write!(f, "Router"),
            WebhookTarget::Any(targets) => write!(f, "Any({targets:?})"),
        }
    }
}

/// Counters that `quiesce` watches.
#[derive(Default)]
pub(crate) struct Activity {
    /// Deliveries queued but not finished.
    pub pending: AtomicUsize,
    /// Automatic workflow runs that have not completed.
    pub runs_in_flight: AtomicUsize,
    /// Bumped on every REST call, delivery and run step.
    pub generation: AtomicU64,
    pub changed: Notify,
}

impl Activity {
    /// Record that something happened.
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

/// The sending side of the delivery queue, kept inside the world.
pub(crate) struct HookQueue {
    tx: mpsc::UnboundedSender<DeliveryRecord>,
    pub activity: Arc<Activity>,
}

impl HookQueue {
    /// A queue and the receiver its sender task drains.
    pub fn new(activity: Arc<Activity>) -> (Self, mpsc::UnboundedReceiver<DeliveryRecord>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (HookQueue { tx, activity }, rx)
    }

    /// Queue one delivery.
    pub fn enqueue(&self, record: DeliveryRecord) {
        self.activity.pending.fetch_add(1, Ordering::SeqCst);
        self.activity.touch();
        if self.tx.send(record).is_err() {
            // the sender task is gone (simulator shutting down): nothing will be delivered
            self.activity.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// `sha256=<hex hmac>` of `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm is unreachable in practice
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Drain the queue in order, applying delivery faults, until the simulator is dropped.
/// With a delivery parallelism above 1, up to that many deliveries are in flight at
/// once (started in queue order), as GitHub sends them.
pub(crate) async fn run_sender(shared: SharedRef, mut rx: mpsc::UnboundedReceiver<DeliveryRecord>) {
    // a delivery held back by `Reorder`, sent right after the next one (or after a short wait)
    let mut held: Option<DeliveryRecord> = None;
    let mut in_flight = JoinSet::new();
    loop {
        // reap finished sends so the set does not grow
        while in_flight.try_join_next().is_some() {}
        let next = if held.is_some() {
            match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
                Ok(v) => v,
                Err(_) => {
                    if let Some(h) = held.take() {
                        deliver(&shared, &mut in_flight, h, 1, None).await;
                    }
                    continue;
                }
            }
        } else {
            rx.recv().await
        };
        let Some(d) = next else { break };
        let fault = shared.pick_delivery_fault(&d.event);
        match fault {
            Some(DeliveryFault::Drop) => {
                shared.update_delivery(d.id, None, DeliveryOutcome::Dropped, 0);
                finish(&shared);
            }
            Some(DeliveryFault::Reorder) if held.is_none() => {
                held = Some(d);
                continue;
            }
            Some(DeliveryFault::Duplicate) => deliver(&shared, &mut in_flight, d, 2, None).await,
            Some(DeliveryFault::Delay(dur)) => {
                deliver(&shared, &mut in_flight, d, 1, Some(dur)).await;
            }
            _ => deliver(&shared, &mut in_flight, d, 1, None).await,
        }
        if let Some(h) = held.take() {
            deliver(&shared, &mut in_flight, h, 1, None).await;
        }
    }
}

/// Sends `copies` copies of `d` (each to its own pick of the target) after `delay`,
/// then marks it finished: inline when deliveries go one at a time, else as a task
/// once fewer than the parallelism are in flight.
async fn deliver(
    shared: &SharedRef,
    in_flight: &mut JoinSet<()>,
    d: DeliveryRecord,
    copies: usize,
    delay: Option<Duration>,
) {
    // targets are picked here, in queue order, so a seed gives the same choices
    let targets: Vec<Option<WebhookTarget>> = (0..copies).map(|_| shared.pick_target()).collect();
    let parallelism = shared.delivery_parallelism();
    if parallelism <= 1 {
        if let Some(dur) = delay {
            tokio::time::sleep(dur).await;
        }
        for target in targets {
            send_once(shared, &d, target).await;
        }
        finish(shared);
        return;
    }
    while in_flight.len() >= parallelism {
        if in_flight.join_next().await.is_none() {
            break;
        }
    }
    let shared = shared.clone();
    in_flight.spawn(async move {
        if let Some(dur) = delay {
            tokio::time::sleep(dur).await;
        }
        // the copies of a duplicate arrive at the same time, as GitHub's retries can
        futures::future::join_all(targets.into_iter().map(|t| send_once(&shared, &d, t))).await;
        finish(&shared);
    });
}

fn finish(shared: &SharedRef) {
    shared.activity.pending.fetch_sub(1, Ordering::SeqCst);
    shared.activity.touch();
}

async fn send_once(shared: &SharedRef, d: &DeliveryRecord, target: Option<WebhookTarget>) {
    let body = match serde_json::to_vec(&d.payload) {
        Ok(b) => b,
        Err(_) => return,
    };
    let sig = signature(shared.webhook_secret.as_bytes(), &body);
    let headers = [
        ("content-type", "application/json".to_string()),
        ("user-agent", "GitHub-Hookshot/sim".to_string()),
        ("x-github-event", d.event.clone()),
        ("x-github-delivery", d.guid.clone()),
        ("x-github-hook-id", shared.hook_id.to_string()),
        (
            "x-github-hook-installation-target-type",
            "integration".to_string(),
        ),
        (
            "x-github-hook-installation-target-id",
            shared.app_id.to_string(),
        ),
        ("x-hub-signature-256", sig),
    ];
    let started = Instant::now();
    let result: Result<u16, ()> = match target {
        None => {
            shared.update_delivery(d.id, None, DeliveryOutcome::NoTarget, 0);
            return;
        }
        Some(WebhookTarget::Url(url)) => {
            let mut req = shared
                .http
                .post(&url)
                .timeout(Duration::from_secs(10))
                .body(body);
            for (k, v) in &headers {
                req = req.header(*k, v);
            }
            req.send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|_| ())
        }
        // `pick_target` resolves `Any`; a nested one left here is treated as no target
        Some(WebhookTarget::Any(_)) => {
            shared.update_delivery(d.id, None, DeliveryOutcome::NoTarget, 0);
            return;
        }
        Some(WebhookTarget::Router(router)) => {
            let mut builder = http::Request::builder()
                .method("POST")
                .uri("/webhooks/github");
            for (k, v) in &headers {
                builder = builder.header(*k, v);
            }
            match builder.body(axum::body::Body::from(body)) {
                Ok(req) => {
                    match tokio::time::timeout(Duration::from_secs(10), router.oneshot(req)).await {
                        Ok(Ok(resp)) => Ok(resp.status().as_u16()),
                        _ => Err(()),
                    }
                }
                Err(_) => Err(()),
            }
        }
    };
    let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(code) => shared.update_delivery(d.id, Some(code), DeliveryOutcome::Delivered, ms),
        Err(()) => shared.update_delivery(d.id, None, DeliveryOutcome::Failed, ms),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_githubs_documented_vector() {
        let sig = super::signature(b"It's a Secret to Everybody", b"Hello, World!");
        assert_eq!(
            sig,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }
}
