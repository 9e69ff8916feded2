//! Load generator: signed webhook deliveries to tfpilot's router over loopback.
//!
//! Starts the GitHub simulator and tfpilot (folder store in a temporary directory,
//! or `--store`), binds tfpilot on 127.0.0.1, and sends `--count` deliveries at
//! `--concurrency`, then prints throughput and latency percentiles for:
//!
//! - `ignorable`: `workflow_run` deliveries of an unrelated workflow (answered
//!   without touching the store);
//! - `state`: `workflow_run` deliveries that change a request's facts (each
//!   request's plan run goes queued → in_progress → completed).
//!
//! ```sh
//! cargo run --release --bin bench_webhooks -- --count 5000 --concurrency 16
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request};
use tfpilot::harness::{Harness, HarnessOptions};
use tfpilot::http::signature::sign;
use tfpilot::store::{FolderStore, Store, open_store};

struct Args {
    count: usize,
    concurrency: usize,
    store: Option<String>,
    scenarios: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 2000,
        concurrency: 16,
        store: None,
        scenarios: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--count" => args.count = it.next().and_then(|v| v.parse().ok()).ok_or("--count N")?,
            "--concurrency" => {
                args.concurrency = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--concurrency N")?
            }
            "--store" => args.store = Some(it.next().ok_or("--store URL")?),
            "ignorable" | "state" => args.scenarios.push(a),
            "-h" | "--help" => {
                return Err("usage: bench_webhooks [--count N] [--concurrency N] [--store URL] [ignorable] [state]".into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.scenarios.is_empty() {
        args.scenarios = vec!["ignorable".into(), "state".into()];
    }
    Ok(args)
}

const SECRET: &str = "sim-webhook-secret";

/// One `workflow_run` delivery to send.
struct RunEvent<'a> {
    run_id: u64,
    request_id: &'a str,
    name: &'a str,
    title: &'a str,
    action: &'a str,
    status: &'a str,
    conclusion: Option<&'a str>,
    updated: &'a str,
}

fn run_payload(e: &RunEvent<'_>) -> Value {
    json!({
        "action": e.action,
        "workflow_run": {
            "id": e.run_id,
            "name": e.name,
            "display_title": e.title,
            "status": e.status,
            "conclusion": e.conclusion,
            "head_branch": format!("request/{}", e.request_id),
            "head_sha": "0123456789abcdef0123456789abcdef01234567",
            "run_attempt": 1,
            "updated_at": e.updated,
            "created_at": "2026-11-25T09:00:00Z",
            "html_url": format!("https://github.com/acme/infra/actions/runs/{}", e.run_id),
            "event": "workflow_dispatch",
        },
        "repository": {
            "id": 1, "name": "infra", "full_name": "acme/infra",
            "owner": {"login": "acme"}, "default_branch": "main", "fork": false
        },
        "installation": {"id": 777},
    })
}

struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

async fn fire(url: &str, bodies: Vec<(String, Vec<u8>)>, concurrency: usize) -> Sample {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("http client");
    let bodies = Arc::new(tokio::sync::Mutex::new(bodies.into_iter().enumerate()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let bodies = bodies.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let next = bodies.lock().await.next();
                let Some((i, (event, body))) = next else {
                    break;
                };
                let sig = sign(SECRET.as_bytes(), &body);
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("x-github-event", event)
                    .header(
                        "x-github-delivery",
                        format!("bench-{i}-{}", rand::random::<u64>()),
                    )
                    .header("x-hub-signature-256", sig)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                lat.push(t.elapsed());
                match resp {
                    Ok(r) if r.status().is_success() => {}
                    _ => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        latencies.extend(l);
        errors += e;
    }
    Sample {
        latencies,
        elapsed: started.elapsed(),
        errors,
    }
}

fn report(name: &str, store: &str, mut s: Sample) {
    s.latencies.sort();
    let pct = |p: f64| {
        let i = ((s.latencies.len() as f64 - 1.0) * p).round() as usize;
        s.latencies
            .get(i)
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1000.0
    };
    println!(
        "{name:<10} store={store:<7} n={:<6} errors={:<3} throughput={:>9.0}/s  p50={:>6.2}ms  p90={:>6.2}ms  p99={:>6.2}ms",
        s.latencies.len(),
        s.errors,
        s.latencies.len() as f64 / s.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
    );
}

fn rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp = std::env::temp_dir().join(format!("tfpilot-bench-{}", std::process::id()));
    let (store, store_label): (Arc<dyn Store>, String) = match &args.store {
        Some(url) => (
            open_store(url).await?,
            url.split(':').next().unwrap_or("?").to_string(),
        ),
        None => (Arc::new(FolderStore::open(&tmp)?), "folder".to_string()),
    };
    let h = Harness::start(HarnessOptions {
        store: Some(store),
        ..HarnessOptions::default()
    })
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/github", listener.local_addr()?);
    let app = h.app.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    println!(
        "tfpilot on {url}; rss at start {} kB",
        rss_kb().unwrap_or(0)
    );

    for scenario in &args.scenarios {
        match scenario.as_str() {
            "ignorable" => {
                let bodies = (0..args.count)
                    .map(|i| {
                        let p = run_payload(&RunEvent {
                            run_id: i as u64 + 1,
                            request_id: "x",
                            name: "CI",
                            title: "Bump serde",
                            action: "completed",
                            status: "completed",
                            conclusion: Some("success"),
                            updated: "2026-11-25T09:01:00Z",
                        });
                        (
                            "workflow_run".to_string(),
                            serde_json::to_vec(&p).expect("json"),
                        )
                    })
                    .collect();
                report(
                    "ignorable",
                    &store_label,
                    fire(&url, bodies, args.concurrency).await,
                );
            }
            "state" => {
                // One request per three deliveries: each delivery is a real change.
                let requests = args.count.div_ceil(3);
                let mut bodies = Vec::new();
                for r in 0..requests {
                    let id = RequestId::parse(&format!("req_dev_s3-bucket_{:06}", r)).expect("id");
                    let mut doc = Request::new(&id);
                    doc.environment = Some("dev".into());
                    doc.installation_id = Some(777);
                    doc.target_owner = Some("acme".into());
                    doc.target_repo = Some("infra".into());
                    let mut pr = PrFacts::new(r as u64 + 1);
                    pr.open = true;
                    doc.github_mut().pr = Some(pr);
                    h.state.service.requests.create(&doc).await?;
                }
                for (step, (action, status, conclusion, at)) in [
                    ("requested", "queued", None, "2026-11-25T09:01:00Z"),
                    ("in_progress", "in_progress", None, "2026-11-25T09:02:00Z"),
                    (
                        "completed",
                        "completed",
                        Some("success"),
                        "2026-11-25T09:03:00Z",
                    ),
                ]
                .into_iter()
                .enumerate()
                {
                    let _ = step;
                    for r in 0..requests {
                        let id = format!("req_dev_s3-bucket_{:06}", r);
                        let run_id = 1_000_000 + r as u64;
                        let title = format!("tfpilot plan {id} nonce{r}");
                        let p = run_payload(&RunEvent {
                            run_id,
                            request_id: &id,
                            name: "tfpilot plan",
                            title: &title,
                            action,
                            status,
                            conclusion,
                            updated: at,
                        });
                        bodies.push((
                            "workflow_run".to_string(),
                            serde_json::to_vec(&p).expect("json"),
                        ));
                    }
                }
                bodies.truncate(args.count);
                let before = h.store_counts.counts();
                let n = bodies.len() as u64;
                report(
                    "state",
                    &store_label,
                    fire(&url, bodies, args.concurrency).await,
                );
                let ops = h.store_counts.counts().since(&before);
                let total: u64 = [
                    tfpilot::store::OpKind::Get,
                    tfpilot::store::OpKind::Create,
                    tfpilot::store::OpKind::Replace,
                    tfpilot::store::OpKind::Delete,
                    tfpilot::store::OpKind::List,
                ]
                .into_iter()
                .map(|k| ops.total(k))
                .sum();
                println!(
                    "state      store ops per delivery: {:.2} (writes {:.2})",
                    total as f64 / n as f64,
                    ops.writes() as f64 / n as f64
                );
            }
            _ => {}
        }
    }
    println!("rss at end {} kB", rss_kb().unwrap_or(0));
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
