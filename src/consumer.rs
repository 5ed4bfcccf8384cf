//! The queue consumer: each `ProvisionQueueMessage` becomes one `workflow_dispatch`, at most once
//! per job. Every message is acked, re-sent or retried on its own; the handler never returns an
//! error, which would re-deliver the whole batch.
//!
//! No double dispatch: a consumer first claims the job (`pending`, not leased by another) in one
//! UPDATE, and a job that is already dispatched, running or final is acked untouched. A message
//! whose job is still pending but held by another claim is not dropped: it comes back when the
//! claim expires, so a consumer that died mid-dispatch loses nothing.
//!
//! The budget is the deadline, not the queue's retry count: a retryable failure sends a fresh
//! message with the computed delay and acks the old one, so `max_retries` (and the dead-letter
//! queue) only catch what the consumer itself cannot handle (D1 trouble).

use crate::ctx::{config_from_env, now_ms};
use crate::db;
use crate::dispatch::{self, Dispatch, Target};
use crate::job_store::{self, EventIf, JobRef, OnlyIf};
use crate::log_fields;
use crate::outbox;
use cp_core::domain::JobStatus;
use cp_core::job::{deadline_error, dispatch_deadline_ms, JobId};
use cp_core::message::ProvisionQueueMessage;
use cp_core::retry::{apply_deadline, classify, DispatchOutcome, RetryPolicy, TransportKind, Verdict};
use cp_core::ApiError;
use worker::{js_sys, D1Database, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, RawMessage};

pub const DEAD_LETTER_QUEUE: &str = "provision-jobs-dlq";
/// How long a claim holds a job: longer than a dispatch (two calls of at most 10 s), short
/// enough that a crashed consumer's job is picked up again by the sweep.
pub const LEASE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Action {
    Ack,
    /// Let the queue bring this message back (counts towards `max_retries`).
    Retry(u32),
    /// Send a fresh message with this delay and ack this one (does not count).
    Resend(u32),
}

/// What became of one message, for its log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageResult {
    Dispatched,
    /// GitHub accepted it, D1 did not take the write.
    DispatchedUnrecorded,
    Retry,
    Failed,
    DeadLettered,
    Skipped,
    Deferred,
    Unreadable,
    Error,
}

impl MessageResult {
    fn as_str(self) -> &'static str {
        match self {
            MessageResult::Dispatched => "dispatched",
            MessageResult::DispatchedUnrecorded => "dispatched_unrecorded",
            MessageResult::Retry => "retry",
            MessageResult::Failed => "failed",
            MessageResult::DeadLettered => "dead_lettered",
            MessageResult::Skipped => "skipped",
            MessageResult::Deferred => "deferred",
            MessageResult::Unreadable => "unreadable",
            MessageResult::Error => "error",
        }
    }

    fn level(self) -> &'static str {
        match self {
            MessageResult::Dispatched | MessageResult::Skipped | MessageResult::Deferred => "info",
            MessageResult::Unreadable | MessageResult::Error | MessageResult::DispatchedUnrecorded => "error",
            MessageResult::Retry | MessageResult::Failed | MessageResult::DeadLettered => "warn",
        }
    }
}

struct Outcome {
    action: Action,
    result: MessageResult,
    attempt: Option<u32>,
    detail: Option<String>,
}

impl Outcome {
    fn new(action: Action, result: MessageResult, attempt: Option<u32>, detail: Option<String>) -> Self {
        Outcome { action, result, attempt, detail }
    }
}

pub async fn handle_batch(batch: MessageBatch<serde_json::Value>, env: Env) {
    let queue = batch.queue();
    let dead_letter = queue == DEAD_LETTER_QUEUE;
    for message in batch.raw_iter() {
        let parsed = parse(&message);
        let outcome = match &parsed {
            Err(e) => Outcome::new(Action::Ack, MessageResult::Unreadable, None, Some(e.clone())),
            Ok((msg, id)) => {
                let result = if dead_letter { dead_lettered(&env, id).await } else { deliver(&env, msg, id).await };
                // D1 trouble: let the queue bring the message back later.
                result.unwrap_or_else(|e| Outcome::new(Action::Retry(5), MessageResult::Error, None, Some(format!("{e}: {e:?}"))))
            }
        };
        let retry = |delay: u32| message.retry_with_options(&QueueRetryOptionsBuilder::new().with_delay_seconds(delay).build());
        let mut resend_error = None;
        match outcome.action {
            Action::Ack => message.ack(),
            Action::Retry(delay) => retry(delay),
            Action::Resend(delay) => match &parsed {
                Ok((msg, _)) => match outbox::send(&env, msg, Some(delay)).await {
                    Ok(()) => message.ack(),
                    Err(e) => {
                        resend_error = Some(e);
                        retry(delay)
                    }
                },
                Err(_) => message.ack(),
            },
        }
        // One line per message, whatever happened to it.
        let msg = parsed.as_ref().ok().map(|(m, _)| m);
        crate::log::line(
            outcome.result.level(),
            "queue_message",
            log_fields!(
                "queue" => queue,
                "message_id" => message.id(),
                "job_id" => msg.map(|m| m.job_id.as_str()),
                "trace_id" => msg.map(|m| m.trace_id.as_str()),
                "result" => outcome.result.as_str(),
                "attempt" => outcome.attempt,
                "retry_delay_s" => match outcome.action { Action::Retry(d) | Action::Resend(d) => Some(d), Action::Ack => None },
                "detail" => outcome.detail,
                "resend_error" => resend_error,
            ),
        );
    }
}

fn parse(message: &RawMessage) -> Result<(ProvisionQueueMessage, JobId), String> {
    let json = js_sys::JSON::stringify(&message.body()).map_err(|e| format!("{e:?}"))?;
    let msg = ProvisionQueueMessage::parse(&String::from(json)).map_err(|e| e.to_string())?;
    let id = JobId::parse(&msg.job_id).map_err(|_| format!("job_id {:?} cannot name a job", msg.job_id))?;
    Ok((msg, id))
}

async fn deliver(env: &Env, msg: &ProvisionQueueMessage, id: &JobId) -> Result<Outcome, ApiError> {
    let d1 = db::database(env)?;
    let now = now_ms();
    let job = JobRef { job_id: id, trace_id: &msg.trace_id, tenant_id: &msg.tenant_id };
    let Some(claim) = job_store::claim(&d1, id, now, now + LEASE_MS).await? else {
        return unclaimed(&d1, id, now).await;
    };
    let attempt = claim.attempt;
    let config = config_from_env(env);
    // A missing or malformed dispatch setting is retried like an outage (an operator may fix
    // it) and named in `last_error`; the deadline ends it if nobody does.
    let target = config.retry_policy.clone().and_then(|policy| Ok((policy, Target::from_config(&config)?)));
    let policy = target.as_ref().map_or_else(|_| RetryPolicy::default(), |(p, _)| *p);
    if now > dispatch_deadline_ms(claim.created_at, policy.deadline_seconds) {
        // A delivery after the deadline dispatches nothing.
        let last = job_store::get(&d1, id).await?.and_then(|j| j.last_error);
        let reason = deadline_error(policy.deadline_seconds, last.as_deref());
        let stmts = vec![
            job_store::fail_unsent(&d1, id, &reason, now)?,
            job_store::event(&d1, job, "job.failed", JobStatus::Failed, Some(serde_json::json!({ "error": reason })), now, EventIf::Moved)?,
        ];
        db::batch(&d1, stmts, "mark failed").await?;
        return Ok(Outcome::new(Action::Ack, MessageResult::Failed, Some(attempt.saturating_sub(1)), Some(reason)));
    }
    let Dispatch { outcome, run } = match &target {
        Ok((_, target)) => dispatch::dispatch(target, msg).await,
        Err(e) => Dispatch { outcome: DispatchOutcome::transport(TransportKind::Network, &e.body().error.message), run: None },
    };
    let done = now_ms();
    let verdict = apply_deadline(classify(&outcome, attempt, done / 1000, &policy), claim.created_at, done, &policy);
    match verdict {
        Verdict::Dispatched => {
            let detail = serde_json::json!({ "attempt": attempt, "workflow_run_id": run.as_ref().map(|r| &r.workflow_run_id) });
            let stmts = vec![
                job_store::mark_dispatched(&d1, id, run.as_ref(), done)?,
                job_store::event(&d1, job, "job.dispatched", JobStatus::Dispatched, Some(detail), done, EventIf::Moved)?,
            ];
            // GitHub has the run now: retrying the message would dispatch it again, so the write
            // is retried in place instead, and a message whose write never lands is still acked
            // (the run's `/start` then takes the job; see the lost-write case in the README).
            let mut written = db::batch(&d1, stmts.clone(), "mark dispatched").await;
            for _ in 0..2 {
                if written.is_ok() {
                    break;
                }
                written = db::batch(&d1, stmts.clone(), "mark dispatched").await;
            }
            match written {
                Ok(_) => Ok(Outcome::new(Action::Ack, MessageResult::Dispatched, Some(attempt), None)),
                Err(e) => Ok(Outcome::new(Action::Ack, MessageResult::DispatchedUnrecorded, Some(attempt), Some(e.to_string()))),
            }
        }
        Verdict::Retry { delay_seconds, reason } => {
            let detail = serde_json::json!({ "attempt": attempt, "delay_seconds": delay_seconds, "error": reason });
            let stmts = vec![
                job_store::record_retry(&d1, id, &reason, done + i64::from(delay_seconds) * 1000, done)?,
                job_store::event(&d1, job, "job.dispatch_retry", JobStatus::Pending, Some(detail), done, EventIf::Always)?,
            ];
            db::batch(&d1, stmts, "record retry").await?;
            Ok(Outcome::new(Action::Resend(delay_seconds), MessageResult::Retry, Some(attempt), Some(reason)))
        }
        Verdict::Fail { reason } => {
            fail(&d1, job, &reason, done, OnlyIf::Pending).await?;
            Ok(Outcome::new(Action::Ack, MessageResult::Failed, Some(attempt), Some(reason)))
        }
    }
}

/// The dead-letter consumer (a backstop: the consumer could not handle the message within the
/// queue's retries): its job fails, if it is still pending and no delivery holds it.
async fn dead_lettered(env: &Env, id: &JobId) -> Result<Outcome, ApiError> {
    let d1 = db::database(env)?;
    let now = now_ms();
    let Some(job) = job_store::get(&d1, id).await? else {
        return Ok(Outcome::new(Action::Ack, MessageResult::Skipped, None, Some("unknown job".into())));
    };
    let last = job.last_error.clone().unwrap_or_else(|| "no error recorded".into());
    fail(&d1, JobRef::of(&job), &format!("retries exhausted: {last}"), now, OnlyIf::PendingUnleased).await?;
    Ok(Outcome::new(Action::Ack, MessageResult::DeadLettered, None, Some(last)))
}

/// Fails the job (when `only_if` holds) with its `job.failed` event, in one batch.
pub async fn fail(d1: &D1Database, job: JobRef<'_>, reason: &str, now: i64, only_if: OnlyIf) -> Result<(), ApiError> {
    let stmts = vec![
        job_store::fail(d1, job.job_id, reason, now, only_if)?,
        job_store::event(d1, job, "job.failed", JobStatus::Failed, Some(serde_json::json!({ "error": reason })), now, EventIf::Moved)?,
    ];
    db::batch(d1, stmts, "mark failed").await?;
    Ok(())
}

/// The claim failed: the job is unknown or no longer pending (ack: nothing to do, and never a
/// second dispatch), or another delivery holds it (come back when its lease ends).
async fn unclaimed(d1: &D1Database, id: &JobId, now: i64) -> Result<Outcome, ApiError> {
    Ok(match job_store::lease_of(d1, id).await? {
        None => Outcome::new(Action::Ack, MessageResult::Skipped, None, Some("unknown job".into())),
        Some((JobStatus::Pending, lease_until)) => {
            let left_ms = lease_until.map_or(0, |l| l - now);
            let delay = u32::try_from(left_ms.max(0) / 1000 + 1).unwrap_or(60);
            Outcome::new(Action::Retry(delay), MessageResult::Deferred, None, Some("another delivery holds the job".into()))
        }
        Some((status, _)) => Outcome::new(Action::Ack, MessageResult::Skipped, None, Some(format!("job is {status}"))),
    })
}
