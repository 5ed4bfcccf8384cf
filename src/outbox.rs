//! Sending provision messages. The `provision_jobs` row is the outbox: it is written before the
//! message is sent, so a failed send loses nothing; the scheduled sweep sends again whatever stayed
//! `pending` past its expected delivery.

use crate::db;
use crate::job_store::{self, EventIf, JobRef};
use crate::log_fields;
use cp_core::domain::JobStatus;
use cp_core::job::JobId;
use cp_core::message::ProvisionQueueMessage;
use cp_core::retry::{backoff, RetryPolicy};
use cp_core::ApiError;
use worker::{js_sys, D1Database, Env, QueueContentType, RawMessageBuilder};

/// How long a pending job may go without a delivery before the sweep sends it again.
pub const SWEEP_AFTER_MS: i64 = 2 * 60 * 1000;
/// The most overdue jobs one sweep reads at a time.
const SWEEP_PAGE: u32 = 100;

/// Sends the message as a plain JSON object (`Queue::send` of a serde map would arrive as `{}`),
/// delivered after `delay_seconds` when given.
pub async fn send(env: &Env, msg: &ProvisionQueueMessage, delay_seconds: Option<u32>) -> Result<(), String> {
    let queue = env.queue("PROVISION_QUEUE").map_err(|e| format!("queue binding: {e}"))?;
    let text = serde_json::to_string(msg).map_err(|e| e.to_string())?;
    let js = js_sys::JSON::parse(&text).map_err(|e| format!("{e:?}"))?;
    let mut builder = RawMessageBuilder::new(js);
    if let Some(d) = delay_seconds {
        builder = builder.delay_seconds(d);
    }
    queue.send_raw(builder.build_with_content_type(QueueContentType::Json)).await.map_err(|e| format!("queue send failed: {e}"))
}

/// Sends a job's message and records the outcome on the row: `job.enqueued`, or `last_error`
/// (and, when `retry_after_ms` is given, a later `next_attempt_at`) for the sweep to see.
/// Returns whether the send worked.
pub async fn send_and_record(env: &Env, d1: &D1Database, msg: &ProvisionQueueMessage, now_ms: i64, by: &str, retry_after_ms: i64) -> Result<bool, ApiError> {
    let id = JobId::parse(&msg.job_id).map_err(|_| ApiError::internal(format!("message names job {:?}", msg.job_id)))?;
    let job = JobRef { job_id: &id, trace_id: &msg.trace_id, tenant_id: &msg.tenant_id };
    match send(env, msg, None).await {
        Ok(()) => {
            let stmts = vec![
                job_store::record_enqueued(d1, &id, now_ms)?,
                job_store::event(d1, job, "job.enqueued", JobStatus::Pending, Some(serde_json::json!({ "by": by })), now_ms, EventIf::Always)?,
            ];
            db::batch(d1, stmts, "record enqueued").await?;
            Ok(true)
        }
        Err(e) => {
            crate::log::line(
                "error",
                "queue send failed; the outbox sweep will retry",
                log_fields!("job_id" => msg.job_id, "trace_id" => msg.trace_id, "error" => e),
            );
            db::run(job_store::record_send_failure(d1, &id, &e, now_ms + retry_after_ms, now_ms)?, "record send failure").await?;
            Ok(false)
        }
    }
}

/// What one sweep did.
#[derive(Default)]
pub struct Sweep {
    pub overdue: usize,
    pub resent: usize,
    /// Jobs whose send or bookkeeping failed: `job_id: error` (the sweep went on past them).
    pub errors: Vec<String>,
}

/// Sends again every pending job whose delivery is overdue and that no consumer holds, until
/// `budget_until` (wall clock, ms). A job whose send fails gets its `next_attempt_at` pushed
/// forward with the dispatch backoff, so one broken job neither blocks the others nor is tried
/// on every pass.
pub async fn sweep(env: &Env, d1: &D1Database, now_ms: i64, policy: &RetryPolicy, budget_until: i64) -> Result<Sweep, ApiError> {
    let mut out = Sweep::default();
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let page = job_store::pending_unheld_before(d1, job_store::PendingClock::NextAttempt, now_ms - SWEEP_AFTER_MS, now_ms, SWEEP_PAGE).await?;
        let fresh: Vec<_> = page.into_iter().filter(|j| seen.insert(j.job_id.clone())).collect();
        if fresh.is_empty() {
            return Ok(out);
        }
        for job in &fresh {
            if crate::ctx::now_ms() > budget_until {
                out.errors.push("time budget used up; the next pass goes on".into());
                return Ok(out);
            }
            out.overdue += 1;
            let delay_ms = i64::from(backoff(job.attempts + 1, policy)) * 1000;
            let sent = match job.message() {
                Ok(msg) => send_and_record(env, d1, &msg, now_ms, "outbox_sweep", delay_ms).await,
                Err(e) => Err(ApiError::internal(format!("job {} cannot form a message: {e}", job.job_id))),
            };
            match sent {
                Ok(true) => out.resent += 1,
                Ok(false) => out.errors.push(format!("{}: queue send failed", job.job_id)),
                Err(e) => out.errors.push(format!("{}: {e:?}", job.job_id)),
            }
        }
    }
}
