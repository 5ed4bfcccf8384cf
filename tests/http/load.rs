//! The load and fault suite: a large concurrent burst of metric pushes, the dispatcher against a
//! fake GitHub that fails, rate-limits and stalls (seeded, deterministic), and a restart of the
//! Worker in the middle of a burst of enqueues, after which the outbox sweep must send what the
//! killed process lost. Timings are printed for information only; nothing asserts on speed.

use crate::fake_github::{self, Answer, Request};
use crate::harness::{request, Resp, Worker};
use crate::support::{client, enqueue, now_ms, poll, post_json};
use crate::Suite;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// The seed of the fake GitHub's answers: the same tenant and attempt get the same answer.
const SEED: u64 = 0x5eed_2026_c0ff_ee01;

/// The default retry policy (30 s doubling to 600 s, a six-hour deadline) scaled down to fit a
/// test: 1 s doubling to 5 s, a ten-minute deadline.
fn suite_vars() -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = github().worker_vars().into_iter().filter(|(k, _)| !k.starts_with("DISPATCH_RETRY_")).collect();
    vars.push(("DISPATCH_RETRY_BASE_SECONDS", "1".into()));
    vars.push(("DISPATCH_RETRY_MAX_SECONDS", "5".into()));
    vars.push(("DISPATCH_DEADLINE_SECONDS", "600".into()));
    vars.push(("PLACEMENT_POLICY", "one_tenant_one_server_v1".into()));
    vars
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

// ---------------------------------------------------------------------------------------------
// The fake GitHub: every dispatch succeeds, except while the flaky case runs.

crate::fake_github::suite_github!(|_, _| Answer::ok());

/// Decided by the tenant and the attempt alone (seeded), so a run can be repeated: about a third
/// 204, the rest 500, 429, a secondary-rate-limit 403 or an answer after 2-3 s.
fn flaky(tenant: &str, attempt: usize) -> Answer {
    let attempt = attempt as u64;
    let e500 = || Answer::status(500).json(json!({"message": "Server Error"}));
    let e429 = || {
        Answer::status(429).header("retry-after", "1").json(json!({"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com/rest"}))
    };
    let e403 = || Answer::status(403).json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}));
    let r = splitmix(SEED ^ fnv(tenant) ^ attempt.wrapping_mul(0x1000_0000_01b3));
    match r % 100 {
        0..=34 => Answer::ok(),
        35..=54 => e500(),
        55..=69 => e429(),
        70..=79 => e403(),
        n => (if n % 2 == 0 { Answer::ok() } else { e500() }).after(Duration::from_millis(2000 + (r >> 32) % 1000)),
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Ten thousand pushes.

fn ten_thousand_pushes(w: &mut Worker) {
    const NODES: usize = 500;
    const PUSHES: usize = 10_000;
    const CLIENTS: usize = 50;
    const REGIONS: [&str; 3] = ["sg", "us", "eu"];
    let base = w.base.clone();
    let http = client(Duration::from_secs(30));

    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..10 {
            let (http, base) = (&http, &base);
            s.spawn(move || {
                for n in (t..NODES).step_by(10) {
                    let body = json!({"node_id": format!("load-{n:03}"), "region": REGIONS[n % 3], "host": format!("10.2.{}.{}", n / 250, n % 250)});
                    let r = post_json(http, base, "/internal/nodes", &body).expect("register");
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            });
        }
    });
    println!("load: registered {NODES} nodes in {:.1}s", started.elapsed().as_secs_f64());
    assert_eq!(w.count("SELECT COUNT(*) FROM nodes WHERE node_id LIKE 'load-%'"), NODES as i64);
    let snapshots_before = w.count("SELECT COUNT(*) FROM server_metrics_snapshots");

    // (push, asked for a snapshot, the answer's snapshot_saved)
    let accepted = Mutex::new(Vec::<(usize, bool, bool)>::with_capacity(PUSHES));
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
                        Ok(r) => {
                            *statuses.lock().unwrap().entry(r.status).or_default() += 1;
                            if (200..300).contains(&r.status) {
                                let saved = r.json()["snapshot_saved"].as_bool().expect("snapshot_saved");
                                accepted.lock().unwrap().push((i, snapshot, saved));
                            } else {
                                failures.lock().unwrap().push(format!("push {i}: {} {}", r.status, r.text));
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

    // The snapshot rows are exactly the accepted pushes whose answer said snapshot_saved; only
    // pushes that asked were saved, and within SNAPSHOT_MIN_INTERVAL_SECONDS (300 s, longer
    // than this burst) each node that asked got exactly one, however many pushes raced for it.
    assert!(accepted.iter().all(|(_, asked, saved)| asked | !saved), "a snapshot saved that was not asked for");
    let want: BTreeSet<i64> = accepted.iter().filter(|(_, _, saved)| *saved).map(|(i, _, _)| *i as i64).collect();
    let asking_nodes: BTreeSet<usize> = accepted.iter().filter(|(_, asked, _)| *asked).map(|(i, _, _)| i % NODES).collect();
    assert_eq!(want.len(), asking_nodes.len(), "one snapshot per node that asked, within the interval");
    let rows = w.sql("SELECT tenant_count, node_id FROM server_metrics_snapshots WHERE node_id LIKE 'load-%'");
    let got: BTreeSet<i64> = rows.iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(rows.len(), got.len(), "a push was stored twice as a snapshot");
    assert_eq!(got.len(), want.len(), "snapshot rows vs accepted snapshot pushes");
    assert!(
        got == want,
        "snapshot rows differ from the accepted snapshot pushes: missing {:?}, extra {:?}",
        want.difference(&got).take(10).collect::<Vec<_>>(),
        got.difference(&want).take(10).collect::<Vec<_>>()
    );
    for r in &rows {
        let i = r[0].as_u64().unwrap() as usize;
        assert_eq!(r[1], json!(format!("load-{:03}", i % NODES)), "snapshot of push {i} on the wrong node");
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots") - snapshots_before, want.len() as i64);

    // Each node's latest row is one of the pushes accepted for it, with that push's values.
    let accepted_set: BTreeSet<usize> = accepted.iter().map(|(i, _, _)| *i).collect();
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

/// An enqueue as the burst sends it: the tenant id is also the slug.
fn enqueue_tenant(http: &Client, base: &str, tenant: &str) -> Result<Resp, String> {
    enqueue(http, base, tenant, &json!({"subdomain_slug": tenant}), None)
}

fn jobs_of(w: &Worker, prefix: &str) -> BTreeMap<String, (String, i64, Option<String>)> {
    w.sql(&format!("SELECT job_id, status, attempts, last_error FROM provision_jobs WHERE tenant_id LIKE '{prefix}%'"))
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), (r[1].as_str().unwrap().to_string(), r[2].as_i64().unwrap(), r[3].as_str().map(String::from))))
        .collect()
}

fn dispatcher_under_flaky_github(w: &mut Worker) {
    const JOBS: usize = 40;
    github().set_script(flaky);
    let http = client(Duration::from_secs(30));
    let tenant = |i: usize| format!("flaky-{i:02}");
    let mut accepted: BTreeMap<String, String> = BTreeMap::new();
    let started = Instant::now();
    for i in 0..JOBS {
        let t = tenant(i);
        let r = enqueue_tenant(&http, &w.base, &t).expect("enqueue");
        assert_eq!(r.status, 202, "{t}: {}", r.text);
        let body = r.json();
        assert_eq!(body["placement"]["create_new_server"], true, "one_tenant_one_server_v1");
        accepted.insert(body["job_id"].as_str().unwrap().to_string(), t);
    }

    // Still pending after 150 s fails below, with every job's requests.
    let jobs = poll(Duration::from_secs(150), Duration::from_millis(1000), || jobs_of(w, "flaky-"), |jobs| jobs.values().all(|(s, ..)| s != "pending"));
    let settled = started.elapsed().as_secs_f64();
    let hits = github().by_job("flaky-");
    let all_hits: Vec<&Request> = hits.values().flatten().collect();
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    for h in &all_hits {
        *answered.entry(format!("{}{}", h.status, if h.delay.is_zero() { "" } else { "_slow" })).or_default() += 1;
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for (s, ..) in jobs.values() {
        *by_status.entry(s.as_str()).or_default() += 1;
    }
    println!("load: dispatcher: {} jobs settled in {settled:.1}s: {by_status:?}; fake GitHub answered {} requests: {answered:?}", jobs.len(), all_hits.len());

    assert_eq!(jobs.len(), accepted.len(), "rows vs 202s: none lost, none extra");
    for job_id in accepted.keys() {
        assert!(jobs.contains_key(job_id), "accepted job {job_id} is not in D1");
    }
    let pending: Vec<String> = jobs
        .iter()
        .filter(|(_, (s, ..))| s == "pending")
        .map(|(j, (_, attempts, err))| {
            format!("{} {j}: attempts {attempts}, last_error {err:?}, requests {:?}", accepted[j], hits.get(j).map(|hs| fake_github::statuses(hs)))
        })
        .collect();
    if !pending.is_empty() {
        let health = match request(&client(Duration::from_secs(30)), &w.base, "GET", "/health", &[], None, Some(Duration::from_secs(5))) {
            Ok(r) => r.status.to_string(),
            Err(e) => format!("transport error {e}"),
        };
        panic!("still pending after 150 s (GET /health now: {health}):\n{}", pending.join("\n"));
    }
    let problems: Vec<String> = all_hits.iter().flat_map(|h| h.problems().into_iter().map(move |p| format!("{}: {p}", h.job_id()))).collect();
    assert!(problems.is_empty(), "malformed dispatch requests: {problems:?}");

    for (job_id, (status, attempts, last_error)) in &jobs {
        let tenant = &accepted[job_id];
        let job_hits = hits.get(job_id).cloned().unwrap_or_default();
        let statuses = fake_github::statuses(&job_hits);
        let ok = fake_github::count_2xx(&job_hits);
        assert!(ok <= 1, "{tenant} ({job_id}) was dispatched {ok} times: {statuses:?}");
        assert_eq!(*attempts as usize, job_hits.len(), "{tenant}: attempts column vs requests seen: {statuses:?}");
        match status.as_str() {
            "dispatched" => {
                assert_eq!(ok, 1, "{tenant} is dispatched without a 2xx: {statuses:?}");
                assert!(job_hits.last().unwrap().is_2xx(), "{tenant}: a request after the 2xx: {statuses:?}");
            }
            // Every fault is retryable and the deadline is far: a failed job is a lost provision.
            other => panic!("{tenant} is {other} ({last_error:?}): {statuses:?}"),
        }
        // The timeline says the same: one job.dispatched event per dispatched job, none otherwise.
        let dispatched_events = w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE job_id = '{job_id}' AND event = 'job.dispatched'"));
        assert_eq!(dispatched_events, i64::from(status == "dispatched"), "{tenant}: job.dispatched events");
        let failed_events = w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE job_id = '{job_id}' AND event = 'job.failed'"));
        assert_eq!(failed_events, i64::from(status == "failed"), "{tenant}: job.failed events");
    }
    assert_eq!(by_status.get("dispatched").copied().unwrap_or(0), JOBS, "every job dispatched, none failed: {by_status:?}");
    let retried_403 = all_hits.iter().filter(|h| h.status == 403).count();
    assert!(retried_403 > 0, "the run includes secondary-rate-limit 403s: {answered:?}");
}

// ---------------------------------------------------------------------------------------------
// 3. A restart in the middle of a burst of enqueues.

fn restart_mid_burst(w: &mut Worker) {
    const JOBS: usize = 30;
    github().set_script(|_, _| Answer::ok());
    let base = w.base.clone();
    let accepted: Arc<Mutex<Vec<(String, String)>>> = Arc::new(Mutex::new(Vec::new()));
    let outcomes: Arc<Mutex<BTreeMap<String, usize>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let worker_errors: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let burst = {
        let (accepted, outcomes, worker_errors) = (accepted.clone(), outcomes.clone(), worker_errors.clone());
        std::thread::spawn(move || {
            let http = client(Duration::from_secs(15));
            for i in 0..JOBS {
                let tenant = format!("restart-{i:02}");
                match enqueue_tenant(&http, &base, &tenant) {
                    Ok(r) if r.status == 202 => {
                        let body = r.json();
                        accepted.lock().unwrap().push((body["job_id"].as_str().unwrap().to_string(), tenant));
                        *outcomes.lock().unwrap().entry("202".into()).or_default() += 1;
                    }
                    Ok(r) => {
                        let (status, text) = (r.status, r.text);
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

    let rows = poll(Duration::from_secs(60), Duration::from_millis(500), || jobs_of(w, "restart-"), |rows| rows.values().all(|(s, ..)| s == "dispatched"));
    std::thread::sleep(Duration::from_millis(1500));
    let swept = w.log_lines().into_iter().filter(|l| l["msg"] == "scheduled").map(|l| l["resent_jobs"].clone()).collect::<Vec<_>>();
    println!("load: restart: the sweep resent {swept:?}; {} rows, statuses {:?}", rows.len(), rows.values().map(|(s, ..)| s.as_str()).collect::<BTreeSet<_>>());
    for (job_id, tenant) in &accepted {
        assert_eq!(rows[job_id].0, "dispatched", "accepted job of {tenant} is {:?}", rows[job_id]);
    }
    let not_dispatched: Vec<_> = rows.iter().filter(|(_, (s, ..))| s != "dispatched").collect();
    assert!(not_dispatched.is_empty(), "rows not dispatched (incl. unanswered requests): {not_dispatched:?}");

    let hits = github().by_job("restart-");
    for (job_id, (_, attempts, _)) in &rows {
        let job_hits = hits.get(job_id).cloned().unwrap_or_default();
        let (statuses, ok) = (fake_github::statuses(&job_hits), fake_github::count_2xx(&job_hits));
        let first_ok_during_kill =
            job_hits.iter().find(|h| h.is_2xx()).is_some_and(|h| h.answered_at + Duration::from_secs(1) >= restart_started && h.answered_at <= restart_ended);
        assert_eq!(
            ok,
            1,
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
