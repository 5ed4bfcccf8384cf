//! `GET /internal/metrics` against the running Worker: the admin key, exact values for a seeded
//! fleet and set of jobs, and `promtool` on both the live exposition and the alert rules that the
//! README tells operators to paste.

use crate::foundation::{push, register};
use crate::harness::{repo, Worker, KEY};
use crate::support::{now_ms, JobRow};
use crate::Suite;
use cp_core::domain::JobStatus;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "prometheus",
        vars: vec![],
        cases: vec![
            ("metrics_require_the_admin_key", metrics_require_the_admin_key),
            ("values_match_a_seeded_fleet_and_jobs_exactly", values_match_a_seeded_fleet_and_jobs_exactly),
            ("the_live_exposition_passes_promtool_check_metrics", the_live_exposition_passes_promtool_check_metrics),
            ("the_readme_alert_rules_pass_promtool_and_fire", the_readme_alert_rules_pass_promtool_and_fire),
        ],
    }]
}

fn scrape(w: &Worker) -> String {
    let r = w.get("/internal/metrics");
    assert_eq!(r.status, 200, "{}", r.text);
    let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "content-type {ct}");
    r.text
}

/// Sample lines as `series -> value` (the series written as the Worker writes it).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample line: {l}"));
            (series.to_string(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad value in {l}")))
        })
        .collect()
}

fn family(all: &BTreeMap<String, f64>, name: &str) -> BTreeMap<String, f64> {
    all.iter().filter(|(k, _)| k.starts_with(&format!("{name}{{"))).map(|(k, v)| (k.clone(), *v)).collect()
}

fn metrics_require_the_admin_key(w: &mut Worker) {
    for auth in [None, Some("Bearer wrong-key"), Some("Basic dGVzdA=="), Some(&format!("Bearer {KEY}x")[..])] {
        let r = w.send("GET", "/internal/metrics", auth, None, None);
        assert_eq!(r.status, 401, "{auth:?}: {}", r.text);
        assert_eq!(r.headers.get("www-authenticate").unwrap(), "Bearer");
        assert_eq!(r.code(), "unauthorized");
        assert!(!r.text.contains("cp_nodes"), "{}", r.text);
    }
    assert_eq!(w.send("POST", "/internal/metrics", Some(&format!("Bearer {KEY}")), None, None).status, 405);
    assert!(scrape(w).contains("# TYPE cp_nodes gauge"));
}

fn values_match_a_seeded_fleet_and_jobs_exactly(w: &mut Worker) {
    // sg: fresh and eligible, stale, never pushed, draining; us: fresh but over the memory limit.
    for (id, region) in [("pm-sg-ok", "sg"), ("pm-sg-stale", "sg"), ("pm-sg-none", "sg"), ("pm-sg-drain", "sg"), ("pm-us-hot", "us")] {
        register(w, id, region);
    }
    assert_eq!(w.post("/internal/nodes", &json!({"node_id": "pm-sg-drain", "region": "sg", "host": "10.1.0.1", "status": "draining"})).status, 200);
    for (id, memory) in [("pm-sg-ok", 40.0), ("pm-sg-stale", 40.0), ("pm-sg-drain", 30.0), ("pm-us-hot", 90.0)] {
        push(w, json!({"node_id": id, "cpu_pct": 10, "memory_pct": memory, "disk_pct": 20, "tenant_count": 2}));
    }
    w.sql("UPDATE server_metrics SET updated_at = updated_at - 700000 WHERE node_id = 'pm-sg-stale'");

    let now = now_ms();
    let jobs: [(&str, &str, i64); 7] = [
        ("pm-j1", "pending", 1_000_000),
        ("pm-j2", "pending", 10_000),
        ("pm-j3", "dispatched", 300_000),
        ("pm-j4", "succeeded", 5_000_000),
        ("pm-j5", "failed", 9_000_000),
        ("pm-j6", "failed", 100),
        ("pm-j7", "failed", 100),
    ];
    for (id, status, age_ms) in jobs {
        let tenant = format!("t-{id}");
        let mut row = JobRow::new(id, &tenant, id);
        row.status = status;
        row.created_at = now - age_ms;
        row.insert(w);
    }

    let all = samples(&scrape(w));
    let want = |pairs: &[(&str, f64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<String, f64>>();
    assert_eq!(
        family(&all, "cp_nodes"),
        want(&[
            (r#"cp_nodes{region="sg",status="active"}"#, 3.0),
            (r#"cp_nodes{region="sg",status="draining"}"#, 1.0),
            (r#"cp_nodes{region="us",status="active"}"#, 1.0),
            (r#"cp_nodes{region="us",status="draining"}"#, 0.0),
            (r#"cp_nodes{region="eu",status="active"}"#, 0.0),
            (r#"cp_nodes{region="eu",status="draining"}"#, 0.0),
        ])
    );
    assert_eq!(
        family(&all, "cp_nodes_stale"),
        want(&[(r#"cp_nodes_stale{region="sg"}"#, 2.0), (r#"cp_nodes_stale{region="us"}"#, 0.0), (r#"cp_nodes_stale{region="eu"}"#, 0.0)])
    );
    assert_eq!(
        family(&all, "cp_placement_eligible_nodes"),
        want(&[
            (r#"cp_placement_eligible_nodes{region="sg"}"#, 1.0),
            (r#"cp_placement_eligible_nodes{region="us"}"#, 0.0),
            (r#"cp_placement_eligible_nodes{region="eu"}"#, 0.0),
        ])
    );
    // The same count that placement reports for the region.
    for region in ["sg", "us", "eu"] {
        let answer = w.post("/internal/placement/compute", &json!({"region": region})).json();
        assert_eq!(all[&format!("cp_placement_eligible_nodes{{region=\"{region}\"}}")], answer["cluster"]["eligible"].as_f64().unwrap(), "{region}");
    }

    // One age per node that has pushed; the elapsed time of the test is the only slack.
    let ages = family(&all, "cp_node_metrics_age_seconds");
    let ids: Vec<&str> = ages.keys().map(|k| k.split("node_id=\"").nth(1).unwrap().trim_end_matches("\"}")).collect();
    assert_eq!(ids, ["pm-sg-drain", "pm-sg-ok", "pm-sg-stale", "pm-us-hot"]);
    let age = |id: &str, region: &str| ages[&format!("cp_node_metrics_age_seconds{{region=\"{region}\",node_id=\"{id}\"}}")];
    assert!((0.0..60.0).contains(&age("pm-sg-ok", "sg")), "{ages:?}");
    assert!((700.0..760.0).contains(&age("pm-sg-stale", "sg")), "{ages:?}");

    let counts = family(&all, "cp_provision_jobs");
    assert_eq!(counts.len(), JobStatus::ALL.len(), "{counts:?}");
    for status in JobStatus::ALL {
        let expected = jobs.iter().filter(|(_, s, _)| *s == status.as_str()).count() as f64;
        assert_eq!(counts[&format!("cp_provision_jobs{{status=\"{status}\"}}")], expected, "{status}");
    }
    let oldest = family(&all, "cp_provision_jobs_oldest_active_seconds");
    let active: Vec<JobStatus> = JobStatus::ALL.iter().copied().filter(|s| s.is_active()).collect();
    assert_eq!(oldest.len(), active.len(), "{oldest:?}");
    let oldest_of = |s: &str| oldest[&format!("cp_provision_jobs_oldest_active_seconds{{status=\"{s}\"}}")];
    assert!((1000.0..1060.0).contains(&oldest_of("pending")), "{oldest:?}");
    assert!((300.0..360.0).contains(&oldest_of("dispatched")), "{oldest:?}");
    for s in active.iter().filter(|s| !matches!(s, JobStatus::Pending | JobStatus::Dispatched)) {
        assert_eq!(oldest_of(s.as_str()), 0.0, "{s}");
    }
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (installed by scripts/setup.sh)");
    child.stdin.take().unwrap().write_all(stdin.unwrap_or_default().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn the_live_exposition_passes_promtool_check_metrics(w: &mut Worker) {
    register(w, "pm-lint", "eu");
    push(w, json!({"node_id": "pm-lint", "memory_pct": 10}));
    let text = scrape(w);
    assert!(text.contains("node_id=\"pm-lint\""), "{text}");
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics refused the exposition:\n{out}\n{text}");
    // promtool really parses: a broken exposition is refused.
    let (ok, _) = promtool(&["check", "metrics"], Some("cp_nodes{region=\"sg\" 1\n"));
    assert!(!ok, "promtool accepted a broken line");
}

fn the_readme_alert_rules_pass_promtool_and_fire(_w: &mut Worker) {
    let (ok, out) = promtool(&["check", "rules", "deploy/prometheus/alerts.yml"], None);
    assert!(ok && out.contains("SUCCESS: 2 rules found"), "{out}");
    // The unit test feeds series shaped like the Worker's and expects each alert at its time.
    let (ok, out) = promtool(&["test", "rules", "deploy/prometheus/alerts.test.yml"], None);
    assert!(ok && out.contains("SUCCESS"), "{out}");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let rules = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap();
    assert!(readme.contains(rules.trim()), "README.md must show deploy/prometheus/alerts.yml verbatim");
    let scrape_config = std::fs::read_to_string(repo().join("deploy/prometheus/prometheus.yml")).unwrap();
    assert!(readme.contains(scrape_config.trim()), "README.md must show deploy/prometheus/prometheus.yml verbatim");
    assert!(scrape_config.contains("credentials_file:") && scrape_config.contains("metrics_path: /internal/metrics"), "{scrape_config}");
    // promtool check config wants the key file to exist: check a copy that points at a temporary one.
    let dir = std::env::temp_dir().join(format!("cp-promcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("control-plane.key");
    std::fs::write(&key_file, "not-a-real-key\n").unwrap();
    std::fs::write(dir.join("prometheus.yml"), scrape_config.replace("/etc/prometheus/control-plane.key", &key_file.display().to_string())).unwrap();
    std::fs::write(dir.join("alerts.yml"), &rules).unwrap();
    let (ok, out) = promtool(&["check", "config", &dir.join("prometheus.yml").display().to_string()], None);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(ok && out.contains("SUCCESS: 1 rule files found"), "{out}");
}
