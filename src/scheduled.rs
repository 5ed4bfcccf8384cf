//! The scheduled handler (every 5 minutes): the outbox sweep, snapshot retention, and the
//! freshness alert of the metrics runbook (one log line naming every stale node). The parts run
//! independently: a failing sweep must not stop retention or the alert.

use crate::ctx::{config_from_env, now_ms};
use crate::db::{self, int};
use crate::log_fields;
use crate::outbox;
use cp_core::config::Config;
use cp_core::nodes::is_stale;
use cp_core::ApiError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

const DAY_MS: i64 = 86_400_000;
/// A dispatched job whose workflow has not called back after this long is reported: the runner
/// may have died before its `if: always()` step (the workflow's own limit is 60 minutes).
const DISPATCH_OVERDUE_MS: i64 = 2 * 60 * 60 * 1000;

pub async fn run(env: &Env) {
    let config = config_from_env(env);
    let now = now_ms();
    let mut fields = Map::new();
    let mut failed = false;
    match db::database(env) {
        Err(e) => {
            fields.insert("error".into(), e.to_string().into());
            failed = true;
        }
        Ok(d1) => {
            let parts =
                [("outbox", sweep(env, &d1, now).await), ("retention", prune(&d1, &config, now).await), ("freshness", freshness(&d1, &config, now).await)];
            for (part, result) in parts {
                match result {
                    Ok(values) => fields.extend(values),
                    Err(e) => {
                        failed = true;
                        fields.insert(format!("{part}_error"), format!("{e}: {e:?}").into());
                    }
                }
            }
        }
    }
    let stale = fields.get("stale_nodes").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let level = if failed {
        "error"
    } else if stale {
        "warn"
    } else {
        "info"
    };
    crate::log::line(level, "scheduled", fields);
}

async fn sweep(env: &Env, d1: &D1Database, now: i64) -> Result<Map<String, Value>, ApiError> {
    let (overdue, resent) = outbox::sweep(env, d1, now).await?;
    Ok(log_fields!("overdue_jobs" => overdue, "resent_jobs" => resent))
}

async fn prune(d1: &D1Database, config: &Config, now: i64) -> Result<Map<String, Value>, ApiError> {
    let cutoff = now - i64::from(config.snapshot_retention_days.clone()?) * DAY_MS;
    let pruned = db::run(db::stmt(d1, "DELETE FROM server_metrics_snapshots WHERE created_at < ?1", &[int(cutoff)])?, "prune snapshots").await?;
    Ok(log_fields!("snapshots_pruned" => pruned))
}

/// Stale nodes (every status: a draining node that stopped pushing is still worth knowing about)
/// and dispatched jobs whose workflow never called back.
async fn freshness(d1: &D1Database, config: &Config, now: i64) -> Result<Map<String, Value>, ApiError> {
    let stale_after_s = config.stale_after_s.clone()?;
    #[derive(Deserialize)]
    struct Freshness(String, Option<f64>);
    let rows = db::raw::<Freshness>(
        db::stmt(d1, "SELECT n.node_id, m.updated_at FROM nodes n LEFT JOIN server_metrics m ON m.node_id = n.node_id ORDER BY n.node_id", &[])?,
        "freshness",
    )
    .await?;
    let stale: Vec<String> =
        rows.into_iter().filter(|Freshness(_, updated)| updated.is_none_or(|u| is_stale(now, u as i64, stale_after_s))).map(|Freshness(id, _)| id).collect();
    // A one-column row is a 1-tuple (a newtype struct would expect a bare string, not an array).
    let unfinished: Vec<String> = db::raw::<(String,)>(
        db::stmt(
            d1,
            "SELECT job_id FROM provision_jobs WHERE status = 'dispatched' AND dispatched_at < ?1 ORDER BY dispatched_at LIMIT 100",
            &[int(now - DISPATCH_OVERDUE_MS)],
        )?,
        "unfinished jobs",
    )
    .await?
    .into_iter()
    .map(|(id,)| id)
    .collect();
    let mut m = Map::new();
    m.insert("stale_nodes".into(), json!(stale));
    m.insert("dispatched_without_callback".into(), json!(unfinished));
    Ok(m)
}
