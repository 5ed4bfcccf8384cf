//! The node agent binary `cp-agent`, built and run for real against the running Worker: what it
//! measures is what the Worker stores, and each way it can fail has its exit code.

use crate::agent_bin::agent_bin;
use crate::harness::{free_port, Worker, KEY};
use crate::programs::{clean, output_lines, path_with, q, register_node, run_cmd, scratch, Run};
use crate::Suite;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "agent",
        vars: vec![],
        cases: vec![
            ("agent_pushes_what_it_measured", agent_pushes_what_it_measured),
            ("agent_wrong_key_exits_3_and_stores_nothing", agent_wrong_key),
            ("agent_unregistered_node_exits_3", agent_unregistered_node),
            ("agent_refuses_a_group_readable_key_file", agent_key_file_permissions),
            ("agent_unreachable_control_plane_is_retried_then_exits_4", agent_unreachable),
            ("agent_pushes_with_its_node_token_for_its_node_only", agent_node_token),
        ],
    }]
}

const SITES: [&str; 3] = ["alpha.pregoi.com", "beta.pregoi.com", "gamma.pregoi.com"];

/// A config dir: the key file (given mode), a sites folder with 3 sites plus entries that must
/// not count (a hidden folder, an excluded file), and agent.conf.
fn agent_setup(w: &Worker, name: &str, node_id: &str, key: &str, key_mode: u32, extra: &str) -> (PathBuf, PathBuf) {
    let dir = scratch(w, name);
    let key_file = dir.join("api-key");
    fs::write(&key_file, format!("{key}\n")).unwrap();
    fs::set_permissions(&key_file, fs::Permissions::from_mode(key_mode)).unwrap();
    let sites = dir.join("sites");
    for s in SITES {
        fs::create_dir_all(sites.join(s)).unwrap();
        fs::write(sites.join(s).join("site_config.json"), "{}").unwrap();
    }
    fs::create_dir_all(sites.join(".trash")).unwrap();
    fs::write(sites.join("apps.txt"), "frappe\n").unwrap();
    let config = dir.join("agent.conf");
    fs::write(
        &config,
        format!(
            "# written by tests/http/agent.rs\n\
             control_plane_url = {base}\n\
             node_id = {node_id}\n\
             api_key_file = {key}\n\
             tenant_method = directory\n\
             tenant_dir = {sites}\n\
             tenant_dir_exclude = apps.txt\n\
             cpu_sample_ms = 200\n\
             timeout_ms = 5000\n\
             {extra}",
            base = w.base,
            key = key_file.display(),
            sites = sites.display(),
        ),
    )
    .unwrap();
    (dir, config)
}

/// Runs the agent; returns the run and its one JSON log line.
fn agent(dir: &Path, config: &Path, args: &[&str], env: &[(&str, String)]) -> (Run, Value) {
    let mut cmd = Command::new(agent_bin());
    cmd.arg("--config").arg(config).args(args);
    clean(&mut cmd, path_with(None));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let run = run_cmd(cmd, dir, "agent", Duration::from_secs(30));
    let lines = output_lines(&run);
    assert_eq!(lines.len(), 1, "exactly one log line per run:\n{run}");
    let line: Value = serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("log line is not JSON ({e}):\n{run}"));
    assert_eq!(line["exit_code"], run.code, "{run}");
    (run, line)
}

fn metrics_rows(w: &Worker, node: &str) -> i64 {
    w.count(&format!("SELECT COUNT(*) FROM server_metrics WHERE node_id = {}", q(node)))
        + w.count(&format!("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = {}", q(node)))
}

fn agent_pushes_what_it_measured(w: &mut Worker) {
    let node = "hz-sg-agent-1";
    register_node(w, node);
    let (dir, config) = agent_setup(w, "agent-ok", node, KEY, 0o600, "");
    let (run, line) = agent(&dir, &config, &[], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!((line["status"].as_str(), line["http_status"].as_u64(), line["attempts"].as_u64()), (Some("ok"), Some(200), Some(1)), "{line}");
    assert_eq!(line["node_id"], node);
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the key was printed:\n{run}");

    let r = w.get(&format!("/internal/nodes/{node}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let n = r.json();
    let m = &n["metrics"];
    for k in ["cpu_pct", "memory_pct", "disk_pct"] {
        let stored = m[k].as_f64().unwrap_or_else(|| panic!("{k} missing: {n}"));
        assert!((0.0..=100.0).contains(&stored), "{k} = {stored}");
        assert_eq!(Some(stored), line[k].as_f64(), "{k}: stored {stored}, the agent logged {}", line[k]);
    }
    // A real machine uses some memory and some disk.
    assert!(m["memory_pct"].as_f64().unwrap() > 0.0 && m["disk_pct"].as_f64().unwrap() > 0.0, "{m}");
    assert_eq!(m["tenant_count"], 3, "3 sites; the hidden folder and the excluded file do not count: {m}");
    assert_eq!(line["tenant_count"], 3);
    assert_eq!(m["source"], "node_push", "{m}");
    assert_eq!(n["stale"], false, "{n}");
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = {}", q(node))), 0, "no snapshot unless asked");

    // A fourth site and --save-snapshot: the next run replaces the latest values and adds history.
    fs::create_dir_all(dir.join("sites/delta.pregoi.com")).unwrap();
    let (run, line) = agent(&dir, &config, &["--save-snapshot"], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(line["save_snapshot"], true);
    let m = w.get(&format!("/internal/nodes/{node}")).json()["metrics"].clone();
    assert_eq!(m["tenant_count"], 4, "{m}");
    assert_eq!(m["cpu_pct"].as_f64(), line["cpu_pct"].as_f64());
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM server_metrics WHERE node_id = {}", q(node))), 1);
    assert_eq!(w.count(&format!("SELECT tenant_count FROM server_metrics_snapshots WHERE node_id = {}", q(node))), 4);
}

fn agent_wrong_key(w: &mut Worker) {
    let node = "hz-sg-agent-2";
    register_node(w, node);
    let wrong = "not-the-internal-key-987654321";
    let (dir, config) = agent_setup(w, "agent-wrong-key", node, wrong, 0o600, "max_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 20\n");
    let (run, line) = agent(&dir, &config, &[], &[]);
    assert_eq!(run.code, 3, "{run}");
    assert_eq!((line["status"].as_str(), line["error_kind"].as_str(), line["http_status"].as_u64()), (Some("error"), Some("rejected"), Some(401)), "{line}");
    assert!(line["error"].as_str().unwrap().contains("refused the token"), "{line}");
    assert_eq!(line["attempts"], 1, "a wrong key is not retried: {line}");
    assert!(!run.stdout.contains(wrong) && !run.stderr.contains(wrong), "the key was printed:\n{run}");
    assert_eq!(metrics_rows(w, node), 0, "a refused push stored something");
    assert_eq!(w.get(&format!("/internal/nodes/{node}")).json()["metrics"], Value::Null);
}

fn agent_unregistered_node(w: &mut Worker) {
    let node = "hz-sg-agent-nobody";
    // A stock config for a registered node, pointed elsewhere by the env override.
    register_node(w, "hz-sg-agent-3");
    let (dir, config) = agent_setup(w, "agent-unregistered", "hz-sg-agent-3", KEY, 0o600, "max_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 20\n");
    let (run, line) = agent(&dir, &config, &[], &[("CP_AGENT_NODE_ID", node.to_string())]);
    assert_eq!(run.code, 3, "{run}");
    assert_eq!((line["node_id"].as_str(), line["error_kind"].as_str(), line["http_status"].as_u64()), (Some(node), Some("rejected"), Some(404)), "{line}");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("not registered") && error.contains(node), "{line}");
    assert_eq!(line["attempts"], 1, "{line}");
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM nodes WHERE node_id = {}", q(node))), 0, "a push must not register a node");
    assert_eq!(metrics_rows(w, node) + metrics_rows(w, "hz-sg-agent-3"), 0);
}

fn agent_key_file_permissions(w: &mut Worker) {
    let node = "hz-sg-agent-4";
    register_node(w, node);
    let (dir, config) = agent_setup(w, "agent-perms", node, KEY, 0o644, "");
    let (run, line) = agent(&dir, &config, &[], &[]);
    assert_eq!(run.code, 2, "{run}");
    assert_eq!(line["error_kind"], "key", "{line}");
    assert!(line["error"].as_str().unwrap().contains("chmod 600"), "{line}");
    assert_eq!(metrics_rows(w, node), 0, "nothing is sent with a group-readable key");
    // The escape hatch for tests and throwaway setups.
    let (run, line) = agent(&dir, &config, &["--insecure-key-file-permissions"], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(line["status"], "ok");
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM server_metrics WHERE node_id = {}", q(node))), 1);
}

fn agent_unreachable(w: &mut Worker) {
    let node = "hz-sg-agent-5";
    register_node(w, node);
    let (dir, config) = agent_setup(w, "agent-unreachable", node, KEY, 0o600, "max_attempts = 3\nbackoff_base_ms = 10\nbackoff_max_ms = 20\n");
    // A free port with nothing listening; the override also shows CP_AGENT_URL wins over the file.
    let url = format!("http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (run, line) = agent(&dir, &config, &[], &[("CP_AGENT_URL", url)]);
    assert_eq!(run.code, 4, "{run}");
    assert_eq!((line["error_kind"].as_str(), line["attempts"].as_u64()), (Some("unreachable"), Some(3)), "retried up to max_attempts: {line}");
    assert!(line["error"].as_str().unwrap().contains("unreachable after 3 attempts"), "{line}");
    assert!(started.elapsed() < Duration::from_secs(10), "small backoff settings must keep it short");
    assert_eq!(metrics_rows(w, node), 0);
}

/// A node migrated to its push token: `token_file` holds the token the admin issued.
fn agent_node_token(w: &mut Worker) {
    use crate::tokens::issue;
    let node = "hz-sg-agent-tok";
    register_node(w, node);
    register_node(w, "hz-sg-agent-tok-other");
    let (token, _) = issue(w, node);
    let (dir, config) = agent_setup(w, "agent-token", node, "unused", 0o600, "max_attempts = 2\nbackoff_base_ms = 10\nbackoff_max_ms = 20\n");
    let token_file = dir.join("node-token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    fs::set_permissions(&token_file, fs::Permissions::from_mode(0o600)).unwrap();
    let text = fs::read_to_string(&config).unwrap();
    let text: String = text.lines().filter(|l| !l.starts_with("api_key_file")).map(|l| format!("{l}\n")).collect();
    fs::write(&config, format!("{text}token_file = {}\n", token_file.display())).unwrap();

    let (run, line) = agent(&dir, &config, &[], &[]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!((line["status"].as_str(), line["http_status"].as_u64()), (Some("ok"), Some(200)), "{line}");
    assert!(line.get("warnings").is_none(), "{line}");
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token), "the token was printed:\n{run}");
    assert_eq!(w.get(&format!("/internal/nodes/{node}")).json()["metrics"]["tenant_count"], 3);

    // The same token for another node: 403, exit 3, not retried, nothing stored for it.
    let (run, line) = agent(&dir, &config, &[], &[("CP_AGENT_NODE_ID", "hz-sg-agent-tok-other".to_string())]);
    assert_eq!(run.code, 3, "{run}");
    assert_eq!((line["http_status"].as_u64(), line["attempts"].as_u64()), (Some(403), Some(1)), "{line}");
    assert_eq!(metrics_rows(w, "hz-sg-agent-tok-other"), 0);

    // Revoked: 401, exit 3.
    assert_eq!(w.delete(&format!("/internal/nodes/{node}/token")).status, 200);
    let (run, line) = agent(&dir, &config, &[], &[]);
    assert_eq!(run.code, 3, "{run}");
    assert_eq!(line["http_status"], 401, "{line}");
    assert!(line["error"].as_str().unwrap().contains("revoked or re-issued"), "{line}");

    // A config others can write is refused before anything is sent.
    fs::set_permissions(&config, fs::Permissions::from_mode(0o666)).unwrap();
    let before = metrics_rows(w, node);
    let (run, line) = agent(&dir, &config, &[], &[]);
    assert_eq!((run.code, line["error_kind"].as_str()), (2, Some("config")), "{run}");
    assert_eq!(metrics_rows(w, node), before);
}
