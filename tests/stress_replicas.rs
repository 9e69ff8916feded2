//! Issue 12, must-show 1 and 2: many replicas, misbehaving deliveries, failing
//! stores and a flaky GitHub, against one S3-compatible server.
//!
//! The scenario: 50 requests opened from the issue form at once, half in `dev`
//! (no approval, applied on merge, destroyed with `/tfpilot destroy`, cleanup PR
//! merged by tfpilot, archived) and half in `prod` (two approvals, merge,
//! `/tfpilot apply`; every other one destroyed with the confirmation
//! `/tfpilot destroy <id>` and its cleanup PR merged by a person, archived). The
//! environment lock queues the applies and destroys of each environment. People
//! act in phases, each once every request shows the state they wait for, as
//! people would.
//!
//! The clean run is one replica, deliveries one at a time in order, its facts in
//! memory (the store contract tests prove the same semantics). It is compared
//! with (1) three replicas, deliveries in flight four at a time, each to a random
//! replica, 30% duplicated (the two copies at once, each to its own pick) and 10%
//! reordered; and (2) the same with 20% of every replica's store calls failing
//! (some after the write landed) and 20% of GitHub API calls answered 5xx or 429,
//! repaired by redelivery and reconciliation passes run in rounds as `serve`'s
//! loops would.
//!
//! Needs `TFPILOT_TEST_S3_ENDPOINT` (moto; see `.ci/moto.sh`); without it the tests
//! print a skip message, except under `CI=true` where they fail.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use serde_json::{Value, json};

use tfpilot::config::forms::submitted_body;
use tfpilot::config::repo::RepoConfig;
use tfpilot::core::contract;
use tfpilot::core::request::Request;
use tfpilot::core::status::{Status, derive_status};
use tfpilot::harness::{EXAMPLE_CONFIG, Harness, INFRA_REPO, ReplicaOptions, Replicas};
use tfpilot::service::{Clock, reconcile, redelivery};
use tfpilot::sim::{DeliveryFaults, FaultResponse, Permission, WorkflowMode};
use tfpilot::store::testing::{client_for, s3_test_store};
use tfpilot::store::{
    ETag, FaultStore, FractionalFaults, ListPage, MemoryStore, Object, OpKind, RequestIndex,
    Requests, RetryingStore, S3Store, Store, StoreError, Thread,
};

const REQUESTS: usize = 50;
const REQUESTER: &str = "alice";
const MAINTAINER: &str = "bob";
const SECOND_REVIEWER: &str = "carol";
const ADMIN: &str = "dana";

// ---------------------------------------------------------------------------
// A ledger under every replica's store: what each key really holds, so a write
// that changed nothing is caught whoever made it.

#[derive(Debug, Default)]
struct Book {
    /// The bytes each key holds, as last written through a ledger.
    current: HashMap<String, Bytes>,
    /// Writes that landed, by the key's first segment (`requests`, `markers`, ...).
    writes: BTreeMap<String, u64>,
    /// Writes that landed on `requests/<id>.json`, by key.
    request_doc_writes: BTreeMap<String, u64>,
    /// Keys replaced with the bytes they already held.
    unchanged_writes: Vec<String>,
}

#[derive(Debug)]
struct Ledger {
    inner: Arc<dyn Store>,
    book: Arc<Mutex<Book>>,
}

impl Ledger {
    fn landed(&self, key: &str, body: Option<&Bytes>) {
        let mut book = self.book.lock().unwrap();
        let prefix = key.split('/').next().unwrap_or(key).to_string();
        *book.writes.entry(prefix).or_default() += 1;
        if key.starts_with("requests/") && body.is_some() {
            *book.request_doc_writes.entry(key.to_string()).or_default() += 1;
        }
        match body {
            Some(body) => {
                if book.current.get(key) == Some(body) {
                    book.unchanged_writes.push(key.to_string());
                }
                book.current.insert(key.to_string(), body.clone());
            }
            None => {
                book.current.remove(key);
            }
        }
    }
}

#[async_trait]
impl Store for Ledger {
    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        self.inner.get(key).await
    }
    async fn create(&self, key: &str, body: Bytes) -> Result<ETag, StoreError> {
        let r = self.inner.create(key, body.clone()).await;
        if r.is_ok() {
            self.landed(key, Some(&body));
        }
        r
    }
    async fn replace(&self, key: &str, body: Bytes, if_match: &ETag) -> Result<ETag, StoreError> {
        let r = self.inner.replace(key, body.clone(), if_match).await;
        if r.is_ok() {
            self.landed(key, Some(&body));
        }
        r
    }
    async fn delete(&self, key: &str, if_match: Option<&ETag>) -> Result<(), StoreError> {
        let r = self.inner.delete(key, if_match).await;
        if r.is_ok() {
            self.landed(key, None);
        }
        r
    }
    async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<ListPage, StoreError> {
        self.inner.list(prefix, start_after, limit).await
    }
}

// ---------------------------------------------------------------------------
// The world: replicas over one bucket, an uncounted observer, the people.

struct Setup {
    /// On the S3 server (else in memory).
    s3: bool,
    replicas: usize,
    parallelism: usize,
    deliveries: DeliveryFaults,
    /// `(store failure rate, API failure rate)`.
    faults: Option<(f64, f64)>,
    seed: u64,
}

struct World {
    r: Replicas,
    /// Reads the facts without being counted (its own client to the bucket).
    requests: Requests,
    index: RequestIndex,
    book: Arc<Mutex<Book>>,
    fault_stores: Vec<Arc<FaultStore>>,
    faults: bool,
    reqs: Vec<Req>,
    repair_rounds: usize,
}

#[derive(Debug, Clone)]
struct Req {
    name: String,
    env: &'static str,
    destroy: bool,
    issue: u64,
    id: String,
    pr: u64,
    commands: Vec<u64>,
}

async fn world(label: &str, setup: Setup) -> Option<World> {
    // One bucket on the S3 server for the replicas; the clean run keeps its facts in
    // memory (the same semantics, and it only serves as the reference).
    let shared: Option<(String, String)> = if setup.s3 {
        let first = s3_test_store(label).await.expect("test bucket")?;
        let endpoint = std::env::var(tfpilot::store::testing::S3_ENDPOINT_ENV).expect("endpoint");
        Some((endpoint, first.bucket().to_string()))
    } else {
        None
    };
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let client = || -> Arc<dyn Store> {
        match &shared {
            // each replica its own S3 client over the one bucket
            Some((endpoint, bucket)) => {
                Arc::new(S3Store::new(client_for(endpoint), bucket, "tfpilot"))
            }
            None => memory.clone(),
        }
    };
    let book = Arc::new(Mutex::new(Book::default()));
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    let mut fault_stores = Vec::new();
    for i in 0..setup.replicas {
        let ledger: Arc<dyn Store> = Arc::new(Ledger {
            inner: client(),
            book: book.clone(),
        });
        match setup.faults {
            Some((store_rate, _)) => {
                let f = Arc::new(FaultStore::new(ledger));
                f.set_fractional(Some(FractionalFaults {
                    rate: store_rate,
                    lost_response_share: 0.25,
                    seed: setup.seed ^ ((i as u64 + 1) * 0x9e37),
                }));
                fault_stores.push(f.clone());
                // Layered as `open_store` layers a real backend: its transient
                // failures retried (and landed writes recognised) above it.
                stores.push(Arc::new(RetryingStore::new(f)));
            }
            None => stores.push(ledger),
        }
    }
    let r = Harness::start_replicas(ReplicaOptions {
        stores,
        workflow_mode: WorkflowMode::Auto {
            queued: Duration::from_millis(10),
            running: Duration::from_millis(20),
        },
        // "stuck" compares GitHub's (wall-clock) run times with tfpilot's now
        now: Utc::now(),
        default_scripts: true,
        seed: setup.seed,
        config: None,
    })
    .await
    .expect("replicas");
    for (user, p) in [
        (REQUESTER, Permission::Write),
        (MAINTAINER, Permission::Maintain),
        (SECOND_REVIEWER, Permission::Maintain),
        (ADMIN, Permission::Admin),
    ] {
        r.sim
            .set_permission(INFRA_REPO, user, p)
            .expect("permission");
    }
    r.sim.set_delivery_parallelism(setup.parallelism);
    r.sim.set_delivery_faults(setup.deliveries);
    if let Some((_, api_rate)) = setup.faults {
        r.sim.fail_fraction_mixed(
            api_rate,
            vec![
                FaultResponse::Status(500),
                FaultResponse::Status(502),
                FaultResponse::Status(503),
                FaultResponse::RateLimited {
                    retry_after_secs: 0,
                },
            ],
        );
    }
    let observer = client();
    Some(World {
        r,
        requests: Requests::new(observer.clone()),
        index: RequestIndex::new(observer),
        book,
        fault_stores,
        faults: setup.faults.is_some(),
        reqs: Vec::new(),
        repair_rounds: 0,
    })
}

/// What a request looks like once a phase is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Status(Status),
    Archived,
}

impl World {
    fn svc_now(&self) -> chrono::DateTime<Utc> {
        self.r.clock.now()
    }

    async fn doc(&self, id: &str) -> (Option<Request>, bool) {
        if let Some(live) = self.requests.get(id).await.expect("read") {
            return (Some(live), false);
        }
        let archived = self.requests.get_archived(id).await.expect("read");
        let was = archived.is_some();
        (archived, was)
    }

    /// The requests not yet as wanted, with what they show instead.
    async fn lagging(&self, want: &dyn Fn(&Req) -> Option<Want>) -> Vec<String> {
        let mut out = Vec::new();
        for q in &self.reqs {
            let Some(w) = want(q) else { continue };
            let (doc, archived) = self.doc(&q.id).await;
            let ok = match (w, &doc) {
                (Want::Archived, _) => archived,
                (Want::Status(s), Some(d)) => !archived && derive_status(d, self.svc_now()) == s,
                (Want::Status(_), None) => false,
            };
            if !ok {
                let shows = doc
                    .as_ref()
                    .map(|d| derive_status(d, self.svc_now()).as_str().to_string());
                let timeline: Vec<String> = doc
                    .iter()
                    .flat_map(|d| d.timeline.iter().map(|t| t.what.clone()))
                    .collect();
                out.push(format!(
                    "{} ({}): wants {w:?}, shows {shows:?} archived={archived}; timeline {timeline:?}",
                    q.name, q.id
                ));
            }
        }
        out
    }

    /// Settles; in a faulty world, runs repair rounds (redelivery on every replica,
    /// then a reconciler pass after the stuck threshold) until `want` holds.
    async fn converge(&mut self, phase: &str, want: &dyn Fn(&Req) -> Option<Want>) {
        self.r.settle().await.expect("settle");
        let mut lagging = self.lagging(want).await;
        let mut rounds = 0;
        while !lagging.is_empty() {
            assert!(
                self.faults,
                "{phase}: without store or API faults every request must get there by itself:\n{}\nfailed deliveries: {:#?}",
                lagging.join("\n"),
                self.failed_deliveries()
            );
            assert!(
                rounds < 12,
                "{phase}: not converged after {rounds} repair rounds:\n{}",
                lagging.join("\n")
            );
            rounds += 1;
            self.repair_round(rounds).await;
            lagging = self.lagging(want).await;
        }
        self.repair_rounds += rounds;
    }

    async fn repair_round(&self, round: usize) {
        for rep in &self.r.replicas {
            // a pass that fails part-way is logged by serve and tried next interval
            let _ = redelivery::redeliver_failed(
                &rep.state.service,
                &redelivery::RedeliveryPolicy::default(),
            )
            .await;
        }
        self.r.settle().await.expect("settle");
        self.r.clock.advance(chrono::Duration::minutes(
            reconcile::STUCK_AFTER_MINUTES + 1,
        ));
        let rep = &self.r.replicas[round % self.r.replicas.len()];
        let _ = Box::pin(reconcile::pass(&rep.state.service)).await;
        self.r.settle().await.expect("settle");
    }

    /// Failed deliveries that no replica has recorded as processed.
    async fn unrecorded_failures(&self) -> Vec<String> {
        let service = &self.r.replicas[0].state.service;
        let mut out = Vec::new();
        for d in self.r.sim.deliveries() {
            if d.status_code.is_some_and(|c| (200..300).contains(&c)) {
                continue;
            }
            if !service.deliveries.seen(&d.guid).await.unwrap_or(false) {
                out.push(format!("{} {:?} {}", d.event, d.action, d.guid));
            }
        }
        out
    }

    /// Deliveries the receiving replica did not accept (event, action, status).
    fn failed_deliveries(&self) -> Vec<String> {
        self.r
            .sim
            .deliveries()
            .into_iter()
            .filter(|d| !d.status_code.is_some_and(|c| (200..300).contains(&c)))
            .map(|d| {
                format!(
                    "{} {:?} {:?} {:?} {}",
                    d.event, d.action, d.status_code, d.outcome, d.guid
                )
            })
            .collect()
    }

    fn pull_of_branch(&self, branch: &str) -> Option<u64> {
        self.r
            .sim
            .pulls(INFRA_REPO)
            .into_iter()
            .find(|p| p.head_ref == branch)
            .map(|p| p.number)
    }
}

// ---------------------------------------------------------------------------
// The scenario.

async fn run_scenario(w: &mut World) {
    let config = RepoConfig::parse(EXAMPLE_CONFIG).expect("example config");
    // 1. Everyone asks at once.
    let mut opened = Vec::new();
    for i in 0..REQUESTS {
        let env = if i % 2 == 0 { "dev" } else { "prod" };
        let name = format!("stress-bucket-{i:02}");
        let body = submitted_body(
            &config,
            "s3-bucket",
            &[("Environment", env), ("name", &name), ("project", "core")],
        )
        .expect("form body");
        let issue =
            w.r.sim
                .open_issue(
                    INFRA_REPO,
                    REQUESTER,
                    &format!("Bucket {name}"),
                    &body,
                    &[config.request_label.as_str()],
                )
                .expect("issue");
        opened.push((name, env, i % 4 == 1 || env == "dev", issue));
    }
    // The request ids are random: wait until each issue has one (a lost "opened"
    // delivery must be redelivered for that).
    w.r.settle().await.expect("settle");
    let mut rounds = 0;
    loop {
        let mut missing = Vec::new();
        w.reqs.clear();
        for (name, env, destroy, issue) in &opened {
            match w
                .index
                .find(Thread::Issue, "acme", "infra", *issue)
                .await
                .expect("index")
            {
                Some(id) => w.reqs.push(Req {
                    name: name.clone(),
                    env,
                    destroy: *destroy,
                    issue: *issue,
                    id,
                    pr: 0,
                    commands: Vec::new(),
                }),
                None => missing.push(*issue),
            }
        }
        if missing.is_empty() {
            break;
        }
        assert!(
            w.faults && rounds < 12,
            "issues without a request: {missing:?}"
        );
        rounds += 1;
        w.repair_round(rounds).await;
    }
    w.repair_rounds += rounds;
    w.converge("planned", &|_| Some(Want::Status(Status::PlanReady)))
        .await;
    for q in &mut w.reqs {
        q.pr =
            w.r.sim
                .pulls(INFRA_REPO)
                .into_iter()
                .find(|p| p.head_ref == format!("request/{}", q.id))
                .expect("request PR")
                .number;
    }

    // 2. dev: merged (applies by itself, one at a time); prod: two approvals.
    for q in &w.reqs {
        if q.env == "dev" {
            w.r.sim
                .merge_pull(INFRA_REPO, q.pr, REQUESTER)
                .expect("merge");
        } else {
            w.r.sim
                .approve(INFRA_REPO, q.pr, MAINTAINER)
                .expect("approve");
            w.r.sim
                .approve(INFRA_REPO, q.pr, SECOND_REVIEWER)
                .expect("approve");
        }
    }
    w.converge("dev applied, prod approved", &|q| {
        Some(Want::Status(if q.env == "dev" {
            Status::Applied
        } else {
            Status::Approved
        }))
    })
    .await;

    // 3. prod: merged, then `/tfpilot apply` once the PR shows merged.
    for q in w.reqs.iter().filter(|q| q.env == "prod") {
        w.r.sim
            .merge_pull(INFRA_REPO, q.pr, MAINTAINER)
            .expect("merge");
    }
    w.converge("prod merged", &|q| {
        (q.env == "prod").then_some(Want::Status(Status::Merged))
    })
    .await;
    for q in w.reqs.iter_mut().filter(|q| q.env == "prod") {
        let c =
            w.r.sim
                .comment(INFRA_REPO, q.pr, MAINTAINER, "/tfpilot apply")
                .expect("comment");
        q.commands.push(c);
    }
    w.converge("prod applied", &|q| {
        (q.env == "prod").then_some(Want::Status(Status::Applied))
    })
    .await;

    // 4. destroy: every dev request, every other prod one (with confirmation).
    for q in w.reqs.iter_mut().filter(|q| q.destroy) {
        let (user, text) = if q.env == "dev" {
            (REQUESTER, "/tfpilot destroy".to_string())
        } else {
            (ADMIN, format!("/tfpilot destroy {}", q.id))
        };
        let c =
            w.r.sim
                .comment(INFRA_REPO, q.pr, user, &text)
                .expect("comment");
        q.commands.push(c);
    }
    w.converge("destroyed", &|q| match (q.destroy, q.env) {
        (false, _) => Some(Want::Status(Status::Applied)),
        (true, "dev") => Some(Want::Archived),
        (true, _) => Some(Want::Status(Status::Destroyed)),
    })
    .await;

    // 5. prod cleanup PRs are merged by a person; that archives.
    let cleanups: Vec<u64> = w
        .reqs
        .iter()
        .filter(|q| q.destroy && q.env == "prod")
        .map(|q| {
            w.pull_of_branch(&format!("cleanup/{}", q.id))
                .expect("cleanup PR")
        })
        .collect();
    for pr in cleanups {
        w.r.sim
            .merge_pull(INFRA_REPO, pr, ADMIN)
            .expect("merge cleanup");
    }
    w.converge("archived", &|q| {
        Some(if q.destroy {
            Want::Archived
        } else {
            Want::Status(Status::Applied)
        })
    })
    .await;
    // The facts can be right while a delivery that did its work and then failed
    // (its reaction, say) still waits for redelivery: `serve` keeps redelivering on
    // its interval, so the scenario does too until none is left.
    let mut rounds = 0;
    while w.faults && rounds < 6 && !w.unrecorded_failures().await.is_empty() {
        rounds += 1;
        w.repair_round(rounds).await;
    }
    w.repair_rounds += rounds;
}

// ---------------------------------------------------------------------------
// The facts compared.

/// A request's facts without what legitimately differs between two runs of the
/// same scenario. Left out: the request id's random suffix (also inside the module
/// name, the plan's addresses and the render and inputs hashes, which hash text
/// holding the id), issue/PR/comment/run/check-run numbers and SHAs (GitHub assigns
/// them in arrival order; in timeline lines SHAs become `SHA` and numbers `N`), timestamps
/// (wall clock, and the repair rounds advance tfpilot's clock), `version` and the
/// sticky's `renderedVersion`/`renderHash` (how many writes a request took depends
/// on which deliveries were duplicated, reordered or merged into one write — the
/// store-write check below proves each write was a real change), the timeline's
/// order and `who` (two reviewers' approvals and queued runs may land in either
/// order), the `queued` and `in_progress` lines of runs (a run's `completed` may
/// arrive first, and the older states are then ignored, as the monotonic rule says),
/// and "queued behind the environment lock" lines (whether the lock was
/// busy when a request asked depends on timing; that it ends free and every run
/// dispatched once is checked).
fn projection(doc: &Request, archived: bool, now: chrono::DateTime<Utc>) -> Value {
    let v = serde_json::to_value(doc).expect("json");
    let id = doc.id.as_str();
    let module = tfpilot::core::ids::module_name(id);
    let scrub = |v: &Value| -> Value {
        let text = v
            .to_string()
            .replace(id, "<id>")
            .replace(&module, "<module>");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let shas = regex::Regex::new(r"\b[0-9a-f]{7,40}\b").expect("regex");
    let numbers = regex::Regex::new(r"[0-9]+").expect("regex");
    let github = v.get("github").cloned().unwrap_or(Value::Null);
    let runs: BTreeMap<String, Value> = github
        .get("workflows")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, r)| !r.is_null())
                .map(|(k, r)| {
                    (
                        k.clone(),
                        json!({
                            "status": r.get("status"),
                            "conclusion": r.get("conclusion"),
                            "runAttempt": r.get("runAttempt"),
                        }),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let pr = |p: Option<&Value>| {
        p.filter(|p| !p.is_null()).map(|p| {
            json!({
                "open": p.get("open"),
                "merged": p.get("merged"),
                "baseRef": p.get("baseRef"),
            })
        })
    };
    let mut timeline: Vec<String> = doc
        .timeline
        .iter()
        .map(|t| {
            let what = shas.replace_all(&t.what, "SHA");
            numbers.replace_all(&what, "N").into_owned()
        })
        .filter(|what| {
            !what.contains("queued behind")
                && !what.ends_with(": queued")
                && !what.ends_with(": in_progress")
        })
        .collect();
    timeline.sort();
    let approval = doc.approval.as_ref().map(|a| {
        let mut approvers = a.approvers.clone();
        approvers.sort();
        let mut reviews: Vec<String> = a
            .reviews
            .iter()
            .map(|r| format!("{}:{:?}", r.login, r.state))
            .collect();
        reviews.sort();
        json!({"approved": a.approved, "approvers": approvers, "reviews": reviews})
    });
    let plan_summary = v.get("planSummary").map(|p| {
        json!({
            "summary": p.get("summary"),
            "omittedChanges": p.get("omittedChanges"),
            "unreadable": p.get("unreadable"),
        })
    });
    scrub(&json!({
        "archived": archived,
        "status": derive_status(doc, now).as_str(),
        "environment": doc.environment,
        "module": doc.module,
        "requester": doc.requester,
        "project": doc.project,
        "config": doc.config,
        "target": [doc.target_owner, doc.target_repo, doc.target_base, doc.target_env_path],
        "targetFiles": doc.target_files,
        "branch": doc.branch_name,
        "rendererVersion": doc.renderer_version,
        "render": v.get("render").map(|r| json!({
            "reproducible": r.get("reproducible"),
        })),
        "runs": runs,
        "pr": pr(github.get("pr")),
        "cleanupPr": pr(github.get("cleanupPr")),
        "destroyTriggered": github.get("destroyTriggeredAt").is_some_and(|t| !t.is_null()),
        "queued": github.get("queued").is_some_and(|t| !t.is_null()),
        "mergedShaKnown": doc.merged_sha.is_some(),
        "approval": approval,
        "planSummary": plan_summary,
        "drift": v.get("drift"),
        "timeline": timeline,
        "stickyKnown": doc.sticky.as_ref().map(|s| s.comment_id.is_some()),
        // the reconciler keeps live renders current; see the module notes for archived
        "renderCurrent": (!archived).then(|| doc.sticky.as_ref().map(|s| s.rendered_version == Some(doc.version))),
    }))
}

/// Per request (by bucket name): its projected facts, its dispatches by workflow,
/// and what tfpilot said where.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Outcome {
    facts: BTreeMap<String, Value>,
    dispatches: BTreeMap<String, BTreeMap<String, usize>>,
    issue_comments: BTreeMap<String, usize>,
    stickies: BTreeMap<String, usize>,
}

async fn outcome(w: &World) -> Outcome {
    let bot = w.r.sim.bot_login();
    let now = w.svc_now();
    let mut o = Outcome {
        facts: BTreeMap::new(),
        dispatches: BTreeMap::new(),
        issue_comments: BTreeMap::new(),
        stickies: BTreeMap::new(),
    };
    let dispatches = w.r.sim.dispatches();
    for q in &w.reqs {
        let (doc, archived) = w.doc(&q.id).await;
        let doc = doc.unwrap_or_else(|| panic!("{} ({}) is lost", q.name, q.id));
        let mut facts = projection(&doc, archived, now);
        // What GitHub shows of the cleanup PR (a person sees this, whatever the facts say).
        facts["cleanupOnGitHub"] = json!(
            w.r.sim
                .pulls(INFRA_REPO)
                .into_iter()
                .filter(|p| p.head_ref == format!("cleanup/{}", q.id))
                .map(|p| json!({"open": p.open, "merged": p.merged}))
                .collect::<Vec<_>>()
        );
        o.facts.insert(q.name.clone(), facts);
        let mut by_workflow = BTreeMap::new();
        for d in dispatches
            .iter()
            .filter(|d| d.inputs.get(contract::inputs::REQUEST_ID) == Some(&q.id))
        {
            *by_workflow.entry(d.workflow.clone()).or_insert(0) += 1;
        }
        o.dispatches.insert(q.name.clone(), by_workflow);
        let issue_comments: Vec<_> =
            w.r.sim
                .comments(INFRA_REPO, q.issue)
                .into_iter()
                .filter(|c| c.author == bot)
                .collect();
        if issue_comments.len() != 1 {
            // what they say, for the failure that follows
            for c in &issue_comments {
                let start: String = c.body.chars().take(160).collect();
                println!("{}: issue comment {}: {start:?}", q.name, c.id);
            }
        }
        o.issue_comments
            .insert(q.name.clone(), issue_comments.len());
        let pr_comments = w.r.sim.comments(INFRA_REPO, q.pr);
        let stickies = pr_comments
            .iter()
            .filter(|c| c.author == bot && tfpilot::render::is_sticky_for(&c.body, &q.id))
            .count();
        o.stickies.insert(q.name.clone(), stickies);
        // Every command got exactly one reaction and at most one reply.
        for c in &q.commands {
            let comment = pr_comments
                .iter()
                .find(|x| x.id == *c)
                .expect("command comment");
            let reactions: Vec<_> = comment
                .reactions
                .iter()
                .filter(|(u, _)| *u == bot)
                .collect();
            if reactions.len() != 1 {
                // how its deliveries went, for the failure that follows
                for d in w.r.sim.deliveries().iter().filter(|d| {
                    d.event == "issue_comment"
                        && d.payload.pointer("/comment/id").and_then(Value::as_u64) == Some(*c)
                }) {
                    let recorded = w.r.replicas[0]
                        .state
                        .service
                        .deliveries
                        .seen(&d.guid)
                        .await
                        .ok();
                    println!(
                        "{}: comment {c} delivery {} status {:?} outcome {:?} redelivery {} recorded {recorded:?}",
                        q.name, d.guid, d.status_code, d.outcome, d.redelivery
                    );
                }
            }
            assert_eq!(
                reactions.len(),
                1,
                "{}: command comment {c} has bot reactions {reactions:?}",
                q.name
            );
        }
        let replies: Vec<&str> = pr_comments
            .iter()
            .filter(|c| c.author == bot && tfpilot::render::sticky_request_id(&c.body).is_none())
            .map(|c| c.body.as_str())
            .collect();
        assert!(
            replies.len() <= q.commands.len(),
            "{}: {} replies to {} commands: {replies:#?}",
            q.name,
            replies.len(),
            q.commands.len()
        );
    }
    o
}

fn expected_dispatches(q: &Req) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    m.insert(contract::PLAN.file.to_string(), 1);
    m.insert(contract::APPLY.file.to_string(), 1);
    if q.destroy {
        m.insert(contract::DESTROY.file.to_string(), 1);
    }
    m
}

/// Must hold in every run: one sticky per PR, one dispatch per request and kind.
fn assert_invariants(w: &World, o: &Outcome) {
    for q in &w.reqs {
        assert_eq!(o.stickies[&q.name], 1, "{}: sticky comments", q.name);
        assert_eq!(
            o.dispatches[&q.name],
            expected_dispatches(q),
            "{}: dispatches",
            q.name
        );
    }
    assert_eq!(
        w.r.sim.dispatches().len(),
        w.reqs
            .iter()
            .map(|q| expected_dispatches(q).values().sum::<usize>())
            .sum::<usize>(),
        "no dispatch for anything else"
    );
}

fn assert_same(clean: &Outcome, other: &Outcome, what: &str) {
    for (name, facts) in &clean.facts {
        let theirs = other.facts.get(name).unwrap_or(&Value::Null);
        let differing: Vec<String> = facts
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| theirs.get(k.as_str()) != Some(*v))
            .map(|(k, v)| {
                format!(
                    "{k}: clean {v} / {what} {}",
                    theirs.get(k.as_str()).unwrap_or(&Value::Null)
                )
            })
            .collect();
        assert!(
            differing.is_empty() && facts == theirs,
            "{what}: {name} ends with other facts:\n{}",
            differing.join("\n")
        );
    }
    assert_eq!(clean.facts.len(), other.facts.len());
    assert_eq!(clean.dispatches, other.dispatches, "{what}: dispatches");
    assert_eq!(
        clean.issue_comments, other.issue_comments,
        "{what}: issue comments"
    );
    assert_eq!(clean.stickies, other.stickies, "{what}: sticky comments");
}

/// Store writes that landed equal real changes: no write left a key as it was, and
/// the request documents took exactly as many writes as their `version` says.
async fn assert_writes_are_changes(w: &World) {
    let unchanged = w.book.lock().unwrap().unchanged_writes.clone();
    assert!(
        unchanged.is_empty(),
        "writes that changed nothing: {unchanged:?}"
    );
    let mut versions = 0u64;
    let mut doc_writes = 0u64;
    for q in &w.reqs {
        let (doc, _) = w.doc(&q.id).await;
        let version = doc.expect("doc").version;
        let key = format!("requests/{}.json", q.id);
        let writes = w
            .book
            .lock()
            .unwrap()
            .request_doc_writes
            .get(&key)
            .copied()
            .unwrap_or(0);
        // created at version 0, every update adds one
        assert_eq!(
            writes,
            version + 1,
            "{}: writes of its document vs its version",
            q.name
        );
        versions += version + 1;
        doc_writes += writes;
    }
    // The counters behind `/metrics` agree with the ledger on the total.
    let counted: u64 =
        w.r.store_counts()
            .iter()
            .map(tfpilot::store::OpCounts::successful_writes)
            .sum();
    let landed: u64 = w.book.lock().unwrap().writes.values().sum();
    assert_eq!(counted, landed, "successful writes counted vs landed");
    println!(
        "request-doc writes {doc_writes} = sum of (version + 1) {versions}; all writes by prefix {:?}",
        w.book.lock().unwrap().writes
    );
}

fn report(label: &str, w: &World, started: Instant) {
    let deliveries = w.r.sim.deliveries();
    let counts = w.r.store_counts();
    let per_replica: Vec<String> = counts
        .iter()
        .map(|c| {
            format!(
                "{} ops ({} writes, {} replace conflicts)",
                OpKind::ALL.iter().map(|k| c.total(*k)).sum::<u64>(),
                c.successful_writes(),
                c.get(OpKind::Replace, tfpilot::store::Outcome::PreconditionFailed)
            )
        })
        .collect();
    let injected: Vec<_> = w.fault_stores.iter().map(|f| f.injected()).collect();
    println!(
        "{label}: {} deliveries, {} repair rounds, replicas: {per_replica:?}, injected store faults: {injected:?}, took {:?}",
        deliveries.len(),
        w.repair_rounds,
        started.elapsed()
    );
}

/// The clean run both tests compare with. They run at the same time in two processes
/// under nextest, so the first to get here computes it and the other waits for it
/// and reads it: a file in cargo's temp folder for tests, named after this build of
/// the test binary (a rebuilt binary computes its own).
async fn clean_run() -> Outcome {
    let exe = std::env::current_exe().expect("the test binary's path");
    let built = std::fs::metadata(&exe)
        .and_then(|m| m.modified())
        .expect("the test binary's build time")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a build time after 1970")
        .as_nanos();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let cache = dir.join(format!("stress-clean-{built}.json"));
    let lock_path = dir.join("stress-clean.lock");
    let lock = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::create(lock_path)?;
        file.lock()?;
        std::io::Result::Ok(file)
    })
    .await
    .unwrap()
    .expect("the clean run's lock file");
    if let Ok(bytes) = std::fs::read(&cache) {
        println!("clean run read from {}", cache.display());
        return serde_json::from_slice(&bytes).expect("the clean run's file");
    }
    let o = compute_clean_run().await;
    let tmp = cache.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&o).unwrap()).unwrap();
    std::fs::rename(&tmp, &cache).unwrap();
    drop(lock);
    o
}

async fn compute_clean_run() -> Outcome {
    let started = Instant::now();
    let mut w = world(
        "stress-clean",
        Setup {
            s3: false,
            replicas: 1,
            parallelism: 1,
            deliveries: DeliveryFaults::default(),
            faults: None,
            seed: 12,
        },
    )
    .await
    .expect("a memory world");
    run_scenario(&mut w).await;
    let o = outcome(&w).await;
    assert_invariants(&w, &o);
    assert_writes_are_changes(&w).await;
    report("clean, one replica, in order", &w, started);
    o
}

fn misbehaving_deliveries() -> DeliveryFaults {
    DeliveryFaults {
        duplicate_rate: 0.3,
        reorder_rate: 0.1,
        ..DeliveryFaults::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_with_duplicated_and_reordered_deliveries_end_like_one_in_order() {
    // No fault is injected here, so a delivery tfpilot answers with an error is a
    // finding: its error line (`webhook.failed`) goes to the output nextest shows
    // when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_max_level(tracing::Level::ERROR)
        .try_init();
    let Some(mut w) = world(
        "stress-replicas",
        Setup {
            s3: true,
            replicas: 3,
            parallelism: 4,
            deliveries: misbehaving_deliveries(),
            faults: None,
            seed: 1212,
        },
    )
    .await
    else {
        return;
    };
    let clean = clean_run().await;
    let started = Instant::now();
    run_scenario(&mut w).await;
    let o = outcome(&w).await;
    assert_invariants(&w, &o);
    assert_same(&clean, &o, "three replicas");
    assert_writes_are_changes(&w).await;
    let served: Vec<u64> =
        w.r.store_counts()
            .iter()
            .map(tfpilot::store::OpCounts::successful_writes)
            .collect();
    assert!(
        served.iter().all(|n| *n > 100),
        "every replica took its share of the work: {served:?}"
    );
    report("three replicas, 30% duplicated, 10% reordered", &w, started);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_failing_stores_and_a_flaky_github_the_same_facts_after_repair() {
    let Some(mut w) = world(
        "stress-faults",
        Setup {
            s3: true,
            replicas: 3,
            parallelism: 4,
            deliveries: misbehaving_deliveries(),
            faults: Some((0.2, 0.2)),
            seed: 2424,
        },
    )
    .await
    else {
        return;
    };
    let clean = clean_run().await;
    let started = Instant::now();
    run_scenario(&mut w).await;
    let o = outcome(&w).await;
    assert_invariants(&w, &o);
    // Every fact a person acts on must be the same: status, runs, PRs, approvals,
    // archive, the plan, the cleanup PR on GitHub, the sticky. Three bookkeeping
    // facts may keep a residue of a failure between two non-atomic steps (GitHub
    // accepted a call, the store write after it failed through every retry and
    // the one redelivery): timeline lines, the doc's record of its cleanup PR, and
    // the `queued` marker. They are compared too, reported, and may differ for at
    // most three requests (known, not fixed: see the issue 12 report).
    const BOOKKEEPING: [&str; 3] = ["timeline", "cleanupPr", "queued"];
    let strip = |o: &Outcome| {
        let mut o = o.clone();
        for facts in o.facts.values_mut() {
            if let Some(m) = facts.as_object_mut() {
                for k in BOOKKEEPING {
                    m.remove(k);
                }
            }
        }
        o
    };
    assert_same(&strip(&clean), &strip(&o), "faults");
    let mut residue = Vec::new();
    for (name, facts) in &clean.facts {
        for k in BOOKKEEPING {
            let theirs = o.facts.get(name).map(|f| &f[k]);
            if theirs != Some(&facts[k]) {
                residue.push((name.clone(), k, facts[k].clone(), theirs.cloned()));
            }
        }
    }
    println!("bookkeeping residue after faults: {residue:#?}");
    let with_residue: std::collections::BTreeSet<&String> =
        residue.iter().map(|(name, ..)| name).collect();
    assert!(
        with_residue.len() <= 3,
        "bookkeeping residue on {} requests: {residue:#?}",
        with_residue.len()
    );
    let injected = w
        .fault_stores
        .iter()
        .map(|f| f.injected())
        .fold((0, 0), |a, i| (a.0 + i.failed_before, a.1 + i.failed_after));
    assert!(
        injected.0 > 100 && injected.1 > 10,
        "faults were injected, lost responses included: {injected:?}"
    );
    report("three replicas, store and API faults", &w, started);
}
