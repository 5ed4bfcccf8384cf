//! The hostile-input suite: hundreds of malformed requests across every route, built from data
//! tables, each of which must get a 4xx JSON error and change nothing in D1; and SQL-looking
//! values stored through valid requests, which must come back byte for byte.
//!
//! Requests go over a raw TCP socket (a minimal HTTP/1.1 client below), so paths, headers and
//! bodies reach the Worker exactly as written here: no client-side URL normalisation, no added
//! content type, and a chunked body when a case asks for one.

use crate::harness::{Worker, KEY};
use crate::hostile_table::*;
use crate::support::{pct_encode, JobRow};
use crate::Suite;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "hostile",
        vars: vec![],
        cases: {
            let mut cases: Vec<crate::Case> = vec![("malformed_requests_on_every_route_get_4xx_json_and_change_nothing", malformed_requests_change_nothing)];
            // Before the case that enqueues a job: the consumer's retries of it change D1 under
            // a "nothing changed" check.
            cases.extend(crate::hostile_tokens::cases());
            cases.push(("sql_looking_values_round_trip_byte_for_byte", sql_looking_values_round_trip));
            cases
        },
    }]
}

// ---------------------------------------------------------------------------------------------
// A raw HTTP/1.1 client.

pub struct RawResp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn port_of(w: &Worker) -> u16 {
    w.base.rsplit(':').next().unwrap().parse().unwrap()
}

/// One request on its own connection (`Connection: close`). `headers` are sent as given (bytes,
/// so a case can send non-ASCII); `chunked` sends the body with chunked transfer encoding instead
/// of a content-length.
fn raw_request(port: u16, method: &str, target: &str, headers: &[(String, Vec<u8>)], body: &[u8], chunked: bool) -> Result<RawResp, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = Vec::new();
    req.extend_from_slice(format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n").as_bytes());
    for (k, v) in headers {
        req.extend_from_slice(k.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    if chunked {
        req.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for chunk in body.chunks(8192) {
            req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            req.extend_from_slice(chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
    } else {
        let declared = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
        if !declared && (!body.is_empty() || method == "POST" || method == "PUT" || method == "PATCH") {
            req.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        req.extend_from_slice(body);
    }
    s.write_all(&req).map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    // A server may answer (413) and close before reading the whole body; whatever was read counts.
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Result<RawResp, String> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| format!("no header end in {:?}", String::from_utf8_lossy(buf)))?;
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))).collect();
    let raw_body = &buf[end + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked { dechunk(raw_body)? } else { raw_body.to_vec() };
    Ok(RawResp { status, headers, body: String::from_utf8_lossy(&body).to_string() })
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").ok_or("chunk size line")?;
        let size_text = String::from_utf8_lossy(&b[..eol]).to_string();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size {
            return Err("truncated chunk".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[(size + 2).min(b.len())..];
    }
}

/// Valid state for the hostile batch to leave alone: nodes, metrics and snapshots, a trace, and
/// jobs in each status written straight to D1 (no queue message, so no consumer changes them).
fn seed(w: &Worker) {
    for (id, region) in [(SEED_NODE, "sg"), ("hz-sg-2", "sg"), ("hz-us-1", "us")] {
        let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.1.0.1", "labels": {"rack": "r1"}, "provider_server_id": 4242}));
        assert!(r.status == 201 || r.status == 200, "{}", r.text);
        let r = w.post(
            "/internal/server-metrics",
            &json!({"node_id": id, "cpu_pct": 12.5, "memory_pct": 40, "disk_pct": 30, "tenant_count": 3, "save_snapshot": true}),
        );
        assert_eq!(r.status, 200, "{}", r.text);
    }
    for e in ["checkout.paid", "job.created"] {
        let r = w.post("/internal/trace-events", &json!({"trace_id": SEED_TRACE, "event": e, "tenant_id": "acme", "detail": {"k": "v"}}));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    // Next attempt in 2100: the outbox sweep never resends the pending one.
    for (job_id, tenant, status, key) in
        [(JOB_DISPATCHED, "acme", "dispatched", Some(SEED_KEY)), (JOB_SUCCEEDED, "beta", "succeeded", None), (JOB_PENDING, "gamma", "pending", None)]
    {
        JobRow {
            status,
            target: Some(SEED_NODE),
            trace_id: Some(SEED_TRACE),
            idempotency_key: key,
            attempts: 1,
            next_attempt_at: 4_102_444_800_000,
            created_at: 1_700_000_000_000,
            dispatched_at: Some(1_700_000_000_000),
            ..JobRow::new(job_id, tenant, tenant)
        }
        .insert(w);
    }
}

fn is_error_body(text: &str) -> bool {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => v["error"]["code"].as_str().is_some_and(|c| !c.is_empty()) && v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        Err(_) => false,
    }
}

fn send_hostile(port: u16, h: &H) -> Result<RawResp, String> {
    let mut headers: Vec<(String, Vec<u8>)> = Vec::new();
    match &h.auth {
        Auth::Good => headers.push(("Authorization".into(), format!("Bearer {KEY}").into_bytes())),
        Auth::None => {}
        Auth::Raw(v) => headers.push(("Authorization".into(), v.clone().into_bytes())),
    }
    if let Some(ct) = &h.content_type {
        headers.push(("Content-Type".into(), ct.clone().into_bytes()));
    }
    headers.extend(h.extra.iter().cloned());
    raw_request(port, h.method, &h.path, &headers, &h.body, h.chunked)
}

fn malformed_requests_change_nothing(w: &mut Worker) {
    seed(w);
    let before = w.dump();
    let port = port_of(w);
    let hs = hostile_requests();
    let started = Instant::now();
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut by_group: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    for h in &hs {
        *by_group.entry(h.label.split('/').next().unwrap().to_string()).or_default() += 1;
        let r = match send_hostile(port, h) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{}: transport error {e}", h.label));
                continue;
            }
        };
        *by_status.entry(r.status).or_default() += 1;
        if std::env::var_os("CP_HOSTILE_VERBOSE").is_some() {
            let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
            println!("hostile: {} -> {} {} {}", h.label, r.status, v["error"]["code"], v["error"]["field"]);
        }
        let short: String = r.body.chars().take(200).collect();
        if !(400..500).contains(&r.status) {
            problems.push(format!("{}: status {} (want {:?}): {short}", h.label, r.status, h.want));
            continue;
        }
        if !h.want.contains(&r.status) {
            problems.push(format!("{}: status {} (want {:?}): {short}", h.label, r.status, h.want));
        }
        if !is_error_body(&r.body) {
            problems.push(format!("{}: {} without an error body: {short:?}", h.label, r.status));
        }
        if !r.header("content-type").is_some_and(|c| c.starts_with("application/json")) {
            problems.push(format!("{}: content-type {:?}", h.label, r.header("content-type")));
        }
        if r.header("x-request-id").is_none() {
            problems.push(format!("{}: no x-request-id", h.label));
        }
        if r.status == 401 && r.header("www-authenticate") != Some("Bearer") {
            problems.push(format!("{}: 401 without WWW-Authenticate: Bearer", h.label));
        }
        if r.status == 405 && r.header("allow").is_none() {
            problems.push(format!("{}: 405 without Allow", h.label));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total: usize = by_status.values().sum();
    println!("hostile: {} requests in {elapsed:.1}s; by status {by_status:?}", hs.len());
    println!("hostile: by group {by_group:?}");
    assert!(hs.len() >= 200, "only {} hostile requests", hs.len());
    assert!(problems.is_empty(), "{} of {total} hostile requests misbehaved:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(by_status.keys().filter(|s| **s >= 500).count(), 0, "5xx answers: {by_status:?}");
    let after = w.dump();
    assert!(before == after, "the hostile batch changed D1:\nBEFORE\n{before}\nAFTER\n{after}");
    // The Worker logged every refusal as a request line, none as an internal error or a panic.
    std::thread::sleep(Duration::from_millis(300));
    let log = w.log_text();
    assert!(!log.contains("panicked"), "a panic was logged");
    let errors: Vec<Value> = w.log_lines().into_iter().filter(|l| l["level"] == "error").collect();
    assert!(errors.is_empty(), "error log lines: {errors:?}");
}

// ---------------------------------------------------------------------------------------------
// SQL-looking values through valid requests.

fn sql_looking_values_round_trip(w: &mut Worker) {
    // Labels: quotes, semicolons, comment markers, unicode and backslashes (no control
    // characters: labels refuse them).
    let labels = json!({
        "quote": "x' OR '1'='1",
        "drop": "1; DROP TABLE nodes;--",
        "comment": "-- /* */ #",
        "dquote": "\"double\" and 'single'",
        "backslash": "C:\\path\\to\\file \\' \\\" \\\\ \\u0000 \\n",
        "unicode": "ノード ünïcödé 😀 \u{202e}rtl \u{200b}zw",
        "mixed": "'); DELETE FROM server_metrics; SELECT ('",
        "like": "%_%[a-z]*?",
        "empty": "",
        "json_text": "{\"a\":[1,2]}",
        "k.with/slash": "x",
    });
    let r = w.post("/internal/nodes", &json!({"node_id": "sqlrt-1", "region": "eu", "host": "sqlrt.example.com", "labels": labels}));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["labels"], labels, "the upsert answer");
    let r = w.get("/internal/nodes/sqlrt-1");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["labels"], labels, "GET /internal/nodes/:id");
    let listed = w.get("/internal/nodes?region=eu").json();
    let node = listed["nodes"].as_array().unwrap().iter().find(|n| n["node_id"] == "sqlrt-1").expect("listed");
    assert_eq!(node["labels"], labels, "GET /internal/nodes");
    let stored = w.sql("SELECT labels FROM nodes WHERE node_id = 'sqlrt-1'");
    let stored: Value = serde_json::from_str(stored[0][0].as_str().unwrap()).unwrap();
    assert_eq!(stored, labels, "the labels column");
    for (k, v) in labels.as_object().unwrap() {
        // Each value also byte for byte through SQLite's own JSON reader.
        let got = w.sql(&format!("SELECT json_extract(labels, '$.\"{k}\"') FROM nodes WHERE node_id = 'sqlrt-1'"));
        assert_eq!(&got[0][0], v, "label {k}");
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM nodes"), 4, "the seeded nodes and this one are all still there");

    // Trace events: the trace id itself (visible ASCII may hold quotes and semicolons), the
    // free-text fields and the detail object.
    let trace_id = "trace_x'OR'1'='1;DROP_TABLE_trace_events;--\\\"%_";
    let detail = json!({
        "quote": "x' OR '1'='1",
        "drop": "'; DROP TABLE trace_events; --",
        "backslash": "back\\slash \\\\ double \\' \\\"",
        "unicode": "😀 ünï 中文 \u{202e}",
        "control": "tab\tnewline\ncr\rnul\u{0}bell\u{7}",
        "nested": {"arr": ["'", "\"", "--", "\\", ";", "/*"], "n": 1.5, "neg": -0.25, "big": 12345678901234i64, "t": true, "z": null},
        "empty": "",
    });
    let event = json!({
        "trace_id": trace_id,
        "event": "sql.round-trip_1",
        "job_id": "1; DROP TABLE trace_events;--",
        "tenant_id": "x' OR '1'='1",
        "status": "ok'--\\\"ü",
        "detail": detail,
    });
    let r = w.post("/internal/trace-events", &event);
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["trace_id"], trace_id);
    let r = w.get(&format!("/internal/trace-events?trace_id={}", pct_encode(trace_id)));
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["trace_id"], trace_id);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{body}");
    for field in ["event", "job_id", "tenant_id", "status", "detail"] {
        assert_eq!(events[0][field], event[field], "{field} through the API");
    }
    let rows = w.sql("SELECT trace_id, job_id, tenant_id, status, detail FROM trace_events WHERE event = 'sql.round-trip_1'");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], json!(trace_id), "trace_id column");
    assert_eq!(rows[0][1], event["job_id"], "job_id column");
    assert_eq!(rows[0][2], event["tenant_id"], "tenant_id column");
    assert_eq!(rows[0][3], event["status"], "status column");
    let stored_detail: Value = serde_json::from_str(rows[0][4].as_str().unwrap()).unwrap();
    assert_eq!(stored_detail, detail, "detail column");
    // SQLite's own JSON reader agrees (json_extract cuts a string at an escaped NUL, a SQLite
    // limit, so the control-character field is checked through the column above instead).
    for k in ["quote", "drop", "backslash", "unicode"] {
        let got = w.sql(&format!("SELECT json_extract(detail, '$.{k}') FROM trace_events WHERE event = 'sql.round-trip_1'"));
        assert_eq!(got[0][0], detail[k], "detail.{k} read by SQLite");
    }
    // The whole table is still there and holds the seed events too.
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE trace_id = '{SEED_TRACE}'")), 2);

    // An enqueue whose Idempotency-Key and trace_id look like SQL: stored as given, and the
    // replay finds the job by that key. The eu node pushes first (full), so the region is seen
    // and full rather than blind (which would hold the enqueue with a 503).
    let pushed = w.post("/internal/server-metrics", &json!({"node_id": "sqlrt-1", "memory_pct": 95, "cpu_pct": 1, "disk_pct": 1, "tenant_count": 0}));
    assert_eq!(pushed.status, 200, "{}", pushed.text);
    let key = "k' OR '1'='1; DROP TABLE provision_jobs;-- \\ \"q\"";
    let enqueue_trace = "trace_';DELETE_FROM_provision_jobs;--";
    let body = json!({"subdomain_slug": "sqlrt", "trace_id": enqueue_trace, "region": "eu"}).to_string();
    let port = port_of(w);
    let headers = vec![
        ("Authorization".to_string(), format!("Bearer {KEY}").into_bytes()),
        ("Content-Type".to_string(), b"application/json".to_vec()),
        ("Idempotency-Key".to_string(), key.as_bytes().to_vec()),
    ];
    let first = raw_request(port, "POST", "/internal/tenants/sqlrt-tenant/enqueue-provision", &headers, body.as_bytes(), false).unwrap();
    assert_eq!(first.status, 202, "{}", first.body);
    let first: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(first["trace_id"], enqueue_trace);
    let again = raw_request(port, "POST", "/internal/tenants/sqlrt-tenant/enqueue-provision", &headers, body.as_bytes(), false).unwrap();
    assert_eq!(again.status, 200, "{}", again.body);
    let again: Value = serde_json::from_str(&again.body).unwrap();
    assert_eq!(again["job_id"], first["job_id"], "the replay names the same job");
    let job_id = first["job_id"].as_str().unwrap();
    let rows = w.sql(&format!("SELECT idempotency_key, trace_id, tenant_id FROM provision_jobs WHERE job_id = '{job_id}'"));
    assert_eq!(rows[0], vec![json!(key), json!(enqueue_trace), json!("sqlrt-tenant")]);
    let job = w.get(&format!("/internal/provision-jobs/{job_id}")).json();
    assert_eq!(job["trace_id"], enqueue_trace);
    assert_eq!(w.count("SELECT COUNT(*) FROM provision_jobs"), 4, "the three seeded jobs and this one");
}
