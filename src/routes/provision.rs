//! `POST /internal/tenants/:tenant_id/enqueue-provision`: place the tenant, record the job (the
//! outbox row) and hand it to the queue.
//!
//! Duplicates are stopped by the database, not by a read-then-write: the insert does nothing when
//! the idempotency key or the tenant's active job already exists (unique indexes), and when the
//! chosen node filled up or was set draining since the fleet was read (a guard in the same
//! statement).

use crate::ctx::{Ctx, Reply};
use crate::db::{self, int, opt_text, text};
use crate::fleet;
use crate::jobs;
use crate::outbox;
use cp_core::ids::TraceId;
use cp_core::message::{NewProvisionMessage, ProvisionQueueMessage};
use cp_core::placement::{decide_placement, PlacementInput};
use cp_core::provision::{EnqueueRequest, StoredJob};
use cp_core::ApiError;
use serde_json::json;

/// Fresh decisions tried when the chosen node fills up between reading the fleet and inserting.
const PLACEMENT_ATTEMPTS: usize = 3;

pub async fn enqueue(ctx: &mut Ctx, tenant_id: &str, body: &[u8], idempotency_key: Option<String>) -> Result<Reply, ApiError> {
    let req = EnqueueRequest::parse(tenant_id, body, idempotency_key.as_deref(), ctx.config.default_region.clone()?, &ctx.config.tenant_base_domain.clone()?)?;
    let d1 = db::database(&ctx.env)?;
    if let Some(key) = &req.idempotency_key {
        if let Some(job) = jobs::by_idempotency_key(&d1, key).await? {
            return replay(ctx, &req, job);
        }
    }
    let input_policy = ctx.config.policy.clone()?;
    let thresholds = ctx.config.thresholds()?;
    let trace_id = req.trace_id.clone().unwrap_or_else(|| TraceId::from_uuid(&uuid::Uuid::new_v4().to_string()));
    ctx.trace_id = Some(trace_id.to_string());

    for _ in 0..PLACEMENT_ATTEMPTS {
        let input = PlacementInput {
            plan_tier: req.plan_tier,
            region: req.region,
            tenant_id: Some(req.tenant_id.as_str()),
            policy: input_policy,
            thresholds,
            now_ms: ctx.now_ms,
        };
        let fleet = fleet::load(&d1, req.region).await?;
        let decision = decide_placement(&input, &fleet)?;
        let placement = &decision.placement;
        let job_id = uuid::Uuid::new_v4().to_string();
        let msg = ProvisionQueueMessage::new(NewProvisionMessage {
            job_id: &job_id,
            tenant_id: req.tenant_id.as_str(),
            region: req.region,
            create_new_server: placement.create_new_server,
            target_server_id: placement.target_server_id.as_deref(),
            subdomain_slug: req.subdomain_slug.as_str(),
            canonical_hostname: &req.canonical_hostname,
            dedicated: placement.dedicated,
            trace_id: trace_id.as_str(),
        })
        .map_err(|e| ApiError::internal(format!("message: {e}")))?;
        let stack = placement.pulumi_stack.clone().unwrap_or_default();
        let insert = db::stmt(
            &d1,
            &format!(
                "INSERT INTO provision_jobs (job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier, \
                   subdomain_slug, canonical_hostname, pulumi_stack, trace_id, idempotency_key, attempts, next_attempt_at, created_at, updated_at) \
                 SELECT ?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?13, ?13, ?13 \
                 WHERE ?6 IS NULL OR ( \
                   (SELECT status FROM nodes WHERE node_id = ?6) = 'active' AND \
                   (SELECT tenant_count FROM server_metrics WHERE node_id = ?6) + {} < ?14) \
                 ON CONFLICT DO NOTHING",
                fleet::reserved_sql("?6", "(SELECT updated_at FROM server_metrics WHERE node_id = ?6)")
            ),
            &[
                text(&job_id),
                text(req.tenant_id.as_str()),
                text(if placement.create_new_server { "create_new_server" } else { "use_existing" }),
                if placement.dedicated { int(1) } else { worker::wasm_bindgen::JsValue::NULL },
                text(req.region.as_str()),
                opt_text(placement.target_server_id.as_deref()),
                text(req.plan_tier.as_str()),
                text(req.subdomain_slug.as_str()),
                text(&req.canonical_hostname),
                text(&stack),
                text(trace_id.as_str()),
                opt_text(req.idempotency_key.as_deref()),
                int(ctx.now_ms),
                int(thresholds.max_tenants_per_node.into()),
            ],
        )?;
        let created = jobs::event(
            &d1,
            (trace_id.as_str(), &job_id, req.tenant_id.as_str()),
            "job.created",
            "pending",
            Some(json!({ "placement": placement, "decision_reason": decision.decision_reason })),
            ctx.now_ms,
            Some(("EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = ?8)", &[text(&job_id)])),
        )?;
        let results = db::batch(&d1, vec![insert, created], "insert job").await?;
        if db::changes(&results[0])? == 1 {
            ctx.job_id = Some(job_id.clone());
            // The row is stored: from here on the answer is 202 whatever happens to the send or
            // its bookkeeping (the outbox sweep covers both).
            if let Err(e) = outbox::send_and_record(&ctx.env, &d1, &msg, ctx.now_ms, "enqueue").await {
                crate::log::line(
                    "error",
                    "enqueue bookkeeping failed after the job was stored",
                    crate::log_fields!("job_id" => job_id, "error" => format!("{e:?}")),
                );
            }
            return Reply::json(202, &json!({ "job_id": job_id, "status": "pending", "trace_id": trace_id, "placement": placement }));
        }
        // Nothing inserted: a concurrent request with the same key won, the tenant has an
        // active job, or the chosen node filled up (then decide again).
        if let Some(key) = &req.idempotency_key {
            if let Some(job) = jobs::by_idempotency_key(&d1, key).await? {
                return replay(ctx, &req, job);
            }
        }
        if let Some(active) = jobs::active_for_tenant(&d1, req.tenant_id.as_str()).await? {
            return Err(ApiError::conflict("active_job_exists", format!("tenant {} already has job {} ({})", req.tenant_id, active.job_id, active.status)));
        }
    }
    Err(ApiError::conflict("placement_contended", "the fleet changed under every attempt; try again"))
}

/// The same `Idempotency-Key` again: the same job, 200, nothing new created or sent.
fn replay(ctx: &mut Ctx, req: &EnqueueRequest, job: StoredJob) -> Result<Reply, ApiError> {
    if job.tenant_id != req.tenant_id.as_str() {
        return Err(ApiError::Unprocessable {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for another tenant".into(),
            field: Some("Idempotency-Key".into()),
        });
    }
    ctx.job_id = Some(job.job_id.clone());
    ctx.trace_id = Some(job.trace_id.clone());
    Reply::json(200, &json!({ "job_id": job.job_id, "status": job.status, "trace_id": job.trace_id, "placement": placement_of(&job) }))
}

/// The placement a job was created with, in the shape of the compute answer's `placement`.
pub fn placement_of(job: &StoredJob) -> serde_json::Value {
    json!({
        "create_new_server": job.infra_mode == "create_new_server",
        "target_server_id": job.target_server_id,
        "dedicated": job.dedicated,
        "region": job.region,
        "plan_tier": job.plan_tier,
        "pulumi_stack": job.pulumi_stack,
    })
}
