//! The queue consumer: each `ProvisionQueueMessage` becomes one `workflow_dispatch`, at most once
//! per job. Every message is acked or retried on its own; the handler never returns an error,
//! which would re-deliver the whole batch.
//!
//! No double dispatch: a consumer first claims the job (`pending`, not leased by another) in one
//! UPDATE, and a job that is already `dispatched` or final is acked untouched. A message whose job
//! is still pending but held by another claim is not dropped: it comes back when the claim
//! expires, so a consumer that died mid-dispatch (a restart, a crash) loses nothing.

use crate::ctx::{config_from_env, now_ms};
use crate::db::{self, int, text};
use crate::dispatch::{self, Target};
use crate::jobs;
use crate::log_fields;
use cp_core::message::ProvisionQueueMessage;
use cp_core::retry::{classify, DispatchOutcome, RetryPolicy, TransportKind, Verdict};
use worker::{js_sys, D1Database, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

pub const DEAD_LETTER_QUEUE: &str = "provision-jobs-dlq";
/// How long a claim holds a job: longer than the dispatch timeout, short enough that a crashed
/// consumer's job is picked up again by the sweep.
const LEASE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Ack,
    Retry(u32),
}

/// What became of one message: the queue action and what the log line says about it.
struct Outcome {
    action: Action,
    /// `dispatched`, `dispatched_unrecorded` (GitHub accepted it, D1 did not take the write),
    /// `retry`, `failed`, `dead_lettered`, `skipped`, `deferred`, `unreadable`, `error`.
    result: &'static str,
    attempt: Option<u32>,
    detail: Option<String>,
}

impl Outcome {
    fn new(action: Action, result: &'static str, attempt: Option<u32>, detail: Option<String>) -> Self {
        Outcome { action, result, attempt, detail }
    }
}

pub async fn handle_batch(batch: MessageBatch<serde_json::Value>, env: Env) {
    let queue = batch.queue();
    let dead_letter = queue == DEAD_LETTER_QUEUE;
    for message in batch.raw_iter() {
        let parsed = parse(&message);
        let outcome = match &parsed {
            Err(e) => Outcome::new(Action::Ack, "unreadable", None, Some(e.clone())),
            Ok(msg) => {
                let result = if dead_letter { dead_lettered(&env, msg).await } else { deliver(&env, msg).await };
                // D1 trouble: let the queue bring the message back later.
                result.unwrap_or_else(|e| Outcome::new(Action::Retry(5), "error", None, Some(format!("{e}: {e:?}"))))
            }
        };
        match outcome.action {
            Action::Ack => message.ack(),
            Action::Retry(delay) => message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay).build()),
        }
        // One line per message, whatever happened to it.
        let msg = parsed.as_ref().ok();
        let level = match outcome.result {
            "dispatched" | "skipped" | "deferred" => "info",
            "unreadable" | "error" | "dispatched_unrecorded" => "error",
            _ => "warn",
        };
        crate::log::line(
            level,
            "queue_message",
            log_fields!(
                "queue" => queue,
                "message_id" => message.id(),
                "job_id" => msg.map(|m| m.job_id.as_str()),
                "trace_id" => msg.map(|m| m.trace_id.as_str()),
                "result" => outcome.result,
                "attempt" => outcome.attempt,
                "retry_delay_s" => match outcome.action { Action::Retry(d) => Some(d), Action::Ack => None },
                "detail" => outcome.detail,
            ),
        );
    }
}

fn parse(message: &RawMessage) -> Result<ProvisionQueueMessage, String> {
    let json = js_sys::JSON::stringify(&message.body()).map_err(|e| format!("{e:?}"))?;
    ProvisionQueueMessage::parse(&String::from(json)).map_err(|e| e.to_string())
}

async fn deliver(env: &Env, msg: &ProvisionQueueMessage) -> Result<Outcome, cp_core::ApiError> {
    let d1 = db::database(env)?;
    let now = now_ms();
    let ids = (msg.trace_id.as_str(), msg.job_id.as_str(), msg.tenant_id.as_str());
    let claim = db::stmt(
        &d1,
        "UPDATE provision_jobs SET attempts = attempts + 1, lease_until = ?2, updated_at = ?3 \
         WHERE job_id = ?1 AND status = 'pending' AND COALESCE(lease_until, 0) < ?3 RETURNING attempts",
        &[text(&msg.job_id), int(now + LEASE_MS), int(now)],
    )?;
    #[derive(serde::Deserialize)]
    struct Claimed {
        attempts: f64,
    }
    let Some(claimed) = db::first::<Claimed>(claim, "claim job").await? else {
        return unclaimed(&d1, msg, now).await;
    };
    let attempt = claimed.attempts as u32;
    let config = config_from_env(env);
    // A missing or malformed dispatch setting is retried like an outage (an operator may fix
    // it) and named in `last_error`; it ends in the dead-letter queue if nobody does.
    let target = config.retry_policy.clone().and_then(|policy| Ok((policy, Target::from_config(&config)?)));
    let (policy, outcome) = match target {
        Ok((policy, target)) => (policy, dispatch::dispatch(&target, msg).await),
        Err(e) => (RetryPolicy::default(), DispatchOutcome::transport(TransportKind::Network, &e.body().error.message)),
    };
    let done = now_ms();
    match classify(&outcome, attempt, done / 1000, &policy) {
        Verdict::Dispatched => {
            let stmts = vec![
                db::stmt(
                    &d1,
                    "UPDATE provision_jobs SET status = 'dispatched', dispatched_at = ?2, updated_at = ?2, lease_until = NULL, last_error = NULL \
                     WHERE job_id = ?1 AND status = 'pending'",
                    &[text(&msg.job_id), int(done)],
                )?,
                jobs::event(&d1, ids, "job.dispatched", "dispatched", Some(serde_json::json!({ "attempt": attempt })), done, None)?,
            ];
            // GitHub has the run now: retrying the message would dispatch it again, so the write
            // is retried in place instead, and a message whose write never lands is still acked.
            let mut written = db::batch(&d1, stmts.clone(), "mark dispatched").await;
            for _ in 0..2 {
                if written.is_ok() {
                    break;
                }
                written = db::batch(&d1, stmts.clone(), "mark dispatched").await;
            }
            match written {
                Ok(_) => Ok(Outcome::new(Action::Ack, "dispatched", Some(attempt), None)),
                Err(e) => Ok(Outcome::new(Action::Ack, "dispatched_unrecorded", Some(attempt), Some(e.to_string()))),
            }
        }
        Verdict::Retry { delay_seconds, reason } => {
            let stmts = vec![
                db::stmt(
                    &d1,
                    "UPDATE provision_jobs SET last_error = ?2, lease_until = NULL, next_attempt_at = ?3, updated_at = ?4 \
                     WHERE job_id = ?1 AND status = 'pending'",
                    &[text(&msg.job_id), text(&reason), int(done + i64::from(delay_seconds) * 1000), int(done)],
                )?,
                jobs::event(
                    &d1,
                    ids,
                    "job.dispatch_retry",
                    "pending",
                    Some(serde_json::json!({ "attempt": attempt, "delay_seconds": delay_seconds, "error": reason })),
                    done,
                    None,
                )?,
            ];
            db::batch(&d1, stmts, "record retry").await?;
            Ok(Outcome::new(Action::Retry(delay_seconds), "retry", Some(attempt), Some(reason)))
        }
        Verdict::Fail { reason } => {
            fail(&d1, msg, &reason, done, false).await?;
            Ok(Outcome::new(Action::Ack, "failed", Some(attempt), Some(reason)))
        }
    }
}

/// The dead-letter consumer: the message used up its retries, so its job fails (if it is still
/// pending: a duplicate that was dispatched meanwhile stays dispatched).
async fn dead_lettered(env: &Env, msg: &ProvisionQueueMessage) -> Result<Outcome, cp_core::ApiError> {
    let d1 = db::database(env)?;
    let now = now_ms();
    let job = jobs::by_id(&d1, &msg.job_id).await?;
    let last = job.and_then(|j| j.last_error).unwrap_or_else(|| "no error recorded".into());
    fail(&d1, msg, &format!("retries exhausted: {last}"), now, true).await?;
    Ok(Outcome::new(Action::Ack, "dead_lettered", None, Some(last)))
}

/// Fails a pending job. `unless_held`: leave it alone while another delivery holds its claim (a
/// dead-lettered duplicate must not fail a job whose own message is being dispatched).
async fn fail(d1: &D1Database, msg: &ProvisionQueueMessage, reason: &str, now: i64, unless_held: bool) -> Result<(), cp_core::ApiError> {
    let ids = (msg.trace_id.as_str(), msg.job_id.as_str(), msg.tenant_id.as_str());
    let held = if unless_held { " AND COALESCE(lease_until, 0) < ?3" } else { "" };
    let stmts = vec![
        db::stmt(
            d1,
            &format!(
                "UPDATE provision_jobs SET status = 'failed', last_error = ?2, completed_at = ?3, updated_at = ?3, lease_until = NULL \
                 WHERE job_id = ?1 AND status = 'pending'{held}"
            ),
            &[text(&msg.job_id), text(reason), int(now)],
        )?,
        jobs::event(
            d1,
            ids,
            "job.failed",
            "failed",
            Some(serde_json::json!({ "error": reason })),
            now,
            Some(("EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = ?8 AND status = 'failed' AND completed_at = ?7)", &[text(&msg.job_id)])),
        )?,
    ];
    db::batch(d1, stmts, "mark failed").await?;
    Ok(())
}

/// The claim failed: the job is unknown or no longer pending (ack: nothing to do, and never a
/// second dispatch), or another delivery holds it (come back when its lease ends).
async fn unclaimed(d1: &D1Database, msg: &ProvisionQueueMessage, now: i64) -> Result<Outcome, cp_core::ApiError> {
    #[derive(serde::Deserialize)]
    struct Held {
        status: String,
        lease_until: Option<f64>,
    }
    let s = db::stmt(d1, "SELECT status, lease_until FROM provision_jobs WHERE job_id = ?1", &[text(&msg.job_id)])?;
    let held = db::first::<Held>(s, "job status").await?;
    Ok(match held {
        None => Outcome::new(Action::Ack, "skipped", None, Some("unknown job".into())),
        Some(h) if h.status == "pending" => {
            let left_ms = h.lease_until.map_or(0, |l| l as i64 - now);
            let delay = u32::try_from(left_ms.max(0) / 1000 + 1).unwrap_or(60);
            Outcome::new(Action::Retry(delay), "deferred", None, Some("another delivery holds the job".into()))
        }
        Some(h) => Outcome::new(Action::Ack, "skipped", None, Some(format!("job is {}", h.status))),
    })
}
