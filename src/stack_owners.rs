//! The `stack_owners` table: which tenant a dedicated Pulumi stack belongs to.
//!
//! The enqueue reads the owner for its preview (the `stack_name_taken` hold), but the word that
//! counts is in its batch: the job insert carries [`free_for`] as a guard, and [`claim`] follows
//! it in the same transaction, so of two tenants racing for one stack name exactly one gets a job.

use crate::db::{self, int, text};
use cp_core::job::JobId;
use cp_core::ApiError;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

/// The stored owner of `stack`, if any.
pub async fn owner(d1: &D1Database, stack: &str) -> Result<Option<String>, ApiError> {
    #[derive(Deserialize)]
    struct Row {
        tenant_id: String,
    }
    let s = db::stmt(d1, "SELECT tenant_id FROM stack_owners WHERE pulumi_stack = ?1", &[text(stack)])?;
    Ok(db::first::<Row>(s, "read stack owner").await?.map(|r| r.tenant_id))
}

/// An SQL condition: stack `{stack}` belongs to nobody or to tenant `{tenant}` (both are SQL
/// expressions of the enclosing statement, usually its parameters).
pub fn free_for(stack: &str, tenant: &str) -> String {
    format!("NOT EXISTS (SELECT 1 FROM stack_owners WHERE pulumi_stack = {stack} AND tenant_id <> {tenant})")
}

/// Records the first job's tenant as the stack's owner, only when that job was stored (the
/// statement before it in the batch may have inserted nothing); an owner already there stays.
pub fn claim(d1: &D1Database, stack: &str, tenant_id: &str, job_id: &JobId, now_ms: i64) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(
        d1,
        "INSERT OR IGNORE INTO stack_owners (pulumi_stack, tenant_id, first_job_id, created_at) \
         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM provision_jobs WHERE job_id = ?3 AND tenant_id = ?2)",
        &[text(stack), text(tenant_id), text(job_id.as_str()), int(now_ms)],
    )
}
