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
//! - the decision, `cluster` and `reason_counts` are computed over the whole region; the listing
//!   (`candidates`, `explained`) only chooses which nodes are shown, and `candidates` is always a
//!   prefix of the full order, so a short answer never disagrees with a long one.
//!
//! Cost: one pass that assesses every node into a small integer key, then a selection of the
//! first `candidates_limit` keys (`select_nth_unstable`, linear), not a sort of the region; only
//! the nodes shown become `Candidate`s with their strings cloned.

use serde::{Deserialize, Serialize};

use crate::domain::{NodeStatus, PlanTier, Policy, Region};
use crate::error::ApiError;
use crate::nodes::Metrics;
use crate::stack::pulumi_stack;

mod assess;
mod hold;
mod rank;
mod reasons;
#[cfg(test)]
mod tests;

use assess::{assess, candidate, screen, QuickScore};
pub use hold::{Hold, HoldCode, BLIND_FLEET_RETRY_AFTER_S};
use rank::RankKey;
use reasons::Tally;
pub use reasons::{IneligibleReason, ReasonCounts, Reasons};

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

/// One node of the requested region as the shell loaded it.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetNode {
    pub node_id: String,
    pub status: NodeStatus,
    /// `None` when the node has never pushed.
    pub metrics: Option<Metrics>,
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
    /// `PLACEMENT_BLIND_FLEET_PCT`: the share of active nodes without fresh metrics at which a
    /// `no_eligible_node` decision is held (0: never).
    pub blind_fleet_pct: u32,
    /// The tenant that owns the dedicated stack this request names, as stored (`None`: nobody
    /// yet, or not a dedicated request). The enqueue's batch re-checks it; this is the preview.
    pub stack_owner: Option<&'a str>,
    pub listing: Listing<'a>,
    pub now_ms: i64,
}

/// Which candidates the answer shows; the decision never depends on it.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    /// The first this many of the full candidate order go into `candidates`.
    pub candidates_limit: usize,
    /// These nodes' candidates go into `explained`, in this order (the caller keeps them unique).
    pub explain_node_ids: &'a [String],
}

impl Listing<'static> {
    pub const DEFAULT_LIMIT: usize = 100;
    pub const MAX_LIMIT: usize = 1000;
    pub const MAX_EXPLAIN: usize = 50;
    /// The enqueue's listing: it needs the decision, not the list.
    pub const NONE: Listing<'static> = Listing { candidates_limit: 0, explain_node_ids: &[] };
    pub const DEFAULT: Listing<'static> = Listing { candidates_limit: Listing::DEFAULT_LIMIT, explain_node_ids: &[] };
    /// Every node (tests and tools; the API caps the limit at `MAX_LIMIT`).
    pub const ALL: Listing<'static> = Listing { candidates_limit: usize::MAX, explain_node_ids: &[] };
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
    /// 1-based position in the full candidate order of the region.
    pub rank: u32,
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
    fn from_counts(nodes: usize, eligible: usize, counts: &ReasonCounts) -> Self {
        let count = |r| counts.get(r) as usize;
        ClusterSummary {
            nodes,
            eligible,
            stale: count(IneligibleReason::StaleMetrics),
            no_metrics: count(IneligibleReason::NoMetrics),
            draining: count(IneligibleReason::NodeDraining),
        }
    }
}

/// The compute response of the SPEC, field for field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementDecision {
    pub algorithm: &'static str,
    pub placement: Placement,
    pub selected_node_id: Option<String>,
    pub decision_reason: DecisionReason,
    /// Set when an enqueue with the same request would be refused instead of creating a job.
    pub hold: Option<Hold>,
    pub region: Region,
    pub reason_counts: ReasonCounts,
    /// The first `candidates_limit` of the full order.
    pub candidates: Vec<Candidate>,
    pub candidates_truncated: bool,
    /// The nodes of `explain_node_ids` that are in the region, in the order asked.
    pub explained: Vec<Candidate>,
    pub explained_missing: Vec<String>,
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

    let mut tally = Tally::new();
    let mut first = rank::FirstFew::new(input.listing.candidates_limit, fleet.len());
    let quick = QuickScore::new(&input.thresholds);
    for (i, node) in fleet.iter().enumerate() {
        let s = screen(node, &input.thresholds, input.now_ms);
        tally.add(s.reasons);
        // Mostly false once the first few are found: the exact score and the heap are for the
        // nodes that may still change them.
        if s.score_at_least(first.bar(), &quick) || (!s.reasons.is_empty() && first.takes_ineligible()) {
            first.offer(RankKey::new(i, &s.finish(&input.thresholds), &node.node_id));
        }
    }
    let best = first.best().map(|k| fleet[k.idx()].node_id.clone());
    let reason_counts = tally.reason_counts();
    let eligible = tally.count(Reasons::is_empty);
    // A node is active exactly when it lacks node_draining (the only other status).
    let active = |r: Reasons| !r.contains(IneligibleReason::NodeDraining);
    let sight = hold::Sight {
        active: tally.count(active),
        blind: tally.count(|r| active(r) && (r.contains(IneligibleReason::NoMetrics) || r.contains(IneligibleReason::StaleMetrics))),
    };

    let (target, reason) = if dedicated {
        (None, DecisionReason::DedicatedPlan)
    } else if input.policy == Policy::OneTenantOneServerV1 {
        (None, DecisionReason::OneTenantOneServerPolicy)
    } else if let Some(id) = best {
        (Some(id), DecisionReason::LeastLoadedEligibleNode)
    } else {
        (None, DecisionReason::NoEligibleNode)
    };
    let hold = match (reason, stack.as_deref()) {
        (DecisionReason::DedicatedPlan, Some(stack)) => hold::stack_taken(stack, input.tenant_id, input.stack_owner),
        (DecisionReason::NoEligibleNode, _) => hold::blind_fleet(input.region, sight, input.blind_fleet_pct),
        _ => None,
    };

    let candidates_truncated = first.truncated();
    let shown = |pos: usize, idx: usize| candidate(&fleet[idx], &assess(&fleet[idx], &input.thresholds, input.now_ms), pos, input.now_ms);
    let candidates: Vec<Candidate> = first.into_sorted().iter().enumerate().map(|(pos, key)| shown(pos + 1, key.idx())).collect();
    let (explained, explained_missing) = explain(input, fleet);

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
        hold,
        region: input.region,
        reason_counts,
        candidates,
        candidates_truncated,
        explained,
        explained_missing,
        cluster: ClusterSummary::from_counts(fleet.len(), eligible, &reason_counts),
        thresholds: input.thresholds,
        tenant_id: input.tenant_id.map(str::to_string),
    })
}

/// The asked-for nodes' candidates with their rank in the full order, and the ids the region
/// does not have. The ranks are counted in one more pass (each node's key against the at most 50
/// asked for), only when something was asked.
fn explain(input: &PlacementInput<'_>, fleet: &[FleetNode]) -> (Vec<Candidate>, Vec<String>) {
    let ids = input.listing.explain_node_ids;
    if ids.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let wanted: std::collections::HashMap<&str, usize> = ids.iter().enumerate().map(|(pos, id)| (id.as_str(), pos)).collect();
    let mut found: Vec<Option<usize>> = vec![None; ids.len()];
    for (i, node) in fleet.iter().enumerate() {
        if let Some(pos) = wanted.get(node.node_id.as_str()) {
            found[*pos] = Some(i);
        }
    }
    let key_of = |i: usize| RankKey::new(i, &assess(&fleet[i], &input.thresholds, input.now_ms), &fleet[i].node_id);
    let asked: Vec<RankKey> = found.iter().flatten().map(|i| key_of(*i)).collect();
    let mut ahead = vec![0usize; asked.len()];
    for i in 0..fleet.len() {
        let key = key_of(i);
        for (n, a) in ahead.iter_mut().zip(&asked) {
            *n += usize::from(key < *a);
        }
    }
    let explained = asked
        .iter()
        .zip(ahead)
        .map(|(key, n)| candidate(&fleet[key.idx()], &assess(&fleet[key.idx()], &input.thresholds, input.now_ms), n + 1, input.now_ms))
        .collect();
    let missing = ids.iter().zip(&found).filter(|(_, slot)| slot.is_none()).map(|(id, _)| id.clone()).collect();
    (explained, missing)
}
