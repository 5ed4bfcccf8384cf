//! The load and fault suite: a large concurrent burst of metric pushes, the dispatcher against a
//! fake GitHub that fails, rate-limits and stalls (seeded, deterministic), and a restart of the
//! Worker in the middle of a burst of enqueues, after which the outbox sweep must send what the
//! killed process lost. Timings are printed for information only; nothing asserts on speed.

use crate::harness::{Worker, KEY};
use crate::Suite;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "load",
        vars: suite_vars(),
        cases: vec![
            ("ten_thousand_pushes_from_50_clients_over_500_nodes_are_all_stored", ten_thousand_pushes),
            ("dispatcher_under_a_flaky_github_dispatches_each_job_at_most_once", dispatcher_under_flaky_github),
            ("restart_mid_burst_loses_no_job_and_the_sweep_sends_the_rest", restart_mid_burst),
        ],
    }]
}

const GH_TOKEN: &str = "test-gh-token";
/// The seed of the fake GitHub's answers: the same tenant and attempt get the same answer.
const SEED: u64 = 0x5eed_2026_c0ff_ee01;

fn suite_vars() -> Vec<(&'static str, String)> {
    let port = fake().port;
    vec![
        ("GITHUB_WORKFLOW_DISPATCH_URL", format!("http://127.0.0.1:{port}/repos/acme/infra/actions/workflows/provision-tenant.yml/dispatches")),
        ("GITHUB_TOKEN", GH_TOKEN.into()),
        ("DISPATCH_RETRY_BASE_SECONDS", "1".into()),
        ("DISPATCH_RETRY_MAX_SECONDS", "1".into()),
        ("PLACEMENT_POLICY", "one_tenant_one_server_v1".into()),
    ]
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// The fake GitHub: a threaded HTTP/1.1 server on std's TcpListener.

const MODE_FLAKY: u8 = 0;
const MODE_OK: u8 = 1;

/// One dispatch request as the fake saw and answered it.
#[derive(Debug, Clone)]
pub struct Hit {
    pub job_id: String,
    pub tenant_id: String,
    /// The status answered (for a slow answer, after the sleep).
    pub status: u16,
    pub slow: bool,
    pub answered_at: Instant,
    /// Anything wrong with the request's headers or body (empty when it was right).
    pub problems: Vec<String>,
}

pub struct Fake {
    pub port: u16,
    mode: Arc<AtomicU8>,
    hits: Arc<Mutex<Vec<Hit>>>,
}

static FAKE: OnceLock<Fake> = OnceLock::new();

fn fake() -> &'static Fake {
    FAKE.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake GitHub");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(MODE_OK));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let (m, h) = (mode.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, h) = (m.clone(), h.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &m, &h);
                });
            }
        });
        Fake { port, mode, hits }
    })
}

impl Fake {
    fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

fn read_request(stream: &mut TcpStream) -> Result<(String, Vec<(String, String)>, Vec<u8>), String> {
    stream.set_read_timeout(Some(Duration::from_secs(20))).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut tmp).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the headers ended".into());
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))).collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut tmp).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok((request_line, headers, body))
}

fn serve(mut stream: TcpStream, mode: &AtomicU8, hits: &Mutex<Vec<Hit>>) -> Result<(), String> {
    let (request_line, headers, body) = read_request(&mut stream)?;
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inputs = &body["inputs"];
    let job_id = inputs["job_id"].as_str().unwrap_or_default().to_string();
    let tenant_id = inputs["tenant_id"].as_str().unwrap_or_default().to_string();

    let mut problems = Vec::new();
    if !request_line.starts_with("POST /repos/acme/infra/actions/workflows/provision-tenant.yml/dispatches ") {
        problems.push(format!("request line {request_line:?}"));
    }
    if header("authorization") != Some(&format!("Bearer {GH_TOKEN}")) {
        problems.push("authorization".into());
    }
    if header("accept") != Some("application/vnd.github+json") {
        problems.push(format!("accept {:?}", header("accept")));
    }
    if header("x-github-api-version") != Some("2022-11-28") {
        problems.push(format!("x-github-api-version {:?}", header("x-github-api-version")));
    }
    if header("user-agent").is_none_or(|u| u.trim().is_empty()) {
        problems.push("no user-agent".into());
    }
    if body["ref"] != "main" {
        problems.push(format!("ref {}", body["ref"]));
    }
    let fields = ["job_id", "tenant_id", "region", "create_new_server", "target_server_id", "subdomain_slug", "canonical_hostname", "dedicated", "trace_id"];
    match inputs.as_object() {
        Some(map) if map.len() == fields.len() && fields.iter().all(|f| map.get(*f).is_some_and(Value::is_string)) => {}
        _ => problems.push(format!("inputs {inputs}")),
    }

    // Which attempt this is for the job decides the answer; the attempt is counted and the
    // answer recorded under one lock, so concurrent requests for one job count separately.
    let (index, status, slow_ms) = {
        let mut h = hits.lock().unwrap();
        let attempt = h.iter().filter(|h| h.job_id == job_id).count() as u64;
        let (status, slow_ms) = if mode.load(Ordering::SeqCst) == MODE_OK {
            (204, 0)
        } else if tenant_id.contains("doomed") {
            (if attempt % 2 == 0 { 500 } else { 429 }, 0)
        } else {
            let r = splitmix(SEED ^ fnv(&tenant_id) ^ attempt.wrapping_mul(0x1000_0000_01b3));
            match r % 100 {
                0..=34 => (204, 0),
                35..=59 => (500, 0),
                60..=79 => (429, 0),
                n => (if n % 2 == 0 { 204 } else { 500 }, 2000 + (r >> 32) % 1000),
            }
        };
        h.push(Hit { job_id: job_id.clone(), tenant_id, status, slow: slow_ms > 0, answered_at: Instant::now(), problems });
        (h.len() - 1, status, slow_ms)
    };
    if slow_ms > 0 {
        std::thread::sleep(Duration::from_millis(slow_ms));
    }
    let response = match status {
        204 => "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".to_string(),
        429 => {
            let b = r#"{"message":"API rate limit exceeded","documentation_url":"https://docs.github.com/rest"}"#;
            format!("HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{b}", b.len())
        }
        _ => {
            let b = r#"{"message":"Server Error"}"#;
            format!("HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\nConnection: close\r\n\r\n{b}", b.len())
        }
    };
    let written = stream.write_all(response.as_bytes()).and_then(|_| stream.flush());
    hits.lock().unwrap()[index].answered_at = Instant::now();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    written.map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Clients.

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).build().unwrap()
}

fn post_json(http: &reqwest::blocking::Client, base: &str, path: &str, body: &Value) -> Result<(u16, String), String> {
    let r = http
        .post(format!("{base}{path}"))
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.text().map_err(|e| e.to_string())?))
}

// ---------------------------------------------------------------------------------------------
// 1. Ten thousand pushes.

fn ten_thousand_pushes(w: &mut Worker) {
    const NODES: usize = 500;
    const PUSHES: usize = 10_000;
    const CLIENTS: usize = 50;
    const REGIONS: [&str; 3] = ["sg", "us", "eu"];
    let base = w.base.clone();
    let http = client();

    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..10 {
            let (http, base) = (&http, &base);
            s.spawn(move || {
                for n in (t..NODES).step_by(10) {
                    let body = json!({"node_id": format!("load-{n:03}"), "region": REGIONS[n % 3], "host": format!("10.2.{}.{}", n / 250, n % 250)});
                    let (status, text) = post_json(http, base, "/internal/nodes", &body).expect("register");
                    assert_eq!(status, 201, "{text}");
                }
            });
        }
    });
    println!("load: registered {NODES} nodes in {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(w.count("SELECT COUNT(*) FROM nodes WHERE node_id LIKE 'load-%'"), NODES as i64);
    let snapshots_before = w.count("SELECT COUNT(*) FROM server_metrics_snapshots");

    let accepted = Mutex::new(Vec::<(usize, bool)>::with_capacity(PUSHES));
    let statuses = Mutex::new(BTreeMap::<u16, usize>::new());
    let failures = Mutex::new(Vec::<String>::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..CLIENTS {
            let (http, base, accepted, statuses, failures) = (&http, &base, &accepted, &statuses, &failures);
            s.spawn(move || {
                for i in (t..PUSHES).step_by(CLIENTS) {
                    // Deterministic: ~30% ask for a snapshot; tenant_count = i is unique per push.
                    let snapshot = splitmix(SEED ^ i as u64) % 10 < 3;
                    let body = json!({
                        "node_id": format!("load-{:03}", i % NODES),
                        "cpu_pct": (i % 101) as f64,
                        "memory_pct": ((i * 7) % 100) as f64 + 0.5,
                        "disk_pct": 40.25,
                        "tenant_count": i,
                        "save_snapshot": snapshot,
                    });
                    match post_json(http, base, "/internal/server-metrics", &body) {
                        Ok((status, text)) => {
                            *statuses.lock().unwrap().entry(status).or_default() += 1;
                            if (200..300).contains(&status) {
                                accepted.lock().unwrap().push((i, snapshot));
                            } else {
                                failures.lock().unwrap().push(format!("push {i}: {status} {text}"));
                            }
                        }
                        Err(e) => failures.lock().unwrap().push(format!("push {i}: transport {e}")),
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let statuses = statuses.into_inner().unwrap();
    let accepted = accepted.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    let asked: usize = (0..PUSHES).filter(|i| splitmix(SEED ^ *i as u64) % 10 < 3).count();
    println!(
        "load: {PUSHES} pushes from {CLIENTS} clients in {elapsed:.1}s = {:.0} pushes/s; statuses {statuses:?}; {} asked for a snapshot; {} transport errors",
        PUSHES as f64 / elapsed,
        asked,
        failures.iter().filter(|f| f.contains("transport")).count()
    );
    assert_eq!(statuses.keys().filter(|s| **s >= 500).count(), 0, "no 5xx: {statuses:?}");
    assert!(failures.is_empty(), "{} pushes failed, e.g. {:?}", failures.len(), &failures[..failures.len().min(5)]);
    assert_eq!(accepted.len(), PUSHES);

    // The snapshot rows are exactly the accepted pushes that asked for one.
    let want: BTreeSet<i64> = accepted.iter().filter(|(_, s)| *s).map(|(i, _)| *i as i64).collect();
    let rows = w.sql("SELECT tenant_count, node_id FROM server_metrics_snapshots WHERE node_id LIKE 'load-%'");
    let got: BTreeSet<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(rows.len(), got.len(), "a push was stored twice as a snapshot");
    assert_eq!(got.len(), want.len(), "snapshot rows vs accepted snapshot pushes");
    assert!(got == want, "snapshot rows differ from the accepted snapshot pushes: missing {:?}, extra {:?}",
        want.difference(&got).take(10).collect::<Vec<_>>(), got.difference(&want).take(10).collect::<Vec<_>>());
    for r in &rows {
        let i = r[0].as_u64().unwrap() as usize;
        assert_eq!(r[1], json!(format!("load-{:03}", i % NODES)), "snapshot of push {i} on the wrong node");
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots") - snapshots_before, want.len() as i64);

    // Each node's latest row is one of the pushes accepted for it, with that push's values.
    let accepted_set: BTreeSet<usize> = accepted.iter().map(|(i, _)| *i).collect();
    let latest = w.sql("SELECT node_id, tenant_count, cpu_pct, memory_pct, disk_pct, source FROM server_metrics WHERE node_id LIKE 'load-%'");
    assert_eq!(latest.len(), NODES, "one latest row per node");
    for row in latest {
        let node: usize = row[0].as_str().unwrap().trim_start_matches("load-").parse().unwrap();
        let i = row[1].as_u64().unwrap() as usize;
        assert_eq!(i % NODES, node, "the latest row of load-{node} came from another node's push ({i})");
        assert!(accepted_set.contains(&i), "latest row {i} of load-{node} was not an accepted push");
        assert_eq!(row[2].as_f64().unwrap(), (i % 101) as f64, "cpu_pct of push {i}");
        assert_eq!(row[3].as_f64().unwrap(), ((i * 7) % 100) as f64 + 0.5, "memory_pct of push {i}");
        assert_eq!(row[4].as_f64().unwrap(), 40.25);
        assert_eq!(row[5], "node_push");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The dispatcher against a flaky GitHub.

fn enqueue(http: &reqwest::blocking::Client, base: &str, tenant: &str) -> Result<(u16, String), String> {
    post_json(http, base, &format!("/internal/tenants/{tenant}/enqueue-provision"), &json!({"subdomain_slug": tenant}))
}

fn jobs_of(w: &Worker, prefix: &str) -> BTreeMap<String, (String, i64, Option<String>)> {
    w.sql(&format!("SELECT job_id, status, attempts, last_error FROM provision_jobs WHERE tenant_id LIKE '{prefix}%'"))
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), (r[1].as_str().unwrap().to_string(), r[2].as_i64().unwrap(), r[3].as_str().map(String::from))))
        .collect()
}

fn hits_by_job(prefix: &str) -> BTreeMap<String, Vec<Hit>> {
    let mut out: BTreeMap<String, Vec<Hit>> = BTreeMap::new();
    for h in fake().hits().into_iter().filter(|h| h.tenant_id.starts_with(prefix)) {
        out.entry(h.job_id.clone()).or_default().push(h);
    }
    out
}

fn is_2xx(s: u16) -> bool {
    (200..300).contains(&s)
}

fn dispatcher_under_flaky_github(w: &mut Worker) {
    const JOBS: usize = 40;
    fake().set_mode(MODE_FLAKY);
    let http = client();
    let tenant = |i: usize| if i % 8 == 7 { format!("flaky-doomed-{i:02}") } else { format!("flaky-{i:02}") };
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..JOBS {
        let t = tenant(i);
        let (status, text) = enqueue(&http, &w.base, &t).expect("enqueue");
        assert_eq!(status, 202, "{t}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["placement"]["create_new_server"], true, "one_tenant_one_server_v1");
        accepted.insert(body["job_id"].as_str().unwrap().to_string(), t);
    }

    let deadline = Instant::now() + Duration::from_secs(90);
    let jobs = loop {
        let jobs = jobs_of(w, "flaky-");
        let pending = jobs.values().filter(|(s, ..)| s == "pending").count();
        if pending == 0 || Instant::now() > deadline {
            break jobs;
        }
        std::thread::sleep(Duration::from_millis(1000));
    };
    let settled = started.elapsed().as_secs_f64();
    let hits = hits_by_job("flaky-");
    let all_hits: Vec<&Hit> = hits.values().flatten().collect();
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for h in &all_hits {
        *answered.entry(format!("{}{}", h.status, if h.slow { "_slow" } else { "" })).or_default() += 1;
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, ..) in jobs.values() {
        *by_status.entry(s.as_str()).or_default() += 1;
    }
    println!(
        "load: dispatcher: {} jobs settled in {settled:.1}s: {by_status:?}; fake GitHub answered {} requests: {answered:?}",
        jobs.len(),
        all_hits.len()
    );

    assert_eq!(jobs.len(), accepted.len(), "rows vs 202s: none lost, none extra");
    for job_id in accepted.keys() {
        assert!(jobs.contains_key(job_id), "accepted job {job_id} is not in D1");
    }
    let pending: Vec<String> = jobs
        .iter()
        .filter(|(_, (s, ..))| s == "pending")
        .map(|(j, (_, attempts, err))| format!("{} {j}: attempts {attempts}, last_error {err:?}, requests {:?}", accepted[j], hits.get(j).map(|hs| hs.iter().map(|h| h.status).collect::<Vec<_>>())))
        .collect();
    if !pending.is_empty() {
        let health = match client().get(format!("{}/health", w.base)).timeout(Duration::from_secs(5)).send() {
            Ok(r) => r.status().to_string(),
            Err(e) => format!("transport error {e}"),
        };
        panic!("still pending after 90 s (GET /health now: {health}):\n{}", pending.join("\n"));
    }
    let problems: Vec<String> = all_hits.iter().flat_map(|h| h.problems.iter().map(move |p| format!("{}: {p}", h.job_id))).collect();
    assert!(problems.is_empty(), "malformed dispatch requests: {problems:?}");

    for (job_id, (status, attempts, last_error)) in &jobs {
        let tenant = &accepted[job_id];
        let job_hits = hits.get(job_id).cloned().unwrap_or_default();
        let statuses: Vec<u16> = job_hits.iter().map(|h| h.status).collect();
        let ok = statuses.iter().filter(|s| is_2xx(**s)).count();
        assert!(ok <= 1, "{tenant} ({job_id}) was dispatched {ok} times: {statuses:?}");
        assert!(job_hits.len() <= 6, "{tenant}: {} dispatch requests, more than the 6 deliveries a message gets: {statuses:?}", job_hits.len());
        assert_eq!(*attempts as usize, job_hits.len(), "{tenant}: attempts column vs requests seen: {statuses:?}");
        match status.as_str() {
            "dispatched" => {
                assert_eq!(ok, 1, "{tenant} is dispatched without a 2xx: {statuses:?}");
                assert!(is_2xx(*statuses.last().unwrap()), "{tenant}: a request after the 2xx: {statuses:?}");
            }
            "failed" => {
                assert_eq!(ok, 0, "{tenant} is failed but got a 2xx: {statuses:?}");
                assert!(last_error.as_deref().is_some_and(|e| e.starts_with("retries exhausted")), "{tenant}: last_error {last_error:?}");
            }
            other => panic!("{tenant} is {other}"),
        }
        if tenant.contains("doomed") {
            assert_eq!(status, "failed", "{tenant}: never answered 2xx, so it must fail");
            assert_eq!(job_hits.len(), 6, "{tenant}: the first delivery and 5 retries: {statuses:?}");
        }
        // The timeline says the same: one job.dispatched event per dispatched job, none otherwise.
        let dispatched_events = w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE job_id = '{job_id}' AND event = 'job.dispatched'"));
        assert_eq!(dispatched_events, i64::from(status == "dispatched"), "{tenant}: job.dispatched events");
        let failed_events = w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE job_id = '{job_id}' AND event = 'job.failed'"));
        assert_eq!(failed_events, i64::from(status == "failed"), "{tenant}: job.failed events");
    }
    assert!(by_status.get("dispatched").copied().unwrap_or(0) > 0 && by_status.get("failed").copied().unwrap_or(0) > 0, "{by_status:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. A restart in the middle of a burst of enqueues.

fn restart_mid_burst(w: &mut Worker) {
    const JOBS: usize = 30;
    fake().set_mode(MODE_OK);
    let base = w.base.clone();
    let accepted: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let outcomes: Arc<Mutex<BTreeMap<String, usize>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let worker_errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let burst = {
        let (accepted, outcomes, worker_errors) = (accepted.clone(), outcomes.clone(), worker_errors.clone());
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(15)).build().unwrap();
            for i in 0..JOBS {
                let tenant = format!("restart-{i:02}");
                match enqueue(&http, &base, &tenant) {
                    Ok((202, text)) => {
                        let body: Value = serde_json::from_str(&text).unwrap();
                        accepted.lock().unwrap().push((body["job_id"].as_str().unwrap().to_string(), tenant));
                        *outcomes.lock().unwrap().entry("202".into()).or_default() += 1;
                    }
                    Ok((status, text)) => {
                        // Only a JSON error body is the Worker's; wrangler's proxy answers 503 in
                        // plain text while the process restarts.
                        if status >= 500 && serde_json::from_str::<Value>(&text).is_ok_and(|v| v.get("error").is_some()) {
                            worker_errors.lock().unwrap().push(format!("{tenant}: {status} {text}"));
                        }
                        *outcomes.lock().unwrap().entry(status.to_string()).or_default() += 1;
                    }
                    Err(e) => {
                        if i < 3 {
                            eprintln!("load: restart: {tenant}: transport error {e}");
                        }
                        *outcomes.lock().unwrap().entry("transport_error".into()).or_default() += 1;
                        std::thread::sleep(Duration::from_millis(500));
                    }
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    // Restart once a third of the burst is in.
    let wait = Instant::now();
    while accepted.lock().unwrap().len() < JOBS / 3 && wait.elapsed() < Duration::from_secs(60) && !burst.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let accepted_before_restart = accepted.lock().unwrap().len();
    let vars = suite_vars();
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let restart_started = Instant::now();
    w.restart(&vars);
    let restart_ended = Instant::now();
    let restart_s = restart_started.elapsed().as_secs_f64();
    burst.join().expect("the burst thread");
    let accepted: Vec<(String, String)> = accepted.lock().unwrap().clone();
    let outcomes = outcomes.lock().unwrap().clone();
    let worker_errors = worker_errors.lock().unwrap().clone();
    println!("load: restart: {accepted_before_restart} accepted before the restart (took {restart_s:.1}s); burst outcomes {outcomes:?}");
    assert!(worker_errors.is_empty(), "the Worker answered 5xx: {worker_errors:?}");
    assert!(!accepted.is_empty());

    // Every accepted job is in D1.
    let rows = jobs_of(w, "restart-");
    for (job_id, tenant) in &accepted {
        assert!(rows.contains_key(job_id), "accepted job {job_id} of {tenant} was lost");
    }

    // Let the restarted Worker's consumer drain what it was sent; the rest stays pending.
    let mut last = String::new();
    let mut stable_since = Instant::now();
    let quiet_deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < quiet_deadline {
        let snapshot = format!("{:?}", w.sql("SELECT job_id, status, lease_until FROM provision_jobs WHERE tenant_id LIKE 'restart-%' ORDER BY job_id"));
        if snapshot != last {
            last = snapshot;
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_secs(4) {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let held = w.count(&format!("SELECT COUNT(*) FROM provision_jobs WHERE tenant_id LIKE 'restart-%' AND status = 'pending' AND lease_until > {}", now_ms()));
    let pending_before_sweep = w.count("SELECT COUNT(*) FROM provision_jobs WHERE tenant_id LIKE 'restart-%' AND status = 'pending'");
    println!("load: restart: {} rows, {pending_before_sweep} pending before the sweep ({held} still leased)", rows.len());

    // Time passes: pending jobs are more than 2 minutes overdue and no consumer holds them.
    w.sql(&format!(
        "UPDATE provision_jobs SET next_attempt_at = {}, lease_until = NULL WHERE tenant_id LIKE 'restart-%' AND status = 'pending'",
        now_ms() - 3 * 60 * 1000
    ));
    let r = w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None);
    assert!(r.status < 300, "scheduled: {} {}", r.status, r.text);

    let deadline = Instant::now() + Duration::from_secs(60);
    let rows = loop {
        let rows = jobs_of(w, "restart-");
        if rows.values().all(|(s, ..)| s == "dispatched") || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    std::thread::sleep(Duration::from_millis(1500));
    let swept = w.log_lines().into_iter().filter(|l| l["msg"] == "scheduled").map(|l| l["resent_jobs"].clone()).collect::<Vec<_>>();
    println!("load: restart: the sweep resent {swept:?}; {} rows, statuses {:?}", rows.len(), rows.values().map(|(s, ..)| s.as_str()).collect::<BTreeSet<_>>());
    for (job_id, tenant) in &accepted {
        assert_eq!(rows[job_id].0, "dispatched", "accepted job of {tenant} is {:?}", rows[job_id]);
    }
    let not_dispatched: Vec<_> = rows.iter().filter(|(_, (s, ..))| s != "dispatched").collect();
    assert!(not_dispatched.is_empty(), "rows not dispatched (incl. unanswered requests): {not_dispatched:?}");

    let hits = hits_by_job("restart-");
    for (job_id, (_, attempts, _)) in &rows {
        let statuses: Vec<u16> = hits.get(job_id).map(|hs| hs.iter().map(|h| h.status).collect()).unwrap_or_default();
        let ok = statuses.iter().filter(|s| is_2xx(**s)).count();
        let first_ok_during_kill = hits.get(job_id).and_then(|hs| hs.iter().find(|h| is_2xx(h.status))).is_some_and(|h| {
            h.answered_at + Duration::from_secs(1) >= restart_started && h.answered_at <= restart_ended
        });
        assert_eq!(
            ok, 1,
            "job {job_id} got {ok} 2xx answers: {statuses:?} (attempts {attempts}){}",
            if first_ok_during_kill { "; the first was answered while the process was being killed, before it could record the dispatch" } else { "" }
        );
    }
    if pending_before_sweep > 0 {
        assert!(swept.iter().any(|v| v.as_i64().unwrap_or(0) >= pending_before_sweep), "the sweep resent {swept:?}, fewer than {pending_before_sweep}");
    } else {
        println!("load: restart: note: no job was left pending by the restart this time, so the sweep had nothing to send");
    }
}
