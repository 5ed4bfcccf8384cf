//! The scheduled handler's job pass: jobs stranded `dispatched` or `running` past
//! `JOB_RUN_TIMEOUT_SECONDS` are checked against GitHub's run and failed when it ended, vanished
//! or never existed; jobs still `pending` past the dispatch deadline are failed. The pass works
//! through every due job within a time budget and goes on past one job's error.

use crate::consumer::fail;
use crate::db;
use crate::dispatch::{self, Target};
use crate::job_store::{self, JobRef, OnlyIf};
use cp_core::config::Config;
use cp_core::job::{deadline_error, reconcile, Job};
use cp_core::ApiError;
use serde_json::{json, Map, Value};
use worker::Env;

/// The most jobs one query reads.
const PAGE: u32 = 100;

/// What one pass did, for the scheduled log line.
#[derive(Default)]
struct Pass {
    checked: usize,
    failed: Vec<String>,
    errors: Vec<String>,
}

pub async fn run(env: &Env, config: &Config, now: i64, budget_until: i64) -> Result<Map<String, Value>, ApiError> {
    let d1 = db::database(env)?;
    let timeout_s = config.job_run_timeout_s.clone()?;
    let policy = config.retry_policy.clone()?;
    let target = Target::from_config(config);
    let mut pass = Pass::default();

    // Stranded runs: oldest first.
    let unfinished = job_store::unfinished_since(&d1, now - i64::from(timeout_s) * 1000, PAGE).await?;
    for job in &unfinished {
        if crate::ctx::now_ms() > budget_until {
            pass.errors.push("time budget used up; the next pass goes on".into());
            break;
        }
        pass.checked += 1;
        if let Err(e) = reconcile_one(&d1, &target, job, now, timeout_s).await.map(|failed| failed.then(|| pass.failed.push(job.job_id.to_string()))) {
            pass.errors.push(format!("{}: {e}", job.job_id));
        }
    }

    // Pending past the deadline.
    let late = job_store::pending_unheld_before(&d1, job_store::PendingClock::Created, now - i64::from(policy.deadline_seconds) * 1000, now, PAGE).await?;
    for job in &late {
        if crate::ctx::now_ms() > budget_until {
            pass.errors.push("time budget used up; the next pass goes on".into());
            break;
        }
        let reason = deadline_error(policy.deadline_seconds, job.last_error.as_deref());
        match fail(&d1, JobRef::of(job), &reason, now, OnlyIf::PendingUnleased).await {
            Ok(()) => pass.failed.push(job.job_id.to_string()),
            Err(e) => pass.errors.push(format!("{}: {e:?}", job.job_id)),
        }
    }
    let mut m = Map::new();
    m.insert("reconcile_checked".into(), json!(pass.checked));
    m.insert("reconcile_failed".into(), json!(pass.failed));
    if !pass.errors.is_empty() {
        m.insert("reconcile_errors".into(), json!(pass.errors));
    }
    Ok(m)
}

/// Checks one stranded job; true when it was failed.
async fn reconcile_one(d1: &worker::D1Database, target: &Result<Target, ApiError>, job: &Job, now: i64, timeout_s: u32) -> Result<bool, String> {
    let run_id = job.workflow_run_id.as_deref();
    let run = match (run_id, target) {
        (Some(id), Ok(t)) => match dispatch::run_status(t, id).await {
            Ok(state) => Some(state),
            Err(e) => return Err(format!("run {id}: {e}")),
        },
        (Some(_), Err(e)) => return Err(e.to_string()),
        (None, _) => None,
    };
    let Some(reason) = reconcile(run_id, run.as_ref(), job.run_clock_ms(), now, timeout_s) else {
        return Ok(false);
    };
    fail(d1, JobRef::of(job), &reason, now, OnlyIf::Unchanged { status: job.status, updated_at: job.updated_at }).await.map_err(|e| format!("{e:?}"))?;
    Ok(true)
}
