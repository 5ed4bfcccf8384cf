//! Native timing of `decide_placement` on fleets of 100, 1,000 and 10,000 nodes.
//!
//! Placement runs inside every compute, dry-run and enqueue request, on a Worker's CPU budget, so
//! its cost at fleet sizes well past today's is worth knowing before it matters. A plain loop with
//! `Instant` keeps the Worker free of a benchmark dependency. Run:
//! `cargo run --release -p cp-core --example bench_placement`; the last line is JSON for scripts.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cp_core::domain::{MetricsSource, NodeStatus, PlanTier, Policy, Region};
use cp_core::nodes::Metrics;
use cp_core::placement::{decide_placement, FleetNode, Listing, PlacementInput, Thresholds};

const NOW_MS: i64 = 1_800_000_000_000;

/// Knuth's MMIX LCG: the same fleet on every run and machine, with no `rand` dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pct(&mut self) -> f64 {
        self.below(10_000) as f64 / 100.0
    }
}

/// A fleet shaped like a real one: mostly active and fresh, with some draining, silent, stale
/// and unknown-memory nodes, so every branch of the assessment runs.
fn fleet(size: usize, seed: u64) -> Vec<FleetNode> {
    let mut rng = Lcg(seed);
    (0..size)
        .map(|i| {
            let roll = rng.below(100);
            let status = if roll < 5 { NodeStatus::Draining } else { NodeStatus::Active };
            let metrics = (!(5..10).contains(&roll)).then(|| Metrics {
                cpu_pct: (rng.below(10) != 0).then(|| rng.pct()),
                memory_pct: (rng.below(50) != 0).then(|| rng.pct()),
                disk_pct: Some(rng.pct()),
                tenant_count: rng.below(45) as u32,
                source: MetricsSource::NodePush,
                updated_at: NOW_MS - if (10..15).contains(&roll) { 900_000 } else { rng.below(300_000) as i64 },
            });
            let node_id = format!("hz-sg-{:03}-{i}", rng.below(1000));
            FleetNode { node_id, status, metrics, reserved: rng.below(3) as u32 }
        })
        .collect()
}

struct Stats {
    nodes: usize,
    iterations: usize,
    mean_us: f64,
    p50_us: f64,
    p99_us: f64,
}

fn measure(nodes: usize) -> Stats {
    let fleet = fleet(nodes, 0x5eed + nodes as u64);
    let input = PlacementInput {
        plan_tier: PlanTier::Basic,
        region: Region::Sg,
        tenant_id: Some("tenant-bench"),
        policy: Policy::UnifiedV1,
        thresholds: Thresholds::default(),
        blind_fleet_pct: 50,
        stack_owner: None,
        // What a compute call with the default body asks for.
        listing: Listing::DEFAULT,
        now_ms: NOW_MS,
    };
    // 2,000 samples at 10,000 nodes (more for smaller fleets): a p50 over a fraction of a
    // second moved by a third between runs on a shared machine.
    let iterations = (20_000_000 / nodes).max(100);
    for _ in 0..iterations / 10 {
        black_box(decide_placement(black_box(&input), black_box(&fleet)).unwrap());
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        let decision = decide_placement(black_box(&input), black_box(&fleet)).unwrap();
        // Dropping the answer is part of the cost a request pays.
        drop(black_box(decision));
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mean_us = us(samples.iter().sum::<Duration>()) / iterations as f64;
    let pick = |q: f64| us(samples[((iterations as f64 * q) as usize).min(iterations - 1)]);
    Stats { nodes, iterations, mean_us, p50_us: pick(0.50), p99_us: pick(0.99) }
}

fn main() {
    let results: Vec<Stats> = [100, 1_000, 10_000].into_iter().map(measure).collect();
    for s in &results {
        println!("placement_native nodes={} iterations={} mean_us={:.1} p50_us={:.1} p99_us={:.1}", s.nodes, s.iterations, s.mean_us, s.p50_us, s.p99_us);
    }
    let json: Vec<serde_json::Value> = results
        .iter()
        .map(|s| {
            let round = |x: f64| (x * 10.0).round() / 10.0;
            serde_json::json!({ "nodes": s.nodes, "iterations": s.iterations, "mean_us": round(s.mean_us),
                                "p50_us": round(s.p50_us), "p99_us": round(s.p99_us) })
        })
        .collect();
    println!("{}", serde_json::json!({ "placement_native": json }));
}
