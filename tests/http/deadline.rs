//! The dispatch budget is a deadline, not a retry count (SPEC Part 2, "Dispatch"): an outage
//! longer than the old budget (six deliveries) still ends `dispatched`; GitHub answering 500 for
//! ever ends `failed` with "not dispatched within"; a secondary rate limit (a 403 without
//! rate-limit headers) is retried. And the lost write: GitHub takes a dispatch, the Worker dies
//! before it records it, a new Worker on the same state lets the run take the job with `/start`,
//! `/complete` succeeds, and no second dispatch follows after the lease and a sweep.

use crate::fake_github::{self, Answer, Gate};
use crate::harness::Worker;
use crate::support::{self, eventually, job, now_ms};
use crate::Suite;
use serde_json::{json, Value};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `DISPATCH_DEADLINE_SECONDS` here: the outage case needs eight failures at 1-2 s within it, also on a busy machine.
const DEADLINE_S: u64 = 90;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "deadline",
        vars: vars(),
        cases: vec![
            ("an_outage_longer_than_the_old_budget_ends_dispatched_and_always_500_fails_at_the_deadline", outage_and_deadline),
            ("a_secondary_rate_limit_403_is_retried", secondary_rate_limit),
            ("a_dispatch_whose_write_was_lost_is_owned_by_its_run_and_never_sent_twice", lost_write),
        ],
    }]
}

fn vars() -> Vec<(&'static str, String)> {
    let mut vars: Vec<(&'static str, String)> = github().worker_vars().into_iter().filter(|(k, _)| !k.starts_with("DISPATCH_RETRY_")).collect();
    vars.push(("DISPATCH_RETRY_BASE_SECONDS", "1".into()));
    vars.push(("DISPATCH_RETRY_MAX_SECONDS", "2".into()));
    vars.push(("DISPATCH_DEADLINE_SECONDS", DEADLINE_S.to_string()));
    vars
}

crate::fake_github::suite_github!(script);

/// The gate the lost-write case holds the dispatch answer with.
fn gate() -> &'static Mutex<Gate> {
    static GATE: OnceLock<Mutex<Gate>> = OnceLock::new();
    GATE.get_or_init(|| Mutex::new(Gate::default()))
}

fn script(tenant: &str, nth: usize) -> Answer {
    let e500 = || Answer::status(500).json(json!({"message": "Server Error"}));
    match tenant {
        // Eight failures: two more than the six deliveries the queue's retry count used to allow.
        "t-outage" if nth < 8 => e500(),
        "t-always500" => e500(),
        "t-secondary" if nth == 0 => {
            Answer::status(403).json(json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}))
        }
        "t-lost" => Answer::ok().held(&gate().lock().unwrap()),
        _ => Answer::ok(),
    }
}

fn accepted(w: &Worker, tenant: &str) -> String {
    let r = support::enqueue(&support::client(Duration::from_secs(30)), &w.base, tenant, &json!({"subdomain_slug": tenant.trim_start_matches("t-")}), None)
        .unwrap_or_else(|e| panic!("enqueue {tenant}: {e}"));
    assert_eq!(r.status, 202, "{tenant}: {}", r.text);
    r.json()["job_id"].as_str().unwrap().to_string()
}

fn settled(w: &Worker, job_id: &str, within: Duration) -> Value {
    eventually(&format!("job {job_id} to leave pending"), within, || {
        let j = job(w, job_id);
        if j["status"] == "pending" {
            Err(j.to_string())
        } else {
            Ok(j)
        }
    })
}

fn retries(j: &Value) -> Vec<Value> {
    j["events"].as_array().unwrap().iter().filter(|e| e["event"] == "job.dispatch_retry").cloned().collect()
}

fn outage_and_deadline(w: &mut Worker) {
    let started = Instant::now();
    let outage = accepted(w, "t-outage");
    let doomed = accepted(w, "t-always500");
    let created = now_ms();

    let j = settled(w, &outage, Duration::from_secs(DEADLINE_S + 30));
    let requests = github().for_job(&outage);
    let what = format!("{j}\n{:?}", fake_github::statuses(&requests));
    assert_eq!(j["status"], "dispatched", "{what}");
    assert_eq!((requests.len(), j["attempts"].as_u64().unwrap()), (9, 9), "{what}");
    assert_eq!(retries(&j).len(), 8, "{what}");
    assert_eq!(fake_github::count_2xx(&requests), 1);

    let j = settled(w, &doomed, Duration::from_secs(DEADLINE_S + 60));
    let requests = github().for_job(&doomed);
    let what = format!("{j}\n{:?}", fake_github::statuses(&requests));
    assert_eq!(j["status"], "failed", "{what}");
    let error = j["last_error"].as_str().unwrap_or_default();
    assert!(error.starts_with(&format!("not dispatched within {DEADLINE_S} s: github 500")), "{what}");
    assert!(requests.len() > 6, "more attempts than the old six deliveries: {what}");
    assert_eq!(requests.len() as u64, j["attempts"].as_u64().unwrap(), "{what}");
    assert_eq!(fake_github::count_2xx(&requests), 0);
    // It was failed no earlier than its next retry would have passed the deadline, and no
    // request was sent after the deadline.
    let failed_at = crate::support::now_ms();
    assert!(failed_at - created >= (DEADLINE_S as i64 - 3) * 1000, "failed after only {} ms: {what}", failed_at - created);
    let last = requests.last().unwrap().answered_at;
    assert!(last.duration_since(started) <= Duration::from_secs(DEADLINE_S + 5), "a request after the deadline: {what}");
    assert_eq!(j["events"].as_array().unwrap().last().unwrap()["event"], "job.failed");
}

fn secondary_rate_limit(w: &mut Worker) {
    let id = accepted(w, "t-secondary");
    let j = settled(w, &id, Duration::from_secs(60));
    let requests = github().for_job(&id);
    assert_eq!(j["status"], "dispatched", "{j}");
    assert_eq!(fake_github::statuses(&requests), [403, 204]);
    let r = retries(&j);
    assert_eq!(r.len(), 1, "{j}");
    // The 60 s floor of a rate limit, capped by this suite's DISPATCH_RETRY_MAX_SECONDS.
    assert_eq!(r[0]["detail"]["delay_seconds"], 2, "{j}");
    assert!(r[0]["detail"]["error"].as_str().unwrap().contains("secondary rate limit"), "{j}");
}

fn lost_write(w: &mut Worker) {
    *gate().lock().unwrap() = Gate::default();
    let id = accepted(w, "t-lost");
    // GitHub has the dispatch (and creates its run); its answer is held.
    eventually("the dispatch to reach GitHub", Duration::from_secs(60), || if github().for_job(&id).is_empty() { Err("not yet".into()) } else { Ok(()) });
    w.stop();
    gate().lock().unwrap().release();
    let pending = w.sql(&format!("SELECT status, attempts, dispatched_at FROM provision_jobs WHERE job_id = '{id}'"));
    assert_eq!(pending, vec![vec![json!("pending"), json!(1), Value::Null]], "the Worker recorded the dispatch before it was stopped");
    w.restart(&vars().iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());

    // The run's first step, as start-job.sh sends it.
    let r = w.post(&format!("/internal/provision-jobs/{id}/start"), &json!({"run_id": "424242", "run_attempt": 1}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["status"].clone(), r.json()["workflow_run_id"].clone()), (json!("running"), json!("424242")));
    let r = w.post(&format!("/internal/provision-jobs/{id}/complete"), &json!({"status": "succeeded", "run_id": "424242"}));
    assert_eq!((r.status, r.json()["status"].clone()), (200, json!("succeeded")), "{}", r.text);

    // After the lease (pushed into the past, as if a minute went by) and a scheduled sweep,
    // nothing is dispatched again.
    w.sql(&format!("UPDATE provision_jobs SET lease_until = {0}, next_attempt_at = {0} WHERE job_id = '{id}'", now_ms() - 600_000));
    assert_eq!(w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None).status, 200);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(github().for_job(&id).len(), 1, "a second dispatch: {:?}", fake_github::statuses(&github().for_job(&id)));
    assert_eq!(job(w, &id)["status"], "succeeded");
}
