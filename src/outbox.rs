//! Sending provision messages. The `provision_jobs` row is the outbox: it is written before the
//! message is sent, so a failed send loses nothing; the scheduled sweep sends again whatever stayed
//! `pending` past its expected delivery.

use crate::db::{self, int, text};
use crate::jobs;
use crate::log_fields;
use cp_core::message::ProvisionQueueMessage;
use cp_core::ApiError;
use worker::{js_sys, D1Database, Env, QueueContentType, RawMessageBuilder};

/// How long a pending job may go without a delivery before the sweep sends it again.
pub const SWEEP_AFTER_MS: i64 = 2 * 60 * 1000;

/// Sends the message as a plain JSON object (`Queue::send` of a serde map would arrive as `{}`).
pub async fn send(env: &Env, msg: &ProvisionQueueMessage) -> Result<(), String> {
    let queue = env.queue("PROVISION_QUEUE").map_err(|e| format!("queue binding: {e}"))?;
    let text = serde_json::to_string(msg).map_err(|e| e.to_string())?;
    let js = js_sys::JSON::parse(&text).map_err(|e| format!("{e:?}"))?;
    queue.send_raw(RawMessageBuilder::new(js).build_with_content_type(QueueContentType::Json)).await.map_err(|e| format!("queue send failed: {e}"))
}

/// Sends a job's message and records the outcome on the row: `job.enqueued`, or `last_error`
/// for the sweep to see. Returns whether the send worked.
pub async fn send_and_record(env: &Env, d1: &D1Database, msg: &ProvisionQueueMessage, now_ms: i64, by: &str) -> Result<bool, ApiError> {
    let ids = (msg.trace_id.as_str(), msg.job_id.as_str(), msg.tenant_id.as_str());
    match send(env, msg).await {
        Ok(()) => {
            let stmts = vec![
                db::stmt(
                    d1,
                    "UPDATE provision_jobs SET next_attempt_at = ?2, updated_at = ?2 WHERE job_id = ?1 AND status = 'pending'",
                    &[text(&msg.job_id), int(now_ms)],
                )?,
                jobs::event(d1, ids, "job.enqueued", "pending", Some(serde_json::json!({ "by": by })), now_ms, None)?,
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
            let s = db::stmt(
                d1,
                "UPDATE provision_jobs SET last_error = ?2, updated_at = ?3 WHERE job_id = ?1 AND status = 'pending'",
                &[text(&msg.job_id), text(&e), int(now_ms)],
            )?;
            db::run(s, "record send failure").await?;
            Ok(false)
        }
    }
}

/// Sends again every pending job whose delivery is overdue and that no consumer holds.
pub async fn sweep(env: &Env, d1: &D1Database, now_ms: i64) -> Result<(usize, usize), ApiError> {
    let s = db::stmt(
        d1,
        &format!(
            "SELECT {} FROM provision_jobs WHERE status = 'pending' AND next_attempt_at < ?1 \
             AND COALESCE(lease_until, 0) < ?2 ORDER BY next_attempt_at LIMIT 100",
            jobs::JOB_COLUMNS
        ),
        &[int(now_ms - SWEEP_AFTER_MS), int(now_ms)],
    )?;
    let overdue: Vec<cp_core::provision::StoredJob> = db::all::<jobs::JobRow>(s, "overdue jobs").await?.into_iter().map(Into::into).collect();
    let mut sent = 0;
    for job in &overdue {
        let msg = jobs::message_of(job)?;
        if send_and_record(env, d1, &msg, now_ms, "outbox_sweep").await? {
            sent += 1;
        }
    }
    Ok((overdue.len(), sent))
}
