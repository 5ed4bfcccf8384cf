//! What placement concludes about one node: its reasons, effective tenant count and score
//! (SPEC steps 4 and 5), and the `Candidate` an answer shows for it.

use super::{Candidate, FleetNode, IneligibleReason, Reasons, Thresholds};
use crate::domain::NodeStatus;
use crate::nodes::{is_stale, metrics_age_s};

/// What placement concluded about one node, before any `String` is cloned for the answer.
pub(super) struct Assessment {
    pub(super) reasons: Reasons,
    pub(super) effective: u32,
    age_s: Option<u64>,
    pub(super) score: Option<f64>,
}

pub(super) fn assess(node: &FleetNode, th: &Thresholds, now_ms: i64) -> Assessment {
    use IneligibleReason::*;
    let mut reasons = Reasons::default();
    if node.status != NodeStatus::Active {
        reasons.insert(NodeDraining);
    }
    let Some(m) = &node.metrics else {
        // Without a row nothing else about the node is known; listing memory_unknown or a
        // capacity guess next to no_metrics would only blur the one thing to fix.
        reasons.insert(NoMetrics);
        return Assessment { reasons, effective: node.reserved, age_s: None, score: None };
    };
    if is_stale(now_ms, m.updated_at, th.stale_after_s) {
        reasons.insert(StaleMetrics);
    }
    match m.memory_pct {
        None => reasons.insert(MemoryUnknown),
        Some(pct) if pct >= th.memory_pct_max => reasons.insert(MemoryOverThreshold),
        Some(_) => {}
    }
    // An unknown disk does not block: unlike memory, it does not enter the score either.
    if m.disk_pct.is_some_and(|pct| pct >= th.disk_pct_max) {
        reasons.insert(DiskOverThreshold);
    }
    let effective = m.tenant_count.saturating_add(node.reserved);
    if effective >= th.max_tenants_per_node {
        reasons.insert(TenantCapacityReached);
    }
    let score = match (reasons.is_empty(), m.memory_pct) {
        (true, Some(memory_pct)) => Some(headroom_score(memory_pct, m.cpu_pct, effective, th)),
        _ => None,
    };
    Assessment { reasons, effective, age_s: Some(metrics_age_s(now_ms, m.updated_at)), score }
}

/// SPEC step 5, in its order of operations, so every implementation gets the same bits.
fn headroom_score(memory_pct: f64, cpu_pct: Option<f64>, effective: u32, th: &Thresholds) -> f64 {
    let tenant_max = f64::from(th.max_tenants_per_node);
    let m = (th.memory_pct_max - memory_pct) / th.memory_pct_max;
    let t = (tenant_max - f64::from(effective)) / tenant_max;
    match cpu_pct {
        Some(cpu_pct) => {
            let c = (100.0 - cpu_pct) / 100.0;
            (m + t + c) / 3.0
        }
        None => (m + t) / 2.0,
    }
}

pub(super) fn candidate(node: &FleetNode, a: &Assessment, rank: usize) -> Candidate {
    let m = node.metrics.as_ref();
    Candidate {
        node_id: node.node_id.clone(),
        // A fleet cannot hold u32::MAX nodes (see RankKey).
        rank: rank as u32,
        eligible: a.reasons.is_empty(),
        score: a.score,
        memory_pct: m.and_then(|m| m.memory_pct),
        cpu_pct: m.and_then(|m| m.cpu_pct),
        disk_pct: m.and_then(|m| m.disk_pct),
        tenant_count: m.map(|m| m.tenant_count),
        reserved: node.reserved,
        effective_tenants: a.effective,
        metrics_age_s: a.age_s,
        reasons: a.reasons,
    }
}
