//! Redelivery of webhook deliveries that failed.
//!
//! GitHub keeps a list of the App's recent deliveries and what our endpoint
//! answered. A delivery that failed (tfpilot was down, the store errored, a
//! 5xx) is lost unless someone asks for it again, so on start and on an
//! interval `serve` lists the recent deliveries and asks GitHub to redeliver
//! those that failed and that tfpilot has not recorded. Each failed attempt is
//! asked for again at most once, across all replicas: a once-marker
//! `redelivery/<guid>/<attempts>` is set in the store before the request, and only
//! the replica that set it asks. A redelivery that fails too is a new failed
//! attempt, asked for again by a later pass, up to [`RedeliveryPolicy::max_attempts`]
//! attempts in all; then the pass gives up on it and says so (the reconciler and
//! `/tfpilot sync` repair what can be repaired from GitHub's state). When asking
//! itself fails, the marker is removed so the next pass asks again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;

use super::{Service, ServiceError};
use crate::github::HookDelivery;

/// How far a pass looks and how much it may ask for.
#[derive(Debug, Clone)]
pub struct RedeliveryPolicy {
    /// At most this many redelivery requests per pass.
    pub max_per_pass: usize,
    /// Only deliveries newer than this (GitHub keeps them for 3 days).
    pub max_age: TimeDelta,
    /// Deliveries per listed page (1–100).
    pub per_page: u8,
    /// At most this many pages per pass.
    pub max_pages: usize,
    /// A delivery is given up after this many failed attempts (the original
    /// delivery included).
    pub max_attempts: usize,
    /// A failed redelivery is asked for again only this long after it was asked for:
    /// what made it fail (a claim in flight, a lock's grace) needs time to pass, and
    /// replicas passing one after another must not spend every attempt at once.
    pub min_gap: TimeDelta,
}

impl Default for RedeliveryPolicy {
    fn default() -> Self {
        RedeliveryPolicy {
            max_per_pass: 20,
            max_age: TimeDelta::days(3),
            per_page: 100,
            max_pages: 10,
            max_attempts: 5,
            min_gap: TimeDelta::minutes(2),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Deliveries listed within the age window.
    pub listed: usize,
    /// Distinct deliveries (by guid) whose every listed attempt failed.
    pub failed: usize,
    /// Failed deliveries tfpilot had recorded anyway (nothing to do).
    pub already_recorded: usize,
    /// Failed deliveries another pass (or replica) already asked for.
    pub already_asked: usize,
    /// Failed deliveries given up after `max_attempts` failed attempts.
    pub gave_up: Vec<String>,
    /// Failed redeliveries asked for less than `min_gap` ago (the next pass asks).
    pub too_soon: usize,
    /// The `X-GitHub-Delivery` ids this pass asked GitHub to redeliver.
    pub redelivered: Vec<String>,
}

/// Whether GitHub's record says our endpoint did not accept the delivery.
/// `pending` is still in flight, not failed.
pub fn is_failed(d: &HookDelivery) -> bool {
    !(200..300).contains(&d.status_code) && d.status != "OK" && d.status != "pending"
}

/// One pass: list the recent deliveries and ask for those that failed, were not
/// recorded by tfpilot and were not asked for before.
pub async fn redeliver_failed(
    svc: &Service,
    policy: &RedeliveryPolicy,
) -> Result<PassReport, ServiceError> {
    let oldest = svc.now() - policy.max_age;
    let mut report = PassReport::default();
    // Newest first: a delivery is listed once per attempt, so a failed attempt
    // may have a later successful redelivery of the same guid.
    let mut succeeded: HashSet<String> = HashSet::new();
    let mut failed: Vec<HookDelivery> = Vec::new();
    let mut cursor: Option<String> = None;
    'pages: for _ in 0..policy.max_pages.max(1) {
        let page = svc
            .github
            .list_webhook_deliveries(cursor.as_deref(), policy.per_page)
            .await?;
        for d in page.deliveries {
            if d.delivered_at < oldest {
                break 'pages;
            }
            report.listed += 1;
            if is_failed(&d) {
                failed.push(d);
            } else {
                succeeded.insert(d.guid.clone());
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut tries: HashMap<&str, usize> = HashMap::new();
    for d in &failed {
        *tries.entry(d.guid.as_str()).or_default() += 1;
    }
    let tries: HashMap<String, usize> = tries
        .into_iter()
        .map(|(guid, n)| (guid.to_string(), n))
        .collect();
    let mut considered: HashSet<String> = HashSet::new();
    for d in failed {
        if succeeded.contains(&d.guid) || !considered.insert(d.guid.clone()) {
            continue;
        }
        report.failed += 1;
        if report.redelivered.len() >= policy.max_per_pass {
            continue;
        }
        // One delivery's store trouble must not stop the pass for the others.
        match svc.deliveries.seen(&d.guid).await {
            Ok(true) => {
                report.already_recorded += 1;
                continue;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(event = "webhook.redelivery_skipped", delivery_id = %d.guid, error = %e, "could not tell whether the delivery was recorded; the next pass looks again");
                continue;
            }
        }
        let attempts = tries.get(&d.guid).copied().unwrap_or(1);
        if attempts >= policy.max_attempts.max(1) {
            tracing::warn!(
                event = "webhook.redelivery_gave_up",
                delivery_id = %d.guid,
                github_event = %d.event,
                attempts,
                "delivery failed every attempt; not asked for again (the reconciler repairs what GitHub shows)"
            );
            report.gave_up.push(d.guid);
            continue;
        }
        if attempts > 1 {
            let asked = svc
                .markers
                .set_at(&format!("redelivery/{}/{}", d.guid, attempts - 1))
                .await;
            match asked {
                Ok(Some(at)) if svc.now() - at < policy.min_gap => {
                    report.too_soon += 1;
                    continue;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(event = "webhook.redelivery_skipped", delivery_id = %d.guid, error = %e, "could not read when the delivery was last asked for; the next pass looks again");
                    continue;
                }
            }
        }
        // Mark before asking: two replicas racing here ask once between them.
        let marker = format!("redelivery/{}/{attempts}", d.guid);
        match svc.markers.first_time(&marker, svc.now()).await {
            Ok(true) => {}
            Ok(false) => {
                report.already_asked += 1;
                continue;
            }
            Err(e) => {
                tracing::warn!(event = "webhook.redelivery_skipped", delivery_id = %d.guid, error = %e, "could not mark the redelivery; the next pass asks again");
                continue;
            }
        }
        match svc.github.redeliver_webhook(d.id).await {
            Ok(()) => {
                tracing::info!(
                    event = "webhook.redelivery_requested",
                    delivery_id = %d.guid,
                    hook_delivery = d.id,
                    github_event = %d.event,
                    status_code = d.status_code,
                    "asked GitHub to redeliver a failed delivery"
                );
                report.redelivered.push(d.guid);
            }
            Err(e) => {
                tracing::warn!(
                    event = "webhook.redelivery_failed",
                    delivery_id = %d.guid,
                    hook_delivery = d.id,
                    error = %e,
                    "could not ask GitHub to redeliver; the next pass asks again"
                );
                if let Err(e) = svc.markers.clear(&marker).await {
                    tracing::warn!(event = "webhook.redelivery_marker_kept", delivery_id = %d.guid, error = %e, "redelivery marker not removed; this attempt is not asked for again");
                }
            }
        }
    }
    Ok(report)
}

/// Runs a pass now and then every `interval`, logging failures, until the task
/// is dropped or aborted.
pub fn spawn_loop(
    svc: Arc<Service>,
    policy: RedeliveryPolicy,
    interval: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match redeliver_failed(&svc, &policy).await {
                Ok(r) if !r.redelivered.is_empty() || r.failed > 0 => tracing::info!(
                    event = "webhook.redelivery_pass",
                    listed = r.listed,
                    failed = r.failed,
                    redelivered = r.redelivered.len(),
                    already_recorded = r.already_recorded,
                    already_asked = r.already_asked,
                    "redelivery pass"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    event = "webhook.redelivery_pass_failed",
                    error = %e,
                    "redelivery pass failed; next pass at the next interval"
                ),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn delivery(status: &str, code: u16) -> HookDelivery {
        HookDelivery {
            id: 1,
            guid: "g".into(),
            delivered_at: Utc::now(),
            redelivery: false,
            status: status.into(),
            status_code: code,
            event: "issues".into(),
            action: None,
            installation_id: None,
            repository_id: None,
        }
    }

    #[test]
    fn failed_means_not_accepted_and_not_in_flight() {
        assert!(!is_failed(&delivery("OK", 200)));
        assert!(!is_failed(&delivery("OK", 202)));
        assert!(!is_failed(&delivery("pending", 0)));
        assert!(is_failed(&delivery("Invalid HTTP Response: 500", 500)));
        assert!(is_failed(&delivery("failed to connect to host", 0)));
        assert!(is_failed(&delivery("Invalid HTTP Response: 404", 404)));
    }
}
