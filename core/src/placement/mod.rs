//! `decidePlacement_unified_v1`: where a new tenant lands.
//!
//! One function answers the compute preview, the legacy dry-run and the enqueue, so what an
//! operator previews is exactly what an enqueue would do against the same fleet. It reads nothing
//! itself: the shell loads the region's nodes, their latest metrics and their reservations, and
//! passes the clock in.
//!
//! Invariants:
//! - no I/O and no clock: the answer is a function of `(PlacementInput, fleet)` alone;
//! - the answer does not depend on the order of `fleet` (node ids are unique: they are the
//!   `nodes` primary key);
//! - a use-existing answer names an eligible node, a new-server answer names none;
//! - every node of the fleet appears once in `candidates`, whatever decided.

use serde::{Deserialize, Serialize, Serializer};

use crate::domain::{NodeStatus, PlanTier, Policy, Region};
use crate::error::ApiError;
use crate::nodes::{is_stale, metrics_age_s};
use crate::stack::pulumi_stack;

mod rank;
#[cfg(test)]
mod tests;

use rank::RankKey;

pub const ALGORITHM: &str = "decidePlacement_unified_v1";

/// The limits a node must stay under to take a tenant, from the `PLACEMENT_*` and
/// `METRICS_STALE_AFTER_SECONDS` settings. Echoed in every answer so an operator reading a
/// decision knows which limits produced it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub memory_pct_max: f64,
    pub disk_pct_max: f64,
    pub max_tenants_per_node: u32,
    pub stale_after_s: u64,
}

impl Default for Thresholds {
    /// The SPEC's defaults, so tests and tools need not repeat them.
    fn default() -> Self {
        Thresholds { memory_pct_max: 80.0, disk_pct_max: 85.0, max_tenants_per_node: 40, stale_after_s: 600 }
    }
}

/// A node's `server_metrics` row. Percentages are `None` when the agent could not measure them.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMetrics {
    pub cpu_pct: Option<f64>,
    pub memory_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    pub tenant_count: u32,
    pub updated_at_ms: i64,
}

/// One node of the requested region as the shell loaded it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetNode {
    pub node_id: String,
    pub status: NodeStatus,
    /// `None` when the node has never pushed.
    pub metrics: Option<NodeMetrics>,
    /// Jobs placed on the node that its pushed `tenant_count` cannot include yet (the SPEC's
    /// reservation rule, counted by the caller's SQL), so two enqueues between two pushes cannot
    /// overfill it.
    pub reserved: u32,
}

#[derive(Debug, Clone)]
pub struct PlacementInput<'a> {
    pub plan_tier: PlanTier,
    pub region: Region,
    /// Names the dedicated stack, and is echoed; `None` for an anonymous preview.
    pub tenant_id: Option<&'a str>,
    pub policy: Policy,
    pub thresholds: Thresholds,
    pub now_ms: i64,
}

/// Why the decision came out as it did; one per step of the algorithm that can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionReason {
    DedicatedPlan,
    OneTenantOneServerPolicy,
    LeastLoadedEligibleNode,
    NoEligibleNode,
}

impl DecisionReason {
    pub const ALL: [DecisionReason; 4] =
        [DecisionReason::DedicatedPlan, DecisionReason::OneTenantOneServerPolicy, DecisionReason::LeastLoadedEligibleNode, DecisionReason::NoEligibleNode];

    pub fn as_str(self) -> &'static str {
        match self {
            DecisionReason::DedicatedPlan => "dedicated_plan",
            DecisionReason::OneTenantOneServerPolicy => "one_tenant_one_server_policy",
            DecisionReason::LeastLoadedEligibleNode => "least_loaded_eligible_node",
            DecisionReason::NoEligibleNode => "no_eligible_node",
        }
    }
}

/// Why a node cannot take a tenant. The declaration order is the order in which a candidate
/// lists its reasons, so an answer reads the same every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IneligibleReason {
    NodeDraining,
    NoMetrics,
    StaleMetrics,
    MemoryUnknown,
    MemoryOverThreshold,
    DiskOverThreshold,
    TenantCapacityReached,
}

impl IneligibleReason {
    pub const ALL: [IneligibleReason; 7] = [
        IneligibleReason::NodeDraining,
        IneligibleReason::NoMetrics,
        IneligibleReason::StaleMetrics,
        IneligibleReason::MemoryUnknown,
        IneligibleReason::MemoryOverThreshold,
        IneligibleReason::DiskOverThreshold,
        IneligibleReason::TenantCapacityReached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IneligibleReason::NodeDraining => "node_draining",
            IneligibleReason::NoMetrics => "no_metrics",
            IneligibleReason::StaleMetrics => "stale_metrics",
            IneligibleReason::MemoryUnknown => "memory_unknown",
            IneligibleReason::MemoryOverThreshold => "memory_over_threshold",
            IneligibleReason::DiskOverThreshold => "disk_over_threshold",
            IneligibleReason::TenantCapacityReached => "tenant_capacity_reached",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`IneligibleReason`]s that always iterates (and serializes) in the fixed order, and
/// costs no allocation per candidate on a 10,000-node fleet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reasons(u8);

impl Reasons {
    pub fn insert(&mut self, reason: IneligibleReason) {
        self.0 |= reason.bit();
    }

    pub fn contains(self, reason: IneligibleReason) -> bool {
        self.0 & reason.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(self) -> impl Iterator<Item = IneligibleReason> {
        IneligibleReason::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<IneligibleReason> for Reasons {
    fn from_iter<I: IntoIterator<Item = IneligibleReason>>(iter: I) -> Self {
        let mut set = Reasons::default();
        iter.into_iter().for_each(|r| set.insert(r));
        set
    }
}

impl std::fmt::Debug for Reasons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Reasons {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// The infrastructure side of the answer: what the job and the workflow act on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placement {
    pub create_new_server: bool,
    pub target_server_id: Option<String>,
    pub dedicated: bool,
    pub region: Region,
    pub plan_tier: PlanTier,
    /// `None` only for a dedicated preview without a tenant_id.
    pub pulumi_stack: Option<String>,
}

/// One node as placement saw it. Metric fields are `None` when the node has no metrics row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub node_id: String,
    pub eligible: bool,
    pub score: Option<f64>,
    pub memory_pct: Option<f64>,
    pub cpu_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    pub tenant_count: Option<u32>,
    pub reserved: u32,
    /// `tenant_count + reserved`; just `reserved` without metrics.
    pub effective_tenants: u32,
    pub metrics_age_s: Option<u64>,
    pub reasons: Reasons,
}

/// Counts over the region's nodes, for an operator's first glance at why nothing was eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ClusterSummary {
    pub nodes: usize,
    pub eligible: usize,
    /// Nodes that have a metrics row that is too old (nodes without one are `no_metrics`).
    pub stale: usize,
    pub no_metrics: usize,
    /// Nodes whose status is not `active`.
    pub draining: usize,
}

impl ClusterSummary {
    fn count(assessments: &[Assessment]) -> Self {
        let mut c = ClusterSummary { nodes: assessments.len(), ..ClusterSummary::default() };
        for a in assessments {
            c.eligible += usize::from(a.reasons.is_empty());
            c.stale += usize::from(a.reasons.contains(IneligibleReason::StaleMetrics));
            c.no_metrics += usize::from(a.reasons.contains(IneligibleReason::NoMetrics));
            c.draining += usize::from(a.reasons.contains(IneligibleReason::NodeDraining));
        }
        c
    }
}

/// The compute response of the SPEC, field for field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementDecision {
    pub algorithm: &'static str,
    pub placement: Placement,
    pub selected_node_id: Option<String>,
    pub decision_reason: DecisionReason,
    pub region: Region,
    pub candidates: Vec<Candidate>,
    pub cluster: ClusterSummary,
    pub thresholds: Thresholds,
    /// Echoed as given; `null` when the request named none.
    pub tenant_id: Option<String>,
}

/// The older camelCase answer of `/internal/placement-dry-run`, kept for existing callers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyDryRun<'a> {
    pub create_new_server: bool,
    pub target_server_id: Option<&'a str>,
    pub dedicated: bool,
    pub region: Region,
    pub plan_tier: PlanTier,
    pub reason: DecisionReason,
    pub algorithm: &'static str,
}

pub fn legacy_dry_run_view(decision: &PlacementDecision) -> LegacyDryRun<'_> {
    let p = &decision.placement;
    LegacyDryRun {
        create_new_server: p.create_new_server,
        target_server_id: p.target_server_id.as_deref(),
        dedicated: p.dedicated,
        region: p.region,
        plan_tier: p.plan_tier,
        reason: decision.decision_reason,
        algorithm: decision.algorithm,
    }
}

/// Decides where a tenant lands (SPEC, decidePlacement_unified_v1).
///
/// `fleet` is every node of `input.region`. The only error is a dedicated placement whose
/// tenant_id cannot form a stack name (400 on `tenant_id`).
pub fn decide_placement(input: &PlacementInput<'_>, fleet: &[FleetNode]) -> Result<PlacementDecision, ApiError> {
    let dedicated = input.plan_tier == PlanTier::Enterprise;
    // Before the fleet work: a request that is refused should cost nothing.
    let stack = pulumi_stack(dedicated, input.region, input.tenant_id)?;

    let assessments: Vec<Assessment> = fleet.iter().map(|n| assess(n, &input.thresholds, input.now_ms)).collect();
    let mut order: Vec<RankKey> = fleet.iter().zip(&assessments).enumerate().map(|(i, (n, a))| RankKey::new(i, a, &n.node_id)).collect();
    order.sort_unstable_by(|a, b| a.cmp(b, fleet));
    let candidates: Vec<Candidate> = order.iter().map(|key| candidate(&fleet[key.idx()], &assessments[key.idx()])).collect();

    let best = candidates.first().filter(|c| c.eligible).map(|c| &c.node_id);
    let (target, reason) = if dedicated {
        (None, DecisionReason::DedicatedPlan)
    } else if input.policy == Policy::OneTenantOneServerV1 {
        (None, DecisionReason::OneTenantOneServerPolicy)
    } else if let Some(id) = best {
        (Some(id.clone()), DecisionReason::LeastLoadedEligibleNode)
    } else {
        (None, DecisionReason::NoEligibleNode)
    };

    Ok(PlacementDecision {
        algorithm: ALGORITHM,
        placement: Placement {
            create_new_server: target.is_none(),
            target_server_id: target.clone(),
            dedicated,
            region: input.region,
            plan_tier: input.plan_tier,
            pulumi_stack: stack,
        },
        selected_node_id: target,
        decision_reason: reason,
        region: input.region,
        candidates,
        cluster: ClusterSummary::count(&assessments),
        thresholds: input.thresholds,
        tenant_id: input.tenant_id.map(str::to_string),
    })
}

/// What placement concluded about one node, before any `String` is cloned for the answer.
struct Assessment {
    reasons: Reasons,
    effective: u32,
    age_s: Option<u64>,
    score: Option<f64>,
}

fn assess(node: &FleetNode, th: &Thresholds, now_ms: i64) -> Assessment {
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
    if is_stale(now_ms, m.updated_at_ms, th.stale_after_s) {
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
    Assessment { reasons, effective, age_s: Some(metrics_age_s(now_ms, m.updated_at_ms)), score }
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

fn candidate(node: &FleetNode, a: &Assessment) -> Candidate {
    let m = node.metrics.as_ref();
    Candidate {
        node_id: node.node_id.clone(),
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
