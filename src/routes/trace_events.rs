//! Trace events: the timeline of one checkout-to-site journey, written by the Worker itself, the
//! checkout flow and the provisioning workflow.

use crate::db::{self, int, opt_text, text};
use crate::http::{Ctx, Reply};
use cp_core::ids::TraceId;
use cp_core::time::format_rfc3339;
use cp_core::trace_events::TraceEventInput;
use cp_core::ApiError;
use serde::Deserialize;
use worker::D1PreparedStatement;

/// The most events one GET returns; a longer timeline is a bug upstream, not a use case.
const MAX_EVENTS: u32 = 1000;

/// The insert of one posted event. (The Worker's own job events go through `jobs::event`, which
/// can make an event conditional on the change it describes.)
fn insert(d1: &worker::D1Database, e: &TraceEventInput, now_ms: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "INSERT INTO trace_events (trace_id, event, job_id, tenant_id, status, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            text(e.trace_id.as_str()),
            text(&e.event),
            opt_text(e.job_id.as_deref()),
            opt_text(e.tenant_id.as_deref()),
            opt_text(e.status.as_deref()),
            opt_text(e.detail.as_deref()),
            int(now_ms),
        ],
    )
}

pub async fn post(ctx: &mut Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let e = TraceEventInput::parse(body)?;
    ctx.trace_id = Some(e.trace_id.to_string());
    ctx.job_id = e.job_id.clone();
    let d1 = db::database(&ctx.env)?;
    db::run(insert(&d1, &e, ctx.now_ms)?, "insert trace event").await?;
    Reply::json(201, &serde_json::json!({ "trace_id": e.trace_id, "event": e.event, "created_at": format_rfc3339(ctx.now_ms) }))
}

#[derive(Deserialize)]
pub struct EventRow {
    event: String,
    job_id: Option<String>,
    tenant_id: Option<String>,
    status: Option<String>,
    detail: Option<String>,
    created_at: f64,
}

impl EventRow {
    pub fn into_json(self) -> serde_json::Value {
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
pub async fn events_of(d1: &worker::D1Database, timeline: Timeline<'_>) -> Result<Vec<serde_json::Value>, ApiError> {
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

pub async fn list(ctx: &mut Ctx, query: &[(String, String)]) -> Result<Reply, ApiError> {
    let mut trace_id = None;
    for (k, v) in query {
        match k.as_str() {
            "trace_id" => trace_id = Some(TraceId::parse("trace_id", v)?),
            other => return Err(ApiError::bad_field(&cp_core::json::truncate(other, 64), "unknown query parameter; allowed: trace_id")),
        }
    }
    let trace_id = trace_id.ok_or_else(|| ApiError::bad_field("trace_id", "trace_id is required"))?;
    ctx.trace_id = Some(trace_id.to_string());
    let d1 = db::database(&ctx.env)?;
    let events = events_of(&d1, Timeline::Trace(trace_id.as_str())).await?;
    Reply::json(200, &serde_json::json!({ "trace_id": trace_id, "events": events }))
}
