//! The `provision_jobs` table: every statement that reads or changes a job, as named operations,
//! so a reader finds every way a job can change in this one file (as `trace_log.rs` is for
//! trace events). Callers pass a typed job id and, where a change is conditional, a closed
//! [`OnlyIf`]; no caller builds SQL for the table.
//!
//! Invariants: every status change is guarded by the status it leaves (a move that lost a race
//! changes nothing), stamps `updated_at` with the time of the change, and its trace event joins
//! the same batch conditioned on the move having happened ([`EventIf::Moved`]). Rows become
//! [`Job`] values once, here; nothing else parses a stored status, region or mode.

use crate::db::{self, int, opt_text, text, OrInternal};
use crate::trace_log::{self, NewEvent};
use cp_core::domain::{InfraMode, JobStatus, PlanTier, Region};
use cp_core::github::RunDetails;
use cp_core::job::{Job, JobId};
use cp_core::job_requests::{JobCursor, JobListQuery};
use cp_core::prometheus::JobGroup;
use cp_core::ApiError;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result};

const COLUMNS: &str = "job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier, \
     subdomain_slug, canonical_hostname, pulumi_stack, trace_id, attempts, last_error, node_id, created_at, updated_at, \
     dispatched_at, completed_at, workflow_run_id, run_url, started_at, cancelled_at, retry_of";

/// The statuses that hold a node's place and the tenant's one active slot, as SQL.
const ACTIVE: &str = "('pending', 'dispatched', 'running')";

#[derive(Deserialize)]
struct JobRow {
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
    workflow_run_id: Option<String>,
    run_url: Option<String>,
    started_at: Option<f64>,
    cancelled_at: Option<f64>,
    retry_of: Option<String>,
}

impl JobRow {
    fn into_job(self) -> Result<Job, ApiError> {
        let id = self.job_id.clone();
        let bad = |what: &str, value: &str| ApiError::internal(format!("job {id} has {what} {value:?}"));
        let ms = |v: Option<f64>| v.map(|v| v as i64);
        Ok(Job {
            job_id: JobId::parse(&self.job_id).map_err(|_| bad("job_id", &self.job_id))?,
            status: JobStatus::parse("status", &self.status).map_err(|_| bad("status", &self.status))?,
            infra_mode: InfraMode::parse("infra_mode", &self.infra_mode).map_err(|_| bad("infra_mode", &self.infra_mode))?,
            region: Region::parse("region", &self.region).map_err(|_| bad("region", &self.region))?,
            plan_tier: PlanTier::parse("plan_tier", &self.plan_tier).map_err(|_| bad("plan_tier", &self.plan_tier))?,
            retry_of: self.retry_of.as_deref().map(|r| JobId::parse(r).map_err(|_| bad("retry_of", r))).transpose()?,
            tenant_id: self.tenant_id,
            dedicated: self.dedicated == Some(1.0),
            target_server_id: self.target_server_id,
            subdomain_slug: self.subdomain_slug,
            canonical_hostname: self.canonical_hostname,
            pulumi_stack: self.pulumi_stack,
            trace_id: self.trace_id,
            attempts: self.attempts as u32,
            last_error: self.last_error,
            node_id: self.node_id,
            created_at: self.created_at as i64,
            updated_at: self.updated_at as i64,
            dispatched_at: ms(self.dispatched_at),
            completed_at: ms(self.completed_at),
            workflow_run_id: self.workflow_run_id,
            run_url: self.run_url,
            started_at: ms(self.started_at),
            cancelled_at: ms(self.cancelled_at),
        })
    }
}

fn jobs(rows: Vec<JobRow>) -> Result<Vec<Job>, ApiError> {
    rows.into_iter().map(JobRow::into_job).collect()
}

async fn one(d1: &D1Database, filter: &str, arg: &str) -> Result<Option<Job>, ApiError> {
    let s = db::stmt(d1, &format!("SELECT {COLUMNS} FROM provision_jobs WHERE {filter} LIMIT 1"), &[text(arg)])?;
    db::first::<JobRow>(s, "load job").await?.map(JobRow::into_job).transpose()
}

// ---- reads ------------------------------------------------------------------------------------

pub async fn get(d1: &D1Database, id: &JobId) -> Result<Option<Job>, ApiError> {
    one(d1, "job_id = ?1", id.as_str()).await
}

pub async fn by_idempotency_key(d1: &D1Database, key: &str) -> Result<Option<Job>, ApiError> {
    one(d1, "idempotency_key = ?1", key).await
}

pub async fn active_for_tenant(d1: &D1Database, tenant_id: &str) -> Result<Option<Job>, ApiError> {
    one(d1, &format!("tenant_id = ?1 AND status IN {ACTIVE}"), tenant_id).await
}

/// The job as it is, for the end of a batch that changed it ([`read_back`] reads the answer).
pub fn select(d1: &D1Database, id: &JobId) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(d1, &format!("SELECT {COLUMNS} FROM provision_jobs WHERE job_id = ?1"), &[text(id.as_str())])
}

pub fn read_back(result: &D1Result) -> Result<Option<Job>, ApiError> {
    result.results::<JobRow>().or_internal("read job")?.into_iter().next().map(JobRow::into_job).transpose()
}

/// One page of the operator's list, newest first (`created_at`, then `job_id`), and the cursor
/// of the next page when there is one.
pub async fn list(d1: &D1Database, q: &JobListQuery) -> Result<(Vec<Job>, Option<JobCursor>), ApiError> {
    let s = db::stmt(
        d1,
        &format!(
            "SELECT {COLUMNS} FROM provision_jobs WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR tenant_id = ?2) \
             AND (?3 IS NULL OR region = ?3) AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND job_id < ?5)) \
             ORDER BY created_at DESC, job_id DESC LIMIT ?6"
        ),
        &[
            opt_text(q.status.map(JobStatus::as_str)),
            opt_text(q.tenant_id.as_ref().map(|t| t.as_str())),
            opt_text(q.region.map(Region::as_str)),
            q.cursor.as_ref().map_or(JsValue::NULL, |c| int(c.created_at)),
            opt_text(q.cursor.as_ref().map(|c| c.job_id.as_str())),
            int(i64::from(q.limit) + 1),
        ],
    )?;
    let mut page = jobs(db::all::<JobRow>(s, "list jobs").await?)?;
    let more = page.len() > q.limit as usize;
    page.truncate(q.limit as usize);
    let next = if more { page.last().map(|j| JobCursor { created_at: j.created_at, job_id: j.job_id.to_string() }) } else { None };
    Ok((page, next))
}

/// Which instant of a pending job [`pending_unheld_before`] compares.
#[derive(Clone, Copy)]
pub enum PendingClock {
    /// `next_attempt_at`: the queue delivery is overdue (the outbox sweep).
    NextAttempt,
    /// `created_at`: past the dispatch deadline (the reconcile).
    Created,
}

/// Pending jobs whose `clock` is before `before` and that no consumer holds, oldest first.
pub async fn pending_unheld_before(d1: &D1Database, clock: PendingClock, before: i64, now: i64, limit: u32) -> Result<Vec<Job>, ApiError> {
    let column = match clock {
        PendingClock::NextAttempt => "next_attempt_at",
        PendingClock::Created => "created_at",
    };
    let s = db::stmt(
        d1,
        &format!(
            "SELECT {COLUMNS} FROM provision_jobs WHERE status = 'pending' AND {column} < ?1 \
             AND COALESCE(lease_until, 0) < ?2 ORDER BY {column} LIMIT ?3"
        ),
        &[int(before), int(now), int(limit.into())],
    )?;
    jobs(db::all::<JobRow>(s, "pending jobs").await?)
}

/// Dispatched or running jobs whose run has been on its way since before `since_before`
/// (`Job::run_clock_ms`), oldest first.
pub async fn unfinished_since(d1: &D1Database, since_before: i64, limit: u32) -> Result<Vec<Job>, ApiError> {
    let s = db::stmt(
        d1,
        &format!(
            "SELECT {COLUMNS} FROM provision_jobs WHERE status IN ('dispatched', 'running') \
             AND COALESCE(dispatched_at, started_at, created_at) < ?1 ORDER BY COALESCE(dispatched_at, started_at, created_at) LIMIT ?2"
        ),
        &[int(since_before), int(limit.into())],
    )?;
    jobs(db::all::<JobRow>(s, "unfinished jobs").await?)
}

/// The SQL count of jobs that hold a place on node `{node}` which its pushed `tenant_count`
/// cannot include yet: active, or succeeded after the node's last push (`{pushed_at}`). Shared
/// by the fleet query and the enqueue's capacity guard so both count the same way.
pub fn reserved_sql(node: &str, pushed_at: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM provision_jobs j WHERE j.target_server_id = {node} \
           AND (j.status IN {ACTIVE} \
                OR (j.status = 'succeeded' AND j.completed_at > COALESCE({pushed_at}, 0))))"
    )
}

/// An SQL condition: job `{job}` exists and is active (trace retention keeps its events).
pub fn is_active_sql(job: &str) -> String {
    format!("EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = {job} AND status IN {ACTIVE})")
}

/// An SQL condition: node `{node}` has no active job (the node delete's guard).
pub fn no_active_job_on(node: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM provision_jobs WHERE target_server_id = {node} AND status IN {ACTIVE})")
}

// ---- the enqueue ------------------------------------------------------------------------------

/// A job to insert, `pending`.
pub struct NewJob<'a> {
    pub job_id: &'a JobId,
    pub tenant_id: &'a str,
    pub infra_mode: InfraMode,
    pub dedicated: bool,
    pub region: Region,
    pub target_server_id: Option<&'a str>,
    pub plan_tier: PlanTier,
    pub subdomain_slug: &'a str,
    pub canonical_hostname: &'a str,
    pub pulumi_stack: &'a str,
    pub trace_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub retry_of: Option<&'a JobId>,
    pub now_ms: i64,
    /// The capacity guard: the chosen node must still be active and under this many tenants.
    pub max_tenants_per_node: u32,
}

/// The insert; it does nothing when the idempotency key or the tenant's active job already
/// exists (unique indexes), when the chosen node filled up or was set draining since the fleet
/// was read, or when a dedicated job's stack belongs to another tenant (guards in the same
/// statement; `stack_owners::claim` follows it in the batch).
pub fn insert(d1: &D1Database, j: &NewJob) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        &format!(
            "INSERT INTO provision_jobs (job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier, \
               subdomain_slug, canonical_hostname, pulumi_stack, trace_id, idempotency_key, attempts, next_attempt_at, created_at, updated_at, \
               retry_of) \
             SELECT ?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?13, ?13, ?15 \
             WHERE (?6 IS NULL OR ( \
               (SELECT status FROM nodes WHERE node_id = ?6) = 'active' AND \
               (SELECT tenant_count FROM server_metrics WHERE node_id = ?6) + {} < ?14)) \
               AND (?4 IS NULL OR {}) \
             ON CONFLICT DO NOTHING",
            reserved_sql("?6", "(SELECT updated_at FROM server_metrics WHERE node_id = ?6)"),
            crate::stack_owners::free_for("?10", "?2")
        ),
        &[
            text(j.job_id.as_str()),
            text(j.tenant_id),
            text(j.infra_mode.as_str()),
            if j.dedicated { int(1) } else { JsValue::NULL },
            text(j.region.as_str()),
            opt_text(j.target_server_id),
            text(j.plan_tier.as_str()),
            text(j.subdomain_slug),
            text(j.canonical_hostname),
            text(j.pulumi_stack),
            text(j.trace_id),
            opt_text(j.idempotency_key),
            int(j.now_ms),
            int(j.max_tenants_per_node.into()),
            opt_text(j.retry_of.map(JobId::as_str)),
        ],
    )
}

/// The message was handed to the queue: the next delivery is expected from now.
pub fn record_enqueued(d1: &D1Database, id: &JobId, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(d1, "UPDATE provision_jobs SET next_attempt_at = ?2, updated_at = ?2 WHERE job_id = ?1 AND status = 'pending'", &[text(id.as_str()), int(now)])
}

/// The queue send failed: say why, and have the sweep try again from `next_attempt_at` on.
pub fn record_send_failure(d1: &D1Database, id: &JobId, error: &str, next_attempt_at: i64, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "UPDATE provision_jobs SET last_error = ?2, next_attempt_at = ?3, updated_at = ?4 WHERE job_id = ?1 AND status = 'pending'",
        &[text(id.as_str()), text(error), int(next_attempt_at), int(now)],
    )
}

// ---- the consumer -----------------------------------------------------------------------------

/// A consumer's hold on a pending job.
pub struct Claim {
    /// This attempt's number (1-based).
    pub attempt: u32,
    pub created_at: i64,
}

/// Claims a pending job that no other delivery holds, until `lease_until`, counting the attempt.
pub async fn claim(d1: &D1Database, id: &JobId, now: i64, lease_until: i64) -> Result<Option<Claim>, ApiError> {
    let s = db::stmt(
        d1,
        "UPDATE provision_jobs SET attempts = attempts + 1, lease_until = ?2, updated_at = ?3 \
         WHERE job_id = ?1 AND status = 'pending' AND COALESCE(lease_until, 0) < ?3 RETURNING attempts, created_at",
        &[text(id.as_str()), int(lease_until), int(now)],
    )?;
    #[derive(Deserialize)]
    struct Claimed {
        attempts: f64,
        created_at: f64,
    }
    Ok(db::first::<Claimed>(s, "claim job").await?.map(|c| Claim { attempt: c.attempts as u32, created_at: c.created_at as i64 }))
}

/// A job's status and its claim's end, for a delivery that could not claim it.
pub async fn lease_of(d1: &D1Database, id: &JobId) -> Result<Option<(JobStatus, Option<i64>)>, ApiError> {
    #[derive(Deserialize)]
    struct Held {
        status: String,
        lease_until: Option<f64>,
    }
    let s = db::stmt(d1, "SELECT status, lease_until FROM provision_jobs WHERE job_id = ?1", &[text(id.as_str())])?;
    match db::first::<Held>(s, "job status").await? {
        None => Ok(None),
        Some(h) => {
            let status = JobStatus::parse("status", &h.status).map_err(|_| ApiError::internal(format!("job {id} has status {:?}", h.status)))?;
            Ok(Some((status, h.lease_until.map(|l| l as i64))))
        }
    }
}

/// GitHub took the dispatch: `pending` -> `dispatched`, with the run when GitHub named it.
pub fn mark_dispatched(d1: &D1Database, id: &JobId, run: Option<&RunDetails>, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "UPDATE provision_jobs SET status = 'dispatched', dispatched_at = ?2, updated_at = ?2, lease_until = NULL, last_error = NULL, \
           workflow_run_id = COALESCE(workflow_run_id, ?3), run_url = COALESCE(run_url, ?4) \
         WHERE job_id = ?1 AND status = 'pending'",
        &[text(id.as_str()), int(now), opt_text(run.map(|r| r.workflow_run_id.as_str())), opt_text(run.and_then(|r| r.run_url.as_deref()))],
    )
}

/// A retryable failure: the job stays pending, released, and is expected again at `next_at`.
pub fn record_retry(d1: &D1Database, id: &JobId, reason: &str, next_at: i64, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "UPDATE provision_jobs SET last_error = ?2, lease_until = NULL, next_attempt_at = ?3, updated_at = ?4 \
         WHERE job_id = ?1 AND status = 'pending'",
        &[text(id.as_str()), text(reason), int(next_at), int(now)],
    )
}

/// The condition a change to a job waits for, beyond its id.
#[derive(Debug, Clone, Copy)]
pub enum OnlyIf {
    /// The job is pending (whoever holds it: the consumer that holds it is the caller).
    Pending,
    /// The job is pending and no delivery holds its claim (a dead-lettered duplicate or the
    /// scheduled pass must not fail a job whose own message is being dispatched).
    PendingUnleased,
    /// The job is still as it was read: same status, same `updated_at` (the reconcile acts on
    /// what it saw, never on a job that moved meanwhile).
    Unchanged { status: JobStatus, updated_at: i64 },
}

impl OnlyIf {
    /// The SQL condition, with `now` at `?3` and its own parameters from `?4`.
    fn sql(self) -> (String, Vec<JsValue>) {
        match self {
            OnlyIf::Pending => ("status = 'pending'".into(), vec![]),
            OnlyIf::PendingUnleased => ("status = 'pending' AND COALESCE(lease_until, 0) < ?3".into(), vec![]),
            OnlyIf::Unchanged { status, updated_at } => ("status = ?4 AND updated_at = ?5".into(), vec![text(status.as_str()), int(updated_at)]),
        }
    }
}

/// -> `failed` with `reason`.
pub fn fail(d1: &D1Database, id: &JobId, reason: &str, now: i64, only_if: OnlyIf) -> Result<D1PreparedStatement, ApiError> {
    let (condition, extra) = only_if.sql();
    let mut args = vec![text(id.as_str()), text(reason), int(now)];
    args.extend(extra);
    db::stmt(
        d1,
        &format!(
            "UPDATE provision_jobs SET status = 'failed', last_error = ?2, completed_at = ?3, updated_at = ?3, lease_until = NULL \
             WHERE job_id = ?1 AND {condition}"
        ),
        &args,
    )
}

/// -> `failed` with `reason`, for a pending job whose claim found its deadline passed: that
/// claim sent nothing, so it gives back the attempt it counted (`attempts` counts dispatches).
pub fn fail_unsent(d1: &D1Database, id: &JobId, reason: &str, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "UPDATE provision_jobs SET status = 'failed', last_error = ?2, completed_at = ?3, updated_at = ?3, lease_until = NULL, \
           attempts = MAX(attempts - 1, 0) WHERE job_id = ?1 AND status = 'pending'",
        &[text(id.as_str()), text(reason), int(now)],
    )
}

// ---- the workflow and the operator ------------------------------------------------------------

/// The workflow's first step: a pending or dispatched job that no other run owns becomes
/// `running` under `run_id`.
pub fn start(d1: &D1Database, id: &JobId, run_id: &str, run_url: Option<&str>, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "UPDATE provision_jobs SET status = 'running', workflow_run_id = ?2, run_url = COALESCE(run_url, ?3), started_at = ?4, \
           updated_at = ?4, lease_until = NULL \
         WHERE job_id = ?1 AND status IN ('pending', 'dispatched') AND (workflow_run_id IS NULL OR workflow_run_id = ?2)",
        &[text(id.as_str()), text(run_id), opt_text(run_url), int(now)],
    )
}

/// What the workflow reports at its end.
pub struct Completion<'a> {
    pub status: JobStatus,
    pub node_id: Option<&'a str>,
    pub error: Option<&'a str>,
    pub run_id: Option<&'a str>,
}

/// A dispatched or running job -> its final state, unless another run owns it.
pub fn complete(d1: &D1Database, id: &JobId, c: &Completion, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "UPDATE provision_jobs SET status = ?2, node_id = COALESCE(?3, node_id), last_error = COALESCE(?4, last_error), \
           workflow_run_id = COALESCE(workflow_run_id, ?6), completed_at = ?5, updated_at = ?5 \
         WHERE job_id = ?1 AND status IN ('dispatched', 'running') AND (?6 IS NULL OR workflow_run_id IS NULL OR workflow_run_id = ?6)",
        &[text(id.as_str()), text(c.status.as_str()), opt_text(c.node_id), opt_text(c.error), int(now), opt_text(c.run_id)],
    )
}

/// An operator's cancel: an active job -> `cancelled`; its reservation and the tenant's active
/// slot are released by the same write.
pub fn cancel(d1: &D1Database, id: &JobId, reason: &str, now: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        &format!(
            "UPDATE provision_jobs SET status = 'cancelled', last_error = ?2, cancelled_at = ?3, completed_at = ?3, updated_at = ?3, \
               lease_until = NULL WHERE job_id = ?1 AND status IN {ACTIVE}"
        ),
        &[text(id.as_str()), text(reason), int(now)],
    )
}

// ---- the job's trace events -------------------------------------------------------------------

/// The ids an event about a job carries.
#[derive(Clone, Copy)]
pub struct JobRef<'a> {
    pub job_id: &'a JobId,
    pub trace_id: &'a str,
    pub tenant_id: &'a str,
}

impl<'a> JobRef<'a> {
    pub fn of(job: &'a Job) -> JobRef<'a> {
        JobRef { job_id: &job.job_id, trace_id: &job.trace_id, tenant_id: &job.tenant_id }
    }
}

/// When an event about a job is written, in the batch of the change it describes.
#[derive(Debug, Clone, Copy)]
pub enum EventIf {
    Always,
    /// The job row exists (its insert happened).
    Stored,
    /// The job now has the event's status, set at the event's time (this batch's move happened).
    Moved,
}

/// A trace event the Worker records about a job.
pub fn event(
    d1: &D1Database,
    job: JobRef,
    name: &str,
    status: JobStatus,
    detail: Option<serde_json::Value>,
    now: i64,
    when: EventIf,
) -> Result<D1PreparedStatement, ApiError> {
    let row = NewEvent {
        trace_id: job.trace_id,
        event: name,
        job_id: Some(job.job_id.as_str()),
        tenant_id: Some(job.tenant_id),
        status: Some(status.as_str()),
        detail: detail.map(|d| d.to_string()),
    };
    // trace_log numbers the event's own columns ?1-?7 (?3 its job id, ?7 its time).
    let became = [text(status.as_str())];
    let only_if: Option<(&str, &[JsValue])> = match when {
        EventIf::Always => None,
        EventIf::Stored => Some(("EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = ?3)", &[])),
        EventIf::Moved => Some(("EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = ?3 AND status = ?8 AND updated_at = ?7)", &became)),
    };
    trace_log::insert(d1, &row, now, only_if)
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
