//! The hostile suite's table: every malformed request it sends and the statuses each may get,
//! built from small lists (routes, ids, bodies) so one new route or id reaches every case.
//! Sections 1-4 (credentials, methods, JSON, sizes) are here; the per-route bodies in
//! `hostile_bodies.rs`.

use crate::harness::KEY;

// ---------------------------------------------------------------------------------------------
// The table of hostile requests.

#[derive(Clone)]
pub enum Auth {
    Good,
    None,
    Raw(String),
}

#[derive(Clone)]
pub struct H {
    pub label: String,
    pub method: &'static str,
    pub path: String,
    pub auth: Auth,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub extra: Vec<(String, Vec<u8>)>,
    pub chunked: bool,
    /// The acceptable statuses (all 4xx).
    pub want: &'static [u16],
}

pub const S400: &[u16] = &[400];
pub const S401: &[u16] = &[401];
pub const S404: &[u16] = &[404];
pub const S405: &[u16] = &[405];
pub const S409: &[u16] = &[409];
pub const S413: &[u16] = &[413];
pub const S415: &[u16] = &[415];
pub const S422: &[u16] = &[422];
/// A path id that decodes to an invalid id (400), or that a URL parser normalises away (`%2e%2e`,
/// `.`), leaving an unknown path (404) or a known path with another method (405).
pub const S400_404: &[u16] = &[400, 404, 405];

impl H {
    pub fn new(label: impl Into<String>, method: &'static str, path: impl Into<String>, want: &'static [u16]) -> H {
        H { label: label.into(), method, path: path.into(), auth: Auth::Good, content_type: None, body: Vec::new(), extra: Vec::new(), chunked: false, want }
    }
    pub fn json(label: impl Into<String>, path: impl Into<String>, body: impl Into<Vec<u8>>, want: &'static [u16]) -> H {
        let mut h = H::new(label, "POST", path, want);
        h.content_type = Some("application/json".into());
        h.body = body.into();
        h
    }
    pub fn auth(mut self, a: Auth) -> H {
        self.auth = a;
        self
    }
    pub fn header(mut self, k: &str, v: impl Into<Vec<u8>>) -> H {
        self.extra.push((k.to_string(), v.into()));
        self
    }
}

pub const SEED_NODE: &str = "hz-sg-1";
pub const SEED_TRACE: &str = "trace_seed";
pub const JOB_DISPATCHED: &str = "11111111-1111-4111-8111-111111111111";
pub const JOB_SUCCEEDED: &str = "22222222-2222-4222-8222-222222222222";
pub const JOB_PENDING: &str = "33333333-3333-4333-8333-333333333333";
pub const SEED_KEY: &str = "seed-idem-key";

/// Every POST route, with a path that reaches its body parsing.
pub fn post_routes() -> Vec<(&'static str, String)> {
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
pub fn internal_routes() -> Vec<(&'static str, String)> {
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
pub fn invalid_json_bodies() -> Vec<(&'static str, Vec<u8>)> {
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
pub fn path_ids() -> Vec<(&'static str, String, &'static [u16])> {
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
pub fn body_ids() -> Vec<(&'static str, String)> {
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

/// Every hostile request, in section order.
pub fn hostile_requests() -> Vec<H> {
    let mut hs: Vec<H> = Vec::new();
    transport(&mut hs);
    crate::hostile_bodies::placement_nodes_metrics(&mut hs);
    crate::hostile_bodies::traces_enqueue_jobs(&mut hs);
    hs
}

/// Sections 1-4: credentials, methods and paths, JSON, sizes and content types.
fn transport(hs: &mut Vec<H>) {
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
}
