//! Least privilege against the real Worker: per-node push tokens (issue, scope, revocation) and
//! the admin key's rotation with `INTERNAL_API_KEY_PREVIOUS`.

use crate::harness::{Resp, Worker, KEY};
use crate::support::JobRow;
use crate::Suite;
use cp_core::routes::{Route, ROUTES};
use serde_json::{json, Value};
use std::time::Duration;

/// The admin key before the rotation: accepted only by the Worker that has it as the previous one.
pub const OLD_KEY: &str = "test-old-internal-key-9876543210";

pub fn suites() -> Vec<Suite> {
    vec![
        Suite {
            name: "tokens",
            vars: vec![],
            cases: vec![
                ("a_node_token_pushes_for_its_own_node_and_no_other", a_node_token_pushes_for_its_own_node_and_no_other),
                ("a_node_token_is_forbidden_on_every_other_route_and_changes_nothing", a_node_token_is_forbidden_on_every_other_route),
                ("changed_reissued_revoked_and_deleted_tokens_are_401", changed_reissued_revoked_and_deleted_tokens_are_401),
                ("the_token_routes_answer_every_status", the_token_routes_answer_every_status),
                ("no_table_and_no_log_line_holds_a_token_in_clear", no_table_and_no_log_line_holds_a_token_in_clear),
                ("without_the_previous_key_setting_the_old_key_is_refused", without_the_previous_key_setting_the_old_key_is_refused),
            ],
        },
        Suite {
            name: "rotation",
            vars: vec![("INTERNAL_API_KEY_PREVIOUS", OLD_KEY.into())],
            cases: vec![("both_keys_work_during_a_rotation_and_the_old_one_is_logged", both_keys_work_during_a_rotation)],
        },
    ]
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

pub fn register(w: &Worker, node: &str) {
    let r = w.post("/internal/nodes", &json!({"node_id": node, "region": "sg", "host": format!("10.40.0.{}", node.len())}));
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

/// Issues `node`'s token with the admin key: (token, token_version).
pub fn issue(w: &Worker, node: &str) -> (String, u64) {
    let r = w.send("POST", &format!("/internal/nodes/{node}/token"), Some(&bearer(KEY)), None, None);
    assert_eq!(r.status, 201, "{}", r.text);
    let body = r.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["node_id", "token", "token_version"], "{body}");
    assert_eq!(body["node_id"], node);
    let token = body["token"].as_str().unwrap().to_string();
    assert!(token.starts_with(&format!("cpn1.{node}.")), "{token}");
    (token, body["token_version"].as_u64().unwrap())
}

/// A metrics push for `node` with the given Authorization header.
pub fn push_as(w: &Worker, auth: &str, node: &str) -> Resp {
    let body = json!({"node_id": node, "cpu_pct": 11.5, "memory_pct": 22.5, "disk_pct": 33.5, "tenant_count": 4});
    w.send("POST", "/internal/server-metrics", Some(auth), Some("application/json"), Some(body.to_string().into_bytes()))
}

/// Every row of every table the Worker has (whatever the migrations add), for "nothing changed"
/// checks that do not go stale when a table is added.
pub fn every_table(w: &Worker) -> String {
    let tables =
        w.sql("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name <> 'd1_migrations' ORDER BY name");
    tables
        .iter()
        .map(|t| {
            let t = t[0].as_str().unwrap();
            format!("{t}: {:?}\n", w.sql(&format!("SELECT * FROM \"{t}\" ORDER BY 1")))
        })
        .collect()
}

/// The answer is the 401 of any bad credential: JSON, `WWW-Authenticate: Bearer`, no detail.
pub fn assert_401(r: &Resp, what: &str) {
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"), "{what}: {}", r.text);
    assert_eq!(r.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{what}");
}

pub fn assert_403(r: &Resp, what: &str) {
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"), "{what}: {}", r.text);
    assert!(r.headers.get("www-authenticate").is_none(), "{what}: a 403 is not a bad credential");
}

fn metrics_of(w: &Worker, node: &str) -> i64 {
    w.count(&format!("SELECT COUNT(*) FROM server_metrics WHERE node_id = '{node}'"))
}

fn a_node_token_pushes_for_its_own_node_and_no_other(w: &mut Worker) {
    for n in ["tok-a1", "tok-a2"] {
        register(w, n);
    }
    let (token, version) = issue(w, "tok-a1");
    assert_eq!(version, 1);
    let r = push_as(w, &bearer(&token), "tok-a1");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["node_id"], "tok-a1");
    let stored = w.sql("SELECT cpu_pct, memory_pct, disk_pct, tenant_count, source FROM server_metrics WHERE node_id = 'tok-a1'");
    assert_eq!(stored, vec![vec![json!(11.5), json!(22.5), json!(33.5), json!(4), json!("node_push")]]);
    // A snapshot too, when asked: the whole push works with the token.
    let body = json!({"node_id": "tok-a1", "memory_pct": 50, "save_snapshot": true});
    let r = w.send("POST", "/internal/server-metrics", Some(&bearer(&token)), Some("application/json"), Some(body.to_string().into_bytes()));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots WHERE node_id = 'tok-a1'"), 1);

    // Another node's id, registered or not: 403, nothing stored anywhere.
    let before = every_table(w);
    for other in ["tok-a2", "tok-unregistered", "TOK-A1"] {
        let r = push_as(w, &bearer(&token), other);
        assert_403(&r, other);
    }
    assert_eq!(every_table(w), before, "a refused push changed D1");
    assert_eq!(metrics_of(w, "tok-a2"), 0);
    // A bad body is still a 400 (validation runs first), and stores nothing.
    let r =
        w.send("POST", "/internal/server-metrics", Some(&bearer(&token)), Some("application/json"), Some(br#"{"node_id":"tok-a1","cpu_pct":101}"#.to_vec()));
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(every_table(w), before);
}

/// A request for every route but the metrics push, with a body the admin key would have had
/// accepted (so a token treated as admin would change D1).
fn route_requests(node: &str, job: &str) -> Vec<(String, String, Option<Value>)> {
    ROUTES
        .iter()
        .filter(|(m, p)| Route::is_internal(p) && (*m, *p) != ("POST", "/internal/server-metrics"))
        .map(|(m, p)| {
            let path = p.replace("{node_id}", node).replace("{tenant_id}", "t-tok-1").replace("{job_id}", job);
            let body = match (*m, *p) {
                ("POST", "/internal/nodes") => Some(json!({"node_id": "tok-new", "region": "sg", "host": "10.41.0.1"})),
                ("POST", "/internal/trace-events") => Some(json!({"trace_id": "trace_tok", "event": "tok.test", "status": "ok"})),
                ("POST", "/internal/tenants/{tenant_id}/enqueue-provision") => Some(json!({"plan_tier": "basic", "region": "sg"})),
                ("POST", "/internal/provision-jobs/{job_id}/complete") => Some(json!({"status": "succeeded", "node_id": node})),
                ("POST", _) => Some(json!({})),
                _ => None,
            };
            (m.to_string(), path, body)
        })
        .collect()
}

fn a_node_token_is_forbidden_on_every_other_route(w: &mut Worker) {
    register(w, "tok-b1");
    let (token, _) = issue(w, "tok-b1");
    let job = "22222222-2222-4222-8222-222222222222";
    let mut row = JobRow::new(job, "t-tok-job", "tokjob");
    row.status = "dispatched";
    row.dispatched_at = Some(row.created_at);
    row.insert(w);
    let before = every_table(w);
    let mut requests = route_requests("tok-b1", job);
    assert!(requests.len() >= 13, "ROUTES lost routes: {requests:?}");
    // Unknown paths and wrong methods are refused the same way (the token learns nothing).
    requests.push(("GET".into(), "/internal/server-metrics".into(), None));
    requests.push(("POST".into(), "/internal/admin".into(), Some(json!({}))));
    requests.push(("PROPFIND".into(), "/internal/server-metrics".into(), None));
    for (method, path, body) in &requests {
        let r = w.send(method, path, Some(&bearer(&token)), body.as_ref().map(|_| "application/json"), body.as_ref().map(|b| b.to_string().into_bytes()));
        assert_403(&r, &format!("{method} {path}"));
        assert!(!r.text.contains(&token), "the token was echoed");
    }
    assert_eq!(every_table(w), before, "a node token changed D1 outside its push");
    // The token still does its one job afterwards.
    assert_eq!(push_as(w, &bearer(&token), "tok-b1").status, 200);
    // The same requests with the admin key are served (they are real requests, not 404s).
    let r = w.get("/internal/nodes/tok-b1");
    assert_eq!(r.status, 200, "{}", r.text);
}

fn changed_reissued_revoked_and_deleted_tokens_are_401(w: &mut Worker) {
    for n in ["tok-c1", "tok-c2", "tok-c3"] {
        register(w, n);
    }
    let (token, _) = issue(w, "tok-c1");
    let (_token2, _) = issue(w, "tok-c2");
    let before = every_table(w);

    // One character changed, anywhere that matters: prefix, node id (to another node with a
    // token), version, the middle and the end of the secret.
    let secret_at = token.rfind('.').unwrap() + 1;
    let mut changed = Vec::new();
    for i in [0, 5 + "tok-c".len(), secret_at - 2, secret_at + 20, token.len() - 1] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = match bytes[i] {
            b'0' => b'1',
            b'1' if i == 5 + "tok-c".len() => b'2',
            b'9' => b'8',
            b'f' => b'e',
            _ => b'0',
        };
        changed.push(String::from_utf8(bytes).unwrap());
    }
    assert!(changed.iter().any(|t| t.starts_with("cpn1.tok-c2.")), "{changed:?}");
    for bad in &changed {
        assert_ne!(bad, &token);
        let node = if bad.starts_with("cpn1.tok-c2.") { "tok-c2" } else { "tok-c1" };
        assert_401(&push_as(w, &bearer(bad), node), bad);
    }
    assert_eq!(every_table(w), before, "a refused push changed D1");

    // Re-issued: the old token is dead, the new one works.
    let (newer, version) = issue(w, "tok-c1");
    assert_eq!(version, 2);
    assert_401(&push_as(w, &bearer(&token), "tok-c1"), "the re-issued node's old token");
    assert_eq!(push_as(w, &bearer(&newer), "tok-c1").status, 200);

    // Revoked.
    let r = w.delete("/internal/nodes/tok-c1/token");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"node_id": "tok-c1", "revoked": true, "token_version": 2}));
    let before = every_table(w);
    assert_401(&push_as(w, &bearer(&newer), "tok-c1"), "a revoked token");
    assert_eq!(every_table(w), before);
    // The next token gets a new version; the revoked one stays dead.
    let (third, version) = issue(w, "tok-c1");
    assert_eq!(version, 3);
    assert_401(&push_as(w, &bearer(&newer), "tok-c1"), "a revoked token after a new issue");
    assert_eq!(push_as(w, &bearer(&third), "tok-c1").status, 200);

    // A deleted node's token: 401 (not 404), also once a node of the same id is registered again.
    let (doomed, _) = issue(w, "tok-c3");
    assert_eq!(push_as(w, &bearer(&doomed), "tok-c3").status, 200);
    let r = w.delete("/internal/nodes/tok-c3");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(w.count("SELECT COUNT(*) FROM node_tokens WHERE node_id = 'tok-c3'"), 0, "the token row goes with its node");
    assert_401(&push_as(w, &bearer(&doomed), "tok-c3"), "a deleted node's token");
    register(w, "tok-c3");
    let before = every_table(w);
    assert_401(&push_as(w, &bearer(&doomed), "tok-c3"), "a deleted node's token after re-registration");
    assert_eq!(every_table(w), before);
}

fn the_token_routes_answer_every_status(w: &mut Worker) {
    register(w, "tok-d1");
    register(w, "tok-d2");
    // Unknown node: 404, nothing stored. Bad id: 400. Unknown body field: 400. Non-JSON: 415.
    let before = every_table(w);
    let r = w.send("POST", "/internal/nodes/tok-ghost/token", Some(&bearer(KEY)), None, None);
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"), "{}", r.text);
    let r = w.send("DELETE", "/internal/nodes/tok-ghost/token", Some(&bearer(KEY)), None, None);
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"), "{}", r.text);
    let r = w.send("POST", "/internal/nodes/bad%20id/token", Some(&bearer(KEY)), None, None);
    assert_eq!(r.status, 400, "{}", r.text);
    let r = w.post("/internal/nodes/tok-d1/token", &json!({"ttl": 5}));
    assert_eq!((r.status, r.json()["error"]["field"].as_str()), (400, Some("ttl")), "{}", r.text);
    let r = w.send("POST", "/internal/nodes/tok-d1/token", Some(&bearer(KEY)), Some("text/plain"), Some(b"x".to_vec()));
    assert_eq!(r.status, 415, "{}", r.text);
    let r = w.send("PUT", "/internal/nodes/tok-d1/token", Some(&bearer(KEY)), None, None);
    assert_eq!((r.status, r.headers.get("allow").map(|v| v.to_str().unwrap())), (405, Some("POST, DELETE")));
    let r = w.send("POST", "/internal/nodes/tok-d1/token", None, None, None);
    assert_401(&r, "no credential");
    assert_eq!(every_table(w), before, "a refused token request changed D1");

    // Revoking a node that never had a token: 200, nothing revoked.
    let r = w.delete("/internal/nodes/tok-d1/token");
    assert_eq!(r.json(), json!({"node_id": "tok-d1", "revoked": false, "token_version": null}), "{}", r.text);
    // `{}` is an accepted body; a token cannot mint tokens, its own or another node's.
    let r = w.post("/internal/nodes/tok-d1/token", &json!({}));
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let before = every_table(w);
    for node in ["tok-d1", "tok-d2"] {
        for method in ["POST", "DELETE"] {
            assert_403(&w.send(method, &format!("/internal/nodes/{node}/token"), Some(&bearer(&token)), None, None), &format!("{method} {node}"));
        }
    }
    assert_eq!(every_table(w), before);
    // Revoking twice: the second one has nothing to revoke.
    assert_eq!(w.delete("/internal/nodes/tok-d1/token").json()["revoked"], true);
    assert_eq!(w.delete("/internal/nodes/tok-d1/token").json()["revoked"], false);
}

fn no_table_and_no_log_line_holds_a_token_in_clear(w: &mut Worker) {
    register(w, "tok-e1");
    register(w, "tok-e2");
    let mut tokens = Vec::new();
    for node in ["tok-e1", "tok-e1", "tok-e2"] {
        let (t, _) = issue(w, node);
        assert_eq!(push_as(w, &bearer(&t), node).status, 200);
        tokens.push(t);
    }
    // D1 holds the SHA-256 of the newest token of each node, and nothing else of any token.
    let rows = w.sql("SELECT node_id, token_version, token_hash FROM node_tokens WHERE node_id LIKE 'tok-e%' ORDER BY node_id");
    assert_eq!(
        rows,
        vec![
            vec![json!("tok-e1"), json!(2), json!(cp_core::node_token::hash(&tokens[1]))],
            vec![json!("tok-e2"), json!(1), json!(cp_core::node_token::hash(&tokens[2]))]
        ]
    );
    std::thread::sleep(Duration::from_millis(500));
    let dump = every_table(w);
    let log = w.log_text();
    for t in &tokens {
        let secret = &t[t.rfind('.').unwrap() + 1..];
        assert!(!dump.contains(secret), "a token's secret is stored in clear");
        assert!(!log.contains(secret), "a token reached the log");
    }
    assert!(!log.contains(KEY), "the admin key reached the log");
    // Issues are logged for the audit trail, by node and version only.
    let issued: Vec<Value> = w.log_lines().into_iter().filter(|l| l["msg"] == "node token issued" && l["node_id"] == "tok-e1").collect();
    assert_eq!(issued.iter().map(|l| l["token_version"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2], "{issued:?}");
}

fn without_the_previous_key_setting_the_old_key_is_refused(w: &mut Worker) {
    let before = every_table(w);
    for (method, path) in [("GET", "/internal/nodes"), ("POST", "/internal/nodes/tok-a1/token"), ("DELETE", "/internal/nodes/tok-a1")] {
        assert_401(&w.send(method, path, Some(&bearer(OLD_KEY)), None, None), &format!("{method} {path}"));
    }
    assert_eq!(every_table(w), before);
}

fn both_keys_work_during_a_rotation(w: &mut Worker) {
    // Both keys open every admin route.
    let r = w.send(
        "POST",
        "/internal/nodes",
        Some(&bearer(OLD_KEY)),
        Some("application/json"),
        Some(json!({"node_id": "rot-1", "region": "sg", "host": "10.42.0.1"}).to_string().into_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let old_request_id = r.headers.get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert_eq!(w.get("/internal/nodes/rot-1").status, 200);
    let r = w.send("GET", "/internal/nodes/rot-1", Some(&bearer(OLD_KEY)), None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    // The old key can issue node tokens too (an agent fleet is migrated with either key).
    let r = w.send("POST", "/internal/nodes/rot-1/token", Some(&bearer(OLD_KEY)), None, None);
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert_eq!(push_as(w, &bearer(&token), "rot-1").status, 200);
    // Neither key with a character changed.
    for bad in [&OLD_KEY[1..], &KEY[1..]] {
        assert_401(&w.send("GET", "/internal/nodes", Some(&bearer(bad)), None, None), bad);
    }

    // One warning per use of the old key, naming the route, never either key.
    let warnings = crate::support::poll(
        Duration::from_secs(10),
        Duration::from_millis(200),
        || {
            w.log_lines()
                .into_iter()
                .filter(|l| l["level"] == "warn" && l["msg"].as_str().unwrap_or_default().contains("INTERNAL_API_KEY_PREVIOUS"))
                .collect::<Vec<_>>()
        },
        |v| v.len() >= 3,
    );
    let routes: Vec<&str> = warnings.iter().map(|l| l["route"].as_str().unwrap_or_default()).collect();
    assert_eq!(routes, ["POST /internal/nodes", "GET /internal/nodes/rot-1", "POST /internal/nodes/rot-1/token"], "{warnings:?}");
    assert_eq!(warnings[0]["request_id"], old_request_id.as_str());
    let log = w.log_text();
    assert!(!log.contains(OLD_KEY) && !log.contains(KEY), "a key reached the log");
    assert!(!log.contains(&token[token.rfind('.').unwrap() + 1..]), "a token reached the log");
}
