//! Prometheus metrics for `/metrics`.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of a delivery counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `X-GitHub-Event`.
    pub event: String,
    /// processed, duplicate, ignored, unsupported, rejected, error.
    pub outcome: String,
}

/// Labels of a store operation counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreOpLabels {
    /// get, create, replace, delete, list.
    pub op: String,
    /// ok, not_found, precondition_failed, error.
    pub outcome: String,
}

/// Labels of a GitHub call counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitHubCallLabels {
    /// HTTP method.
    pub method: String,
    /// The route template, e.g. `/repos/{owner}/{repo}/issues/{issue_number}/comments`.
    pub route: String,
    /// HTTP status, or `error` when no response arrived.
    pub status: String,
}

/// Every metric tfpilot exports.
pub struct Metrics {
    registry: Registry,
    /// Deliveries by event and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Time from receiving a delivery to answering it.
    pub delivery_seconds: Histogram,
    /// Store operations by kind and outcome.
    pub store_ops: Family<StoreOpLabels, Counter>,
    /// GitHub API calls by route and status.
    pub github_calls: Family<GitHubCallLabels, Counter>,
    /// The last `x-ratelimit-remaining` GitHub reported (-1 before the first call).
    pub github_rate_limit_remaining: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics and registers them.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tfpilot");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by event and outcome",
            deliveries.clone(),
        );
        let delivery_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        registry.register(
            "webhook_processing_seconds",
            "Time to process a webhook delivery",
            delivery_seconds.clone(),
        );
        let store_ops = Family::<StoreOpLabels, Counter>::default();
        registry.register(
            "store_operations",
            "Store operations by kind and outcome",
            store_ops.clone(),
        );
        let github_calls = Family::<GitHubCallLabels, Counter>::default();
        registry.register(
            "github_calls",
            "GitHub API calls by route and status",
            github_calls.clone(),
        );
        let github_rate_limit_remaining = Gauge::<i64, AtomicI64>::default();
        github_rate_limit_remaining.set(-1);
        registry.register(
            "github_rate_limit_remaining",
            "The last x-ratelimit-remaining GitHub reported",
            github_rate_limit_remaining.clone(),
        );
        Metrics {
            registry,
            deliveries,
            delivery_seconds,
            store_ops,
            github_calls,
            github_rate_limit_remaining,
        }
    }

    /// Counts one delivery.
    pub fn delivery(&self, event: &str, outcome: &str) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event: event.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts one store operation.
    pub fn store_op(&self, op: &str, outcome: &str) {
        self.store_ops
            .get_or_create(&StoreOpLabels {
                op: op.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts one GitHub call.
    pub fn github_call(&self, method: &str, route: &str, status: &str) {
        self.github_calls
            .get_or_create(&GitHubCallLabels {
                method: method.to_string(),
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// The delivery count for one event and outcome (tests and the benchmark read it).
    pub fn delivery_count(&self, event: &str, outcome: &str) -> u64 {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                event: event.to_string(),
                outcome: outcome.to_string(),
            })
            .get()
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Shared handle to the metrics.
pub type SharedMetrics = Arc<Metrics>;
