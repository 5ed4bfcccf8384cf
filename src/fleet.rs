//! Loading a region's fleet for placement: nodes, latest metrics and reservations in one query,
//! however many nodes there are (the reservation count is the job store's `reserved_sql`).
//!
//! SQLite writes the rows as JSON text itself (`json_group_array`), a few thousand nodes per
//! text: crossing from D1 to WASM as a handful of strings instead of 10,000 rows of nine values
//! each is most of what a compute at 10,000 nodes used to cost. The chunking keeps every text
//! far under D1's 2 MB limit on one value, whatever the region's size.

use crate::db::{self, text, OrInternal};
use cp_core::domain::{MetricsSource, NodeStatus, Region};
use cp_core::nodes::Metrics;
use cp_core::placement::FleetNode;
use cp_core::ApiError;
use serde::Deserialize;
use worker::D1Database;

/// One row, in the column order of the query. The percentages arrive as text (see [`exact`]).
#[derive(Deserialize)]
struct FleetRow(String, String, Option<String>, Option<String>, Option<String>, Option<f64>, Option<String>, Option<f64>, f64, String);

/// A REAL column as text with 17 significant digits, which every f64 survives bit for bit;
/// SQLite's JSON writes REALs with 15 (99.99999999999999 would come back as 100.0).
fn exact(column: &str) -> String {
    format!("iif({column} IS NULL, NULL, printf('%!.17g', {column}))")
}

/// The row's `source`, which the push route only ever writes from the closed set.
pub fn source_of(node_id: &str, source: Option<&str>) -> Result<MetricsSource, ApiError> {
    let raw = source.unwrap_or_default();
    MetricsSource::parse("source", raw).map_err(|_| ApiError::internal(format!("node {node_id} has metrics source {raw:?}")))
}

fn pct(node_id: &str, v: Option<String>) -> Result<Option<f64>, ApiError> {
    v.map(|t| t.parse::<f64>().map_err(|_| ApiError::internal(format!("node {node_id} has a metric {t:?}")))).transpose()
}

/// Nodes per JSON text: ~100 bytes each, so a text stays near 400 KB.
const CHUNK: u32 = 4000;

/// The nodes (matching `filter`, a WHERE clause or nothing) with metrics and reservations, as
/// JSON arrays of `FleetRow`s.
fn fleet_sql(filter: &str) -> String {
    format!(
        "SELECT json_group_array(json_array(n.node_id, n.status, {}, {}, {}, m.tenant_count, \
           m.source, m.updated_at, {}, n.region)) \
         FROM nodes n LEFT JOIN server_metrics m ON m.node_id = n.node_id{filter} GROUP BY n.rowid / {CHUNK}",
        exact("m.cpu_pct"),
        exact("m.memory_pct"),
        exact("m.disk_pct"),
        crate::job_store::reserved_sql("n.node_id", "m.updated_at")
    )
}

async fn rows(d1: &D1Database, filter: &str, args: &[worker::wasm_bindgen::JsValue], context: &str) -> Result<Vec<FleetRow>, ApiError> {
    let mut rows = Vec::new();
    for chunk in db::texts(db::stmt(d1, &fleet_sql(filter), args)?, context).await? {
        rows.extend(serde_json::from_str::<Vec<FleetRow>>(&chunk).or_internal(context)?);
    }
    Ok(rows)
}

pub async fn load(d1: &D1Database, region: Region) -> Result<Vec<FleetNode>, ApiError> {
    let rows = rows(d1, " WHERE n.region = ?1", &[text(region.as_str())], "load fleet").await?;
    rows.into_iter().map(|row| node_of(row).map(|(_, node)| node)).collect()
}

/// Every node of every region, in one query (the metrics scrape).
pub async fn load_all(d1: &D1Database) -> Result<Vec<(Region, FleetNode)>, ApiError> {
    rows(d1, "", &[], "load all fleets").await?.into_iter().map(node_of).collect()
}

fn node_of(
    FleetRow(node_id, status, cpu_pct, memory_pct, disk_pct, tenant_count, source, updated_at, reserved, region): FleetRow,
) -> Result<(Region, FleetNode), ApiError> {
    let region = Region::parse("region", &region).map_err(|_| ApiError::internal(format!("node {node_id} has region {region}")))?;
    Ok((
        region,
        FleetNode {
            status: NodeStatus::parse("status", &status).map_err(|_| ApiError::internal(format!("node {node_id} has status {status}")))?,
            metrics: match updated_at {
                Some(updated) => Some(Metrics {
                    cpu_pct: pct(&node_id, cpu_pct)?,
                    memory_pct: pct(&node_id, memory_pct)?,
                    disk_pct: pct(&node_id, disk_pct)?,
                    tenant_count: tenant_count.unwrap_or(0.0) as u32,
                    source: source_of(&node_id, source.as_deref())?,
                    updated_at: updated as i64,
                }),
                None => None,
            },
            reserved: reserved as u32,
            node_id,
        },
    ))
}
