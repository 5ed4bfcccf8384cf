//! Runs the built `cp-agent` binary against a scripted HTTP server on 127.0.0.1, to check what
//! only the whole program shows: the request on the wire, the retry count, the exit code and the
//! single log line. The server is a few lines over `std::net::TcpListener` (no test crates).

use std::collections::HashMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::Value;

const KEY: &str = "test-internal-api-key-0123456789";

/// One request as the server saw it; header names lowercased.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

/// Answers request i with `script[i]` (the last entry repeats), records every request.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Server {
    fn start(script: &[(u16, &str)]) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Vec<(u16, String)> = script.iter().map(|(c, b)| (*c, b.to_string())).collect();
        let (seen2, stop2) = (seen.clone(), stop.clone());
        let handle = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let index = seen2.lock().unwrap().len();
                        let (code, body) = &script[index.min(script.len() - 1)];
                        if let Some(req) = serve(stream, *code, body) {
                            seen2.lock().unwrap().push(req);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server { port, seen, stop, handle: Some(handle) }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(stream: TcpStream, code: u16, body: &str) -> Option<Seen> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut raw = vec![0; length];
    reader.read_exact(&mut raw).ok()?;
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut stream = stream;
    let response = format!("HTTP/1.1 {code} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    stream.write_all(response.as_bytes()).ok()?;
    Some(Seen { method, path, headers, body: String::from_utf8_lossy(&raw).into_owned() })
}

/// A node's /etc/cp-agent in a temp dir: key file (0600), config, and a Frappe-like `sites/` with
/// three sites plus the entries the config excludes.
struct Node {
    dir: PathBuf,
}

impl Node {
    fn new(extra_config: &str) -> Node {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!("cp-agent-it-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        let _ = fs::remove_dir_all(&dir);
        let sites = dir.join("sites");
        fs::create_dir_all(&sites).unwrap();
        for site in ["a.pregoi.com", "b.pregoi.com", "c.pregoi.com", "assets"] {
            fs::create_dir(sites.join(site)).unwrap();
        }
        for file in ["apps.txt", "common_site_config.json"] {
            fs::write(sites.join(file), "{}").unwrap();
        }
        let key = dir.join("api-key");
        fs::write(&key, format!("{KEY}\n")).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        let config = format!(
            "# integration test node\n\
             control_plane_url = http://127.0.0.1:1\n\
             node_id = it-node-01\n\
             api_key_file = {}\n\
             disk_mount = {}\n\
             cpu_sample_ms = 100\n\
             tenant_method = directory\n\
             tenant_dir = {}\n\
             tenant_dir_only_dirs = true\n\
             tenant_dir_exclude = assets, apps.txt, common_site_config.json\n\
             timeout_ms = 2000\n\
             max_attempts = 3\n\
             backoff_base_ms = 10\n\
             backoff_max_ms = 40\n\
             {extra_config}\n",
            key.display(),
            dir.display(),
            sites.display(),
        );
        fs::write(dir.join("agent.conf"), config).unwrap();
        Node { dir }
    }

    fn key_file(&self) -> PathBuf {
        self.dir.join("api-key")
    }

    /// Runs the agent with the URL given through `CP_AGENT_URL`, as the lead's tests will.
    fn run(&self, url: &str, flags: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_cp-agent"))
            .arg("--config")
            .arg(self.dir.join("agent.conf"))
            .args(flags)
            .env("CP_AGENT_URL", url)
            .env_remove("CP_AGENT_NODE_ID")
            .env_remove("CP_AGENT_KEY_FILE")
            .env_remove("CP_AGENT_TOKEN_FILE")
            .output()
            .unwrap();
        Run::from(output)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    log: Value,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "exactly one log line, got {stdout:?} (stderr {stderr:?})");
        let log = serde_json::from_str(lines[0]).unwrap();
        assert!(!stdout.contains(KEY) && !stderr.contains(KEY), "the key leaked: {stdout}");
        Run { code: o.status.code().unwrap(), stdout, stderr, log }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn pct(v: &Value) -> f64 {
    let n = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    assert!((0.0..=100.0).contains(&n), "out of range: {n}");
    n
}

#[test]
fn a_200_exits_0_and_the_server_sees_the_measured_values_and_the_key() {
    let server = Server::start(&[(200, r#"{"node_id":"it-node-01","snapshot_saved":false}"#)]);
    let node = Node::new("");
    let run = node.run(&server.url(), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.stderr, "");

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!((req.method.as_str(), req.path.as_str()), ("POST", "/internal/server-metrics"));
    assert_eq!(req.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(req.headers["content-type"], "application/json");
    assert!(req.headers["user-agent"].starts_with("cp-agent/"), "{:?}", req.headers);

    let body: Value = serde_json::from_str(&req.body).unwrap();
    let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["cpu_pct", "disk_pct", "memory_pct", "node_id", "save_snapshot", "source", "tenant_count"]);
    assert_eq!(body["node_id"], "it-node-01");
    pct(&body["cpu_pct"]);
    pct(&body["memory_pct"]);
    pct(&body["disk_pct"]);
    assert_eq!(body["tenant_count"], 3);
    assert_eq!(body["source"], "node_push");
    assert_eq!(body["save_snapshot"], false);

    assert_eq!(run.log["status"], "ok");
    assert_eq!(run.log["http_status"], 200);
    assert_eq!(run.log["attempts"], 1);
    assert_eq!(run.log["tenant_count"], 3);
    assert!(run.log["duration_ms"].is_u64());
}

#[test]
fn b_401_exits_3_after_one_request_with_a_clear_message() {
    let server = Server::start(&[(401, r#"{"error":{"code":"unauthorized","message":"missing or wrong Bearer token"}}"#)]);
    let run = Node::new("").run(&server.url(), &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(run.log["error"], "control plane refused the token (401): wrong, revoked or re-issued; install this node's current token");
    assert_eq!(run.log["http_status"], 401);
    assert_eq!(run.log["attempts"], 1);
    assert_eq!(run.log["detail"], "unauthorized: missing or wrong Bearer token");
}

#[test]
fn c_nothing_listening_is_retried_then_exits_4() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let run = Node::new("").run(&url, &[]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.log["status"], "error");
    assert_eq!(run.log["error_kind"], "unreachable");
    assert_eq!(run.log["attempts"], 3);
    let error = run.log["error"].as_str().unwrap();
    assert!(error.contains("unreachable after 3 attempts"), "{error}");
}

#[test]
fn d_503_twice_then_200_exits_0_after_3_requests() {
    let server = Server::start(&[(503, "{}"), (503, "{}"), (200, "{}")]);
    let run = Node::new("").run(&server.url(), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(server.requests().len(), 3);
    assert_eq!(run.log["attempts"], 3);
    let bodies: Vec<String> = server.requests().into_iter().map(|r| r.body).collect();
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "retries resend the same body");
}

#[test]
fn unregistered_node_exits_3_naming_the_node() {
    let server = Server::start(&[(404, r#"{"error":{"code":"not_found","message":"unknown node"}}"#)]);
    let run = Node::new("").run(&server.url(), &[]);
    assert_eq!(run.code, 3);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(run.log["error"], "node_id it-node-01 is not registered in the control plane (404)");
}

#[test]
fn a_shared_key_file_is_refused_before_anything_is_sent() {
    let server = Server::start(&[(200, "{}")]);
    let node = Node::new("");
    fs::set_permissions(node.key_file(), fs::Permissions::from_mode(0o644)).unwrap();
    let run = node.run(&server.url(), &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.log["error_kind"], "key");
    assert!(run.log["error"].as_str().unwrap().contains("mode 0644"), "{}", run.stdout);
    assert!(server.requests().is_empty());

    let run = node.run(&server.url(), &["--insecure-key-file-permissions"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn dry_run_prints_the_payload_and_sends_nothing() {
    let server = Server::start(&[(200, "{}")]);
    let run = Node::new("save_snapshot = true").run(&server.url(), &["--dry-run"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(server.requests().is_empty());
    assert_eq!(run.log["status"], "dry_run");
    assert_eq!(run.log["url"], format!("{}/internal/server-metrics", server.url()));
    let payload = &run.log["payload"];
    assert_eq!(payload["tenant_count"], 3);
    assert_eq!(payload["save_snapshot"], true);
    assert_eq!(payload["source"], "node_push");
}

#[test]
fn config_errors_exit_2_with_one_log_line_and_no_stderr() {
    let run = Node::new("max_attempts = lots").run("http://127.0.0.1:1", &[]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stderr, "");
    assert_eq!(run.log["error_kind"], "config");
    assert!(run.log["error"].as_str().unwrap().contains("max_attempts"), "{}", run.stdout);

    let run = Node::new("").run("http://cp.example.com", &[]);
    assert_eq!(run.code, 2);
    assert!(run.log["error"].as_str().unwrap().starts_with("CP_AGENT_URL"), "{}", run.stdout);
}

#[test]
fn usage_errors_go_to_stderr_with_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_cp-agent")).arg("--daemon").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown argument \"--daemon\""));
}

#[test]
fn a_failing_tenant_command_exits_5_and_sends_nothing() {
    let server = Server::start(&[(200, "{}")]);
    let node = Node::new("");
    let conf = node.dir.join("agent.conf");
    let text = fs::read_to_string(&conf).unwrap();
    let text: String = text.lines().filter(|l| !l.starts_with("tenant_")).map(|l| format!("{l}\n")).collect::<String>()
        + "tenant_method = command\ntenant_command = echo 'bench: command not found' >&2; exit 127\n";
    fs::write(&conf, text).unwrap();
    let run = node.run(&server.url(), &[]);
    assert_eq!(run.code, 5, "{}", run.stdout);
    assert_eq!(run.log["error_kind"], "measure");
    assert!(run.log["error"].as_str().unwrap().contains("bench: command not found"));
    assert!(server.requests().is_empty());
}

#[test]
fn env_overrides_reach_node_id_and_key_file() {
    let server = Server::start(&[(200, "{}")]);
    let node = Node::new("");
    let other_key = node.dir.join("other-key");
    fs::write(&other_key, "another-key-value").unwrap();
    fs::set_permissions(&other_key, fs::Permissions::from_mode(0o600)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cp-agent"))
        .arg("--config")
        .arg(node.dir.join("agent.conf"))
        .env("CP_AGENT_URL", server.url())
        .env("CP_AGENT_NODE_ID", "override-node")
        .env("CP_AGENT_KEY_FILE", &other_key)
        .output()
        .unwrap();
    let run = Run::from(out);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let req = &server.requests()[0];
    assert_eq!(req.headers["authorization"], "Bearer another-key-value");
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["node_id"], "override-node");
}

// ---------------------------------------------------------------------------------------------
// The node token, the config file's ownership and mode, and the loopback rule.

const TOKEN: &str = "cpn1.it-node-01.3.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

impl Node {
    /// A node migrated to its push token: `token_file` instead of the deprecated `api_key_file`.
    fn with_token(extra_config: &str) -> Node {
        let node = Node::new(extra_config);
        let token = node.dir.join("node-token");
        fs::write(&token, format!("{TOKEN}\n")).unwrap();
        fs::set_permissions(&token, fs::Permissions::from_mode(0o600)).unwrap();
        let conf = node.dir.join("agent.conf");
        let text = fs::read_to_string(&conf).unwrap();
        let old = format!("api_key_file = {}", node.key_file().display());
        assert!(text.contains(&old));
        fs::write(&conf, text.replace(&old, &format!("token_file = {}", token.display()))).unwrap();
        node
    }
}

#[test]
fn the_node_token_is_the_bearer_credential_and_never_printed() {
    let server = Server::start(&[(200, r#"{"node_id":"it-node-01"}"#)]);
    let run = Node::with_token("").run(&server.url(), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(server.requests()[0].headers["authorization"], format!("Bearer {TOKEN}"));
    assert!(run.log.get("warnings").is_none(), "a migrated config warns about nothing: {}", run.stdout);
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
}

#[test]
fn the_old_key_file_setting_still_works_and_warns() {
    let server = Server::start(&[(200, "{}")]);
    let run = Node::new("").run(&server.url(), &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(server.requests()[0].headers["authorization"], format!("Bearer {KEY}"));
    let warnings = run.log["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w.as_str().unwrap().contains("api_key_file (or CP_AGENT_KEY_FILE) is deprecated")), "{}", run.stdout);
}

#[test]
fn a_403_names_the_node_and_is_not_retried() {
    let server = Server::start(&[(403, r#"{"error":{"code":"forbidden","message":"this credential may not do that"}}"#)]);
    let run = Node::with_token("").run(&server.url(), &[]);
    assert_eq!(run.code, 3, "{}", run.stdout);
    assert_eq!(server.requests().len(), 1);
    assert_eq!((run.log["http_status"].as_u64(), run.log["error_kind"].as_str()), (Some(403), Some("rejected")));
    assert!(run.log["error"].as_str().unwrap().contains("not node_id it-node-01's"), "{}", run.stdout);
}

/// Exit 2 (config), nothing measured or sent, whatever the token file's state.
fn refused_config(node: &Node, server: &Server, needle: &str) {
    let run = node.run(&server.url(), &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.log["error_kind"], "config", "{}", run.stdout);
    assert!(run.log["error"].as_str().unwrap().contains(needle), "{}", run.stdout);
    assert!(server.requests().is_empty(), "a refused config sent something");
    // The flag for the token file does not cover the config.
    let run = node.run(&server.url(), &["--insecure-key-file-permissions"]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(server.requests().is_empty());
}

#[test]
fn a_config_file_others_can_write_is_refused_with_exit_2() {
    let server = Server::start(&[(200, "{}")]);
    let node = Node::with_token("");
    let conf = node.dir.join("agent.conf");
    for mode in [0o664, 0o666, 0o646, 0o620] {
        fs::set_permissions(&conf, fs::Permissions::from_mode(mode)).unwrap();
        refused_config(&node, &server, &format!("has mode {mode:04o}; group and others must not write it"));
    }
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(node.run(&server.url(), &[]).code, 0, "0644 is fine: the config holds no secret");
}

#[test]
fn a_config_file_owned_by_another_account_is_refused_with_exit_2() {
    // SAFETY: plain syscalls on a file this test created.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: changing a file's owner needs root");
        return;
    }
    let server = Server::start(&[(200, "{}")]);
    let node = Node::with_token("");
    let conf = node.dir.join("agent.conf");
    std::os::unix::fs::chown(&conf, Some(33), Some(33)).unwrap();
    refused_config(&node, &server, "is owned by uid 33; it must belong to root");
}

#[test]
fn plain_http_goes_only_to_a_loopback_host() {
    let server = Server::start(&[(200, "{}")]);
    let node = Node::with_token("");
    for url in [
        "http://127.evil.example:1",
        "http://127.0.0.1.evil.example:1",
        "http://localhost.evil.example:1",
        "http://127.0.0.1@evil.example:1",
        "http://10.0.0.1:1",
    ] {
        let run = node.run(url, &[]);
        assert_eq!(run.code, 2, "{url}: {}", run.stdout);
        assert!(run.log["error"].as_str().unwrap().contains("must be https://"), "{url}: {}", run.stdout);
    }
    let port = server.url().rsplit(':').next().unwrap().to_string();
    for host in ["127.0.0.1", "localhost", "[::1]"] {
        if host == "[::1]" && std::net::TcpListener::bind("[::1]:0").is_err() {
            continue;
        }
        let run = node.run(&format!("http://{host}:{port}"), &["--dry-run"]);
        assert_eq!(run.code, 0, "{host}: {}", run.stdout);
    }
}
