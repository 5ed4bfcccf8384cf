//! The foundation: auth, the error model, nodes, metrics push, trace events, freshness, and a
//! concurrent burst of pushes.

use crate::harness::{Worker, KEY};
use crate::support::JobRow;
use crate::Suite;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

pub fn suites() -> Vec<Suite> {
    vec![
        Suite {
            name: "foundation",
            // 0: every asked-for snapshot is stored (the burst case counts them one by one; the
            // default interval is the holds suite's).
            vars: vec![("SNAPSHOT_MIN_INTERVAL_SECONDS", "0".into())],
            cases: vec![
                ("health_is_open_and_every_answer_has_a_request_id", health_is_open_and_every_answer_has_a_request_id),
                ("every_internal_route_refuses_bad_tokens_and_changes_nothing", every_internal_route_refuses_bad_tokens),
                ("nodes_create_update_read_list_delete", nodes_create_update_read_list_delete),
                ("delete_refuses_a_node_with_active_jobs", delete_refuses_a_node_with_active_jobs),
                ("metrics_push_follows_the_runbook", metrics_push_follows_the_runbook),
                ("metrics_push_refusals_store_nothing", metrics_push_refusals_store_nothing),
                ("malformed_oversized_and_wrongly_typed_bodies", malformed_oversized_and_wrongly_typed_bodies),
                ("unknown_methods_are_405_never_served_as_get", unknown_methods_are_405_never_served_as_get),
                ("trace_events_post_and_read_oldest_first", trace_events_post_and_read_oldest_first),
                ("burst_of_500_pushes_from_20_threads_is_all_stored", burst_of_pushes_is_all_stored),
                ("logs_are_json_lines_with_request_ids_and_no_token", logs_are_json_lines_with_request_ids_and_no_token),
            ],
        },
        Suite {
            name: "freshness",
            vars: vec![("METRICS_STALE_AFTER_SECONDS", "2".into())],
            cases: vec![("metrics_turn_stale_after_the_limit", metrics_turn_stale_after_the_limit)],
        },
        Suite { name: "no_key", vars: vec![("INTERNAL_API_KEY", String::new())], cases: vec![("a_missing_key_fails_closed", a_missing_key_fails_closed)] },
        Suite {
            name: "bypass_in_production",
            vars: vec![("SKIP_INTERNAL_API_AUTH", "true".into())],
            cases: vec![("the_bypass_is_ignored_in_production", the_bypass_is_ignored_in_production)],
        },
        Suite {
            name: "bypass_in_development",
            vars: vec![("SKIP_INTERNAL_API_AUTH", "true".into()), ("ENVIRONMENT", "development".into())],
            cases: vec![("the_bypass_works_in_development", the_bypass_works_in_development)],
        },
    ]
}

pub fn register(w: &Worker, id: &str, region: &str) -> Value {
    let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.1.0.1"}));
    assert!(r.status == 201 || r.status == 200, "{r:?}");
    r.json()
}

pub fn push(w: &Worker, body: Value) -> Value {
    let r = w.post("/internal/server-metrics", &body);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

fn health_is_open_and_every_answer_has_a_request_id(w: &mut Worker) {
    let r = w.send("GET", "/health", None, None, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
    assert!(r.headers.get("x-request-id").is_some());
    let r = w.send("GET", "/nope", None, None, None);
    assert_eq!((r.status, r.code()), (404, "not_found".into()));
    assert!(r.headers.get("x-request-id").is_some());
    let r = w.send("GET", "/internal/nodes", Some("Bearer nope"), None, None);
    assert!(r.headers.get("x-request-id").is_some());
}

/// Every /internal route with a plausible request, for the auth sweep.
pub fn internal_requests() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("POST", "/internal/placement/compute", Some(json!({}))),
        ("POST", "/internal/placement-dry-run", Some(json!({}))),
        ("POST", "/internal/nodes", Some(json!({"node_id": "auth-n", "region": "sg", "host": "10.0.0.1"}))),
        ("GET", "/internal/nodes", None),
        ("GET", "/internal/nodes/auth-n", None),
        ("DELETE", "/internal/nodes/auth-n", None),
        ("POST", "/internal/server-metrics", Some(json!({"node_id": "auth-n", "cpu_pct": 1}))),
        ("POST", "/internal/trace-events", Some(json!({"trace_id": "trace_auth", "event": "x"}))),
        ("GET", "/internal/trace-events?trace_id=trace_auth", None),
        ("POST", "/internal/tenants/auth-t/enqueue-provision", Some(json!({"subdomain_slug": "auth"}))),
        ("GET", "/internal/provision-jobs/j1", None),
        ("POST", "/internal/provision-jobs/j1/complete", Some(json!({"status": "succeeded"}))),
        ("GET", "/internal/does-not-exist", None),
    ]
}

fn every_internal_route_refuses_bad_tokens(w: &mut Worker) {
    let before = w.dump();
    let wrong = [
        None,
        Some(String::new()),
        Some("Bearer".to_string()),
        Some("Bearer ".to_string()),
        Some(format!("Basic {KEY}")),
        Some(format!("Token {KEY}")),
        Some(KEY.to_string()),
        Some("Bearer wrong-key".to_string()),
        Some(format!("Bearer {}", &KEY[..KEY.len() - 1])),
        Some(format!("Bearer {KEY}x")),
        Some(format!("Bearer {}", KEY.to_uppercase())),
    ];
    for (method, path, body) in internal_requests() {
        for auth in &wrong {
            let body = body.as_ref().map(|b| b.to_string().into_bytes());
            let r = w.send(method, path, auth.as_deref(), Some("application/json"), body);
            assert_eq!(r.status, 401, "{method} {path} with {auth:?}: {}", r.text);
            assert_eq!(r.code(), "unauthorized");
            assert_eq!(r.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"));
        }
    }
    assert_eq!(before, w.dump(), "a refused request changed D1");
    // The scheme word is case-insensitive.
    let r = w.send("GET", "/internal/nodes", Some(&format!("bEaReR {KEY}")), None, None);
    assert_eq!(r.status, 200, "{}", r.text);
}

fn nodes_create_update_read_list_delete(w: &mut Worker) {
    let r = w.post(
        "/internal/nodes",
        &json!({"node_id": "crud-sg-1", "region": "sg", "host": "10.0.0.5", "status": "draining", "provider_server_id": 4242, "labels": {"rack": "a"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    assert_eq!(created["status"], "draining");
    assert_eq!(created["provider_server_id"], "4242");
    assert_eq!(created["metrics"], Value::Null);
    assert_eq!(created["stale"], true);

    // An update without status keeps the old one; host and region change.
    let r = w.post("/internal/nodes", &json!({"node_id": "crud-sg-1", "region": "eu", "host": "node1.example.com"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let updated = r.json();
    assert_eq!(updated["status"], "draining");
    assert_eq!(updated["host"], "node1.example.com");
    assert_eq!(updated["labels"], json!({"rack": "a"}));
    assert_eq!(updated["created_at"], created["created_at"]);

    register(w, "crud-us-1", "us");
    register(w, "crud-us-0", "us");
    let got = w.get("/internal/nodes/crud-sg-1");
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["region"], "eu");

    let list = w.get("/internal/nodes?region=us").json();
    let ids: Vec<&str> = list["nodes"].as_array().unwrap().iter().map(|n| n["node_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["crud-us-0", "crud-us-1"], "ordered by node_id, filtered by region");
    assert!(list["nodes"].as_array().unwrap().iter().all(|n| n["region"] == "us"));
    assert_eq!(w.get("/internal/nodes?region=mars").status, 400);

    let r = w.delete("/internal/nodes/crud-sg-1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(w.get("/internal/nodes/crud-sg-1").status, 404);
    assert_eq!(w.delete("/internal/nodes/crud-sg-1").status, 404);
    assert_eq!(w.count("SELECT COUNT(*) FROM nodes WHERE node_id = 'crud-sg-1'"), 0);
}

fn delete_refuses_a_node_with_active_jobs(w: &mut Worker) {
    register(w, "busy-1", "sg");
    push(w, json!({"node_id": "busy-1", "memory_pct": 10, "save_snapshot": true}));
    JobRow {
        status: "dispatched",
        target: Some("busy-1"),
        trace_id: Some("trace_busy"),
        next_attempt_at: 0,
        created_at: 0,
        ..JobRow::new("job-busy", "tenant-busy", "busy")
    }
    .insert(w);
    let r = w.delete("/internal/nodes/busy-1");
    assert_eq!((r.status, r.code()), (409, "node_has_active_jobs".into()), "{}", r.text);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = 'busy-1'"), 1, "a refused delete keeps everything");
    w.sql("UPDATE provision_jobs SET status = 'succeeded' WHERE job_id = 'job-busy'");
    assert_eq!(w.delete("/internal/nodes/busy-1").status, 200);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics WHERE node_id = 'busy-1'"), 0, "metrics go with the node");
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = 'busy-1'"), 0, "snapshots go with the node");
}

fn metrics_push_follows_the_runbook(w: &mut Worker) {
    register(w, "m-1", "sg");
    // Null percentages accepted; tenant_count defaults to 0; no snapshot unless asked.
    let r = push(w, json!({"node_id": "m-1", "cpu_pct": null, "memory_pct": null}));
    assert_eq!(r["node_id"], "m-1");
    assert_eq!(r["snapshot_saved"], false);
    let node = w.get("/internal/nodes/m-1").json();
    assert_eq!(node["metrics"]["tenant_count"], 0);
    assert_eq!(node["metrics"]["cpu_pct"], Value::Null);
    assert_eq!(node["metrics"]["source"], "node_push");
    assert_eq!(node["stale"], false);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = 'm-1'"), 0);

    // save_snapshot adds exactly one row; the second push replaces the latest values.
    let r = push(
        w,
        json!({"node_id": "m-1", "cpu_pct": 12.5, "memory_pct": 41, "disk_pct": 30.25, "tenant_count": 7, "save_snapshot": true, "source": "hetzner_api"}),
    );
    assert_eq!(r["snapshot_saved"], true);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = 'm-1'"), 1);
    let node = w.get("/internal/nodes/m-1").json();
    assert_eq!(node["metrics"]["cpu_pct"], 12.5);
    assert_eq!(node["metrics"]["memory_pct"], 41.0);
    assert_eq!(node["metrics"]["disk_pct"], 30.25);
    assert_eq!(node["metrics"]["tenant_count"], 7);
    assert_eq!(node["metrics"]["source"], "hetzner_api");
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics WHERE node_id = 'm-1'"), 1, "one latest row per node");
    let snap = w.sql("SELECT cpu_pct, memory_pct, disk_pct, tenant_count, source FROM server_metrics_snapshots WHERE node_id = 'm-1'");
    assert_eq!(snap[0], vec![json!(12.5), json!(41.0), json!(30.25), json!(7), json!("hetzner_api")]);
    // A whole number written as a decimal is a count ("numbers may be integers or decimals").
    push(w, json!({"node_id": "m-1", "tenant_count": 9.0}));
    assert_eq!(w.get("/internal/nodes/m-1").json()["metrics"]["tenant_count"], 9);
    // Boundaries 0 and 100 are inside the range.
    push(w, json!({"node_id": "m-1", "cpu_pct": 0, "memory_pct": 100, "disk_pct": 100.0}));
}

fn metrics_push_refusals_store_nothing(w: &mut Worker) {
    register(w, "m-2", "sg");
    push(w, json!({"node_id": "m-2", "cpu_pct": 5, "tenant_count": 3}));
    let before = w.dump();
    let r = w.post("/internal/server-metrics", &json!({"node_id": "ghost", "cpu_pct": 1, "save_snapshot": true}));
    assert_eq!((r.status, r.code()), (404, "not_found".into()));
    let cases = [
        (json!({"node_id": "m-2", "cpu_pct": 100.5}), "cpu_pct"),
        (json!({"node_id": "m-2", "cpu_pct": -1}), "cpu_pct"),
        (json!({"node_id": "m-2", "memory_pct": 101}), "memory_pct"),
        (json!({"node_id": "m-2", "disk_pct": -0.01}), "disk_pct"),
        (json!({"node_id": "m-2", "cpu_pct": "5"}), "cpu_pct"),
        (json!({"node_id": "m-2", "memory_pct": true}), "memory_pct"),
        (json!({"node_id": "m-2", "disk_pct": [1]}), "disk_pct"),
        (json!({"node_id": "m-2", "cpu_pct": {"v": 1}}), "cpu_pct"),
        (json!({"node_id": "m-2", "tenant_count": -1}), "tenant_count"),
        (json!({"node_id": "m-2", "tenant_count": 2.5}), "tenant_count"),
        (json!({"node_id": "m-2", "tenant_count": "3"}), "tenant_count"),
        (json!({"node_id": "m-2", "save_snapshot": "yes"}), "save_snapshot"),
        (json!({"node_id": "m-2", "source": "cron"}), "source"),
        (json!({"node_id": "m-2", "cpu": 5}), "cpu"),
        (json!({"node_id": "m-2", "save_snapshot": true, "extra": 1}), "extra"),
        (json!({"node_id": 7}), "node_id"),
        (json!({"cpu_pct": 5}), "node_id"),
    ];
    for (body, field) in cases {
        let r = w.post("/internal/server-metrics", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], field, "{body}");
    }
    assert_eq!(before, w.dump(), "a refused push changed D1");
}

fn malformed_oversized_and_wrongly_typed_bodies(w: &mut Worker) {
    register(w, "m-3", "sg");
    let before = w.dump();
    let auth = format!("Bearer {KEY}");
    for body in ["{", "{\"node_id\":}", "[]", "\"x\"", "{\"node_id\":\"m-3\",\"node_id\":\"m-3\"}", "{\"node_id\":\"m-3\"} trailing", "{\"cpu_pct\":NaN}"] {
        let r = w.post_raw("/internal/server-metrics", body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.code(), "invalid_json", "{body}");
    }
    let big = format!("{{\"node_id\":\"m-3\",\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let r = w.post_raw("/internal/server-metrics", &big);
    assert_eq!((r.status, r.code()), (413, "payload_too_large".into()));
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let r = w.send("POST", "/internal/server-metrics", Some(&auth), ct, Some(b"{\"node_id\":\"m-3\"}".to_vec()));
        assert_eq!((r.status, r.code()), (415, "unsupported_media_type".into()), "{ct:?}");
    }
    // Parameters on the JSON media type are fine.
    let r = w.send("POST", "/internal/server-metrics", Some(&auth), Some("application/json; charset=utf-8"), Some(b"{\"node_id\":\"m-3\"}".to_vec()));
    assert_eq!(r.status, 200, "{}", r.text);
    let after_ok = w.dump();
    assert_ne!(before, after_ok);
    let r = w.send("PUT", "/internal/server-metrics", Some(&auth), None, None);
    assert_eq!((r.status, r.code()), (405, "method_not_allowed".into()));
    assert_eq!(r.headers.get("allow").unwrap(), "POST");
    assert_eq!(w.get("/internal/nodes/a%20b").status, 400);
    assert_eq!(w.get("/internal/nodes/a%2Fb").status, 400);
    assert_eq!(after_ok, w.dump());
}

/// Regression: workers-rs maps methods it does not know to GET, so `PROPFIND /internal/nodes/ID`
/// once answered 200 with the node.
fn unknown_methods_are_405_never_served_as_get(w: &mut Worker) {
    let auth = format!("Bearer {KEY}");
    let r = w.post("/internal/nodes", &json!({"node_id": "m-405", "region": "sg", "host": "10.9.0.5"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let before = w.dump();
    // (A method workerd itself does not parse never reaches the Worker: workerd answers it.)
    for method in ["PROPFIND", "QUERY", "MKCOL", "PATCH", "PUT", "OPTIONS"] {
        for (path, allow) in [("/internal/nodes/m-405", "GET, DELETE"), ("/internal/nodes", "GET, POST"), ("/health", "GET")] {
            let r = w.send(method, path, Some(&auth), None, None);
            assert_eq!((r.status, r.code()), (405, "method_not_allowed".into()), "{method} {path}: {}", r.text);
            assert_eq!(r.headers.get("allow").map(|v| v.to_str().unwrap()), Some(allow), "{method} {path}");
            assert!(!r.text.contains("10.9.0.5"), "{method} {path} served the node: {}", r.text);
        }
    }
    assert_eq!(before, w.dump());
    let line = w.log_lines().into_iter().rev().find(|l| l["msg"] == "request" && l["method"] == "PROPFIND");
    assert!(line.is_some(), "the log names the real method");
}

fn trace_events_post_and_read_oldest_first(w: &mut Worker) {
    for (i, e) in ["checkout.paid", "job.created", "workflow.completed"].iter().enumerate() {
        let r = w.post("/internal/trace-events", &json!({"trace_id": "  trace_t1  ", "event": e, "job_id": "j-1", "tenant_id": "acme", "status": "ok", "detail": {"i": i, "sql": "x'); DROP TABLE trace_events;--"}}));
        assert_eq!(r.status, 201, "{}", r.text);
    }
    w.post("/internal/trace-events", &json!({"trace_id": "trace_other", "event": "noise"}));
    let r = w.get("/internal/trace-events?trace_id=trace_t1");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["trace_id"], "trace_t1");
    let events = body["events"].as_array().unwrap();
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["checkout.paid", "job.created", "workflow.completed"]);
    assert_eq!(events[2]["detail"], json!({"i": 2, "sql": "x'); DROP TABLE trace_events;--"}));
    assert_eq!(events[0]["job_id"], "j-1");
    assert!(events[0]["created_at"].as_str().unwrap().ends_with('Z'));

    let before = w.dump();
    for bad in [
        json!({"trace_id": "t1", "event": "x"}),
        json!({"trace_id": format!("trace_{}", "a".repeat(200)), "event": "x"}),
        json!({"trace_id": "trace_ok", "event": "Bad Event"}),
        json!({"trace_id": "trace_ok", "event": "x", "detail": {"big": "y".repeat(9000)}}),
        json!({"trace_id": "trace_ok", "event": "x", "detail": [1, 2]}),
        json!({"trace_id": "trace_ok"}),
    ] {
        assert_eq!(w.post("/internal/trace-events", &bad).status, 400, "{bad}");
    }
    assert_eq!(w.get("/internal/trace-events").status, 400);
    assert_eq!(w.get("/internal/trace-events?trace_id=nope").status, 400);
    assert_eq!(before, w.dump());
}

fn burst_of_pushes_is_all_stored(w: &mut Worker) {
    const NODES: usize = 10;
    const PUSHES: usize = 500;
    const THREADS: usize = 20;
    for n in 0..NODES {
        register(w, &format!("burst-{n}"), "us");
    }
    let snapshots_before = w.count("SELECT COUNT(*) FROM server_metrics_snapshots");
    // Every push carries a unique tenant_count, so each accepted push can be found in D1.
    let accepted = Mutex::new(Vec::<(usize, bool)>::new());
    let statuses = Mutex::new(BTreeMap::<u16, usize>::new());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (w, accepted, statuses) = (&*w, &accepted, &statuses);
            s.spawn(move || {
                for i in (t..PUSHES).step_by(THREADS) {
                    let snapshot = i % 5 != 0;
                    let body = json!({"node_id": format!("burst-{}", i % NODES), "cpu_pct": (i % 100) as f64, "memory_pct": 50.5, "tenant_count": i, "save_snapshot": snapshot});
                    let r = w.post("/internal/server-metrics", &body);
                    *statuses.lock().unwrap().entry(r.status).or_default() += 1;
                    if r.status == 200 {
                        accepted.lock().unwrap().push((i, snapshot));
                    }
                }
            });
        }
    });
    let statuses = statuses.into_inner().unwrap();
    let accepted = accepted.into_inner().unwrap();
    eprintln!("burst: statuses {statuses:?}");
    assert_eq!(statuses.keys().filter(|s| **s >= 500).count(), 0, "no 5xx: {statuses:?}");
    assert_eq!(accepted.len(), PUSHES, "every push accepted: {statuses:?}");
    let want_snapshots: BTreeSet<i64> = accepted.iter().filter(|(_, s)| *s).map(|(i, _)| *i as i64).collect();
    let got: BTreeSet<i64> =
        w.sql("SELECT tenant_count FROM server_metrics_snapshots WHERE node_id LIKE 'burst-%'").into_iter().map(|r| r[0].as_i64().unwrap()).collect();
    assert_eq!(got, want_snapshots, "every accepted snapshot push is a row, and nothing else");
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots") - snapshots_before, want_snapshots.len() as i64);
    // Each node's latest row is one of the pushes accepted for it.
    for row in w.sql("SELECT node_id, tenant_count FROM server_metrics WHERE node_id LIKE 'burst-%'") {
        let node: usize = row[0].as_str().unwrap().trim_start_matches("burst-").parse().unwrap();
        let count = row[1].as_u64().unwrap() as usize;
        assert_eq!(count % NODES, node, "latest row of burst-{node} came from another node's push");
        assert!(accepted.iter().any(|(i, _)| *i == count));
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics WHERE node_id LIKE 'burst-%'"), NODES as i64);
}

fn logs_are_json_lines_with_request_ids_and_no_token(w: &mut Worker) {
    let r = w.get("/internal/nodes?region=sg");
    let id = r.headers.get("x-request-id").unwrap().to_str().unwrap().to_string();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let lines = w.log_lines();
    let line = lines.iter().find(|l| l["request_id"] == id.as_str()).unwrap_or_else(|| panic!("no log line for {id}"));
    assert_eq!(line["msg"], "request");
    assert_eq!(line["status"], 200);
    assert_eq!(line["path"], "/internal/nodes");
    assert!(!w.log_text().contains(KEY), "the token reached the log");
}

fn metrics_turn_stale_after_the_limit(w: &mut Worker) {
    register(w, "fresh-1", "eu");
    register(w, "never-1", "eu");
    push(w, json!({"node_id": "fresh-1", "memory_pct": 20}));
    let node = w.get("/internal/nodes/fresh-1").json();
    assert_eq!(node["stale"], false);
    assert_eq!(node["metrics_age_s"], 0);
    let stale_ids = |w: &Worker| -> Vec<String> {
        w.get("/internal/nodes?region=eu&stale=true").json()["nodes"].as_array().unwrap().iter().map(|n| n["node_id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(stale_ids(w), vec!["never-1"], "a node without metrics is stale");
    std::thread::sleep(std::time::Duration::from_millis(3200));
    let node = w.get("/internal/nodes/fresh-1").json();
    assert_eq!(node["stale"], true, "{node}");
    assert!(node["metrics_age_s"].as_i64().unwrap() >= 3);
    assert_eq!(stale_ids(w), vec!["fresh-1", "never-1"]);
    push(w, json!({"node_id": "fresh-1", "memory_pct": 20}));
    assert_eq!(w.get("/internal/nodes/fresh-1").json()["stale"], false, "a new push makes it fresh again");
}

fn a_missing_key_fails_closed(w: &mut Worker) {
    assert_eq!(w.send("GET", "/health", None, None, None).status, 200);
    for auth in [None, Some("Bearer "), Some("Bearer anything")] {
        let r = w.send("GET", "/internal/nodes", auth, None, None);
        assert_eq!(r.status, 500, "{}", r.text);
        assert_eq!(r.code(), "misconfigured");
        assert_eq!(r.json()["error"]["field"], "INTERNAL_API_KEY");
    }
}

fn the_bypass_is_ignored_in_production(w: &mut Worker) {
    assert_eq!(w.send("GET", "/internal/nodes", None, None, None).status, 401);
    assert_eq!(w.get("/internal/nodes").status, 200);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(w.log_lines().iter().any(|l| l["level"] == "warn" && l["msg"].as_str().unwrap().contains("SKIP_INTERNAL_API_AUTH")));
}

fn the_bypass_works_in_development(w: &mut Worker) {
    assert_eq!(w.send("GET", "/internal/nodes", None, None, None).status, 200);
}
