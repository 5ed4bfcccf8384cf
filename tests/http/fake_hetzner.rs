//! A local stand-in for the two Hetzner Cloud API routes the metrics sidecar reads:
//! `GET /v1/servers` (paged with `meta.pagination`, like the real API) and
//! `GET /v1/servers/{id}/metrics?type=cpu&start=&end=` (a `time_series.cpu.values` list of
//! `[unix_time, "value"]` pairs spread over the asked window).
//!
//! A real HTTP server on 127.0.0.1 that the sidecar reaches with its real urllib, so what is
//! tested is the script's HTTP handling, not a mock of it. A case fills in the fleet, can make
//! the fake refuse the token or answer 429/5xx to chosen requests, and afterwards reads every
//! request it received.

use crate::fake_github::read_request;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The token the sidecar is given; anything else is a 401, as on Hetzner.
pub const TOKEN: &str = "test-hcloud-token-9876543210";

/// One server of the fake fleet.
#[derive(Clone, Debug)]
pub struct Server {
    pub id: u64,
    pub name: String,
    pub status: &'static str,
    pub cores: u64,
    /// The per-vCPU CPU samples (Hetzner's unit: 100 = one busy vCPU); empty = no samples.
    pub cpu: Vec<f64>,
}

impl Server {
    pub fn running(id: u64, cores: u64, cpu: &[f64]) -> Server {
        Server { id, name: format!("srv-{id}"), status: "running", cores, cpu: cpu.to_vec() }
    }
    pub fn with_status(mut self, status: &'static str) -> Server {
        self.status = status;
        self
    }
}

/// Which requests a scripted failure hits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// `GET /v1/servers` for this page.
    ServersPage(u64),
    /// Any `GET /v1/servers/{id}/metrics`.
    Metrics,
}

/// Answer `status` (with `headers`) to the next `times` requests that match `target`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub target: Target,
    pub status: u16,
    pub headers: Vec<(&'static str, &'static str)>,
    pub times: usize,
}

/// A request as received: path without query, the query pairs, the Authorization header, and
/// the status answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub authorization: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    servers: Vec<Server>,
    page_size: usize,
    faults: Vec<Fault>,
    seen: Vec<Seen>,
}

pub struct FakeHetzner {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl FakeHetzner {
    /// Serves `servers`, at most `page_size` per page (fewer than the 50 the sidecar asks for,
    /// so a small fleet already spans several pages).
    pub fn start(servers: Vec<Server>, page_size: usize) -> FakeHetzner {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake Hetzner");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State { servers, page_size, ..State::default() }));
        let for_thread = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = for_thread.clone();
                std::thread::spawn(move || {
                    if let Err(e) = serve(&state, stream) {
                        eprintln!("fake Hetzner on port {port}: {e}");
                    }
                });
            }
        });
        FakeHetzner { port, state }
    }

    /// The value of `HCLOUD_API_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    pub fn fail(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The server ids whose metrics were asked for, in order.
    pub fn metrics_asked(&self) -> Vec<u64> {
        self.seen().iter().filter_map(|s| s.path.strip_prefix("/v1/servers/")?.strip_suffix("/metrics")?.parse().ok()).collect()
    }
}

fn serve(state: &Mutex<State>, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = std::io::BufReader::new(stream.try_clone()?);
    let (method, target, headers, _body) = read_request(&mut reader)?;
    let (path, query) = split_query(&target);
    let authorization = headers.get("authorization").cloned();
    let (status, extra, body) = {
        let mut st = state.lock().unwrap();
        let answer = answer(&mut st, &method, &path, &query, authorization.as_deref());
        st.seen.push(Seen { path, query, authorization, status: answer.0 });
        answer
    };
    let text = body.to_string();
    let mut out = format!("HTTP/1.1 {status} Scripted\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n", text.len());
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&text);
    let mut stream = reader.into_inner();
    stream.write_all(out.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Both);
    Ok(())
}

type Answer = (u16, Vec<(&'static str, &'static str)>, Value);

fn error(status: u16, code: &str, message: &str) -> Answer {
    (status, Vec::new(), json!({"error": {"code": code, "message": message, "details": {}}}))
}

fn answer(st: &mut State, method: &str, path: &str, query: &BTreeMap<String, String>, auth: Option<&str>) -> Answer {
    if auth != Some(format!("Bearer {TOKEN}").as_str()) {
        return error(401, "unauthorized", "unable to authenticate");
    }
    if method != "GET" {
        return error(405, "method_not_allowed", "only GET here");
    }
    let page: u64 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let hit = match path {
        "/v1/servers" => Some(Target::ServersPage(page)),
        p if p.starts_with("/v1/servers/") && p.ends_with("/metrics") => Some(Target::Metrics),
        _ => None,
    };
    if let Some(f) = st.faults.iter_mut().find(|f| Some(f.target) == hit && f.times > 0) {
        f.times -= 1;
        let mut e = error(f.status, "scripted", "scripted failure");
        e.1 = f.headers.clone();
        return e;
    }
    match hit {
        Some(Target::ServersPage(_)) => servers_page(st, page, query),
        Some(Target::Metrics) => metrics(st, path, query),
        None => error(404, "not_found", "no such route in the fake"),
    }
}

fn servers_page(st: &State, page: u64, query: &BTreeMap<String, String>) -> Answer {
    let per_page = query.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(25).clamp(1, 50).min(st.page_size);
    let total = st.servers.len();
    let last_page = total.div_ceil(per_page).max(1) as u64;
    let start = (page.saturating_sub(1) as usize) * per_page;
    let servers: Vec<Value> = st
        .servers
        .iter()
        .skip(start)
        .take(per_page)
        .map(|s| json!({"id": s.id, "name": s.name, "status": s.status, "server_type": {"name": "cpx31", "cores": s.cores}, "labels": {}}))
        .collect();
    let next = if page < last_page { json!(page + 1) } else { Value::Null };
    let prev = if page > 1 { json!(page - 1) } else { Value::Null };
    let pagination = json!({"page": page, "per_page": per_page, "previous_page": prev, "next_page": next, "last_page": last_page, "total_entries": total});
    (200, Vec::new(), json!({"servers": servers, "meta": {"pagination": pagination}}))
}

fn metrics(st: &State, path: &str, query: &BTreeMap<String, String>) -> Answer {
    let id: Option<u64> = path.trim_start_matches("/v1/servers/").trim_end_matches("/metrics").parse().ok();
    let Some(server) = st.servers.iter().find(|s| Some(s.id) == id) else {
        return error(404, "not_found", "server not found");
    };
    if query.get("type").map(String::as_str) != Some("cpu") {
        return error(400, "invalid_input", "type must be cpu in the fake");
    }
    let (Some(start), Some(end)) = (query.get("start").and_then(|s| unix(s)), query.get("end").and_then(|s| unix(s))) else {
        return error(400, "invalid_input", "start and end must be RFC 3339");
    };
    let n = server.cpu.len().max(1) as i64;
    let values: Vec<Value> = server.cpu.iter().enumerate().map(|(i, v)| json!([start + (end - start) * (i as i64 + 1) / n, format!("{v}")])).collect();
    let ts = json!({"cpu": {"values": values}});
    (200, Vec::new(), json!({"metrics": {"start": query["start"], "end": query["end"], "step": 60, "time_series": ts}}))
}

fn split_query(target: &str) -> (String, BTreeMap<String, String>) {
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let query = q.split('&').filter(|p| !p.is_empty()).map(|p| p.split_once('=').unwrap_or((p, ""))).map(|(k, v)| (unescape(k), unescape(v))).collect();
    (path.to_string(), query)
}

fn unescape(s: &str) -> String {
    let bytes = s.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Seconds since the epoch of `2026-12-01T21:30:00Z` (the form the sidecar sends).
pub fn unix(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d, hh, mm, ss) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hh * 3600 + mm * 60 + ss)
}
