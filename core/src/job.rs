//! A provision job as stored, converted once from its D1 row into typed values, and the rules of
//! its life: which moves are allowed (`can_move`), what a workflow's `/start` and `/complete`, an
//! operator's cancel and retry do to it, the dispatch deadline and the reconcile of a run that
//! never called back. No I/O and no clock: the shell passes `now`.
//!
//! Architecture invariant: every change of a job's status in the shell is one of the moves
//! `can_move` allows, written with a guard on the status it was read in.

use crate::domain::{InfraMode, JobStatus, PlanTier, Region};
use crate::error::ApiError;
use crate::message::{MessageError, NewProvisionMessage, ProvisionQueueMessage};
use crate::time::as_rfc3339;
use serde::Serialize;

/// A job id: the Worker makes UUIDs; anything else (1-64 of `[A-Za-z0-9-]`) cannot name a job,
/// so a malformed id is a 404 like an unknown one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    pub fn parse(raw: &str) -> Result<JobId, ApiError> {
        if (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            Ok(JobId(raw.to_string()))
        } else {
            Err(ApiError::not_found("no such job"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job as stored; it serializes as the API's job (instants in RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub job_id: JobId,
    pub tenant_id: String,
    pub status: JobStatus,
    pub infra_mode: InfraMode,
    pub dedicated: bool,
    pub region: Region,
    pub target_server_id: Option<String>,
    pub plan_tier: PlanTier,
    pub subdomain_slug: String,
    pub canonical_hostname: String,
    pub pulumi_stack: String,
    pub trace_id: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub node_id: Option<String>,
    #[serde(serialize_with = "as_rfc3339::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "as_rfc3339::serialize")]
    pub updated_at: i64,
    #[serde(serialize_with = "as_rfc3339::option")]
    pub dispatched_at: Option<i64>,
    #[serde(serialize_with = "as_rfc3339::option")]
    pub completed_at: Option<i64>,
    pub workflow_run_id: Option<String>,
    pub run_url: Option<String>,
    #[serde(serialize_with = "as_rfc3339::option")]
    pub started_at: Option<i64>,
    #[serde(serialize_with = "as_rfc3339::option")]
    pub cancelled_at: Option<i64>,
    pub retry_of: Option<JobId>,
}

/// The placement a job was created with, in the shape of the compute answer's `placement`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobPlacement<'a> {
    pub create_new_server: bool,
    pub target_server_id: Option<&'a str>,
    pub dedicated: bool,
    pub region: Region,
    pub plan_tier: PlanTier,
    pub pulumi_stack: &'a str,
}

impl Job {
    pub fn placement(&self) -> JobPlacement<'_> {
        JobPlacement {
            create_new_server: self.infra_mode == InfraMode::CreateNewServer,
            target_server_id: self.target_server_id.as_deref(),
            dedicated: self.dedicated,
            region: self.region,
            plan_tier: self.plan_tier,
            pulumi_stack: &self.pulumi_stack,
        }
    }

    /// The queue message of the job (the outbox sweep rebuilds it from the row).
    pub fn message(&self) -> Result<ProvisionQueueMessage, MessageError> {
        ProvisionQueueMessage::new(NewProvisionMessage {
            job_id: self.job_id.as_str(),
            tenant_id: &self.tenant_id,
            region: self.region,
            create_new_server: self.infra_mode == InfraMode::CreateNewServer,
            target_server_id: self.target_server_id.as_deref(),
            subdomain_slug: &self.subdomain_slug,
            canonical_hostname: &self.canonical_hostname,
            dedicated: self.dedicated,
            trace_id: &self.trace_id,
        })
    }

    /// When the job's run was last known to be on its way: dispatched, else started (a run that
    /// started a job whose `dispatched` write was lost), else created.
    pub fn run_clock_ms(&self) -> i64 {
        self.dispatched_at.or(self.started_at).unwrap_or(self.created_at)
    }
}

/// The job state machine: whether a job in `from` may become `to`.
pub fn can_move(from: JobStatus, to: JobStatus) -> bool {
    use JobStatus::*;
    match (from, to) {
        (Pending, Dispatched) => true,
        // A run that started before its `dispatched` write landed still owns the job.
        (Pending | Dispatched, Running) => true,
        (Dispatched | Running, Succeeded) => true,
        (Pending | Dispatched | Running, Failed | Cancelled) => true,
        _ => false,
    }
}

fn job_finished(job_id: &JobId, status: JobStatus) -> ApiError {
    ApiError::conflict("job_finished", format!("job {job_id} is {status}"))
}

fn owned_by_other(job_id: &JobId, owner: Option<&str>) -> ApiError {
    let owner = owner.map_or_else(|| "another run".to_string(), |o| format!("run {o}"));
    ApiError::conflict("job_owned_by_other_run", format!("job {job_id} belongs to {owner}"))
}

/// What the workflow's `/start` does.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// The first run: the job becomes `running` under it.
    Own,
    /// The same run again (a re-run attempt): 200, nothing changes.
    AlreadyOwned,
}

pub fn start(job: &Job, run_id: &str) -> Result<Start, ApiError> {
    if job.status.is_final() {
        return Err(job_finished(&job.job_id, job.status));
    }
    match (job.status, job.workflow_run_id.as_deref()) {
        (JobStatus::Running, Some(owner)) if owner == run_id => Ok(Start::AlreadyOwned),
        (JobStatus::Running, owner) => Err(owned_by_other(&job.job_id, owner)),
        (_, Some(owner)) if owner != run_id => Err(owned_by_other(&job.job_id, Some(owner))),
        _ => Ok(Start::Own),
    }
}

/// What a completion does to a job.
#[derive(Debug, PartialEq, Eq)]
pub enum Completion {
    /// `dispatched` or `running` -> the requested final state.
    Apply,
    /// The same final state again: 200, nothing changes (the workflow may retry its call).
    AlreadyDone,
}

/// `run_id`: the run that reports, when it says; a run that does not own the job is refused.
pub fn completion(job: &Job, requested: JobStatus, run_id: Option<&str>) -> Result<Completion, ApiError> {
    if let (Some(run), Some(owner)) = (run_id, job.workflow_run_id.as_deref()) {
        if run != owner {
            return Err(owned_by_other(&job.job_id, Some(owner)));
        }
    }
    match job.status {
        JobStatus::Dispatched | JobStatus::Running => Ok(Completion::Apply),
        c if c == requested => Ok(Completion::AlreadyDone),
        c => Err(ApiError::conflict("invalid_transition", format!("job {} is {c}; it cannot become {requested}", job.job_id))),
    }
}

/// What an operator's cancel does.
#[derive(Debug, PartialEq, Eq)]
pub enum Cancel {
    Apply,
    /// Already cancelled: 200, nothing changes.
    AlreadyCancelled,
}

pub fn cancel(job: &Job) -> Result<Cancel, ApiError> {
    match job.status {
        s if s.is_active() => Ok(Cancel::Apply),
        JobStatus::Cancelled => Ok(Cancel::AlreadyCancelled),
        s => Err(job_finished(&job.job_id, s)),
    }
}

/// Whether an operator may retry the job: only a failed or cancelled one.
pub fn retryable(job: &Job) -> Result<(), ApiError> {
    match job.status {
        JobStatus::Failed | JobStatus::Cancelled => Ok(()),
        s => Err(ApiError::conflict("job_not_retryable", format!("job {} is {s}; only failed or cancelled jobs can be retried", job.job_id))),
    }
}

/// The dispatch deadline: a job is retried until `deadline_s` after its creation.
pub fn dispatch_deadline_ms(created_at_ms: i64, deadline_s: u32) -> i64 {
    created_at_ms.saturating_add(i64::from(deadline_s) * 1000)
}

/// The `last_error` of a job failed at its deadline.
pub fn deadline_error(deadline_s: u32, last_error: Option<&str>) -> String {
    format!("not dispatched within {deadline_s} s: {}", last_error.unwrap_or("no error recorded"))
}

/// What GitHub said about a run, for the reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// `status: completed` with its `conclusion` (`failure`, `cancelled`, `success`, ...).
    Completed {
        conclusion: String,
    },
    /// Queued, waiting or in progress.
    Unfinished,
    NotFound,
}

/// The reconcile of a job that has been `dispatched` or `running` without a completion since
/// `since_ms`: `None` leaves it alone, `Some(reason)` fails it with that `last_error`.
/// `run` is what GitHub said (only asked when the job has a run id).
pub fn reconcile(run_id: Option<&str>, run: Option<&RunState>, since_ms: i64, now_ms: i64, timeout_s: u32) -> Option<String> {
    let overdue = |factor: i64| now_ms - since_ms > i64::from(timeout_s) * 1000 * factor;
    if !overdue(1) {
        return None;
    }
    match (run_id, run) {
        (None, _) => Some(format!("no completion callback within {timeout_s} s")),
        (Some(id), Some(RunState::Completed { conclusion })) => Some(format!("workflow run {id} ended {conclusion} without reporting")),
        (Some(id), Some(RunState::NotFound)) => Some(format!("workflow run {id} not found")),
        (Some(id), Some(RunState::Unfinished)) if overdue(2) => Some(format!("workflow run {id} still unfinished after {} s", 2 * u64::from(timeout_s))),
        // Still running within twice the timeout, or GitHub could not say: ask again next pass.
        (Some(_), _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    pub fn job(status: JobStatus, run: Option<&str>) -> Job {
        Job {
            job_id: JobId::parse("j-1").unwrap(),
            tenant_id: "acme".into(),
            status,
            infra_mode: InfraMode::UseExisting,
            dedicated: false,
            region: Region::Sg,
            target_server_id: Some("hz-sg-1".into()),
            plan_tier: PlanTier::Basic,
            subdomain_slug: "acme".into(),
            canonical_hostname: "acme.pregoi.com".into(),
            pulumi_stack: "sg".into(),
            trace_id: "trace_1".into(),
            attempts: 1,
            last_error: None,
            node_id: None,
            created_at: 1_000,
            updated_at: 1_000,
            dispatched_at: None,
            completed_at: None,
            workflow_run_id: run.map(String::from),
            run_url: None,
            started_at: None,
            cancelled_at: None,
            retry_of: None,
        }
    }

    #[test]
    fn the_state_machine_allows_exactly_these_moves() {
        let allowed = [
            (Pending, Dispatched),
            (Pending, Running),
            (Pending, Failed),
            (Pending, Cancelled),
            (Dispatched, Running),
            (Dispatched, Succeeded),
            (Dispatched, Failed),
            (Dispatched, Cancelled),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Cancelled),
        ];
        for from in JobStatus::ALL {
            for to in JobStatus::ALL {
                assert_eq!(can_move(*from, *to), allowed.contains(&(*from, *to)), "{from} -> {to}");
            }
        }
        for s in [Succeeded, Failed, Cancelled] {
            assert!(s.is_final() && !s.is_active());
        }
        for s in [Pending, Dispatched, Running] {
            assert!(s.is_active());
        }
    }

    #[test]
    fn start_gives_the_job_to_the_first_run() {
        // (stored status, stored run id, the calling run, expected)
        type Case<'a> = (JobStatus, Option<&'a str>, &'a str, Result<Start, &'a str>);
        let cases: Vec<Case> = vec![
            (Pending, None, "7", Ok(Start::Own)),
            (Dispatched, None, "7", Ok(Start::Own)),
            (Dispatched, Some("7"), "7", Ok(Start::Own)),
            (Dispatched, Some("7"), "8", Err("job_owned_by_other_run")),
            (Running, Some("7"), "7", Ok(Start::AlreadyOwned)),
            (Running, Some("7"), "8", Err("job_owned_by_other_run")),
            (Running, None, "8", Err("job_owned_by_other_run")),
            (Succeeded, Some("7"), "7", Err("job_finished")),
            (Failed, None, "7", Err("job_finished")),
            (Cancelled, None, "7", Err("job_finished")),
        ];
        for (status, owner, run, want) in cases {
            let got = start(&job(status, owner), run).map_err(|e| e.body().error.code);
            assert_eq!(got, want, "{status} owner {owner:?} run {run}");
        }
    }

    #[test]
    fn completion_rules() {
        // (stored status, stored run id, reported status, reporting run, expected)
        type Case<'a> = (JobStatus, Option<&'a str>, JobStatus, Option<&'a str>, Result<Completion, &'a str>);
        let cases: Vec<Case> = vec![
            (Dispatched, None, Succeeded, None, Ok(Completion::Apply)),
            (Dispatched, None, Failed, Some("9"), Ok(Completion::Apply)),
            (Running, Some("9"), Succeeded, Some("9"), Ok(Completion::Apply)),
            (Running, Some("9"), Succeeded, None, Ok(Completion::Apply)),
            (Running, Some("9"), Succeeded, Some("10"), Err("job_owned_by_other_run")),
            (Succeeded, Some("9"), Succeeded, Some("9"), Ok(Completion::AlreadyDone)),
            (Succeeded, None, Succeeded, None, Ok(Completion::AlreadyDone)),
            (Failed, None, Failed, None, Ok(Completion::AlreadyDone)),
            (Succeeded, None, Failed, None, Err("invalid_transition")),
            (Failed, None, Succeeded, None, Err("invalid_transition")),
            (Pending, None, Succeeded, None, Err("invalid_transition")),
            (Pending, None, Failed, None, Err("invalid_transition")),
            (Cancelled, None, Succeeded, None, Err("invalid_transition")),
        ];
        for (status, owner, requested, run, want) in cases {
            let got = completion(&job(status, owner), requested, run).map_err(|e| e.body().error.code);
            assert_eq!(got, want, "{status} owner {owner:?} -> {requested} by {run:?}");
        }
    }

    #[test]
    fn cancel_and_retry_rules() {
        for s in [Pending, Dispatched, Running] {
            assert_eq!(cancel(&job(s, None)), Ok(Cancel::Apply), "{s}");
            assert_eq!(retryable(&job(s, None)).unwrap_err().body().error.code, "job_not_retryable");
        }
        assert_eq!(cancel(&job(Cancelled, None)), Ok(Cancel::AlreadyCancelled));
        for s in [Succeeded, Failed] {
            assert_eq!(cancel(&job(s, None)).unwrap_err().body().error.code, "job_finished", "{s}");
        }
        assert!(retryable(&job(Failed, None)).is_ok() && retryable(&job(Cancelled, None)).is_ok());
        assert!(retryable(&job(Succeeded, None)).is_err());
    }

    #[test]
    fn deadlines() {
        assert_eq!(dispatch_deadline_ms(1_000, 21_600), 21_601_000);
        assert_eq!(dispatch_deadline_ms(i64::MAX - 5, 10), i64::MAX);
        assert_eq!(deadline_error(60, Some("github 500: boom")), "not dispatched within 60 s: github 500: boom");
        assert_eq!(deadline_error(60, None), "not dispatched within 60 s: no error recorded");
    }

    #[test]
    fn reconcile_table() {
        let t = 100; // seconds
        let done = RunState::Completed { conclusion: "failure".into() };
        type Case<'a> = (Option<&'a str>, Option<RunState>, i64, Option<&'a str>);
        let cases: Vec<Case> = vec![
            (None, None, 50_000, None),
            (Some("5"), Some(done.clone()), 100_000, None), // not past the timeout yet
            (None, None, 100_001, Some("no completion callback within 100 s")),
            (Some("5"), Some(done.clone()), 100_001, Some("workflow run 5 ended failure without reporting")),
            (Some("5"), Some(RunState::NotFound), 150_000, Some("workflow run 5 not found")),
            (Some("5"), Some(RunState::Unfinished), 150_000, None),
            (Some("5"), Some(RunState::Unfinished), 200_001, Some("workflow run 5 still unfinished after 200 s")),
            (Some("5"), None, 500_000, None), // GitHub could not answer: next pass
        ];
        for (run_id, run, elapsed, want) in cases {
            assert_eq!(reconcile(run_id, run.as_ref(), 0, elapsed, t).as_deref(), want, "{run_id:?} {run:?} {elapsed}");
        }
    }

    #[test]
    fn job_ids_and_derived_values() {
        assert!(JobId::parse("6f1c0b2e-0000-4000-8000-000000000000").is_ok());
        for bad in ["", "a b", "x".repeat(65).as_str(), "../x", "%00"] {
            assert_eq!(JobId::parse(bad).unwrap_err().status(), 404, "{bad:?}");
        }
        let j = job(Pending, None);
        let m = j.message().unwrap();
        assert_eq!((m.create_new_server.as_str(), m.target_server_id.as_str(), m.region.as_str()), ("false", "hz-sg-1", "sg"));
        let p = serde_json::to_value(j.placement()).unwrap();
        assert_eq!(
            p,
            serde_json::json!({"create_new_server": false, "target_server_id": "hz-sg-1", "dedicated": false, "region": "sg", "plan_tier": "basic", "pulumi_stack": "sg"})
        );
        let body = serde_json::to_value(&j).unwrap();
        assert_eq!(
            (body["status"].clone(), body["infra_mode"].clone(), body["created_at"].clone()),
            ("pending".into(), "use_existing".into(), "1970-01-01T00:00:01Z".into())
        );
        assert_eq!(j.run_clock_ms(), 1_000);
    }
}
