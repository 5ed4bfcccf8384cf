//! The hostile-input suite: hundreds of malformed requests across every route, built from data
//! tables, each of which must get a 4xx JSON error and change nothing in D1; and SQL-looking
//! values stored through valid requests, which must come back byte for byte.
//!
//! Requests go over a raw TCP socket (a minimal HTTP/1.1 client below), so paths, headers and
//! bodies reach the Worker exactly as written here: no client-side URL normalisation, no added
//! content type, and a chunked body when a case asks for one.

use crate::harness::{Worker, KEY};
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

// ---------------------------------------------------------------------------------------------
// The table of hostile requests.

#[derive(Clone)]
enum Auth {
    Good,
    None,
    Raw(String),
}

#[derive(Clone)]
struct H {
    label: String,
    method: &'static str,
    path: String,
    auth: Auth,
    content_type: Option<String>,
    body: Vec<u8>,
    extra: Vec<(String, Vec<u8>)>,
    chunked: bool,
    /// The acceptable statuses (all 4xx).
    want: &'static [u16],
}

const S400: &[u16] = &[400];
const S401: &[u16] = &[401];
const S404: &[u16] = &[404];
const S405: &[u16] = &[405];
const S409: &[u16] = &[409];
const S413: &[u16] = &[413];
const S415: &[u16] = &[415];
const S422: &[u16] = &[422];
/// A path id that decodes to an invalid id (400), or that a URL parser normalises away (`%2e%2e`,
/// `.`), leaving an unknown path (404) or a known path with another method (405).
const S400_404: &[u16] = &[400, 404, 405];

impl H {
    fn new(label: impl Into<String>, method: &'static str, path: impl Into<String>, want: &'static [u16]) -> H {
        H { label: label.into(), method, path: path.into(), auth: Auth::Good, content_type: None, body: Vec::new(), extra: Vec::new(), chunked: false, want }
    }
    fn json(label: impl Into<String>, path: impl Into<String>, body: impl Into<Vec<u8>>, want: &'static [u16]) -> H {
        let mut h = H::new(label, "POST", path, want);
        h.content_type = Some("application/json".into());
        h.body = body.into();
        h
    }
    fn auth(mut self, a: Auth) -> H {
        self.auth = a;
        self
    }
    fn header(mut self, k: &str, v: impl Into<Vec<u8>>) -> H {
        self.extra.push((k.to_string(), v.into()));
        self
    }
}

const SEED_NODE: &str = "hz-sg-1";
const SEED_TRACE: &str = "trace_seed";
const JOB_DISPATCHED: &str = "11111111-1111-4111-8111-111111111111";
const JOB_SUCCEEDED: &str = "22222222-2222-4222-8222-222222222222";
const JOB_PENDING: &str = "33333333-3333-4333-8333-333333333333";
const SEED_KEY: &str = "seed-idem-key";

/// Every POST route, with a path that reaches its body parsing.
fn post_routes() -> Vec<(&'static str, String)> {
    vec![
        ("compute", "/internal/placement/compute".into()),
        ("dry_run", "/internal/placement-dry-run".into()),
        ("node_upsert", "/internal/nodes".into()),
        ("metrics", "/internal/server-metrics".into()),
        ("trace_post", "/internal/trace-events".into()),
        ("enqueue", "/internal/tenants/t-hostile/enqueue-provision".into()),
        ("complete", format!("/internal/provision-jobs/{JOB_DISPATCHED}/complete")),
    ]
}

/// Every internal route as (method, path) with valid path parameters.
fn internal_routes() -> Vec<(&'static str, String)> {
    vec![
        ("POST", "/internal/placement/compute".into()),
        ("POST", "/internal/placement-dry-run".into()),
        ("POST", "/internal/nodes".into()),
        ("GET", "/internal/nodes".into()),
        ("GET", format!("/internal/nodes/{SEED_NODE}")),
        ("DELETE", "/internal/nodes/hz-sg-2".into()),
        ("POST", "/internal/server-metrics".into()),
        ("POST", "/internal/trace-events".into()),
        ("GET", format!("/internal/trace-events?trace_id={SEED_TRACE}")),
        ("POST", "/internal/tenants/t-auth/enqueue-provision".into()),
        ("GET", format!("/internal/provision-jobs/{JOB_DISPATCHED}")),
        ("POST", format!("/internal/provision-jobs/{JOB_SUCCEEDED}/complete")),
    ]
}

/// Bodies that are not one well-formed JSON object without duplicate keys.
fn invalid_json_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep_array = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(300), "}".repeat(300));
    vec![
        ("open_brace", b"{".to_vec()),
        ("missing_value", b"{\"a\":}".to_vec()),
        ("truncated_string", b"{\"node_id\":\"hz-sg".to_vec()),
        ("truncated_after_comma", b"{\"node_id\":\"hz-sg-1\",".to_vec()),
        ("array", b"[]".to_vec()),
        ("array_of_object", b"[{\"node_id\":\"hz-sg-1\"}]".to_vec()),
        ("string", b"\"hello\"".to_vec()),
        ("number", b"123".to_vec()),
        ("null", b"null".to_vec()),
        ("true", b"true".to_vec()),
        ("duplicate_key", b"{\"region\":\"sg\",\"region\":\"sg\"}".to_vec()),
        ("nested_duplicate_key", b"{\"labels\":{\"k\":\"a\",\"k\":\"b\"}}".to_vec()),
        ("trailing_garbage", b"{} trailing".to_vec()),
        ("two_objects", b"{}{}".to_vec()),
        ("nan_literal", b"{\"cpu_pct\":NaN}".to_vec()),
        ("infinity_literal", b"{\"cpu_pct\":Infinity}".to_vec()),
        ("minus_infinity_literal", b"{\"cpu_pct\":-Infinity}".to_vec()),
        ("huge_exponent_1e309", b"{\"cpu_pct\":1e309}".to_vec()),
        ("huge_negative_exponent", b"{\"tenant_count\":-1e400}".to_vec()),
        ("single_quotes", b"{'a':1}".to_vec()),
        ("unquoted_key", b"{a:1}".to_vec()),
        ("comment", b"{/* c */}".to_vec()),
        ("trailing_comma", b"{\"a\":1,}".to_vec()),
        ("bom", b"\xef\xbb\xbf{}".to_vec()),
        ("invalid_utf8", b"{\"a\":\"\xff\xfe\"}".to_vec()),
        ("lone_surrogate", b"{\"a\":\"\\ud800\"}".to_vec()),
        ("raw_control_char_in_string", b"{\"a\":\"x\x01y\"}".to_vec()),
        ("nul_byte", b"{\"a\":1}\x00".to_vec()),
        ("deep_array", deep_array.into_bytes()),
        ("deep_object", deep_object.into_bytes()),
        ("leading_zero", b"{\"tenant_count\":01}".to_vec()),
        ("hex_number", b"{\"tenant_count\":0x10}".to_vec()),
        ("plus_sign", b"{\"tenant_count\":+1}".to_vec()),
        ("utf16_le", b"\xff\xfe{\x00}\x00".to_vec()),
    ]
}

/// Ids for path segments, percent-encoded as a client would send them.
fn path_ids() -> Vec<(&'static str, String, &'static [u16])> {
    vec![
        ("traversal_encoded_slash", "..%2F..%2Fetc%2Fpasswd".into(), S400_404),
        ("traversal_dots_encoded", "%2e%2e".into(), S400_404),
        ("traversal_dots_encoded_upper", "%2E%2E%2Fetc".into(), S400_404),
        ("dot", ".".into(), S400_404),
        ("dotdot_literal", "..".into(), S400_404),
        ("encoded_slash", "a%2Fb".into(), S400_404),
        ("encoded_backslash", "a%5Cb".into(), S400_404),
        ("space", "a%20b".into(), S400_404),
        ("sql_or", "x'%20OR%20'1'%3D'1".into(), S400_404),
        ("sql_or_raw_quotes", "x'OR'1'='1".into(), S400_404),
        ("sql_drop", "1%3B%20DROP%20TABLE%20nodes%3B--".into(), S400_404),
        ("semicolon", "node%3B".into(), S400_404),
        ("unicode", "n%C3%B6de".into(), S400_404),
        ("cjk", "%E3%83%8E%E3%83%BC%E3%83%89".into(), S400_404),
        ("rtl_override", "%E2%80%AEnode".into(), S400_404),
        ("emoji", "%F0%9F%98%80".into(), S400_404),
        ("nul", "a%00b".into(), S400_404),
        ("newline", "a%0Ab".into(), S400_404),
        ("tab", "a%09b".into(), S400_404),
        ("bad_escape", "a%ZZ".into(), S400_404),
        ("truncated_escape", "a%2".into(), S400_404),
        ("lone_percent", "%".into(), S400_404),
        ("invalid_utf8_escape", "%ff%fe".into(), S400_404),
        ("overlong_utf8", "%C0%AE%C0%AE".into(), S400_404),
        ("too_long_129", "x".repeat(129), S400_404),
        ("very_long_10k", "y".repeat(10_000), S400_404),
    ]
}

/// Ids for body fields (raw strings, JSON-encoded by the case).
fn body_ids() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("dotdot", "..".into()),
        ("symbols_only", "-_.".into()),
        ("traversal", "../../etc/passwd".into()),
        ("traversal_encoded", "..%2F..%2Fetc".into()),
        ("slash", "a/b".into()),
        ("space", "a b".into()),
        ("leading_space", " hz-sg-1".into()),
        ("sql_or", "x' OR '1'='1".into()),
        ("sql_drop", "1; DROP TABLE nodes;--".into()),
        ("unicode", "nöde".into()),
        ("cjk", "ノード".into()),
        ("rtl_override", "\u{202e}node".into()),
        ("emoji", "node😀".into()),
        ("nul", "a\u{0}b".into()),
        ("newline", "a\nb".into()),
        ("bell", "a\u{7}b".into()),
        ("too_long_65", "x".repeat(65)),
        ("very_long_10k", "z".repeat(10_000)),
    ]
}

fn hostile_requests() -> Vec<H> {
    let mut hs: Vec<H> = Vec::new();
    let long = "L".repeat(10_000);

    // 1. Bad and missing tokens on every internal route.
    let upper_key = KEY.to_ascii_uppercase();
    let tokens: Vec<(&str, Auth)> = vec![
        ("missing", Auth::None),
        ("empty_header", Auth::Raw(String::new())),
        ("scheme_only", Auth::Raw("Bearer".into())),
        ("scheme_and_space", Auth::Raw("Bearer ".into())),
        ("wrong_token", Auth::Raw("Bearer wrong-token".into())),
        ("basic_scheme", Auth::Raw(format!("Basic {KEY}"))),
        ("no_scheme", Auth::Raw(KEY.into())),
        ("key_with_suffix", Auth::Raw(format!("Bearer {KEY}x"))),
        ("key_prefix", Auth::Raw(format!("Bearer {}", &KEY[..KEY.len() - 1]))),
        ("key_upper_case", Auth::Raw(format!("Bearer {upper_key}"))),
        ("token_scheme", Auth::Raw(format!("Token {KEY}"))),
        ("very_long_token", Auth::Raw(format!("Bearer {}", "k".repeat(8000)))),
    ];
    for (method, path) in internal_routes() {
        for (name, auth) in &tokens {
            let mut h = H::new(format!("auth/{name} {method} {path}"), method, path.clone(), S401).auth(auth.clone());
            if method == "POST" {
                h.content_type = Some("application/json".into());
                h.body = b"{}".to_vec();
            }
            hs.push(h);
        }
    }
    // Two Authorization headers (combined by HTTP into one list value).
    for (method, path) in [("GET", "/internal/nodes"), ("POST", "/internal/server-metrics")] {
        let mut h = H::new(format!("auth/duplicated_header {method} {path}"), method, path, S401)
            .auth(Auth::Raw(format!("Bearer {KEY}")))
            .header("Authorization", format!("Bearer {KEY}"));
        if method == "POST" {
            h.content_type = Some("application/json".into());
            h.body = br#"{"node_id":"hz-sg-1","cpu_pct":99}"#.to_vec();
        }
        hs.push(h);
    }
    // Unknown internal paths without a token are refused before routing.
    hs.push(H::new("auth/unknown_internal_path", "GET", "/internal/admin", S401).auth(Auth::None));

    // 2. Wrong methods (405) on every route, and unknown paths (404).
    let wrong_methods: Vec<(&str, &[&'static str])> = vec![
        ("/health", &["POST", "PUT", "DELETE", "PATCH"]),
        ("/internal/placement/compute", &["GET", "PUT", "DELETE", "PATCH"]),
        ("/internal/placement-dry-run", &["GET", "PUT", "OPTIONS"]),
        ("/internal/nodes", &["PUT", "PATCH", "DELETE"]),
        ("/internal/nodes/hz-sg-1", &["POST", "PUT", "PATCH"]),
        ("/internal/server-metrics", &["GET", "PUT", "DELETE"]),
        ("/internal/trace-events", &["PUT", "DELETE", "PATCH"]),
        ("/internal/tenants/t-hostile/enqueue-provision", &["GET", "PUT", "DELETE"]),
        ("/internal/provision-jobs/11111111-1111-4111-8111-111111111111", &["POST", "PUT", "DELETE"]),
        ("/internal/provision-jobs/11111111-1111-4111-8111-111111111111/complete", &["GET", "PUT", "DELETE"]),
    ];
    for (path, methods) in wrong_methods {
        for m in methods {
            let mut h = H::new(format!("method/{m} {path}"), m, path, S405);
            if *m != "GET" && *m != "DELETE" && *m != "OPTIONS" {
                h.content_type = Some("application/json".into());
                h.body = br#"{"status":"succeeded","node_id":"hz-sg-1","region":"sg","host":"10.9.9.9"}"#.to_vec();
            }
            hs.push(h);
        }
    }
    for path in [
        "/",
        "/healthz",
        "/health/x",
        "/internal",
        "/internal/",
        "/internal/nodes/",
        "/internal/nodes/hz-sg-1/metrics",
        "/internal/provision-jobs/j/pause",
        "/internal/placement",
        "/internal/tenants/t1",
        "/INTERNAL/nodes",
        "/internal/nodes/../../etc/passwd",
    ] {
        hs.push(H::new(format!("route/unknown {path}"), "GET", path, S404));
    }

    // 3. Invalid JSON on every POST route.
    for (route, path) in post_routes() {
        for (name, body) in invalid_json_bodies() {
            hs.push(H::json(format!("json/{name} {route}"), path.clone(), body, S400));
        }
    }

    // 4. Oversized bodies (> 64 KiB), declared and chunked, and wrong content types, on every POST route.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024)).into_bytes();
    for (route, path) in post_routes() {
        hs.push(H::json(format!("size/oversized {route}"), path.clone(), big.clone(), S413));
        let mut chunked = H::json(format!("size/oversized_chunked {route}"), path.clone(), big.clone(), S413);
        chunked.chunked = true;
        hs.push(chunked);
        hs.push(H::json(format!("size/one_mebibyte {route}"), path.clone(), vec![b' '; 1024 * 1024], S413));
        for ct in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("text/json"),
            Some("application/xml"),
            Some("application/json, text/plain"),
        ] {
            let mut h = H::json(format!("content_type/{} {route}", ct.unwrap_or("none")), path.clone(), b"{\"node_id\":\"hz-sg-1\"}".to_vec(), S415);
            h.content_type = ct.map(String::from);
            hs.push(h);
        }
    }

    // 5. Placement compute and dry-run: wrong types, unknown values and fields.
    for path in ["/internal/placement/compute", "/internal/placement-dry-run"] {
        let bodies: Vec<(&str, Value)> = vec![
            ("tier_unknown", json!({"plan_tier": "gold"})),
            ("tier_empty", json!({"plan_tier": ""})),
            ("tier_case", json!({"plan_tier": "Basic"})),
            ("tier_number", json!({"plan_tier": 1})),
            ("tier_bool", json!({"plan_tier": true})),
            ("tier_array", json!({"plan_tier": ["basic"]})),
            ("tier_object", json!({"plan_tier": {"name": "basic"}})),
            ("alias_unknown", json!({"tier": "platinum"})),
            ("alias_and_field", json!({"plan_tier": "basic", "tier": "basic"})),
            ("region_unknown", json!({"region": "ap"})),
            ("region_case", json!({"region": "SG"})),
            ("region_empty", json!({"region": ""})),
            ("region_number", json!({"region": 5})),
            ("region_array", json!({"region": ["sg"]})),
            ("region_sql", json!({"region": "sg' OR '1'='1"})),
            ("tenant_empty", json!({"tenant_id": ""})),
            ("tenant_10k", json!({"tenant_id": long})),
            ("tenant_129", json!({"tenant_id": "t".repeat(129)})),
            ("tenant_nul", json!({"tenant_id": "a\u{0}b"})),
            ("tenant_newline", json!({"tenant_id": "a\nb"})),
            ("tenant_number", json!({"tenant_id": 5})),
            ("tenant_huge_number", json!({"tenant_id": 1e300})),
            ("tenant_array", json!({"tenant_id": ["t"]})),
            ("enterprise_symbols_only_tenant", json!({"plan_tier": "enterprise", "tenant_id": "'; --"})),
            ("enterprise_unicode_only_tenant", json!({"plan_tier": "enterprise", "tenant_id": "テナント"})),
            ("unknown_field", json!({"dry": true})),
            ("unknown_field_camel", json!({"planTier": "basic"})),
            ("many_unknown_fields", json!({"a": 1, "b": 2, "c": 3})),
        ];
        for (name, body) in bodies {
            hs.push(H::json(format!("placement/{name} {path}"), path, body.to_string(), S400));
        }
        let mut raw = H::json(format!("placement/big_integer_tenant {path}"), path, b"{\"tenant_id\":18446744073709551616}".to_vec(), S400);
        raw.label = format!("placement/big_integer_tenant {path}");
        hs.push(raw);
    }

    // 6. Node upsert.
    for (name, id) in body_ids() {
        hs.push(H::json(format!("node/node_id_{name}"), "/internal/nodes", json!({"node_id": id, "region": "sg", "host": "10.0.0.9"}).to_string(), S400));
    }
    let node_bodies: Vec<(&str, Value)> = vec![
        ("node_id_number", json!({"node_id": 7, "region": "sg", "host": "10.0.0.9"})),
        ("node_id_array", json!({"node_id": ["hz-sg-9"], "region": "sg", "host": "10.0.0.9"})),
        ("node_id_object", json!({"node_id": {"id": "hz-sg-9"}, "region": "sg", "host": "10.0.0.9"})),
        ("missing_node_id", json!({"region": "sg", "host": "10.0.0.9"})),
        ("missing_region", json!({"node_id": "hz-sg-9", "host": "10.0.0.9"})),
        ("missing_host", json!({"node_id": "hz-sg-9", "region": "sg"})),
        ("null_host", json!({"node_id": "hz-sg-9", "region": "sg", "host": null})),
        ("region_unknown", json!({"node_id": "hz-sg-9", "region": "ap", "host": "10.0.0.9"})),
        ("region_case", json!({"node_id": "hz-sg-9", "region": "SG", "host": "10.0.0.9"})),
        ("region_number", json!({"node_id": "hz-sg-9", "region": 1, "host": "10.0.0.9"})),
        ("existing_node_bad_region", json!({"node_id": SEED_NODE, "region": "xx", "host": "10.0.0.9"})),
        ("host_words", json!({"node_id": "hz-sg-9", "region": "sg", "host": "not a host"})),
        ("host_url", json!({"node_id": "hz-sg-9", "region": "sg", "host": "http://x"})),
        ("host_with_port", json!({"node_id": "hz-sg-9", "region": "sg", "host": "1.2.3.4:22"})),
        ("host_empty", json!({"node_id": "hz-sg-9", "region": "sg", "host": ""})),
        ("host_10k", json!({"node_id": "hz-sg-9", "region": "sg", "host": long})),
        ("host_shell", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.1; rm -rf /"})),
        ("host_sql", json!({"node_id": "hz-sg-9", "region": "sg", "host": "x' OR '1'='1"})),
        ("host_double_dot", json!({"node_id": "hz-sg-9", "region": "sg", "host": "a..b"})),
        ("host_number", json!({"node_id": "hz-sg-9", "region": "sg", "host": 10})),
        ("existing_node_bad_host", json!({"node_id": SEED_NODE, "region": "sg", "host": "bad host"})),
        ("status_unknown", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "status": "dead"})),
        ("status_case", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "status": "ACTIVE"})),
        ("status_bool", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "status": true})),
        ("existing_node_bad_status", json!({"node_id": SEED_NODE, "region": "sg", "host": "10.1.0.1", "status": "deleted"})),
        ("provider_negative", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": -1})),
        ("provider_fraction", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": 1.5})),
        ("provider_huge", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": 1e300})),
        ("provider_minus_huge", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": -1e300})),
        ("provider_words", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": "x y"})),
        ("provider_sql", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": "1; DROP TABLE nodes;--"})),
        ("provider_empty", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": ""})),
        ("provider_bool", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": true})),
        ("provider_array", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": [1]})),
        ("provider_nan_string", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": "NaN"})),
        ("labels_array", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": ["a"]})),
        ("labels_string", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": "a=b"})),
        ("labels_number_value", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": 1}})),
        ("labels_null_value", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": null}})),
        ("labels_nested", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": {"n": "v"}}})),
        ("labels_empty_key", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"": "v"}})),
        ("labels_key_space", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"bad key": "v"}})),
        ("labels_key_sql", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k'; DROP TABLE nodes;--": "v"}})),
        ("labels_key_65", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k".repeat(65): "v"}})),
        ("labels_value_control", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": "a\nb"}})),
        ("labels_value_nul", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": "a\u{0}b"}})),
        ("labels_value_257", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": "v".repeat(257)}})),
        ("labels_value_10k", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": long}})),
        (
            "labels_33_entries",
            json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": (0..33).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        ),
        ("existing_node_bad_labels", json!({"node_id": SEED_NODE, "region": "sg", "host": "10.1.0.1", "labels": {"rack": 7}})),
        ("unknown_field", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "zone": "a"})),
        ("unknown_field_case", json!({"NODE_ID": "hz-sg-9", "node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9"})),
        ("existing_node_unknown_field", json!({"node_id": SEED_NODE, "region": "sg", "host": "10.1.0.1", "created_at": 0})),
    ];
    for (name, body) in node_bodies {
        hs.push(H::json(format!("node/{name}"), "/internal/nodes", body.to_string(), S400));
    }
    hs.push(H::json(
        "node/provider_2pow64",
        "/internal/nodes",
        br#"{"node_id":"hz-sg-9","region":"sg","host":"10.0.0.9","provider_server_id":18446744073709551616}"#.to_vec(),
        S400,
    ));
    hs.push(H::json("node/empty_body", "/internal/nodes", Vec::new(), S400));

    // 7. Node read and delete by path id; listing with bad query strings.
    for (name, id, want) in path_ids() {
        hs.push(H::new(format!("node_get/{name}"), "GET", format!("/internal/nodes/{id}"), want));
        hs.push(H::new(format!("node_delete/{name}"), "DELETE", format!("/internal/nodes/{id}"), want));
    }
    hs.push(H::new("node_get/unknown", "GET", "/internal/nodes/ghost-node", S404));
    hs.push(H::new("node_delete/unknown", "DELETE", "/internal/nodes/ghost-node", S404));
    hs.push(H::new("node_delete/has_active_job", "DELETE", format!("/internal/nodes/{SEED_NODE}"), S409));
    for q in [
        "regoin=sg",
        "region=ap",
        "region=SG",
        "region=",
        "region",
        "=sg",
        "stale=yes",
        "stale=1",
        "stale=TRUE",
        "stale=",
        "region=sg&region=us",
        "region=sg&region=sg",
        "stale=true&stale=true",
        "region=sg'--",
        "region=sg%00",
        "region=sg%27%20OR%20%271%27%3D%271",
        "region=sg;DROP%20TABLE%20nodes",
        "region=%ff",
        "stale=%C0%AE",
        "limit=0",
        "limit=-1",
        "region=sg&limit=1001",
        "limit=1e2",
        "cursor=zz",
        "cursor=2e2e2f",
        "limit=5&limit=5",
        "region=%ZZ",
        "region=%E2%80%AE",
        "%00=1",
    ] {
        hs.push(H::new(format!("node_list/{q}"), "GET", format!("/internal/nodes?{q}"), S400));
    }
    let long_q = format!("region={}", "s".repeat(10_000));
    hs.push(H::new("node_list/region_10k", "GET", format!("/internal/nodes?{long_q}"), S400));

    // 8. Metrics push.
    for (name, id) in body_ids() {
        hs.push(H::json(format!("metrics/node_id_{name}"), "/internal/server-metrics", json!({"node_id": id, "cpu_pct": 1}).to_string(), S400));
    }
    hs.push(H::json(
        "metrics/unknown_node",
        "/internal/server-metrics",
        json!({"node_id": "ghost-node", "cpu_pct": 1, "save_snapshot": true}).to_string(),
        S404,
    ));
    hs.push(H::json("metrics/case_differs", "/internal/server-metrics", json!({"node_id": "HZ-SG-1", "cpu_pct": 1, "save_snapshot": true}).to_string(), S404));
    let bad_numbers: Vec<(&str, Value)> = vec![
        ("nan_string", json!("NaN")),
        ("infinity_string", json!("Infinity")),
        ("minus_infinity_string", json!("-Infinity")),
        ("numeric_string", json!("50")),
        ("minus_1e300", json!(-1e300)),
        ("plus_1e300", json!(1e300)),
        ("just_over_100", json!(100.0001)),
        ("just_under_0", json!(-0.0001)),
        ("negative_one", json!(-1)),
        ("bool", json!(true)),
        ("array", json!([50])),
        ("object", json!({"v": 50})),
        ("empty_string", json!("")),
    ];
    for field in ["cpu_pct", "memory_pct", "disk_pct"] {
        for (name, v) in &bad_numbers {
            let mut body = json!({"node_id": SEED_NODE, "save_snapshot": true});
            body[field] = v.clone();
            hs.push(H::json(format!("metrics/{field}_{name}"), "/internal/server-metrics", body.to_string(), S400));
        }
        hs.push(H::json(
            format!("metrics/{field}_2pow64"),
            "/internal/server-metrics",
            format!("{{\"node_id\":\"{SEED_NODE}\",\"{field}\":18446744073709551616,\"save_snapshot\":true}}"),
            S400,
        ));
    }
    let bad_counts: Vec<(&str, Value)> = vec![
        ("negative", json!(-1)),
        ("fraction", json!(2.5)),
        ("over_max_float", json!(100001.0)),
        ("tiny_fraction", json!(0.0001)),
        ("over_max", json!(100_001)),
        ("huge", json!(1e30)),
        ("minus_1e300", json!(-1e300)),
        ("numeric_string", json!("3")),
        ("nan_string", json!("NaN")),
        ("infinity_string", json!("Infinity")),
        ("bool", json!(false)),
        ("array", json!([3])),
        ("object", json!({"n": 3})),
        ("i64_min", json!(i64::MIN)),
        ("u64_max", json!(u64::MAX)),
    ];
    for (name, v) in bad_counts {
        hs.push(H::json(
            format!("metrics/tenant_count_{name}"),
            "/internal/server-metrics",
            json!({"node_id": SEED_NODE, "tenant_count": v, "save_snapshot": true}).to_string(),
            S400,
        ));
    }
    hs.push(H::json(
        "metrics/tenant_count_2pow64",
        "/internal/server-metrics",
        format!("{{\"node_id\":\"{SEED_NODE}\",\"tenant_count\":18446744073709551616}}"),
        S400,
    ));
    // `1e2` and `3.0` are whole numbers and therefore counts; an exponent past the limit is not.
    hs.push(H::json("metrics/tenant_count_exp_form", "/internal/server-metrics", format!("{{\"node_id\":\"{SEED_NODE}\",\"tenant_count\":1e7}}"), S400));
    let misc: Vec<(&str, Value)> = vec![
        ("snapshot_string", json!({"node_id": SEED_NODE, "save_snapshot": "true"})),
        ("snapshot_number", json!({"node_id": SEED_NODE, "save_snapshot": 1})),
        ("snapshot_zero", json!({"node_id": SEED_NODE, "save_snapshot": 0})),
        ("snapshot_array", json!({"node_id": SEED_NODE, "save_snapshot": [true]})),
        ("source_unknown", json!({"node_id": SEED_NODE, "source": "cron", "save_snapshot": true})),
        ("source_case", json!({"node_id": SEED_NODE, "source": "NODE_PUSH"})),
        ("source_empty", json!({"node_id": SEED_NODE, "source": ""})),
        ("source_number", json!({"node_id": SEED_NODE, "source": 1})),
        ("unknown_field", json!({"node_id": SEED_NODE, "cpu": 5, "save_snapshot": true})),
        ("unknown_field_camel", json!({"node_id": SEED_NODE, "tenantCount": 5})),
        ("extra_field", json!({"node_id": SEED_NODE, "cpu_pct": 5, "save_snapshot": true, "extra": {"x": 1}})),
        ("node_id_number", json!({"node_id": 7, "cpu_pct": 5})),
        ("node_id_array", json!({"node_id": [SEED_NODE], "cpu_pct": 5})),
        ("node_id_null", json!({"node_id": null, "cpu_pct": 5})),
        ("missing_node_id", json!({"cpu_pct": 5, "save_snapshot": true})),
    ];
    for (name, body) in misc {
        hs.push(H::json(format!("metrics/{name}"), "/internal/server-metrics", body.to_string(), S400));
    }
    hs.push(H::json(
        "metrics/duplicate_node_id",
        "/internal/server-metrics",
        format!("{{\"node_id\":\"{SEED_NODE}\",\"node_id\":\"hz-sg-2\",\"cpu_pct\":5}}"),
        S400,
    ));
    hs.push(H::json("metrics/empty_body", "/internal/server-metrics", Vec::new(), S400));

    // 9. Trace events: post and list.
    let trace_ids: Vec<(&str, Value)> = vec![
        ("empty", json!("")),
        ("no_prefix", json!("t1")),
        ("prefix_only_word", json!("trace")),
        ("prefix_case", json!("TRACE_x")),
        ("inner_space", json!("trace_a b")),
        ("bell", json!("trace_\u{7}")),
        ("nul", json!("trace_a\u{0}")),
        ("unicode", json!("trace_é")),
        ("emoji", json!("trace_😀")),
        ("len_129", json!(format!("trace_{}", "a".repeat(123)))),
        ("len_10k", json!(format!("trace_{long}"))),
        ("traversal", json!("../trace_x")),
        ("number", json!(5)),
        ("array", json!(["trace_x"])),
        ("null", Value::Null),
        ("sql_spaced", json!("trace_x' OR '1'='1")),
    ];
    for (name, t) in trace_ids {
        hs.push(H::json(format!("trace_post/trace_id_{name}"), "/internal/trace-events", json!({"trace_id": t, "event": "x"}).to_string(), S400));
    }
    let events: Vec<(&str, Value)> = vec![
        ("empty", json!("")),
        ("space", json!("Bad Event")),
        ("upper", json!("A")),
        ("len_65", json!("e".repeat(65))),
        ("unicode", json!("évènement")),
        ("slash", json!("a/b")),
        ("sql", json!("x' OR '1'='1")),
        ("number", json!(1)),
        ("array", json!(["x"])),
        ("null", Value::Null),
    ];
    for (name, e) in events {
        hs.push(H::json(format!("trace_post/event_{name}"), "/internal/trace-events", json!({"trace_id": SEED_TRACE, "event": e}).to_string(), S400));
    }
    let trace_misc: Vec<(&str, Value)> = vec![
        ("job_id_129", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": "j".repeat(129)})),
        ("job_id_nul", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": "a\u{0}b"})),
        ("job_id_newline", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": "a\nb"})),
        ("job_id_number", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": 5})),
        ("job_id_object", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": {}})),
        ("tenant_id_10k", json!({"trace_id": SEED_TRACE, "event": "x", "tenant_id": long})),
        ("tenant_id_control", json!({"trace_id": SEED_TRACE, "event": "x", "tenant_id": "a\u{1b}[31mred"})),
        ("status_65", json!({"trace_id": SEED_TRACE, "event": "x", "status": "s".repeat(65)})),
        ("status_number", json!({"trace_id": SEED_TRACE, "event": "x", "status": 200})),
        ("detail_string", json!({"trace_id": SEED_TRACE, "event": "x", "detail": "text"})),
        ("detail_array", json!({"trace_id": SEED_TRACE, "event": "x", "detail": [1, 2]})),
        ("detail_number", json!({"trace_id": SEED_TRACE, "event": "x", "detail": 1})),
        ("detail_bool", json!({"trace_id": SEED_TRACE, "event": "x", "detail": true})),
        ("detail_over_8k", json!({"trace_id": SEED_TRACE, "event": "x", "detail": {"big": "y".repeat(9000)}})),
        (
            "detail_many_keys_over_8k",
            json!({"trace_id": SEED_TRACE, "event": "x", "detail": (0..1000).map(|i| (format!("key{i:04}"), json!(i))).collect::<serde_json::Map<_, _>>()}),
        ),
        ("unknown_field", json!({"trace_id": SEED_TRACE, "event": "x", "level": "info"})),
        ("missing_event", json!({"trace_id": SEED_TRACE})),
        ("missing_trace_id", json!({"event": "x"})),
    ];
    for (name, body) in trace_misc {
        hs.push(H::json(format!("trace_post/{name}"), "/internal/trace-events", body.to_string(), S400));
    }
    hs.push(H::json(
        "trace_post/detail_duplicate_key",
        "/internal/trace-events",
        format!("{{\"trace_id\":\"{SEED_TRACE}\",\"event\":\"x\",\"detail\":{{\"a\":1,\"a\":2}}}}"),
        S400,
    ));
    hs.push(H::json("trace_post/empty_body", "/internal/trace-events", Vec::new(), S400));
    for q in [
        "",
        "trace_id=",
        "trace_id=nope",
        "trace_id=TRACE_x",
        "trace_id=trace_a&trace_id=trace_b",
        "trace_id=trace_seed&trace_id=trace_seed",
        "trace_id=trace_seed&x=1",
        "tid=trace_seed",
        "trace_id=trace_%00",
        "trace_id=trace_%E2%80%AE",
        "trace_id=trace_x'%20OR%20'1'%3D'1",
        "trace_id=trace_a%20b",
        "trace_id=trace_%ff",
        "trace_id=%ZZ",
        "trace_id=trace_%C3%A9",
        "x=1&y=2",
        "trace_id[]=trace_seed",
        "TRACE_ID=trace_seed",
    ] {
        hs.push(H::new(format!("trace_list/?{q}"), "GET", format!("/internal/trace-events?{q}"), S400));
    }
    hs.push(H::new("trace_list/no_query", "GET", "/internal/trace-events", S400));
    hs.push(H::new("trace_list/trace_id_10k", "GET", format!("/internal/trace-events?trace_id=trace_{}", "a".repeat(10_000)), S400));

    // 10. Enqueue: bad tenant ids in the path, bad bodies, bad Idempotency-Key headers, conflicts.
    let good_enqueue = json!({"subdomain_slug": "hostile"}).to_string();
    for (name, id, want) in path_ids() {
        hs.push(H::json(format!("enqueue/tenant_{name}"), format!("/internal/tenants/{id}/enqueue-provision"), good_enqueue.clone(), want));
    }
    let enqueue_bodies: Vec<(&str, Value)> = vec![
        ("missing_slug", json!({})),
        ("slug_upper", json!({"subdomain_slug": "Acme"})),
        ("slug_leading_dash", json!({"subdomain_slug": "-acme"})),
        ("slug_trailing_dash", json!({"subdomain_slug": "acme-"})),
        ("slug_dot", json!({"subdomain_slug": "a.b"})),
        ("slug_underscore", json!({"subdomain_slug": "a_b"})),
        ("slug_64", json!({"subdomain_slug": "a".repeat(64)})),
        ("slug_10k", json!({"subdomain_slug": long.to_ascii_lowercase()})),
        ("slug_empty", json!({"subdomain_slug": ""})),
        ("slug_number", json!({"subdomain_slug": 5})),
        ("slug_unicode", json!({"subdomain_slug": "ácme"})),
        ("slug_sql", json!({"subdomain_slug": "x'--"})),
        ("slug_traversal", json!({"subdomain_slug": "../etc"})),
        ("tier_unknown", json!({"subdomain_slug": "acme", "plan_tier": "gold"})),
        ("tier_empty", json!({"subdomain_slug": "acme", "plan_tier": ""})),
        ("tier_number", json!({"subdomain_slug": "acme", "plan_tier": 1})),
        ("tier_and_alias", json!({"subdomain_slug": "acme", "plan_tier": "basic", "tier": "free"})),
        ("region_unknown", json!({"subdomain_slug": "acme", "region": "ap"})),
        ("region_number", json!({"subdomain_slug": "acme", "region": 5})),
        ("hostname_single_label", json!({"subdomain_slug": "acme", "canonical_hostname": "localhost"})),
        ("hostname_space", json!({"subdomain_slug": "acme", "canonical_hostname": "a b.com"})),
        ("hostname_url", json!({"subdomain_slug": "acme", "canonical_hostname": "http://x.com"})),
        ("hostname_10k", json!({"subdomain_slug": "acme", "canonical_hostname": format!("{}.com", long)})),
        ("hostname_number", json!({"subdomain_slug": "acme", "canonical_hostname": 5})),
        ("hostname_sql", json!({"subdomain_slug": "acme", "canonical_hostname": "x'--.com"})),
        ("hostname_unicode", json!({"subdomain_slug": "acme", "canonical_hostname": "bücher.de"})),
        ("trace_id_bad", json!({"subdomain_slug": "acme", "trace_id": "abc"})),
        ("trace_id_space", json!({"subdomain_slug": "acme", "trace_id": "trace_a b"})),
        ("trace_id_129", json!({"subdomain_slug": "acme", "trace_id": format!("trace_{}", "a".repeat(123))})),
        ("unknown_field", json!({"subdomain_slug": "acme", "priority": 1})),
        ("tenant_in_body", json!({"subdomain_slug": "acme", "tenant_id": "other"})),
        ("dedicated_in_body", json!({"subdomain_slug": "acme", "dedicated": true})),
    ];
    for (name, body) in enqueue_bodies {
        hs.push(H::json(format!("enqueue/{name}"), "/internal/tenants/t-hostile/enqueue-provision", body.to_string(), S400));
    }
    hs.push(H::json("enqueue/empty_body", "/internal/tenants/t-hostile/enqueue-provision", Vec::new(), S400));
    let keys: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("len_129", "k".repeat(129).into_bytes()),
        ("len_10k", "k".repeat(10_000).into_bytes()),
        ("inner_tab", b"a\tb".to_vec()),
        ("non_ascii_utf8", "ключ".as_bytes().to_vec()),
        ("latin1_byte", b"key\xe9".to_vec()),
    ];
    for (name, key) in keys {
        hs.push(
            H::json(format!("enqueue/idempotency_key_{name}"), "/internal/tenants/t-hostile/enqueue-provision", good_enqueue.clone(), S400)
                .header("Idempotency-Key", key),
        );
    }
    hs.push(H::json("enqueue/tenant_has_active_job", "/internal/tenants/acme/enqueue-provision", good_enqueue.clone(), S409));
    hs.push(
        H::json("enqueue/key_of_another_tenant", "/internal/tenants/t-other/enqueue-provision", good_enqueue.clone(), S422).header("Idempotency-Key", SEED_KEY),
    );
    let enterprise = json!({"subdomain_slug": "acme", "plan_tier": "enterprise"}).to_string();
    hs.push(H::json("enqueue/symbols_only_tenant_enterprise", "/internal/tenants/-_./enqueue-provision", enterprise, S400));

    // 11. Jobs: read and complete.
    for (name, id, want) in path_ids() {
        let want: &'static [u16] = if want == S400_404 { S400_404 } else { want };
        hs.push(H::new(format!("job_get/{name}"), "GET", format!("/internal/provision-jobs/{id}"), want));
        hs.push(H::json(format!("job_complete/{name}"), format!("/internal/provision-jobs/{id}/complete"), json!({"status": "succeeded"}).to_string(), want));
    }
    hs.push(H::new("job_get/unknown_uuid", "GET", "/internal/provision-jobs/99999999-9999-4999-8999-999999999999", S404));
    hs.push(H::json(
        "job_complete/unknown_uuid",
        "/internal/provision-jobs/99999999-9999-4999-8999-999999999999/complete",
        json!({"status": "succeeded"}).to_string(),
        S404,
    ));
    let complete_path = format!("/internal/provision-jobs/{JOB_DISPATCHED}/complete");
    let complete_bodies: Vec<(&str, Value)> = vec![
        ("status_dispatched", json!({"status": "dispatched"})),
        ("status_pending", json!({"status": "pending"})),
        ("status_upper", json!({"status": "SUCCEEDED"})),
        ("status_empty", json!({"status": ""})),
        ("status_number", json!({"status": 1})),
        ("status_bool", json!({"status": true})),
        ("status_array", json!({"status": ["succeeded"]})),
        ("status_missing", json!({"node_id": SEED_NODE})),
        ("status_null", json!({"status": null})),
        ("node_id_space", json!({"status": "succeeded", "node_id": "a b"})),
        ("node_id_sql", json!({"status": "succeeded", "node_id": "x' OR '1'='1"})),
        ("node_id_10k", json!({"status": "succeeded", "node_id": long})),
        ("node_id_number", json!({"status": "succeeded", "node_id": 5})),
        ("error_2001", json!({"status": "failed", "error": "e".repeat(2001)})),
        ("error_number", json!({"status": "failed", "error": 5})),
        ("error_object", json!({"status": "failed", "error": {"m": "x"}})),
        ("unknown_field", json!({"status": "succeeded", "reason": "done"})),
        ("unknown_field_state", json!({"state": "succeeded"})),
    ];
    for (name, body) in complete_bodies {
        hs.push(H::json(format!("job_complete/{name}"), complete_path.clone(), body.to_string(), S400));
    }
    hs.push(H::json("job_complete/empty_body", complete_path.clone(), Vec::new(), S400));
    hs.push(H::json("job_complete/duplicate_status", complete_path.clone(), br#"{"status":"succeeded","status":"failed"}"#.to_vec(), S400));
    hs.push(H::json(
        "job_complete/succeeded_to_failed",
        format!("/internal/provision-jobs/{JOB_SUCCEEDED}/complete"),
        json!({"status": "failed", "error": "late"}).to_string(),
        S409,
    ));
    hs.push(H::json(
        "job_complete/pending_to_succeeded",
        format!("/internal/provision-jobs/{JOB_PENDING}/complete"),
        json!({"status": "succeeded"}).to_string(),
        S409,
    ));
    hs.push(H::json(
        "job_complete/pending_to_failed",
        format!("/internal/provision-jobs/{JOB_PENDING}/complete"),
        json!({"status": "failed"}).to_string(),
        S409,
    ));

    hs
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
