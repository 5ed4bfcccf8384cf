//! The provisioning pipeline end to end: enqueue → the `provision_jobs` row (the outbox) → the
//! local Queue → the consumer → GitHub's `workflow_dispatch` → the workflow's completion callback;
//! retries, idempotency, reservations and the scheduled outbox sweep (the deadline that ends a job
//! GitHub never takes is the deadline suite's).
//!
//! GitHub is the fake of fake_github.rs, answering each dispatch by the job's tenant id (see
//! `script`), so a case can count exactly what the Worker sent.

use crate::fake_github::{self, Answer, Request};
use crate::foundation::push;
use crate::harness::{Resp, Worker, KEY};
use crate::support::{self, eventually, job, now_ms, JobRow};
use crate::Suite;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How long a job may take to settle.
const SETTLE: Duration = Duration::from_secs(40);
/// The most requests any job of this suite's scripts needs is 3; a job that got more than the
/// old six deliveries would be a runaway retry. (A job that is never dispatched is retried until
/// its deadline, not for a number of deliveries: the deadline suite's always-500 case.)
const MOST_REQUESTS: usize = 6;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "pipeline",
        vars: github().worker_vars(),
        cases: vec![
            ("happy_path_dispatches_once_and_completes", happy_path_dispatches_once_and_completes),
            ("new_server_placements_send_an_empty_target", new_server_placements_send_an_empty_target),
            ("github_answers_drive_retries_and_failures", github_answers_drive_retries_and_failures),
            ("idempotency_key_replays_and_conflicts", idempotency_key_replays_and_conflicts),
            ("ten_concurrent_enqueues_with_one_key_make_one_job", ten_concurrent_enqueues_with_one_key_make_one_job),
            ("reservations_send_the_next_tenant_to_a_new_server", reservations_send_the_next_tenant_to_a_new_server),
            ("scheduled_handler_resends_the_outbox_and_prunes_snapshots", scheduled_handler_resends_the_outbox_and_prunes_snapshots),
            ("bad_input_is_refused_and_changes_nothing", bad_input_is_refused_and_changes_nothing),
            // Last: looks back over every job the cases above created.
            ("every_job_is_dispatched_at_most_once", every_job_is_dispatched_at_most_once),
        ],
    }]
}

crate::fake_github::suite_github!(script);

/// By tenant id: the answers to a job's 1st, 2nd, ... dispatch; the last one repeats. Other
/// tenants get 204.
fn script(tenant: &str, nth: usize) -> Answer {
    let answers = match tenant {
        "t-500x2" => vec![Answer::error(500, "Server Error"), Answer::error(500, "Server Error"), Answer::ok()],
        "t-429" => vec![Answer::error(429, "slow down").header("retry-after", "1"), Answer::ok()],
        "t-403rl" => vec![Answer::error(403, "API rate limit exceeded").header("x-ratelimit-remaining", "0").header("x-ratelimit-reset", "0"), Answer::ok()],
        "t-hangup" => vec![Answer::hang_up(), Answer::ok()],
        "t-403plain" => vec![Answer::error(403, "Resource not accessible by integration")],
        "t-422" => vec![Answer::status(422).json(json!({"message": "Unexpected inputs provided", "documentation_url": "https://docs.github.com"}))],
        "t-404" => vec![Answer::error(404, "Not Found")],
        _ => vec![Answer::ok()],
    };
    answers[nth.min(answers.len() - 1)].clone()
}

// ---- helpers ---------------------------------------------------------------------------------

/// A node with fresh metrics.
fn fresh_node(w: &Worker, id: &str, region: &str, tenants: u32) {
    let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.3.0.1"}));
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    push(w, json!({"node_id": id, "cpu_pct": 10, "memory_pct": 20, "disk_pct": 30, "tenant_count": tenants}));
}

/// `POST /internal/tenants/{tenant}/enqueue-provision`, with an `Idempotency-Key` when given.
fn enqueue(w: &Worker, tenant: &str, body: &Value, key: Option<&str>) -> Resp {
    support::enqueue(&support::client(Duration::from_secs(30)), &w.base, tenant, body, key).unwrap_or_else(|e| panic!("enqueue {tenant}: {e}"))
}

/// Enqueues and expects 202; returns the answer.
fn accepted(w: &Worker, tenant: &str, body: Value) -> Value {
    let r = enqueue(w, tenant, &body, None);
    assert_eq!(r.status, 202, "{tenant}: {}", r.text);
    r.json()
}

/// Waits until the job has left `pending`, and returns it.
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

fn event_names(job: &Value) -> Vec<String> {
    job["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_string()).collect()
}

fn complete(w: &Worker, job_id: &str, body: Value) -> Resp {
    w.post(&format!("/internal/provision-jobs/{job_id}/complete"), &body)
}

/// Checks one recorded dispatch against what the SPEC says GitHub must receive.
fn assert_dispatch_request(r: &Request, expected_inputs: &Value) {
    assert_eq!(r.problems(), Vec::<String>::new(), "{r:?}");
    assert_eq!(&r.body["inputs"], expected_inputs);
}

// ---- cases -----------------------------------------------------------------------------------

fn happy_path_dispatches_once_and_completes(w: &mut Worker) {
    fresh_node(w, "pipe-sg-1", "sg", 3);
    let answer = accepted(w, "t-happy", json!({"plan_tier": "basic", "region": "sg", "subdomain_slug": "happy"}));
    let job_id = answer["job_id"].as_str().unwrap().to_string();
    let trace_id = answer["trace_id"].as_str().unwrap().to_string();
    assert_eq!(answer["status"], "pending");
    assert!(trace_id.starts_with("trace_"), "{answer}");
    assert_eq!(
        answer["placement"],
        json!({"create_new_server": false, "target_server_id": "pipe-sg-1", "dedicated": false, "region": "sg", "plan_tier": "basic", "pulumi_stack": "sg"})
    );
    // The row mirrors the placement.
    let row = w.sql(&format!(
        "SELECT infra_mode, dedicated, region, target_server_id, pulumi_stack, trace_id, plan_tier, subdomain_slug, canonical_hostname \
         FROM provision_jobs WHERE job_id = '{job_id}'"
    ));
    assert_eq!(
        row,
        vec![vec![
            json!("use_existing"),
            Value::Null,
            json!("sg"),
            json!("pipe-sg-1"),
            json!("sg"),
            json!(trace_id),
            json!("basic"),
            json!("happy"),
            json!("happy.pregoi.com")
        ]]
    );

    let dispatched = settled(w, &job_id);
    assert_eq!((dispatched["status"].clone(), dispatched["attempts"].clone(), dispatched["last_error"].clone()), (json!("dispatched"), json!(1), Value::Null));
    assert!(dispatched["dispatched_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{dispatched}");
    let requests = github().for_job(&job_id);
    assert_eq!(requests.len(), 1, "{requests:?}");
    let expected = json!({
        "job_id": job_id, "tenant_id": "t-happy", "region": "sg", "create_new_server": "false", "target_server_id": "pipe-sg-1",
        "subdomain_slug": "happy", "canonical_hostname": "happy.pregoi.com", "dedicated": "false", "trace_id": trace_id,
    });
    assert_dispatch_request(&requests[0], &expected);

    // The workflow reports back; a repeat changes nothing; another final state is a conflict.
    let r = complete(w, &job_id, json!({"status": "succeeded", "node_id": "pipe-sg-1"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let done = r.json();
    assert_eq!((done["status"].clone(), done["node_id"].clone()), (json!("succeeded"), json!("pipe-sg-1")));
    assert!(done["completed_at"].is_string());
    let row = |w: &Worker| w.sql(&format!("SELECT * FROM provision_jobs WHERE job_id = '{job_id}'"));
    let (row_before, events_before) = (row(w), w.count("SELECT COUNT(*) FROM trace_events"));
    let again = complete(w, &job_id, json!({"status": "succeeded", "node_id": "pipe-sg-1"}));
    assert_eq!((again.status, again.json()), (200, done.clone()));
    let r = complete(w, &job_id, json!({"status": "failed", "error": "late"}));
    assert_eq!((r.status, r.code()), (409, "invalid_transition".to_string()), "{}", r.text);
    assert_eq!((row(w), w.count("SELECT COUNT(*) FROM trace_events")), (row_before, events_before), "a repeat or a refusal changed D1");

    // One timeline, in order, from both routes.
    let want = ["job.created", "job.enqueued", "job.dispatched", "job.succeeded"];
    assert_eq!(event_names(&job(w, &job_id)), want);
    let trace = w.get(&format!("/internal/trace-events?trace_id={trace_id}")).json();
    let names: Vec<&str> = trace["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(names, want);
    assert!(trace["events"].as_array().unwrap().iter().all(|e| e["job_id"] == job_id.as_str() && e["tenant_id"] == "t-happy"));

    // The request's and the queue message's log lines carry the job and trace ids; no token.
    let lines = w.log_lines();
    let has = |msg: &str| lines.iter().any(|l| l["msg"] == msg && l["job_id"] == job_id.as_str() && l["trace_id"] == trace_id.as_str());
    assert!(has("request") && has("queue_message"), "log lines without ids");
    assert!(!w.log_text().contains(fake_github::TOKEN), "the GitHub token reached the log");
}

fn new_server_placements_send_an_empty_target(w: &mut Worker) {
    fresh_node(w, "pipe-sg-1", "sg", 3);
    // Enterprise: a dedicated stack; a region without nodes: a shared new server.
    let cases = [
        (
            "t-dedicated",
            json!({"plan_tier": "enterprise", "region": "sg", "subdomain_slug": "big", "canonical_hostname": "Shop.Example.com", "trace_id": "trace_dedicated-1"}),
            "true",
            "dedicated-t-dedicated",
            Some(1),
        ),
        ("t-empty-us", json!({"tier": "free", "region": "us", "subdomain_slug": "small"}), "false", "us", None),
    ];
    for (tenant, body, dedicated, stack, dedicated_col) in cases {
        let answer = accepted(w, tenant, body.clone());
        let job_id = answer["job_id"].as_str().unwrap();
        assert_eq!((answer["placement"]["create_new_server"].clone(), answer["placement"]["target_server_id"].clone()), (json!(true), Value::Null), "{answer}");
        assert_eq!(answer["placement"]["pulumi_stack"], stack);
        let row = w.sql(&format!("SELECT infra_mode, dedicated, target_server_id, pulumi_stack FROM provision_jobs WHERE job_id = '{job_id}'"));
        assert_eq!(row[0], vec![json!("create_new_server"), json!(dedicated_col), Value::Null, json!(stack)]);
        assert_eq!(settled(w, job_id)["status"], "dispatched");
        let requests = github().for_job(job_id);
        assert_eq!(requests.len(), 1);
        let r = &requests[0];
        assert_eq!((r.input("create_new_server"), r.input("target_server_id"), r.input("dedicated")), ("true", "", dedicated));
        assert_eq!(r.input("region"), body["region"].as_str().unwrap());
        if tenant == "t-dedicated" {
            assert_eq!((r.input("trace_id"), r.input("canonical_hostname")), ("trace_dedicated-1", "shop.example.com"));
        }
    }
}

/// How fake GitHub's script for a tenant should end.
struct Outcome {
    tenant: &'static str,
    status: &'static str,
    /// Requests GitHub receives for the job (= the job's `attempts`).
    requests: usize,
    retries: usize,
    /// What `last_error` starts with, when it is set.
    last_error: Option<&'static str>,
}

fn github_answers_drive_retries_and_failures(w: &mut Worker) {
    let table = [
        Outcome { tenant: "t-500x2", status: "dispatched", requests: 3, retries: 2, last_error: None },
        Outcome { tenant: "t-429", status: "dispatched", requests: 2, retries: 1, last_error: None },
        Outcome { tenant: "t-403rl", status: "dispatched", requests: 2, retries: 1, last_error: None },
        Outcome { tenant: "t-hangup", status: "dispatched", requests: 2, retries: 1, last_error: None },
        Outcome { tenant: "t-403plain", status: "failed", requests: 1, retries: 0, last_error: Some("github 403: Resource not accessible") },
        Outcome { tenant: "t-422", status: "failed", requests: 1, retries: 0, last_error: Some("github 422: Unexpected inputs provided") },
        Outcome { tenant: "t-404", status: "failed", requests: 1, retries: 0, last_error: Some("github 404: Not Found") },
    ];
    // All at once, so the slow ones (the retries) wait together.
    let started = Instant::now();
    let jobs: Vec<String> = table
        .iter()
        .map(|o| accepted(w, o.tenant, json!({"region": "sg", "subdomain_slug": o.tenant.trim_start_matches("t-")}))["job_id"].as_str().unwrap().to_string())
        .collect();
    for (o, job_id) in table.iter().zip(&jobs) {
        let j = settled(w, job_id);
        let requests = github().for_job(job_id);
        let what = format!("{}: {j}\nrequests answered {:?}", o.tenant, fake_github::statuses(&requests));
        assert_eq!(j["status"], o.status, "{what}");
        assert_eq!((requests.len(), j["attempts"].as_u64().unwrap() as usize), (o.requests, o.requests), "{what}");
        match o.last_error {
            None => assert_eq!(j["last_error"], Value::Null, "{what}"),
            Some(prefix) => assert!(j["last_error"].as_str().is_some_and(|e| e.starts_with(prefix)), "{what}"),
        }
        let events = event_names(&j);
        assert_eq!(events.iter().filter(|e| *e == "job.dispatch_retry").count(), o.retries, "{what}");
        assert_eq!(events.last().map(String::as_str), Some(if o.status == "failed" { "job.failed" } else { "job.dispatched" }), "{what}");
        // Retries wait what GitHub asked for (retry-after, rate-limit reset) or the 1 s backoff.
        for e in j["events"].as_array().unwrap().iter().filter(|e| e["event"] == "job.dispatch_retry") {
            assert_eq!(e["detail"]["delay_seconds"], 1, "{e}");
        }
        assert!(requests.iter().all(|r| r.input("tenant_id") == o.tenant));
    }
    eprintln!("pipeline: every scripted job settled after {:.1}s", started.elapsed().as_secs_f64());
}

fn idempotency_key_replays_and_conflicts(w: &mut Worker) {
    let body = json!({"region": "sg", "subdomain_slug": "idem"});
    let first = enqueue(w, "t-idem", &body, Some("order-1001"));
    assert_eq!(first.status, 202, "{}", first.text);
    let first = first.json();
    let job_id = first["job_id"].as_str().unwrap().to_string();
    let again = enqueue(w, "t-idem", &body, Some("order-1001"));
    assert_eq!(again.status, 200, "{}", again.text);
    let again = again.json();
    for field in ["job_id", "trace_id", "placement"] {
        assert_eq!(again[field], first[field], "{field}");
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM provision_jobs WHERE tenant_id = 't-idem'"), 1);
    assert_eq!(settled(w, &job_id)["status"], "dispatched");
    // Later replays show the job as it is now, and still send nothing.
    let later = enqueue(w, "t-idem", &body, Some("order-1001"));
    assert_eq!((later.status, later.json()["job_id"].clone(), later.json()["status"].clone()), (200, json!(job_id), json!("dispatched")));

    let before = w.dump();
    let r = enqueue(w, "t-other", &json!({"region": "sg", "subdomain_slug": "other"}), Some("order-1001"));
    assert_eq!((r.status, r.code(), r.json()["error"]["field"].clone()), (422, "idempotency_key_reused".into(), json!("Idempotency-Key")), "{}", r.text);
    for key in [None, Some("order-1002")] {
        let r = enqueue(w, "t-idem", &body, key);
        assert_eq!((r.status, r.code()), (409, "active_job_exists".to_string()), "{key:?}: {}", r.text);
        assert!(r.json()["error"]["message"].as_str().unwrap().contains(&job_id), "the conflict names the job: {}", r.text);
    }
    assert_eq!(before, w.dump(), "a refused enqueue changed D1");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(github().for_job(&job_id).len(), 1, "one dispatch for the key");
}

fn ten_concurrent_enqueues_with_one_key_make_one_job(w: &mut Worker) {
    let body = json!({"region": "sg", "subdomain_slug": "burst"});
    let w = &*w;
    let answers: Vec<Resp> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10).map(|_| s.spawn(|| enqueue(w, "t-burst", &body, Some("burst-key")))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200 || *s == 202), "{statuses:?}: {:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1, "{statuses:?}");
    let ids: BTreeSet<String> = answers.iter().map(|r| r.json()["job_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let job_id = ids.into_iter().next().unwrap();
    assert_eq!(w.count("SELECT COUNT(*) FROM provision_jobs WHERE tenant_id = 't-burst'"), 1);
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE job_id = '{job_id}' AND event = 'job.created'")), 1);
    assert_eq!(settled(w, &job_id)["status"], "dispatched");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(github().for_job(&job_id).len(), 1);
}

fn reservations_send_the_next_tenant_to_a_new_server(w: &mut Worker) {
    let max: u32 = 40; // PLACEMENT_MAX_TENANTS_PER_NODE's default
    fresh_node(w, "pipe-eu-1", "eu", max - 1);
    let a = accepted(w, "t-res-a", json!({"region": "eu", "subdomain_slug": "res-a"}));
    let b = accepted(w, "t-res-b", json!({"region": "eu", "subdomain_slug": "res-b"}));
    assert_eq!((a["placement"]["create_new_server"].clone(), a["placement"]["target_server_id"].clone()), (json!(false), json!("pipe-eu-1")));
    assert_eq!((b["placement"]["create_new_server"].clone(), b["placement"]["target_server_id"].clone()), (json!(true), Value::Null));
    let b_job = job(w, b["job_id"].as_str().unwrap());
    let created = b_job["events"].as_array().unwrap().iter().find(|e| e["event"] == "job.created").unwrap();
    assert_eq!(created["detail"]["decision_reason"], "no_eligible_node", "{created}");
    assert_eq!(created["detail"]["placement"]["create_new_server"], true);
    let preview = w.post("/internal/placement/compute", &json!({"region": "eu"})).json();
    let c = &preview["candidates"][0];
    assert_eq!((c["reserved"].clone(), c["effective_tenants"].clone(), c["reasons"].clone()), (json!(1), json!(max), json!(["tenant_capacity_reached"])));

    // a's tenant is live and counted by the next push: one place again. Four tenants race for it.
    let a_id = a["job_id"].as_str().unwrap();
    assert_eq!(settled(w, a_id)["status"], "dispatched");
    assert_eq!(complete(w, a_id, json!({"status": "succeeded", "node_id": "pipe-eu-1"})).status, 200);
    std::thread::sleep(Duration::from_millis(20));
    push(w, json!({"node_id": "pipe-eu-1", "memory_pct": 20, "tenant_count": max - 1}));
    let w = &*w;
    let placements: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = ["c", "d", "e", "f"]
            .iter()
            .map(|t| s.spawn(move || accepted(w, &format!("t-res-{t}"), json!({"region": "eu", "subdomain_slug": format!("res-{t}")}))["placement"].clone()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let on_node = placements.iter().filter(|p| p["target_server_id"] == "pipe-eu-1").count();
    assert_eq!(on_node, 1, "exactly one tenant takes the last place: {placements:?}");
    assert_eq!(placements.iter().filter(|p| p["create_new_server"] == true).count(), 3);
}

fn scheduled_handler_resends_the_outbox_and_prunes_snapshots(w: &mut Worker) {
    fresh_node(w, "pipe-sg-1", "sg", 3);
    let r = w.post("/internal/nodes", &json!({"node_id": "pipe-sg-silent", "region": "sg", "host": "10.3.0.9"}));
    assert_eq!(r.status, 201, "{}", r.text);
    // Jobs whose queue send failed 3 minutes and 1 minute ago: only their rows exist.
    let now = now_ms();
    outbox_row(w, "outbox-1", now - 3 * 60 * 1000);
    outbox_row(w, "outbox-2", now - 60 * 1000);
    // A pending job cannot be completed.
    let r = complete(w, "outbox-1", json!({"status": "succeeded"}));
    assert_eq!((r.status, r.code()), (409, "invalid_transition".to_string()), "{}", r.text);
    let day = 86_400_000i64;
    w.sql(&format!(
        "INSERT INTO server_metrics_snapshots (node_id, cpu_pct, memory_pct, disk_pct, tenant_count, source, created_at) VALUES \
         ('pipe-sg-1', 1, 1, 1, 1, 'node_push', {}), ('pipe-sg-1', 2, 2, 2, 2, 'node_push', {})",
        now - 31 * day,
        now - 29 * day
    ));

    let r = w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None);
    assert_eq!(r.status, 200, "{}", r.text);

    let j = settled(w, "outbox-1");
    assert_eq!((j["status"].clone(), j["attempts"].clone(), j["last_error"].clone()), (json!("dispatched"), json!(1), Value::Null));
    assert_eq!(event_names(&j), ["job.enqueued", "job.dispatched"]);
    assert_eq!(j["events"][0]["detail"]["by"], "outbox_sweep");
    let requests = github().for_job("outbox-1");
    assert_eq!(requests.len(), 1);
    let expected = json!({
        "job_id": "outbox-1", "tenant_id": "t-outbox-1", "region": "sg", "create_new_server": "true", "target_server_id": "",
        "subdomain_slug": "outbox-1", "canonical_hostname": "outbox-1.pregoi.com", "dedicated": "false", "trace_id": "trace_outbox-1",
    });
    assert_dispatch_request(&requests[0], &expected);
    // The 1-minute-old one is not overdue yet: untouched until a later run finds it overdue.
    let two = job(w, "outbox-2");
    assert_eq!((two["status"].clone(), two["attempts"].clone(), github().for_job("outbox-2").len()), (json!("pending"), json!(0), 0), "{two}");

    let left = w.sql("SELECT tenant_count FROM server_metrics_snapshots WHERE node_id = 'pipe-sg-1' AND source = 'node_push' AND cpu_pct IN (1, 2)");
    assert_eq!(left, vec![vec![json!(2)]], "only the snapshot older than 30 days goes");

    let line =
        eventually("the scheduled log line", SETTLE, || w.log_lines().into_iter().rfind(|l| l["msg"] == "scheduled").ok_or_else(|| "no line yet".to_string()));
    let stale: Vec<&str> = line["stale_nodes"].as_array().unwrap_or_else(|| panic!("{line}")).iter().map(|v| v.as_str().unwrap()).collect();
    assert!(stale.contains(&"pipe-sg-silent"), "{line}");
    assert!(!stale.contains(&"pipe-sg-1"), "{line}");
    assert_eq!((line["overdue_jobs"].clone(), line["resent_jobs"].clone(), line["snapshots_pruned"].clone()), (json!(1), json!(1), json!(1)), "{line}");

    w.sql(&format!("UPDATE provision_jobs SET next_attempt_at = {} WHERE job_id = 'outbox-2'", now - 3 * 60 * 1000));
    assert_eq!(w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None).status, 200);
    assert_eq!(settled(w, "outbox-2")["status"], "dispatched");
    assert_eq!(github().for_job("outbox-2").len(), 1);
}

/// A `pending` job row as the enqueue route writes it, last handed to the queue at `at`.
fn outbox_row(w: &Worker, job_id: &str, at: i64) {
    let tenant = format!("t-{job_id}");
    JobRow { last_error: Some("queue send failed: test"), next_attempt_at: at, created_at: at, ..JobRow::new(job_id, &tenant, job_id) }.insert(w);
}

fn bad_input_is_refused_and_changes_nothing(w: &mut Worker) {
    let ok = json!({"region": "sg", "subdomain_slug": "fine"});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let long_tenant = "t".repeat(129);
    let long_key = "k".repeat(129);
    let cases: Vec<(&str, Value, Option<&str>, &str)> = vec![
        ("bad%20tenant", ok.clone(), None, "tenant_id"),
        ("a%2Fb", ok.clone(), None, "tenant_id"),
        ("%C3%BCml", ok.clone(), None, "tenant_id"),
        ("---", ok.clone(), None, "tenant_id"),
        (&long_tenant, ok.clone(), None, "tenant_id"),
        ("t-bad", with("subdomain_slug", json!("Bad_Slug")), None, "subdomain_slug"),
        ("t-bad", with("subdomain_slug", json!("-fine")), None, "subdomain_slug"),
        ("t-bad", with("subdomain_slug", json!("x".repeat(64))), None, "subdomain_slug"),
        ("t-bad", with("subdomain_slug", json!(7)), None, "subdomain_slug"),
        ("t-bad", json!({"region": "sg"}), None, "subdomain_slug"),
        ("t-bad", with("priority", json!(1)), None, "priority"),
        ("t-bad", with("plan_tier", json!("gold")), None, "plan_tier"),
        ("t-bad", with("region", json!("ap")), None, "region"),
        ("t-bad", with("trace_id", json!("abc")), None, "trace_id"),
        ("t-bad", with("canonical_hostname", json!("localhost")), None, "canonical_hostname"),
        ("t-bad", ok.clone(), Some(""), "Idempotency-Key"),
        ("t-bad", ok.clone(), Some(&long_key), "Idempotency-Key"),
        ("t-bad", ok.clone(), Some("tab\there"), "Idempotency-Key"),
    ];
    let before = w.dump();
    let requests_before = github().requests().len();
    for (tenant, body, key, field) in &cases {
        let r = enqueue(w, tenant, body, *key);
        assert_eq!(r.status, 400, "{tenant} {body} {key:?}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], *field, "{tenant} {body} {key:?}: {}", r.text);
    }
    let auth = format!("Bearer {KEY}");
    let raw = w.send("POST", "/internal/tenants/t-bad/enqueue-provision", Some(&auth), Some("application/json"), Some(b"{".to_vec()));
    assert_eq!((raw.status, raw.code()), (400, "invalid_json".to_string()));
    let text = w.send("POST", "/internal/tenants/t-bad/enqueue-provision", Some(&auth), Some("text/plain"), Some(ok.to_string().into_bytes()));
    assert_eq!(text.status, 415);

    // Unknown jobs, and completions that are malformed.
    for path in ["/internal/provision-jobs/00000000-0000-0000-0000-000000000000", "/internal/provision-jobs/no.such.job", "/internal/provision-jobs/%00"] {
        let r = w.get(path);
        assert!(r.status == 404 || r.status == 400, "{path}: {}", r.text);
    }
    let r = complete(w, "00000000-0000-0000-0000-000000000000", json!({"status": "succeeded"}));
    assert_eq!(r.status, 404, "{}", r.text);
    let some_job = w.sql("SELECT job_id FROM provision_jobs WHERE status = 'dispatched' LIMIT 1")[0][0].as_str().unwrap().to_string();
    for (body, field) in [
        (json!({"status": "dispatched"}), "status"),
        (json!({"status": "done"}), "status"),
        (json!({}), "status"),
        (json!({"status": "succeeded", "extra": 1}), "extra"),
        (json!({"status": "succeeded", "node_id": "a b"}), "node_id"),
        (json!({"status": "failed", "error": "e".repeat(2001)}), "error"),
    ] {
        let r = complete(w, &some_job, body.clone());
        assert_eq!((r.status, r.json()["error"]["field"].clone()), (400, json!(field)), "{body}: {}", r.text);
    }
    assert_eq!(before, w.dump(), "a refused request changed D1");
    assert_eq!(github().requests().len(), requests_before, "a refused request reached GitHub");
}

fn every_job_is_dispatched_at_most_once(w: &mut Worker) {
    eventually("no pending job", SETTLE, || {
        let pending = w.sql("SELECT job_id FROM provision_jobs WHERE status = 'pending'");
        if pending.is_empty() {
            Ok(())
        } else {
            Err(format!("{pending:?}"))
        }
    });
    // Let any stray redelivery arrive before counting.
    std::thread::sleep(Duration::from_millis(2000));
    let jobs = w.sql("SELECT job_id, status, attempts, dispatched_at FROM provision_jobs ORDER BY created_at");
    assert!(jobs.len() >= 15, "the cases above made their jobs: {}", jobs.len());
    let mut seen = BTreeSet::new();
    for row in &jobs {
        let (job_id, status, attempts) = (row[0].as_str().unwrap(), row[1].as_str().unwrap(), row[2].as_u64().unwrap() as usize);
        let requests = github().for_job(job_id);
        let ok = fake_github::count_2xx(&requests);
        let want_ok = match status {
            "dispatched" | "succeeded" => 1,
            // Failed by the consumer (never dispatched) or by the workflow (dispatched once).
            "failed" => usize::from(!row[3].is_null()),
            other => panic!("job {job_id} ended {other}"),
        };
        assert_eq!(ok, want_ok, "{job_id} ({status}): answered {:?}", fake_github::statuses(&requests));
        assert!(requests.iter().rposition(Request::is_2xx).is_none_or(|i| i == requests.len() - 1), "{job_id}: a request after the dispatch");
        assert_eq!(requests.len(), attempts, "{job_id}: every attempt is one request");
        assert!(requests.len() <= MOST_REQUESTS, "{job_id}: more requests than any script needs");
        seen.insert(job_id.to_string());
    }
    let unknown: Vec<String> = github().requests().iter().map(|r| r.job_id().to_string()).filter(|id| !seen.contains(id)).collect();
    assert!(unknown.is_empty(), "dispatches for jobs not in D1: {unknown:?}");
}
