//! Prometheus metrics for `/metrics`.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::github::GitHubMetrics;
use crate::store::CountingStore;
use crate::store::counting::StoreMetrics;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

/// Every metric tfpilot exports.
pub struct Metrics {
    registry: Registry,
    root: Registry,
    /// Deliveries by event and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Time from receiving a delivery to answering it.
    pub delivery_seconds: Histogram,
    /// `workflow_run`/`ignored` and `issue_comment`/`ignored`, resolved once: most
    /// deliveries an organization sends are these, and counting them should cost
    /// one atomic add.
    ignored_runs: Counter,
    ignored_comments: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None, None)
    }
}

impl Metrics {
    /// Creates the metrics; store operations and GitHub calls are read from
    /// their own counters at scrape time.
    pub fn new(store: Option<Arc<CountingStore>>, github: Option<Arc<GitHubMetrics>>) -> Self {
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
        // The store collector names itself `tfpilot_store_operations`: register it
        // on the unprefixed root.
        let mut root = Registry::default();
        if let Some(store) = store {
            root.register_collector(Box::new(StoreMetrics(store)));
        }
        if let Some(github) = github {
            root.register_collector(Box::new(GitHubCollector(github)));
        }
        let ignored = |event: &str| {
            deliveries
                .get_or_create(&DeliveryLabels {
                    event: event.into(),
                    outcome: "ignored".into(),
                })
                .clone()
        };
        let ignored_runs = ignored("workflow_run");
        let ignored_comments = ignored("issue_comment");
        Metrics {
            registry,
            root,
            deliveries,
            delivery_seconds,
            ignored_runs,
            ignored_comments,
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

    /// Counts one ignored `workflow_run` delivery (same counter as
    /// `delivery("workflow_run", "ignored")`).
    pub fn ignored_run(&self) {
        self.ignored_runs.inc();
    }

    /// Counts one ignored `issue_comment` delivery (same counter as
    /// `delivery("issue_comment", "ignored")`).
    pub fn ignored_comment(&self) {
        self.ignored_comments.inc();
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
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.root);
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}

/// Shared handle to the metrics.
pub type SharedMetrics = Arc<Metrics>;

/// Exports the GitHub client's call counters.
#[derive(Debug)]
struct GitHubCollector(Arc<GitHubMetrics>);

impl Collector for GitHubCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let snapshot = self.0.snapshot();
        let mut family = encoder.encode_descriptor(
            "tfpilot_github_calls",
            "GitHub API calls by method, route template and status (0 = no answer).",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for call in &snapshot.calls {
            let labels = [
                ("method", call.method.clone()),
                ("route", call.route.to_string()),
                ("status", call.status.to_string()),
            ];
            ConstCounter::new(call.count).encode(family.encode_family(&labels)?)?;
        }
        let retries = encoder.encode_descriptor(
            "tfpilot_github_retries",
            "GitHub calls that were retries.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        ConstCounter::new(snapshot.retries).encode(retries)?;
        let tokens = encoder.encode_descriptor(
            "tfpilot_github_token_requests",
            "Installation tokens requested.",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        ConstCounter::new(snapshot.token_requests).encode(tokens)?;
        let remaining = encoder.encode_descriptor(
            "tfpilot_github_rate_limit_remaining",
            "The last x-ratelimit-remaining GitHub reported (-1 before the first call).",
            None,
            prometheus_client::metrics::MetricType::Gauge,
        )?;
        let value = snapshot
            .rate_limit_remaining
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        ConstGauge::new(value).encode(remaining)?;
        Ok(())
    }
}
