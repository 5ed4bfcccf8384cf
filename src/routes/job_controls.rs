//! The operator's job controls: `GET /internal/provision-jobs` (filters, cursor),
//! `POST .../cancel` (also asks GitHub to cancel a known run, best effort) and `POST .../retry`
//! (a new job for the same tenant, linked by `retry_of`, with a fresh placement).

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::dispatch::{self, Target};
use crate::job_store::{self, EventIf, JobRef};
use crate::routes::jobs::load;
use crate::routes::provision::{create, JobSpec};
use cp_core::domain::JobStatus;
use cp_core::ids::TenantId;
use cp_core::job::{self, Cancel, JobId};
use cp_core::job_requests::{CancelRequest, JobListQuery};
use cp_core::ApiError;
use serde_json::json;

pub async fn list(ctx: &mut Ctx, pairs: &[(String, String)]) -> Result<Reply, ApiError> {
    let q = JobListQuery::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let d1 = db::database(&ctx.env)?;
    let (jobs, next) = job_store::list(&d1, &q).await?;
    Reply::json(200, &json!({ "jobs": jobs, "next_cursor": next.map(|c| c.encode()) }))
}

pub async fn cancel(ctx: &mut Ctx, job_id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let id = JobId::parse(job_id)?;
    let req = CancelRequest::parse(body)?;
    let d1 = db::database(&ctx.env)?;
    let job = load(ctx, &d1, &id).await?;
    if job::cancel(&job)? == Cancel::AlreadyCancelled {
        return Reply::json(200, &job);
    }
    // GitHub first, so its answer goes into the event that records the cancel.
    let github = match job.workflow_run_id.as_deref() {
        None => serde_json::Value::Null,
        Some(run) => match Target::from_config(&ctx.config) {
            Ok(target) => dispatch::cancel_run(&target, run).await,
            Err(e) => json!({ "error": e.to_string() }),
        },
    };
    let reason = req.reason.as_deref().map_or_else(|| "cancelled by an operator".to_string(), |r| format!("cancelled by an operator: {r}"));
    let detail = json!({ "reason": req.reason, "from": job.status, "workflow_run_id": job.workflow_run_id, "github": github });
    let stmts = vec![
        job_store::cancel(&d1, &id, &reason, ctx.now_ms)?,
        job_store::event(&d1, JobRef::of(&job), "job.cancelled", JobStatus::Cancelled, Some(detail), ctx.now_ms, EventIf::Moved)?,
        job_store::select(&d1, &id)?,
    ];
    let results = db::batch(&d1, stmts, "cancel job").await?;
    let now = job_store::read_back(&results[2])?.ok_or_else(|| ApiError::not_found("no such job"))?;
    if db::changes(&results[0])? == 0 {
        // It finished meanwhile: answer as a cancel of the job as it is now.
        job::cancel(&now)?;
    }
    Reply::json(200, &now)
}

pub async fn retry(ctx: &mut Ctx, job_id: &str, body: &[u8], idempotency_key: Option<String>) -> Result<Reply, ApiError> {
    let id = JobId::parse(job_id)?;
    if !body.iter().all(u8::is_ascii_whitespace) {
        cp_core::json::parse_object(body)?.deny_unknown(&[])?;
    }
    let key = idempotency_key.as_deref().map(cp_core::provision::parse_idempotency_key).transpose()?;
    let d1 = db::database(&ctx.env)?;
    let old = load(ctx, &d1, &id).await?;
    // A replayed key answers with the job it made, whatever the old job's status is by now.
    if key.is_none() || job_store::by_idempotency_key(&d1, key.as_deref().unwrap_or_default()).await?.is_none() {
        job::retryable(&old)?;
    }
    let tenant = TenantId::parse("tenant_id", &old.tenant_id).map_err(|_| ApiError::internal(format!("job {id} has tenant {:?}", old.tenant_id)))?;
    let spec = JobSpec {
        tenant_id: &tenant,
        plan_tier: old.plan_tier,
        region: old.region,
        subdomain_slug: &old.subdomain_slug,
        canonical_hostname: &old.canonical_hostname,
        trace_id: &old.trace_id,
        idempotency_key: key.as_deref(),
        retry_of: Some(&old.job_id),
    };
    create(ctx, &spec).await
}
