//! The contract: `openapi.json` is what clients are generated from, so the Worker must answer
//! exactly as it says. Requests are generated from the document itself (`schema_gen.rs`) and
//! judged by it (`schema_doc.rs`), for every operation it lists, from one fixed seed:
//! - a schema-valid request is accepted, or refused only with a documented status that depends
//!   on the stored state (404, 409, 422), never as malformed (400, 413, 415), never a 5xx;
//! - a schema-invalid one is a documented 4xx, and all of them together change nothing in D1;
//! - every answer matches the schema documented for its status, with its required headers.
//!
//! A route added to the document is covered without a change here; the fix-up table below only
//! gives some valid requests the precondition they need to reach their 2xx (a registered node,
//! an existing job).

use crate::foundation::register;
use crate::harness::{Resp, Worker, KEY};
use crate::schema_doc::{Doc, In, Operation, Req};
use crate::schema_gen::Gen;
use crate::support::JobRow;
use crate::Suite;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Fixed, so a failure reproduces; `CP_CONTRACT_SEED` tries another.
const SEED: u64 = 0x0A11_0012;
const VALID_PER_OPERATION: usize = 30;
const INVALID_PER_OPERATION: usize = 20;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "contract",
        vars: vec![],
        cases: vec![
            // First: the "changes nothing" check needs a D1 that no earlier job is still changing.
            ("schema_invalid_requests_are_a_documented_4xx_and_change_nothing", schema_invalid_requests_are_refused),
            ("schema_valid_requests_are_accepted_or_refused_only_as_documented", schema_valid_requests_are_honoured),
        ],
    }]
}

fn seed() -> u64 {
    std::env::var("CP_CONTRACT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(SEED)
}

fn schema_invalid_requests_are_refused(w: &mut Worker) {
    let doc = Doc::load();
    let mut g = Gen::new(seed());
    seed_fleet(w);
    let before = w.dump();
    let mut failures = Vec::new();
    let mut sent: BTreeMap<String, usize> = BTreeMap::new();
    for op in doc.operations() {
        for _ in 0..INVALID_PER_OPERATION {
            let valid = g.request(&doc, &op);
            let Some((req, why)) = g.break_request(&doc, &op, &valid) else { continue };
            let resp = send(w, &op, &req);
            let mut problems = check_answer(&doc, &op, &resp);
            if !(400..500).contains(&resp.status) {
                problems.push(format!("a schema-invalid request ({why}) was answered {}", resp.status));
            }
            record(&mut failures, &op, &req, &resp, problems);
            *sent.entry(op.id.clone()).or_default() += 1;
        }
    }
    let total: usize = sent.values().sum();
    eprintln!("contract: {total} schema-invalid requests (seed {:#x}): {sent:?}", seed());
    report(&failures, total);
    for op in doc.operations().iter().filter(|op| !op.params.is_empty() || op.body.is_some()) {
        assert!(sent.get(&op.id).is_some_and(|n| *n >= INVALID_PER_OPERATION / 2), "{}: too few schema-invalid requests drawn: {sent:?}", op.id);
    }
    assert_eq!(before, w.dump(), "schema-invalid requests changed D1");
}

fn schema_valid_requests_are_honoured(w: &mut Worker) {
    let doc = Doc::load();
    let mut g = Gen::new(seed() ^ 0xFFFF);
    seed_fleet(w);
    let jobs = seed_jobs(w);
    let mut failures = Vec::new();
    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent = 0;
    let mut seconds: BTreeMap<String, String> = BTreeMap::new();
    // The seeded jobs go through their life cycle in order: started, then completed, and only
    // then cancelled or retried (a cancelled job can never start or complete).
    let stage = |id: &str| match id {
        "startProvisionJob" => 0,
        "completeProvisionJob" => 1,
        "cancelProvisionJob" | "retryProvisionJob" => 3,
        _ => 2,
    };
    let mut ops = doc.operations();
    ops.sort_by_key(|op| stage(&op.id));
    for op in ops {
        let started = std::time::Instant::now();
        let mut drawn_valid = 0;
        // Operations whose parameters are mostly optional and patterned draw more misses: keep
        // drawing (bounded) until the operation has its share of schema-valid requests.
        for _ in 0..VALID_PER_OPERATION * 4 {
            if drawn_valid >= VALID_PER_OPERATION {
                break;
            }
            let mut req = g.request(&doc, &op);
            if doc.check_request(&op, &req).is_err() {
                continue;
            }
            drawn_valid += 1;
            fix_up(w, &op, &mut req, &mut g, &jobs);
            assert!(doc.check_request(&op, &req).is_ok(), "{}: the fix-up made the request schema-invalid: {req:?}", op.id);
            let resp = send(w, &op, &req);
            let mut problems = check_answer(&doc, &op, &resp);
            if resp.status >= 500 || [400, 401, 413, 415].contains(&resp.status) {
                problems.push(format!("a schema-valid request was refused with {}", resp.status));
            }
            if (200..300).contains(&resp.status) {
                *accepted.entry(op.id.clone()).or_default() += 1;
            }
            record(&mut failures, &op, &req, &resp, problems);
            sent += 1;
        }
        seconds.insert(op.id.clone(), format!("{:.1}", started.elapsed().as_secs_f64()));
        assert!(drawn_valid >= VALID_PER_OPERATION / 2, "{}: the generator drew only {drawn_valid} schema-valid requests", op.id);
    }
    eprintln!("contract: {sent} schema-valid requests (seed {:#x}), 2xx per operation: {accepted:?}, seconds: {seconds:?}", seed());
    report(&failures, sent);
    for op in doc.operations() {
        assert!(accepted.contains_key(&op.id), "{} {}: no schema-valid request was accepted (2xx): {accepted:?}", op.method, op.path);
    }
}

/// The preconditions a valid request may need, applied to some requests only, so that the unmet
/// ones (an unknown node or job: 404) are exercised too. Keyed by path parameter where possible,
/// so a new route under `/internal/nodes/{node_id}` or `/internal/provision-jobs/{job_id}` gets
/// them without a change here.
fn fix_up(w: &Worker, op: &Operation, req: &mut Req, g: &mut Gen, jobs: &[String]) {
    // A cursor is opaque: only one the API handed out is valid (a made-up one is a 400 naming
    // `cursor`), so a schema-valid request starts on the first page.
    req.params.remove("cursor");
    if op.id == "pushServerMetrics" && !g.chance(4) {
        if let Some(id) = req.body.as_ref().and_then(|b| b["node_id"].as_str()) {
            register(w, id, "sg");
        }
    }
    if let Some((_, node)) = req.params.get("node_id").filter(|(at, _)| *at == In::Path) {
        if g.chance(2) {
            register(w, node, "eu");
        }
    }
    if let Some((_, job)) = req.params.get_mut("job_id").filter(|(at, _)| *at == In::Path) {
        if g.chance(2) {
            *job = jobs[g.below(jobs.len())].clone();
        }
    }
}

/// Dispatched jobs (no queue message, so nothing else moves them) for the job routes to find.
fn seed_jobs(w: &Worker) -> Vec<String> {
    let ids: Vec<String> = (1..=6).map(|i| format!("contract-job-{i}")).collect();
    for id in &ids {
        let tenant = format!("contract-tenant-{id}");
        let dispatched_at = Some(crate::support::now_ms());
        JobRow { status: "dispatched", dispatched_at, ..JobRow::new(id, &tenant, "contract") }.insert(w);
    }
    ids
}

/// A few nodes per region, with and without metrics, one draining, so the placement answers
/// list candidates of every kind.
fn seed_fleet(w: &Worker) {
    for region in ["sg", "us", "eu"] {
        for (n, metrics) in [(1, Some((20.0, 30.0, 3))), (2, Some((90.0, 10.0, 0))), (3, None)] {
            let id = format!("fleet-{region}-{n}");
            let status = if n == 2 { "draining" } else { "active" };
            let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.8.0.1", "status": status}));
            assert!(r.status == 200 || r.status == 201, "seed {id}: {r:?}");
            if let Some((memory, cpu, tenants)) = metrics {
                let r =
                    w.post("/internal/server-metrics", &json!({"node_id": id, "memory_pct": memory, "cpu_pct": cpu, "disk_pct": 40, "tenant_count": tenants}));
                assert_eq!(r.status, 200, "seed metrics {id}: {}", r.text);
            }
        }
    }
}

fn send(w: &Worker, op: &Operation, req: &Req) -> Resp {
    let auth = format!("Bearer {KEY}");
    let extra = req.headers();
    let mut headers: Vec<(&str, &[u8])> = vec![("authorization", auth.as_bytes())];
    if req.body.is_some() {
        headers.push(("content-type", b"application/json"));
    }
    headers.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
    w.send_with(&op.method, &req.target(op), &headers, req.body.as_ref().map(|b| b.to_string().into_bytes()))
}

/// The status is documented for the operation, and the answer has that status's schema and
/// required headers.
fn check_answer(doc: &Doc, op: &Operation, resp: &Resp) -> Vec<String> {
    let Some((schema, headers)) = op.responses.get(&resp.status) else {
        return vec![format!("status {} is not documented (documented: {:?})", resp.status, op.responses.keys().collect::<Vec<_>>())];
    };
    let mut problems: Vec<String> =
        headers.iter().filter(|h| !resp.headers.contains_key(h.as_str())).map(|h| format!("the required header {h} is missing")).collect();
    if let Some(schema) = schema {
        match serde_json::from_str::<Value>(&resp.text) {
            Ok(body) => problems.extend(doc.check(schema, &body).err().map(|e| format!("the answer does not match its documented schema: {e}"))),
            Err(e) => problems.push(format!("the answer is not JSON ({e})")),
        }
    }
    problems
}

fn record(failures: &mut Vec<String>, op: &Operation, req: &Req, resp: &Resp, problems: Vec<String>) {
    if problems.is_empty() {
        return;
    }
    let body = req.body.as_ref().map_or_else(|| "(none)".to_string(), Value::to_string);
    failures.push(format!(
        "{} ({}) {}\n    headers: {:?}\n    body: {body}\n    answer: {} {}\n    problems: {}",
        op.method,
        op.id,
        req.target(op),
        req.headers(),
        resp.status,
        resp.text.chars().take(600).collect::<String>(),
        problems.join("; ")
    ));
}

fn report(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} requests broke the contract; the first ones:\n{}",
        failures.len(),
        failures.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
}
