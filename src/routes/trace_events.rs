//! Trace events: the timeline of one checkout-to-site journey, written by the Worker itself, the
//! checkout flow and the provisioning workflow.

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::trace_log::{self, NewEvent, Timeline};
use cp_core::ids::TraceId;
use cp_core::time::format_rfc3339;
use cp_core::trace_events::TraceEventInput;
use cp_core::ApiError;

pub async fn post(ctx: &mut Ctx, body: &[u8]) -> Result<Reply, ApiError> {
    let e = TraceEventInput::parse(body)?;
    ctx.trace_id = Some(e.trace_id.to_string());
    ctx.job_id = e.job_id.clone();
    let d1 = db::database(&ctx.env)?;
    let row = NewEvent {
        trace_id: e.trace_id.as_str(),
        event: &e.event,
        job_id: e.job_id.as_deref(),
        tenant_id: e.tenant_id.as_deref(),
        status: e.status.as_deref(),
        detail: e.detail.clone(),
    };
    db::run(trace_log::insert(&d1, &row, ctx.now_ms, None)?, "insert trace event").await?;
    Reply::json(201, &serde_json::json!({ "trace_id": e.trace_id, "event": e.event, "created_at": format_rfc3339(ctx.now_ms) }))
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
    let events = trace_log::events_of(&d1, Timeline::Trace(trace_id.as_str())).await?;
    Reply::json(200, &serde_json::json!({ "trace_id": trace_id, "events": events }))
}
