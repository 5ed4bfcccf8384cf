//! Placement tests: a scenario table for the rules, a few pinned numbers and wire shapes, and
//! property tests for the invariants the module doc promises.

use super::*;
use crate::domain::MetricsSource;
use proptest::prelude::*;
use serde_json::json;

const NOW_MS: i64 = 1_800_000_000_000;

/// A node in one line: `id [draining] [-] [m=N|?] [c=N|?] [d=N|?] [t=N] [r=N] [age=Ns|Nms]`.
/// `-` means no metrics row; otherwise the metrics default to m=10 c=10 d=10 t=0 age=0.
fn node(spec: &str) -> FleetNode {
    let mut words = spec.split_whitespace();
    let node_id = words.next().expect("node id").to_string();
    let mut n = FleetNode { node_id, status: NodeStatus::Active, metrics: None, reserved: 0 };
    let mut m =
        Metrics { cpu_pct: Some(10.0), memory_pct: Some(10.0), disk_pct: Some(10.0), tenant_count: 0, source: MetricsSource::NodePush, updated_at: NOW_MS };
    let mut has_metrics = true;
    let pct = |v: &str| if v == "?" { None } else { Some(v.parse::<f64>().unwrap()) };
    for w in words {
        match w.split_once('=') {
            None if w == "draining" => n.status = NodeStatus::Draining,
            None if w == "-" => has_metrics = false,
            Some(("m", v)) => m.memory_pct = pct(v),
            Some(("c", v)) => m.cpu_pct = pct(v),
            Some(("d", v)) => m.disk_pct = pct(v),
            Some(("t", v)) => m.tenant_count = v.parse().unwrap(),
            Some(("r", v)) => n.reserved = v.parse().unwrap(),
            Some(("age", v)) => {
                let age_ms: i64 = match v.strip_suffix("ms") {
                    Some(ms) => ms.parse().unwrap(),
                    None => v.strip_suffix('s').expect("age needs s or ms").parse::<i64>().unwrap() * 1000,
                };
                m.updated_at = NOW_MS - age_ms;
            }
            _ => panic!("bad node word {w:?} in {spec:?}"),
        }
    }
    n.metrics = has_metrics.then_some(m);
    n
}

/// A request in one line: a tier, a policy, `tenant=ID`, `owner=ID` (the dedicated stack's
/// stored owner), `blind=PCT`, `limit=N`, and threshold overrides `mmax=`, `dmax=`, `tmax=`,
/// `stale=` (seconds). Defaults: basic, unified_v1, the SPEC limits, the blind hold at 50%, every
/// candidate listed.
fn input(spec: &str) -> PlacementInput<'_> {
    let mut i = PlacementInput {
        plan_tier: PlanTier::Basic,
        region: Region::Sg,
        tenant_id: None,
        policy: Policy::UnifiedV1,
        thresholds: Thresholds::default(),
        blind_fleet_pct: 50,
        stack_owner: None,
        listing: Listing::ALL,
        now_ms: NOW_MS,
    };
    for w in spec.split_whitespace() {
        match w.split_once('=') {
            None if PlanTier::parse("t", w).is_ok() => i.plan_tier = PlanTier::parse("t", w).unwrap(),
            None => i.policy = Policy::parse("policy", w).unwrap(),
            Some(("tenant", v)) => i.tenant_id = Some(v),
            Some(("owner", v)) => i.stack_owner = Some(v),
            Some(("blind", v)) => i.blind_fleet_pct = v.parse().unwrap(),
            Some(("limit", v)) => i.listing.candidates_limit = v.parse().unwrap(),
            Some(("mmax", v)) => i.thresholds.memory_pct_max = v.parse().unwrap(),
            Some(("dmax", v)) => i.thresholds.disk_pct_max = v.parse().unwrap(),
            Some(("tmax", v)) => i.thresholds.max_tenants_per_node = v.parse().unwrap(),
            Some(("stale", v)) => i.thresholds.stale_after_s = v.parse().unwrap(),
            _ => panic!("bad request word {w:?}"),
        }
    }
    i
}

fn decide(request: &str, fleet: &[&str]) -> PlacementDecision {
    let fleet: Vec<FleetNode> = fleet.iter().map(|s| node(s)).collect();
    decide_placement(&input(request), &fleet).unwrap()
}

/// `reason selected [!hold] | id: reasons | ... [| +more]`, candidates in answer order; `a:` is an
/// eligible node, `+more` a truncated list.
fn render(d: &PlacementDecision) -> String {
    let mut out = format!("{} {}", d.decision_reason.as_str(), d.selected_node_id.as_deref().unwrap_or("-"));
    if let Some(h) = &d.hold {
        out.push_str(&format!(" !{}", h.code.as_str()));
    }
    for c in &d.candidates {
        out.push_str(&format!(" | {}:", c.node_id));
        c.reasons.iter().for_each(|r| out.push_str(&format!(" {}", r.as_str())));
    }
    if d.candidates_truncated {
        out.push_str(" | +more");
    }
    out
}

#[rustfmt::skip]
const SCENARIOS: &[(&str, &str, &[&str], &str)] = &[
    // (name, request, fleet, expected)
    ("empty region", "basic", &[], "no_eligible_node -"),
    ("one healthy node", "basic", &["a"], "least_loaded_eligible_node a | a:"),
    ("least loaded memory wins", "basic", &["a m=60", "b m=20"], "least_loaded_eligible_node b | b: | a:"),
    ("free and professional share like basic", "free", &["a"], "least_loaded_eligible_node a | a:"),
    ("professional", "professional", &["a", "b m=5"], "least_loaded_eligible_node b | b: | a:"),
    ("draining", "basic", &["a draining", "b m=70"], "least_loaded_eligible_node b | b: | a: node_draining"),
    ("no metrics", "basic", &["a -", "b"], "least_loaded_eligible_node b | b: | a: no_metrics"),
    ("draining without metrics", "basic", &["a draining -"], "no_eligible_node - | a: node_draining no_metrics"),
    ("no metrics hides capacity", "basic blind=0", &["a - r=99"], "no_eligible_node - | a: no_metrics"),
    ("stale exactly at the limit is fresh", "basic", &["a age=600000ms"], "least_loaded_eligible_node a | a:"),
    ("stale 1 ms past the limit", "basic blind=0", &["a age=600001ms"], "no_eligible_node - | a: stale_metrics"),
    ("stale limit from the thresholds", "basic stale=0", &["a age=1ms", "b age=0ms"], "least_loaded_eligible_node b | b: | a: stale_metrics"),
    ("metrics from the future are fresh", "basic", &["a age=-5s"], "least_loaded_eligible_node a | a:"),
    ("draining and stale together", "basic", &["a draining age=601s", "b"], "least_loaded_eligible_node b | b: | a: node_draining stale_metrics"),
    ("memory unknown", "basic", &["a m=?"], "no_eligible_node - | a: memory_unknown"),
    ("memory at the max", "basic", &["a m=80"], "no_eligible_node - | a: memory_over_threshold"),
    ("memory just below the max", "basic", &["a m=79.99"], "least_loaded_eligible_node a | a:"),
    ("memory max from the thresholds", "basic mmax=50", &["a m=50", "b m=49"], "least_loaded_eligible_node b | b: | a: memory_over_threshold"),
    ("disk at the max", "basic", &["a d=85"], "no_eligible_node - | a: disk_over_threshold"),
    ("disk just below the max", "basic", &["a d=84.99"], "least_loaded_eligible_node a | a:"),
    ("disk unknown is not a reason", "basic", &["a d=?"], "least_loaded_eligible_node a | a:"),
    ("disk max from the thresholds", "basic dmax=20", &["a d=20", "b d=19"], "least_loaded_eligible_node b | b: | a: disk_over_threshold"),
    ("tenants at the max", "basic", &["a t=40", "b t=39"], "least_loaded_eligible_node b | b: | a: tenant_capacity_reached"),
    ("reservations reach the max", "basic", &["a t=38 r=2", "b t=38 r=1"], "least_loaded_eligible_node b | b: | a: tenant_capacity_reached"),
    ("reservations alone reach the max", "basic tmax=3", &["a t=0 r=3"], "no_eligible_node - | a: tenant_capacity_reached"),
    ("a max of zero fills every node", "basic tmax=0", &["a"], "no_eligible_node - | a: tenant_capacity_reached"),
    ("reservations lower the score", "basic", &["a t=5 r=10", "b t=10"], "least_loaded_eligible_node b | b: | a:"),
    ("every metrics reason at once", "basic", &["z draining age=700s m=90 d=90 t=40"],
        "no_eligible_node - | z: node_draining stale_metrics memory_over_threshold disk_over_threshold tenant_capacity_reached"),
    ("memory unknown with the rest", "basic", &["y draining age=700s m=? t=45"],
        "no_eligible_node - | y: node_draining stale_metrics memory_unknown tenant_capacity_reached"),
    ("cpu unknown scores on two terms", "basic", &["a m=40 c=90", "b m=40 c=?"], "least_loaded_eligible_node b | b: | a:"),
    ("cpu known can beat two terms", "basic", &["a m=40 c=0", "b m=40 c=?"], "least_loaded_eligible_node a | a: | b:"),
    // m=20,t=10 and m=40,t=0 both give (0.75 + 0.75) and (0.5 + 1.0): exactly equal scores.
    ("equal score: fewer effective tenants", "basic", &["a m=20 t=10", "b m=40 t=0"], "least_loaded_eligible_node b | b: | a:"),
    ("equal score and tenants: node_id", "basic", &["b", "a"], "least_loaded_eligible_node a | a: | b:"),
    ("node_id in byte order", "basic", &["n9", "n10", "N1"], "least_loaded_eligible_node N1 | N1: | n10: | n9:"),
    ("ids sharing more than 16 bytes", "basic", &["node-with-a-long-prefix-b", "node-with-a-long-prefix-a", "node-with-a-long", "node-with-a-long-prefix-c -", "node-with-a-long-prefix -"],
        "least_loaded_eligible_node node-with-a-long | node-with-a-long: | node-with-a-long-prefix-a: | node-with-a-long-prefix-b: | node-with-a-long-prefix: no_metrics | node-with-a-long-prefix-c: no_metrics"),
    ("eligible by rank, then ineligible by id", "basic", &["d m=70", "c draining", "b m=10", "a -"],
        "least_loaded_eligible_node b | b: | d: | a: no_metrics | c: node_draining"),
    ("nothing eligible", "basic blind=51", &["a draining", "b m=95", "c -"],
        "no_eligible_node - | a: node_draining | b: memory_over_threshold | c: no_metrics"),
    // Holds. The blind share counts active nodes only: 2 of 5 is under 50%, 2 of 4 is at it.
    ("blind share just under the threshold", "basic", &["a age=700s", "b -", "c m=90", "d m=90", "e m=90", "f draining -"],
        "no_eligible_node - | a: stale_metrics | b: no_metrics | c: memory_over_threshold | d: memory_over_threshold | e: memory_over_threshold | f: node_draining no_metrics"),
    ("blind share at the threshold", "basic", &["a age=700s", "b -", "c m=90", "d m=90", "f draining -"],
        "no_eligible_node - !fleet_metrics_stale | a: stale_metrics | b: no_metrics | c: memory_over_threshold | d: memory_over_threshold | f: node_draining no_metrics"),
    ("a blind region of one node", "basic", &["a -"], "no_eligible_node - !fleet_metrics_stale | a: no_metrics"),
    ("the threshold from the settings", "basic blind=75", &["a -", "b -", "c m=90", "d m=90"],
        "no_eligible_node - | a: no_metrics | b: no_metrics | c: memory_over_threshold | d: memory_over_threshold"),
    ("a threshold of 100 needs every active node blind", "basic blind=100", &["a -", "b age=601s", "c draining"],
        "no_eligible_node - !fleet_metrics_stale | a: no_metrics | b: stale_metrics | c: node_draining"),
    ("the hold turned off", "basic blind=0", &["a -", "b age=700s"], "no_eligible_node - | a: no_metrics | b: stale_metrics"),
    ("a region with no nodes orders its first server", "basic blind=1", &[], "no_eligible_node -"),
    ("a region of draining nodes is not blind", "basic", &["a draining -", "b draining age=900s"],
        "no_eligible_node - | a: node_draining no_metrics | b: node_draining stale_metrics"),
    ("one eligible node in a blind region is used", "basic", &["a -", "b -", "c"], "least_loaded_eligible_node c | c: | a: no_metrics | b: no_metrics"),
    ("a dedicated tenant is unaffected by a blind region", "enterprise tenant=acme", &["a -", "b age=700s"],
        "dedicated_plan - | a: no_metrics | b: stale_metrics"),
    ("the one-server policy is unaffected by a blind region", "basic one_tenant_one_server_v1", &["a -"], "one_tenant_one_server_policy - | a: no_metrics"),
    ("a stack that belongs to another tenant", "enterprise tenant=acme.corp owner=Acme-Corp", &["a"], "dedicated_plan - !stack_name_taken | a:"),
    ("a stack that belongs to this tenant", "enterprise tenant=Acme-Corp owner=Acme-Corp", &["a"], "dedicated_plan - | a:"),
    ("an owner is only read for a dedicated stack", "basic tenant=acme owner=other", &["a"], "least_loaded_eligible_node a | a:"),
    // Limits: the list is cut, the decision is not.
    ("a list of one", "basic limit=1", &["a m=60", "b m=20", "c -"], "least_loaded_eligible_node b | b: | +more"),
    ("a list of none still decides", "basic limit=0", &["a m=60", "b m=20"], "least_loaded_eligible_node b | +more"),
    ("a limit of the region's size is not truncated", "basic limit=2", &["a m=60", "b m=20"], "least_loaded_eligible_node b | b: | a:"),
    ("a list cut inside the ineligible part", "basic limit=3", &["d -", "a", "c draining", "b m=90"], "least_loaded_eligible_node a | a: | b: memory_over_threshold | c: node_draining | +more"),
    ("one-server policy lists but never uses nodes", "basic one_tenant_one_server_v1", &["a", "b draining"],
        "one_tenant_one_server_policy - | a: | b: node_draining"),
    ("one-server policy in an empty region", "free one_tenant_one_server_v1", &[], "one_tenant_one_server_policy -"),
    ("enterprise is dedicated", "enterprise tenant=acme", &["a", "b -"], "dedicated_plan - | a: | b: no_metrics"),
    ("enterprise beats the one-server policy", "enterprise one_tenant_one_server_v1 tenant=acme", &["a"], "dedicated_plan - | a:"),
    ("enterprise preview without a tenant", "enterprise", &[], "dedicated_plan -"),
];

#[test]
fn scenarios() {
    let failures: Vec<String> = SCENARIOS
        .iter()
        .filter_map(|(name, request, fleet, want)| {
            let got = render(&decide(request, fleet));
            (got != *want).then(|| format!("{name}:\n   got: {got}\n  want: {want}"))
        })
        .collect();
    assert!(failures.is_empty(), "{} scenario(s) failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_reason_code_is_covered_by_a_scenario() {
    let all: String = SCENARIOS.iter().map(|s| s.3).collect::<Vec<_>>().join(" ");
    for r in IneligibleReason::ALL {
        assert!(all.contains(r.as_str()), "{}", r.as_str());
    }
    for r in DecisionReason::ALL {
        assert!(all.contains(r.as_str()), "{}", r.as_str());
    }
}

#[test]
fn scores_follow_the_spec_formula() {
    let d = decide("basic", &["a m=40 c=12.5 t=7 r=1", "b m=60 c=? t=30"]);
    let a = &d.candidates[0];
    assert_eq!(a.node_id, "a");
    // m = 40/80 = 0.5, t = (40 - 8)/40 = 0.8, c = 87.5/100 = 0.875.
    assert_eq!(a.score, Some((0.5 + 0.8 + 0.875) / 3.0));
    assert!((a.score.unwrap() - 0.725).abs() < 1e-12);
    // No cpu: m = 20/80 = 0.25, t = 10/40 = 0.25, two terms.
    assert_eq!(d.candidates[1].score, Some(0.25));
}

#[test]
fn candidate_fields_and_metrics_age() {
    let d = decide("basic", &["a age=95999ms t=7 r=1 m=41 c=12.5 d=30", "b age=-3s", "c - r=2"]);
    let by_id = |id: &str| d.candidates.iter().find(|c| c.node_id == id).unwrap();
    let a = by_id("a");
    assert_eq!((a.metrics_age_s, a.tenant_count, a.reserved, a.effective_tenants), (Some(95), Some(7), 1, 8));
    assert_eq!((a.memory_pct, a.cpu_pct, a.disk_pct), (Some(41.0), Some(12.5), Some(30.0)));
    assert_eq!(by_id("b").metrics_age_s, Some(0));
    let c = by_id("c");
    assert_eq!((c.metrics_age_s, c.tenant_count, c.memory_pct, c.score), (None, None, None, None));
    assert_eq!((c.reserved, c.effective_tenants, c.eligible), (2, 2, false));
}

#[test]
fn cluster_counts_stale_only_for_nodes_with_a_row() {
    let d = decide("basic", &["a", "b age=700s", "c -", "d draining age=700s", "e draining -", "f m=90"]);
    assert_eq!(d.cluster, ClusterSummary { nodes: 6, eligible: 1, stale: 2, no_metrics: 2, draining: 2 });
}

#[test]
fn dedicated_and_one_server_answers_name_no_node() {
    let d = decide("enterprise tenant=Acme_Corp", &["a"]);
    assert_eq!(
        d.placement,
        Placement {
            create_new_server: true,
            target_server_id: None,
            dedicated: true,
            region: Region::Sg,
            plan_tier: PlanTier::Enterprise,
            pulumi_stack: Some("dedicated-acme-corp".into()),
        }
    );
    assert_eq!((d.selected_node_id, d.candidates.len()), (None, 1));

    let d = decide("basic one_tenant_one_server_v1 tenant=acme", &["a"]);
    assert!(d.placement.create_new_server && !d.placement.dedicated);
    assert_eq!((d.placement.target_server_id, d.placement.pulumi_stack.as_deref()), (None, Some("sg")));
}

#[test]
fn a_dedicated_tenant_id_without_letters_is_400_but_shared_ones_are_fine() {
    let fleet = [node("a")];
    let e = decide_placement(&input("enterprise tenant=---"), &fleet).unwrap_err();
    assert_eq!((e.status(), e.body().error.field.as_deref()), (400, Some("tenant_id")));
    let d = decide_placement(&input("basic tenant=---"), &fleet).unwrap();
    assert_eq!(d.placement.pulumi_stack.as_deref(), Some("sg"));
    assert_eq!(decide("enterprise", &["a"]).placement.pulumi_stack, None);
}

#[test]
fn compute_response_wire_shape() {
    let d = decide("basic tenant=t-1", &["hz-sg-3 m=40 c=12.5 d=30 t=7 r=1 age=95s", "hz-sg-1 age=700s"]);
    let score = d.candidates[0].score.unwrap();
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({
            "algorithm": "decidePlacement_unified_v1",
            "placement": { "create_new_server": false, "target_server_id": "hz-sg-3", "dedicated": false,
                           "region": "sg", "plan_tier": "basic", "pulumi_stack": "sg" },
            "selected_node_id": "hz-sg-3",
            "decision_reason": "least_loaded_eligible_node",
            "hold": null,
            "region": "sg",
            "reason_counts": { "node_draining": 0, "no_metrics": 0, "stale_metrics": 1, "memory_unknown": 0,
                               "memory_over_threshold": 0, "disk_over_threshold": 0, "tenant_capacity_reached": 0 },
            "candidates": [
                { "node_id": "hz-sg-3", "rank": 1, "eligible": true, "score": score, "memory_pct": 40.0, "cpu_pct": 12.5,
                  "disk_pct": 30.0, "tenant_count": 7, "reserved": 1, "effective_tenants": 8,
                  "metrics_age_s": 95, "reasons": [] },
                { "node_id": "hz-sg-1", "rank": 2, "eligible": false, "score": null, "memory_pct": 10.0, "cpu_pct": 10.0,
                  "disk_pct": 10.0, "tenant_count": 0, "reserved": 0, "effective_tenants": 0,
                  "metrics_age_s": 700, "reasons": ["stale_metrics"] }
            ],
            "candidates_truncated": false,
            "explained": [],
            "explained_missing": [],
            "cluster": { "nodes": 2, "eligible": 1, "stale": 1, "no_metrics": 0, "draining": 0 },
            "thresholds": { "memory_pct_max": 80.0, "disk_pct_max": 85.0, "max_tenants_per_node": 40,
                            "stale_after_s": 600 },
            "tenant_id": "t-1"
        })
    );
}

#[test]
fn a_hold_on_the_wire_and_as_the_enqueue_error() {
    let d = decide("basic", &["a -", "b age=700s"]);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["hold"]["code"], "fleet_metrics_stale");
    assert!(v["hold"]["message"].as_str().unwrap().contains("2 of 2 active nodes in sg"), "{v}");
    let e = d.hold.unwrap().into_error();
    assert_eq!((e.status(), e.code()), (503, "fleet_metrics_stale"));
    assert!(matches!(e, ApiError::Unavailable { retry_after_s: 60, .. }));

    let d = decide("enterprise tenant=acme_corp owner=Acme-Corp", &[]);
    let hold = d.hold.unwrap();
    // The owner's id is not told to another tenant.
    assert!(hold.message.contains("dedicated-acme-corp") && !hold.message.contains("Acme-Corp"), "{}", hold.message);
    let e = hold.into_error();
    assert_eq!((e.status(), e.code()), (409, "stack_name_taken"));
}

#[test]
fn reason_counts_count_every_node_once_per_reason() {
    let d = decide("basic limit=1", &["a", "b age=700s m=90", "c -", "d draining -", "e draining d=90 t=40", "f m=?"]);
    let counts: Vec<u32> = IneligibleReason::ALL.iter().map(|r| d.reason_counts.get(*r)).collect();
    // draining, no_metrics, stale, memory_unknown, memory_over, disk_over, capacity
    assert_eq!(counts, vec![2, 2, 1, 1, 1, 1, 1]);
    assert_eq!(d.candidates.len(), 1);
}

#[test]
fn explained_nodes_carry_their_full_rank_in_the_order_asked() {
    let fleet: Vec<FleetNode> = ["a m=60", "b m=20", "c -", "d m=40", "e draining"].iter().map(|s| node(s)).collect();
    let ids: Vec<String> = ["e", "nope", "a", "b"].iter().map(|s| s.to_string()).collect();
    let mut request = input("basic limit=1");
    request.listing.explain_node_ids = &ids;
    let d = decide_placement(&request, &fleet).unwrap();
    let full = decide_placement(&input("basic"), &fleet).unwrap();
    assert_eq!(d.candidates, full.candidates[..1].to_vec());
    let got: Vec<(&str, u32)> = d.explained.iter().map(|c| (c.node_id.as_str(), c.rank)).collect();
    // Full order: b (m=20), d (m=40), a (m=60), then c, e by id.
    assert_eq!(got, vec![("e", 5), ("a", 3), ("b", 1)]);
    for c in &d.explained {
        assert_eq!(Some(c), full.candidates.iter().find(|f| f.node_id == c.node_id));
    }
    assert_eq!(d.explained_missing, vec!["nope".to_string()]);
    assert!(d.candidates_truncated && !full.candidates_truncated);
}

#[test]
fn absent_values_are_null_on_the_wire() {
    let v = serde_json::to_value(decide("basic", &["a -"])).unwrap();
    assert_eq!(v["tenant_id"], json!(null));
    assert_eq!(v["selected_node_id"], json!(null));
    assert_eq!(v["placement"]["target_server_id"], json!(null));
    let c = &v["candidates"][0];
    for key in ["score", "memory_pct", "cpu_pct", "disk_pct", "tenant_count", "metrics_age_s"] {
        assert_eq!(c[key], json!(null), "{key}");
    }
    assert_eq!(c["reasons"], json!(["no_metrics"]));
}

#[test]
fn legacy_dry_run_shape() {
    let d = decide("basic", &["hz-sg-3"]);
    assert_eq!(
        serde_json::to_value(legacy_dry_run_view(&d)).unwrap(),
        json!({ "createNewServer": false, "targetServerId": "hz-sg-3", "dedicated": false, "region": "sg",
                "planTier": "basic", "reason": "least_loaded_eligible_node",
                "algorithm": "decidePlacement_unified_v1" })
    );
    let d = decide("enterprise tenant=acme", &[]);
    let v = serde_json::to_value(legacy_dry_run_view(&d)).unwrap();
    assert_eq!(v["createNewServer"], json!(true));
    assert_eq!(v["targetServerId"], json!(null));
    assert_eq!(v["dedicated"], json!(true));
    assert_eq!(v["reason"], "dedicated_plan");
}

#[test]
fn score_bits_sort_like_total_cmp() {
    let next_after_075 = f64::from_bits(0.75f64.to_bits() + 1);
    let mut xs = [f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, -1e-300, 0.75, next_after_075];
    let mut by_bits = xs;
    xs.sort_by(f64::total_cmp);
    by_bits.sort_by_key(|x| rank::total_order_bits(*x));
    assert_eq!(xs.map(f64::to_bits), by_bits.map(f64::to_bits));
}

#[test]
fn reasons_iterate_in_the_fixed_order_whatever_the_insert_order() {
    let set: Reasons = IneligibleReason::ALL.into_iter().rev().collect();
    assert_eq!(set.iter().collect::<Vec<_>>(), IneligibleReason::ALL.to_vec());
    assert_eq!(set.len(), 7);
    for r in IneligibleReason::ALL {
        assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
    }
}

// ---- invariants over random fleets ----

fn pct() -> impl Strategy<Value = Option<f64>> {
    // Coarse steps make equal scores common, so the tie-breaks are exercised.
    prop_oneof![
        1 => Just(None),
        6 => (0u32..=10).prop_map(|x| Some(f64::from(x) * 10.0)),
        1 => (0.0..100.0f64).prop_map(Some),
    ]
}

fn age_ms() -> impl Strategy<Value = i64> {
    prop_oneof![Just(600_000i64), Just(600_001), -5_000i64..1_200_000, (0i64..20).prop_map(|x| x * 60_000)]
}

fn fleet_node() -> impl Strategy<Value = (&'static str, FleetNode)> {
    let status = prop_oneof![4 => Just(NodeStatus::Active), 1 => Just(NodeStatus::Draining)];
    let metrics = proptest::option::weighted(0.85, (pct(), pct(), pct(), 0u32..45, age_ms())).prop_map(|m| {
        m.map(|(cpu_pct, memory_pct, disk_pct, tenant_count, age)| Metrics {
            cpu_pct,
            memory_pct,
            disk_pct,
            tenant_count,
            source: MetricsSource::NodePush,
            updated_at: NOW_MS - age,
        })
    });
    // The long prefix makes ids share more than 16 bytes, past the sort's fast path.
    let prefix = prop::sample::select(vec!["hz-sg-", "a", "B", "node-", "", "hz-sg-long-shared-prefix-"]);
    (prefix, status, metrics, 0u32..6).prop_map(|(prefix, status, metrics, reserved)| (prefix, FleetNode { node_id: String::new(), status, metrics, reserved }))
}

/// A fleet with unique ids (a prefix plus the index, so id order differs from input order) and a
/// shuffled copy of it.
fn fleets() -> impl Strategy<Value = (Vec<FleetNode>, Vec<FleetNode>)> {
    prop::collection::vec(fleet_node(), 0..30)
        .prop_map(|nodes| {
            nodes
                .into_iter()
                .enumerate()
                .map(|(i, (prefix, mut n))| {
                    n.node_id = format!("{prefix}{i}");
                    n
                })
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|fleet| (Just(fleet.clone()), Just(fleet).prop_shuffle()))
}

proptest! {
    #[test]
    fn placement_invariants(
        (fleet, shuffled) in fleets(),
        tier in prop::sample::select(PlanTier::ALL),
        policy in prop::sample::select(Policy::ALL),
        tenant in proptest::option::of(prop::sample::select(vec!["acme", "Tenant 42", "---"])),
        max_tenants in 0u32..45,
        limit in 0usize..35,
        blind_pct in prop::sample::select(vec![0u32, 1, 50, 100]),
    ) {
        let mut request = input("basic");
        request.plan_tier = tier;
        request.policy = policy;
        request.tenant_id = tenant;
        request.thresholds.max_tenants_per_node = max_tenants;
        request.blind_fleet_pct = blind_pct;

        let d = match decide_placement(&request, &fleet) {
            Ok(d) => d,
            Err(e) => {
                // The only refusal: a dedicated stack that cannot be named.
                prop_assert_eq!(tier, PlanTier::Enterprise);
                prop_assert_eq!(e.status(), 400);
                prop_assert!(tenant.and_then(crate::stack::safe_id).is_none());
                return Ok(());
            }
        };

        // Independent of input order.
        prop_assert_eq!(&decide_placement(&request, &shuffled).unwrap(), &d);
        let reversed: Vec<FleetNode> = fleet.iter().rev().cloned().collect();
        prop_assert_eq!(&decide_placement(&request, &reversed).unwrap(), &d);

        // Every node listed once; eligible ones first; eligibility, score and reasons agree.
        prop_assert_eq!(d.candidates.len(), fleet.len());
        prop_assert_eq!(d.cluster.nodes, fleet.len());
        let eligible = d.candidates.iter().take_while(|c| c.eligible).count();
        prop_assert!(d.candidates[eligible..].iter().all(|c| !c.eligible));
        prop_assert_eq!(d.cluster.eligible, eligible);
        for c in &d.candidates {
            prop_assert_eq!(c.eligible, c.reasons.is_empty());
            prop_assert_eq!(c.eligible, c.score.is_some());
            if c.reasons.contains(IneligibleReason::NoMetrics) {
                let only = [IneligibleReason::NodeDraining, IneligibleReason::NoMetrics];
                prop_assert!(c.reasons.iter().all(|r| only.contains(&r)));
            }
        }
        // The rank, restated plainly: higher score, fewer effective tenants, node_id.
        for pair in d.candidates[..eligible].windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let rank = b.score.unwrap().total_cmp(&a.score.unwrap())
                .then(a.effective_tenants.cmp(&b.effective_tenants))
                .then(a.node_id.cmp(&b.node_id));
            prop_assert_eq!(rank, std::cmp::Ordering::Less);
        }
        for pair in d.candidates[eligible..].windows(2) {
            prop_assert!(pair[0].node_id < pair[1].node_id);
        }

        // Use-existing names an eligible node with the top score; new-server names none.
        let p = &d.placement;
        prop_assert_eq!(&p.target_server_id, &d.selected_node_id);
        if p.create_new_server {
            prop_assert!(p.target_server_id.is_none());
        } else {
            let id = p.target_server_id.as_deref().unwrap();
            let chosen = d.candidates.iter().find(|c| c.node_id == id).unwrap();
            prop_assert!(chosen.eligible);
            let best = chosen.score.unwrap();
            prop_assert!(d.candidates.iter().filter_map(|c| c.score).all(|s| s.total_cmp(&best).is_le()));
        }

        // Which step decided.
        let expected = if tier == PlanTier::Enterprise {
            DecisionReason::DedicatedPlan
        } else if policy == Policy::OneTenantOneServerV1 {
            DecisionReason::OneTenantOneServerPolicy
        } else if eligible > 0 {
            DecisionReason::LeastLoadedEligibleNode
        } else {
            DecisionReason::NoEligibleNode
        };
        prop_assert_eq!(d.decision_reason, expected);
        prop_assert_eq!(p.dedicated, tier == PlanTier::Enterprise);

        // reason_counts are the counts over all candidates.
        for r in IneligibleReason::ALL {
            prop_assert_eq!(d.reason_counts.get(r) as usize, d.candidates.iter().filter(|c| c.reasons.contains(r)).count());
        }
        // rank is the position in the full order.
        for (pos, c) in d.candidates.iter().enumerate() {
            prop_assert_eq!(c.rank as usize, pos + 1);
        }
        // The blind hold: exactly when no node is eligible for a shared placement and at least
        // blind_pct percent of the active nodes have stale or no metrics.
        let active: Vec<&FleetNode> = fleet.iter().filter(|n| n.status == NodeStatus::Active).collect();
        let blind = active.iter().filter(|n| n.metrics.as_ref().is_none_or(|m| crate::nodes::is_stale(NOW_MS, m.updated_at, 600))).count();
        let held = expected == DecisionReason::NoEligibleNode && blind_pct > 0 && !active.is_empty() && blind * 100 >= active.len() * blind_pct as usize;
        prop_assert_eq!(d.hold.as_ref().map(|h| h.code), held.then_some(HoldCode::FleetMetricsStale));

        // A limited list is a prefix of the full one, with the same decision and counts; every
        // node explained is its full-list candidate.
        let ids: Vec<String> = shuffled.iter().take(5).map(|n| n.node_id.clone()).chain(["not-in-region".to_string()]).collect();
        let mut limited = request.clone();
        limited.listing = Listing { candidates_limit: limit, explain_node_ids: &ids };
        let l = decide_placement(&limited, &shuffled).unwrap();
        prop_assert_eq!(&l.candidates[..], &d.candidates[..limit.min(d.candidates.len())]);
        prop_assert_eq!(l.candidates_truncated, limit < fleet.len());
        prop_assert_eq!((&l.placement, l.decision_reason, &l.hold), (&d.placement, d.decision_reason, &d.hold));
        prop_assert_eq!((l.cluster, l.reason_counts), (d.cluster, d.reason_counts));
        prop_assert_eq!(l.explained.len(), ids.len() - 1);
        for (c, id) in l.explained.iter().zip(&ids) {
            prop_assert_eq!(&c.node_id, id);
            prop_assert_eq!(Some(c), d.candidates.iter().find(|f| &f.node_id == id));
        }
        prop_assert_eq!(l.explained_missing, vec!["not-in-region".to_string()]);
    }
}
