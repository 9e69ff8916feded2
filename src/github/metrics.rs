//! Counters of GitHub calls, readable by `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Call counters per (method, route template, status) and the last rate-limit reading.
///
/// Status 0 counts attempts that got no HTTP answer (connection errors, timeouts).
#[derive(Debug, Default)]
pub struct GitHubMetrics {
    calls: Mutex<BTreeMap<(String, &'static str, u16), u64>>,
    retries: AtomicU64,
    token_requests: AtomicU64,
    // -1 until GitHub has told us.
    rate_limit_remaining: AtomicI64,
}

/// One row of the call counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCount {
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/repos/{owner}/{repo}/issues/{issue_number}/comments`.
    pub route: &'static str,
    /// HTTP status (0 = no answer).
    pub status: u16,
    /// Attempts counted.
    pub count: u64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricsSnapshot {
    /// Attempts per method/route/status, sorted.
    pub calls: Vec<CallCount>,
    /// Attempts that were retries (after 5xx, connection errors or rate limits).
    pub retries: u64,
    /// Installation tokens requested.
    pub token_requests: u64,
    /// Last `x-ratelimit-remaining` seen, if any.
    pub rate_limit_remaining: Option<u64>,
}

impl GitHubMetrics {
    /// Fresh counters.
    pub fn new() -> Self {
        GitHubMetrics {
            rate_limit_remaining: AtomicI64::new(-1),
            ..Default::default()
        }
    }

    pub(crate) fn record_call(&self, method: &str, route: &'static str, status: u16) {
        // A poisoned lock only means another thread panicked mid-increment; counts stay usable.
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        *calls.entry((method.to_owned(), route, status)).or_insert(0) += 1;
    }

    pub(crate) fn record_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_token_request(&self) {
        self.token_requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record_rate_limit_remaining(&self, remaining: u64) {
        let value = i64::try_from(remaining).unwrap_or(i64::MAX);
        self.rate_limit_remaining.store(value, Ordering::Relaxed);
    }

    /// Attempts counted for one method, route template and status.
    pub fn calls(&self, method: &str, route: &str, status: u16) -> u64 {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls
            .iter()
            .filter(|((m, r, s), _)| m == method && *r == route && *s == status)
            .map(|(_, n)| *n)
            .sum()
    }

    /// A consistent copy of all counters.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        let remaining = self.rate_limit_remaining.load(Ordering::Relaxed);
        MetricsSnapshot {
            calls: calls
                .iter()
                .map(|((method, route, status), count)| CallCount {
                    method: method.clone(),
                    route,
                    status: *status,
                    count: *count,
                })
                .collect(),
            retries: self.retries.load(Ordering::Relaxed),
            token_requests: self.token_requests.load(Ordering::Relaxed),
            rate_limit_remaining: u64::try_from(remaining).ok(),
        }
    }
}
