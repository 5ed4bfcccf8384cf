//! `POST /internal/tenants/:tenant_id/enqueue-provision`: place the tenant, record the job (the
//! outbox row) and hand it to the queue. An operator's retry (`routes/job_controls.rs`) makes
//! its new job through the same [`create`].
//!
//! Duplicates are stopped by the database, not by a read-then-write: the insert does nothing when
//! the idempotency key or the tenant's active job already exists (unique indexes), when the
//! chosen node filled up or was set draining since the fleet was read, and when a dedicated
//! stack's name already belongs to another tenant (guards in the same statement, and the owner
//! recorded in the same batch).
//!
//! A hold (SPEC Part 2) refuses before anything is written: a region that looks blind is a 503
//! with `Retry-After`, a stack name taken is a 409.

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::fleet;
use crate::job_store::{self, EventIf, JobRef, NewJob};
use crate::outbox;
use crate::stack_owners;
use cp_core::domain::{InfraMode, JobStatus, PlanTier, Region};
use cp_core::ids::{TenantId, TraceId};
use cp_core::job::{Job, JobId};
use cp_core::placement::{decide_placement, Hold, Listing, PlacementInput};
use cp_core::provision::EnqueueRequest;
use cp_core::stack::pulumi_stack;
use cp_core::ApiError;
use serde_json::json;

/// Fresh decisions tried when the chosen node fills up between reading the fleet and inserting.
const PLACEMENT_ATTEMPTS: usize = 3;

pub async fn enqueue(ctx: &mut Ctx, tenant_id: &str, body: &[u8], idempotency_key: Option<String>) -> Result<Reply, ApiError> {
    let req = EnqueueRequest::parse(tenant_id, body, idempotency_key.as_deref(), ctx.config.default_region.clone()?, &ctx.config.tenant_base_domain.clone()?)?;
    let trace_id = req.trace_id.clone().unwrap_or_else(|| TraceId::from_uuid(&uuid::Uuid::new_v4().to_string()));
    let spec = JobSpec {
        tenant_id: &req.tenant_id,
        plan_tier: req.plan_tier,
        region: req.region,
        subdomain_slug: req.subdomain_slug.as_str(),
        canonical_hostname: &req.canonical_hostname,
        trace_id: trace_id.as_str(),
        idempotency_key: req.idempotency_key.as_deref(),
        retry_of: None,
    };
    create(ctx, &spec).await
}

/// What a new job is made of (an enqueue's request, or a retried job's fields).
pub struct JobSpec<'a> {
    pub tenant_id: &'a TenantId,
    pub plan_tier: PlanTier,
    pub region: Region,
    pub subdomain_slug: &'a str,
    pub canonical_hostname: &'a str,
    pub trace_id: &'a str,
    pub idempotency_key: Option<&'a str>,
    pub retry_of: Option<&'a JobId>,
}

/// Places and stores a new pending job, then sends its message: 202 with the job id, status,
/// trace id and placement; a replayed `Idempotency-Key` is the same job, 200.
pub async fn create(ctx: &mut Ctx, spec: &JobSpec<'_>) -> Result<Reply, ApiError> {
    let d1 = db::database(&ctx.env)?;
    if let Some(key) = spec.idempotency_key {
        if let Some(job) = job_store::by_idempotency_key(&d1, key).await? {
            return replay(ctx, spec, job);
        }
    }
    let input_policy = ctx.config.policy.clone()?;
    let thresholds = ctx.config.thresholds()?;
    let blind_fleet_pct = ctx.config.blind_fleet_pct.clone()?;
    ctx.trace_id = Some(spec.trace_id.to_string());
    // The stack whose owner matters (dedicated only; a shared stack is the region's).
    let dedicated_stack = match spec.plan_tier {
        PlanTier::Enterprise => pulumi_stack(true, spec.region, Some(spec.tenant_id.as_str()))?,
        _ => None,
    };

    for _ in 0..PLACEMENT_ATTEMPTS {
        let owner = match &dedicated_stack {
            Some(stack) => stack_owners::owner(&d1, stack).await?,
            None => None,
        };
        let input = PlacementInput {
            plan_tier: spec.plan_tier,
            region: spec.region,
            tenant_id: Some(spec.tenant_id.as_str()),
            policy: input_policy,
            thresholds,
            blind_fleet_pct,
            stack_owner: owner.as_deref(),
            listing: Listing::NONE,
            now_ms: ctx.now_ms,
        };
        let decision = fleet::with_region(&d1, spec.region, |nodes| decide_placement(&input, nodes)).await??;
        if let Some(hold) = decision.hold {
            return Err(hold.into_error());
        }
        let placement = &decision.placement;
        let job_id = JobId::parse(&uuid::Uuid::new_v4().to_string())?;
        let stack = placement.pulumi_stack.clone().unwrap_or_default();
        let new = NewJob {
            job_id: &job_id,
            tenant_id: spec.tenant_id.as_str(),
            infra_mode: if placement.create_new_server { InfraMode::CreateNewServer } else { InfraMode::UseExisting },
            dedicated: placement.dedicated,
            region: spec.region,
            target_server_id: placement.target_server_id.as_deref(),
            plan_tier: spec.plan_tier,
            subdomain_slug: spec.subdomain_slug,
            canonical_hostname: spec.canonical_hostname,
            pulumi_stack: &stack,
            trace_id: spec.trace_id,
            idempotency_key: spec.idempotency_key,
            retry_of: spec.retry_of,
            now_ms: ctx.now_ms,
            max_tenants_per_node: thresholds.max_tenants_per_node,
        };
        let job = JobRef { job_id: &job_id, trace_id: spec.trace_id, tenant_id: spec.tenant_id.as_str() };
        let mut detail = json!({ "placement": placement, "decision_reason": decision.decision_reason });
        if let Some(old) = spec.retry_of {
            detail["retry_of"] = json!(old);
        }
        let mut stmts = vec![
            job_store::insert(&d1, &new)?,
            job_store::event(&d1, job, "job.created", JobStatus::Pending, Some(detail), ctx.now_ms, EventIf::Stored)?,
            job_store::select(&d1, &job_id)?,
        ];
        if let Some(stack) = &dedicated_stack {
            stmts.push(stack_owners::claim(&d1, stack, spec.tenant_id.as_str(), &job_id, ctx.now_ms)?);
        }
        let results = db::batch(&d1, stmts, "insert job").await?;
        if db::changes(&results[0])? > 0 {
            ctx.job_id = Some(job_id.to_string());
            // The row is stored: from here on the answer is 202 whatever happens to the send or
            // its bookkeeping (the outbox sweep covers both).
            let stored = job_store::read_back(&results[2])?.ok_or_else(|| ApiError::internal("the inserted job is gone"))?;
            let sent = match stored.message() {
                Ok(msg) => outbox::send_and_record(&ctx.env, &d1, &msg, ctx.now_ms, "enqueue", 0).await,
                Err(e) => Err(ApiError::internal(format!("message: {e}"))),
            };
            if let Err(e) = sent {
                crate::log::line(
                    "error",
                    "enqueue bookkeeping failed after the job was stored",
                    crate::log_fields!("job_id" => job_id.as_str(), "error" => format!("{e:?}")),
                );
            }
            return Reply::json(202, &json!({ "job_id": job_id, "status": "pending", "trace_id": spec.trace_id, "placement": placement }));
        }
        // Nothing inserted: a concurrent request with the same key won, the tenant has an
        // active job, or the chosen node filled up (then decide again).
        if let Some(key) = spec.idempotency_key {
            if let Some(job) = job_store::by_idempotency_key(&d1, key).await? {
                return replay(ctx, spec, job);
            }
        }
        if let Some(active) = job_store::active_for_tenant(&d1, spec.tenant_id.as_str()).await? {
            return Err(ApiError::conflict("active_job_exists", format!("tenant {} already has job {} ({})", spec.tenant_id, active.job_id, active.status)));
        }
        if let Some(stack) = &dedicated_stack {
            // Another tenant's batch claimed the name between our read and our insert.
            if stack_owners::owner(&d1, stack).await?.is_some_and(|o| o != spec.tenant_id.as_str()) {
                return Err(Hold::stack_taken(stack).into_error());
            }
        }
    }
    Err(ApiError::conflict("placement_contended", "the fleet changed under every attempt; try again"))
}

/// The same `Idempotency-Key` again: the same job, 200, nothing new created or sent.
fn replay(ctx: &mut Ctx, spec: &JobSpec, job: Job) -> Result<Reply, ApiError> {
    if job.tenant_id != spec.tenant_id.as_str() || (spec.retry_of.is_some() && job.retry_of.as_ref() != spec.retry_of) {
        return Err(ApiError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for another request".into(),
            field: Some("Idempotency-Key".into()),
        });
    }
    ctx.job_id = Some(job.job_id.to_string());
    ctx.trace_id = Some(job.trace_id.clone());
    Reply::json(200, &json!({ "job_id": job.job_id, "status": job.status, "trace_id": job.trace_id, "placement": job.placement() }))
}
