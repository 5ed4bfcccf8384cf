//! `GET /internal/provision-jobs/:job_id` and the workflow's two callbacks: `/start` (its first
//! step: the first run owns the job) and `/complete` (its last).

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::job_store::{self, Completion, EventIf, JobRef};
use crate::trace_log::{events_of, Timeline};
use cp_core::domain::JobStatus;
use cp_core::job::{self, Job, JobId, Start};
use cp_core::job_requests::StartRequest;
use cp_core::provision::CompleteRequest;
use cp_core::ApiError;

/// The job, which must exist; the request's log line names it.
pub async fn load(ctx: &mut Ctx, d1: &worker::D1Database, id: &JobId) -> Result<Job, ApiError> {
    let job = job_store::get(d1, id).await?.ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    ctx.job_id = Some(job.job_id.to_string());
    ctx.trace_id = Some(job.trace_id.clone());
    Ok(job)
}

pub async fn get(ctx: &mut Ctx, job_id: &str) -> Result<Reply, ApiError> {
    let id = JobId::parse(job_id)?;
    let d1 = db::database(&ctx.env)?;
    let job = load(ctx, &d1, &id).await?;
    let events = events_of(&d1, Timeline::Job(job.job_id.as_str())).await?;
    let mut body = serde_json::to_value(&job).map_err(|e| ApiError::internal(e.to_string()))?;
    body["events"] = serde_json::Value::Array(events);
    Reply::json(200, &body)
}

pub async fn start(ctx: &mut Ctx, job_id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let id = JobId::parse(job_id)?;
    let req = StartRequest::parse(body)?;
    let d1 = db::database(&ctx.env)?;
    let job = load(ctx, &d1, &id).await?;
    if job::start(&job, &req.run_id)? == Start::AlreadyOwned {
        return Reply::json(200, &job);
    }
    let detail = serde_json::json!({ "run_id": req.run_id, "run_attempt": req.run_attempt, "run_url": req.run_url, "from": job.status });
    let stmts = vec![
        job_store::start(&d1, &id, &req.run_id, req.run_url.as_deref(), ctx.now_ms)?,
        job_store::event(&d1, JobRef::of(&job), "job.running", JobStatus::Running, Some(detail), ctx.now_ms, EventIf::Moved)?,
        job_store::select(&d1, &id)?,
    ];
    let results = db::batch(&d1, stmts, "start job").await?;
    let now = job_store::read_back(&results[2])?.ok_or_else(|| ApiError::not_found("no such job"))?;
    if db::changes(&results[0])? == 0 {
        // Another run, a completion or a cancel won the race: answer as it would now.
        job::start(&now, &req.run_id)?;
    }
    Reply::json(200, &now)
}

pub async fn complete(ctx: &mut Ctx, job_id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let id = JobId::parse(job_id)?;
    let req = CompleteRequest::parse(body)?;
    let d1 = db::database(&ctx.env)?;
    let job = load(ctx, &d1, &id).await?;
    if job::completion(&job, req.status, req.run_id.as_deref())? == job::Completion::AlreadyDone {
        return Reply::json(200, &job);
    }
    let event = if req.status == JobStatus::Succeeded { "job.succeeded" } else { "job.failed" };
    let detail = serde_json::json!({ "node_id": req.node_id, "error": req.error, "by": "workflow", "run_id": req.run_id });
    let completion =
        Completion { status: req.status, node_id: req.node_id.as_ref().map(|n| n.as_str()), error: req.error.as_deref(), run_id: req.run_id.as_deref() };
    // The move, its event and the job as it now is, in one batch (one transaction).
    let stmts = vec![
        job_store::complete(&d1, &id, &completion, ctx.now_ms)?,
        job_store::event(&d1, JobRef::of(&job), event, req.status, Some(detail), ctx.now_ms, EventIf::Moved)?,
        job_store::select(&d1, &id)?,
    ];
    let results = db::batch(&d1, stmts, "complete job").await?;
    let now = job_store::read_back(&results[2])?.ok_or_else(|| ApiError::not_found("no such job"))?;
    if db::changes(&results[0])? == 0 {
        // Another completion won the race: answer as if this one came second.
        job::completion(&now, req.status, req.run_id.as_deref())?;
    }
    Reply::json(200, &now)
}
