//! What placement concludes about one node: its reasons, effective tenant count and score
//! (SPEC steps 4 and 5), and the `Candidate` an answer shows for it.

use super::{Candidate, FleetNode, IneligibleReason, Reasons, Thresholds};
use crate::domain::NodeStatus;
use crate::nodes::{is_stale, metrics_age_s};

/// What placement concluded about one node, before any `String` is cloned for the answer.
pub(super) struct Assessment {
    pub(super) reasons: Reasons,
    pub(super) effective: u32,
    pub(super) score: Option<f64>,
}

/// A node's reasons and the figures its score is made of, without the score: the score's four
/// divisions are most of a node's cost, and the one pass needs the exact score only for the few
/// nodes that could still be among the first (see [`Screen::score_at_least`]).
pub(super) struct Screen {
    pub(super) reasons: Reasons,
    pub(super) effective: u32,
    memory_pct: f64,
    cpu_pct: Option<f64>,
}

/// Branch-free where it can be: a region's nodes come in no order, so each `if` on a node's
/// figures would be a coin the CPU guesses wrong about half the time, and this runs for every
/// node of the region.
#[inline]
pub(super) fn screen(node: &FleetNode, th: &Thresholds, now_ms: i64) -> Screen {
    use IneligibleReason::*;
    let mut reasons = Reasons::default();
    reasons.insert_if(node.status != NodeStatus::Active, NodeDraining);
    let Some(m) = &node.metrics else {
        // Without a row nothing else about the node is known; listing memory_unknown or a
        // capacity guess next to no_metrics would only blur the one thing to fix.
        reasons.insert(NoMetrics);
        return Screen { reasons, effective: node.reserved, memory_pct: 0.0, cpu_pct: None };
    };
    reasons.insert_if(is_stale(now_ms, m.updated_at, th.stale_after_s), StaleMetrics);
    reasons.insert_if(m.memory_pct.is_none(), MemoryUnknown);
    reasons.insert_if(m.memory_pct.is_some_and(|pct| pct >= th.memory_pct_max), MemoryOverThreshold);
    // An unknown disk does not block: unlike memory, it does not enter the score either.
    reasons.insert_if(m.disk_pct.is_some_and(|pct| pct >= th.disk_pct_max), DiskOverThreshold);
    let effective = m.tenant_count.saturating_add(node.reserved);
    reasons.insert_if(effective >= th.max_tenants_per_node, TenantCapacityReached);
    // An unknown memory is never eligible, so its stand-in 0 never enters a score.
    Screen { reasons, effective, memory_pct: m.memory_pct.unwrap_or(0.0), cpu_pct: m.cpu_pct }
}

impl Screen {
    pub(super) fn finish(&self, th: &Thresholds) -> Assessment {
        let score = self.reasons.is_empty().then(|| headroom_score(self.memory_pct, self.cpu_pct, self.effective, th));
        Assessment { reasons: self.reasons, effective: self.effective, score }
    }

    /// Whether the node is eligible with an exact score that may reach `bar`, judged with
    /// multiplications instead of the score's divisions. Each of the score's three parts is
    /// in [0, 1] for an eligible node (validation keeps the percentages in 0..=100), so the
    /// two ways differ by a few units in the 16th digit: far inside the margin. Where the
    /// shortcut could overflow or turn NaN it says yes, and the exact score decides.
    #[inline]
    pub(super) fn score_at_least(&self, bar: f64, quick: &QuickScore) -> bool {
        let m = (quick.memory_max - self.memory_pct) * quick.inv_memory_max;
        let t = (quick.tenant_max - f64::from(self.effective)) * quick.inv_tenant_max;
        let c = (100.0 - self.cpu_pct.unwrap_or(0.0)) * 0.01;
        let approx = if self.cpu_pct.is_some() { (m + t + c) * (1.0 / 3.0) } else { (m + t) * 0.5 };
        self.reasons.is_empty() && approx.partial_cmp(&(bar - 1e-9 * (1.0 + bar.abs()))) != Some(std::cmp::Ordering::Less)
    }
}

/// The thresholds' reciprocals, worked out once per decision for [`Screen::score_at_least`].
pub(super) struct QuickScore {
    memory_max: f64,
    inv_memory_max: f64,
    tenant_max: f64,
    inv_tenant_max: f64,
}

impl QuickScore {
    pub(super) fn new(th: &Thresholds) -> Self {
        let tenant_max = f64::from(th.max_tenants_per_node);
        QuickScore { memory_max: th.memory_pct_max, inv_memory_max: 1.0 / th.memory_pct_max, tenant_max, inv_tenant_max: 1.0 / tenant_max }
    }
}

pub(super) fn assess(node: &FleetNode, th: &Thresholds, now_ms: i64) -> Assessment {
    screen(node, th, now_ms).finish(th)
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

/// The age is worked out here, for the few nodes shown, and not in [`assess`]: it is an i128
/// division, the dearest step of a node's assessment, which runs for every node of the region.
pub(super) fn candidate(node: &FleetNode, a: &Assessment, rank: usize, now_ms: i64) -> Candidate {
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
        metrics_age_s: m.map(|m| metrics_age_s(now_ms, m.updated_at)),
        reasons: a.reasons,
    }
}
