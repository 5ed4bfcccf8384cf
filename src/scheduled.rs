//! The scheduled handler (every 5 minutes): the outbox sweep, snapshot retention, and the
//! freshness alert of the metrics runbook (one log line naming every stale node).

use crate::db::{self, int};
use crate::http::{config_from_env, now_ms};
use crate::log_fields;
use crate::outbox;
use cp_core::nodes::is_stale;
use cp_core::ApiError;
use serde::Deserialize;
use worker::Env;

const DAY_MS: i64 = 86_400_000;
/// A dispatched job whose workflow has not called back after this long is reported: the runner
/// may have died before its `if: always()` step (the workflow's own limit is 60 minutes).
const DISPATCH_OVERDUE_MS: i64 = 2 * 60 * 60 * 1000;

pub async fn run(env: &Env) {
    if let Err(e) = run_inner(env).await {
        crate::log::line("error", "scheduled run failed", log_fields!("error" => e.to_string(), "detail" => format!("{e:?}")));
    }
}

async fn run_inner(env: &Env) -> Result<(), ApiError> {
    let config = config_from_env(env);
    let d1 = db::database(env)?;
    let now = now_ms();

    let (overdue, resent) = outbox::sweep(env, &d1, now).await?;

    let retention_days = config.snapshot_retention_days.clone()?;
    let cutoff = now - i64::from(retention_days) * DAY_MS;
    let pruned = db::run(db::stmt(&d1, "DELETE FROM server_metrics_snapshots WHERE created_at < ?1", &[int(cutoff)])?, "prune snapshots").await?;

    let stale_after_s = config.stale_after_s.clone()?;
    #[derive(Deserialize)]
    struct Freshness {
        node_id: String,
        updated_at: Option<f64>,
    }
    let rows = db::all::<Freshness>(
        db::stmt(&d1, "SELECT n.node_id, m.updated_at FROM nodes n LEFT JOIN server_metrics m ON m.node_id = n.node_id WHERE n.status = 'active' ORDER BY n.node_id", &[])?,
        "freshness",
    )
    .await?;
    let stale: Vec<String> = rows
        .into_iter()
        .filter(|r| r.updated_at.is_none_or(|u| is_stale(now, u as i64, stale_after_s)))
        .map(|r| r.node_id)
        .collect();

    #[derive(Deserialize)]
    struct JobId {
        job_id: String,
    }
    let unfinished: Vec<String> = db::all::<JobId>(
        db::stmt(&d1, "SELECT job_id FROM provision_jobs WHERE status = 'dispatched' AND dispatched_at < ?1 ORDER BY dispatched_at LIMIT 100", &[int(now - DISPATCH_OVERDUE_MS)])?,
        "unfinished jobs",
    )
    .await?
    .into_iter()
    .map(|j| j.job_id)
    .collect();

    crate::log::line(
        if stale.is_empty() && unfinished.is_empty() { "info" } else { "warn" },
        "scheduled",
        log_fields!(
            "overdue_jobs" => overdue,
            "resent_jobs" => resent,
            "snapshots_pruned" => pruned,
            "stale_nodes" => stale,
            "dispatched_without_callback" => unfinished,
        ),
    );
    Ok(())
}
