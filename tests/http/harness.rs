//! Starts the real Worker under `wrangler dev` (workerd, local D1, local Queues) for the HTTP
//! tests, and stops it, process group and all, when the `Worker` value is dropped (also when a
//! test panics).
//!
//! Each `Worker` gets its own free ports, its own `--persist-to` state folder and its own copy of
//! `wrangler.toml` with absolute paths, so a developer's `.dev.vars` or local state never leaks
//! into a test, and several Workers can run side by side.

use serde_json::Value;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub const KEY: &str = "test-internal-key-0123456789";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool_path() -> String {
    format!("{}/node_modules/.bin:{}", repo().display(), std::env::var("PATH").unwrap_or_default())
}

pub fn quiet(cmd: &mut Command) -> &mut Command {
    cmd.env("PATH", tool_path())
        .env("WRANGLER_SEND_METRICS", "false")
        .env("WRANGLER_SEND_ERROR_REPORTS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("DO_NOT_TRACK", "1")
        .env("CI", "true")
        .stdin(Stdio::null())
}

/// Builds the Worker once per test process.
pub fn build_once() {
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        let started = Instant::now();
        // flock: several test processes may share this checkout; one builds at a time.
        let lock = repo().join("target/.worker-build.lock");
        let _ = std::fs::create_dir_all(repo().join("target"));
        let status = quiet(Command::new("flock").arg(&lock).args(["bash", "scripts/build.sh"]).current_dir(repo()))
            .env_remove("CP_SKIP_BUILD")
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/build.sh");
        assert!(status.success(), "the Worker build failed");
        eprintln!("harness: built the Worker in {:.1}s", started.elapsed().as_secs_f64());
    });
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Worker {
    pub base: String,
    pub dir: PathBuf,
    child: Option<Child>,
    http: reqwest::blocking::Client,
    log: PathBuf,
}

/// The one way the tests send a request: the `Worker` methods and the helpers in `support.rs`
/// all come here. Err only for a transport error (some cases tolerate one); a header value that
/// HTTP cannot carry is a bug in the test and panics. `timeout` overrides the client's own.
pub fn request(
    http: &reqwest::blocking::Client,
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &[u8])],
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
) -> Result<Resp, String> {
    let verb = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or_else(|e| panic!("method {method:?}: {e}"));
    let mut req = http.request(verb, format!("{base}{path}"));
    for (name, value) in headers {
        let value = reqwest::header::HeaderValue::from_bytes(value).unwrap_or_else(|e| panic!("header {name}: {e}"));
        req = req.header(*name, value);
    }
    if let Some(b) = body {
        req = req.body(b);
    }
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let r = req.send().map_err(|e| e.to_string())?;
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Ok(Resp { status, headers, text: r.text().map_err(|e| e.to_string())? })
}

/// One response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    /// The `error.code` of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }
}

impl Worker {
    /// Starts a Worker with the test key and the given extra `--var`s (which override the
    /// defaults of wrangler.toml).
    pub fn start(name: &str, vars: &[(&str, &str)]) -> Worker {
        build_once();
        let dir = std::env::temp_dir().join(format!("cp-test-{}-{}-{}", name, std::process::id(), free_port()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A private copy of the built Worker: another test process rebuilding build/ must not
        // make this wrangler reload in the middle of a case.
        copy_dir(&repo().join("build"), &dir.join("build"));
        let config = dir.join("wrangler.toml");
        std::fs::write(&config, test_config(&dir)).unwrap();

        let migrate = quiet(Command::new("wrangler").args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"]))
            .arg(dir.join("state"))
            .arg("--config")
            .arg(&config)
            .current_dir(&dir)
            .output()
            .expect("run wrangler d1 migrations apply");
        assert!(migrate.status.success(), "migrations failed: {}", String::from_utf8_lossy(&migrate.stderr));

        let port = free_port();
        let log = dir.join("wrangler.log");
        std::fs::File::create(&log).unwrap();
        let child = spawn_wrangler(&dir, port, vars, &log);
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).pool_max_idle_per_host(64).build().unwrap();
        let worker = Worker { base: format!("http://127.0.0.1:{port}"), dir, child: Some(child), http, log };
        worker.wait_ready();
        worker
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Ok(r) = request(&self.http, &self.base, "GET", "/health", &[], None, Some(Duration::from_secs(2))) {
                if r.status == 200 {
                    eprintln!("harness: worker ready at {} in {:.1}s", self.base, started.elapsed().as_secs_f64());
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("wrangler dev did not become ready; log:\n{}", self.log_text());
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The Worker's structured log lines (JSON objects with a `msg`).
    pub fn log_lines(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| l.find('{').and_then(|i| serde_json::from_str::<Value>(&l[i..]).ok()))
            .filter(|v| v.get("msg").is_some())
            .collect()
    }

    /// Sends a request. `auth`: Some(header value) or None for no Authorization header.
    pub fn send(&self, method: &str, path: &str, auth: Option<&str>, content_type: Option<&str>, body: Option<Vec<u8>>) -> Resp {
        let headers: Vec<(&str, &[u8])> =
            [auth.map(|a| ("authorization", a.as_bytes())), content_type.map(|ct| ("content-type", ct.as_bytes()))].into_iter().flatten().collect();
        self.send_with(method, path, &headers, body)
    }

    /// Sends a request with exactly these headers.
    pub fn send_with(&self, method: &str, path: &str, headers: &[(&str, &[u8])], body: Option<Vec<u8>>) -> Resp {
        request(&self.http, &self.base, method, path, headers, body, None).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> Resp {
        self.send("GET", path, Some(&format!("Bearer {KEY}")), None, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(&format!("Bearer {KEY}")), Some("application/json"), Some(body.to_string().into_bytes()))
    }

    pub fn post_raw(&self, path: &str, body: &str) -> Resp {
        self.send("POST", path, Some(&format!("Bearer {KEY}")), Some("application/json"), Some(body.as_bytes().to_vec()))
    }

    pub fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, Some(&format!("Bearer {KEY}")), None, None)
    }

    /// Runs SQL against the Worker's local D1 database file (the same SQLite file workerd
    /// writes), returning rows as JSON arrays. Used to check what is really stored.
    pub fn sql(&self, query: &str) -> Vec<Vec<Value>> {
        let db = self.d1_file();
        let script = "import json,sqlite3,sys\nc=sqlite3.connect(sys.argv[1],timeout=30)\nrows=c.execute(sys.argv[2]).fetchall()\nc.commit()\nprint(json.dumps([list(r) for r in rows]))";
        let out = Command::new("python3").args(["-c", script]).arg(&db).arg(query).output().expect("python3");
        assert!(out.status.success(), "sql failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A single integer from SQL such as `SELECT COUNT(*) ...`.
    pub fn count(&self, query: &str) -> i64 {
        self.sql(query)[0][0].as_i64().unwrap()
    }

    /// Every row of every table, for "nothing changed" checks.
    pub fn dump(&self) -> String {
        ["nodes", "server_metrics", "server_metrics_snapshots", "provision_jobs", "trace_events", "stack_owners", "node_tokens", "fleet_clock", "fleet_changes"]
            .iter()
            .map(|t| format!("{t}: {:?}\n", self.sql(&format!("SELECT * FROM {t} ORDER BY 1"))))
            .collect()
    }

    fn d1_file(&self) -> PathBuf {
        let root = self.dir.join("state/v3/d1");
        find_sqlite(&root).unwrap_or_else(|| panic!("no D1 sqlite file under {}", root.display()))
    }

    /// Stops the process group (wrangler, workerd and esbuild all go).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pgid = child.id() as i32;
            // SAFETY: plain syscalls on a process group this harness created.
            unsafe { libc::kill(-pgid, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
        }
    }

    /// Restarts wrangler on the same state folder and port (for the restart-in-a-burst tests).
    pub fn restart(&mut self, vars: &[(&str, &str)]) {
        self.stop();
        let port: u16 = self.base.rsplit(':').next().unwrap().parse().unwrap();
        self.child = Some(spawn_wrangler(&self.dir, port, vars, &self.log));
        self.wait_ready();
    }
}

/// Starts `wrangler dev` in its own process group on `dir`'s config and state, appending its
/// output to `log`. The test key is set unless `vars` sets `INTERNAL_API_KEY` itself.
fn spawn_wrangler(dir: &Path, port: u16, vars: &[(&str, &str)], log: &Path) -> Child {
    let append = || Stdio::from(std::fs::OpenOptions::new().append(true).open(log).unwrap());
    let mut cmd = Command::new("wrangler");
    quiet(&mut cmd)
        .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
        .args(["--inspector-port", &free_port().to_string(), "--test-scheduled", "--show-interactive-dev-session=false"])
        .arg("--persist-to")
        .arg(dir.join("state"))
        .arg("--config")
        .arg(dir.join("wrangler.toml"))
        .current_dir(dir)
        .stdout(append())
        .stderr(append())
        .process_group(0);
    if !vars.iter().any(|(k, _)| *k == "INTERNAL_API_KEY") {
        cmd.arg("--var").arg(format!("INTERNAL_API_KEY:{KEY}"));
    }
    for (k, v) in vars {
        cmd.arg("--var").arg(format!("{k}:{v}"));
    }
    cmd.spawn().expect("start wrangler dev")
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("CP_KEEP_TEST_STATE").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn find_sqlite(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let p = entry.path();
        if p.is_dir() {
            if let Some(found) = find_sqlite(&p) {
                return Some(found);
            }
        } else if p.extension().is_some_and(|e| e == "sqlite") && !p.to_string_lossy().contains("metadata") {
            return Some(p);
        }
    }
    None
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The repository's wrangler.toml pointing at the test's copy of the build, with absolute paths
/// and no build step (the harness built once).
fn test_config(dir: &Path) -> String {
    let repo = repo();
    let text = std::fs::read_to_string(repo.join("wrangler.toml")).unwrap();
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with('[') {
            skip = line.trim() == "[build]";
        }
        if skip {
            continue;
        }
        if line.starts_with("main = ") {
            out.push_str(&format!("main = \"{}/build/index.js\"\n", dir.display()));
        } else if line.starts_with("migrations_dir = ") {
            out.push_str(&format!("migrations_dir = \"{}/migrations\"\n", repo.display()));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}
