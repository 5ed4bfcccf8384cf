//! The scheduled handler (every 5 minutes): the outbox sweep, the job reconcile (stranded runs,
//! pending jobs past the deadline), snapshot and trace retention (and the fleet's tombstones), and the freshness alert of the metrics
//! runbook (one log line naming every stale node). The parts run independently: a failing sweep
//! must not stop the reconcile, retention or the alert, and a malformed retention setting stops
//! only its own pruning.

use crate::ctx::{config_from_env, now_ms};
use crate::db::{self, int};
use crate::log_fields;
use crate::outbox;
use crate::reconcile;
use cp_core::config::Config;
use cp_core::nodes::is_stale;
use cp_core::ApiError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use worker::{D1Database, Env};

const DAY_MS: i64 = 86_400_000;
/// Wall-clock time each job pass may take, so a large backlog cannot use up the handler's limit
/// (what is left is taken up by the next run, five minutes later).
const PASS_BUDGET_MS: i64 = 20_000;

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
            let parts = [
                ("outbox", sweep(env, &d1, &config, now).await),
                ("reconcile", reconcile::run(env, &config, now, now_ms() + PASS_BUDGET_MS).await),
                ("snapshot_retention", prune_snapshots(&d1, &config, now).await),
                ("trace_retention", prune_traces(&d1, &config, now).await),
                ("fleet_tombstones", prune_tombstones(&d1).await),
                ("freshness", freshness(&d1, &config, now).await),
            ];
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
    let job_errors = fields.contains_key("sweep_errors") || fields.contains_key("reconcile_errors");
    let level = if failed {
        "error"
    } else if stale || job_errors {
        "warn"
    } else {
        "info"
    };
    crate::log::line(level, "scheduled", fields);
}

async fn sweep(env: &Env, d1: &D1Database, config: &Config, now: i64) -> Result<Map<String, Value>, ApiError> {
    let policy = config.retry_policy.clone().unwrap_or_default();
    let s = outbox::sweep(env, d1, now, &policy, now_ms() + PASS_BUDGET_MS).await?;
    let mut m = log_fields!("overdue_jobs" => s.overdue, "resent_jobs" => s.resent);
    if !s.errors.is_empty() {
        m.insert("sweep_errors".into(), json!(s.errors));
    }
    Ok(m)
}

async fn prune_snapshots(d1: &D1Database, config: &Config, now: i64) -> Result<Map<String, Value>, ApiError> {
    let cutoff = now - i64::from(config.snapshot_retention_days.clone()?) * DAY_MS;
    let pruned = db::run(db::stmt(d1, "DELETE FROM server_metrics_snapshots WHERE created_at < ?1", &[int(cutoff)])?, "prune snapshots").await?;
    Ok(log_fields!("snapshots_pruned" => pruned))
}

async fn prune_traces(d1: &D1Database, config: &Config, now: i64) -> Result<Map<String, Value>, ApiError> {
    let cutoff = now - i64::from(config.trace_retention_days.clone()?) * DAY_MS;
    Ok(log_fields!("trace_events_pruned" => crate::trace_log::prune(d1, cutoff).await?))
}

async fn prune_tombstones(d1: &D1Database) -> Result<Map<String, Value>, ApiError> {
    Ok(log_fields!("fleet_tombstones_pruned" => crate::fleet::prune_tombstones(d1).await?))
}

/// Stale nodes (every status: a draining node that stopped pushing is still worth knowing about).
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
    let mut m = Map::new();
    m.insert("stale_nodes".into(), json!(stale));
    Ok(m)
}
