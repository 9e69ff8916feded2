//! Store benchmark: ops/s and latency for get, create-if-absent, replace-if-match and
//! a full `Requests::update`, per backend.
//!
//! `cargo run --bin bench_store -- [--ops N] [--concurrency C] [memory] [folder] [s3]`
//! The folder store runs in a fresh temp folder; S3 in a fresh bucket on
//! `TFPILOT_TEST_S3_ENDPOINT` (start moto first, see `.ci/moto.sh`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tfpilot::core::request::Request;
use tfpilot::store::testing::{Backend, test_store};
use tfpilot::store::{Requests, Store};

struct Args {
    ops: usize,
    concurrency: usize,
    backends: Vec<Backend>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ops: 1000,
        concurrency: 1,
        backends: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |name: &str| -> Result<usize, String> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{name} needs a positive number"))
        };
        match arg.as_str() {
            "--ops" => args.ops = number("--ops")?,
            "--concurrency" => args.concurrency = number("--concurrency")?,
            "memory" => args.backends.push(Backend::Memory),
            "folder" => args.backends.push(Backend::Folder),
            "s3" => args.backends.push(Backend::S3),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.backends.is_empty() {
        args.backends = vec![Backend::Folder, Backend::S3];
    }
    Ok(args)
}

/// A request document of a realistic size (~2 KB).
fn document(id: &str) -> Request {
    serde_json::from_value(serde_json::json!({
        "id": id,
        "version": 1,
        "counter": 0,
        "padding": "x".repeat(1800),
    }))
    .expect("a valid request document")
}

struct Stats {
    name: &'static str,
    ops: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn print(&mut self, backend: &str, concurrency: usize) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies.get(i).copied().unwrap_or_default()
        };
        println!(
            "| {backend:<6} | {:<24} | {:>5} | {:>5} | {:>9.0} | {:>8.2} | {:>8.2} |",
            self.name,
            self.ops,
            concurrency,
            self.ops as f64 / self.elapsed.as_secs_f64(),
            pct(0.5).as_secs_f64() * 1000.0,
            pct(0.99).as_secs_f64() * 1000.0,
        );
    }
}

/// Runs `op(worker, i)` for i in 0..ops on `concurrency` workers, each sequentially
/// over its own share (so a worker can own a key); exits on the first error.
async fn measure<F, Fut>(name: &'static str, ops: usize, concurrency: usize, op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let start = Instant::now();
    let op = &op;
    let per_worker = futures::future::join_all((0..concurrency).map(|worker| async move {
        let mut latencies = Vec::new();
        for i in (worker..ops).step_by(concurrency) {
            let t = Instant::now();
            if let Err(e) = op(worker, i).await {
                eprintln!("{name} failed: {e}");
                std::process::exit(1);
            }
            latencies.push(t.elapsed());
        }
        latencies
    }))
    .await;
    Stats {
        name,
        ops,
        elapsed: start.elapsed(),
        latencies: per_worker.into_iter().flatten().collect(),
    }
}

async fn bench(store: Arc<dyn Store>, backend: &str, ops: usize, concurrency: usize) {
    let body = Bytes::from(serde_json::to_vec_pretty(&document("req_bench")).unwrap_or_default());

    let mut create = measure("create (If-None-Match)", ops, concurrency, |_, i| {
        let store = Arc::clone(&store);
        let body = body.clone();
        async move {
            store
                .create(&format!("bench/create/{i:06}.json"), body)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    create.print(backend, concurrency);

    // Replace-if-match on one key per in-flight slot, so every write is a winning CAS.
    let slots: Vec<_> = (0..concurrency)
        .map(|s| format!("bench/replace/{s}.json"))
        .collect();
    for key in &slots {
        if let Err(e) = store.create(key, body.clone()).await {
            eprintln!("setup failed: {e}");
            std::process::exit(1);
        }
    }
    let mut replace = measure("replace (If-Match)", ops, concurrency, |worker, i| {
        let store = Arc::clone(&store);
        let key = slots[worker].clone();
        let mut next = body.to_vec();
        next.extend_from_slice(format!("{i}").as_bytes());
        async move {
            // Each worker owns its key, so every conditional write should win.
            let current = store.get(&key).await.map_err(|e| e.to_string())?;
            store
                .replace(&key, Bytes::from(next), &current.etag)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    replace.name = "get + replace (If-Match)";
    replace.print(backend, concurrency);

    let mut get = measure("get", ops, concurrency, |_, i| {
        let store = Arc::clone(&store);
        async move {
            store
                .get(&format!("bench/create/{i:06}.json"))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    get.print(backend, concurrency);

    let requests = Requests::new(Arc::clone(&store));
    let ids: Vec<String> = (0..concurrency).map(|s| format!("req_bench_{s}")).collect();
    for id in &ids {
        if let Err(e) = requests.create(&document(id)).await {
            eprintln!("setup failed: {e}");
            std::process::exit(1);
        }
    }
    let mut update = measure("Requests::update", ops, concurrency, |worker, _| {
        let requests = requests.clone();
        let id = ids[worker].clone();
        async move {
            requests
                .update(&id, |r| {
                    let mut next = r.clone();
                    let n = r.extra.get("counter").and_then(|v| v.as_u64()).unwrap_or(0);
                    next.extra
                        .insert("counter".into(), serde_json::json!(n + 1));
                    Some(next)
                })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;
    update.print(backend, concurrency);
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench_store: {e}");
            eprintln!("usage: bench_store [--ops N] [--concurrency C] [memory] [folder] [s3]");
            std::process::exit(2);
        }
    };
    println!(
        "| store  | operation                |   ops | tasks |     ops/s | p50 (ms) | p99 (ms) |"
    );
    println!(
        "|--------|--------------------------|------:|------:|----------:|---------:|---------:|"
    );
    for backend in &args.backends {
        let name = match backend {
            Backend::Memory => "memory",
            Backend::Folder => "folder",
            Backend::S3 => "s3",
        };
        let fixture = match test_store(*backend, "bench").await {
            Ok(Some(fixture)) => fixture,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("bench_store: {e}");
                std::process::exit(1);
            }
        };
        bench(fixture.store.clone(), name, args.ops, args.concurrency).await;
    }
}
