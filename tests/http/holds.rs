//! SPEC Part 2, "Placement: holds, and answers that stay small" and "Keeping D1 small", against
//! the running Worker: the blind-fleet 503, stack ownership under a race, the listing limits,
//! node paging, the snapshot interval and trace retention, the row sizes behind the README's
//! D1 growth figures, and the fleet the Worker keeps between calls.

use crate::foundation::push;
use crate::harness::Worker;
use crate::support::{client, enqueue, free_port_url, now_ms, JobRow};
use crate::Suite;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "holds",
        // Nothing listens on the dispatch URL: a job that is created stays in the pipeline's
        // retries, which these cases do not look at.
        vars: vec![("GITHUB_WORKFLOW_DISPATCH_URL", free_port_url()), ("GITHUB_TOKEN", "ghp_test".into())],
        cases: vec![
            ("a_blind_region_is_503_with_retry_after_and_changes_nothing", blind_region),
            ("a_region_under_the_blind_threshold_orders_a_server", under_the_threshold),
            ("six_tenants_racing_for_one_stack_name_get_one_job", stack_race),
            ("limits_and_explain_show_part_of_the_same_decision", limits_and_explain),
            ("bad_limits_ids_and_cursors_are_400_naming_the_field", bad_listing_input),
            ("paging_visits_every_node_once", paging),
            ("a_second_snapshot_inside_the_interval_is_not_stored", snapshot_interval),
            ("trace_retention_deletes_only_what_it_should", trace_retention),
            ("row_sizes_for_the_d1_growth_figures", row_sizes),
            ("metrics_cross_the_fleet_query_exactly", exact_values),
            ("the_fleet_kept_between_calls_follows_every_write", kept_fleet),
        ],
    }]
}

fn reset(w: &Worker) {
    for t in ["trace_events", "stack_owners", "provision_jobs", "server_metrics_snapshots", "server_metrics", "node_tokens", "nodes"] {
        w.sql(&format!("DELETE FROM {t}"));
    }
}

fn node(w: &Worker, id: &str, region: &str) {
    let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.9.0.1"}));
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

/// A node whose metrics say it is full (memory over the limit), pushed now: seen, not blind.
fn full_node(w: &Worker, id: &str, region: &str) {
    node(w, id, region);
    push(w, json!({"node_id": id, "memory_pct": 95, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 1}));
}

fn compute(w: &Worker, body: Value) -> Value {
    let r = w.post("/internal/placement/compute", &body);
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.json()
}

fn enqueue_now(w: &Worker, tenant: &str, body: &Value) -> crate::harness::Resp {
    enqueue(&client(Duration::from_secs(30)), &w.base, tenant, body, None).expect("enqueue")
}

fn blind_region(w: &mut Worker) {
    reset(w);
    // eu: two active nodes that never pushed, one whose push is stale, one full and seen; 3 of
    // 4 active nodes are blind (75% >= 50%). A draining node does not count either way.
    node(w, "eu-a", "eu");
    node(w, "eu-b", "eu");
    full_node(w, "eu-c", "eu");
    full_node(w, "eu-d", "eu");
    w.sql(&format!("UPDATE server_metrics SET updated_at = {} WHERE node_id = 'eu-d'", now_ms() - 3_600_000));
    let r = w.post("/internal/nodes", &json!({"node_id": "eu-z", "region": "eu", "host": "10.9.0.2", "status": "draining"}));
    assert_eq!(r.status, 201, "{}", r.text);

    let preview = compute(w, json!({"region": "eu", "tenant_id": "blind-1"}));
    assert_eq!(preview["decision_reason"], "no_eligible_node");
    assert_eq!(preview["hold"]["code"], "fleet_metrics_stale", "{preview}");
    assert!(preview["hold"]["message"].as_str().unwrap().contains("3 of 4 active nodes in eu"), "{preview}");

    let before = w.dump();
    let r = enqueue_now(w, "blind-1", &json!({"region": "eu", "subdomain_slug": "blind-one"}));
    assert_eq!((r.status, r.code()), (503, "fleet_metrics_stale".to_string()), "{}", r.text);
    assert_eq!(r.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("60"));
    // Nothing stored: no job, no event, no owner; so nothing was sent either.
    assert_eq!(w.dump(), before);
    assert_eq!(w.count("SELECT COUNT(*) FROM stack_owners"), 0);

    // A dedicated tenant does not need the shared fleet: not held.
    let r = enqueue_now(w, "blind-ent", &json!({"region": "eu", "plan_tier": "enterprise", "subdomain_slug": "blind-ent"}));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["placement"]["pulumi_stack"], "dedicated-blind-ent");

    // A push from one blind node makes the region seen again (2 of 4 = 50% is still held: the
    // threshold is "at least"); a second one lifts the hold and the server is ordered.
    push(w, json!({"node_id": "eu-a", "memory_pct": 95, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 1}));
    assert_eq!(compute(w, json!({"region": "eu"}))["hold"]["code"], "fleet_metrics_stale");
    push(w, json!({"node_id": "eu-b", "memory_pct": 95, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 1}));
    assert_eq!(compute(w, json!({"region": "eu"}))["hold"], Value::Null);
    let r = enqueue_now(w, "blind-1", &json!({"region": "eu", "subdomain_slug": "blind-one"}));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["placement"]["create_new_server"], true);
}

fn under_the_threshold(w: &mut Worker) {
    reset(w);
    // us: 2 of 5 active nodes blind (40%): the region is full, not blind.
    node(w, "us-a", "us");
    node(w, "us-b", "us");
    for id in ["us-c", "us-d", "us-e"] {
        full_node(w, id, "us");
    }
    let preview = compute(w, json!({"region": "us"}));
    assert_eq!((preview["decision_reason"].as_str(), &preview["hold"]), (Some("no_eligible_node"), &Value::Null), "{preview}");
    let r = enqueue_now(w, "under-1", &json!({"region": "us", "subdomain_slug": "under-one"}));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["placement"]["create_new_server"], true);
    // A region with no nodes at all orders its first server.
    let r = enqueue_now(w, "under-2", &json!({"region": "sg", "subdomain_slug": "under-two"}));
    assert_eq!(r.status, 202, "{}", r.text);
}

fn stack_race(w: &mut Worker) {
    reset(w);
    let tenants = ["Acme-Corp", "acme.corp", "acme_corp", "ACME-CORP", "acme..corp", "_acme-corp_"];
    let http = client(Duration::from_secs(60));
    let answers: Vec<(String, crate::harness::Resp)> = std::thread::scope(|s| {
        let handles: Vec<_> = tenants
            .iter()
            .map(|t| {
                let http = &http;
                let base = &w.base;
                s.spawn(move || {
                    let body = json!({"plan_tier": "enterprise", "region": "sg", "subdomain_slug": "acme"});
                    (t.to_string(), enqueue(http, base, t, &body, None).expect("enqueue"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<&String> = answers.iter().filter(|(_, r)| r.status == 202).map(|(t, _)| t).collect();
    assert_eq!(winners.len(), 1, "{:?}", answers.iter().map(|(t, r)| (t, r.status, r.text.clone())).collect::<Vec<_>>());
    let winner = winners[0].clone();
    for (t, r) in &answers {
        if *t != winner {
            assert_eq!((r.status, r.code()), (409, "stack_name_taken".to_string()), "{t}: {}", r.text);
            assert!(!r.text.contains(&winner), "the owner's id is not told: {}", r.text);
        }
    }
    assert_eq!(w.count("SELECT COUNT(*) FROM provision_jobs"), 1);
    assert_eq!(w.sql("SELECT pulumi_stack, tenant_id FROM stack_owners"), vec![vec![json!("dedicated-acme-corp"), json!(winner)]]);
    let job_id = w.sql("SELECT job_id FROM provision_jobs")[0][0].as_str().unwrap().to_string();
    assert_eq!(w.sql("SELECT first_job_id FROM stack_owners")[0][0], json!(job_id));

    // The preview says the same to another tenant, and nothing to the owner.
    let other = tenants.iter().find(|t| **t != winner).unwrap();
    assert_eq!(compute(w, json!({"plan_tier": "enterprise", "tenant_id": other}))["hold"]["code"], "stack_name_taken");
    assert_eq!(compute(w, json!({"plan_tier": "enterprise", "tenant_id": winner}))["hold"], Value::Null);

    // The same tenant again (its first job cancelled) is not refused; another still is.
    let r = w.post(&format!("/internal/provision-jobs/{job_id}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = enqueue_now(w, &winner, &json!({"plan_tier": "enterprise", "subdomain_slug": "acme"}));
    assert_eq!(r.status, 202, "{}", r.text);
    // Refused with nothing stored (the pipeline keeps working on the owner's job meanwhile, so
    // the check is on what the refusal could have written).
    let jobs = w.count("SELECT COUNT(*) FROM provision_jobs");
    let owners = w.sql("SELECT * FROM stack_owners");
    let r = enqueue_now(w, other, &json!({"plan_tier": "enterprise", "subdomain_slug": "acme"}));
    assert_eq!((r.status, r.code()), (409, "stack_name_taken".to_string()), "{}", r.text);
    assert_eq!(w.count("SELECT COUNT(*) FROM provision_jobs"), jobs);
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM trace_events WHERE tenant_id = '{other}'")), 0);
    assert_eq!(w.sql("SELECT * FROM stack_owners"), owners);
}

fn limits_and_explain(w: &mut Worker) {
    reset(w);
    // 30 nodes with distinct memory, so the order is known: sg-00 (0%) first ... sg-24, then 5
    // without metrics by id.
    for i in 0..25 {
        let id = format!("sg-{i:02}");
        node(w, &id, "sg");
        push(w, json!({"node_id": id, "memory_pct": i * 3, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 0}));
    }
    for i in 25..30 {
        node(w, &format!("sg-{i:02}"), "sg");
    }
    let full = compute(w, json!({"candidates_limit": 1000}));
    assert_eq!(full["candidates"].as_array().unwrap().len(), 30);
    assert_eq!(full["candidates_truncated"], false);
    let ranks: Vec<u64> = full["candidates"].as_array().unwrap().iter().map(|c| c["rank"].as_u64().unwrap()).collect();
    assert_eq!(ranks, (1..=30).collect::<Vec<u64>>());
    assert_eq!(full["reason_counts"]["no_metrics"], 5);
    assert_eq!(full["reason_counts"]["memory_over_threshold"], 0);
    assert_eq!(full["reason_counts"].as_object().unwrap().len(), 7);

    let short = compute(w, json!({"candidates_limit": 4, "explain_node_ids": ["sg-29", "sg-ghost", "sg-10"]}));
    // Ages are whole seconds of the time of each call, which may tick between the two.
    let ageless = |cs: &[Value]| -> Vec<Value> {
        cs.iter().map(|c| c.as_object().unwrap().iter().filter(|(k, _)| *k != "metrics_age_s").map(|(k, v)| (k.clone(), v.clone())).collect()).collect()
    };
    assert_eq!(ageless(short["candidates"].as_array().unwrap()), ageless(&full["candidates"].as_array().unwrap()[..4]));
    assert_eq!(short["candidates_truncated"], true);
    for key in ["selected_node_id", "placement", "cluster", "reason_counts", "hold", "decision_reason"] {
        assert_eq!(short[key], full[key], "{key}");
    }
    let explained = short["explained"].as_array().unwrap();
    assert_eq!(explained.iter().map(|c| c["node_id"].as_str().unwrap()).collect::<Vec<_>>(), vec!["sg-29", "sg-10"]);
    let in_full = |i: usize| full["candidates"][i].clone();
    assert_eq!(ageless(explained), ageless(&[in_full(29), in_full(10)]));
    assert_eq!(short["explained_missing"], json!(["sg-ghost"]));

    // The default is 100, and 0 still decides.
    let none = compute(w, json!({"candidates_limit": 0}));
    assert_eq!((none["candidates"].clone(), none["candidates_truncated"].clone()), (json!([]), json!(true)));
    assert_eq!(none["selected_node_id"], "sg-00");
    assert_eq!(compute(w, json!({}))["candidates"].as_array().unwrap().len(), 30);
}

fn bad_listing_input(w: &mut Worker) {
    reset(w);
    node(w, "sg-a", "sg");
    let before = w.dump();
    let too_many: Vec<String> = (0..51).map(|i| format!("n-{i}")).collect();
    for (body, field) in [
        (json!({"candidates_limit": 1001}), "candidates_limit"),
        (json!({"candidates_limit": -1}), "candidates_limit"),
        (json!({"candidates_limit": "5"}), "candidates_limit"),
        (json!({"explain_node_ids": too_many}), "explain_node_ids"),
        (json!({"explain_node_ids": ["bad id"]}), "explain_node_ids"),
        (json!({"explain_node_ids": "sg-a"}), "explain_node_ids"),
    ] {
        let r = w.post("/internal/placement/compute", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], field, "{body}: {}", r.text);
    }
    for (query, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("limit=ten", "limit"), ("cursor=zz", "cursor"), ("cursor=2f", "cursor")] {
        let r = w.get(&format!("/internal/nodes?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        assert_eq!(r.json()["error"]["field"], field, "{query}");
    }
    assert_eq!(w.dump(), before);
}

fn paging(w: &mut Worker) {
    reset(w);
    let mut all = BTreeSet::new();
    for i in 0..23 {
        let region = ["sg", "us", "eu"][i % 3];
        let id = format!("pg-{region}-{i:02}");
        node(w, &id, region);
        if i % 2 == 0 {
            push(w, json!({"node_id": id, "memory_pct": 10, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 0}));
        }
        all.insert(id);
    }
    let walk = |query: &str, limit: u32| -> Vec<String> {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/internal/nodes?limit={limit}{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = w.get(&path);
            assert_eq!(r.status, 200, "{path}: {}", r.text);
            let page = r.json();
            let nodes = page["nodes"].as_array().unwrap();
            assert!(nodes.len() <= limit as usize);
            seen.extend(nodes.iter().map(|n| n["node_id"].as_str().unwrap().to_string()));
            match page["next_cursor"].as_str() {
                Some(c) => {
                    assert_eq!(nodes.len(), limit as usize, "a page with a next page is full");
                    cursor = Some(c.to_string());
                }
                None => return seen,
            }
        }
        panic!("paging did not end");
    };
    for limit in [1, 5, 7, 23, 1000] {
        let seen = walk("", limit);
        assert_eq!(seen, all.iter().cloned().collect::<Vec<_>>(), "limit {limit}: every node once, in node_id order");
    }
    let us: Vec<String> = all.iter().filter(|id| id.contains("-us-")).cloned().collect();
    assert_eq!(walk("&region=us", 2), us);
    let stale: Vec<String> = walk("&stale=true", 3);
    let fresh: Vec<String> = walk("&stale=false", 3);
    assert_eq!(stale.len() + fresh.len(), all.len());
    assert!(stale.iter().all(|id| id[id.len() - 2..].parse::<u32>().unwrap() % 2 == 1), "{stale:?}");
    assert_eq!(w.get("/internal/nodes").json()["next_cursor"], Value::Null);
}

fn snapshot_interval(w: &mut Worker) {
    reset(w);
    node(w, "snap-1", "sg");
    let body = json!({"node_id": "snap-1", "memory_pct": 10, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 0, "save_snapshot": true});
    assert_eq!(push(w, body.clone())["snapshot_saved"], true);
    assert_eq!(push(w, body.clone())["snapshot_saved"], false);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots"), 1);
    // The latest row is updated whatever the interval.
    let mut other = body.clone();
    other["memory_pct"] = json!(42);
    assert_eq!(push(w, other)["snapshot_saved"], false);
    assert_eq!(w.sql("SELECT memory_pct FROM server_metrics WHERE node_id = 'snap-1'")[0][0], json!(42.0));
    // Once the newest snapshot is older than SNAPSHOT_MIN_INTERVAL_SECONDS (300), the next is stored.
    w.sql("UPDATE server_metrics_snapshots SET created_at = created_at - 301000");
    assert_eq!(push(w, body.clone())["snapshot_saved"], true);
    assert_eq!(w.count("SELECT COUNT(*) FROM server_metrics_snapshots"), 2);
    // Without save_snapshot nothing is stored, and the answer says so.
    let mut plain = body;
    plain.as_object_mut().unwrap().remove("save_snapshot");
    assert_eq!(push(w, plain)["snapshot_saved"], false);
}

fn trace_retention(w: &mut Worker) {
    reset(w);
    let now = now_ms();
    let old = now - 91 * DAY_MS;
    let recent = now - 89 * DAY_MS;
    JobRow { status: "succeeded", created_at: old, completed_at: Some(old), ..JobRow::new("j-done", "t-done", "done") }.insert(w);
    // The active jobs are young (so the same scheduled run's reconcile leaves them alone); their
    // timelines hold old events all the same, as a long-running job's would.
    JobRow { status: "running", dispatched_at: Some(now), ..JobRow::new("j-running", "t-running", "running") }.insert(w);
    JobRow { status: "pending", next_attempt_at: now + 3_600_000, ..JobRow::new("j-pending", "t-pending", "pending") }.insert(w);
    let event = |name: &str, job: Option<&str>, at: i64| {
        let job = job.map_or("NULL".to_string(), |j| format!("'{j}'"));
        w.sql(&format!("INSERT INTO trace_events (trace_id, event, job_id, created_at) VALUES ('trace_r', '{name}', {job}, {at})"));
    };
    event("old-no-job", None, old);
    event("old-finished-job", Some("j-done"), old);
    event("old-unknown-job", Some("j-gone"), old);
    event("old-running-job", Some("j-running"), old);
    event("old-pending-job", Some("j-pending"), old);
    event("recent-no-job", None, recent);
    event("recent-finished-job", Some("j-done"), recent);
    let r = w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let kept: Vec<String> = crate::support::poll(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || {
            w.sql("SELECT event FROM trace_events WHERE trace_id = 'trace_r' ORDER BY event")
                .into_iter()
                .map(|r| r[0].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        },
        |k| k.len() == 4,
    );
    assert_eq!(kept, vec!["old-pending-job", "old-running-job", "recent-finished-job", "recent-no-job"]);
    let line = w.log_lines().into_iter().rev().find(|l| l["msg"] == "scheduled").expect("a scheduled log line");
    assert_eq!(line["trace_events_pruned"], 3, "{line}");

    // A malformed snapshot setting stops the snapshot pruning only: the traces are still pruned.
    let vars = |extra: &[(&'static str, String)]| {
        let mut v = vec![("GITHUB_WORKFLOW_DISPATCH_URL", free_port_url()), ("GITHUB_TOKEN", "ghp_test".to_string())];
        v.extend_from_slice(extra);
        v
    };
    let restart = |w: &mut Worker, v: Vec<(&'static str, String)>| {
        let v: Vec<(&str, &str)> = v.iter().map(|(k, x)| (*k, x.as_str())).collect();
        w.restart(&v);
    };
    restart(w, vars(&[("SNAPSHOT_RETENTION_DAYS", "soon".to_string())]));
    w.sql(&format!("INSERT INTO trace_events (trace_id, event, job_id, created_at) VALUES ('trace_r', 'old-no-job-again', NULL, {old})"));
    let r = w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None);
    assert_eq!(r.status, 200, "{}", r.text);
    let line = crate::support::poll(
        Duration::from_secs(20),
        Duration::from_millis(200),
        || w.log_lines().into_iter().rev().find(|l| l["msg"] == "scheduled" && l.get("snapshot_retention_error").is_some()),
        Option::is_some,
    )
    .expect("a scheduled log line with the snapshot setting's error");
    assert!(line["snapshot_retention_error"].as_str().unwrap().contains("SNAPSHOT_RETENTION_DAYS"), "{line}");
    assert_eq!(line["trace_events_pruned"], 1, "{line}");
    assert_eq!(w.count("SELECT COUNT(*) FROM trace_events WHERE event = 'old-no-job-again'"), 0);
    restart(w, vars(&[]));
}

/// Bytes a row really costs in the D1 file (table and its indexes), measured by writing rows
/// the Worker wrote into a copy of the database and reading the page count.
fn row_sizes(w: &mut Worker) {
    reset(w);
    node(w, "size-node-0001", "sg");
    push(w, json!({"node_id": "size-node-0001", "memory_pct": 41.5, "cpu_pct": 12.25, "disk_pct": 30.0, "tenant_count": 17, "save_snapshot": true}));
    let r = w.post(
        "/internal/trace-events",
        &json!({"trace_id": "trace_0b7c6a3e-5f1d-4c59-9c1e-1f6a2d3e4b5c", "event": "workflow.step", "job_id": "4f2d7c1a-8b3e-4d5f-9a6b-7c8d9e0f1a2b",
                "tenant_id": "acme-corp", "status": "running", "detail": {"step": "pulumi up", "run_id": "12345678901"}}),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
    let rows = 20_000;
    let snapshot = grow(w, "server_metrics_snapshots", "node_id, cpu_pct, memory_pct, disk_pct, tenant_count, source, created_at", "created_at + ?", rows);
    let trace = grow(w, "trace_events", "trace_id, event, job_id, tenant_id, status, detail, created_at", "created_at + ?", rows);
    println!("    measured: {snapshot:.0} B per snapshot row, {trace:.0} B per trace event row (with indexes)");
    // Sanity bounds, not the figure itself: a row of a few numbers and an id, and a row of a few
    // ids and a small JSON detail.
    assert!((40.0..400.0).contains(&snapshot), "{snapshot}");
    assert!((100.0..1200.0).contains(&trace), "{trace}");
    assert!(trace > snapshot);
}

/// Copies the D1 file, clones its one row of `table` `rows` times with distinct times, and
/// returns the growth in bytes per row.
fn grow(w: &Worker, table: &str, columns: &str, time_expr: &str, rows: u32) -> f64 {
    let src = w.sql(&format!("SELECT COUNT(*) FROM {table}"));
    assert_eq!(src[0][0], json!(1), "{table} holds the one row the Worker wrote");
    let copy = w.dir.join(format!("size-{table}.sqlite"));
    let _ = std::fs::remove_file(&copy);
    let db = w.sql("PRAGMA database_list")[0][2].as_str().unwrap().to_string();
    let select = columns.replace("created_at", &time_expr.replace('?', "s.i"));
    // The backup API, not a file copy: the D1 file may keep its newest pages in the WAL.
    let script = format!(
        "import sqlite3,sys\nsrc=sqlite3.connect(sys.argv[2])\nc=sqlite3.connect(sys.argv[1])\nsrc.backup(c)\nsrc.close()\nsize=lambda: c.execute('PRAGMA page_count').fetchone()[0]*c.execute('PRAGMA page_size').fetchone()[0]\n\
         c.execute('VACUUM')\nb=size()\n\
         c.execute('WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < {rows}) INSERT INTO {table} ({columns}) SELECT {select} FROM s, (SELECT * FROM {table} LIMIT 1)')\n\
         c.commit()\nprint((size()-b)/{rows})"
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).arg(&copy).arg(&db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A pushed value is stored and read back bit for bit: the push's JSON parse must round
/// correctly, and the fleet crosses from D1 as JSON text SQLite writes (17 significant digits,
/// not its shorter default), or a value just under a threshold could come back at it.
fn exact_values(w: &mut Worker) {
    reset(w);
    node(w, "exact-1", "sg");
    let (memory, cpu, disk) = (41.123456789012345_f64, 0.1_f64 + 0.2, 99.99999999999999_f64);
    push(w, json!({"node_id": "exact-1", "memory_pct": memory, "cpu_pct": cpu, "disk_pct": disk, "tenant_count": 3}));
    let c = &compute(w, json!({"region": "sg"}))["candidates"][0];
    // Stored exactly (the push's parse), and read back exactly (the fleet query).
    assert_eq!(w.sql("SELECT disk_pct FROM server_metrics")[0][0].as_f64().map(f64::to_bits), Some(disk.to_bits()));
    assert_eq!(c["memory_pct"].as_f64().map(f64::to_bits), Some(memory.to_bits()), "{c}");
    assert_eq!(c["cpu_pct"].as_f64().map(f64::to_bits), Some(cpu.to_bits()), "{c}");
    assert_eq!(c["disk_pct"].as_f64().map(f64::to_bits), Some(disk.to_bits()), "{c}");
    assert_eq!(c["tenant_count"], 3);
}

/// The region's candidate `id` in a compute answer that lists them all.
fn candidate(answer: &Value, id: &str) -> Option<Value> {
    answer["candidates"].as_array().unwrap().iter().find(|c| c["node_id"] == id).cloned()
}

/// src/fleet.rs keeps the fleet in the isolate and reads only what changed: each kind of write
/// must show in the very next compute. The first compute warms the view; local wrangler runs one
/// isolate, so every later compute uses it.
fn kept_fleet(w: &mut Worker) {
    reset(w);
    let sg = || json!({"region": "sg", "candidates_limit": 1000});
    node(w, "fv-a", "sg");
    node(w, "fv-b", "sg");
    push(w, json!({"node_id": "fv-a", "memory_pct": 10, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 0}));
    push(w, json!({"node_id": "fv-b", "memory_pct": 30, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 0}));
    assert_eq!(compute(w, sg())["selected_node_id"], "fv-a");

    // A push.
    push(w, json!({"node_id": "fv-a", "memory_pct": 95, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 0}));
    assert_eq!(compute(w, sg())["selected_node_id"], "fv-b");
    // A drain through the registry, then an operator's SQL undoing it.
    let r = w.post("/internal/nodes", &json!({"node_id": "fv-b", "region": "sg", "host": "10.9.0.1", "status": "draining"}));
    assert_eq!(r.status, 200, "{}", r.text);
    let drained = compute(w, sg());
    assert_eq!((drained["selected_node_id"].clone(), drained["decision_reason"].clone()), (Value::Null, json!("no_eligible_node")), "{drained}");
    w.sql("UPDATE nodes SET status = 'active' WHERE node_id = 'fv-b'");
    assert_eq!(compute(w, sg())["selected_node_id"], "fv-b");

    // An enqueue reserves a slot on its target; its cancel gives it back.
    let r = enqueue_now(w, "fv-tenant", &json!({"region": "sg", "subdomain_slug": "fv-one"}));
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["placement"]["target_server_id"], "fv-b", "{}", r.text);
    let job_id = r.json()["job_id"].as_str().unwrap().to_string();
    assert_eq!(candidate(&compute(w, sg()), "fv-b").unwrap()["reserved"], 1);
    let r = w.post(&format!("/internal/provision-jobs/{job_id}/cancel"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(candidate(&compute(w, sg()), "fv-b").unwrap()["reserved"], 0);

    // A node deleted through the registry, a node's metrics deleted in SQL.
    assert_eq!(w.delete("/internal/nodes/fv-a").status, 200);
    w.sql("DELETE FROM server_metrics WHERE node_id = 'fv-b'");
    let answer = compute(w, sg());
    assert_eq!(candidate(&answer, "fv-a"), None, "{answer}");
    assert_eq!(candidate(&answer, "fv-b").unwrap()["reasons"], json!(["no_metrics"]), "{answer}");

    // The scheduled prune drops the deleted node's stamp and starts a new epoch; a view of the
    // old one reads everything again and still sees fv-a gone.
    let epoch = w.sql("SELECT epoch FROM fleet_clock")[0][0].clone();
    assert_eq!(w.count("SELECT COUNT(*) FROM fleet_changes WHERE node_id = 'fv-a'"), 1);
    assert_eq!(w.send("GET", "/__scheduled?cron=*/5+*+*+*+*", None, None, None).status, 200);
    assert_eq!(w.count("SELECT COUNT(*) FROM fleet_changes WHERE node_id NOT IN (SELECT node_id FROM nodes)"), 0);
    assert_ne!(w.sql("SELECT epoch FROM fleet_clock")[0][0], epoch);
    push(w, json!({"node_id": "fv-b", "memory_pct": 40, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 2}));
    let answer = compute(w, sg());
    assert_eq!(answer["candidates"].as_array().unwrap().len(), 1, "{answer}");
    assert_eq!(candidate(&answer, "fv-b").unwrap()["tenant_count"], 2, "{answer}");

    // A database restored to an earlier point: the counter is behind the view's, and the change
    // made after the restore (stamped with a number the view has already passed) is still seen.
    w.sql("UPDATE fleet_changes SET seq = 0");
    push(w, json!({"node_id": "fv-b", "memory_pct": 40, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 7}));
    assert_eq!(candidate(&compute(w, sg()), "fv-b").unwrap()["tenant_count"], 7);
}
