//! `GET /internal/provision-jobs/:job_id` and the workflow's completion callback.

use crate::ctx::{Ctx, Reply};
use crate::db::{self, int, opt_text, text, OrInternal};
use crate::jobs;
use crate::trace_log::{events_of, Timeline};
use cp_core::domain::JobStatus;
use cp_core::provision::{completion, CompleteRequest, Completion, StoredJob};
use cp_core::ApiError;

/// Job ids are UUIDs made here; anything else cannot name a job.
fn check_job_id(job_id: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&job_id.len()) && job_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(())
    } else {
        Err(ApiError::not_found("no such job"))
    }
}

pub async fn get(ctx: &mut Ctx, job_id: &str) -> Result<Reply, ApiError> {
    check_job_id(job_id)?;
    let d1 = db::database(&ctx.env)?;
    let job = jobs::by_id(&d1, job_id).await?.ok_or_else(|| ApiError::not_found(format!("no job {job_id}")))?;
    ctx.job_id = Some(job.job_id.clone());
    ctx.trace_id = Some(job.trace_id.clone());
    let events = events_of(&d1, Timeline::Job(&job.job_id)).await?;
    let mut body = serde_json::to_value(&job).map_err(|e| ApiError::internal(e.to_string()))?;
    body["events"] = serde_json::Value::Array(events);
    Reply::json(200, &body)
}

pub async fn complete(ctx: &mut Ctx, job_id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    check_job_id(job_id)?;
    let req = CompleteRequest::parse(body)?;
    let d1 = db::database(&ctx.env)?;
    let job = jobs::by_id(&d1, job_id).await?.ok_or_else(|| ApiError::not_found(format!("no job {job_id}")))?;
    ctx.job_id = Some(job.job_id.clone());
    ctx.trace_id = Some(job.trace_id.clone());
    let current = JobStatus::parse("status", &job.status).map_err(|_| ApiError::internal(format!("job has status {}", job.status)))?;
    if completion(job_id, current, req.status)? == Completion::AlreadyDone {
        return Reply::json(200, &job);
    }
    let event = if req.status == JobStatus::Succeeded { "job.succeeded" } else { "job.failed" };
    let detail = serde_json::json!({ "node_id": req.node_id, "error": req.error, "by": "workflow" });
    // The move, its event and the job as it now is, in one batch (one transaction).
    let stmts = vec![
        db::stmt(
            &d1,
            "UPDATE provision_jobs SET status = ?2, node_id = COALESCE(?3, node_id), last_error = COALESCE(?4, last_error), \
               completed_at = ?5, updated_at = ?5 WHERE job_id = ?1 AND status = 'dispatched'",
            &[text(job_id), text(req.status.as_str()), opt_text(req.node_id.as_ref().map(|n| n.as_str())), opt_text(req.error.as_deref()), int(ctx.now_ms)],
        )?,
        jobs::event(
            &d1,
            (&job.trace_id, job_id, &job.tenant_id),
            event,
            req.status.as_str(),
            Some(detail),
            ctx.now_ms,
            Some(("EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = ?3 AND status = ?5 AND completed_at = ?7)", &[])),
        )?,
        db::stmt(&d1, &format!("SELECT {} FROM provision_jobs WHERE job_id = ?1", jobs::JOB_COLUMNS), &[text(job_id)])?,
    ];
    let results = db::batch(&d1, stmts, "complete job").await?;
    let job: StoredJob =
        results[2].results::<jobs::JobRow>().or_internal("read job")?.into_iter().next().ok_or_else(|| ApiError::not_found("no such job"))?.into();
    if db::changes(&results[0])? == 0 {
        // Another completion won the race: answer as if this one came second.
        let now = JobStatus::parse("status", &job.status).map_err(|_| ApiError::internal("bad status"))?;
        completion(job_id, now, req.status)?;
    }
    Reply::json(200, &job)
}
