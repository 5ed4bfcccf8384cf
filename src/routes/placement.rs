//! `POST /internal/placement/compute` and its legacy alias `POST /internal/placement-dry-run`:
//! the decision an enqueue would make now, with every candidate's reasons. Read-only.

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::fleet;
use cp_core::placement::{decide_placement, legacy_dry_run_view, PlacementInput};
use cp_core::provision::ComputeRequest;
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
    let input = PlacementInput {
        plan_tier: req.plan_tier,
        region: req.region,
        tenant_id: req.tenant_id.as_deref(),
        policy: ctx.config.policy.clone()?,
        thresholds: ctx.config.thresholds()?,
        now_ms: ctx.now_ms,
    };
    let d1 = db::database(&ctx.env)?;
    let fleet = fleet::load(&d1, req.region).await?;
    let decision = decide_placement(&input, &fleet)?;
    if view == View::LegacyDryRun {
        Reply::json(200, &legacy_dry_run_view(&decision))
    } else {
        Reply::json(200, &decision)
    }
}
