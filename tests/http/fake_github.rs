//! A fake GitHub `workflow_dispatch` endpoint, for the suites that drive the dispatcher
//! (pipeline.rs, load.rs).
//!
//! The dispatch POST is the Worker's only call out, and what can go wrong with it (5xx, 429 with
//! `retry-after`, a used-up rate limit, a dropped connection, an answer slower than the Worker
//! waits) is what its retries, dead-letter queue and at-most-once promise are about. So the fake
//! is a real HTTP/1.1 server on 127.0.0.1, which the Worker reaches with its real `fetch`: a case
//! scripts the answers by tenant and attempt, and afterwards counts exactly what the Worker sent.
//!
//! Each suite starts one (kept in a `static OnceLock`, as its `vars` need the URL before its
//! Worker starts), so the requests a suite counts are only its own Worker's.
//!
//! Besides the dispatch it answers the runs API (`GET .../actions/runs/{id}`, for the reconcile)
//! and the cancel API (`POST .../actions/runs/{id}/cancel`) from a second script, and it can hold
//! an answer until a test releases it (to stop the Worker while GitHub "has" the dispatch).

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub const DISPATCH_PATH: &str = "/repos/acme/infra/actions/workflows/provision-tenant.yml/dispatches";
/// The runs API of the same repository.
pub const RUNS_PATH: &str = "/repos/acme/infra/actions/runs/";
/// The token the Worker is given, and must send.
pub const TOKEN: &str = "test-gh-token";
/// The workflow's inputs, in the (sorted) order serde_json keeps them.
pub const INPUTS: [&str; 9] =
    ["canonical_hostname", "create_new_server", "dedicated", "job_id", "region", "subdomain_slug", "target_server_id", "tenant_id", "trace_id"];

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// 0: close the connection without answering (a network error for the Worker).
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Value>,
    /// How long to wait before answering (or hanging up).
    delay: Duration,
    /// Wait until this is released (or 120 s) before answering.
    hold: Option<Gate>,
}

/// A held answer's gate: [`Gate::release`] lets it go.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<AtomicBool>);

impl Gate {
    pub fn release(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    fn wait(&self) {
        let until = Instant::now() + Duration::from_secs(120);
        while !self.0.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Answer {
    pub fn status(status: u16) -> Answer {
        Answer { status, headers: Vec::new(), body: None, delay: Duration::ZERO, hold: None }
    }
    /// 204, what GitHub answers a dispatch it accepted.
    pub fn ok() -> Answer {
        Answer::status(204)
    }
    pub fn hang_up() -> Answer {
        Answer::status(0)
    }
    /// An error status with GitHub's JSON error body.
    pub fn error(status: u16, message: &str) -> Answer {
        Answer::status(status).json(serde_json::json!({ "message": message }))
    }
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn json(mut self, body: Value) -> Answer {
        self.body = Some(body);
        self
    }
    pub fn after(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }
    /// 200 with the run GitHub created, as `return_run_details: true` asks for.
    pub fn run_details(run_id: u64) -> Answer {
        Answer::status(200).json(serde_json::json!({
            "workflow_run_id": run_id,
            "run_url": format!("https://api.github.com/repos/acme/infra/actions/runs/{run_id}"),
            "html_url": format!("https://github.com/acme/infra/actions/runs/{run_id}"),
        }))
    }
    /// 422 naming the field, as an older GitHub Enterprise Server answers.
    pub fn refuse_run_details() -> Answer {
        Answer::status(422).json(serde_json::json!({"message": "Invalid request.\n\n\"return_run_details\" is not a permitted key."}))
    }
    /// A run as the runs API shows it.
    pub fn run(status: &str, conclusion: Option<&str>) -> Answer {
        Answer::status(200).json(serde_json::json!({"status": status, "conclusion": conclusion}))
    }
    pub fn held(mut self, gate: &Gate) -> Answer {
        self.hold = Some(gate.clone());
        self
    }
}

/// Picks the answer from the job's tenant id and how many requests for that job came before.
pub type Script = Arc<dyn Fn(&str, usize) -> Answer + Send + Sync>;

/// A call to the runs API: which run, and whether it is the cancel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunCall {
    pub run_id: String,
    pub cancel: bool,
}

/// Answers runs API calls.
pub type RunScript = Arc<dyn Fn(&RunCall) -> Answer + Send + Sync>;

/// A request as the fake received it, and how it answered.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: BTreeMap<String, String>,
    /// Parsed JSON, or the raw text as a JSON string when it is not JSON.
    pub body: Value,
    /// 0 when it hung up.
    pub status: u16,
    pub delay: Duration,
    /// When the answer was written (or the connection closed), after any delay.
    pub answered_at: Instant,
}

impl Request {
    pub fn input(&self, name: &str) -> &str {
        self.body["inputs"][name].as_str().unwrap_or_default()
    }
    pub fn job_id(&self) -> &str {
        self.input("job_id")
    }
    pub fn is_2xx(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// Whether the dispatch asked for the run's details.
    pub fn asks_run_details(&self) -> bool {
        self.body.get("return_run_details") == Some(&Value::Bool(true))
    }

    /// What is wrong with this request by GitHub's rules for a dispatch (empty when nothing):
    /// the route, token, API headers, and a body of `ref`, the nine string inputs and
    /// `return_run_details: true` (or, for the resend after a refusal, without that field).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let header = |name: &str| self.headers.get(name).map(String::as_str);
        if (self.method.as_str(), self.path.as_str()) != ("POST", DISPATCH_PATH) {
            problems.push(format!("request line {} {}", self.method, self.path));
        }
        let expect =
            [("authorization", format!("Bearer {TOKEN}")), ("accept", "application/vnd.github+json".into()), ("x-github-api-version", "2022-11-28".into())];
        for (name, want) in expect {
            if header(name) != Some(want.as_str()) {
                problems.push(format!("{name} {:?}", header(name)));
            }
        }
        if header("user-agent").is_none_or(|ua| ua.trim().is_empty()) {
            problems.push(format!("no user-agent: {:?}", self.headers));
        }
        let Some(body) = self.body.as_object() else {
            problems.push(format!("body is not a JSON object: {}", self.body));
            return problems;
        };
        let keys = body.keys().collect::<Vec<_>>();
        if keys != ["inputs", "ref", "return_run_details"] && keys != ["inputs", "ref"] {
            problems.push(format!("body keys {keys:?}"));
        }
        if body.get("return_run_details").is_some_and(|v| v != &Value::Bool(true)) {
            problems.push(format!("return_run_details {:?}", body.get("return_run_details")));
        }
        if body.get("ref") != Some(&Value::from("main")) {
            problems.push(format!("ref {:?}", body.get("ref")));
        }
        match body.get("inputs").and_then(Value::as_object) {
            Some(inputs) if inputs.keys().map(String::as_str).eq(INPUTS) && inputs.values().all(Value::is_string) => {}
            _ => problems.push(format!("inputs are not the nine strings: {}", self.body["inputs"])),
        }
        problems
    }
}

/// The statuses answered, in order.
pub fn statuses(requests: &[Request]) -> Vec<u16> {
    requests.iter().map(|r| r.status).collect()
}

pub fn count_2xx(requests: &[Request]) -> usize {
    requests.iter().filter(|r| r.is_2xx()).count()
}

pub struct FakeGithub {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    script: RwLock<Script>,
    runs: RwLock<RunScript>,
    requests: Mutex<Vec<Request>>,
    run_calls: Mutex<Vec<(RunCall, Request)>>,
}

impl FakeGithub {
    /// Listens on a free port and answers with `script` (until [`FakeGithub::set_script`]).
    pub fn start(script: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake GitHub");
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            script: RwLock::new(Arc::new(script)),
            runs: RwLock::new(Arc::new(|_: &RunCall| Answer::status(404).json(serde_json::json!({"message": "Not Found"})))),
            requests: Mutex::new(Vec::new()),
            run_calls: Mutex::new(Vec::new()),
        });
        let for_thread = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = for_thread.clone();
                std::thread::spawn(move || {
                    if let Err(e) = shared.serve(stream) {
                        eprintln!("fake GitHub on port {port}: {e}");
                    }
                });
            }
        });
        FakeGithub { port, shared }
    }

    pub fn set_script(&self, script: impl Fn(&str, usize) -> Answer + Send + Sync + 'static) {
        *self.shared.script.write().unwrap() = Arc::new(script);
    }

    /// How the runs and cancel APIs answer (404 until set).
    pub fn set_runs(&self, script: impl Fn(&RunCall) -> Answer + Send + Sync + 'static) {
        *self.shared.runs.write().unwrap() = Arc::new(script);
    }

    /// The runs and cancel API calls received, in order.
    pub fn run_calls(&self) -> Vec<(RunCall, Request)> {
        self.shared.run_calls.lock().unwrap().clone()
    }

    /// The value of `GITHUB_WORKFLOW_DISPATCH_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}{DISPATCH_PATH}", self.port)
    }

    /// The `--var`s that point a Worker here: the URL, the token, and 1 s retry waits so that
    /// scripted failures settle in seconds.
    pub fn worker_vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_WORKFLOW_DISPATCH_URL", self.url()),
            ("GITHUB_TOKEN", TOKEN.into()),
            ("DISPATCH_RETRY_BASE_SECONDS", "1".into()),
            ("DISPATCH_RETRY_MAX_SECONDS", "1".into()),
        ]
    }

    /// The dispatch requests received, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn for_job(&self, job_id: &str) -> Vec<Request> {
        self.shared.requests.lock().unwrap().iter().filter(|r| r.job_id() == job_id).cloned().collect()
    }

    /// The requests for tenants whose id starts with `tenant_prefix`, by job id.
    pub fn by_job(&self, tenant_prefix: &str) -> BTreeMap<String, Vec<Request>> {
        let mut out: BTreeMap<String, Vec<Request>> = BTreeMap::new();
        for r in self.requests().into_iter().filter(|r| r.input("tenant_id").starts_with(tenant_prefix)) {
            out.entry(r.job_id().to_string()).or_default().push(r);
        }
        out
    }
}

impl Shared {
    /// Reads one request, answers it from the script, closes.
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let (method, path, headers, body) = read_request(&mut reader)?;
        let body: Value = serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        if let Some(rest) = path.strip_prefix(RUNS_PATH) {
            let (run_id, cancel) = match rest.strip_suffix("/cancel") {
                Some(id) => (id.to_string(), true),
                None => (rest.to_string(), false),
            };
            let call = RunCall { run_id, cancel };
            let script = self.runs.read().unwrap().clone();
            let answer = script(&call);
            let request = Request { method, path, headers, body, status: answer.status, delay: answer.delay, answered_at: Instant::now() };
            self.run_calls.lock().unwrap().push((call, request));
            return answer_with(reader.into_inner(), &answer);
        }

        // Count and record under one lock, so two concurrent requests for a job get distinct turns.
        let (index, answer) = {
            let mut requests = self.requests.lock().unwrap();
            let job_id = body["inputs"]["job_id"].as_str().unwrap_or_default();
            let nth = requests.iter().filter(|r| r.job_id() == job_id).count();
            let script = self.script.read().unwrap().clone();
            let answer = script(body["inputs"]["tenant_id"].as_str().unwrap_or_default(), nth);
            requests.push(Request { method, path, headers, body, status: answer.status, delay: answer.delay, answered_at: Instant::now() });
            (requests.len() - 1, answer)
        };
        let written = answer_with(reader.into_inner(), &answer);
        self.requests.lock().unwrap()[index].answered_at = Instant::now();
        written
    }
}

/// Waits as the answer says (its delay, its gate), then writes it (or hangs up) and closes.
fn answer_with(mut stream: TcpStream, answer: &Answer) -> std::io::Result<()> {
    std::thread::sleep(answer.delay);
    if let Some(gate) = &answer.hold {
        gate.wait();
    }
    let written = if answer.status == 0 { Ok(()) } else { stream.write_all(&response(answer)).and_then(|_| stream.flush()) };
    let _ = stream.shutdown(std::net::Shutdown::Both);
    written
}

type Head = (String, String, BTreeMap<String, String>, Vec<u8>);

/// The request line, lower-cased headers and body (Content-Length or chunked).
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Head> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let body = if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let len = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut buf = vec![0; len];
        reader.read_exact(&mut buf)?;
        buf
    };
    Ok((method, path, headers, body))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn response(answer: &Answer) -> Vec<u8> {
    let reason = match answer.status {
        200 => "OK",
        202 => "Accepted",
        204 => "No Content",
        409 => "Conflict",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Scripted",
    };
    let body = answer.body.as_ref().map(Value::to_string).unwrap_or_default();
    let mut out = format!("HTTP/1.1 {} {reason}\r\nConnection: close\r\n", answer.status);
    for (k, v) in &answer.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if answer.status != 204 {
        out.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    out.into_bytes()
}

/// `fn github() -> &'static FakeGithub`: the suite's one fake GitHub, started on first use with
/// `script` (a suite's Worker vars need its URL before any case runs).
macro_rules! suite_github {
    ($script:expr) => {
        fn github() -> &'static $crate::fake_github::FakeGithub {
            static GITHUB: std::sync::OnceLock<$crate::fake_github::FakeGithub> = std::sync::OnceLock::new();
            GITHUB.get_or_init(|| $crate::fake_github::FakeGithub::start($script))
        }
    };
}
pub(crate) use suite_github;
