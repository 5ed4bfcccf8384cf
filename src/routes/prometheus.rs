//! `GET /internal/metrics`: the Prometheus scrape. Two queries (every node with its metrics and
//! reservations; the jobs grouped by status) whatever the fleet's size; the text is the core's.

use crate::ctx::{BodyKind, Ctx, Reply};
use crate::{db, fleet, job_store};
use cp_core::prometheus::{render, Snapshot};
use cp_core::ApiError;

pub async fn scrape(ctx: &mut Ctx) -> Result<Reply, ApiError> {
    let thresholds = ctx.config.thresholds()?;
    let d1 = db::database(&ctx.env)?;
    let jobs = job_store::count_by_status(&d1).await?;
    let text = fleet::with_view(&d1, |fleet| render(&Snapshot { now_ms: ctx.now_ms, thresholds, fleet, jobs: &jobs })).await??;
    Ok(Reply::text(200, BodyKind::Prometheus, text))
}
