//! Loading a region's fleet for placement: nodes, latest metrics and reservations in one query,
//! however many nodes there are (the reservation count is the job store's `reserved_sql`).

use crate::db::{self, text};
use cp_core::domain::{NodeStatus, Region};
use cp_core::placement::{FleetNode, NodeMetrics};
use cp_core::ApiError;
use serde::Deserialize;
use worker::D1Database;

/// One row, in the column order of the query (read as an array: the fleet can be 10,000 rows).
#[derive(Deserialize)]
struct FleetRow(String, String, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>, f64);

pub async fn load(d1: &D1Database, region: Region) -> Result<Vec<FleetNode>, ApiError> {
    let sql = format!(
        "SELECT n.node_id, n.status, m.cpu_pct, m.memory_pct, m.disk_pct, m.tenant_count, \
           m.updated_at AS m_updated_at, {} AS reserved \
         FROM nodes n LEFT JOIN server_metrics m ON m.node_id = n.node_id WHERE n.region = ?1",
        crate::job_store::reserved_sql("n.node_id", "m.updated_at")
    );
    let rows = db::raw::<FleetRow>(db::stmt(d1, &sql, &[text(region.as_str())])?, "load fleet").await?;
    rows.into_iter()
        .map(|FleetRow(node_id, status, cpu_pct, memory_pct, disk_pct, tenant_count, updated_at, reserved)| {
            Ok(FleetNode {
                status: NodeStatus::parse("status", &status).map_err(|_| ApiError::internal(format!("node {node_id} has status {status}")))?,
                metrics: updated_at.map(|updated| NodeMetrics {
                    cpu_pct,
                    memory_pct,
                    disk_pct,
                    tenant_count: tenant_count.unwrap_or(0.0) as u32,
                    updated_at_ms: updated as i64,
                }),
                reserved: reserved as u32,
                node_id,
            })
        })
        .collect()
}
