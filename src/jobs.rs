//! Provision jobs in D1: reading rows, and the trace events the Worker writes about them.
//! The queue consumer, the scheduled sweep and the job routes all go through here.

use crate::db::{self, text};
use crate::trace_log::{self, NewEvent};
use cp_core::domain::{JobStatus, Region};
use cp_core::message::{NewProvisionMessage, ProvisionQueueMessage};
use cp_core::prometheus::JobGroup;
use cp_core::provision::StoredJob;
use cp_core::ApiError;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement};

pub const JOB_COLUMNS: &str = "job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier, \
     subdomain_slug, canonical_hostname, pulumi_stack, trace_id, attempts, last_error, node_id, created_at, updated_at, \
     dispatched_at, completed_at";

#[derive(Deserialize)]
pub struct JobRow {
    job_id: String,
    tenant_id: String,
    status: String,
    infra_mode: String,
    dedicated: Option<f64>,
    region: String,
    target_server_id: Option<String>,
    plan_tier: String,
    subdomain_slug: String,
    canonical_hostname: String,
    pulumi_stack: String,
    trace_id: String,
    attempts: f64,
    last_error: Option<String>,
    node_id: Option<String>,
    created_at: f64,
    updated_at: f64,
    dispatched_at: Option<f64>,
    completed_at: Option<f64>,
}

impl From<JobRow> for StoredJob {
    fn from(r: JobRow) -> Self {
        StoredJob {
            job_id: r.job_id,
            tenant_id: r.tenant_id,
            status: r.status,
            infra_mode: r.infra_mode,
            dedicated: r.dedicated == Some(1.0),
            region: r.region,
            target_server_id: r.target_server_id,
            plan_tier: r.plan_tier,
            subdomain_slug: r.subdomain_slug,
            canonical_hostname: r.canonical_hostname,
            pulumi_stack: r.pulumi_stack,
            trace_id: r.trace_id,
            attempts: r.attempts as u32,
            last_error: r.last_error,
            node_id: r.node_id,
            created_at: r.created_at as i64,
            updated_at: r.updated_at as i64,
            dispatched_at: r.dispatched_at.map(|v| v as i64),
            completed_at: r.completed_at.map(|v| v as i64),
        }
    }
}

async fn one(d1: &D1Database, filter: &str, arg: &str) -> Result<Option<StoredJob>, ApiError> {
    let s = db::stmt(d1, &format!("SELECT {JOB_COLUMNS} FROM provision_jobs WHERE {filter} LIMIT 1"), &[text(arg)])?;
    Ok(db::first::<JobRow>(s, "load job").await?.map(StoredJob::from))
}

pub async fn by_id(d1: &D1Database, job_id: &str) -> Result<Option<StoredJob>, ApiError> {
    one(d1, "job_id = ?1", job_id).await
}

pub async fn by_idempotency_key(d1: &D1Database, key: &str) -> Result<Option<StoredJob>, ApiError> {
    one(d1, "idempotency_key = ?1", key).await
}

pub async fn active_for_tenant(d1: &D1Database, tenant_id: &str) -> Result<Option<StoredJob>, ApiError> {
    one(d1, "tenant_id = ?1 AND status IN ('pending', 'dispatched')", tenant_id).await
}

/// The queue message of a stored job (the outbox sweep rebuilds it from the row).
pub fn message_of(job: &StoredJob) -> Result<ProvisionQueueMessage, ApiError> {
    let region = Region::parse("region", &job.region).map_err(|_| ApiError::internal(format!("job {} has region {}", job.job_id, job.region)))?;
    ProvisionQueueMessage::new(NewProvisionMessage {
        job_id: &job.job_id,
        tenant_id: &job.tenant_id,
        region,
        create_new_server: job.infra_mode == "create_new_server",
        target_server_id: job.target_server_id.as_deref(),
        subdomain_slug: &job.subdomain_slug,
        canonical_hostname: &job.canonical_hostname,
        dedicated: job.dedicated,
        trace_id: &job.trace_id,
    })
    .map_err(|e| ApiError::internal(format!("job {} cannot form a message: {e}", job.job_id)))
}

/// A trace event the Worker records about a job (see `trace_log::insert` for `only_if`).
pub fn event(
    d1: &D1Database,
    job: (&str, &str, &str),
    event: &str,
    status: &str,
    detail: Option<serde_json::Value>,
    now_ms: i64,
    only_if: Option<(&str, &[JsValue])>,
) -> Result<D1PreparedStatement, ApiError> {
    let (trace_id, job_id, tenant_id) = job;
    let row = NewEvent { trace_id, event, job_id: Some(job_id), tenant_id: Some(tenant_id), status: Some(status), detail: detail.map(|d| d.to_string()) };
    trace_log::insert(d1, &row, now_ms, only_if)
}

/// How many jobs each status holds and when its oldest was created, in one query (the metrics
/// scrape). A status the core does not know is an internal error, not a silent gap.
pub async fn count_by_status(d1: &D1Database) -> Result<Vec<JobGroup>, ApiError> {
    let s = db::stmt(d1, "SELECT status, COUNT(*), MIN(created_at) FROM provision_jobs GROUP BY status", &[])?;
    let rows = db::raw::<(String, f64, Option<f64>)>(s, "count jobs by status").await?;
    rows.into_iter()
        .map(|(status, count, oldest)| {
            let status = JobStatus::parse("status", &status).map_err(|_| ApiError::internal(format!("a job has status {status}")))?;
            Ok(JobGroup { status, count: count as u64, oldest_created_at_ms: oldest.map(|v| v as i64) })
        })
        .collect()
}
