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
struct FleetRow(String, String, Option<f64>, Option<f64>, Option<f64>, Option<f64>, Option<f64>, f64, String);

/// The nodes (matching `filter`, a WHERE clause or nothing) with metrics and reservations.
fn fleet_sql(filter: &str) -> String {
    format!(
        "SELECT n.node_id, n.status, m.cpu_pct, m.memory_pct, m.disk_pct, m.tenant_count, \
           m.updated_at AS m_updated_at, {} AS reserved, n.region \
         FROM nodes n LEFT JOIN server_metrics m ON m.node_id = n.node_id{filter}",
        crate::job_store::reserved_sql("n.node_id", "m.updated_at")
    )
}

pub async fn load(d1: &D1Database, region: Region) -> Result<Vec<FleetNode>, ApiError> {
    let rows = db::raw::<FleetRow>(db::stmt(d1, &fleet_sql(" WHERE n.region = ?1"), &[text(region.as_str())])?, "load fleet").await?;
    rows.into_iter().map(|row| node_of(row).map(|(_, node)| node)).collect()
}

/// Every node of every region, in one query (the metrics scrape).
pub async fn load_all(d1: &D1Database) -> Result<Vec<(Region, FleetNode)>, ApiError> {
    let rows = db::raw::<FleetRow>(db::stmt(d1, &fleet_sql(""), &[])?, "load all fleets").await?;
    rows.into_iter().map(node_of).collect()
}

fn node_of(
    FleetRow(node_id, status, cpu_pct, memory_pct, disk_pct, tenant_count, updated_at, reserved, region): FleetRow,
) -> Result<(Region, FleetNode), ApiError> {
    let region = Region::parse("region", &region).map_err(|_| ApiError::internal(format!("node {node_id} has region {region}")))?;
    Ok((
        region,
        FleetNode {
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
        },
    ))
}
