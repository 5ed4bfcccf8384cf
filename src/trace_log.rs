//! The `trace_events` table: the one INSERT (used for posted events and for the Worker's own job
//! events) and the timeline reads. Routes and the pipeline call these; none writes SQL for the
//! table itself.

use crate::db::{self, int, opt_text, text};
use cp_core::time::format_rfc3339;
use cp_core::ApiError;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

/// The most events one read returns; a longer timeline is a bug upstream, not a use case.
const MAX_EVENTS: u32 = 1000;

/// One event to write.
pub struct NewEvent<'a> {
    pub trace_id: &'a str,
    pub event: &'a str,
    pub job_id: Option<&'a str>,
    pub tenant_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// A serialized JSON object.
    pub detail: Option<String>,
}

/// The insert of one event. `only_if` is an SQL condition (its own parameters numbered from ?8;
/// ?1-?7 are the event's columns in table order, ?7 its time) that must hold for the row to be
/// written: an event then joins the batch of the change it describes and exists only when that
/// change happened.
pub fn insert(d1: &D1Database, e: &NewEvent, now_ms: i64, only_if: Option<(&str, &[JsValue])>) -> Result<D1PreparedStatement, ApiError> {
    let mut args =
        vec![text(e.trace_id), text(e.event), opt_text(e.job_id), opt_text(e.tenant_id), opt_text(e.status), opt_text(e.detail.as_deref()), int(now_ms)];
    let condition = match only_if {
        None => "1",
        Some((cond, extra)) => {
            args.extend_from_slice(extra);
            cond
        }
    };
    db::stmt(
        d1,
        &format!(
            "INSERT INTO trace_events (trace_id, event, job_id, tenant_id, status, detail, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE {condition}"
        ),
        &args,
    )
}

#[derive(Deserialize)]
struct EventRow {
    event: String,
    job_id: Option<String>,
    tenant_id: Option<String>,
    status: Option<String>,
    detail: Option<String>,
    created_at: f64,
}

impl EventRow {
    fn into_json(self) -> serde_json::Value {
        let detail = self.detail.and_then(|d| serde_json::from_str::<serde_json::Value>(&d).ok());
        serde_json::json!({
            "event": self.event, "job_id": self.job_id, "tenant_id": self.tenant_id,
            "status": self.status, "detail": detail, "created_at": format_rfc3339(self.created_at as i64),
        })
    }
}

/// Which events to read: a whole trace, or one job's.
pub enum Timeline<'a> {
    Trace(&'a str),
    Job(&'a str),
}

/// The events of a trace or a job, oldest first.
pub async fn events_of(d1: &D1Database, timeline: Timeline<'_>) -> Result<Vec<serde_json::Value>, ApiError> {
    let (column, value) = match timeline {
        Timeline::Trace(t) => ("trace_id", t),
        Timeline::Job(j) => ("job_id", j),
    };
    let s = db::stmt(
        d1,
        &format!(
            "SELECT event, job_id, tenant_id, status, detail, created_at FROM trace_events WHERE {column} = ?1 \
             ORDER BY created_at, id LIMIT {MAX_EVENTS}"
        ),
        &[text(value)],
    )?;
    Ok(db::all::<EventRow>(s, "list trace events").await?.into_iter().map(EventRow::into_json).collect())
}

/// The most events one retention pass deletes: a first run on a large backlog is spread over a
/// few scheduled runs rather than one long write that holds D1's single writer.
const PRUNE_BATCH: u32 = 50_000;

/// Trace retention: deletes events older than `cutoff_ms`, of jobs that are no longer active
/// (or of no job at all). An active job's timeline is kept whole, however old it is: it is what
/// an operator reads to understand why the job is still running.
pub async fn prune(d1: &D1Database, cutoff_ms: i64) -> Result<usize, ApiError> {
    let s = db::stmt(
        d1,
        &format!(
            "DELETE FROM trace_events WHERE id IN (SELECT e.id FROM trace_events e WHERE e.created_at < ?1 \
               AND (e.job_id IS NULL OR NOT {}) LIMIT {PRUNE_BATCH})",
            crate::job_store::is_active_sql("e.job_id")
        ),
        &[int(cutoff_ms)],
    )?;
    db::run(s, "prune trace events").await
}
