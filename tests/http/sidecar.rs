//! The Hetzner metrics sidecar (`scripts/sidecar/hetzner-metrics.py`) run for real against the
//! running Worker and a local stand-in for the Hetzner API: what it pushes is what D1 stores,
//! its drift summary names each kind of mismatch, and a Hetzner error stops it with its exit code
//! before anything is pushed.
//!
//! Each case starts its own fake Hetzner and begins with an empty node registry (the sidecar
//! reads every node, so one case's nodes would be another's drift).

use crate::fake_hetzner::{FakeHetzner, Fault, Server, Target, TOKEN};
use crate::harness::{repo, Worker, KEY};
use crate::programs::{clean, path_with, q, run_cmd, scratch, Run};
use crate::support::now_ms;
use crate::Suite;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "sidecar",
        vars: vec![],
        cases: vec![
            ("sidecar_pushes_hetzner_cpu_where_no_fresh_agent_push_and_reports_drift", pushes_and_reports_drift),
            ("sidecar_never_overwrites_a_fresh_agent_push", agent_push_wins),
            ("sidecar_dry_run_pushes_nothing", dry_run),
            ("sidecar_hetzner_401_exits_3_and_pushes_nothing", hetzner_401),
            ("sidecar_hetzner_429_exits_4_and_pushes_nothing", hetzner_429),
            ("sidecar_hetzner_5xx_exits_5_and_pushes_nothing", hetzner_5xx),
            ("sidecar_retries_a_passing_hetzner_503", hetzner_503_once),
            ("sidecar_wrong_control_plane_key_exits_6_before_asking_hetzner", wrong_cp_key),
            ("sidecar_refuses_plain_http_to_another_host", refuses_plain_http),
            ("sidecar_region_limits_the_registry_it_compares", region_filter),
        ],
    }]
}

/// Runs the sidecar with only the settings it documents.
fn sidecar(w: &Worker, tag: &str, hetzner_url: &str, hcloud_token: &str, cp_key: &str, args: &[&str]) -> Run {
    sidecar_env(w, tag, hetzner_url, hcloud_token, cp_key, args, &[])
}

fn sidecar_env(w: &Worker, tag: &str, hetzner_url: &str, hcloud_token: &str, cp_key: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let dir = scratch(w, tag);
    let mut cmd = Command::new("python3");
    cmd.arg(repo().join("scripts/sidecar/hetzner-metrics.py")).args(args);
    clean(&mut cmd, path_with(None));
    cmd.env("HCLOUD_TOKEN", hcloud_token)
        .env("HCLOUD_API_URL", hetzner_url)
        .env("CONTROL_PLANE_URL", &w.base)
        .env("INTERNAL_API_KEY", cp_key)
        .env("SIDECAR_MAX_ATTEMPTS", "2")
        .env("SIDECAR_BACKOFF_SECONDS", "0")
        .env("GITHUB_STEP_SUMMARY", dir.join("summary.md"))
        .envs(env.iter().copied());
    let run = run_cmd(cmd, &dir, tag, Duration::from_secs(120));
    for secret in [TOKEN, KEY] {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "a token was printed:\n{run}");
        let summary = std::fs::read_to_string(dir.join("summary.md")).unwrap_or_default();
        assert!(!summary.contains(secret), "a token reached the step summary");
    }
    run
}

/// The one JSON line the sidecar prints.
fn summary(run: &Run) -> Value {
    let lines: Vec<&str> = run.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one summary line expected:\n{run}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("summary is not JSON ({e}):\n{run}"))
}

/// Deletes every node (their metrics go with them), so the case starts from an empty registry.
fn reset(w: &Worker) {
    for n in w.get("/internal/nodes").json()["nodes"].as_array().unwrap() {
        let id = n["node_id"].as_str().unwrap();
        let r = w.delete(&format!("/internal/nodes/{id}"));
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

fn node(w: &Worker, id: &str, server_id: Option<u64>) {
    let mut body = json!({"node_id": id, "region": "sg", "host": format!("{id}.nodes.example")});
    if let Some(s) = server_id {
        body["provider_server_id"] = json!(s.to_string());
    }
    let r = w.post("/internal/nodes", &body);
    assert_eq!(r.status, 201, "{}", r.text);
}

fn agent_push(w: &Worker, id: &str, cpu: f64, tenants: i64) {
    let r = w.post("/internal/server-metrics", &json!({"node_id": id, "cpu_pct": cpu, "memory_pct": 40.0, "disk_pct": 30.0, "tenant_count": tenants}));
    assert_eq!(r.status, 200, "{}", r.text);
}

/// The node's server_metrics row: (cpu, memory, disk, tenant_count, source).
fn row(w: &Worker, id: &str) -> Option<Vec<Value>> {
    w.sql(&format!("SELECT cpu_pct, memory_pct, disk_pct, tenant_count, source FROM server_metrics WHERE node_id = {}", q(id))).into_iter().next()
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|i| i["node_id"].as_str().or(i.as_str()).unwrap().to_string()).collect()
}

fn metrics_table(w: &Worker) -> Vec<Vec<Value>> {
    w.sql("SELECT * FROM server_metrics ORDER BY node_id")
}

/// The fleet of the main case: every kind of node and server, over three pages of two.
fn fleet(w: &Worker) -> FakeHetzner {
    reset(w);
    node(w, "sc-none", Some(101)); // registered, never pushed
    node(w, "sc-fresh", Some(102)); // its agent pushes
    node(w, "sc-stale", Some(103)); // its agent stopped an hour ago
    node(w, "sc-off", Some(104)); // the server is powered off
    node(w, "sc-gone", Some(999)); // the server no longer exists
    node(w, "sc-unmapped", None); // no provider_server_id
    agent_push(w, "sc-fresh", 12.5, 7);
    agent_push(w, "sc-stale", 55.0, 5);
    let hour_ago = now_ms() - 3_600_000;
    w.sql(&format!("UPDATE server_metrics SET updated_at = {hour_ago} WHERE node_id = 'sc-stale'"));
    FakeHetzner::start(
        vec![
            Server::running(101, 2, &[50.0, 70.0]), // mean 60 per vCPU = 30 % of 2 vCPUs
            Server::running(102, 4, &[90.0]),
            Server::running(103, 1, &[80.0, 81.0, 82.5]), // mean 81.17 = 81.2 %
            Server::running(104, 2, &[]).with_status("off"),
            Server::running(105, 2, &[10.0]), // no node registered for it
        ],
        2,
    )
}

fn pushes_and_reports_drift(w: &mut Worker) {
    let hz = fleet(w);
    let fresh_before = row(w, "sc-fresh");
    let run = sidecar(w, "main", &hz.url(), TOKEN, KEY, &[]);
    assert_eq!(run.code, 0, "{run}");
    let s = summary(&run);

    // D1: the two running servers without a fresh agent push got Hetzner's CPU, nothing else.
    assert_eq!(row(w, "sc-none").unwrap(), vec![json!(30.0), Value::Null, Value::Null, json!(0), json!("hetzner_api")]);
    // The stale node keeps its last pushed tenant count (Hetzner cannot count tenants).
    assert_eq!(row(w, "sc-stale").unwrap(), vec![json!(81.2), Value::Null, Value::Null, json!(5), json!("hetzner_api")]);
    assert_eq!(row(w, "sc-fresh"), fresh_before, "a fresh agent row was touched");
    assert_eq!(row(w, "sc-fresh").unwrap()[4], json!("node_push"));
    for untouched in ["sc-off", "sc-gone", "sc-unmapped"] {
        assert_eq!(row(w, untouched), None, "{untouched} got a row");
    }
    let n = w.get("/internal/nodes/sc-none").json();
    assert_eq!(n["metrics"]["source"], "hetzner_api");
    assert_eq!(n["stale"], false);

    // Hetzner: all three pages listed; metrics asked only where they are pushed, for CPU over
    // the default five-minute window, with the token.
    let seen = hz.seen();
    let pages: Vec<&str> = seen.iter().filter(|r| r.path == "/v1/servers").map(|r| r.query["page"].as_str()).collect();
    assert_eq!(pages, ["1", "2", "3"]);
    assert_eq!(hz.metrics_asked(), [101, 103]);
    for r in seen.iter().filter(|r| r.path.ends_with("/metrics")) {
        assert_eq!(r.query["type"], "cpu");
        let (start, end) = (crate::fake_hetzner::unix(&r.query["start"]).unwrap(), crate::fake_hetzner::unix(&r.query["end"]).unwrap());
        assert_eq!(end - start, 300, "{:?}", r.query);
        assert!((end * 1000 - now_ms()).abs() < 120_000, "end is not now: {:?}", r.query);
    }
    assert!(seen.iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {TOKEN}")) && r.status == 200), "{seen:?}");

    // The summary: pushes, skips and each kind of drift.
    assert_eq!(s["status"], "ok");
    assert_eq!((s["servers"].clone(), s["nodes"].clone()), (json!(5), json!(6)));
    assert_eq!(ids(&s["pushed"]), ["sc-none", "sc-stale"]);
    assert_eq!(s["pushed"][0]["cpu_pct"], 30.0);
    assert_eq!(ids(&s["skipped"]["fresh_agent_push"]), ["sc-fresh"]);
    assert_eq!(s["skipped"]["server_not_running"], json!([{"node_id": "sc-off", "server_id": 104, "status": "off"}]));
    assert_eq!(ids(&s["skipped"]["nodes_without_provider_server_id"]), ["sc-unmapped"]);
    let drift = &s["drift"];
    assert_eq!(drift["servers_without_node"], json!([{"server_id": 105, "name": "srv-105", "status": "running"}]));
    assert_eq!(drift["nodes_without_server"], json!([{"node_id": "sc-gone", "provider_server_id": "999"}]));
    assert_eq!(ids(&drift["agent_stale_while_running"]), ["sc-none", "sc-stale"]);
    assert_eq!(drift["agent_stale_while_running"][0]["metrics_source"], Value::Null);
    assert_eq!(drift["agent_stale_while_running"][1]["metrics_source"], "node_push");
    assert!(drift["agent_stale_while_running"][1]["metrics_age_s"].as_i64().unwrap() >= 3500);
    assert_eq!(s["drift_count"], 4);
    let md = std::fs::read_to_string(w.dir.join("programs-main/summary.md")).unwrap();
    assert!(md.contains("servers without node (1)") && md.contains("sc-gone"), "{md}");

    // With --fail-on-drift the same state is exit 1 (a run whose pushes still happened).
    let run = sidecar(w, "main-strict", &hz.url(), TOKEN, KEY, &["--fail-on-drift"]);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(summary(&run)["status"], "drift");
    assert_eq!(ids(&summary(&run)["pushed"]), ["sc-none", "sc-stale"], "a hetzner_api row is refreshed on the next run");
}

fn agent_push_wins(w: &mut Worker) {
    let hz = fleet(w);
    assert_eq!(sidecar(w, "first", &hz.url(), TOKEN, KEY, &[]).code, 0);
    assert_eq!(row(w, "sc-none").unwrap()[4], json!("hetzner_api"));
    // The agent on sc-none comes back: its row is now a fresh node_push, which the next run
    // leaves alone and no longer reports as drift.
    agent_push(w, "sc-none", 3.5, 2);
    let run = sidecar(w, "second", &hz.url(), TOKEN, KEY, &[]);
    assert_eq!(run.code, 0, "{run}");
    let s = summary(&run);
    assert_eq!(row(w, "sc-none").unwrap(), vec![json!(3.5), json!(40.0), json!(30.0), json!(2), json!("node_push")]);
    assert_eq!(ids(&s["pushed"]), ["sc-stale"]);
    assert_eq!(ids(&s["skipped"]["fresh_agent_push"]), ["sc-none", "sc-fresh"]);
    assert_eq!(ids(&s["drift"]["agent_stale_while_running"]), ["sc-stale"]);
}

fn dry_run(w: &mut Worker) {
    let hz = fleet(w);
    let before = metrics_table(w);
    let run = sidecar(w, "dry", &hz.url(), TOKEN, KEY, &["--dry-run"]);
    assert_eq!(run.code, 0, "{run}");
    let s = summary(&run);
    assert_eq!(ids(&s["pushed"]), ["sc-none", "sc-stale"]);
    assert!(s["pushed"].as_array().unwrap().iter().all(|p| p["dry_run"] == true));
    assert_eq!(metrics_table(w), before, "a dry run changed D1");
}

/// Runs the fleet against a Hetzner that misbehaves as `fault` says, and checks the run ends
/// with `code` and `kind` and left server_metrics exactly as it was.
fn failing_run(w: &Worker, tag: &str, token: &str, fault: Option<Fault>, code: i32, kind: &str) -> FakeHetzner {
    let hz = fleet(w);
    if let Some(f) = fault {
        hz.fail(f);
    }
    let before = metrics_table(w);
    let run = sidecar(w, tag, &hz.url(), token, KEY, &[]);
    assert_eq!(run.code, code, "{run}");
    let s = summary(&run);
    assert_eq!((s["status"].as_str(), s["error_kind"].as_str(), s["exit_code"].as_i64()), (Some("error"), Some(kind), Some(code as i64)), "{s}");
    assert!(s.get("pushed").is_none(), "{s}");
    assert_eq!(metrics_table(w), before, "a failed Hetzner read still pushed");
    hz
}

fn hetzner_401(w: &mut Worker) {
    let hz = failing_run(w, "h401", "wrong-hcloud-token", None, 3, "hetzner_auth");
    assert_eq!(hz.seen().len(), 1, "a 401 is not retried");
    assert_eq!(hz.seen()[0].status, 401);
}

fn hetzner_429(w: &mut Worker) {
    // The server list works; every metrics request is rate limited (after listing all pages,
    // so the pushes that were ready are held back too).
    let fault = Fault { target: Target::Metrics, status: 429, headers: vec![("Retry-After", "0"), ("RateLimit-Remaining", "0")], times: 100 };
    let hz = failing_run(w, "h429", TOKEN, Some(fault), 4, "hetzner_rate_limited");
    assert_eq!(hz.metrics_asked(), [101, 101], "the first metrics read is tried SIDECAR_MAX_ATTEMPTS times, then the run stops");
}

fn hetzner_5xx(w: &mut Worker) {
    let fault = Fault { target: Target::ServersPage(2), status: 502, headers: vec![], times: 100 };
    let hz = failing_run(w, "h5xx", TOKEN, Some(fault), 5, "hetzner_unavailable");
    let pages: Vec<String> = hz.seen().iter().map(|r| r.query.get("page").cloned().unwrap_or_default()).collect();
    assert_eq!(pages, ["1", "2", "2"], "page 2 tried twice, nothing after it");
    assert!(hz.metrics_asked().is_empty());
}

fn hetzner_503_once(w: &mut Worker) {
    let hz = fleet(w);
    hz.fail(Fault { target: Target::Metrics, status: 503, headers: vec![], times: 1 });
    let run = sidecar(w, "h503", &hz.url(), TOKEN, KEY, &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(hz.metrics_asked(), [101, 101, 103]);
    assert_eq!(row(w, "sc-none").unwrap()[0], json!(30.0));
}

fn wrong_cp_key(w: &mut Worker) {
    let hz = fleet(w);
    let before = metrics_table(w);
    let run = sidecar(w, "cpkey", &hz.url(), TOKEN, "not-the-internal-key", &[]);
    assert_eq!(run.code, 6, "{run}");
    let s = summary(&run);
    assert_eq!(s["error_kind"], "control_plane");
    assert!(s["error"].as_str().unwrap().contains("401"), "{s}");
    assert!(hz.seen().is_empty(), "Hetzner was asked although the registry could not be read");
    assert_eq!(metrics_table(w), before);
}

fn refuses_plain_http(w: &mut Worker) {
    let run = sidecar(w, "plainhttp", "http://api.hetzner.example/v1", TOKEN, KEY, &[]);
    assert_eq!(run.code, 2, "{run}");
    assert!(summary(&run)["error"].as_str().unwrap().contains("HCLOUD_API_URL"), "{run}");
}

fn region_filter(w: &mut Worker) {
    let hz = fleet(w);
    // An eu node whose server lives in another Hetzner project (another token): with
    // SIDECAR_REGION=sg it is not this run's business, without it, it is drift.
    let r = w.post("/internal/nodes", &json!({"node_id": "sc-eu", "region": "eu", "host": "10.9.0.1", "provider_server_id": "998"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let all = summary(&sidecar(w, "all-regions", &hz.url(), TOKEN, KEY, &["--dry-run"]));
    assert_eq!(ids(&all["drift"]["nodes_without_server"]), ["sc-eu", "sc-gone"]);
    let run = sidecar_env(w, "sg-only", &hz.url(), TOKEN, KEY, &["--dry-run"], &[("SIDECAR_REGION", "sg")]);
    assert_eq!(run.code, 0, "{run}");
    let sg = summary(&run);
    assert_eq!(sg["nodes"], 6);
    assert_eq!(ids(&sg["drift"]["nodes_without_server"]), ["sc-gone"]);
    let bad = sidecar_env(w, "bad-region", &hz.url(), TOKEN, KEY, &[], &[("SIDECAR_REGION", "mars")]);
    assert_eq!(bad.code, 2, "{bad}");
}
