//! Small helpers that several suites need in exactly the same form: the clock D1 rows use,
//! waiting for the Worker's asynchronous work (queue consumer, scheduled sweep) to show, enqueue
//! requests that may have to survive a transport error, and job rows written straight to D1.
//! One copy each, so a change to the API or the schema is made in one place.

use crate::harness::{request, Resp, Worker, KEY};
use reqwest::blocking::Client;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the epoch: the unit of every time column in D1.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Calls `probe` every `every` until `done` holds or `within` has passed, and returns its last
/// value either way: for waits whose timeout the caller reports with more than a message.
pub fn poll<T>(within: Duration, every: Duration, mut probe: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + within;
    loop {
        let value = probe();
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        std::thread::sleep(every);
    }
}

/// Polls `probe` until it returns Ok; after `within`, fails with its last Err.
pub fn eventually<T>(what: &str, within: Duration, probe: impl FnMut() -> Result<T, String>) -> T {
    poll(within, Duration::from_millis(200), probe, Result::is_ok).unwrap_or_else(|e| panic!("timed out waiting for {what}: {e}"))
}

/// A client of its own, for requests sent without the `Worker` handle: from the threads of a
/// burst, or while the handle is busy restarting the Worker.
pub fn client(timeout: Duration) -> Client {
    Client::builder().timeout(timeout).pool_max_idle_per_host(64).build().unwrap()
}

/// POSTs JSON with the test key. Err only for a transport error, which some cases tolerate.
pub fn post_json(http: &Client, base: &str, path: &str, body: &Value) -> Result<Resp, String> {
    post_authorized_json(http, base, path, body, None)
}

/// `POST /internal/tenants/{tenant}/enqueue-provision`, with an `Idempotency-Key` when given
/// (as raw bytes, so a case can send one the Worker must refuse).
pub fn enqueue(http: &Client, base: &str, tenant: &str, body: &Value, key: Option<&str>) -> Result<Resp, String> {
    post_authorized_json(http, base, &format!("/internal/tenants/{tenant}/enqueue-provision"), body, key)
}

fn post_authorized_json(http: &Client, base: &str, path: &str, body: &Value, idempotency_key: Option<&str>) -> Result<Resp, String> {
    let auth = format!("Bearer {KEY}");
    let mut headers: Vec<(&str, &[u8])> = vec![("authorization", auth.as_bytes()), ("content-type", b"application/json")];
    if let Some(k) = idempotency_key {
        headers.push(("idempotency-key", k.as_bytes()));
    }
    request(http, base, "POST", path, &headers, Some(body.to_string().into_bytes()), None)
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a path segment or a
/// query value.
pub fn pct_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// `GET /internal/provision-jobs/{job_id}`, which must exist.
pub fn job(w: &Worker, job_id: &str) -> Value {
    let r = w.get(&format!("/internal/provision-jobs/{job_id}"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

/// A `provision_jobs` row written straight to D1, for a case that needs a job in some state
/// without a queue message (so no consumer ever changes it). Name the fields that matter and
/// take the rest from [`JobRow::new`].
pub struct JobRow<'a> {
    pub job_id: &'a str,
    pub tenant_id: &'a str,
    pub status: &'a str,
    /// `Some`: placed on that node (`use_existing`); `None`: a new server (`create_new_server`).
    pub target: Option<&'a str>,
    pub dedicated: bool,
    pub region: &'a str,
    pub plan_tier: &'a str,
    /// The host name is `{slug}.pregoi.com`.
    pub slug: &'a str,
    pub stack: &'a str,
    /// `None`: `trace_{job_id}`.
    pub trace_id: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub attempts: u32,
    pub last_error: Option<&'a str>,
    pub next_attempt_at: i64,
    /// Also `updated_at`.
    pub created_at: i64,
    pub dispatched_at: Option<i64>,
    pub completed_at: Option<i64>,
}

impl<'a> JobRow<'a> {
    /// A pending basic job for a new server in `sg`, created now, whose slug is `slug`.
    pub fn new(job_id: &'a str, tenant_id: &'a str, slug: &'a str) -> JobRow<'a> {
        let now = now_ms();
        JobRow {
            job_id,
            tenant_id,
            status: "pending",
            target: None,
            dedicated: false,
            region: "sg",
            plan_tier: "basic",
            slug,
            stack: "sg",
            trace_id: None,
            idempotency_key: None,
            attempts: 0,
            last_error: None,
            next_attempt_at: now,
            created_at: now,
            dispatched_at: None,
            completed_at: None,
        }
    }

    pub fn insert(&self, w: &Worker) {
        let text = |s: Option<&str>| s.map_or("NULL".to_string(), |s| format!("'{}'", s.replace('\'', "''")));
        let int = |n: Option<i64>| n.map_or("NULL".to_string(), |n| n.to_string());
        let trace = self.trace_id.map_or_else(|| format!("trace_{}", self.job_id), String::from);
        let values = [
            text(Some(self.job_id)),
            text(Some(self.tenant_id)),
            text(Some(self.status)),
            text(Some(if self.target.is_some() { "use_existing" } else { "create_new_server" })),
            int(self.dedicated.then_some(1)),
            text(Some(self.region)),
            text(self.target),
            text(Some(self.plan_tier)),
            text(Some(self.slug)),
            text(Some(&format!("{}.pregoi.com", self.slug))),
            text(Some(self.stack)),
            text(Some(&trace)),
            text(self.idempotency_key),
            self.attempts.to_string(),
            text(self.last_error),
            self.next_attempt_at.to_string(),
            self.created_at.to_string(),
            self.created_at.to_string(),
            int(self.dispatched_at),
            int(self.completed_at),
        ];
        w.sql(&format!(
            "INSERT INTO provision_jobs (job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier, \
               subdomain_slug, canonical_hostname, pulumi_stack, trace_id, idempotency_key, attempts, last_error, next_attempt_at, \
               created_at, updated_at, dispatched_at, completed_at) VALUES ({})",
            values.join(", ")
        ));
    }
}

/// A URL on 127.0.0.1 where nothing listens (a control plane that is down).
pub fn free_port_url() -> String {
    format!("http://127.0.0.1:{}", crate::harness::free_port())
}
