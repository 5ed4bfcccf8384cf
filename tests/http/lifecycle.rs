//! The job life cycle of SPEC Part 2 over HTTP, against the real Worker, its queue and the
//! scripted fake GitHub: run details on the dispatch (and the fallback for a server that refuses
//! the field), run ownership at `/start` and `/complete`, an operator's cancel (pending and
//! dispatched, with GitHub's cancel call) and retry, the job list with filters and cursors, and
//! the scheduled reconcile of stranded jobs against GitHub's runs API.

use crate::fake_github::{Answer, RunCall, TOKEN};
use crate::foundation::push;
use crate::harness::{Resp, Worker, KEY};
use crate::support::{self, eventually, job, now_ms, JobRow};
use crate::Suite;
use serde_json::{json, Value};
use std::time::Duration;

const SETTLE: Duration = Duration::from_secs(60);

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "lifecycle",
        vars: github().worker_vars(),
        cases: vec![
            ("run_details_are_stored_and_the_owner_completes", run_details_are_stored_and_the_owner_completes),
            ("a_refused_run_details_field_is_sent_again_without_it", refused_field_is_sent_again_without_it),
            ("a_204_dispatch_belongs_to_its_first_start", a_204_dispatch_belongs_to_its_first_start),
            ("cancel_of_a_pending_job_stops_it_and_frees_the_tenant_and_node", cancel_pending),
            ("cancel_of_a_dispatched_job_cancels_the_github_run", cancel_dispatched),
            ("retry_of_a_failed_job_carries_every_field_over", retry_failed),
            ("the_job_list_filters_and_pages_newest_first", list_filters_and_pages),
            ("the_scheduled_reconcile_ends_stranded_jobs", reconcile_stranded_jobs),
            ("bad_input_on_the_job_routes_changes_nothing", bad_input_changes_nothing),
        ],
    }]
}

crate::fake_github::suite_github!(script);

fn script(tenant: &str, nth: usize) -> Answer {
    match (tenant, nth) {
        ("t-details", _) => Answer::run_details(9001),
        ("t-ghes", 0) => Answer::refuse_run_details(),
        ("t-cancel-run", _) => Answer::run_details(9100),
        ("t-cancel-p", _) => Answer::error(500, "Server Error"),
        ("t-retry-422", _) => Answer::error(422, "Unexpected inputs provided"),
        _ => Answer::ok(),
    }
}

// ---- helpers ---------------------------------------------------------------------------------

fn enqueue(w: &Worker, tenant: &str, body: Value, key: Option<&str>) -> Resp {
    support::enqueue(&support::client(Duration::from_secs(30)), &w.base, tenant, &body, key).unwrap_or_else(|e| panic!("enqueue {tenant}: {e}"))
}

fn accepted(w: &Worker, tenant: &str, body: Value) -> String {
    let r = enqueue(w, tenant, body, None);
    assert_eq!(r.status, 202, "{tenant}: {}", r.text);
    r.json()["job_id"].as_str().unwrap().to_string()
}

fn settled(w: &Worker, job_id: &str) -> Value {
    eventually(&format!("job {job_id} to leave pending"), SETTLE, || {
        let j = job(w, job_id);
        if j["status"] == "pending" {
            Err(j.to_string())
        } else {
            Ok(j)
        }
    })
}

fn post(w: &Worker, job_id: &str, action: &str, body: Value) -> Resp {
    w.post(&format!("/internal/provision-jobs/{job_id}/{action}"), &body)
}

fn event_names(job: &Value) -> Vec<String> {
    job["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_string()).collect()
}

fn row(w: &Worker, job_id: &str) -> Vec<Vec<Value>> {
    w.sql(&format!("SELECT * FROM provision_jobs WHERE job_id = '{job_id}'"))
}

fn fresh_node(w: &Worker, id: &str, region: &str) {
    let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.4.0.1"}));
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    push(w, json!({"node_id": id, "cpu_pct": 10, "memory_pct": 20, "disk_pct": 30, "tenant_count": 1}));
}

fn reserved(w: &Worker, region: &str, node: &str) -> Value {
    let preview = w.post("/internal/placement/compute", &json!({"region": region})).json();
    preview["candidates"].as_array().unwrap().iter().find(|c| c["node_id"] == node).map(|c| c["reserved"].clone()).unwrap_or(Value::Null)
}

// ---- cases -----------------------------------------------------------------------------------

fn run_details_are_stored_and_the_owner_completes(w: &mut Worker) {
    let id = accepted(w, "t-details", json!({"region": "sg", "subdomain_slug": "details"}));
    let j = settled(w, &id);
    assert_eq!(
        (j["status"].clone(), j["workflow_run_id"].clone(), j["run_url"].clone()),
        (json!("dispatched"), json!("9001"), json!("https://github.com/acme/infra/actions/runs/9001")),
        "{j}"
    );
    let requests = github().for_job(&id);
    assert_eq!(requests.len(), 1);
    assert!(requests[0].asks_run_details() && requests[0].problems().is_empty(), "{:?}", requests[0]);
    let dispatched = j["events"].as_array().unwrap().iter().find(|e| e["event"] == "job.dispatched").unwrap().clone();
    assert_eq!(dispatched["detail"]["workflow_run_id"], "9001");

    // A duplicate run is refused; the dispatched run owns the job; its re-run attempt is a no-op.
    let r = post(w, &id, "start", json!({"run_id": "9002"}));
    assert_eq!((r.status, r.code()), (409, "job_owned_by_other_run".to_string()), "{}", r.text);
    let r = post(w, &id, "start", json!({"run_id": "9001", "run_attempt": 1, "run_url": "https://github.com/acme/infra/actions/runs/9001"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let started = r.json();
    assert_eq!((started["status"].clone(), started["workflow_run_id"].clone()), (json!("running"), json!("9001")));
    assert!(started["started_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{started}");
    let before = (row(w, &id), w.count("SELECT COUNT(*) FROM trace_events"));
    let again = post(w, &id, "start", json!({"run_id": "9001", "run_attempt": 2}));
    assert_eq!((again.status, again.json()), (200, started.clone()));
    assert_eq!((row(w, &id), w.count("SELECT COUNT(*) FROM trace_events")), before, "a re-run attempt changed D1");

    // Only the owner completes it; a running job blocks the tenant and holds its slot.
    let r = enqueue(w, "t-details", json!({"region": "sg", "subdomain_slug": "details"}), None);
    assert_eq!((r.status, r.code()), (409, "active_job_exists".to_string()), "{}", r.text);
    let r = post(w, &id, "complete", json!({"status": "succeeded", "run_id": "9002"}));
    assert_eq!((r.status, r.code()), (409, "job_owned_by_other_run".to_string()), "{}", r.text);
    assert_eq!(row(w, &id), before.0, "a refused completion changed the job");
    let r = post(w, &id, "complete", json!({"status": "succeeded", "run_id": "9001"}));
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("succeeded")), "{}", r.text);
    let r = post(w, &id, "start", json!({"run_id": "9001"}));
    assert_eq!((r.status, r.code()), (409, "job_finished".to_string()), "{}", r.text);
    assert_eq!(event_names(&job(w, &id)), ["job.created", "job.enqueued", "job.dispatched", "job.running", "job.succeeded"]);
}

fn refused_field_is_sent_again_without_it(w: &mut Worker) {
    let id = accepted(w, "t-ghes", json!({"region": "sg", "subdomain_slug": "ghes"}));
    let j = settled(w, &id);
    assert_eq!((j["status"].clone(), j["attempts"].clone(), j["workflow_run_id"].clone()), (json!("dispatched"), json!(1), Value::Null), "{j}");
    let requests = github().for_job(&id);
    assert_eq!(requests.iter().map(|r| (r.status, r.asks_run_details())).collect::<Vec<_>>(), [(422, true), (204, false)], "{requests:?}");
    assert!(requests.iter().all(|r| r.problems().is_empty()), "{requests:?}");
    assert_eq!(requests[0].input("job_id"), requests[1].input("job_id"));
    assert!(!event_names(&j).contains(&"job.dispatch_retry".to_string()), "the resend is part of the same attempt: {j}");
}

fn a_204_dispatch_belongs_to_its_first_start(w: &mut Worker) {
    let id = accepted(w, "t-plain", json!({"region": "sg", "subdomain_slug": "plain"}));
    let j = settled(w, &id);
    assert_eq!((j["status"].clone(), j["workflow_run_id"].clone()), (json!("dispatched"), Value::Null), "{j}");
    let r = post(w, &id, "start", json!({"run_id": "555"}));
    assert_eq!((r.status, r.json()["workflow_run_id"].clone(), r.json()["status"].clone()), (200, json!("555"), json!("running")), "{}", r.text);
    let r = post(w, &id, "start", json!({"run_id": "556"}));
    assert_eq!((r.status, r.code()), (409, "job_owned_by_other_run".to_string()), "{}", r.text);
    let r = post(w, &id, "complete", json!({"status": "failed", "error": "x", "run_id": "556"}));
    assert_eq!((r.status, r.code()), (409, "job_owned_by_other_run".to_string()), "{}", r.text);
    let r = post(w, &id, "complete", json!({"status": "failed", "error": "pulumi up failed", "run_id": "555"}));
    assert_eq!((r.status, r.json()["status"].clone(), r.json()["last_error"].clone()), (200, json!("failed"), json!("pulumi up failed")), "{}", r.text);
}

fn cancel_pending(w: &mut Worker) {
    fresh_node(w, "life-sg-1", "sg");
    let id = accepted(w, "t-cancel-p", json!({"region": "sg", "subdomain_slug": "cancel-p"}));
    assert_eq!(job(w, &id)["target_server_id"], "life-sg-1");
    // GitHub answers 500: the job stays pending, retried every second.
    eventually("a first dispatch attempt", SETTLE, || if github().for_job(&id).is_empty() { Err("none".into()) } else { Ok(()) });
    assert_eq!(reserved(w, "sg", "life-sg-1"), 1);
    let r = post(w, &id, "cancel", json!({"reason": "wrong plan"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let c = r.json();
    assert_eq!((c["status"].clone(), c["last_error"].clone()), (json!("cancelled"), json!("cancelled by an operator: wrong plan")), "{c}");
    assert!(c["cancelled_at"].is_string(), "{c}");
    // Released at once: the node's place and the tenant's slot.
    assert_eq!(reserved(w, "sg", "life-sg-1"), 0);
    let n = github().for_job(&id).len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(github().for_job(&id).len(), n, "a dispatch after the cancel");
    assert_eq!(job(w, &id)["status"], "cancelled");
    let events = job(w, &id);
    let ev = events["events"].as_array().unwrap().iter().find(|e| e["event"] == "job.cancelled").unwrap().clone();
    assert_eq!(
        (ev["detail"]["reason"].clone(), ev["detail"]["from"].clone(), ev["detail"]["github"].clone()),
        (json!("wrong plan"), json!("pending"), Value::Null)
    );
    // Cancelling again changes nothing; the tenant can enqueue again.
    let before = (row(w, &id), w.count("SELECT COUNT(*) FROM trace_events"));
    let again = post(w, &id, "cancel", json!({}));
    assert_eq!((again.status, again.json()["status"].clone()), (200, json!("cancelled")));
    assert_eq!((row(w, &id), w.count("SELECT COUNT(*) FROM trace_events")), before);
    let next = enqueue(w, "t-cancel-p", json!({"region": "sg", "subdomain_slug": "cancel-p"}), None);
    assert_eq!(next.status, 202, "{}", next.text);
    let next_id = next.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(post(w, &next_id, "cancel", json!({})).status, 200);
}

fn cancel_dispatched(w: &mut Worker) {
    github().set_runs(|call: &RunCall| if call.cancel { Answer::status(202).json(json!({})) } else { Answer::run("in_progress", None) });
    let id = accepted(w, "t-cancel-run", json!({"region": "eu", "subdomain_slug": "cancel-run"}));
    assert_eq!(settled(w, &id)["workflow_run_id"], "9100");
    let r = w.send("POST", &format!("/internal/provision-jobs/{id}/cancel"), Some(&format!("Bearer {KEY}")), None, None);
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("cancelled")), "{}", r.text);
    let calls = github().run_calls();
    let cancel: Vec<_> = calls.iter().filter(|(c, _)| c.run_id == "9100").collect();
    assert_eq!(cancel.len(), 1, "{calls:?}");
    let (call, req) = cancel[0];
    assert!(call.cancel && req.method == "POST", "{call:?}");
    assert_eq!(req.headers.get("authorization").map(String::as_str), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(req.headers.get("user-agent").is_some_and(|u| !u.is_empty()));
    let j = job(w, &id);
    let ev = j["events"].as_array().unwrap().iter().find(|e| e["event"] == "job.cancelled").unwrap().clone();
    assert_eq!((ev["detail"]["github"]["status"].clone(), ev["detail"]["from"].clone()), (json!(202), json!("dispatched")), "{ev}");
    // The run's late callbacks are refused; a finished job cannot be cancelled.
    let r = post(w, &id, "complete", json!({"status": "succeeded", "run_id": "9100"}));
    assert_eq!((r.status, r.code()), (409, "invalid_transition".to_string()), "{}", r.text);
    let r = post(w, &id, "start", json!({"run_id": "9100"}));
    assert_eq!((r.status, r.code()), (409, "job_finished".to_string()), "{}", r.text);
    let done = accepted(w, "t-cancel-done", json!({"region": "eu", "subdomain_slug": "cancel-done"}));
    settled(w, &done);
    assert_eq!(post(w, &done, "complete", json!({"status": "succeeded"})).status, 200);
    let r = post(w, &done, "cancel", json!({}));
    assert_eq!((r.status, r.code()), (409, "job_finished".to_string()), "{}", r.text);
}

fn retry_failed(w: &mut Worker) {
    // A job that failed for good (GitHub 422), with every field an enqueue can set.
    let body = json!({"plan_tier": "professional", "region": "eu", "subdomain_slug": "retry-me", "canonical_hostname": "shop.retry.example.com", "trace_id": "trace_retry-1"});
    let old = accepted(w, "t-retry-422", body);
    let failed = settled(w, &old);
    assert_eq!(failed["status"], "failed", "{failed}");
    github().set_script(|t, n| if t == "t-retry-422" { Answer::ok() } else { script(t, n) });
    let r = post(w, &old, "retry", json!({}));
    assert_eq!(r.status, 202, "{}", r.text);
    let answer = r.json();
    let new = answer["job_id"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!((answer["status"].clone(), answer["trace_id"].clone()), (json!("pending"), json!("trace_retry-1")));
    assert_eq!(answer["placement"]["region"], "eu");
    let j = job(w, &new);
    for field in ["tenant_id", "plan_tier", "region", "subdomain_slug", "canonical_hostname", "trace_id", "infra_mode", "pulumi_stack"] {
        assert_eq!(j[field], failed[field], "{field}");
    }
    assert_eq!((j["retry_of"].clone(), j["attempts"].as_u64().is_some()), (json!(old), true));
    let created = j["events"].as_array().unwrap().iter().find(|e| e["event"] == "job.created").unwrap().clone();
    assert_eq!(created["detail"]["retry_of"], old.as_str(), "{created}");
    // GitHub takes the new one (its own dispatch, fresh).
    assert_eq!(settled(w, &new)["status"], "dispatched");
    assert_eq!(github().for_job(&new).len(), 1);
    // The tenant has an active job again: a second retry is refused; so is a retry of it.
    let r = post(w, &old, "retry", json!({}));
    assert_eq!((r.status, r.code()), (409, "active_job_exists".to_string()), "{}", r.text);
    let r = post(w, &new, "retry", json!({}));
    assert_eq!((r.status, r.code()), (409, "job_not_retryable".to_string()), "{}", r.text);
    assert_eq!(post(w, &new, "cancel", json!({"reason": "operator test"})).status, 200);

    // An Idempotency-Key makes a retry safe to repeat.
    let auth = format!("Bearer {KEY}");
    let http = support::client(Duration::from_secs(30));
    let with_key = || {
        let r = http
            .post(format!("{}/internal/provision-jobs/{new}/retry", w.base))
            .header("authorization", &auth)
            .header("idempotency-key", "retry-key-1")
            .send()
            .unwrap();
        (r.status().as_u16(), serde_json::from_str::<Value>(&r.text().unwrap()).unwrap())
    };
    let (s1, b1) = with_key();
    assert_eq!(s1, 202, "{b1}");
    let (s2, b2) = with_key();
    assert_eq!((s2, b2["job_id"].clone()), (200, b1["job_id"].clone()));
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM provision_jobs WHERE retry_of = '{new}'")), 1);
}

fn list_filters_and_pages(w: &mut Worker) {
    let base = now_ms() - 600_000;
    let statuses = ["failed", "succeeded", "failed", "cancelled", "failed", "succeeded", "failed"];
    let mut ids = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        let id = format!("list-{i}");
        let tenant = format!("t-list-{}", i % 2);
        let slug = format!("list-{i}");
        JobRow { status, region: "us", created_at: base + (i as i64 / 2) * 1000, ..JobRow::new(&id, &tenant, &slug) }.insert(w);
        ids.push(id);
    }
    // Newest first: created_at, then job_id (two jobs share each second).
    let mut want: Vec<(i64, String)> = ids.iter().enumerate().map(|(i, id)| (base + (i as i64 / 2) * 1000, id.clone())).collect();
    want.sort_by(|a, b| b.cmp(a));
    let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/internal/provision-jobs?region=us&limit=2".to_string(),
            Some(c) => format!("/internal/provision-jobs?region=us&limit=2&cursor={c}"),
        };
        let r = w.get(&path);
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 2 && jobs.iter().all(|j| j.get("events").is_none() && j["region"] == "us"), "{page}");
        seen.extend(jobs.iter().map(|j| j["job_id"].as_str().unwrap().to_string()));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "the cursor never ends");
    }
    assert_eq!((seen.clone(), pages), (want.clone(), 4), "every job once, newest first");
    let r = w.get("/internal/provision-jobs?status=failed&tenant_id=t-list-0&region=us").json();
    let got: Vec<&str> = r["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_str().unwrap()).collect();
    assert_eq!(got, ["list-6", "list-4", "list-2", "list-0"], "{r}");
    assert_eq!(r["next_cursor"], Value::Null);
    let all = w.get("/internal/provision-jobs").json();
    assert!(all["jobs"].as_array().unwrap().len() <= 50);
    for bad in ["status=done", "region=ap", "limit=0", "limit=201", "limit=ten", "cursor=zz", "tenant_id=a%20b", "page=2", "status=failed&status=succeeded"] {
        let r = w.get(&format!("/internal/provision-jobs?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
}

fn reconcile_stranded_jobs(w: &mut Worker) {
    github().set_runs(|call: &RunCall| match call.run_id.as_str() {
        "9201" => Answer::run("completed", Some("failure")),
        "9202" | "9203" => Answer::run("in_progress", None),
        _ => Answer::status(404).json(json!({"message": "Not Found"})),
    });
    let now = now_ms();
    let hour = 3_600_000;
    let stranded = |id: &str, status: &str, run: Option<&str>, since: i64| {
        let tenant = format!("t-{id}");
        JobRow { status, attempts: 1, region: "sg", created_at: since - 1000, dispatched_at: Some(since), ..JobRow::new(id, &tenant, id) }.insert(w);
        if let Some(r) = run {
            w.sql(&format!("UPDATE provision_jobs SET workflow_run_id = '{r}' WHERE job_id = '{id}'"));
        }
    };
    stranded("rec-done", "dispatched", Some("9201"), now - 2 * hour); // ended without reporting
    stranded("rec-busy", "running", Some("9202"), now - 2 * hour); // still running within 2x
    stranded("rec-stuck", "running", Some("9203"), now - 4 * hour); // still running past 2x
    stranded("rec-norun", "dispatched", None, now - 2 * hour);
    stranded("rec-gone", "dispatched", Some("9204"), now - 2 * hour);
    stranded("rec-fresh", "dispatched", Some("9205"), now - 60_000);
    // Pending past the six-hour deadline (not overdue for the outbox: its delivery is expected now).
    JobRow { last_error: Some("github 500"), created_at: now - 7 * hour, next_attempt_at: now, ..JobRow::new("rec-late", "t-rec-late", "rec-late") }.insert(w);

    let r = w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let want = [
        ("rec-done", "failed", Some("workflow run 9201 ended failure without reporting")),
        ("rec-busy", "running", None),
        ("rec-stuck", "failed", Some("workflow run 9203 still unfinished after 10800 s")),
        ("rec-norun", "failed", Some("no completion callback within 5400 s")),
        ("rec-gone", "failed", Some("workflow run 9204 not found")),
        ("rec-fresh", "dispatched", None),
        ("rec-late", "failed", Some("not dispatched within 21600 s: github 500")),
    ];
    for (id, status, error) in want {
        let j = eventually(&format!("{id} to be {status}"), SETTLE, || {
            let j = job(w, id);
            if j["status"] == status {
                Ok(j)
            } else {
                Err(j.to_string())
            }
        });
        assert_eq!(j["last_error"].as_str(), error, "{id}: {j}");
        let failed_events = event_names(&j).iter().filter(|e| *e == "job.failed").count();
        assert_eq!(failed_events, usize::from(status == "failed"), "{id}: {j}");
    }
    let asked: Vec<String> = github().run_calls().iter().filter(|(c, _)| !c.cancel).map(|(c, _)| c.run_id.clone()).collect();
    for run in ["9201", "9202", "9203", "9204"] {
        assert!(asked.contains(&run.to_string()), "run {run} not read: {asked:?}");
    }
    assert!(!asked.contains(&"9205".to_string()), "a fresh job was reconciled: {asked:?}");
    assert!(github().run_calls().iter().all(|(_, r)| r.method == "GET" || r.path.ends_with("/cancel")));
    assert!(github().for_job("rec-late").is_empty(), "a job past its deadline was dispatched");
    let line = eventually("the scheduled log line", SETTLE, || {
        w.log_lines().into_iter().rfind(|l| l["msg"] == "scheduled" && l.get("reconcile_failed").is_some()).ok_or_else(|| "no line yet".to_string())
    });
    assert!(line["reconcile_failed"].as_array().is_some_and(|a| a.len() >= 4), "{line}");
}

fn bad_input_changes_nothing(w: &mut Worker) {
    let id = accepted(w, "t-bad-input", json!({"region": "sg", "subdomain_slug": "bad-input"}));
    settled(w, &id);
    let before = w.dump();
    let auth = format!("Bearer {KEY}");
    let cases: Vec<(&str, &str, Option<&str>, String, u16)> = vec![
        ("start", "POST", Some("application/json"), "{}".into(), 400),
        ("start", "POST", Some("application/json"), r#"{"run_id":42}"#.into(), 400),
        ("start", "POST", Some("application/json"), r#"{"run_id":"4x"}"#.into(), 400),
        ("start", "POST", Some("application/json"), r#"{"run_id":"4","run_attempt":0}"#.into(), 400),
        ("start", "POST", Some("application/json"), r#"{"run_id":"4","extra":true}"#.into(), 400),
        ("start", "POST", Some("application/json"), "{".into(), 400),
        ("start", "POST", Some("text/plain"), r#"{"run_id":"4"}"#.into(), 415),
        ("start", "GET", None, String::new(), 405),
        ("complete", "POST", Some("application/json"), r#"{"status":"succeeded","run_id":"abc"}"#.into(), 400),
        ("cancel", "POST", Some("application/json"), format!(r#"{{"reason":"{}"}}"#, "r".repeat(257)), 400),
        ("cancel", "POST", Some("application/json"), r#"{"why":"x"}"#.into(), 400),
        ("cancel", "PUT", None, String::new(), 405),
        ("retry", "POST", Some("application/json"), r#"{"x":1}"#.into(), 400),
        ("retry", "DELETE", None, String::new(), 405),
    ];
    for (action, method, ct, body, status) in &cases {
        let r = w.send(method, &format!("/internal/provision-jobs/{id}/{action}"), Some(&auth), *ct, Some(body.clone().into_bytes()));
        assert_eq!(r.status, *status, "{method} {action} {body}: {}", r.text);
        assert!(r.json()["error"]["code"].is_string(), "{}", r.text);
    }
    for action in ["start", "cancel", "retry"] {
        let body = if action == "start" { json!({"run_id": "1"}) } else { json!({}) };
        let r = w.post(&format!("/internal/provision-jobs/00000000-0000-4000-8000-000000000000/{action}"), &body);
        assert_eq!(r.status, 404, "{action}: {}", r.text);
        let r = w.post(&format!("/internal/provision-jobs/no.such.job/{action}"), &json!({}));
        assert!(r.status == 404 || r.status == 400, "{action}: {}", r.text);
    }
    let r = w.send("POST", &format!("/internal/provision-jobs/{id}/cancel"), None, None, None);
    assert_eq!(r.status, 401);
    assert_eq!(w.get("/internal/provision-jobs?limit=1").status, 200);
    assert_eq!(before, w.dump(), "a refused request changed D1");
}
