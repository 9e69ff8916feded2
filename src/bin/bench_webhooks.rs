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
//! - `comment`: `issue_comment` deliveries of a person's comment that is not a
//!   command, on an ordinary issue (answered without touching the store);
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
//! same simulator and sends it the same `ignorable`, `comment` and state
//! deliveries; the table then shows both and tfpilot/Probot throughput ratios.
//!
//! `--pin` gives the server under test one CPU and the load generator another
//! (`taskset`): tfpilot's runtime threads, and every thread of Probot's node,
//! run on the first CPU this process may use, the load generator on the last.
//! With `--server-threads 1` that is one core and one event loop each, the
//! like-for-like comparison with Node (`bench/run.sh` runs `ignorable` and
//! `comment` so).
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
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use tfpilot::core::ids::RequestId;
use tfpilot::core::request::{PrFacts, Request};
use tfpilot::harness::{Harness, HarnessOptions, INFRA_REPO};
use tfpilot::http::signature::sign;
use tfpilot::sim::{Permission, TEST_APP_PRIVATE_KEY_PEM, WebhookTarget};
use tfpilot::store::{FolderStore, Store, open_store};

type BoxError = Box<dyn std::error::Error>;

const USAGE: &str = "usage: bench_webhooks [--count N] [--ignorable-count N] [--concurrency N] [--server-threads N] [--pin] [--rounds N] [--store URL] [--probot DIR] [ignorable] [comment] [state] [roundtrip] [command]";

struct Args {
    count: usize,
    /// Ignorable deliveries are answered so fast that `count` of them is over
    /// in a few tens of milliseconds: too short to measure.
    ignorable_count: usize,
    concurrency: usize,
    /// Worker threads of tfpilot's runtime.
    server_threads: usize,
    /// Pin the load generator to the last CPU and the servers to the others.
    pin: bool,
    /// Measured runs of the ignorable scenario per server, interleaved.
    rounds: usize,
    store: Option<String>,
    probot: Option<PathBuf>,
    scenarios: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        count: 2000,
        ignorable_count: 20_000,
        concurrency: 16,
        server_threads: 2,
        pin: false,
        rounds: 7,
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
            "--server-threads" => {
                args.server_threads = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--server-threads N (at least 1)")?
            }
            "--rounds" => {
                args.rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or("--rounds N (at least 1)")?
            }
            "--pin" => args.pin = true,
            "--store" => args.store = Some(it.next().ok_or("--store URL")?),
            "--probot" => args.probot = Some(it.next().ok_or("--probot DIR")?.into()),
            "ignorable" | "comment" | "state" | "roundtrip" | "command" => args.scenarios.push(a),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if args.scenarios.is_empty() {
        args.scenarios = ["ignorable", "comment", "state", "roundtrip", "command"]
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
    /// CPU time of the server per delivery, in microseconds.
    cpu_us: Option<f64>,
    /// CPU time of the load generator per delivery, in microseconds.
    load_cpu_us: Option<f64>,
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
            load_cpu_us: None,
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
/// one request at a time on each (no pipelining: GitHub does not pipeline),
/// and checks the status of each answer.
///
/// One task drives all connections (an event loop on the runtime's reactor):
/// it reads every answer that has arrived, then sends each of those
/// connections its next request, back to back. Compared with one task per
/// connection, the sender wakes up less often and costs the machine less; a
/// connection still never has more than one request in flight.
async fn fire(target: &Target, deliveries: &[Delivery], concurrency: usize) -> Stats {
    let requests: Vec<Vec<u8>> = deliveries
        .iter()
        .map(|d| d.request(target.addr, &target.path))
        .collect();
    let mut queue = requests.iter();
    let mut latencies = Vec::with_capacity(requests.len());
    let mut errors = 0;
    let started = Instant::now();
    let mut conns: Vec<Conn> = Vec::new();
    for _ in 0..concurrency.max(1) {
        let mut c = Conn {
            stream: None,
            buf: Vec::with_capacity(4096),
            sent_at: Instant::now(),
            busy: false,
        };
        c.send_next(target.addr, &mut queue, &mut latencies, &mut errors)
            .await;
        conns.push(c);
    }
    let mut done: Vec<(usize, Result<bool, ()>)> = Vec::with_capacity(conns.len());
    while conns.iter().any(|c| c.busy) {
        // Every answer that is complete now (at least one).
        std::future::poll_fn(|cx| {
            for (i, c) in conns.iter_mut().enumerate() {
                if c.busy
                    && let Some(r) = c.poll_answer(cx)
                {
                    c.busy = false;
                    done.push((i, r));
                }
            }
            if done.is_empty() {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        let now = Instant::now();
        for (i, r) in done.drain(..) {
            let c = &mut conns[i];
            latencies.push(now - c.sent_at);
            match r {
                Ok(true) => {}
                Ok(false) => c.stream = None,
                Err(()) => {
                    errors += 1;
                    c.stream = None;
                }
            }
            // The next request on this connection starts now.
            c.sent_at = now;
            c.send_next(target.addr, &mut queue, &mut latencies, &mut errors)
                .await;
        }
    }
    Sample {
        latencies,
        elapsed: started.elapsed(),
        errors,
    }
    .stats()
}

/// One keep-alive connection of [`fire`].
struct Conn {
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    sent_at: Instant,
    /// A request was sent and its answer is not complete yet.
    busy: bool,
}

impl Conn {
    /// Sends the next request of `queue`. A request that cannot be sent (no
    /// connection) counts as an error and the one after it is tried.
    async fn send_next(
        &mut self,
        addr: SocketAddr,
        queue: &mut std::slice::Iter<'_, Vec<u8>>,
        latencies: &mut Vec<Duration>,
        errors: &mut usize,
    ) {
        for req in queue.by_ref() {
            if self.send(addr, req).await.is_ok() {
                return;
            }
            latencies.push(self.sent_at.elapsed());
            *errors += 1;
            self.sent_at = Instant::now();
        }
    }

    /// Sends `req`, connecting first if the connection was closed.
    async fn send(&mut self, addr: SocketAddr, req: &[u8]) -> std::io::Result<()> {
        let stream = match &mut self.stream {
            Some(s) => s,
            None => self.stream.insert(connect(addr).await?),
        };
        self.buf.clear();
        // A request is far smaller than the socket's send buffer: one write
        // nearly always takes it whole.
        let sent = match stream.try_write(req) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(e) => {
                self.stream = None;
                return Err(e);
            }
        };
        if sent < req.len()
            && let Err(e) = stream.write_all(&req[sent..]).await
        {
            self.stream = None;
            return Err(e);
        }
        self.busy = true;
        Ok(())
    }

    /// Reads what has arrived; `Some` once the answer is complete (`Ok(keep
    /// alive)` for a 2xx status) or the connection failed.
    fn poll_answer(&mut self, cx: &mut std::task::Context<'_>) -> Option<Result<bool, ()>> {
        let Some(stream) = &self.stream else {
            return Some(Err(()));
        };
        loop {
            match stream.poll_read_ready(cx) {
                std::task::Poll::Pending => return None,
                std::task::Poll::Ready(Err(_)) => return Some(Err(())),
                std::task::Poll::Ready(Ok(())) => {}
            }
            loop {
                if self.buf.capacity() - self.buf.len() < 1024 {
                    self.buf.reserve(4096);
                }
                match stream.try_read_buf(&mut self.buf) {
                    Ok(0) => return Some(Err(())),
                    Ok(_) => match answer(&self.buf) {
                        Ok(Some((status, keep))) => {
                            return Some(if (200..300).contains(&status) {
                                Ok(keep)
                            } else {
                                Err(())
                            });
                        }
                        Ok(None) => {}
                        Err(_) => return Some(Err(())),
                    },
                    // Readiness cleared: ask the reactor again.
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => return Some(Err(())),
                }
            }
        }
    }
}

async fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let c = TcpStream::connect(addr).await?;
    c.set_nodelay(true)?;
    Ok(c)
}

/// The status of a complete HTTP/1.1 answer in `buf` (`Content-Length` or
/// chunked body) and whether the connection stays open; `None` while
/// incomplete.
fn answer(buf: &[u8]) -> Result<Option<(u16, bool)>, &'static str> {
    let Some(head_end) = head_end(buf) else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "head")?;
    let status: u16 = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or("status line")?;
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
    let complete = if chunked {
        // Small answers: complete with the last chunk.
        buf[head_end..].ends_with(b"0\r\n\r\n")
    } else {
        buf.len() >= head_end + length.unwrap_or(0)
    };
    Ok(complete.then_some((status, keep)))
}

/// The length of the head (through the empty line), once it is all in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w[0] == b'\r' && w[1] == b'\n' && w[2] == b'\r' && w[3] == b'\n')
        .map(|i| i + 4)
}

fn print_row(who: &str, scenario: &str, store: &str, s: &Stats) {
    let cpu = |label: &str, c: Option<f64>| {
        c.map(|us| format!("  {label}={us:.1}us/d"))
            .unwrap_or_default()
    };
    println!(
        "{who:<8} {scenario:<10} store={store:<7} n={:<6} errors={:<4} throughput={:>8.0}/s  p50={:>7.2}ms  p90={:>7.2}ms  p99={:>7.2}ms{}{}",
        s.n,
        s.errors,
        s.throughput,
        s.p50,
        s.p90,
        s.p99,
        cpu("cpu", s.cpu_us),
        cpu("sender cpu", s.load_cpu_us),
    );
}

/// CPU time, in nanoseconds, of the threads named `comm` of process `pid`, or
/// of all its threads. Read from `/proc/PID/task/TID/schedstat` (time on a CPU,
/// in ns); where that file is missing, from the user + system clock ticks of
/// `/proc/PID/task/TID/stat` (10 ms each).
fn cpu_ns(pid: &str, comm: Option<&str>) -> Option<u64> {
    threads(pid, comm)
        .ok()?
        .iter()
        .map(|dir| task_cpu_ns(dir))
        .sum()
}

/// The `/proc/PID/task/TID` folders of process `pid`'s threads named `comm`, or
/// of all its threads.
fn threads(pid: &str, comm: Option<&str>) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = task?.path();
        if let Some(comm) = comm {
            let name = std::fs::read_to_string(dir.join("comm"))?;
            if name.trim_end() != comm {
                continue;
            }
        }
        out.push(dir);
    }
    Ok(out)
}

/// CPU time of one thread (`/proc/PID/task/TID`), in nanoseconds.
fn task_cpu_ns(dir: &std::path::Path) -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
        return s.split(' ').next()?.parse().ok();
    }
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    // Fields 14 and 15 of proc(5), counted from the state (field 3).
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 10 ms (USER_HZ = 100 on Linux).
    Some((user + system) * 10_000_000)
}

/// Runs `fire` and adds the CPU time per delivery of the server and of the load
/// generator (this thread: it runs `fire` on a current-thread runtime).
async fn measured(
    target: &Target,
    deliveries: &[Delivery],
    concurrency: usize,
    server: (&str, Option<&str>),
) -> Stats {
    let me = format!("/proc/self/task/{}", gettid());
    let before = cpu_ns(server.0, server.1);
    let load_before = task_cpu_ns(std::path::Path::new(&me));
    let mut s = fire(target, deliveries, concurrency).await;
    let load_after = task_cpu_ns(std::path::Path::new(&me));
    let after = cpu_ns(server.0, server.1);
    let per = |b: Option<u64>, a: Option<u64>| {
        Some(a?.saturating_sub(b?) as f64 / 1000.0 / s.n.max(1) as f64)
    };
    s.cpu_us = per(before, after);
    s.load_cpu_us = per(load_before, load_after);
    s
}

/// This thread's id, as `/proc/self/task` names it.
fn gettid() -> String {
    // /proc/thread-self is a link to /proc/PID/task/TID.
    std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| std::process::id().to_string())
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

/// Sends `deliveries` once to each server to warm it up (Node's JIT, both
/// servers' caches), then `--rounds` measured times to each, tfpilot and
/// Probot alternately, so that the machine's other load weighs on both alike.
/// Prints every round and the per-round ratios; returns the median rounds.
async fn interleaved(
    name: &str,
    deliveries: &[Delivery],
    args: &Args,
    (ours, store_label): (&Target, &str),
    theirs: Option<(&Target, &str)>,
) -> (Stats, Option<Stats>) {
    let warm = &deliveries[..deliveries.len().min(2000)];
    fire(ours, warm, args.concurrency).await;
    if let Some((target, _)) = theirs {
        fire(target, warm, args.concurrency).await;
    }
    let mut ours_runs = Vec::new();
    let mut theirs_runs = Vec::new();
    for _ in 0..args.rounds {
        let s = measured(ours, deliveries, args.concurrency, TFPILOT_THREADS).await;
        print_row("tfpilot", name, store_label, &s);
        ours_runs.push(s);
        if let Some((target, pid)) = theirs {
            let s = measured(target, deliveries, args.concurrency, (pid, None)).await;
            print_row("probot", name, "json", &s);
            theirs_runs.push(s);
        }
    }
    let ours_median = median_run("tfpilot", name, &ours_runs);
    if theirs_runs.is_empty() {
        return (ours_median, None);
    }
    let theirs_median = median_run("probot", name, &theirs_runs);
    let mut paired: Vec<f64> = ours_runs
        .iter()
        .zip(&theirs_runs)
        .map(|(a, b)| a.throughput / b.throughput.max(1e-9))
        .collect();
    paired.sort_by(f64::total_cmp);
    println!(
        "{name}, tfpilot/probot throughput per round (adjacent runs): {} (median {:.1}x)",
        paired
            .iter()
            .map(|r| format!("{r:.1}x"))
            .collect::<Vec<_>>()
            .join(" "),
        paired[paired.len() / 2],
    );
    (ours_median, Some(theirs_median))
}

/// `count` deliveries of one comment that does not address tfpilot, by a person
/// on an ordinary issue: the `issue_comment` payload the simulator made for it
/// (issue, comment, repository, sender and installation, as GitHub sends them),
/// under a new delivery id each.
async fn comment_deliveries(h: &Harness, count: usize) -> Result<Vec<Delivery>, BoxError> {
    let already = h.sim.deliveries().len();
    let issue = h.sim.open_issue(
        INFRA_REPO,
        "bob",
        "Bucket retention for the audit logs",
        "We keep audit logs for 400 days; the bucket expires them after 365.",
        &[],
    )?;
    h.sim.comment(
        INFRA_REPO,
        issue,
        "carol",
        "Looks good to me. Could we also pin the provider version?\n\n> We keep audit logs for 400 days\n\nThat matches the policy.",
    )?;
    h.settle().await?;
    let payload = h
        .sim
        .deliveries()
        .into_iter()
        .skip(already)
        .find(|d| d.event == "issue_comment")
        .ok_or("the simulator sent no issue_comment delivery")?
        .payload;
    Ok((0..count)
        .map(|_| {
            Delivery::new(
                "issue_comment",
                format!("bench-{:032x}", rand::random::<u128>()),
                &payload,
            )
        })
        .collect())
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

/// tfpilot's runtime threads in this process (not the simulator's, nor the load
/// generator's), as `cpu_ns` and `pin` select them.
const TFPILOT_THREADS: (&str, Option<&str>) = ("self", Some("tfpilot"));

/// With `--pin`: the CPU for the server under test (tfpilot's runtime threads,
/// or every thread of Probot's node) and the one for the load generator, the
/// first and the last this process may run on.
fn pin_cpus() -> Result<(String, String), BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .ok_or("no Cpus_allowed_list in /proc/self/status")?;
    let mut cpus = Vec::new();
    for part in list.trim().split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let (lo, hi): (u32, u32) = (lo.parse()?, hi.parse()?);
        cpus.extend(lo..=hi);
    }
    match (cpus.first(), cpus.last()) {
        (Some(server), Some(load)) if server != load => Ok((server.to_string(), load.to_string())),
        _ => Err(format!("--pin needs two CPUs; this process may use {}", list.trim()).into()),
    }
}

/// Pins the threads of process `pid` (those named `comm`, or all) to `cpus`.
fn pin(pid: &str, comm: Option<&str>, cpus: &str) -> Result<(), BoxError> {
    for dir in threads(pid, comm)? {
        pin_thread(&dir.file_name().unwrap_or_default().to_string_lossy(), cpus)?;
    }
    Ok(())
}

/// Pins one thread (a `/proc/self/task` id) to `cpus`, with util-linux's `taskset`.
fn pin_thread(tid: &str, cpus: &str) -> Result<(), BoxError> {
    let out = std::process::Command::new("taskset")
        .args(["-p", "-c", cpus, tid])
        .output()
        .map_err(|e| format!("--pin runs taskset (util-linux): {e}"))?;
    if !out.status.success() {
        return Err(format!("taskset {tid}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(())
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

/// The median of `runs` (throughput, latencies, and CPU each taken
/// separately), printed with the spread of throughput and CPU.
fn median_run(who: &str, scenario: &str, runs: &[Stats]) -> Stats {
    let median = |f: &dyn Fn(&Stats) -> Option<f64>| -> (Option<f64>, String) {
        let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
        v.sort_by(f64::total_cmp);
        let spread = match (v.first(), v.last()) {
            (Some(lo), Some(hi)) => format!("{lo:.1}-{hi:.1}"),
            _ => "n/a".into(),
        };
        (v.get(v.len() / 2).copied(), spread)
    };
    let (throughput, t_spread) = median(&|s| Some(s.throughput));
    let (cpu_us, c_spread) = median(&|s| s.cpu_us);
    let (load_cpu_us, l_spread) = median(&|s| s.load_cpu_us);
    let m = Stats {
        cpu_us,
        load_cpu_us,
        n: runs.first().map_or(0, |s| s.n),
        errors: runs.iter().map(|s| s.errors).sum(),
        throughput: throughput.unwrap_or(0.0),
        p50: median(&|s| Some(s.p50)).0.unwrap_or(0.0),
        p90: median(&|s| Some(s.p90)).0.unwrap_or(0.0),
        p99: median(&|s| Some(s.p99)).0.unwrap_or(0.0),
    };
    if runs.len() > 1 {
        print_row(who, scenario, "median", &m);
        println!(
            "{who:<8} {scenario:<10} {} rounds: throughput {t_spread}/s, cpu {c_spread}us/d, sender cpu {l_spread}us/d (min-max)",
            runs.len()
        );
    }
    m
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
    // threads of their own (`--server-threads`, 2 by default: what `tfpilot
    // serve` starts on a 2-core machine); the simulator answers on another.
    let app_rt = runtime("tfpilot", args.server_threads)?;
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
    let pinned = if args.pin {
        let (server, load) = pin_cpus()?;
        pin(TFPILOT_THREADS.0, TFPILOT_THREADS.1, &server)?;
        pin_thread(&gettid(), &load)?;
        println!("pinned: servers under test on CPU {server}, the load generator on CPU {load}");
        Some(server)
    } else {
        None
    };
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
        "tfpilot on {} ({} runtime threads); count={} concurrency={}; idle RSS {} kB (simulator + tfpilot + load generator)",
        target.url(),
        args.server_threads,
        args.count,
        args.concurrency,
        idle
    );

    let installation = h.sim.installation_id();
    let ignorable = ignorable_deliveries(args.ignorable_count, installation);
    if let Some(d) = ignorable.first() {
        println!(
            "payload sizes: ignorable workflow_run {} bytes",
            d.body.len()
        );
    }
    // Probot is started first, so that the ignorable runs of both servers can
    // be interleaved (the machine's other load then weighs on both alike).
    let probot = match &args.probot {
        Some(dir) => {
            let p = load_rt.block_on(start_probot(dir, h.sim.base_url()))?;
            if let Some(cpu) = &pinned {
                pin(&p.pid, None, cpu)?;
            }
            println!(
                "probot   on {} (node {}); idle RSS {} kB (node only)",
                p.target.url(),
                p.pid,
                p.idle_rss_kb.unwrap_or(0)
            );
            Some(p)
        }
        None => None,
    };
    let mut probot_rows = Vec::new();
    let comments = if args.scenarios.iter().any(|s| s == "comment") {
        sim_rt.block_on(comment_deliveries(&h, args.ignorable_count))?
    } else {
        Vec::new()
    };
    if let Some(d) = comments.first() {
        println!(
            "payload size: ignorable issue_comment {} bytes",
            d.body.len()
        );
    }
    let mut summary: BTreeMap<&str, Stats> = BTreeMap::new();
    let mut prefix: u8 = 0;
    for scenario in &args.scenarios {
        match scenario.as_str() {
            "ignorable" | "comment" => {
                let (name, deliveries) = if scenario == "ignorable" {
                    ("ignorable", &ignorable)
                } else {
                    ("comment", &comments)
                };
                let probot_target = probot.as_ref().map(|p| (&p.target, p.pid.as_str()));
                let before = metrics();
                let (ours_median, theirs_median) = load_rt.block_on(interleaved(
                    name,
                    deliveries,
                    &args,
                    (&target, &store_label),
                    probot_target,
                ));
                print_costs(
                    name,
                    deliveries.len() * args.rounds,
                    &metrics().since(&before),
                );
                if let Some(theirs) = theirs_median {
                    probot_rows.push((name, name, theirs));
                }
                summary.insert(name, ours_median);
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
                let s = load_rt.block_on(measured(
                    &target,
                    &deliveries,
                    args.concurrency,
                    TFPILOT_THREADS,
                ));
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

    if let Some(mut p) = probot {
        let mut rows = probot_rows;
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
            let cpu = |c: Option<f64>| c.map_or("n/a".into(), |us| format!("{us:.1}us/d"));
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
