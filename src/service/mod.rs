//! Event handlers: facts in, effects out.
//!
//! One free function per event (in the submodules), all taking the [`Service`]:
//! the store's typed repositories, the GitHub client, the clock and the
//! metrics. Handlers decide first whether a delivery is tfpilot's business
//! without touching the store, then deduplicate by delivery id, patch facts
//! through the pure core under the guard rules, and record the delivery only
//! after its facts are stored (a crash in between means the redelivery is
//! processed again, harmlessly, because every patch is idempotent).

pub mod claims;
pub mod clock;
pub mod command;
pub mod dispatch;
pub mod drift;
pub mod effects;
pub mod issues;
pub mod lifecycle;
pub mod merge_group;
pub mod plan_artifact;
pub mod pull_request;
pub mod recent;
pub mod reconcile;
pub mod redelivery;
pub mod repo_config;
pub mod sync;
pub mod workflow_run;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::core::webhook::{Event, InstallationEvent, Repository};
use crate::github::{GitHub, GitHubError, Repo};
use crate::http::metrics::Metrics;
use crate::store::{
    Deliveries, EnvLocks, Markers, RequestIndex, Requests, RunIndex, Store, StoreError,
};
pub use clock::{Clock, FakeClock, SystemClock};

/// What handling a delivery amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Facts changed and were saved.
    Processed,
    /// Understood, but nothing changed (an idempotent repeat).
    Unchanged,
    /// This delivery id was processed before.
    Duplicate,
    /// Not tfpilot's business (an unrelated workflow, a bot's comment, ...).
    Ignored,
    /// An event or action tfpilot does not handle.
    Unsupported,
}

impl Outcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Processed => "processed",
            Outcome::Unchanged => "unchanged",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Unsupported => "unsupported",
        }
    }

    /// `Processed` when `saved`, else `Unchanged`.
    pub fn saved(saved: bool) -> Outcome {
        if saved {
            Outcome::Processed
        } else {
            Outcome::Unchanged
        }
    }
}

/// An internal failure while handling a delivery (logged, answered with 500 so
/// GitHub records the failure and the delivery can be redelivered).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A GitHub call failed.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    /// The payload lacks something this handler needs.
    #[error("delivery lacks {0}")]
    Incomplete(&'static str),
    /// Another attempt claimed this dispatch moments ago and its run is not visible
    /// yet; answering 500 lets the delivery be retried once that settles.
    #[error("the {kind} dispatch of {request_id} is in flight elsewhere")]
    DispatchInFlight {
        /// The request.
        request_id: String,
        /// The workflow kind.
        kind: &'static str,
    },
    /// Another attempt claimed this command and has not answered it yet; answering
    /// 500 keeps the delivery unrecorded, so a redelivery finishes it either way.
    #[error("command {claim} is being run by another attempt")]
    CommandInFlight {
        /// The command's claim marker.
        claim: String,
    },
    /// Another delivery is creating tfpilot's comment on this issue and has not
    /// recorded it yet; answering 500 keeps this delivery unrecorded.
    #[error("the comment on issue #{issue} is being created by another delivery")]
    CommentInFlight {
        /// The issue number.
        issue: u64,
    },
}

/// Process-wide settings of the handlers.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `DEBUG_WEBHOOKS=1`: log the seed's resolution lines.
    pub debug_webhooks: bool,
    /// The GitHub App's id: tfpilot's own comments are those GitHub says this App
    /// posted. `None` only in tests that build a service by hand.
    pub app_id: Option<u64>,
}

/// The event handlers and what they need.
pub struct Service {
    /// The raw store (readiness checks).
    pub store: Arc<dyn Store>,
    /// Request documents.
    pub requests: Requests,
    /// Run id → request id.
    pub run_index: RunIndex,
    /// Processed delivery ids.
    pub deliveries: Deliveries,
    /// PR/issue → request id.
    pub index: RequestIndex,
    /// Environment locks and queues.
    pub locks: EnvLocks,
    /// Once-markers.
    pub markers: Markers,
    /// GitHub.
    pub github: Arc<dyn GitHub>,
    /// The clock (fake in tests).
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub settings: Settings,
    /// `.github/tfpilot.yml` per repository, read at the default branch.
    pub repo_configs: repo_config::ConfigCache,
    /// Run index entries never change once written: remember them.
    run_index_cache: Mutex<HashMap<(String, u64), String>>,
    /// Delivery ids this process recorded or found recorded.
    recent: recent::RecentDeliveries,
    /// The deliveries being handled now.
    pub in_flight: claims::InFlight,
    /// This process's turns at rendering each request.
    effect_locks: effects::RequestLocks,
}

impl Service {
    /// Builds the service over a store and a GitHub client.
    pub fn new(
        store: Arc<dyn Store>,
        github: Arc<dyn GitHub>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> Service {
        Service {
            requests: Requests::new(store.clone()),
            run_index: RunIndex::new(store.clone()),
            deliveries: Deliveries::new(store.clone()),
            index: RequestIndex::new(store.clone()),
            locks: EnvLocks::new(store.clone()),
            markers: Markers::new(store.clone()),
            store,
            github,
            clock,
            metrics,
            settings,
            repo_configs: repo_config::ConfigCache::default(),
            run_index_cache: Mutex::new(HashMap::new()),
            recent: recent::RecentDeliveries::default(),
            in_flight: claims::InFlight::default(),
            effect_locks: effects::RequestLocks::default(),
        }
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Handles one verified, parsed delivery.
    pub async fn handle_delivery(
        &self,
        delivery_id: &str,
        event: Event,
    ) -> Result<Outcome, ServiceError> {
        match event {
            Event::Ping => Ok(Outcome::Unchanged),
            Event::WorkflowRun(e) => {
                // Decide relevance before any store access: an unrelated workflow costs nothing.
                let Some(kind) = workflow_run::kind_of(self, &e) else {
                    return Ok(Outcome::Ignored);
                };
                self.once_idempotent(delivery_id, workflow_run::handle(self, &e, kind))
                    .await
            }
            Event::PullRequest(e) => {
                if !pull_request::is_relevant(&e) {
                    return Ok(Outcome::Ignored);
                }
                self.once(delivery_id, pull_request::handle_pr(self, &e))
                    .await
            }
            Event::PullRequestReview(e) => {
                if !pull_request::review_is_relevant(&e) {
                    return Ok(Outcome::Ignored);
                }
                self.once(delivery_id, pull_request::handle_review(self, &e))
                    .await
            }
            Event::IssueComment(e) => {
                // Edited and deleted comments, bots (tfpilot included) and comments
                // without a `/tfpilot` line are decided here, before any I/O.
                if !command::comment_is_relevant(&e) {
                    return Ok(Outcome::Ignored);
                }
                self.once(
                    delivery_id,
                    Box::pin(command::handle_comment(self, delivery_id, &e)),
                )
                .await
            }
            Event::Issues(e) => {
                if !issues::is_relevant(&e) {
                    return Ok(Outcome::Ignored);
                }
                self.once(delivery_id, issues::handle(self, &e)).await
            }
            Event::CheckRun(e) => {
                if !command::check_run_is_relevant(&e) {
                    return Ok(Outcome::Ignored);
                }
                self.once(
                    delivery_id,
                    Box::pin(command::handle_check_run(self, delivery_id, &e)),
                )
                .await
            }
            Event::MergeGroup(e) => {
                if e.action != "checks_requested" {
                    return Ok(Outcome::Ignored);
                }
                self.once(delivery_id, merge_group::handle(self, &e)).await
            }
            Event::Installation(e) => self.once(delivery_id, self.record_installation(e)).await,
            Event::Unsupported { .. } => Ok(Outcome::Unsupported),
        }
    }

    /// Runs `work` unless `delivery_id` was processed before; records it after.
    async fn once(
        &self,
        delivery_id: &str,
        work: impl Future<Output = Result<Outcome, ServiceError>>,
    ) -> Result<Outcome, ServiceError> {
        if self.recent.contains(delivery_id) {
            return Ok(Outcome::Duplicate);
        }
        if self.deliveries.seen(delivery_id).await? {
            self.recent.insert(delivery_id);
            return Ok(Outcome::Duplicate);
        }
        let outcome = work.await?;
        self.deliveries.record(delivery_id, self.now()).await?;
        self.recent.insert(delivery_id);
        Ok(outcome)
    }

    /// [`Service::once`] for work that is idempotent with all its effects (a
    /// `workflow_run`: guarded patches, a sticky comment compared by hash): a
    /// delivery id unknown to this process is not looked up in the store first,
    /// since doing the work again changes nothing. That saves a read on every
    /// state change; a redelivery reaching another replica costs the work's
    /// reads instead. The record is still written only after the work, so a
    /// crash in between means the redelivery is processed again.
    async fn once_idempotent(
        &self,
        delivery_id: &str,
        work: impl Future<Output = Result<Outcome, ServiceError>>,
    ) -> Result<Outcome, ServiceError> {
        if self.recent.contains(delivery_id) {
            return Ok(Outcome::Duplicate);
        }
        let outcome = work.await?;
        let first = self.deliveries.record(delivery_id, self.now()).await?;
        self.recent.insert(delivery_id);
        // Recorded before: this was a redelivery, and its facts were already
        // stored (a change found here came from elsewhere and is reported).
        if !first && outcome != Outcome::Processed {
            return Ok(Outcome::Duplicate);
        }
        Ok(outcome)
    }

    async fn record_installation(&self, e: InstallationEvent) -> Result<Outcome, ServiceError> {
        let account = e.installation.account.as_ref().map(|a| a.login.as_str());
        tracing::info!(
            event = "installation",
            github_event = %e.event,
            action = %e.action,
            installation_id = e.installation.id,
            account,
            "installation changed"
        );
        let name = format!(
            "installations/{}-{}-{}",
            e.installation.id, e.event, e.action
        );
        let first = self.markers.first_time(&name, self.now()).await?;
        Ok(Outcome::saved(first))
    }

    /// Whether the store answers (for `/readyz`).
    pub async fn ready(&self) -> Result<(), ServiceError> {
        match self.store.get("readyz-probe").await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The request id a run is known (in this process) to be indexed under.
    pub fn remembered_run(&self, kind: &str, run_id: u64) -> Option<String> {
        self.run_index_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(kind.to_string(), run_id))
            .cloned()
    }

    /// The request id a run was indexed under, from memory or the store.
    pub async fn indexed_request(
        &self,
        kind: &str,
        run_id: u64,
    ) -> Result<Option<String>, ServiceError> {
        let key = (kind.to_string(), run_id);
        if let Some(id) = self
            .run_index_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(Some(id.clone()));
        }
        let found = self.run_index.request_id(kind, run_id).await?;
        if let Some(id) = &found {
            self.remember_run(kind, run_id, id);
        }
        Ok(found)
    }

    /// Writes the run index (first writer wins) and remembers it.
    pub async fn index_run(
        &self,
        kind: &str,
        run_id: u64,
        request_id: &str,
    ) -> Result<(), ServiceError> {
        self.run_index
            .put(kind, run_id, request_id, self.now())
            .await?;
        self.remember_run(kind, run_id, request_id);
        Ok(())
    }

    fn remember_run(&self, kind: &str, run_id: u64, request_id: &str) {
        let mut cache = self
            .run_index_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Bounded: the index is the truth, the cache only saves reads.
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert((kind.to_string(), run_id), request_id.to_string());
    }
}

/// The repository of a payload, reached through the delivery's installation.
pub fn repo_of(repository: &Repository, installation: Option<u64>) -> Option<Repo> {
    Some(Repo::new(
        installation?,
        repository.owner.login.clone(),
        repository.name.clone(),
    ))
}

/// Parses GitHub's RFC 3339 timestamps.
pub fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}
