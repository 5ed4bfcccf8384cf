//! `POST /internal/placement/compute` and its legacy alias `POST /internal/placement-dry-run`:
//! the decision an enqueue would make now, with every candidate's reasons. Read-only.

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::fleet;
use crate::stack_owners;
use cp_core::domain::PlanTier;
use cp_core::placement::{decide_placement, legacy_dry_run_view, Listing, PlacementInput};
use cp_core::provision::ComputeRequest;
use cp_core::stack::pulumi_stack;
use cp_core::ApiError;

/// Which answer shape a caller gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Compute,
    /// The older camelCase shape of `placement-dry-run`.
    LegacyDryRun,
}

pub async fn compute(ctx: &mut Ctx, body: &[u8], view: View) -> Result<Reply, ApiError> {
    let req = ComputeRequest::parse(body, ctx.config.default_region.clone()?)?;
    let d1 = db::database(&ctx.env)?;
    // A dedicated preview names its stack's owner, so it shows the enqueue's stack_name_taken.
    // A tenant_id that cannot form a name is left to decide_placement's 400.
    let owner = match (req.plan_tier, pulumi_stack(true, req.region, req.tenant_id.as_deref())) {
        (PlanTier::Enterprise, Ok(Some(stack))) => stack_owners::owner(&d1, &stack).await?,
        _ => None,
    };
    let input = PlacementInput {
        plan_tier: req.plan_tier,
        region: req.region,
        tenant_id: req.tenant_id.as_deref(),
        policy: ctx.config.policy.clone()?,
        thresholds: ctx.config.thresholds()?,
        blind_fleet_pct: ctx.config.blind_fleet_pct.clone()?,
        stack_owner: owner.as_deref(),
        // The legacy shape shows no candidates, so it builds none.
        listing: match view {
            View::Compute => Listing { candidates_limit: req.candidates_limit, explain_node_ids: &req.explain_node_ids },
            View::LegacyDryRun => Listing::NONE,
        },
        now_ms: ctx.now_ms,
    };
    let decision = fleet::with_region(&d1, req.region, |nodes| decide_placement(&input, nodes)).await??;
    if view == View::LegacyDryRun {
        Reply::json(200, &legacy_dry_run_view(&decision))
    } else {
        Reply::json(200, &decision)
    }
}
