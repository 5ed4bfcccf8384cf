//! The operator's page (`/ui`) in headless Debian chromium: the Worker is seeded over HTTP, then
//! `tests/ui/run.mjs` (playwright-core) drives the page and reports what it showed as JSON, and
//! the cases here assert on that. Screenshots (1280x800) go to `target/ui-screenshots/`.
//!
//! The job list, cancel and retry cases need routes that arrive with the operator routes (SPEC
//! Part 2): they form the suite `ui_jobs`, which runs when the route table has those routes. Until
//! then, `ui::without_the_job_list_route_the_page_says_so` checks the page's answer to their
//! absence.

use crate::foundation::{push, register};
use crate::harness::{repo, Worker, KEY};
use crate::support::{now_ms, JobRow};
use crate::Suite;
use cp_core::routes::ROUTES;
use serde_json::{json, Value};
use std::process::Command;

/// A node label and an event detail an attacker could have written: shown as text, it runs nothing.
const HOSTILE: &str = r#"<img src=x onerror="window.__xss=1;alert(1)">"#;

fn has_route(method: &str, pattern: &str) -> bool {
    ROUTES.contains(&(method, pattern))
}

/// Whether the operator routes the `ui_jobs` cases drive are in this build's route table.
fn operator_routes() -> bool {
    has_route("GET", "/internal/provision-jobs")
        && has_route("POST", "/internal/provision-jobs/{job_id}/cancel")
        && has_route("POST", "/internal/provision-jobs/{job_id}/retry")
}

pub fn suites() -> Vec<Suite> {
    let mut page_cases: Vec<crate::Case> = vec![
        ("page_is_open_with_a_strict_policy_and_no_inline_code", page_is_open_with_a_strict_policy_and_no_inline_code),
        ("the_key_opens_the_default_region_with_a_stale_node_marked", the_key_opens_the_default_region_with_a_stale_node_marked),
        ("a_thousand_nodes_are_paged_and_filtered", a_thousand_nodes_are_paged_and_filtered),
        ("a_preview_shows_the_chosen_node_and_a_refused_nodes_reasons", a_preview_shows_the_chosen_node_and_a_refused_nodes_reasons),
        ("a_jobs_timeline_opens_by_id_with_details_as_text", a_jobs_timeline_opens_by_id_with_details_as_text),
        ("a_wrong_key_shows_the_401_as_a_message", a_wrong_key_shows_the_401_as_a_message),
    ];
    if !has_route("GET", "/internal/provision-jobs") {
        page_cases.push(("without_the_job_list_route_the_page_says_so", without_the_job_list_route_the_page_says_so));
    }
    let mut suites = vec![Suite { name: "ui", vars: vec![("DEFAULT_REGION", "eu".into())], cases: page_cases }];
    if operator_routes() {
        suites.push(Suite {
            name: "ui_jobs",
            vars: vec![("DEFAULT_REGION", "eu".into())],
            cases: vec![
                ("the_job_list_filters_by_status", the_job_list_filters_by_status),
                ("cancel_changes_the_jobs_status", cancel_changes_the_jobs_status),
                ("retry_opens_the_new_job", retry_opens_the_new_job),
            ],
        });
    } else {
        eprintln!("ui: the suite ui_jobs (job list, cancel, retry in the browser) waits for the operator routes in the route table");
    }
    suites
}

/// Runs one scenario of `tests/ui/run.mjs` against `w` and returns its report, which must be ok.
fn browse(w: &Worker, scenario: &str, args: Value) -> Value {
    let shots = repo().join("target/ui-screenshots");
    let out = Command::new("node")
        .env("PATH", format!("{}/node_modules/.bin:{}", repo().display(), std::env::var("PATH").unwrap_or_default()))
        .arg(repo().join("tests/ui/run.mjs"))
        .args([&w.base, scenario, &args.to_string()])
        .arg(&shots)
        .current_dir(repo())
        .output()
        .expect("node (installed by scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from run.mjs {scenario}:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(report["ok"], true, "{scenario} failed in the browser: {report:#}");
    // Whatever the scenario: nothing ran from data, nothing left this origin, the policy held.
    assert_eq!(report["dialogs"], json!([]), "{report:#}");
    assert_eq!(report["xss_global"], Value::Null, "{report:#}");
    assert_eq!(report["img_elements"], 0, "{report:#}");
    assert_eq!(report["foreign_requests"], json!([]), "{report:#}");
    assert_eq!(report["csp_violations"], json!([]), "{report:#}");
    assert_eq!(report["local_storage_keys"], json!([]), "the key must live in sessionStorage only: {report:#}");
    assert_png_1280x800(report["screenshot"].as_str().unwrap());
    report
}

fn assert_png_1280x800(path: &str) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{path} is not a PNG");
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (1280, 800), "{path} size");
}

fn header(r: &crate::harness::Resp, name: &str) -> String {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

fn page_is_open_with_a_strict_policy_and_no_inline_code(w: &mut Worker) {
    let page = w.send("GET", "/ui", None, None, None);
    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(header(&page, "content-type"), "text/html; charset=utf-8");
    let csp = header(&page, "content-security-policy");
    for directive in ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"] {
        assert!(csp.split(';').any(|d| d.trim() == directive), "CSP lacks {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains("http") && !csp.contains('*'), "{csp}");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    // The page opens on DEFAULT_REGION (eu here, not the first region) and lists every job status.
    assert!(page.text.contains(r#"data-default-region="eu""#), "{}", page.text);
    assert!(!page.text.contains("{{"), "an unfilled placeholder: {}", page.text);
    // No inline script or style, and nothing from another origin.
    let lower = page.text.to_ascii_lowercase();
    assert_eq!(lower.matches("<script").count(), lower.matches(r#"<script src="/ui/app.js""#).count(), "inline script");
    assert!(!lower.contains("<style") && !lower.contains(" style="), "inline style");
    let handler = lower.match_indices(" on").find(|(i, _)| {
        let rest = &lower[i + 3..];
        let name_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        name_len > 0 && rest[name_len..].trim_start().starts_with('=')
    });
    assert!(handler.is_none(), "an inline event handler at {handler:?}");
    assert!(!lower.contains("http://") && !lower.contains("https://") && !lower.contains("//cdn"), "a foreign asset");
    // The page holds no data: the same for everyone, and a key changes nothing.
    assert_eq!(w.get("/ui").text, page.text);

    let script = w.send("GET", "/ui/app.js", None, None, None);
    assert_eq!((script.status, header(&script, "content-type")), (200, "text/javascript; charset=utf-8".into()));
    for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
        assert!(!script.text.contains(sink), "app.js uses {sink}");
    }
    assert!(script.text.contains("sessionStorage") && !script.text.contains("localStorage"), "the key belongs in sessionStorage only");
    let style = w.send("GET", "/ui/app.css", None, None, None);
    assert_eq!((style.status, header(&style, "content-type")), (200, "text/css; charset=utf-8".into()));
    assert!(!style.text.contains("url(") && !style.text.contains("@import"), "the style sheet loads nothing");
    assert_eq!(w.send("POST", "/ui", None, None, None).status, 405);
    assert_eq!(w.send("GET", "/ui/other.js", None, None, None).status, 404);
}

/// eu (the default region): fresh, stale, never pushed, and a node with a hostile label; one sg
/// node that must not show; a pending job on eu-fresh (one reserved place).
fn seed_eu(w: &Worker) {
    if w.get("/internal/nodes/ui-eu-fresh").status == 200 {
        return;
    }
    for (id, region) in [("ui-eu-fresh", "eu"), ("ui-eu-stale", "eu"), ("ui-eu-never", "eu"), ("ui-eu-label", "eu"), ("ui-sg-other", "sg")] {
        register(w, id, region);
    }
    let r = w.post("/internal/nodes", &json!({"node_id": "ui-eu-label", "region": "eu", "host": "10.1.0.9", "labels": {"note": HOSTILE}}));
    assert_eq!(r.status, 200, "{}", r.text);
    for (id, memory) in [("ui-eu-fresh", 41.0), ("ui-eu-stale", 30.0), ("ui-eu-label", 95.0), ("ui-sg-other", 10.0)] {
        push(w, json!({"node_id": id, "cpu_pct": 12.5, "memory_pct": memory, "disk_pct": 30, "tenant_count": 7}));
    }
    w.sql("UPDATE server_metrics SET updated_at = updated_at - 700000 WHERE node_id = 'ui-eu-stale'");
    let mut job = JobRow::new("ui-job-reserving", "ui-tenant-r", "ui-r");
    job.region = "eu";
    job.stack = "eu";
    job.target = Some("ui-eu-fresh");
    job.insert(w);
}

fn row<'a>(report: &'a Value, node_id: &str) -> &'a Value {
    report["rows"].as_array().unwrap().iter().find(|r| r["node_id"] == node_id).unwrap_or_else(|| panic!("no row {node_id}: {report:#}"))
}

fn the_key_opens_the_default_region_with_a_stale_node_marked(w: &mut Worker) {
    seed_eu(w);
    let report = browse(w, "fleet", json!({"key": KEY}));
    assert_eq!(report["current_region"], "eu", "{report:#}");
    let ids: Vec<&str> = report["rows"].as_array().unwrap().iter().map(|r| r["node_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["ui-eu-fresh", "ui-eu-label", "ui-eu-never", "ui-eu-stale"], "only eu, in node order");
    assert_eq!(report["summary"], "4 nodes · 2 stale · 0 draining");
    let stale = row(&report, "ui-eu-stale");
    assert_eq!((stale["stale"].clone(), stale["stale_badge"].clone()), (json!(true), json!("stale")), "{stale:#}");
    assert!(stale["cells"][2].as_str().unwrap().starts_with("11 min"), "{stale:#}");
    let never = row(&report, "ui-eu-never");
    assert_eq!((never["stale"].clone(), never["cells"][2].clone()), (json!(true), json!("no metrics stale")), "{never:#}");
    let fresh = row(&report, "ui-eu-fresh");
    assert_eq!((fresh["stale"].clone(), fresh["stale_badge"].clone()), (json!(false), Value::Null), "{fresh:#}");
    // node, status, age, cpu, memory, disk, tenants, reserved.
    let cells: Vec<&str> = fresh["cells"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!((cells[0], cells[1], cells[3], cells[4], cells[5], cells[6], cells[7]), ("ui-eu-fresh", "active", "12.5", "41.0", "30.0", "7", "1"));
    // The hostile label is shown literally and ran nothing (checked for every scenario in `browse`).
    assert_eq!(row(&report, "ui-eu-label")["labels"], json!([format!("note={HOSTILE}")]));
    assert_eq!(report["stored_key"], KEY);
    assert_eq!(report["message"], Value::Null, "{report:#}");
}

fn a_thousand_nodes_are_paged_and_filtered(w: &mut Worker) {
    let http = crate::support::client(std::time::Duration::from_secs(60));
    std::thread::scope(|scope| {
        for t in 0..10 {
            let (http, base) = (&http, &w.base);
            scope.spawn(move || {
                for i in (t * 100)..(t * 100 + 100) {
                    let body = json!({"node_id": format!("ui-us-{i:04}"), "region": "us", "host": "10.2.0.1"});
                    let r = crate::support::post_json(http, base, "/internal/nodes", &body).unwrap();
                    assert_eq!(r.status, 201, "{}", r.text);
                }
            });
        }
    });
    let report = browse(w, "fleet", json!({"key": KEY, "region": "us", "shot_suffix": "-1000"}));
    assert_eq!(report["current_region"], "us");
    assert_eq!(report["rows"].as_array().unwrap().len(), 50, "one page of 50 rows, not 1,000");
    assert_eq!(report["pager"], "page 1 of 20 (1000 rows)");
    assert_eq!(row(&report, "ui-us-0000")["stale"], true);
    let report = browse(w, "fleet", json!({"key": KEY, "region": "us", "filter": "ui-us-012", "expect_rows_after_filter": 10, "shot_suffix": "-filtered"}));
    let ids: Vec<&str> = report["rows"].as_array().unwrap().iter().map(|r| r["node_id"].as_str().unwrap()).collect();
    assert_eq!(ids, (120..130).map(|i| format!("ui-us-{i:04}")).collect::<Vec<_>>());
    assert_eq!(report["pager"], "page 1 of 1 (10 rows)");
}

fn a_preview_shows_the_chosen_node_and_a_refused_nodes_reasons(w: &mut Worker) {
    seed_eu(w);
    let request = json!({"plan_tier": "professional", "region": "eu", "tenant_id": "ui-acme"});
    let api = w.post("/internal/placement/compute", &request).json();
    let report = browse(w, "preview", json!({"key": KEY, "tier": "professional", "region": "eu", "tenant": "ui-acme"}));
    assert_eq!(report["decision"], "least_loaded_eligible_node", "{report:#}");
    assert_eq!(report["node"], "ui-eu-fresh");
    assert_eq!(api["selected_node_id"], "ui-eu-fresh");
    assert_eq!(report["stack"], "eu");
    // The hold as the API gives it: null is "none"; a Worker without holds says so.
    let hold = match api.get("hold") {
        None => "not reported by this Worker".to_string(),
        Some(Value::Null) => "none".to_string(),
        Some(h) => format!("{}: {}", h["code"].as_str().unwrap(), h["message"].as_str().unwrap()),
    };
    assert_eq!(report["hold"], hold);
    let shown: Vec<(String, String, String)> = report["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["node_id"].as_str().unwrap().into(), c["eligible"].as_str().unwrap().into(), c["reasons"].as_str().unwrap().into()))
        .collect();
    let expected: Vec<(String, String, String)> = api["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let reasons: Vec<&str> = c["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            (c["node_id"].as_str().unwrap().into(), if c["eligible"] == true { "yes" } else { "no" }.into(), reasons.join(", "))
        })
        .collect();
    assert_eq!(shown, expected);
    let reasons_of = |id: &str| shown.iter().find(|c| c.0 == id).map(|c| c.2.clone()).unwrap();
    assert_eq!(reasons_of("ui-eu-stale"), "stale_metrics");
    assert_eq!(reasons_of("ui-eu-never"), "no_metrics");
    assert_eq!(reasons_of("ui-eu-label"), "memory_over_threshold");
    assert_eq!(shown[0], ("ui-eu-fresh".into(), "yes".into(), String::new()));
}

fn a_jobs_timeline_opens_by_id_with_details_as_text(w: &mut Worker) {
    let mut job = JobRow::new("ui-job-timeline", "ui-tenant-t", "ui-t");
    job.region = "eu";
    job.stack = "eu";
    job.trace_id = Some("trace_ui_timeline");
    job.created_at = now_ms() - 5_000;
    job.insert(w);
    for (event, detail) in [("checkout.paid", json!({"plan": "basic"})), ("workflow.note", json!({"message": HOSTILE}))] {
        let body = json!({"trace_id": "trace_ui_timeline", "event": event, "job_id": "ui-job-timeline", "tenant_id": "ui-tenant-t", "status": "pending", "detail": detail});
        assert_eq!(w.post("/internal/trace-events", &body).status, 201);
    }
    let report = browse(w, "job", json!({"key": KEY, "job_id": "ui-job-timeline"}));
    assert_eq!(report["job_id"], "ui-job-timeline");
    assert_eq!(report["fields"]["status"], "pending");
    assert_eq!(report["fields"]["tenant"], "ui-tenant-t");
    let events: Vec<&str> = report["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["checkout.paid", "workflow.note"], "{report:#}");
    let detail = report["events"][1]["detail"].as_str().unwrap();
    assert!(detail.contains(r#"<img src=x onerror=\"window.__xss=1;alert(1)\">"#), "the detail is shown literally: {detail}");
    // Pending is active: cancel is offered, retry is not.
    assert_eq!((report["cancel_enabled"].clone(), report["retry_enabled"].clone()), (json!(true), json!(false)));

    // An unknown job is a message, not a blank page.
    let report = browse(w, "job_missing", json!({"key": KEY, "job_id": "no-such-job"}));
    assert!(report["message"].as_str().unwrap().contains("404"), "{report:#}");
}

fn a_wrong_key_shows_the_401_as_a_message(w: &mut Worker) {
    let report = browse(w, "wrong_key", json!({"key": "not-the-key"}));
    let message = report["message"].as_str().unwrap_or_default();
    assert!(message.contains("401") && message.contains("unauthorized"), "{report:#}");
    assert_eq!((report["login_visible"].clone(), report["app_visible"].clone()), (json!(true), json!(false)));
    assert_eq!(report["stored_key"], Value::Null, "a refused key is not kept");
    assert!(report["body_text_length"].as_u64().unwrap() > 20, "{report:#}");
}

fn without_the_job_list_route_the_page_says_so(w: &mut Worker) {
    let report = browse(w, "jobs", json!({"key": KEY}));
    let note = report["note"].as_str().unwrap_or_default();
    assert!(note.contains("GET /internal/provision-jobs answered 404") && note.contains("Open a job by its id"), "{report:#}");
    assert_eq!(report["rows"], json!([]));
    assert_eq!(report["message"], Value::Null, "{report:#}");
}

// ---- after the operator routes are merged (suite ui_jobs) ---------------------------------------

fn eu_job<'a>(id: &'a str, tenant: &'a str, status: &'a str) -> JobRow<'a> {
    let mut job = JobRow::new(id, tenant, tenant);
    job.region = "eu";
    job.stack = "eu";
    job.status = status;
    job
}

fn the_job_list_filters_by_status(w: &mut Worker) {
    eu_job("ui-list-pending", "ui-list-a", "pending").insert(w);
    eu_job("ui-list-failed", "ui-list-b", "failed").insert(w);
    let mut other = eu_job("ui-list-sg", "ui-list-c", "failed");
    other.region = "sg";
    other.insert(w);
    let report = browse(w, "jobs", json!({"key": KEY, "status": "failed", "shot_suffix": "-failed"}));
    assert_eq!(report["rows"], json!([{"job_id": "ui-list-failed", "status": "failed"}]), "{report:#}");
    let report = browse(w, "jobs", json!({"key": KEY}));
    let ids: Vec<&str> = report["rows"].as_array().unwrap().iter().map(|r| r["job_id"].as_str().unwrap()).collect();
    assert!(ids.contains(&"ui-list-pending") && ids.contains(&"ui-list-failed") && !ids.contains(&"ui-list-sg"), "{report:#}");
}

fn cancel_changes_the_jobs_status(w: &mut Worker) {
    eu_job("ui-cancel-me", "ui-cancel-t", "pending").insert(w);
    let report = browse(w, "action", json!({"key": KEY, "job_id": "ui-cancel-me", "button": "cancel", "shot_suffix": "-cancel"}));
    assert_eq!(report["before"]["fields"]["status"], "pending", "{report:#}");
    assert_eq!(report["after"]["fields"]["status"], "cancelled", "{report:#}");
    assert!(report["list"].as_array().unwrap().contains(&json!({"job_id": "ui-cancel-me", "status": "cancelled"})), "{report:#}");
    assert_eq!(w.sql("SELECT status FROM provision_jobs WHERE job_id = 'ui-cancel-me'"), vec![vec![json!("cancelled")]]);
    assert_eq!(report["after"]["retry_enabled"], true);
}

fn retry_opens_the_new_job(w: &mut Worker) {
    eu_job("ui-retry-me", "ui-retry-t", "failed").insert(w);
    let report = browse(w, "action", json!({"key": KEY, "job_id": "ui-retry-me", "button": "retry", "shot_suffix": "-retry"}));
    let new_id = report["after"]["job_id"].as_str().unwrap();
    assert_ne!(new_id, "ui-retry-me", "{report:#}");
    assert_eq!(report["after"]["fields"]["retry of"], "ui-retry-me", "{report:#}");
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM provision_jobs WHERE job_id = '{new_id}' AND retry_of = 'ui-retry-me'")), 1);
}
