//! `cp-bench`: the load client of `scripts/bench.sh`.
//!
//! Every subcommand prints exactly one JSON line on stdout (diagnostics go to stderr):
//!
//! ```text
//! cp-bench wait --url URL --since-ns EPOCH_NS [--timeout-s 180]
//!     Polls URL every 50 ms until it answers 200; prints the time since EPOCH_NS (the moment
//!     the caller launched `wrangler dev`), i.e. the cold start.
//! cp-bench load --url URL [--method GET|POST] [--auth KEY] [--body none|register|metrics|compute]
//!     [--nodes N] [--node-prefix P] [--region R] [--concurrency C]
//!     (--duration-s S [--warmup-s W] | --requests N) [--cpu-pid NAME=PID]... [--clk-tck 100]
//!     Bounded load with C threads, each with its own keep-alive connection, sending requests
//!     back to back. Duration mode measures the requests that complete inside
//!     [warmup, warmup + duration]; fixed mode sends exactly N requests (request i gets node i).
//!     The CPU time (utime + stime from /proc/PID/stat) of every named process is read at the
//!     edges of the measured window, so per-request CPU covers exactly the measured requests.
//! ```
//!
//! Bodies are made from the request's sequence number i: `register` creates node i,
//! `metrics` pushes plausible values for node `i % N` (round-robin over the fleet), `compute`
//! asks for a basic-tier placement in the region.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = argv.split_first() else {
        usage("missing subcommand");
    };
    let args = Args::parse(rest);
    let out = match cmd.as_str() {
        "wait" => wait(&args),
        "load" => load(&args),
        other => usage(&format!("unknown subcommand {other}")),
    };
    println!("{out}");
}

fn usage(msg: &str) -> ! {
    eprintln!("cp-bench: {msg}\nusage: cp-bench wait|load --url URL ... (see bench/src/main.rs)");
    std::process::exit(2);
}

/// `--name value` pairs; a name may repeat (`--cpu-pid`).
struct Args(Vec<(String, String)>);

impl Args {
    fn parse(raw: &[String]) -> Args {
        let mut pairs = Vec::new();
        let mut it = raw.iter();
        while let Some(flag) = it.next() {
            let Some(name) = flag.strip_prefix("--") else {
                usage(&format!("unexpected argument {flag}"));
            };
            let Some(value) = it.next() else {
                usage(&format!("--{name} needs a value"));
            };
            pairs.push((name.to_string(), value.clone()));
        }
        Args(pairs)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }

    fn req(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| usage(&format!("--{name} is required")))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| usage(&format!("--{name}: not a number: {v}"))),
        }
    }
}

fn epoch_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos()
}

fn wait(args: &Args) -> Value {
    let url = args.req("url");
    let since_ns: u128 = args.num("since-ns", epoch_ns());
    let timeout = Duration::from_secs_f64(args.num("timeout-s", 180.0));
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(2)).build().expect("http client");
    let started = Instant::now();
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        if let Ok(r) = client.get(url).send() {
            if r.status().as_u16() == 200 {
                let ready_ms = (epoch_ns().saturating_sub(since_ns)) as f64 / 1e6;
                return json!({ "ready_ms": round1(ready_ms), "attempts": attempts });
            }
        }
        if started.elapsed() > timeout {
            eprintln!("cp-bench: {url} did not answer 200 within {timeout:?}");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Clone, Copy, PartialEq)]
enum BodyKind {
    None,
    Register,
    Metrics,
    Compute,
}

/// What a request sends, shared by the worker threads.
struct Plan {
    url: String,
    method: reqwest::Method,
    auth: Option<String>,
    body: BodyKind,
    nodes: u64,
    prefix: String,
    region: String,
}

impl Plan {
    fn node_id(&self, i: u64) -> String {
        format!("{}{:05}", self.prefix, i % self.nodes.max(1))
    }

    fn body(&self, i: u64) -> Option<String> {
        match self.body {
            BodyKind::None => None,
            BodyKind::Register => Some(
                json!({ "node_id": self.node_id(i), "region": self.region,
                        "host": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255) })
                .to_string(),
            ),
            // Plausible, varied and mostly eligible values (memory 20-70 %, disk 10-60 %).
            BodyKind::Metrics => Some(
                json!({ "node_id": self.node_id(i),
                        "cpu_pct": (i * 37 % 900) as f64 / 10.0,
                        "memory_pct": 20.0 + (i * 53 % 500) as f64 / 10.0,
                        "disk_pct": 10.0 + (i * 29 % 500) as f64 / 10.0,
                        "tenant_count": i * 7 % 30 })
                .to_string(),
            ),
            BodyKind::Compute => Some(json!({ "plan_tier": "basic", "region": self.region }).to_string()),
        }
    }
}

/// One finished request: when it ended (µs since the load started), how long it took, its
/// status (0: transport error) and the body size.
struct Sample {
    end_us: u64,
    latency_us: u64,
    status: u16,
    bytes: u64,
}

fn load(args: &Args) -> Value {
    let body = match args.get("body").unwrap_or("none") {
        "none" => BodyKind::None,
        "register" => BodyKind::Register,
        "metrics" => BodyKind::Metrics,
        "compute" => BodyKind::Compute,
        other => usage(&format!("--body: unknown kind {other}")),
    };
    let method_name = args.get("method").unwrap_or(if body == BodyKind::None { "GET" } else { "POST" }).to_uppercase();
    let plan = Arc::new(Plan {
        url: args.req("url").to_string(),
        method: method_name.parse().unwrap_or_else(|_| usage("--method: bad method")),
        auth: args.get("auth").map(|k| format!("Bearer {k}")),
        body,
        nodes: args.num("nodes", 1),
        prefix: args.get("node-prefix").unwrap_or("bench-").to_string(),
        region: args.get("region").unwrap_or("sg").to_string(),
    });
    if !plan.url.starts_with("http://127.0.0.1:") {
        usage("--url: load goes to http://127.0.0.1 only");
    }
    let concurrency: usize = args.num("concurrency", 8);
    let fixed: Option<u64> = args.get("requests").map(|_| args.num("requests", 0));
    let duration = Duration::from_secs_f64(args.num("duration-s", 8.0));
    let warmup = Duration::from_secs_f64(if fixed.is_some() { 0.0 } else { args.num("warmup-s", 1.0) });
    let clk_tck: f64 = args.num("clk-tck", 100.0);
    let mut cpu_pids: Vec<(String, u32)> = args
        .all("cpu-pid")
        .iter()
        .map(|s| {
            let (name, pid) = s.split_once('=').unwrap_or_else(|| usage("--cpu-pid NAME=PID"));
            (name.to_string(), pid.parse().unwrap_or_else(|_| usage("--cpu-pid: bad pid")))
        })
        .collect();
    cpu_pids.push(("client".to_string(), std::process::id()));

    let counter = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..concurrency)
        .map(|_| {
            let (plan, counter, stop) = (plan.clone(), counter.clone(), stop.clone());
            std::thread::spawn(move || worker(&plan, &counter, &stop, fixed, t0))
        })
        .collect();

    // Duration mode: the window is [warmup, warmup + duration] after t0. Fixed mode: all of it.
    let (cpu_before, cpu_after, window_start, window_end);
    if fixed.is_some() {
        cpu_before = read_cpu(&cpu_pids);
        window_start = Duration::ZERO;
        let samples: Vec<Sample> = threads.into_iter().flat_map(|t| t.join().expect("load thread")).collect();
        window_end = t0.elapsed();
        cpu_after = read_cpu(&cpu_pids);
        return report(args, &plan, concurrency, "fixed", samples, window_start, window_end, &cpu_before, &cpu_after, clk_tck);
    }
    sleep_until(t0 + warmup);
    cpu_before = read_cpu(&cpu_pids);
    window_start = t0.elapsed();
    sleep_until(t0 + warmup + duration);
    cpu_after = read_cpu(&cpu_pids);
    window_end = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    let samples: Vec<Sample> = threads.into_iter().flat_map(|t| t.join().expect("load thread")).collect();
    let in_window: Vec<Sample> =
        samples.into_iter().filter(|s| s.end_us >= window_start.as_micros() as u64 && s.end_us <= window_end.as_micros() as u64).collect();
    report(args, &plan, concurrency, "duration", in_window, window_start, window_end, &cpu_before, &cpu_after, clk_tck)
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn worker(plan: &Plan, counter: &AtomicU64, stop: &AtomicBool, fixed: Option<u64>, t0: Instant) -> Vec<Sample> {
    let client =
        reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).tcp_nodelay(true).pool_max_idle_per_host(1).build().expect("http client");
    let mut samples = Vec::with_capacity(4096);
    let mut reported = false;
    while !stop.load(Ordering::Relaxed) {
        let i = counter.fetch_add(1, Ordering::Relaxed);
        if fixed.is_some_and(|n| i >= n) {
            break;
        }
        let mut req = client.request(plan.method.clone(), &plan.url);
        if let Some(a) = &plan.auth {
            req = req.header("authorization", a);
        }
        if let Some(b) = plan.body(i) {
            req = req.header("content-type", "application/json").body(b);
        }
        let start = Instant::now();
        let (status, bytes) = match req.send() {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes() {
                    Ok(b) => {
                        if !(200..300).contains(&status) && !reported {
                            reported = true;
                            eprintln!("cp-bench: {} {} -> {status}: {}", plan.method, plan.url, String::from_utf8_lossy(&b[..b.len().min(300)]));
                        }
                        (status, b.len() as u64)
                    }
                    Err(e) => {
                        if !reported {
                            reported = true;
                            eprintln!("cp-bench: {} {}: reading the body: {e}", plan.method, plan.url);
                        }
                        (0, 0)
                    }
                }
            }
            Err(e) => {
                if !reported {
                    reported = true;
                    eprintln!("cp-bench: {} {}: {e}", plan.method, plan.url);
                }
                (0, 0)
            }
        };
        let end = Instant::now();
        samples.push(Sample { end_us: (end - t0).as_micros() as u64, latency_us: (end - start).as_micros() as u64, status, bytes });
    }
    samples
}

/// utime + stime, in clock ticks, of each named process (None when it is gone).
fn read_cpu(pids: &[(String, u32)]) -> Vec<(String, Option<u64>)> {
    pids.iter()
        .map(|(name, pid)| {
            let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| {
                // The command name may hold spaces: the fields that matter follow the last ')'.
                let fields: Vec<&str> = s[s.rfind(')')? + 1..].split_whitespace().collect();
                Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
            });
            (name.clone(), ticks)
        })
        .collect()
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &Args,
    plan: &Plan,
    concurrency: usize,
    mode: &str,
    samples: Vec<Sample>,
    window_start: Duration,
    window_end: Duration,
    cpu_before: &[(String, Option<u64>)],
    cpu_after: &[(String, Option<u64>)],
    clk_tck: f64,
) -> Value {
    let measured_s = (window_end - window_start).as_secs_f64();
    let requests = samples.len() as u64;
    let ok = samples.iter().filter(|s| (200..300).contains(&s.status)).count() as u64;
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for s in &samples {
        let key = if s.status == 0 { "transport_error".to_string() } else { s.status.to_string() };
        *statuses.entry(key).or_default() += 1;
    }
    let mut lat: Vec<u64> = samples.iter().map(|s| s.latency_us).collect();
    lat.sort_unstable();
    // Nearest rank: the smallest latency with at least q of the samples at or below it.
    let pct = |q: f64| -> Value {
        if lat.is_empty() {
            return Value::Null;
        }
        let rank = ((q * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
        json!(round3(lat[rank - 1] as f64 / 1000.0))
    };
    let mean_ms = if lat.is_empty() { Value::Null } else { json!(round3(lat.iter().sum::<u64>() as f64 / lat.len() as f64 / 1000.0)) };
    let bytes = samples.iter().map(|s| s.bytes).sum::<u64>();

    let mut cpu_ms = serde_json::Map::new();
    let mut cpu_ms_per_req = serde_json::Map::new();
    for ((name, before), (_, after)) in cpu_before.iter().zip(cpu_after) {
        let (ms, per) = match (before, after) {
            (Some(b), Some(a)) => {
                let ms = (a.saturating_sub(*b)) as f64 * 1000.0 / clk_tck;
                (json!(round1(ms)), if requests > 0 { json!(round3(ms / requests as f64)) } else { Value::Null })
            }
            _ => (Value::Null, Value::Null),
        };
        cpu_ms.insert(name.clone(), ms);
        cpu_ms_per_req.insert(name.clone(), per);
    }

    json!({
        "label": args.get("label").unwrap_or(""),
        "method": plan.method.as_str(),
        "url": plan.url,
        "body": match plan.body { BodyKind::None => "none", BodyKind::Register => "register",
                                  BodyKind::Metrics => "metrics", BodyKind::Compute => "compute" },
        "node_ids": if matches!(plan.body, BodyKind::Register | BodyKind::Metrics) { json!(plan.nodes) } else { Value::Null },
        "concurrency": concurrency,
        "mode": mode,
        "warmup_s": round3(window_start.as_secs_f64()),
        "measured_s": round3(measured_s),
        "requests": requests,
        "ok": ok,
        "errors": requests - ok,
        "statuses": statuses,
        "rps": if measured_s > 0.0 { round1(requests as f64 / measured_s) } else { 0.0 },
        "latency_ms": { "mean": mean_ms, "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99),
                        "max": lat.last().map(|&m| json!(round3(m as f64 / 1000.0))).unwrap_or(Value::Null) },
        "mean_response_bytes": bytes.checked_div(requests).unwrap_or(0),
        "cpu_ms": cpu_ms,
        "cpu_ms_per_request": cpu_ms_per_req,
        "clk_tck": clk_tck,
    })
}
