//! The fleet placement and the scrape see: nodes, latest metrics and reservations (the job
//! store's `reserved_sql`), kept in this isolate between requests as a [`FleetView`] and brought
//! up to date from the database before every use.
//!
//! Each use is one query: the fleet clock plus the rows of the nodes stamped after the view's
//! counter (`migrations/0006_fleet_changes.sql`), usually none or a handful, instead of the whole
//! region. The first use in an isolate, or a new epoch, reads every node. Because the read and the
//! counter come from one statement, the view is exactly the database as of that read: a push, a
//! drain or an enqueue answered before a request began is in what that request decides on.
//!
//! SQLite writes the rows as JSON text itself (`json_group_array`), a few thousand nodes per
//! text: crossing from D1 to WASM as a handful of strings instead of 10,000 rows of nine values
//! each. The chunking keeps every text far under D1's 2 MB limit on one value.

use std::cell::RefCell;

use crate::db::{self, int, OrInternal};
use cp_core::domain::{MetricsSource, NodeStatus, Region};
use cp_core::fleet_view::{Applied, Change, FleetView};
use cp_core::nodes::Metrics;
use cp_core::placement::FleetNode;
use cp_core::ApiError;
use serde::Deserialize;
use worker::D1Database;

thread_local! {
    /// This isolate's view. Never borrowed across an `await`: requests of one isolate interleave
    /// there.
    static VIEW: RefCell<Option<FleetView>> = const { RefCell::new(None) };
}

/// Runs `f` on the region's nodes as the database holds them now.
pub async fn with_region<T>(d1: &D1Database, region: Region, f: impl FnOnce(&[FleetNode]) -> T) -> Result<T, ApiError> {
    with_view(d1, |view| f(view.region(region))).await
}

/// Runs `f` on the whole fleet as the database holds it now.
pub async fn with_view<T>(d1: &D1Database, f: impl FnOnce(&FleetView) -> T) -> Result<T, ApiError> {
    let known = VIEW.with(|v| v.borrow().as_ref().map(|view| (view.epoch().to_string(), view.seq())));
    if let Some(&(_, seq)) = known.as_ref() {
        let read = read(d1, Some(seq)).await?;
        let used = VIEW.with(|cell| {
            let mut cell = cell.borrow_mut();
            let view = cell.as_mut()?;
            match view.apply(&read.epoch, seq, read.seq, read.changes) {
                Applied::Yes | Applied::AlreadyNewer => Some(()),
                Applied::ReadInFull => None,
            }
        });
        if used.is_some() {
            return Ok(VIEW.with(|v| f(v.borrow().as_ref().expect("the view was just used"))));
        }
        // A new epoch (tombstones pruned, a database rebuilt) or a restored one: read it all.
    }
    let full = read(d1, None).await?;
    let view = FleetView::new(full.epoch, full.seq, full.changes.into_iter().filter_map(|c| c.now));
    let answer = f(&view);
    VIEW.with(|cell| {
        let mut cell = cell.borrow_mut();
        // Replace the view this request found wanting, or an older one; keep a newer one that a
        // concurrent request installed meanwhile.
        let replace = cell.as_ref().is_none_or(|old| {
            known.as_ref().is_some_and(|(epoch, seq)| old.epoch() == epoch && old.seq() == *seq) || (old.epoch() == view.epoch() && old.seq() <= view.seq())
        });
        if replace {
            *cell = Some(view);
        }
    });
    Ok(answer)
}

/// One read: the clock, and the nodes stamped after `after` (every node when `None`).
struct Read {
    epoch: String,
    seq: i64,
    changes: Vec<Change>,
}

async fn read(d1: &D1Database, after: Option<i64>) -> Result<Read, ApiError> {
    let context = if after.is_some() { "read fleet changes" } else { "read fleet" };
    let (sql, args) = match after {
        Some(seq) => (delta_sql(), vec![int(seq)]),
        None => (full_sql(), vec![]),
    };
    let mut clock = None;
    let mut changes = Vec::new();
    for text in db::texts(db::stmt(d1, &sql, &args)?, context).await? {
        if text.starts_with('[') {
            for row in serde_json::from_str::<Vec<FleetRow>>(&text).or_internal(context)? {
                changes.push(change_of(row)?);
            }
        } else {
            clock = Some(text);
        }
    }
    let clock = clock.ok_or_else(|| ApiError::internal(format!("{context}: fleet_clock has no row")))?;
    let (seq, epoch) = clock.split_once(' ').ok_or_else(|| ApiError::internal(format!("{context}: fleet_clock reads {clock:?}")))?;
    let seq = seq.parse().map_err(|_| ApiError::internal(format!("{context}: fleet_clock reads {clock:?}")))?;
    Ok(Read { epoch: epoch.to_string(), seq, changes })
}

/// One row, in the column order of the query; status and region are null for a node that is
/// gone. The percentages arrive as text (see [`exact`]).
#[derive(Deserialize)]
struct FleetRow(String, Option<String>, Option<String>, Option<String>, Option<String>, Option<f64>, Option<String>, Option<f64>, f64, Option<String>);

/// A REAL column as text with 17 significant digits, which every f64 survives bit for bit;
/// SQLite's JSON writes REALs with 15 (99.99999999999999 would come back as 100.0).
fn exact(column: &str) -> String {
    format!("iif({column} IS NULL, NULL, printf('%!.17g', {column}))")
}

/// Nodes per JSON text: ~100 bytes each, so a text stays near 400 KB.
const CHUNK: u32 = 4000;

/// The clock as `"seq epoch"`, then the rows of `from` (joined to `n` nodes and `m` metrics on
/// `{id}`, filtered by `filter`) as JSON arrays of `FleetRow`s.
fn fleet_sql(id: &str, from: &str, filter: &str) -> String {
    format!(
        "SELECT (SELECT COALESCE(MAX(seq), 0) FROM fleet_changes) || ' ' || epoch FROM fleet_clock WHERE id = 1 \
         UNION ALL \
         SELECT json_group_array(json_array({id}, n.status, {}, {}, {}, m.tenant_count, \
           m.source, m.updated_at, {}, n.region)) \
         FROM {from} LEFT JOIN server_metrics m ON m.node_id = {id}{filter} GROUP BY n.rowid / {CHUNK}",
        exact("m.cpu_pct"),
        exact("m.memory_pct"),
        exact("m.disk_pct"),
        crate::job_store::reserved_sql(id, "m.updated_at")
    )
}

fn full_sql() -> String {
    fleet_sql("n.node_id", "nodes n", "")
}

/// The nodes stamped after `?1`, deleted ones included (their `n` columns are null).
fn delta_sql() -> String {
    fleet_sql("c.node_id", "fleet_changes c LEFT JOIN nodes n ON n.node_id = c.node_id", " WHERE c.seq > ?1")
}

/// Deletes the stamps of ids that are no longer nodes (deleted nodes, job targets that never
/// were) and starts a new epoch in the same batch, so every isolate's view, which could miss
/// a deletion whose stamp is gone, reads the fleet in full once. Nothing happens while there
/// is no such stamp, so a fleet whose nodes are not deleted is never re-read.
pub async fn prune_tombstones(d1: &D1Database) -> Result<usize, ApiError> {
    const GONE: &str = "NOT EXISTS (SELECT 1 FROM nodes n WHERE n.node_id = c.node_id)";
    let results = db::batch(
        d1,
        vec![
            db::stmt(
                d1,
                &format!("UPDATE fleet_clock SET epoch = lower(hex(randomblob(8))) WHERE id = 1 AND EXISTS (SELECT 1 FROM fleet_changes c WHERE {GONE})"),
                &[],
            )?,
            db::stmt(d1, &format!("DELETE FROM fleet_changes AS c WHERE {GONE}"), &[])?,
        ],
        "prune fleet tombstones",
    )
    .await?;
    results.get(1).map_or(Ok(0), db::changes)
}

/// The row's `source`, which the push route only ever writes from the closed set.
pub fn source_of(node_id: &str, source: Option<&str>) -> Result<MetricsSource, ApiError> {
    let raw = source.unwrap_or_default();
    MetricsSource::parse("source", raw).map_err(|_| ApiError::internal(format!("node {node_id} has metrics source {raw:?}")))
}

fn pct(node_id: &str, v: Option<String>) -> Result<Option<f64>, ApiError> {
    v.map(|t| t.parse::<f64>().map_err(|_| ApiError::internal(format!("node {node_id} has a metric {t:?}")))).transpose()
}

fn change_of(
    FleetRow(node_id, status, cpu_pct, memory_pct, disk_pct, tenant_count, source, updated_at, reserved, region): FleetRow,
) -> Result<Change, ApiError> {
    let (Some(status), Some(region)) = (status, region) else {
        return Ok(Change { node_id, now: None });
    };
    let region = Region::parse("region", &region).map_err(|_| ApiError::internal(format!("node {node_id} has region {region}")))?;
    let node = FleetNode {
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
        node_id: node_id.clone(),
    };
    Ok(Change { node_id, now: Some((region, node)) })
}
