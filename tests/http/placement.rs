//! decidePlacement at the HTTP level: `POST /internal/placement/compute` and the legacy
//! `POST /internal/placement-dry-run` against a real fleet in D1 (nodes, pushed metrics, jobs
//! that reserve room). The many small rules are the core's unit tests; these cases check that the
//! Worker feeds the core the right fleet, answers in the SPEC's shape and writes nothing.
//!
//! Each case starts from empty tables (`reset`), so cases do not see each other's nodes.

use crate::foundation::push;
use crate::harness::{Worker, KEY};
use crate::support::{now_ms, JobRow};
use crate::Suite;
use serde_json::{json, Value};

/// Small, so a few jobs fill a node.
const MAX_TENANTS: u32 = 3;
const MEMORY_MAX: f64 = 80.0;

pub fn suites() -> Vec<Suite> {
    vec![
        Suite {
            name: "placement",
            vars: vec![("PLACEMENT_MAX_TENANTS_PER_NODE", MAX_TENANTS.to_string())],
            cases: vec![
                ("picks_the_least_loaded_node_and_gives_every_reason", picks_the_least_loaded_node_and_gives_every_reason),
                ("equal_scores_break_on_node_id", equal_scores_break_on_node_id),
                ("unknown_tier_region_or_field_is_400_with_field", unknown_tier_region_or_field_is_400_with_field),
                ("enterprise_is_dedicated_with_a_safe_stack_name", enterprise_is_dedicated_with_a_safe_stack_name),
                ("a_stale_push_excludes_the_node_until_the_next_push", a_stale_push_excludes_the_node_until_the_next_push),
                ("an_empty_body_means_basic_in_the_default_region", an_empty_body_means_basic_in_the_default_region),
                ("compute_called_50_times_changes_nothing", compute_called_50_times_changes_nothing),
                ("legacy_dry_run_agrees_with_compute", legacy_dry_run_agrees_with_compute),
                ("jobs_reserve_room_until_the_next_push", jobs_reserve_room_until_the_next_push),
            ],
        },
        Suite {
            name: "placement_one_tenant_one_server",
            vars: vec![("PLACEMENT_POLICY", "one_tenant_one_server_v1".into()), ("DEFAULT_REGION", "eu".into())],
            cases: vec![("every_tenant_gets_a_new_server", every_tenant_gets_a_new_server)],
        },
    ]
}

// ---- helpers ---------------------------------------------------------------------------------

/// Empties every table, so a case sees only the fleet it builds.
fn reset(w: &Worker) {
    for t in ["trace_events", "provision_jobs", "server_metrics_snapshots", "server_metrics", "nodes"] {
        w.sql(&format!("DELETE FROM {t}"));
    }
}

fn node(w: &Worker, id: &str, region: &str, status: &str) {
    let r = w.post("/internal/nodes", &json!({"node_id": id, "region": region, "host": "10.2.0.1", "status": status}));
    assert!(r.status == 201 || r.status == 200, "{}", r.text);
}

/// A registered, active node with metrics pushed now.
fn node_with(w: &Worker, id: &str, region: &str, memory: Value, cpu: Value, disk: Value, tenants: u32) {
    node(w, id, region, "active");
    push(w, json!({"node_id": id, "memory_pct": memory, "cpu_pct": cpu, "disk_pct": disk, "tenant_count": tenants}));
}

fn compute(w: &Worker, body: Value) -> Value {
    let r = w.post("/internal/placement/compute", &body);
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.json()
}

fn dry_run(w: &Worker, body: Value) -> Value {
    let r = w.post("/internal/placement-dry-run", &body);
    assert_eq!(r.status, 200, "{body}: {}", r.text);
    r.json()
}

/// SPEC step 5, in its order of operations.
fn score(memory: f64, cpu: Option<f64>, effective: u32) -> f64 {
    let tenant_max = f64::from(MAX_TENANTS);
    let m = (MEMORY_MAX - memory) / MEMORY_MAX;
    let t = (tenant_max - f64::from(effective)) / tenant_max;
    match cpu {
        Some(cpu) => (m + t + (100.0 - cpu) / 100.0) / 3.0,
        None => (m + t) / 2.0,
    }
}

fn candidate<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["candidates"].as_array().unwrap().iter().find(|c| c["node_id"] == id).unwrap_or_else(|| panic!("no candidate {id}: {answer}"))
}

fn candidate_ids(answer: &Value) -> Vec<String> {
    answer["candidates"].as_array().unwrap().iter().map(|c| c["node_id"].as_str().unwrap().to_string()).collect()
}

fn reasons(answer: &Value, id: &str) -> Vec<String> {
    candidate(answer, id)["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()
}

/// A job row placed on `target`, as the enqueue route would write it.
fn insert_job(w: &Worker, job_id: &str, target: &str, status: &str, completed_at: Option<i64>) {
    let tenant = format!("tenant-{job_id}");
    JobRow { status, target: Some(target), region: "us", stack: "us", completed_at, ..JobRow::new(job_id, &tenant, "slug") }.insert(w);
}

// ---- cases -----------------------------------------------------------------------------------

fn picks_the_least_loaded_node_and_gives_every_reason(w: &mut Worker) {
    reset(w);
    // Eligible: sg-b has the most headroom, then sg-a, then sg-k (cpu unknown: two-term score).
    node_with(w, "sg-a", "sg", json!(40), json!(20), json!(30), 1);
    node_with(w, "sg-b", "sg", json!(20), json!(10), json!(10), 0);
    node_with(w, "sg-k", "sg", json!(30), Value::Null, Value::Null, 2);
    // Ineligible, one reason each, thresholds hit exactly ("at or above").
    node_with(w, "sg-c", "sg", json!(10), json!(5), json!(5), 0);
    node(w, "sg-c", "sg", "draining");
    node_with(w, "sg-d", "sg", json!(80), json!(5), json!(5), 0);
    node_with(w, "sg-e", "sg", json!(10), json!(5), json!(85), 0);
    node(w, "sg-f", "sg", "active");
    node_with(w, "sg-g", "sg", json!(10), json!(5), json!(5), MAX_TENANTS);
    node_with(w, "sg-h", "sg", Value::Null, json!(5), json!(5), 0);
    node_with(w, "sg-i", "sg", json!(10), json!(5), json!(5), 0);
    w.sql("UPDATE server_metrics SET updated_at = updated_at - 700000 WHERE node_id = 'sg-i'");
    // Several reasons at once, in the fixed order; no_metrics hides the metric reasons.
    node_with(w, "sg-j", "sg", json!(95), json!(5), json!(99), MAX_TENANTS + 2);
    node(w, "sg-l", "sg", "draining");
    // Another region's node is not a candidate.
    node_with(w, "us-z", "us", json!(1), json!(1), json!(1), 0);

    let answer = compute(w, json!({"plan_tier": "basic", "region": "sg", "tenant_id": "acme"}));
    assert_eq!(answer["algorithm"], "decidePlacement_unified_v1");
    assert_eq!(answer["decision_reason"], "least_loaded_eligible_node");
    assert_eq!(answer["selected_node_id"], "sg-b");
    assert_eq!(answer["region"], "sg");
    assert_eq!(answer["tenant_id"], "acme");
    assert_eq!(
        answer["placement"],
        json!({"create_new_server": false, "target_server_id": "sg-b", "dedicated": false, "region": "sg", "plan_tier": "basic", "pulumi_stack": "sg"})
    );
    assert_eq!(answer["thresholds"], json!({"memory_pct_max": 80.0, "disk_pct_max": 85.0, "max_tenants_per_node": MAX_TENANTS, "stale_after_s": 600}));
    assert_eq!(answer["cluster"], json!({"nodes": 12, "eligible": 3, "stale": 1, "no_metrics": 2, "draining": 2}));

    // Eligible first by score, then the ineligible ones by node_id.
    assert_eq!(candidate_ids(&answer), ["sg-b", "sg-a", "sg-k", "sg-c", "sg-d", "sg-e", "sg-f", "sg-g", "sg-h", "sg-i", "sg-j", "sg-l"]);
    for (id, memory, cpu, tenants) in [("sg-b", 20.0, Some(10.0), 0), ("sg-a", 40.0, Some(20.0), 1), ("sg-k", 30.0, None, 2)] {
        let c = candidate(&answer, id);
        assert_eq!(c["eligible"], true, "{c}");
        assert!(reasons(&answer, id).is_empty());
        let got = c["score"].as_f64().unwrap();
        assert!((got - score(memory, cpu, tenants)).abs() < 1e-12, "{id}: {got} vs {}", score(memory, cpu, tenants));
        assert_eq!(
            (c["tenant_count"].as_u64(), c["reserved"].as_u64(), c["effective_tenants"].as_u64()),
            (Some(tenants.into()), Some(0), Some(tenants.into()))
        );
        assert!(c["metrics_age_s"].as_u64().unwrap() <= 5, "{c}");
    }
    let expected: [(&str, &[&str]); 9] = [
        ("sg-c", &["node_draining"]),
        ("sg-d", &["memory_over_threshold"]),
        ("sg-e", &["disk_over_threshold"]),
        ("sg-f", &["no_metrics"]),
        ("sg-g", &["tenant_capacity_reached"]),
        ("sg-h", &["memory_unknown"]),
        ("sg-i", &["stale_metrics"]),
        ("sg-j", &["memory_over_threshold", "disk_over_threshold", "tenant_capacity_reached"]),
        ("sg-l", &["node_draining", "no_metrics"]),
    ];
    for (id, want) in expected {
        let c = candidate(&answer, id);
        assert_eq!(reasons(&answer, id), want, "{c}");
        assert_eq!((c["eligible"].clone(), c["score"].clone()), (json!(false), Value::Null), "{c}");
    }
    // The candidate shows what placement saw.
    let d = candidate(&answer, "sg-e");
    assert_eq!((d["memory_pct"].as_f64(), d["cpu_pct"].as_f64(), d["disk_pct"].as_f64()), (Some(10.0), Some(5.0), Some(85.0)));
    let f = candidate(&answer, "sg-f");
    assert_eq!((f["tenant_count"].clone(), f["metrics_age_s"].clone(), f["memory_pct"].clone()), (Value::Null, Value::Null, Value::Null));
    assert!(candidate(&answer, "sg-i")["metrics_age_s"].as_u64().unwrap() >= 700);

    // Take the winner out (draining) and the next one wins; drain everything eligible: a new server.
    node(w, "sg-b", "sg", "draining");
    assert_eq!(compute(w, json!({"region": "sg"}))["selected_node_id"], "sg-a");
    node(w, "sg-a", "sg", "draining");
    node(w, "sg-k", "sg", "draining");
    let none = compute(w, json!({"region": "sg"}));
    assert_eq!(none["decision_reason"], "no_eligible_node");
    assert_eq!((none["selected_node_id"].clone(), none["placement"]["target_server_id"].clone()), (Value::Null, Value::Null));
    assert_eq!(none["placement"]["create_new_server"], true);
    assert_eq!(none["candidates"].as_array().unwrap().len(), 12, "every node is still listed");
}

fn equal_scores_break_on_node_id(w: &mut Worker) {
    reset(w);
    for id in ["eu-2", "eu-10", "eu-1"] {
        node_with(w, id, "eu", json!(50), json!(50), json!(50), 1);
    }
    let answer = compute(w, json!({"region": "eu"}));
    // Byte order: "eu-1" < "eu-10" < "eu-2".
    assert_eq!(candidate_ids(&answer), ["eu-1", "eu-10", "eu-2"]);
    assert_eq!(answer["selected_node_id"], "eu-1");
    // One tenant more on eu-1 (a pending job) lowers its score: eu-10 wins.
    insert_job(w, "tie-1", "eu-1", "pending", None);
    let answer = compute(w, json!({"region": "eu"}));
    assert_eq!(candidate_ids(&answer), ["eu-10", "eu-2", "eu-1"]);
}

fn unknown_tier_region_or_field_is_400_with_field(w: &mut Worker) {
    reset(w);
    node_with(w, "sg-1", "sg", json!(10), json!(10), json!(10), 0);
    let before = w.dump();
    let cases = [
        (json!({"plan_tier": "gold"}), "plan_tier"),
        (json!({"tier": "gold"}), "plan_tier"),
        (json!({"plan_tier": "Basic"}), "plan_tier"),
        (json!({"plan_tier": 1}), "plan_tier"),
        (json!({"region": "ap"}), "region"),
        (json!({"region": "SG"}), "region"),
        (json!({"region": ""}), "region"),
        (json!({"tenant_id": ""}), "tenant_id"),
        (json!({"dry": true}), "dry"),
        (json!({"regoin": "sg"}), "regoin"),
    ];
    for path in ["/internal/placement/compute", "/internal/placement-dry-run"] {
        for (body, field) in &cases {
            let r = w.post(path, body);
            assert_eq!(r.status, 400, "{path} {body}: {}", r.text);
            assert_eq!(r.json()["error"]["field"], *field, "{path} {body}: {}", r.text);
        }
    }
    assert_eq!(before, w.dump());
    // null is not a way to ask for the default: only the metrics percentages take null.
    for body in [json!({"region": null}), json!({"plan_tier": null})] {
        let r = w.post("/internal/placement/compute", &body);
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
}

fn enterprise_is_dedicated_with_a_safe_stack_name(w: &mut Worker) {
    reset(w);
    node_with(w, "us-1", "us", json!(10), json!(10), json!(10), 0);
    node(w, "us-2", "us", "active");
    let long = format!("{}!tail", "x".repeat(39));
    let cases = [
        ("Acme Corp!", "dedicated-acme-corp"),
        ("--ACME__corp--", "dedicated-acme-corp"),
        ("Ünïcode Co", "dedicated-n-code-co"),
        (long.as_str(), "dedicated-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ];
    for (tenant, stack) in cases {
        let answer = compute(w, json!({"tier": "enterprise", "region": "us", "tenant_id": tenant}));
        assert_eq!(answer["decision_reason"], "dedicated_plan");
        assert_eq!(
            answer["placement"],
            json!({"create_new_server": true, "target_server_id": null, "dedicated": true, "region": "us", "plan_tier": "enterprise", "pulumi_stack": stack}),
            "{tenant}"
        );
        assert_eq!(answer["selected_node_id"], Value::Null);
        assert_eq!(answer["tenant_id"], tenant, "echoed as given");
        // The region's fleet is still shown.
        assert_eq!(candidate_ids(&answer), ["us-1", "us-2"]);
        assert_eq!(candidate(&answer, "us-1")["eligible"], true);
    }
    // A preview without a tenant has no stack name yet.
    let anonymous = compute(w, json!({"plan_tier": "enterprise", "region": "us"}));
    assert_eq!((anonymous["placement"]["dedicated"].clone(), anonymous["placement"]["pulumi_stack"].clone()), (json!(true), Value::Null));
    // No usable character: no stack name, 400 on tenant_id.
    for tenant in ["!!!", "ÄÖÜ", "--"] {
        let r = w.post("/internal/placement/compute", &json!({"plan_tier": "enterprise", "tenant_id": tenant}));
        assert_eq!((r.status, r.json()["error"]["field"].clone()), (400, json!("tenant_id")), "{tenant}: {}", r.text);
    }
    // A shared tier names the region's stack whatever the tenant id.
    assert_eq!(compute(w, json!({"plan_tier": "professional", "region": "us", "tenant_id": "!!!"}))["placement"]["pulumi_stack"], "us");
}

fn a_stale_push_excludes_the_node_until_the_next_push(w: &mut Worker) {
    reset(w);
    node_with(w, "us-old", "us", json!(5), json!(5), json!(5), 0);
    node_with(w, "us-new", "us", json!(60), json!(60), json!(60), 2);
    assert_eq!(compute(w, json!({"region": "us"}))["selected_node_id"], "us-old");
    // Its last push is now 10 minutes and 1 second old (the limit is 600 s).
    w.sql("UPDATE server_metrics SET updated_at = updated_at - 601000 WHERE node_id = 'us-old'");
    let answer = compute(w, json!({"region": "us"}));
    assert_eq!(answer["selected_node_id"], "us-new");
    assert_eq!(reasons(&answer, "us-old"), ["stale_metrics"]);
    assert_eq!(answer["cluster"]["stale"], 1);
    assert!(candidate(&answer, "us-old")["metrics_age_s"].as_u64().unwrap() >= 601);
    // Both stale: nothing eligible.
    w.sql("UPDATE server_metrics SET updated_at = updated_at - 601000 WHERE node_id = 'us-new'");
    let answer = compute(w, json!({"region": "us"}));
    assert_eq!((answer["decision_reason"].clone(), answer["cluster"]["stale"].clone()), (json!("no_eligible_node"), json!(2)));
    // A fresh push brings it back.
    push(w, json!({"node_id": "us-old", "memory_pct": 5, "cpu_pct": 5, "disk_pct": 5}));
    assert_eq!(compute(w, json!({"region": "us"}))["selected_node_id"], "us-old");
}

fn an_empty_body_means_basic_in_the_default_region(w: &mut Worker) {
    reset(w);
    node_with(w, "sg-1", "sg", json!(10), json!(10), json!(10), 0);
    node_with(w, "us-1", "us", json!(10), json!(10), json!(10), 0);
    let auth = format!("Bearer {KEY}");
    for path in ["/internal/placement/compute", "/internal/placement-dry-run"] {
        let empty = w.send("POST", path, Some(&auth), None, None);
        assert_eq!(empty.status, 200, "{path}: {}", empty.text);
        let braces = w.post(path, &json!({}));
        assert_eq!(empty.json(), braces.json(), "{path}: no body and {{}} are the same request");
    }
    let answer = compute(w, json!({}));
    assert_eq!((answer["placement"]["plan_tier"].clone(), answer["region"].clone()), (json!("basic"), json!("sg")));
    assert_eq!(answer["selected_node_id"], "sg-1");
    assert_eq!(answer["tenant_id"], Value::Null);
    let legacy = dry_run(w, json!({}));
    assert_eq!((legacy["planTier"].clone(), legacy["region"].clone()), (json!("basic"), json!("sg")));
}

fn compute_called_50_times_changes_nothing(w: &mut Worker) {
    reset(w);
    node_with(w, "sg-1", "sg", json!(10), json!(10), json!(10), 1);
    node_with(w, "sg-2", "sg", json!(20), json!(10), json!(10), 2);
    insert_job(w, "ro-1", "sg-1", "pending", None);
    let before = w.dump();
    let bodies = [
        json!({}),
        json!({"region": "sg", "tenant_id": "t1"}),
        json!({"plan_tier": "enterprise", "tenant_id": "Acme"}),
        json!({"region": "eu"}),
        json!({"tier": "free"}),
    ];
    let first = compute(w, bodies[0].clone());
    for i in 0..50 {
        let path = if i % 5 == 4 { "/internal/placement-dry-run" } else { "/internal/placement/compute" };
        assert_eq!(w.post(path, &bodies[i % bodies.len()]).status, 200);
    }
    assert_eq!(before, w.dump(), "compute wrote to D1");
    // The same input gives the same answer (apart from the metrics' age).
    let mut again = compute(w, bodies[0].clone());
    let mut first = first;
    for answer in [&mut first, &mut again] {
        for c in answer["candidates"].as_array_mut().unwrap() {
            c["metrics_age_s"] = Value::Null;
        }
    }
    assert_eq!(first, again);
}

fn legacy_dry_run_agrees_with_compute(w: &mut Worker) {
    reset(w);
    let requests = [
        json!({}),
        json!({"region": "sg"}),
        json!({"region": "us", "plan_tier": "professional"}),
        json!({"region": "eu", "tier": "free"}),
        json!({"plan_tier": "enterprise", "tenant_id": "Acme Corp!", "region": "us"}),
        json!({"plan_tier": "enterprise"}),
    ];
    // Three fleets: empty; some nodes everywhere; the sg winner drained and us full.
    let fleets: [fn(&Worker); 3] = [
        |_| {},
        |w| {
            node_with(w, "sg-1", "sg", json!(30), json!(30), json!(30), 1);
            node_with(w, "sg-2", "sg", json!(10), json!(10), json!(10), 0);
            node_with(w, "us-1", "us", json!(50), Value::Null, json!(50), 2);
            node(w, "eu-1", "eu", "active");
        },
        |w| {
            node(w, "sg-2", "sg", "draining");
            push(w, json!({"node_id": "us-1", "memory_pct": 50, "tenant_count": MAX_TENANTS}));
        },
    ];
    let mut reasons_seen = std::collections::BTreeSet::new();
    for build in fleets {
        build(w);
        for req in &requests {
            let c = compute(w, req.clone());
            let d = dry_run(w, req.clone());
            let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
            assert_eq!(keys.len(), 7, "{d}");
            let pairs = [
                ("createNewServer", &c["placement"]["create_new_server"]),
                ("targetServerId", &c["placement"]["target_server_id"]),
                ("dedicated", &c["placement"]["dedicated"]),
                ("region", &c["placement"]["region"]),
                ("planTier", &c["placement"]["plan_tier"]),
                ("reason", &c["decision_reason"]),
                ("algorithm", &c["algorithm"]),
            ];
            for (legacy, value) in pairs {
                assert_eq!(&d[legacy], value, "{req}: {legacy} differs: {d} vs {c}");
            }
            reasons_seen.insert(c["decision_reason"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(reasons_seen.into_iter().collect::<Vec<_>>(), ["dedicated_plan", "least_loaded_eligible_node", "no_eligible_node"]);
}

fn jobs_reserve_room_until_the_next_push(w: &mut Worker) {
    reset(w);
    node_with(w, "us-r", "us", json!(10), json!(10), json!(10), 1);
    node_with(w, "us-s", "us", json!(70), json!(70), json!(70), 0);
    let seen = |w: &Worker| -> (u64, u64, Vec<String>) {
        let a = compute(w, json!({"region": "us"}));
        let c = candidate(&a, "us-r");
        (c["reserved"].as_u64().unwrap(), c["effective_tenants"].as_u64().unwrap(), reasons(&a, "us-r"))
    };
    assert_eq!(seen(w), (0, 1, vec![]));

    // A pending job on us-r holds a place; one on another node or a failed one does not.
    insert_job(w, "r-pending", "us-r", "pending", None);
    insert_job(w, "r-elsewhere", "us-s", "pending", None);
    insert_job(w, "r-failed", "us-r", "failed", Some(now_ms()));
    assert_eq!(seen(w), (1, 2, vec![]));
    let a = compute(w, json!({"region": "us"}));
    let got = candidate(&a, "us-r")["score"].as_f64().unwrap();
    assert!((got - score(10.0, Some(10.0), 2)).abs() < 1e-12, "the score counts reservations: {got}");

    // A dispatched one too: 1 pushed + 2 reserved reaches the maximum of 3.
    insert_job(w, "r-dispatched", "us-r", "dispatched", None);
    assert_eq!(seen(w), (2, 3, vec!["tenant_capacity_reached".to_string()]));
    assert_eq!(compute(w, json!({"region": "us"}))["selected_node_id"], "us-s");

    // Both finish: a success after the node's last push still holds its place, one before not.
    let pushed_at = w.count("SELECT updated_at FROM server_metrics WHERE node_id = 'us-r'");
    w.sql(&format!("UPDATE provision_jobs SET status = 'succeeded', completed_at = {} WHERE job_id = 'r-pending'", pushed_at + 1000));
    w.sql(&format!("UPDATE provision_jobs SET status = 'succeeded', completed_at = {} WHERE job_id = 'r-dispatched'", pushed_at - 1000));
    assert_eq!(seen(w), (1, 2, vec![]));
    assert_eq!(compute(w, json!({"region": "us"}))["selected_node_id"], "us-r");

    // The next push (later than r-pending's completion, 1 s after the last push) includes that
    // tenant (tenant_count 2): nothing is reserved any more.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    push(w, json!({"node_id": "us-r", "memory_pct": 10, "cpu_pct": 10, "disk_pct": 10, "tenant_count": 2}));
    assert_eq!(seen(w), (0, 2, vec![]));
    // Without metrics the reservations alone are the effective count.
    node(w, "us-t", "us", "active");
    insert_job(w, "t-pending", "us-t", "pending", None);
    let c = compute(w, json!({"region": "us"}));
    let t = candidate(&c, "us-t");
    assert_eq!((t["reserved"].as_u64(), t["effective_tenants"].as_u64()), (Some(1), Some(1)));
    assert_eq!(reasons(&c, "us-t"), ["no_metrics"]);
}

fn every_tenant_gets_a_new_server(w: &mut Worker) {
    node_with(w, "eu-1", "eu", json!(5), json!(5), json!(5), 0);
    let answer = compute(w, json!({}));
    assert_eq!(answer["decision_reason"], "one_tenant_one_server_policy");
    assert_eq!(
        answer["placement"],
        json!({"create_new_server": true, "target_server_id": null, "dedicated": false, "region": "eu", "plan_tier": "basic", "pulumi_stack": "eu"}),
        "an empty body means DEFAULT_REGION (eu here)"
    );
    assert_eq!(answer["selected_node_id"], Value::Null);
    assert_eq!(candidate(&answer, "eu-1")["eligible"], true, "the fleet is still shown");
    let legacy = dry_run(w, json!({}));
    assert_eq!(
        legacy,
        json!({"createNewServer": true, "targetServerId": null, "dedicated": false, "region": "eu", "planTier": "basic", "reason": "one_tenant_one_server_policy", "algorithm": "decidePlacement_unified_v1"})
    );
    // The dedicated plan is decided before the policy.
    let enterprise = compute(w, json!({"plan_tier": "enterprise", "tenant_id": "Acme Corp!"}));
    assert_eq!(enterprise["decision_reason"], "dedicated_plan");
    assert_eq!(enterprise["placement"]["pulumi_stack"], "dedicated-acme-corp");
}
