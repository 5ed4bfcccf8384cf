//! `POST /internal/server-metrics`: the node agents' push, as the metrics runbook defines it.

use crate::ctx::{Ctx, Reply};
use crate::db::{self, int, opt_num, text};
use cp_core::auth::permit_metrics_for;
use cp_core::nodes::MetricsPush;
use cp_core::time::format_rfc3339;
use cp_core::ApiError;

pub async fn push(ctx: &mut Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let p = MetricsPush::parse(body)?;
    // A node token pushes only for its own node (403 before anything is written).
    permit_metrics_for(ctx.principal.as_ref().ok_or(ApiError::Unauthorized)?, &p.node_id)?;
    let d1 = db::database(&ctx.env)?;
    let id = p.node_id.as_str();
    let values =
        [text(id), opt_num(p.cpu_pct), opt_num(p.memory_pct), opt_num(p.disk_pct), int(p.tenant_count.into()), text(p.source.as_str()), int(ctx.now_ms)];
    // Both statements select from `nodes`, so for an unknown node neither writes anything, and the
    // batch makes the latest row and the snapshot one transaction.
    let mut stmts = vec![db::stmt(
        &d1,
        "INSERT INTO server_metrics (node_id, cpu_pct, memory_pct, disk_pct, tenant_count, source, updated_at) \
         SELECT node_id, ?2, ?3, ?4, ?5, ?6, ?7 FROM nodes WHERE node_id = ?1 \
         ON CONFLICT (node_id) DO UPDATE SET cpu_pct = excluded.cpu_pct, memory_pct = excluded.memory_pct, \
           disk_pct = excluded.disk_pct, tenant_count = excluded.tenant_count, source = excluded.source, \
           updated_at = excluded.updated_at",
        &values,
    )?];
    if p.save_snapshot {
        // At most one snapshot per SNAPSHOT_MIN_INTERVAL_SECONDS per node, however often the
        // agent asks: a minute's cadence would otherwise be 43,000 rows a node a month.
        let interval_ms = i64::from(ctx.config.snapshot_min_interval_s.clone()?) * 1000;
        let mut args = values.to_vec();
        args.push(int(interval_ms));
        stmts.push(db::stmt(
            &d1,
            "INSERT INTO server_metrics_snapshots (node_id, cpu_pct, memory_pct, disk_pct, tenant_count, source, created_at) \
             SELECT node_id, ?2, ?3, ?4, ?5, ?6, ?7 FROM nodes WHERE node_id = ?1 \
               AND NOT EXISTS (SELECT 1 FROM server_metrics_snapshots WHERE node_id = ?1 AND created_at > ?7 - ?8)",
            &args,
        )?);
    }
    let results = db::batch(&d1, stmts, "push metrics").await?;
    if db::changes(&results[0])? == 0 {
        return Err(ApiError::not_found(format!("node {id} is not registered; register it with POST /internal/nodes first")));
    }
    let snapshot_saved = match results.get(1) {
        Some(r) => db::changes(r)? > 0,
        None => false,
    };
    Reply::json(200, &serde_json::json!({ "node_id": id, "updated_at": format_rfc3339(ctx.now_ms), "snapshot_saved": snapshot_saved }))
}
