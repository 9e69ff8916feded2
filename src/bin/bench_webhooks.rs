//! Load generator: signed webhook deliveries to tfpilot's router over loopback,
//! and optionally the same deliveries to a minimal Probot app.
//!
//! Starts the GitHub simulator and tfpilot (folder store in a temporary directory,
//! or `--store`), binds tfpilot on 127.0.0.1, and sends `--count` deliveries per
//! scenario at `--concurrency`, then prints throughput and latency percentiles for:
//!
//! - `ignorable`: `workflow_run` deliveries of an unrelated workflow (answered
//!   without touching the store);
//! - `state`: `workflow_run` deliveries that change a request's facts (each
//!   request's plan run goes queued → in_progress); the requests have no
//!   repository facts, so this is webhook → facts only, no GitHub call;
//! - `roundtrip`: the same state changes on requests whose pull requests exist
//!   in the simulator, so each change also brings the sticky PR comment and the
//!   check runs up to date through the simulator's API before the answer (the
//!   full round trip; `/tfpilot` commands are not handled yet, see the docs).
//!
//! After `state` and `roundtrip` the same deliveries are sent again with the same
//! delivery ids (`duplicate`). Store operations and GitHub calls per delivery are
//! read from tfpilot's `/metrics` (`tfpilot_store_operations_total`,
//! `tfpilot_github_calls_total`). RSS is this process's (simulator + tfpilot +
//! load generator): `VmRSS` after start, `VmHWM` at the end.
//!
//! `--probot DIR` starts `node DIR/index.js` (see `bench/probot/`) against the
//! same simulator and sends it the same `ignorable` and state deliveries; the
//! table then shows both and tfpilot/Probot throughput ratios.
//!
//! ```sh
//! bench/run.sh                      # or:
//! cargo run --bin bench_webhooks -- --count 2000 --concurrency 16 --probot bench/probot
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::http::signature::sign;
use tfpilot::sim::{TEST_APP_PRIVATE_KEY_PEM, WebhookTarget};
use tfpilot::store::{FolderStore, Store, open_store};

const USAGE: &str = "usage: bench_webhooks [--count N] [--concurrency N] [--store URL] [--probot DIR] [ignorable] [state] [roundtrip]";

struct Args {
    count: usize,
    concurrency: usize,
    store: Option<String>,
    probot: Option<PathBuf>,
    scenarios: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 2000,
        concurrency: 16,
        store: None,
        probot: None,
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
            "--probot" => args.probot = Some(it.next().ok_or("--probot DIR")?.into()),
            "ignorable" | "state" | "roundtrip" => args.scenarios.push(a),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.scenarios.is_empty() {
        args.scenarios = vec!["ignorable".into(), "state".into(), "roundtrip".into()];
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
    /// The request's PR (only Probot reads it; tfpilot uses its own index).
    pr: Option<u64>,
}

fn run_payload(e: &RunEvent<'_>, installation: u64) -> Value {
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
            "pull_requests": e.pr.map(|n| vec![json!({"number": n})]).unwrap_or_default(),
        },
        "repository": {
            "id": 1, "name": "infra", "full_name": "acme/infra",
            "owner": {"login": "acme"}, "default_branch": "main", "fork": false
        },
        "installation": {"id": installation},
    })
}

/// One signed delivery.
#[derive(Clone)]
struct Delivery {
    event: &'static str,
    id: String,
    body: Vec<u8>,
}

fn delivery(payload: &Value) -> Delivery {
    Delivery {
        event: "workflow_run",
        id: format!("bench-{:032x}", rand::random::<u128>()),
        body: serde_json::to_vec(payload).unwrap_or_default(),
    }
}

struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

/// Throughput and percentiles of one run.
#[derive(Clone, Copy, Default)]
struct Stats {
    n: usize,
    errors: usize,
    throughput: f64,
    p50: f64,
    p90: f64,
    p99: f64,
}

impl Sample {
    fn stats(mut self) -> Stats {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies
                .get(i)
                .copied()
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0
        };
        Stats {
            n: self.latencies.len(),
            errors: self.errors,
            throughput: self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
        }
    }
}

async fn fire(
    client: &reqwest::Client,
    url: &str,
    deliveries: Vec<Delivery>,
    concurrency: usize,
) -> Stats {
    let queue = Arc::new(std::sync::Mutex::new(deliveries.into_iter()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let client = client.clone();
        let queue = queue.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(d) = next else {
                    break;
                };
                let sig = sign(SECRET.as_bytes(), &d.body);
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .header("x-github-event", d.event)
                    .header("x-github-delivery", &d.id)
                    .header("x-hub-signature-256", sig)
                    .header("content-type", "application/json")
                    .body(d.body)
                    .send()
                    .await;
                let ok = match resp {
                    // Read the body so the connection goes back to the pool.
                    Ok(r) => {
                        let ok = r.status().is_success();
                        let _ = r.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                if !ok {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            latencies.extend(l);
            errors += e;
        }
    }
    Sample {
        latencies,
        elapsed: started.elapsed(),
        errors,
    }
    .stats()
}

fn print_row(who: &str, scenario: &str, store: &str, s: &Stats) {
    println!(
        "{who:<8} {scenario:<10} store={store:<7} n={:<6} errors={:<4} throughput={:>8.0}/s  p50={:>7.2}ms  p90={:>7.2}ms  p99={:>7.2}ms",
        s.n, s.errors, s.throughput, s.p50, s.p90, s.p99,
    );
}

/// Counters read from tfpilot's `/metrics`.
#[derive(Clone, Default)]
struct Counters {
    store_ops: f64,
    store_writes: f64,
    github_calls: f64,
    by_op: BTreeMap<String, f64>,
    outcomes: BTreeMap<String, f64>,
}

impl Counters {
    fn since(&self, before: &Counters) -> Counters {
        Counters {
            store_ops: self.store_ops - before.store_ops,
            store_writes: self.store_writes - before.store_writes,
            github_calls: self.github_calls - before.github_calls,
            by_op: diff(&self.by_op, &before.by_op),
            outcomes: diff(&self.outcomes, &before.outcomes),
        }
    }
}

fn diff(now: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    now.iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

/// The value of a label in an OpenMetrics sample line.
fn label<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!("{name}=\""))? + name.len() + 2;
    let rest = line.get(start..)?;
    rest.get(..rest.find('"')?)
}

async fn read_metrics(client: &reqwest::Client, base: &str) -> Counters {
    let text = match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut c = Counters::default();
    for line in text.lines() {
        let Some(value) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        if line.starts_with("tfpilot_store_operations_total") {
            c.store_ops += value;
            if let Some(op) = label(line, "op") {
                *c.by_op.entry(op.to_string()).or_default() += value;
            }
            if matches!(label(line, "op"), Some("create" | "replace" | "delete")) {
                c.store_writes += value;
            }
        } else if line.starts_with("tfpilot_github_calls_total") {
            c.github_calls += value;
        } else if line.starts_with("tfpilot_webhook_deliveries_total")
            && let Some(outcome) = label(line, "outcome")
        {
            *c.outcomes.entry(outcome.to_string()).or_default() += value;
        }
    }
    c
}

fn print_costs(scenario: &str, n: usize, c: &Counters) {
    let n = n.max(1) as f64;
    let outcomes: Vec<String> = c
        .outcomes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(c.by_op.iter().map(|(k, v)| format!("{k}={:.2}/d", v / n)))
        .collect();
    println!(
        "tfpilot  {scenario:<10} per delivery: store ops {:.2} (writes {:.2}), GitHub calls {:.2}   [{}]",
        c.store_ops / n,
        c.store_writes / n,
        c.github_calls / n,
        outcomes.join(" "),
    );
}

/// `VmRSS`/`VmHWM` of a process, in kB.
fn proc_kb(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn ignorable_deliveries(count: usize, installation: u64) -> Vec<Delivery> {
    (0..count)
        .map(|i| {
            delivery(&run_payload(
                &RunEvent {
                    run_id: i as u64 + 1,
                    request_id: "x",
                    name: "CI",
                    title: "Bump serde",
                    action: "completed",
                    status: "completed",
                    conclusion: Some("success"),
                    updated: "2026-11-25T09:01:00Z",
                    pr: None,
                },
                installation,
            ))
        })
        .collect()
}

/// Creates request docs (ids `req_dev_s3-bucket_<letter><n>`) and
/// returns two state-changing deliveries per request (plan run queued, then
/// in progress), at most `count`. With `with_prs`, each request gets a branch
/// and an open pull request in the simulator and the repository facts that
/// make tfpilot show its status there.
async fn state_deliveries(
    h: &Harness,
    count: usize,
    prefix: u8,
    with_prs: bool,
) -> Result<Vec<Delivery>, Box<dyn std::error::Error>> {
    let installation = h.sim.installation_id();
    let requests = count.div_ceil(2);
    let mut ids = Vec::new();
    // The setup's own deliveries (pull_request.opened) are not part of the
    // measurement: send them to a closed port instead of tfpilot.
    h.sim
        .set_webhook_target(WebhookTarget::Url("http://127.0.0.1:9/".into()));
    for r in 0..requests {
        let id = format!("req_dev_s3-bucket_{}{r:05}", char::from(b'a' + prefix % 26));
        let rid = RequestId::parse(&id)?;
        let mut doc = Request::new(&rid);
        doc.environment = Some("dev".into());
        let mut pr_number = None;
        if with_prs {
            let branch = format!("request/{id}");
            let file = format!("envs/dev/tfpilot_{id}.tf");
            h.sim.push(
                INFRA_REPO,
                &branch,
                "alice",
                &[(&file, Some("# bench\n"))],
                "bench request",
            )?;
            let n = h
                .sim
                .open_pull(INFRA_REPO, "alice", &branch, "main", &id, "bench")?;
            doc.installation_id = Some(installation);
            doc.target_owner = Some("acme".into());
            doc.target_repo = Some("infra".into());
            let mut pr = PrFacts::new(n);
            pr.open = true;
            doc.github_mut().pr = Some(pr);
            pr_number = Some(n);
        }
        h.state.service.requests.create(&doc).await?;
        ids.push((id, pr_number));
    }
    h.settle().await?;
    h.sim
        .set_webhook_target(WebhookTarget::Router(h.app.clone()));
    let mut out = Vec::new();
    for (action, status, at) in [
        ("requested", "queued", "2026-11-25T09:01:00Z"),
        ("in_progress", "in_progress", "2026-11-25T09:02:00Z"),
    ] {
        for (r, (id, pr)) in ids.iter().enumerate() {
            let run_id = (u64::from(prefix) + 1) * 1_000_000 + r as u64;
            let title = format!("tfpilot plan {id} nonce{r}");
            out.push(delivery(&run_payload(
                &RunEvent {
                    run_id,
                    request_id: id,
                    name: "tfpilot plan",
                    title: &title,
                    action,
                    status,
                    conclusion: None,
                    updated: at,
                    pr: *pr,
                },
                installation,
            )));
        }
    }
    out.truncate(count);
    Ok(out)
}

/// A running Probot app.
struct Probot {
    child: tokio::process::Child,
    pid: String,
    url: String,
    idle_rss_kb: Option<u64>,
    store: PathBuf,
}

async fn start_probot(
    dir: &std::path::Path,
    h: &Harness,
) -> Result<Probot, Box<dyn std::error::Error>> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let store = scratch_dir("probot")?;
    let child = tokio::process::Command::new("node")
        .arg("index.js")
        .current_dir(dir)
        .env("PORT", port.to_string())
        .env(
            "APP_ID",
            tfpilot::sim::SimConfig::for_tests().app_id.to_string(),
        )
        .env("PRIVATE_KEY", TEST_APP_PRIVATE_KEY_PEM)
        .env("WEBHOOK_SECRET", SECRET)
        .env("GITHUB_API_URL", h.sim.base_url())
        .env("STORE_DIR", &store)
        .env(
            "LOG_LEVEL",
            std::env::var("PROBOT_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        )
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return Err("Probot did not start listening within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Probot {
        idle_rss_kb: proc_kb(&pid, "VmRSS:"),
        child,
        pid,
        url: format!("http://127.0.0.1:{port}/api/github/webhooks"),
        store,
    })
}

/// A fresh directory under the system's temporary directory.
fn scratch_dir(what: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "tfpilot-bench-{what}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.1}x", a / b)
    } else {
        "n/a".into()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp = scratch_dir("tfpilot")?;
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
    let base = format!("http://{}", listener.local_addr()?);
    let url = format!("{base}/webhooks/github");
    let app = h.app.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let idle = proc_kb("self", "VmRSS:").unwrap_or(0);
    println!(
        "tfpilot on {url}; count={} concurrency={}; idle RSS {} kB (simulator + tfpilot + load generator)",
        args.count, args.concurrency, idle
    );

    let installation = h.sim.installation_id();
    let mut summary: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut prefix: u8 = 0;
    for scenario in &args.scenarios {
        match scenario.as_str() {
            "ignorable" => {
                let before = read_metrics(&client, &base).await;
                let s = fire(
                    &client,
                    &url,
                    ignorable_deliveries(args.count, installation),
                    args.concurrency,
                )
                .await;
                print_row("tfpilot", "ignorable", &store_label, &s);
                print_costs(
                    "ignorable",
                    s.n,
                    &read_metrics(&client, &base).await.since(&before),
                );
                summary.insert("ignorable", s);
            }
            "state" | "roundtrip" => {
                let with_prs = scenario == "roundtrip";
                prefix += 1;
                let deliveries = state_deliveries(&h, args.count, prefix, with_prs).await?;
                let again = deliveries.clone();
                let before = read_metrics(&client, &base).await;
                let s = fire(&client, &url, deliveries, args.concurrency).await;
                let after = read_metrics(&client, &base).await;
                print_row("tfpilot", scenario, &store_label, &s);
                print_costs(scenario, s.n, &after.since(&before));
                let d = fire(&client, &url, again, args.concurrency).await;
                print_row("tfpilot", "duplicate", &store_label, &d);
                print_costs(
                    "duplicate",
                    d.n,
                    &read_metrics(&client, &base).await.since(&after),
                );
                summary.insert(if with_prs { "roundtrip" } else { "state" }, s);
            }
            _ => {}
        }
    }
    println!(
        "tfpilot  RSS idle {} kB, peak (VmHWM) {} kB",
        idle,
        proc_kb("self", "VmHWM:").unwrap_or(0)
    );

    if let Some(dir) = &args.probot {
        let mut p = start_probot(dir, &h).await?;
        println!(
            "probot   on {} (node {}); idle RSS {} kB (node only)",
            p.url,
            p.pid,
            p.idle_rss_kb.unwrap_or(0)
        );
        let mut rows = Vec::new();
        if summary.contains_key("ignorable") {
            let s = fire(
                &client,
                &p.url,
                ignorable_deliveries(args.count, installation),
                args.concurrency,
            )
            .await;
            print_row("probot", "ignorable", "json", &s);
            rows.push(("ignorable", "ignorable", s));
        }
        if let Some(ours) = ["roundtrip", "state"]
            .into_iter()
            .find(|k| summary.contains_key(k))
        {
            prefix += 1;
            // Probot writes a JSON file and posts a comment on the request's PR per delivery.
            let deliveries = state_deliveries(&h, args.count, prefix, true).await?;
            let s = fire(&client, &p.url, deliveries, args.concurrency).await;
            print_row("probot", "state", "json", &s);
            rows.push((ours, "state", s));
        }
        println!(
            "probot   RSS idle {} kB, peak (VmHWM) {} kB",
            p.idle_rss_kb.unwrap_or(0),
            proc_kb(&p.pid, "VmHWM:").unwrap_or(0)
        );
        println!();
        println!(
            "{:<22} {:>12} {:>12} {:>8} {:>12} {:>12}",
            "scenario (tfpilot/probot)",
            "tfpilot /s",
            "probot /s",
            "ratio",
            "tfpilot p99",
            "probot p99"
        );
        for (ours, theirs, s) in rows {
            let t = summary.get(ours).copied().unwrap_or_default();
            println!(
                "{:<22} {:>12.0} {:>12.0} {:>8} {:>10.2}ms {:>10.2}ms",
                format!("{ours}/{theirs}"),
                t.throughput,
                s.throughput,
                ratio(t.throughput, s.throughput),
                t.p99,
                s.p99
            );
        }
        let _ = p.child.kill().await;
        let _ = std::fs::remove_dir_all(&p.store);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
