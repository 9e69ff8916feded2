//! Load generator: signed webhook deliveries to tfpilot's router over loopback,
//! and optionally the same deliveries to a minimal Probot app.
//!
//! Starts the GitHub simulator and tfpilot (folder store in a temporary directory,
//! or `--store`) on their own tokio runtime and threads, binds tfpilot on
//! 127.0.0.1, and sends `--count` deliveries per scenario at `--concurrency` from
//! another runtime on another thread. The sender is a minimal HTTP/1.1 client
//! over keep-alive connections writing requests prepared and signed before the
//! clock starts, so it costs the machine as little as possible and the same for
//! tfpilot and Probot. It prints throughput and latency percentiles for:
//!
//! - `ignorable`: `workflow_run` deliveries of an unrelated workflow (answered
//!   without touching the store);
//! - `state`: `workflow_run` deliveries that change a request's facts (each
//!   request's plan run goes queued → in_progress); the requests have no
//!   repository facts, so this is webhook → facts only, no GitHub call;
//! - `roundtrip`: the same state changes on requests whose pull requests exist
//!   in the simulator, so each change also brings the sticky PR comment and the
//!   check runs up to date through the simulator's API before the answer;
//! - `command`: a `/tfpilot plan` comment on each request's PR, handled in full
//!   (authorization, the plan dispatch, the sticky comment and check runs, the
//!   reply and the reaction) against the simulator.
//!
//! After `state`, `roundtrip` and `command` the same deliveries are sent again
//! with the same delivery ids (`duplicate`). Store operations and GitHub calls per
//! delivery are read from tfpilot's `/metrics` (`tfpilot_store_operations_total`,
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
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::http::signature::sign;
use tfpilot::sim::{Permission, TEST_APP_PRIVATE_KEY_PEM, WebhookTarget};
use tfpilot::store::{FolderStore, Store, open_store};

type BoxError = Box<dyn std::error::Error>;

const USAGE: &str = "usage: bench_webhooks [--count N] [--ignorable-count N] [--concurrency N] [--store URL] [--probot DIR] [ignorable] [state] [roundtrip] [command]";

struct Args {
    count: usize,
    /// Ignorable deliveries are answered so fast that `count` of them is over
    /// in a few tens of milliseconds: too short to measure.
    ignorable_count: usize,
    concurrency: usize,
    store: Option<String>,
    probot: Option<PathBuf>,
    scenarios: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 2000,
        ignorable_count: 20_000,
        concurrency: 16,
        store: None,
        probot: None,
        scenarios: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--count" => args.count = it.next().and_then(|v| v.parse().ok()).ok_or("--count N")?,
            "--ignorable-count" => {
                args.ignorable_count = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--ignorable-count N")?
            }
            "--concurrency" => {
                args.concurrency = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--concurrency N")?
            }
            "--store" => args.store = Some(it.next().ok_or("--store URL")?),
            "--probot" => args.probot = Some(it.next().ok_or("--probot DIR")?.into()),
            "ignorable" | "state" | "roundtrip" | "command" => args.scenarios.push(a),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.scenarios.is_empty() {
        args.scenarios = ["ignorable", "state", "roundtrip", "command"]
            .map(String::from)
            .to_vec();
    }
    Ok(args)
}

const SECRET: &str = "sim-webhook-secret";
/// The requester of the bench's requests, allowed to ask for plans.
const REQUESTER: &str = "alice";

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

/// One signed delivery (signed when made, before any clock starts).
#[derive(Clone)]
struct Delivery {
    event: String,
    id: String,
    body: Vec<u8>,
    signature: String,
}

impl Delivery {
    fn new(event: &str, id: String, payload: &Value) -> Delivery {
        let body = serde_json::to_vec(payload).unwrap_or_default();
        Delivery {
            event: event.to_string(),
            id,
            signature: sign(SECRET.as_bytes(), &body),
            body,
        }
    }

    /// The whole HTTP/1.1 request for `path` on `addr`.
    fn request(&self, addr: SocketAddr, path: &str) -> Vec<u8> {
        let mut out = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nuser-agent: GitHub-Hookshot/bench\r\nx-github-event: {}\r\nx-github-delivery: {}\r\nx-hub-signature-256: {}\r\ncontent-length: {}\r\n\r\n",
            self.event,
            self.id,
            self.signature,
            self.body.len()
        )
        .into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

fn delivery(payload: &Value) -> Delivery {
    Delivery::new(
        "workflow_run",
        format!("bench-{:032x}", rand::random::<u128>()),
        payload,
    )
}

struct Sample {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

/// Throughput and percentiles of one run.
#[derive(Clone, Copy, Default)]
struct Stats {
    /// CPU time (user + system) of the server per delivery, in microseconds.
    cpu_us: Option<f64>,
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
            cpu_us: None,
            n: self.latencies.len(),
            errors: self.errors,
            throughput: self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9),
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
        }
    }
}

/// Where to send deliveries.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    path: String,
}

impl Target {
    fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }
}

/// Sends `deliveries` to `target` over `concurrency` keep-alive connections,
/// one request at a time on each; the status of each answer is checked.
async fn fire(target: &Target, deliveries: &[Delivery], concurrency: usize) -> Stats {
    let requests: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|d| d.request(target.addr, &target.path))
        .collect();
    let queue = Arc::new(std::sync::Mutex::new(requests.into_iter()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let queue = queue.clone();
        let addr = target.addr;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut conn: Option<TcpStream> = None;
            let mut buf = Vec::with_capacity(4096);
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some(req) = next else {
                    break;
                };
                let t = Instant::now();
                let answer = match conn.take() {
                    Some(c) => Ok(c),
                    None => connect(addr).await,
                };
                let ok = match answer {
                    Ok(mut c) => match exchange(&mut c, &req, &mut buf).await {
                        Ok((status, keep)) => {
                            if keep {
                                conn = Some(c);
                            }
                            (200..300).contains(&status)
                        }
                        Err(_) => false,
                    },
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

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let c = TcpStream::connect(addr).await?;
    c.set_nodelay(true)?;
    Ok(c)
}

/// Writes one request and reads its whole answer (`Content-Length` or chunked
/// body); returns the status and whether the connection stays open.
async fn exchange(
    c: &mut TcpStream,
    req: &[u8],
    buf: &mut Vec<u8>,
) -> std::io::Result<(u16, bool)> {
    use std::io::{Error, ErrorKind};
    c.write_all(req).await?;
    buf.clear();
    let bad = |what: &str| Error::new(ErrorKind::InvalidData, what.to_string());
    let head_end = loop {
        if c.read_buf(buf).await? == 0 {
            return Err(Error::from(ErrorKind::UnexpectedEof));
        }
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| bad("head"))?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("status line"))?;
    let mut length = None;
    let mut chunked = false;
    let mut keep = true;
    for line in head.lines().skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep = !value.eq_ignore_ascii_case("close");
        }
    }
    if chunked {
        // Small answers: read until the last chunk.
        while !buf[head_end..].ends_with(b"0\r\n\r\n") {
            if c.read_buf(buf).await? == 0 {
                return Err(Error::from(ErrorKind::UnexpectedEof));
            }
        }
    } else {
        let want = head_end + length.unwrap_or(0);
        while buf.len() < want {
            if c.read_buf(buf).await? == 0 {
                return Err(Error::from(ErrorKind::UnexpectedEof));
            }
        }
    }
    Ok((status, keep))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn print_row(who: &str, scenario: &str, store: &str, s: &Stats) {
    let cpu = s
        .cpu_us
        .map(|us| format!("  cpu={us:.0}us/d"))
        .unwrap_or_default();
    println!(
        "{who:<8} {scenario:<10} store={store:<7} n={:<6} errors={:<4} throughput={:>8.0}/s  p50={:>7.2}ms  p90={:>7.2}ms  p99={:>7.2}ms{cpu}",
        s.n, s.errors, s.throughput, s.p50, s.p90, s.p99,
    );
}

/// The server's CPU time (user + system, in clock ticks of 10 ms): the
/// threads named `comm` of process `pid`, or the whole process.
fn cpu_ticks(pid: &str, comm: Option<&str>) -> Option<u64> {
    let ticks = |stat: &str| -> Option<(String, u64)> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let name = stat.get(open + 1..close)?.to_string();
        let fields: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
        // Fields 14 and 15 of proc(5), counted from the state (field 3).
        let user: u64 = fields.get(11)?.parse().ok()?;
        let system: u64 = fields.get(12)?.parse().ok()?;
        Some((name, user + system))
    };
    match comm {
        None => ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?).map(|t| t.1),
        Some(comm) => {
            let mut sum = 0;
            for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
                let path = task.ok()?.path().join("stat");
                if let Some((name, t)) = std::fs::read_to_string(path).ok().and_then(|s| ticks(&s))
                    && name == comm
                {
                    sum += t;
                }
            }
            Some(sum)
        }
    }
}

/// Runs `fire` and adds the server's CPU time per delivery.
async fn measured(
    target: &Target,
    deliveries: &[Delivery],
    concurrency: usize,
    server: (&str, Option<&str>),
) -> Stats {
    let before = cpu_ticks(server.0, server.1);
    let mut s = fire(target, deliveries, concurrency).await;
    let after = cpu_ticks(server.0, server.1);
    if let (Some(b), Some(a)) = (before, after) {
        // Clock ticks are 10 ms (USER_HZ = 100 on Linux).
        s.cpu_us = Some((a.saturating_sub(b) as f64 * 10_000.0) / s.n.max(1) as f64);
    }
    s
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

/// Creates `n` request docs (ids `req_dev_s3-bucket_<letter><n>`). With
/// `with_prs`, each request gets a branch and an open pull request in the
/// simulator and the repository facts that make tfpilot show its status there.
/// Returns the ids with their PR numbers.
async fn requests(
    h: &Harness,
    n: usize,
    prefix: u8,
    with_prs: bool,
) -> Result<Vec<(String, Option<u64>)>, BoxError> {
    let installation = h.sim.installation_id();
    let mut ids = Vec::new();
    // The setup's own deliveries (pull_request.opened, comments) are not part
    // of the measurement: send them to a closed port instead of tfpilot.
    h.sim
        .set_webhook_target(WebhookTarget::Url("http://127.0.0.1:9/".into()));
    for r in 0..n {
        let id = format!("req_dev_s3-bucket_{}{r:05}", char::from(b'a' + prefix % 26));
        let rid = RequestId::parse(&id)?;
        let mut doc = Request::new(&rid);
        doc.environment = Some("dev".into());
        doc.requester = Some(REQUESTER.into());
        let mut pr_number = None;
        if with_prs {
            let branch = format!("request/{id}");
            let file = format!("envs/dev/tfpilot_{id}.tf");
            let module = format!(
                "module \"tfpilot_{id}\" {{\n  source = \"../../modules/s3-bucket\"\n  name   = \"{id}\"\n}}\n"
            );
            h.sim.push(
                INFRA_REPO,
                &branch,
                REQUESTER,
                &[(&file, Some(module.as_str()))],
                "bench request",
            )?;
            let n = h
                .sim
                .open_pull(INFRA_REPO, REQUESTER, &branch, "main", &id, "bench")?;
            doc.module = Some("s3-bucket".into());
            doc.installation_id = Some(installation);
            doc.target_owner = Some("acme".into());
            doc.target_repo = Some("infra".into());
            doc.target_base = Some("main".into());
            doc.target_env_path = Some("envs/dev".into());
            doc.branch_name = Some(branch);
            let mut pr = PrFacts::new(n);
            pr.open = true;
            doc.github_mut().pr = Some(pr);
            pr_number = Some(n);
        }
        h.state.service.requests.create(&doc).await?;
        ids.push((id, pr_number));
    }
    h.settle().await?;
    Ok(ids)
}

/// Two state-changing deliveries per request (plan run queued, then in
/// progress), at most `count`.
async fn state_deliveries(
    h: &Harness,
    count: usize,
    prefix: u8,
    with_prs: bool,
) -> Result<Vec<Delivery>, BoxError> {
    let installation = h.sim.installation_id();
    let ids = requests(h, count.div_ceil(2), prefix, with_prs).await?;
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

/// One `/tfpilot plan` comment by the requester on each of `count` requests'
/// PRs: the `issue_comment` deliveries the simulator made for them, signed again.
async fn command_deliveries(
    h: &Harness,
    count: usize,
    prefix: u8,
) -> Result<Vec<Delivery>, BoxError> {
    h.sim
        .set_permission(INFRA_REPO, REQUESTER, Permission::Write)?;
    let ids = requests(h, count, prefix, true).await?;
    let already = h.sim.deliveries().len();
    for (_, pr) in &ids {
        if let Some(pr) = pr {
            h.sim.comment(INFRA_REPO, *pr, REQUESTER, "/tfpilot plan")?;
        }
    }
    h.settle().await?;
    Ok(h.sim
        .deliveries()
        .into_iter()
        .skip(already)
        .filter(|d| d.event == "issue_comment" && !d.redelivery)
        .map(|d| Delivery::new("issue_comment", d.guid, &d.payload))
        .collect())
}

/// A running Probot app.
struct Probot {
    child: tokio::process::Child,
    pid: String,
    target: Target,
    idle_rss_kb: Option<u64>,
    store: PathBuf,
}

async fn start_probot(dir: &std::path::Path, api_url: &str) -> Result<Probot, BoxError> {
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
        .env("GITHUB_API_URL", api_url)
        .env("STORE_DIR", &store)
        .env(
            "LOG_LEVEL",
            std::env::var("PROBOT_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
        )
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().map(|p| p.to_string()).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if Instant::now() > deadline {
            return Err("Probot did not start listening within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let node finish starting before its idle RSS is read.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(Probot {
        idle_rss_kb: proc_kb(&pid, "VmRSS:"),
        child,
        pid,
        target: Target {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            path: "/api/github/webhooks".into(),
        },
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

/// A multi-threaded runtime whose threads are named `name` (its CPU time is
/// read per thread name).
fn runtime(name: &str, workers: usize) -> std::io::Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        // Debug builds of the handlers need more than tokio's default 2 MiB.
        .thread_stack_size(16 * 1024 * 1024)
        .enable_all()
        .build()
}

fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    // tfpilot's router and everything it calls (store, GitHub client) run on
    // two threads of their own, as `tfpilot serve` does on a 2-core machine;
    // the simulator answers on a third.
    let app_rt = runtime("tfpilot", 2)?;
    let sim_rt = runtime("simulator", 1)?;
    // The load generator: one thread of its own (this one), one runtime.
    let load_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tmp = scratch_dir("tfpilot")?;
    let (h, store_label) = sim_rt.block_on(async {
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
        Ok::<_, BoxError>((h, store_label))
    })?;
    let listener = app_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let target = Target {
        addr: listener.local_addr()?,
        path: "/webhooks/github".into(),
    };
    let app = h.app.clone();
    app_rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let base = format!("http://{}", target.addr);
    let client = reqwest::Client::builder().build()?;
    let metrics = || load_rt.block_on(read_metrics(&client, &base));
    let idle = proc_kb("self", "VmRSS:").unwrap_or(0);
    println!(
        "tfpilot on {}; count={} concurrency={}; idle RSS {} kB (simulator + tfpilot + load generator)",
        target.url(),
        args.count,
        args.concurrency,
        idle
    );

    let installation = h.sim.installation_id();
    let ignorable = ignorable_deliveries(args.ignorable_count, installation);
    // tfpilot's runtime threads (not the simulator's, nor the load generator's).
    let ours = ("self", Some("tfpilot"));
    if let Some(d) = ignorable.first() {
        println!(
            "payload sizes: ignorable workflow_run {} bytes",
            d.body.len()
        );
    }
    let mut summary: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut prefix: u8 = 0;
    for scenario in &args.scenarios {
        match scenario.as_str() {
            "ignorable" => {
                let before = metrics();
                let s = load_rt.block_on(measured(&target, &ignorable, args.concurrency, ours));
                print_row("tfpilot", "ignorable", &store_label, &s);
                print_costs("ignorable", s.n, &metrics().since(&before));
                summary.insert("ignorable", s);
            }
            "state" | "roundtrip" | "command" => {
                prefix += 1;
                let deliveries = sim_rt.block_on(async {
                    let made = match scenario.as_str() {
                        "command" => command_deliveries(&h, args.count, prefix).await,
                        other => {
                            state_deliveries(&h, args.count, prefix, other == "roundtrip").await
                        }
                    };
                    // What tfpilot's own calls cause (a dispatched run's events)
                    // is not sent to it during the measurement.
                    h.sim
                        .set_webhook_target(WebhookTarget::Url("http://127.0.0.1:9/".into()));
                    made
                })?;
                if let Some(d) = deliveries.first() {
                    println!(
                        "payload size: {scenario} {} {} bytes",
                        d.event,
                        d.body.len()
                    );
                }
                let before = metrics();
                let s = load_rt.block_on(measured(&target, &deliveries, args.concurrency, ours));
                let after = metrics();
                print_row("tfpilot", scenario, &store_label, &s);
                print_costs(scenario, s.n, &after.since(&before));
                let d = load_rt.block_on(fire(&target, &deliveries, args.concurrency));
                print_row("tfpilot", "duplicate", &store_label, &d);
                print_costs("duplicate", d.n, &metrics().since(&after));
                summary.insert(
                    match scenario.as_str() {
                        "state" => "state",
                        "roundtrip" => "roundtrip",
                        _ => "command",
                    },
                    s,
                );
                sim_rt.block_on(h.settle())?;
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
        let mut p = load_rt.block_on(start_probot(dir, h.sim.base_url()))?;
        println!(
            "probot   on {} (node {}); idle RSS {} kB (node only)",
            p.target.url(),
            p.pid,
            p.idle_rss_kb.unwrap_or(0)
        );
        let mut rows = Vec::new();
        if summary.contains_key("ignorable") {
            let node = (p.pid.as_str(), None);
            let s = load_rt.block_on(measured(&p.target, &ignorable, args.concurrency, node));
            print_row("probot", "ignorable", "json", &s);
            rows.push(("ignorable", "ignorable", s));
        }
        if let Some(ours) = ["roundtrip", "state"]
            .into_iter()
            .find(|k| summary.contains_key(k))
        {
            prefix += 1;
            // Probot writes a JSON file and posts a comment on the request's PR per delivery.
            let deliveries = sim_rt.block_on(state_deliveries(&h, args.count, prefix, true))?;
            let node = (p.pid.as_str(), None);
            let s = load_rt.block_on(measured(&p.target, &deliveries, args.concurrency, node));
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
            "{:<22} {:>12} {:>12} {:>8} {:>12} {:>12} {:>12} {:>12} {:>10}",
            "scenario (tfpilot/probot)",
            "tfpilot /s",
            "probot /s",
            "ratio",
            "tfpilot p99",
            "probot p99",
            "tfpilot cpu",
            "probot cpu",
            "cpu ratio"
        );
        for (ours, theirs, s) in rows {
            let t = summary.get(ours).copied().unwrap_or_default();
            let cpu = |c: Option<f64>| c.map_or("n/a".into(), |us| format!("{us:.0}us/d"));
            println!(
                "{:<22} {:>12.0} {:>12.0} {:>8} {:>10.2}ms {:>10.2}ms {:>12} {:>12} {:>10}",
                format!("{ours}/{theirs}"),
                t.throughput,
                s.throughput,
                ratio(t.throughput, s.throughput),
                t.p99,
                s.p99,
                cpu(t.cpu_us),
                cpu(s.cpu_us),
                ratio(s.cpu_us.unwrap_or(0.0), t.cpu_us.unwrap_or(0.0)),
            );
        }
        let _ = load_rt.block_on(p.child.kill());
        let _ = std::fs::remove_dir_all(&p.store);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    drop(h);
    app_rt.shutdown_timeout(Duration::from_secs(1));
    sim_rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
