//! The node registry: register/update, read with freshness, list, delete.

use crate::ctx::{Ctx, Reply};
use crate::db::{self, int, opt_text, text, OrInternal};
use cp_core::ids::NodeId;
use cp_core::nodes::{encode_node_cursor, Metrics, NodeListFilter, NodeUpsert, NodeView, StoredNode};
use cp_core::ApiError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A node joined with its latest metrics, as D1 returns it. Numbers arrive as JS numbers.
#[derive(Deserialize)]
pub struct NodeRow {
    node_id: String,
    region: String,
    host: String,
    status: String,
    provider_server_id: Option<String>,
    labels: String,
    created_at: f64,
    updated_at: f64,
    cpu_pct: Option<f64>,
    memory_pct: Option<f64>,
    disk_pct: Option<f64>,
    tenant_count: Option<f64>,
    m_source: Option<String>,
    m_updated_at: Option<f64>,
}

pub const NODE_SELECT: &str = "SELECT n.node_id, n.region, n.host, n.status, n.provider_server_id, n.labels, \
     n.created_at, n.updated_at, m.cpu_pct, m.memory_pct, m.disk_pct, m.tenant_count, \
     m.source AS m_source, m.updated_at AS m_updated_at \
     FROM nodes n LEFT JOIN server_metrics m ON m.node_id = n.node_id";

impl NodeRow {
    fn into_core(self) -> Result<(StoredNode, Option<Metrics>), ApiError> {
        let metrics = match self.m_updated_at {
            Some(updated) => Some(Metrics {
                cpu_pct: self.cpu_pct,
                memory_pct: self.memory_pct,
                disk_pct: self.disk_pct,
                tenant_count: self.tenant_count.unwrap_or(0.0) as u32,
                source: crate::fleet::source_of(&self.node_id, self.m_source.as_deref())?,
                updated_at: updated as i64,
            }),
            None => None,
        };
        let labels: BTreeMap<String, String> = serde_json::from_str(&self.labels).unwrap_or_default();
        let node = StoredNode {
            node_id: self.node_id,
            region: self.region,
            host: self.host,
            status: self.status,
            provider_server_id: self.provider_server_id,
            labels,
            created_at: self.created_at as i64,
            updated_at: self.updated_at as i64,
        };
        Ok((node, metrics))
    }

    pub fn into_view(self, now_ms: i64, stale_after_s: u64) -> Result<NodeView, ApiError> {
        let (node, metrics) = self.into_core()?;
        Ok(NodeView::new(node, metrics, now_ms, stale_after_s))
    }
}

pub async fn upsert(ctx: &mut Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let input = NodeUpsert::parse(body)?;
    let stale_after_s = ctx.config.stale_after_s.clone()?;
    let d1 = db::database(&ctx.env)?;
    let labels = input.labels.as_ref().map(|l| serde_json::to_string(l).unwrap_or_else(|_| "{}".into()));
    let id = input.node_id.as_str();
    // One batch (one transaction): whether it existed, then the upsert. Absent optional fields
    // keep their stored values on update.
    let existed = db::stmt(&d1, "SELECT COUNT(*) AS n FROM nodes WHERE node_id = ?1", &[text(id)])?;
    let write = db::stmt(
        &d1,
        "INSERT INTO nodes (node_id, region, host, status, provider_server_id, labels, created_at, updated_at) \
         VALUES (?1, ?2, ?3, COALESCE(?4, 'active'), ?5, COALESCE(?6, '{}'), ?7, ?7) \
         ON CONFLICT (node_id) DO UPDATE SET region = excluded.region, host = excluded.host, \
           status = COALESCE(?4, nodes.status), \
           provider_server_id = COALESCE(?5, nodes.provider_server_id), \
           labels = COALESCE(?6, nodes.labels), updated_at = excluded.updated_at",
        &[
            text(id),
            text(input.region.as_str()),
            text(&input.host),
            opt_text(input.status.map(|s| s.as_str())),
            opt_text(input.provider_server_id.as_deref()),
            opt_text(labels.as_deref()),
            int(ctx.now_ms),
        ],
    )?;
    let read = db::stmt(&d1, &format!("{NODE_SELECT} WHERE n.node_id = ?1"), &[text(id)])?;
    let results = db::batch(&d1, vec![existed, write, read], "upsert node").await?;
    let existed = any_row(&results[0])?;
    let row = results[2].results::<NodeRow>().or_internal("read node")?.into_iter().next();
    let row = row.ok_or_else(|| ApiError::internal("node missing after upsert"))?;
    Reply::json(if existed { 200 } else { 201 }, &row.into_view(ctx.now_ms, stale_after_s)?)
}

pub async fn get(ctx: &mut Ctx, id: &str) -> Result<Reply, ApiError> {
    let id = NodeId::parse("node_id", id)?;
    let stale_after_s = ctx.config.stale_after_s.clone()?;
    let d1 = db::database(&ctx.env)?;
    let s = db::stmt(&d1, &format!("{NODE_SELECT} WHERE n.node_id = ?1"), &[text(id.as_str())])?;
    match db::first::<NodeRow>(s, "get node").await? {
        Some(row) => Reply::json(200, &row.into_view(ctx.now_ms, stale_after_s)?),
        None => Err(ApiError::not_found(format!("node {id} is not registered"))),
    }
}

/// One page, filtered in SQL (so a page is full whatever the filter), one row past the limit
/// read to know whether another page follows.
pub async fn list(ctx: &mut Ctx, query: &[(String, String)]) -> Result<Reply, ApiError> {
    let filter = NodeListFilter::parse(query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let stale_after_s = ctx.config.stale_after_s.clone()?;
    let d1 = db::database(&ctx.env)?;
    // The stale test is `is_stale`'s (older than the limit, or no metrics row); ?6 is the wanted
    // answer, or NULL for both.
    let s = db::stmt(
        &d1,
        &format!(
            "{NODE_SELECT} WHERE (?1 IS NULL OR n.region = ?1) AND (?2 IS NULL OR n.node_id > ?2) \
             AND (?6 IS NULL OR (m.updated_at IS NULL OR ?4 - m.updated_at > ?5) = ?6) ORDER BY n.node_id LIMIT ?3"
        ),
        &[
            opt_text(filter.region.map(|r| r.as_str())),
            opt_text(filter.after.as_ref().map(|a| a.as_str())),
            int(i64::from(filter.limit) + 1),
            int(ctx.now_ms),
            int(i64::try_from(stale_after_s.saturating_mul(1000)).unwrap_or(i64::MAX)),
            filter.stale.map_or(worker::wasm_bindgen::JsValue::NULL, |want| int(i64::from(want))),
        ],
    )?;
    let mut rows = db::all::<NodeRow>(s, "list nodes").await?;
    let more = rows.len() > filter.limit as usize;
    rows.truncate(filter.limit as usize);
    let next_cursor = if more { rows.last().map(|r| encode_node_cursor(&r.node_id)) } else { None };
    let nodes: Vec<NodeView> = rows.into_iter().map(|row| row.into_view(ctx.now_ms, stale_after_s)).collect::<Result<_, _>>()?;
    Reply::json(200, &serde_json::json!({ "nodes": nodes, "next_cursor": next_cursor }))
}

pub async fn delete(ctx: &mut Ctx, id: &str) -> Result<Reply, ApiError> {
    let id = NodeId::parse("node_id", id)?;
    let d1 = db::database(&ctx.env)?;
    // Every statement carries the same guard, so a job placed on the node between our check and
    // the delete cannot be orphaned: the batch is one transaction.
    let guard = crate::job_store::no_active_job_on("?1");
    let stmts = vec![
        crate::node_tokens::delete_with_node(&d1, &id, &guard)?,
        db::stmt(&d1, &format!("DELETE FROM server_metrics_snapshots WHERE node_id = ?1 AND {guard}"), &[text(id.as_str())])?,
        db::stmt(&d1, &format!("DELETE FROM server_metrics WHERE node_id = ?1 AND {guard}"), &[text(id.as_str())])?,
        db::stmt(&d1, &format!("DELETE FROM nodes WHERE node_id = ?1 AND {guard}"), &[text(id.as_str())])?,
        db::stmt(&d1, "SELECT COUNT(*) AS n FROM nodes WHERE node_id = ?1", &[text(id.as_str())])?,
    ];
    let results = db::batch(&d1, stmts, "delete node").await?;
    if db::changes(&results[3])? > 0 {
        return Reply::json(200, &serde_json::json!({ "node_id": id, "deleted": true }));
    }
    let still_there = any_row(&results[4])?;
    if still_there {
        Err(ApiError::conflict("node_has_active_jobs", format!("node {id} has pending, dispatched or running provision jobs")))
    } else {
        Err(ApiError::not_found(format!("node {id} is not registered")))
    }
}

/// Whether a `SELECT COUNT(*) AS n` in a batch counted anything.
fn any_row(result: &worker::D1Result) -> Result<bool, ApiError> {
    #[derive(Deserialize)]
    struct Count {
        n: f64,
    }
    Ok(result.results::<Count>().or_internal("count")?.first().is_some_and(|c| c.n > 0.0))
}
