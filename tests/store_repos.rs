//! The typed repositories on every backend: no lost update (also across processes on
//! one folder), one lock holder with a FIFO queue, empty patches cost no write, corrupt
//! documents are reported and left alone, archive survives a crash.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use tfpilot::core::request::Request;
use tfpilot::store::index::Thread;
use tfpilot::store::testing::{Backend, TestStore, test_store};
use tfpilot::store::{
    Acquire, Archived, CountingStore, Deliveries, EnvLocks, Fault, FaultAction, FaultStore,
    Markers, OpKind, Outcome, Release, RequestIndex, Requests, RunIndex, Store, StoreError,
};

const CHILD_ENV: &str = "TFPILOT_STORE_TEST_CHILD_DIR";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn request(id: &str) -> Request {
    // `counter` and `note` are not typed fields: they ride in `extra`, like any
    // field a newer tfpilot might add.
    serde_json::from_value(json!({"id": id, "version": 1, "counter": 0, "note": "s3-bucket"}))
        .expect("request doc")
}

fn counter(req: &Request) -> u64 {
    req.extra
        .get("counter")
        .and_then(|v| v.as_u64())
        .unwrap_or(0)
}

fn increment(req: &Request) -> Option<Request> {
    let mut next = req.clone();
    next.extra.insert("counter".into(), json!(counter(req) + 1));
    Some(next)
}

/// `tasks` concurrent tasks, each calling `update` `each` times.
async fn hammer(requests: &Requests, id: &str, tasks: usize, each: usize) {
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let requests = requests.clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                for _ in 0..each {
                    // Giving up after many lost races writes nothing (the caller's
                    // change is not applied), so the caller may simply try again.
                    let updated = loop {
                        match requests.update(&id, increment).await {
                            Err(tfpilot::store::StoreError::Contention { .. }) => continue,
                            other => break other.unwrap(),
                        }
                    };
                    assert!(updated.saved);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

mod cases {
    use super::*;

    pub async fn lost_update_8_tasks_x_50(fixture: TestStore) {
        let counting = Arc::new(CountingStore::new(fixture.store.clone()));
        let requests = Requests::new(counting.clone());
        requests
            .create(&request("req_dev_s3_count1"))
            .await
            .unwrap();
        hammer(&requests, "req_dev_s3_count1", 8, 50).await;
        let stored = requests.get("req_dev_s3_count1").await.unwrap().unwrap();
        assert_eq!(counter(&stored), 400);
        assert_eq!(stored.version, 401, "one version per saved update");
        assert_eq!(stored.extra["note"], json!("s3-bucket"));
        let counts = counting.counts();
        assert_eq!(counts.get(OpKind::Replace, Outcome::Ok), 400, "{counts:?}");
        println!(
            "lost races retried: {}",
            counts.get(OpKind::Replace, Outcome::PreconditionFailed)
        );
    }

    pub async fn create_is_if_none_match(fixture: TestStore) {
        let requests = Requests::new(fixture.store.clone());
        requests.create(&request("req_a")).await.unwrap();
        let mut other = request("req_a");
        other.extra.insert("note".into(), json!("other"));
        let err = requests.create(&other).await.unwrap_err();
        assert!(err.is_precondition_failed(), "{err:?}");
        let stored = requests.get("req_a").await.unwrap().unwrap();
        assert_eq!(stored.extra["note"], json!("s3-bucket"));
        assert!(requests.get("req_missing").await.unwrap().is_none());
        let err = requests.update("req_missing", increment).await.unwrap_err();
        assert!(err.is_not_found(), "{err:?}");
        assert!(requests.create(&request("../escape")).await.is_err());
    }

    pub async fn empty_update_costs_no_write(fixture: TestStore) {
        let counting = Arc::new(CountingStore::new(fixture.store.clone()));
        let requests = Requests::new(counting.clone());
        requests.create(&request("req_idem")).await.unwrap();
        let before = counting.counts();

        let none = requests.update("req_idem", |_| None).await.unwrap();
        assert!(!none.saved);
        assert_eq!(none.request.version, 1);
        // Returning the same document is as empty as returning None.
        let same = requests
            .update("req_idem", |r| Some(r.clone()))
            .await
            .unwrap();
        assert!(!same.saved);
        let delta = counting.counts().since(&before);
        assert_eq!(delta.writes(), 0, "{delta:?}");
        assert_eq!(delta.get(OpKind::Get, Outcome::Ok), 2);

        let saved = requests.update("req_idem", increment).await.unwrap();
        assert!(saved.saved);
        assert_eq!(saved.request.version, 2);
        let delta = counting.counts().since(&before);
        assert_eq!(delta.get(OpKind::Replace, Outcome::Ok), 1);
        assert_eq!(delta.writes(), 1);
    }

    pub async fn corrupt_json_is_a_typed_error_and_left_alone(fixture: TestStore) {
        let store = fixture.store.clone();
        let corrupt = Bytes::from_static(b"{\"id\": \"req_bad\", \"version\": 3, ");
        store
            .create("requests/req_bad.json", corrupt.clone())
            .await
            .unwrap();
        let requests = Requests::new(store.clone());

        let err = requests.get("req_bad").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidData { key, .. } if key == "requests/req_bad.json"),
            "{err:?}"
        );
        assert!(err.to_string().contains("requests/req_bad.json"), "{err}");

        let mut calls = 0;
        let err = requests
            .update("req_bad", |r| {
                calls += 1;
                increment(r)
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidData { .. }), "{err:?}");
        assert_eq!(calls, 0, "the closure never sees a corrupt document");
        let err = requests.archive("req_bad").await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidData { .. }), "{err:?}");
        assert_eq!(
            store.get("requests/req_bad.json").await.unwrap().body,
            corrupt
        );
        assert!(
            store
                .get("history/req_bad.json")
                .await
                .unwrap_err()
                .is_not_found()
        );

        // A corrupt lock is reported too, never reset to "free".
        store
            .create("locks/o/r/prod.json", Bytes::from_static(b"not json"))
            .await
            .unwrap();
        let locks = EnvLocks::new(store.clone());
        let err = locks
            .acquire(("o", "r", "prod"), "req_a", "apply", t0())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidData { key, .. } if key == "locks/o/r/prod.json"),
            "{err:?}"
        );
        assert_eq!(
            store.get("locks/o/r/prod.json").await.unwrap().body,
            Bytes::from_static(b"not json")
        );
    }

    pub async fn archive_moves_and_finishes_after_a_crash(fixture: TestStore) {
        let store = fixture.store.clone();
        let requests = Requests::new(store.clone());
        requests.create(&request("req_arch")).await.unwrap();
        requests.update("req_arch", increment).await.unwrap();
        assert_eq!(requests.archive("req_arch").await.unwrap(), Archived::Moved);
        assert!(requests.get("req_arch").await.unwrap().is_none());
        let archived = requests.get_archived("req_arch").await.unwrap().unwrap();
        assert_eq!(counter(&archived), 1);
        assert_eq!(
            requests.archive("req_arch").await.unwrap(),
            Archived::AlreadyArchived
        );
        assert!(
            requests
                .archive("req_never")
                .await
                .unwrap_err()
                .is_not_found()
        );

        // Crash after the history write: history holds an older copy, live remains.
        requests.create(&request("req_crash")).await.unwrap();
        let faulty = Arc::new(FaultStore::new(store.clone()));
        faulty.inject(Fault {
            op: OpKind::Delete,
            key_prefix: "requests/".into(),
            action: FaultAction::FailBefore,
            times: 1,
        });
        let err = Requests::new(faulty.clone())
            .archive("req_crash")
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(requests.get_archived("req_crash").await.unwrap().is_some());
        // The live doc changed before the re-run: history must end up with the latest.
        requests.update("req_crash", increment).await.unwrap();
        assert_eq!(
            requests.archive("req_crash").await.unwrap(),
            Archived::Moved
        );
        assert!(requests.get("req_crash").await.unwrap().is_none());
        let archived = requests.get_archived("req_crash").await.unwrap().unwrap();
        assert_eq!(counter(&archived), 1);
        assert_eq!(archived.version, 2);
        assert_eq!(requests.list_ids().await.unwrap(), Vec::<String>::new());
    }

    pub async fn lock_16_acquirers_one_holder_fifo(fixture: TestStore) {
        let locks = EnvLocks::new(fixture.store.clone());
        let env = ("acme", "infra", "prod");
        let results = futures::future::join_all((0..16).map(|i| {
            let locks = locks.clone();
            async move {
                let id = format!("req_prod_app_{i:02}");
                let outcome = locks
                    .acquire(env, &id, "apply", t0() + Duration::seconds(i))
                    .await
                    .unwrap();
                (id, outcome)
            }
        }))
        .await;
        let holders: Vec<&String> = results
            .iter()
            .filter(|(_, o)| matches!(o, Acquire::Held { newly: true, .. }))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(holders.len(), 1, "{results:?}");
        let holder = holders[0].clone();

        // Each waiter was told its place, and the places are the queue's order:
        // the order in which their conditional writes landed.
        let mut told: Vec<(usize, String)> = results
            .iter()
            .filter_map(|(id, o)| match o {
                Acquire::Queued {
                    position,
                    holder: h,
                } => {
                    assert_eq!(h.request_id, holder);
                    Some((*position, id.clone()))
                }
                Acquire::Held { .. } => None,
            })
            .collect();
        told.sort();
        assert_eq!(
            told.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            (1..=15).collect::<Vec<_>>()
        );
        let doc = locks.get(env).await.unwrap().unwrap();
        assert_eq!(doc.holder.as_ref().unwrap().request_id, holder);
        let queue: Vec<String> = doc.queue.iter().map(|c| c.request_id.clone()).collect();
        assert_eq!(
            queue,
            told.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>()
        );

        // Release hands the lock down the queue in order, one at a time.
        let mut current = holder;
        for (i, expected) in queue.iter().enumerate() {
            let released = locks
                .release(env, &current, t0() + Duration::minutes(i as i64 + 1))
                .await
                .unwrap();
            let Release::Released { next: Some(next) } = released else {
                panic!("not handed on: {released:?}");
            };
            assert_eq!(&next.request_id, expected);
            current = next.request_id;
        }
        let last = locks.release(env, &current, t0()).await.unwrap();
        assert_eq!(last, Release::Released { next: None });
        let doc = locks.get(env).await.unwrap().unwrap();
        assert!(doc.holder.is_none() && doc.queue.is_empty());
    }

    pub async fn indexes_deliveries_and_markers(fixture: TestStore) {
        let store = fixture.store.clone();

        let runs = RunIndex::new(store.clone());
        let entry = runs.put("plan", 123456789, "req_a", t0()).await.unwrap();
        assert_eq!(entry.expires_at, t0() + Duration::days(90));
        let raw = store
            .get("webhooks/github/run-index/plan/run-123456789.json")
            .await
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
        assert_eq!(value["runId"], json!(123456789));
        assert_eq!(value["requestId"], json!("req_a"));
        assert_eq!(value["kind"], json!("plan"));
        assert_eq!(value["expiresAt"], json!("2027-02-23T12:00:00Z"));
        // First writer wins.
        let again = runs.put("plan", 123456789, "req_b", t0()).await.unwrap();
        assert_eq!(again.request_id, "req_a");
        assert_eq!(
            runs.request_id("plan", 123456789).await.unwrap().as_deref(),
            Some("req_a")
        );
        assert_eq!(runs.request_id("apply", 123456789).await.unwrap(), None);

        let deliveries = Deliveries::new(store.clone());
        let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
        assert!(!deliveries.seen(id).await.unwrap());
        assert!(deliveries.record(id, t0()).await.unwrap());
        assert!(deliveries.seen(id).await.unwrap());
        assert!(!deliveries.record(id, t0()).await.unwrap());
        assert!(
            store
                .get(&format!("webhooks/github/deliveries/{id}"))
                .await
                .is_ok()
        );

        let index = RequestIndex::new(store.clone());
        let won = index
            .link(Thread::Pr, "acme", ".github", 7, "req_a")
            .await
            .unwrap();
        assert_eq!(won, "req_a");
        let lost = index
            .link(Thread::Pr, "acme", ".github", 7, "req_b")
            .await
            .unwrap();
        assert_eq!(lost, "req_a");
        assert_eq!(
            index
                .find(Thread::Pr, "acme", ".github", 7)
                .await
                .unwrap()
                .as_deref(),
            Some("req_a")
        );
        assert_eq!(
            index
                .find(Thread::Issue, "acme", ".github", 7)
                .await
                .unwrap(),
            None
        );
        assert!(store.get("index/pr/acme/.github/7.json").await.is_ok());

        let markers = Markers::new(store.clone());
        assert!(
            markers
                .first_time("drift/prod/2026-11-25T12", t0())
                .await
                .unwrap()
        );
        assert!(
            !markers
                .first_time("drift/prod/2026-11-25T12", t0())
                .await
                .unwrap()
        );
        assert!(markers.is_set("drift/prod/2026-11-25T12").await.unwrap());
        assert!(markers.first_time("../x", t0()).await.is_err());
    }

    pub async fn racing_markers_have_one_first(fixture: TestStore) {
        let markers = Markers::new(fixture.store.clone());
        let firsts =
            futures::future::join_all((0..16).map(|_| markers.first_time("redeliver/abc", t0())))
                .await;
        let firsts = firsts.into_iter().filter(|r| *r.as_ref().unwrap()).count();
        assert_eq!(firsts, 1);
    }

    /// A claim left by an attempt that never finished is taken over once it is old
    /// enough, by exactly one of the racers; a young one is left to its owner.
    pub async fn stale_markers_are_taken_over_by_one(fixture: TestStore) {
        let markers = Markers::new(fixture.store.clone());
        let name = "command/delivery-1/comment-5/0";
        let ten = chrono::Duration::minutes(10);
        assert!(
            !markers.take_over_if_older(name, t0(), ten).await.unwrap(),
            "no marker"
        );
        assert!(markers.first_time(name, t0()).await.unwrap());
        let young = t0() + chrono::Duration::minutes(9);
        assert!(!markers.take_over_if_older(name, young, ten).await.unwrap());
        let old = t0() + ten;
        let takers =
            futures::future::join_all((0..16).map(|_| markers.take_over_if_older(name, old, ten)))
                .await;
        assert_eq!(
            takers.into_iter().filter(|r| *r.as_ref().unwrap()).count(),
            1
        );
        // The new claim is as young as the take-over: nobody takes it again now.
        assert!(!markers.take_over_if_older(name, old, ten).await.unwrap());
        assert_eq!(markers.set_at(name).await.unwrap(), Some(old));
    }
}

macro_rules! suite {
    ($backend:ident, $kind:expr; $($case:ident),* $(,)?) => {
        mod $backend {
            use super::Backend;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let label = concat!(stringify!($backend), "-", stringify!($case));
                    let Some(fixture) = super::test_store($kind, label).await.unwrap() else {
                        return;
                    };
                    super::cases::$case(fixture).await;
                }
            )*
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),* $(,)?) => {
        suite!(memory, Backend::Memory; $($case),*);
        suite!(folder, Backend::Folder; $($case),*);
        suite!(s3, Backend::S3; $($case),*);
    };
}

all_backends!(
    lost_update_8_tasks_x_50,
    create_is_if_none_match,
    empty_update_costs_no_write,
    corrupt_json_is_a_typed_error_and_left_alone,
    archive_moves_and_finishes_after_a_crash,
    lock_16_acquirers_one_holder_fifo,
    indexes_deliveries_and_markers,
    racing_markers_have_one_first,
    stale_markers_are_taken_over_by_one,
);

/// Two processes (this test binary, re-run as children) × 4 tasks × 50 updates on one
/// folder: the folder store's file lock must make them as safe as threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn folder_lost_update_across_two_processes() {
    let fixture = test_store(Backend::Folder, "two-processes")
        .await
        .unwrap()
        .unwrap();
    let dir = fixture.folder().unwrap().to_owned();
    let requests = Requests::new(fixture.store.clone());
    requests.create(&request("req_dev_s3_procs")).await.unwrap();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "--exact",
                    "folder_update_worker_process",
                    "--ignored",
                    "--nocapture",
                ])
                .env(CHILD_ENV, &dir)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        let status = child.wait().unwrap();
        assert!(status.success(), "worker process failed: {status}");
    }
    let stored = requests.get("req_dev_s3_procs").await.unwrap().unwrap();
    assert_eq!(counter(&stored), 400);
    assert_eq!(stored.version, 401);
}

/// The child half of `folder_lost_update_across_two_processes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run as a child process by folder_lost_update_across_two_processes"]
async fn folder_update_worker_process() {
    let dir = std::env::var(CHILD_ENV).expect("started by folder_lost_update_across_two_processes");
    let store: Arc<dyn Store> = Arc::new(tfpilot::store::FolderStore::open(dir).unwrap());
    let requests = Requests::new(store);
    hammer(&requests, "req_dev_s3_procs", 4, 50).await;
    println!("worker {} done", std::process::id());
}

/// "Write applied, response lost": the update must count once, not twice.
#[tokio::test]
async fn update_survives_a_lost_write_response() {
    let memory: Arc<dyn Store> = Arc::new(tfpilot::store::MemoryStore::new());
    let faulty = Arc::new(FaultStore::new(memory.clone()));
    let requests = Requests::new(faulty.clone());
    requests.create(&request("req_lost")).await.unwrap();
    faulty.inject(Fault {
        op: OpKind::Replace,
        key_prefix: "requests/".into(),
        action: FaultAction::FailAfter,
        times: 1,
    });
    let updated = requests.update("req_lost", increment).await.unwrap();
    assert!(updated.saved);
    assert!(faulty.pending().is_empty(), "the fault fired");
    let stored = Requests::new(memory)
        .get("req_lost")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counter(&stored), 1);
    assert_eq!(stored.version, 2);
}

/// A marker whose create landed but whose answer was lost is still "first time".
#[tokio::test]
async fn marker_survives_a_lost_create_response() {
    let faulty = Arc::new(FaultStore::new(
        Arc::new(tfpilot::store::MemoryStore::new()),
    ));
    faulty.inject(Fault {
        op: OpKind::Create,
        key_prefix: "markers/".into(),
        action: FaultAction::FailAfter,
        times: 1,
    });
    let markers = Markers::new(faulty.clone());
    assert!(markers.first_time("drift/dev/slot1", t0()).await.unwrap());
    assert!(faulty.pending().is_empty(), "the fault fired");
    assert!(!markers.first_time("drift/dev/slot1", t0()).await.unwrap());

    // A create that failed before reaching the store is an error, not "not first".
    faulty.inject(Fault {
        op: OpKind::Create,
        key_prefix: "markers/".into(),
        action: FaultAction::FailBefore,
        times: 1,
    });
    let err = markers
        .first_time("drift/dev/slot2", t0())
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(markers.first_time("drift/dev/slot2", t0()).await.unwrap());
}

/// Two replicas (separate S3 clients, separate connection pools) on one bucket:
/// 2 × 4 tasks × 50 updates, and both handing out one environment lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_s3_replicas_lose_no_update_and_share_one_lock() {
    let Some(first) = tfpilot::store::testing::s3_test_store("two-replicas")
        .await
        .unwrap()
    else {
        return;
    };
    let endpoint = std::env::var(tfpilot::store::testing::S3_ENDPOINT_ENV).unwrap();
    let second = tfpilot::store::S3Store::new(
        tfpilot::store::testing::client_for(&endpoint),
        first.bucket(),
        "tfpilot",
    );
    let replicas: [Arc<dyn Store>; 2] = [Arc::new(first), Arc::new(second)];
    let a = Requests::new(replicas[0].clone());
    let b = Requests::new(replicas[1].clone());
    a.create(&request("req_dev_s3_replicas")).await.unwrap();
    tokio::join!(
        hammer(&a, "req_dev_s3_replicas", 4, 50),
        hammer(&b, "req_dev_s3_replicas", 4, 50)
    );
    let stored = b.get("req_dev_s3_replicas").await.unwrap().unwrap();
    assert_eq!(counter(&stored), 400);

    let env = ("acme", "infra", "prod");
    let outcomes = futures::future::join_all((0..16).map(|i| {
        let locks = EnvLocks::new(replicas[i % 2].clone());
        async move {
            locks
                .acquire(env, &format!("req_{i:02}"), "apply", t0())
                .await
                .unwrap()
        }
    }))
    .await;
    let holders = outcomes
        .iter()
        .filter(|o| matches!(o, Acquire::Held { .. }))
        .count();
    assert_eq!(holders, 1, "{outcomes:?}");
    let doc = EnvLocks::new(replicas[0].clone())
        .get(env)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(doc.queue.len(), 15);
}
