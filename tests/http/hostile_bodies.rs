//! The hostile table's per-route sections (5-11): placement, nodes, metrics, trace events,
//! enqueue and jobs, each a list of bodies, ids or query strings the Worker must refuse.

use crate::hostile_table::*;
use serde_json::{json, Value};

/// Sections 5-8: placement compute and dry-run, node upsert, read, delete and list, metrics push.
pub fn placement_nodes_metrics(hs: &mut Vec<H>) {
    let long = "L".repeat(10_000);

    // 5. Placement compute and dry-run: wrong types, unknown values and fields.
    for path in ["/internal/placement/compute", "/internal/placement-dry-run"] {
        let bodies: Vec<(&str, Value)> = vec![
            ("tier_unknown", json!({"plan_tier": "gold"})),
            ("tier_empty", json!({"plan_tier": ""})),
            ("tier_case", json!({"plan_tier": "Basic"})),
            ("tier_number", json!({"plan_tier": 1})),
            ("tier_bool", json!({"plan_tier": true})),
            ("tier_array", json!({"plan_tier": ["basic"]})),
            ("tier_object", json!({"plan_tier": {"name": "basic"}})),
            ("alias_unknown", json!({"tier": "platinum"})),
            ("alias_and_field", json!({"plan_tier": "basic", "tier": "basic"})),
            ("region_unknown", json!({"region": "ap"})),
            ("region_case", json!({"region": "SG"})),
            ("region_empty", json!({"region": ""})),
            ("region_number", json!({"region": 5})),
            ("region_array", json!({"region": ["sg"]})),
            ("region_sql", json!({"region": "sg' OR '1'='1"})),
            ("tenant_empty", json!({"tenant_id": ""})),
            ("tenant_10k", json!({"tenant_id": long})),
            ("tenant_129", json!({"tenant_id": "t".repeat(129)})),
            ("tenant_nul", json!({"tenant_id": "a\u{0}b"})),
            ("tenant_newline", json!({"tenant_id": "a\nb"})),
            ("tenant_number", json!({"tenant_id": 5})),
            ("tenant_huge_number", json!({"tenant_id": 1e300})),
            ("tenant_array", json!({"tenant_id": ["t"]})),
            ("enterprise_symbols_only_tenant", json!({"plan_tier": "enterprise", "tenant_id": "'; --"})),
            ("enterprise_unicode_only_tenant", json!({"plan_tier": "enterprise", "tenant_id": "テナント"})),
            ("unknown_field", json!({"dry": true})),
            ("unknown_field_camel", json!({"planTier": "basic"})),
            ("many_unknown_fields", json!({"a": 1, "b": 2, "c": 3})),
        ];
        for (name, body) in bodies {
            hs.push(H::json(format!("placement/{name} {path}"), path, body.to_string(), S400));
        }
        let mut raw = H::json(format!("placement/big_integer_tenant {path}"), path, b"{\"tenant_id\":18446744073709551616}".to_vec(), S400);
        raw.label = format!("placement/big_integer_tenant {path}");
        hs.push(raw);
    }

    // 6. Node upsert.
    for (name, id) in body_ids() {
        hs.push(H::json(format!("node/node_id_{name}"), "/internal/nodes", json!({"node_id": id, "region": "sg", "host": "10.0.0.9"}).to_string(), S400));
    }
    let node_bodies: Vec<(&str, Value)> = vec![
        ("node_id_number", json!({"node_id": 7, "region": "sg", "host": "10.0.0.9"})),
        ("node_id_array", json!({"node_id": ["hz-sg-9"], "region": "sg", "host": "10.0.0.9"})),
        ("node_id_object", json!({"node_id": {"id": "hz-sg-9"}, "region": "sg", "host": "10.0.0.9"})),
        ("missing_node_id", json!({"region": "sg", "host": "10.0.0.9"})),
        ("missing_region", json!({"node_id": "hz-sg-9", "host": "10.0.0.9"})),
        ("missing_host", json!({"node_id": "hz-sg-9", "region": "sg"})),
        ("null_host", json!({"node_id": "hz-sg-9", "region": "sg", "host": null})),
        ("region_unknown", json!({"node_id": "hz-sg-9", "region": "ap", "host": "10.0.0.9"})),
        ("region_case", json!({"node_id": "hz-sg-9", "region": "SG", "host": "10.0.0.9"})),
        ("region_number", json!({"node_id": "hz-sg-9", "region": 1, "host": "10.0.0.9"})),
        ("existing_node_bad_region", json!({"node_id": SEED_NODE, "region": "xx", "host": "10.0.0.9"})),
        ("host_words", json!({"node_id": "hz-sg-9", "region": "sg", "host": "not a host"})),
        ("host_url", json!({"node_id": "hz-sg-9", "region": "sg", "host": "http://x"})),
        ("host_with_port", json!({"node_id": "hz-sg-9", "region": "sg", "host": "1.2.3.4:22"})),
        ("host_empty", json!({"node_id": "hz-sg-9", "region": "sg", "host": ""})),
        ("host_10k", json!({"node_id": "hz-sg-9", "region": "sg", "host": long})),
        ("host_shell", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.1; rm -rf /"})),
        ("host_sql", json!({"node_id": "hz-sg-9", "region": "sg", "host": "x' OR '1'='1"})),
        ("host_double_dot", json!({"node_id": "hz-sg-9", "region": "sg", "host": "a..b"})),
        ("host_number", json!({"node_id": "hz-sg-9", "region": "sg", "host": 10})),
        ("existing_node_bad_host", json!({"node_id": SEED_NODE, "region": "sg", "host": "bad host"})),
        ("status_unknown", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "status": "dead"})),
        ("status_case", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "status": "ACTIVE"})),
        ("status_bool", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "status": true})),
        ("existing_node_bad_status", json!({"node_id": SEED_NODE, "region": "sg", "host": "10.1.0.1", "status": "deleted"})),
        ("provider_negative", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": -1})),
        ("provider_fraction", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": 1.5})),
        ("provider_huge", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": 1e300})),
        ("provider_minus_huge", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": -1e300})),
        ("provider_words", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": "x y"})),
        ("provider_sql", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": "1; DROP TABLE nodes;--"})),
        ("provider_empty", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": ""})),
        ("provider_bool", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": true})),
        ("provider_array", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": [1]})),
        ("provider_nan_string", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "provider_server_id": "NaN"})),
        ("labels_array", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": ["a"]})),
        ("labels_string", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": "a=b"})),
        ("labels_number_value", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": 1}})),
        ("labels_null_value", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": null}})),
        ("labels_nested", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": {"n": "v"}}})),
        ("labels_empty_key", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"": "v"}})),
        ("labels_key_space", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"bad key": "v"}})),
        ("labels_key_sql", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k'; DROP TABLE nodes;--": "v"}})),
        ("labels_key_65", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k".repeat(65): "v"}})),
        ("labels_value_control", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": "a\nb"}})),
        ("labels_value_nul", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": "a\u{0}b"}})),
        ("labels_value_257", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": "v".repeat(257)}})),
        ("labels_value_10k", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": {"k": long}})),
        (
            "labels_33_entries",
            json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "labels": (0..33).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
        ),
        ("existing_node_bad_labels", json!({"node_id": SEED_NODE, "region": "sg", "host": "10.1.0.1", "labels": {"rack": 7}})),
        ("unknown_field", json!({"node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9", "zone": "a"})),
        ("unknown_field_case", json!({"NODE_ID": "hz-sg-9", "node_id": "hz-sg-9", "region": "sg", "host": "10.0.0.9"})),
        ("existing_node_unknown_field", json!({"node_id": SEED_NODE, "region": "sg", "host": "10.1.0.1", "created_at": 0})),
    ];
    for (name, body) in node_bodies {
        hs.push(H::json(format!("node/{name}"), "/internal/nodes", body.to_string(), S400));
    }
    hs.push(H::json(
        "node/provider_2pow64",
        "/internal/nodes",
        br#"{"node_id":"hz-sg-9","region":"sg","host":"10.0.0.9","provider_server_id":18446744073709551616}"#.to_vec(),
        S400,
    ));
    hs.push(H::json("node/empty_body", "/internal/nodes", Vec::new(), S400));

    // 7. Node read and delete by path id; listing with bad query strings.
    for (name, id, want) in path_ids() {
        hs.push(H::new(format!("node_get/{name}"), "GET", format!("/internal/nodes/{id}"), want));
        hs.push(H::new(format!("node_delete/{name}"), "DELETE", format!("/internal/nodes/{id}"), want));
    }
    hs.push(H::new("node_get/unknown", "GET", "/internal/nodes/ghost-node", S404));
    hs.push(H::new("node_delete/unknown", "DELETE", "/internal/nodes/ghost-node", S404));
    hs.push(H::new("node_delete/has_active_job", "DELETE", format!("/internal/nodes/{SEED_NODE}"), S409));
    for q in [
        "regoin=sg",
        "region=ap",
        "region=SG",
        "region=",
        "region",
        "=sg",
        "stale=yes",
        "stale=1",
        "stale=TRUE",
        "stale=",
        "region=sg&region=us",
        "region=sg&region=sg",
        "stale=true&stale=true",
        "region=sg'--",
        "region=sg%00",
        "region=sg%27%20OR%20%271%27%3D%271",
        "region=sg;DROP%20TABLE%20nodes",
        "region=%ff",
        "stale=%C0%AE",
        "limit=0",
        "limit=-1",
        "region=sg&limit=1001",
        "limit=1e2",
        "cursor=zz",
        "cursor=2e2e2f",
        "limit=5&limit=5",
        "region=%ZZ",
        "region=%E2%80%AE",
        "%00=1",
    ] {
        hs.push(H::new(format!("node_list/{q}"), "GET", format!("/internal/nodes?{q}"), S400));
    }
    let long_q = format!("region={}", "s".repeat(10_000));
    hs.push(H::new("node_list/region_10k", "GET", format!("/internal/nodes?{long_q}"), S400));

    // 8. Metrics push.
    for (name, id) in body_ids() {
        hs.push(H::json(format!("metrics/node_id_{name}"), "/internal/server-metrics", json!({"node_id": id, "cpu_pct": 1}).to_string(), S400));
    }
    hs.push(H::json(
        "metrics/unknown_node",
        "/internal/server-metrics",
        json!({"node_id": "ghost-node", "cpu_pct": 1, "save_snapshot": true}).to_string(),
        S404,
    ));
    hs.push(H::json("metrics/case_differs", "/internal/server-metrics", json!({"node_id": "HZ-SG-1", "cpu_pct": 1, "save_snapshot": true}).to_string(), S404));
    let bad_numbers: Vec<(&str, Value)> = vec![
        ("nan_string", json!("NaN")),
        ("infinity_string", json!("Infinity")),
        ("minus_infinity_string", json!("-Infinity")),
        ("numeric_string", json!("50")),
        ("minus_1e300", json!(-1e300)),
        ("plus_1e300", json!(1e300)),
        ("just_over_100", json!(100.0001)),
        ("just_under_0", json!(-0.0001)),
        ("negative_one", json!(-1)),
        ("bool", json!(true)),
        ("array", json!([50])),
        ("object", json!({"v": 50})),
        ("empty_string", json!("")),
    ];
    for field in ["cpu_pct", "memory_pct", "disk_pct"] {
        for (name, v) in &bad_numbers {
            let mut body = json!({"node_id": SEED_NODE, "save_snapshot": true});
            body[field] = v.clone();
            hs.push(H::json(format!("metrics/{field}_{name}"), "/internal/server-metrics", body.to_string(), S400));
        }
        hs.push(H::json(
            format!("metrics/{field}_2pow64"),
            "/internal/server-metrics",
            format!("{{\"node_id\":\"{SEED_NODE}\",\"{field}\":18446744073709551616,\"save_snapshot\":true}}"),
            S400,
        ));
    }
    let bad_counts: Vec<(&str, Value)> = vec![
        ("negative", json!(-1)),
        ("fraction", json!(2.5)),
        ("over_max_float", json!(100001.0)),
        ("tiny_fraction", json!(0.0001)),
        ("over_max", json!(100_001)),
        ("huge", json!(1e30)),
        ("minus_1e300", json!(-1e300)),
        ("numeric_string", json!("3")),
        ("nan_string", json!("NaN")),
        ("infinity_string", json!("Infinity")),
        ("bool", json!(false)),
        ("array", json!([3])),
        ("object", json!({"n": 3})),
        ("i64_min", json!(i64::MIN)),
        ("u64_max", json!(u64::MAX)),
    ];
    for (name, v) in bad_counts {
        hs.push(H::json(
            format!("metrics/tenant_count_{name}"),
            "/internal/server-metrics",
            json!({"node_id": SEED_NODE, "tenant_count": v, "save_snapshot": true}).to_string(),
            S400,
        ));
    }
    hs.push(H::json(
        "metrics/tenant_count_2pow64",
        "/internal/server-metrics",
        format!("{{\"node_id\":\"{SEED_NODE}\",\"tenant_count\":18446744073709551616}}"),
        S400,
    ));
    // `1e2` and `3.0` are whole numbers and therefore counts; an exponent past the limit is not.
    hs.push(H::json("metrics/tenant_count_exp_form", "/internal/server-metrics", format!("{{\"node_id\":\"{SEED_NODE}\",\"tenant_count\":1e7}}"), S400));
    let misc: Vec<(&str, Value)> = vec![
        ("snapshot_string", json!({"node_id": SEED_NODE, "save_snapshot": "true"})),
        ("snapshot_number", json!({"node_id": SEED_NODE, "save_snapshot": 1})),
        ("snapshot_zero", json!({"node_id": SEED_NODE, "save_snapshot": 0})),
        ("snapshot_array", json!({"node_id": SEED_NODE, "save_snapshot": [true]})),
        ("source_unknown", json!({"node_id": SEED_NODE, "source": "cron", "save_snapshot": true})),
        ("source_case", json!({"node_id": SEED_NODE, "source": "NODE_PUSH"})),
        ("source_empty", json!({"node_id": SEED_NODE, "source": ""})),
        ("source_number", json!({"node_id": SEED_NODE, "source": 1})),
        ("unknown_field", json!({"node_id": SEED_NODE, "cpu": 5, "save_snapshot": true})),
        ("unknown_field_camel", json!({"node_id": SEED_NODE, "tenantCount": 5})),
        ("extra_field", json!({"node_id": SEED_NODE, "cpu_pct": 5, "save_snapshot": true, "extra": {"x": 1}})),
        ("node_id_number", json!({"node_id": 7, "cpu_pct": 5})),
        ("node_id_array", json!({"node_id": [SEED_NODE], "cpu_pct": 5})),
        ("node_id_null", json!({"node_id": null, "cpu_pct": 5})),
        ("missing_node_id", json!({"cpu_pct": 5, "save_snapshot": true})),
    ];
    for (name, body) in misc {
        hs.push(H::json(format!("metrics/{name}"), "/internal/server-metrics", body.to_string(), S400));
    }
    hs.push(H::json(
        "metrics/duplicate_node_id",
        "/internal/server-metrics",
        format!("{{\"node_id\":\"{SEED_NODE}\",\"node_id\":\"hz-sg-2\",\"cpu_pct\":5}}"),
        S400,
    ));
    hs.push(H::json("metrics/empty_body", "/internal/server-metrics", Vec::new(), S400));
}

/// Sections 9-11: trace events, enqueue, job read and complete.
pub fn traces_enqueue_jobs(hs: &mut Vec<H>) {
    let long = "L".repeat(10_000);

    // 9. Trace events: post and list.
    let trace_ids: Vec<(&str, Value)> = vec![
        ("empty", json!("")),
        ("no_prefix", json!("t1")),
        ("prefix_only_word", json!("trace")),
        ("prefix_case", json!("TRACE_x")),
        ("inner_space", json!("trace_a b")),
        ("bell", json!("trace_\u{7}")),
        ("nul", json!("trace_a\u{0}")),
        ("unicode", json!("trace_é")),
        ("emoji", json!("trace_😀")),
        ("len_129", json!(format!("trace_{}", "a".repeat(123)))),
        ("len_10k", json!(format!("trace_{long}"))),
        ("traversal", json!("../trace_x")),
        ("number", json!(5)),
        ("array", json!(["trace_x"])),
        ("null", Value::Null),
        ("sql_spaced", json!("trace_x' OR '1'='1")),
    ];
    for (name, t) in trace_ids {
        hs.push(H::json(format!("trace_post/trace_id_{name}"), "/internal/trace-events", json!({"trace_id": t, "event": "x"}).to_string(), S400));
    }
    let events: Vec<(&str, Value)> = vec![
        ("empty", json!("")),
        ("space", json!("Bad Event")),
        ("upper", json!("A")),
        ("len_65", json!("e".repeat(65))),
        ("unicode", json!("évènement")),
        ("slash", json!("a/b")),
        ("sql", json!("x' OR '1'='1")),
        ("number", json!(1)),
        ("array", json!(["x"])),
        ("null", Value::Null),
    ];
    for (name, e) in events {
        hs.push(H::json(format!("trace_post/event_{name}"), "/internal/trace-events", json!({"trace_id": SEED_TRACE, "event": e}).to_string(), S400));
    }
    let trace_misc: Vec<(&str, Value)> = vec![
        ("job_id_129", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": "j".repeat(129)})),
        ("job_id_nul", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": "a\u{0}b"})),
        ("job_id_newline", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": "a\nb"})),
        ("job_id_number", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": 5})),
        ("job_id_object", json!({"trace_id": SEED_TRACE, "event": "x", "job_id": {}})),
        ("tenant_id_10k", json!({"trace_id": SEED_TRACE, "event": "x", "tenant_id": long})),
        ("tenant_id_control", json!({"trace_id": SEED_TRACE, "event": "x", "tenant_id": "a\u{1b}[31mred"})),
        ("status_65", json!({"trace_id": SEED_TRACE, "event": "x", "status": "s".repeat(65)})),
        ("status_number", json!({"trace_id": SEED_TRACE, "event": "x", "status": 200})),
        ("detail_string", json!({"trace_id": SEED_TRACE, "event": "x", "detail": "text"})),
        ("detail_array", json!({"trace_id": SEED_TRACE, "event": "x", "detail": [1, 2]})),
        ("detail_number", json!({"trace_id": SEED_TRACE, "event": "x", "detail": 1})),
        ("detail_bool", json!({"trace_id": SEED_TRACE, "event": "x", "detail": true})),
        ("detail_over_8k", json!({"trace_id": SEED_TRACE, "event": "x", "detail": {"big": "y".repeat(9000)}})),
        (
            "detail_many_keys_over_8k",
            json!({"trace_id": SEED_TRACE, "event": "x", "detail": (0..1000).map(|i| (format!("key{i:04}"), json!(i))).collect::<serde_json::Map<_, _>>()}),
        ),
        ("unknown_field", json!({"trace_id": SEED_TRACE, "event": "x", "level": "info"})),
        ("missing_event", json!({"trace_id": SEED_TRACE})),
        ("missing_trace_id", json!({"event": "x"})),
    ];
    for (name, body) in trace_misc {
        hs.push(H::json(format!("trace_post/{name}"), "/internal/trace-events", body.to_string(), S400));
    }
    hs.push(H::json(
        "trace_post/detail_duplicate_key",
        "/internal/trace-events",
        format!("{{\"trace_id\":\"{SEED_TRACE}\",\"event\":\"x\",\"detail\":{{\"a\":1,\"a\":2}}}}"),
        S400,
    ));
    hs.push(H::json("trace_post/empty_body", "/internal/trace-events", Vec::new(), S400));
    for q in [
        "",
        "trace_id=",
        "trace_id=nope",
        "trace_id=TRACE_x",
        "trace_id=trace_a&trace_id=trace_b",
        "trace_id=trace_seed&trace_id=trace_seed",
        "trace_id=trace_seed&x=1",
        "tid=trace_seed",
        "trace_id=trace_%00",
        "trace_id=trace_%E2%80%AE",
        "trace_id=trace_x'%20OR%20'1'%3D'1",
        "trace_id=trace_a%20b",
        "trace_id=trace_%ff",
        "trace_id=%ZZ",
        "trace_id=trace_%C3%A9",
        "x=1&y=2",
        "trace_id[]=trace_seed",
        "TRACE_ID=trace_seed",
    ] {
        hs.push(H::new(format!("trace_list/?{q}"), "GET", format!("/internal/trace-events?{q}"), S400));
    }
    hs.push(H::new("trace_list/no_query", "GET", "/internal/trace-events", S400));
    hs.push(H::new("trace_list/trace_id_10k", "GET", format!("/internal/trace-events?trace_id=trace_{}", "a".repeat(10_000)), S400));

    // 10. Enqueue: bad tenant ids in the path, bad bodies, bad Idempotency-Key headers, conflicts.
    let good_enqueue = json!({"subdomain_slug": "hostile"}).to_string();
    for (name, id, want) in path_ids() {
        hs.push(H::json(format!("enqueue/tenant_{name}"), format!("/internal/tenants/{id}/enqueue-provision"), good_enqueue.clone(), want));
    }
    let enqueue_bodies: Vec<(&str, Value)> = vec![
        ("missing_slug", json!({})),
        ("slug_upper", json!({"subdomain_slug": "Acme"})),
        ("slug_leading_dash", json!({"subdomain_slug": "-acme"})),
        ("slug_trailing_dash", json!({"subdomain_slug": "acme-"})),
        ("slug_dot", json!({"subdomain_slug": "a.b"})),
        ("slug_underscore", json!({"subdomain_slug": "a_b"})),
        ("slug_64", json!({"subdomain_slug": "a".repeat(64)})),
        ("slug_10k", json!({"subdomain_slug": long.to_ascii_lowercase()})),
        ("slug_empty", json!({"subdomain_slug": ""})),
        ("slug_number", json!({"subdomain_slug": 5})),
        ("slug_unicode", json!({"subdomain_slug": "ácme"})),
        ("slug_sql", json!({"subdomain_slug": "x'--"})),
        ("slug_traversal", json!({"subdomain_slug": "../etc"})),
        ("tier_unknown", json!({"subdomain_slug": "acme", "plan_tier": "gold"})),
        ("tier_empty", json!({"subdomain_slug": "acme", "plan_tier": ""})),
        ("tier_number", json!({"subdomain_slug": "acme", "plan_tier": 1})),
        ("tier_and_alias", json!({"subdomain_slug": "acme", "plan_tier": "basic", "tier": "free"})),
        ("region_unknown", json!({"subdomain_slug": "acme", "region": "ap"})),
        ("region_number", json!({"subdomain_slug": "acme", "region": 5})),
        ("hostname_single_label", json!({"subdomain_slug": "acme", "canonical_hostname": "localhost"})),
        ("hostname_space", json!({"subdomain_slug": "acme", "canonical_hostname": "a b.com"})),
        ("hostname_url", json!({"subdomain_slug": "acme", "canonical_hostname": "http://x.com"})),
        ("hostname_10k", json!({"subdomain_slug": "acme", "canonical_hostname": format!("{}.com", long)})),
        ("hostname_number", json!({"subdomain_slug": "acme", "canonical_hostname": 5})),
        ("hostname_sql", json!({"subdomain_slug": "acme", "canonical_hostname": "x'--.com"})),
        ("hostname_unicode", json!({"subdomain_slug": "acme", "canonical_hostname": "bücher.de"})),
        ("trace_id_bad", json!({"subdomain_slug": "acme", "trace_id": "abc"})),
        ("trace_id_space", json!({"subdomain_slug": "acme", "trace_id": "trace_a b"})),
        ("trace_id_129", json!({"subdomain_slug": "acme", "trace_id": format!("trace_{}", "a".repeat(123))})),
        ("unknown_field", json!({"subdomain_slug": "acme", "priority": 1})),
        ("tenant_in_body", json!({"subdomain_slug": "acme", "tenant_id": "other"})),
        ("dedicated_in_body", json!({"subdomain_slug": "acme", "dedicated": true})),
    ];
    for (name, body) in enqueue_bodies {
        hs.push(H::json(format!("enqueue/{name}"), "/internal/tenants/t-hostile/enqueue-provision", body.to_string(), S400));
    }
    hs.push(H::json("enqueue/empty_body", "/internal/tenants/t-hostile/enqueue-provision", Vec::new(), S400));
    let keys: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("len_129", "k".repeat(129).into_bytes()),
        ("len_10k", "k".repeat(10_000).into_bytes()),
        ("inner_tab", b"a\tb".to_vec()),
        ("non_ascii_utf8", "ключ".as_bytes().to_vec()),
        ("latin1_byte", b"key\xe9".to_vec()),
    ];
    for (name, key) in keys {
        hs.push(
            H::json(format!("enqueue/idempotency_key_{name}"), "/internal/tenants/t-hostile/enqueue-provision", good_enqueue.clone(), S400)
                .header("Idempotency-Key", key),
        );
    }
    hs.push(H::json("enqueue/tenant_has_active_job", "/internal/tenants/acme/enqueue-provision", good_enqueue.clone(), S409));
    hs.push(
        H::json("enqueue/key_of_another_tenant", "/internal/tenants/t-other/enqueue-provision", good_enqueue.clone(), S422).header("Idempotency-Key", SEED_KEY),
    );
    let enterprise = json!({"subdomain_slug": "acme", "plan_tier": "enterprise"}).to_string();
    hs.push(H::json("enqueue/symbols_only_tenant_enterprise", "/internal/tenants/-_./enqueue-provision", enterprise, S400));

    // 11. Jobs: read and complete.
    for (name, id, want) in path_ids() {
        let want: &'static [u16] = if want == S400_404 { S400_404 } else { want };
        hs.push(H::new(format!("job_get/{name}"), "GET", format!("/internal/provision-jobs/{id}"), want));
        hs.push(H::json(format!("job_complete/{name}"), format!("/internal/provision-jobs/{id}/complete"), json!({"status": "succeeded"}).to_string(), want));
    }
    hs.push(H::new("job_get/unknown_uuid", "GET", "/internal/provision-jobs/99999999-9999-4999-8999-999999999999", S404));
    hs.push(H::json(
        "job_complete/unknown_uuid",
        "/internal/provision-jobs/99999999-9999-4999-8999-999999999999/complete",
        json!({"status": "succeeded"}).to_string(),
        S404,
    ));
    let complete_path = format!("/internal/provision-jobs/{JOB_DISPATCHED}/complete");
    let complete_bodies: Vec<(&str, Value)> = vec![
        ("status_dispatched", json!({"status": "dispatched"})),
        ("status_pending", json!({"status": "pending"})),
        ("status_upper", json!({"status": "SUCCEEDED"})),
        ("status_empty", json!({"status": ""})),
        ("status_number", json!({"status": 1})),
        ("status_bool", json!({"status": true})),
        ("status_array", json!({"status": ["succeeded"]})),
        ("status_missing", json!({"node_id": SEED_NODE})),
        ("status_null", json!({"status": null})),
        ("node_id_space", json!({"status": "succeeded", "node_id": "a b"})),
        ("node_id_sql", json!({"status": "succeeded", "node_id": "x' OR '1'='1"})),
        ("node_id_10k", json!({"status": "succeeded", "node_id": long})),
        ("node_id_number", json!({"status": "succeeded", "node_id": 5})),
        ("error_2001", json!({"status": "failed", "error": "e".repeat(2001)})),
        ("error_number", json!({"status": "failed", "error": 5})),
        ("error_object", json!({"status": "failed", "error": {"m": "x"}})),
        ("unknown_field", json!({"status": "succeeded", "reason": "done"})),
        ("unknown_field_state", json!({"state": "succeeded"})),
    ];
    for (name, body) in complete_bodies {
        hs.push(H::json(format!("job_complete/{name}"), complete_path.clone(), body.to_string(), S400));
    }
    hs.push(H::json("job_complete/empty_body", complete_path.clone(), Vec::new(), S400));
    hs.push(H::json("job_complete/duplicate_status", complete_path.clone(), br#"{"status":"succeeded","status":"failed"}"#.to_vec(), S400));
    hs.push(H::json(
        "job_complete/succeeded_to_failed",
        format!("/internal/provision-jobs/{JOB_SUCCEEDED}/complete"),
        json!({"status": "failed", "error": "late"}).to_string(),
        S409,
    ));
    hs.push(H::json(
        "job_complete/pending_to_succeeded",
        format!("/internal/provision-jobs/{JOB_PENDING}/complete"),
        json!({"status": "succeeded"}).to_string(),
        S409,
    ));
    hs.push(H::json(
        "job_complete/pending_to_failed",
        format!("/internal/provision-jobs/{JOB_PENDING}/complete"),
        json!({"status": "failed"}).to_string(),
        S409,
    ));
}
