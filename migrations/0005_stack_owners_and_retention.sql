-- Dedicated stack ownership (SPEC Part 2, "Placement: holds"). Tenant ids such as `Acme-Corp`,
-- `acme.corp` and `acme_corp` all map to `dedicated-acme-corp`; the first tenant to enqueue a job
-- on a stack owns it, so a second tenant's workflow can never run `pulumi up` on the first one's
-- servers. The row is written in the same batch as that job (race-free: D1 runs one batch at a
-- time) and is never removed: the stack's servers outlive any one job.
CREATE TABLE stack_owners (
  pulumi_stack TEXT PRIMARY KEY,
  tenant_id    TEXT NOT NULL,
  first_job_id TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);

-- Jobs enqueued before this table existed: the earliest dedicated job of each stack names its
-- owner (OR IGNORE keeps the first row per stack in this order).
INSERT OR IGNORE INTO stack_owners (pulumi_stack, tenant_id, first_job_id, created_at)
  SELECT pulumi_stack, tenant_id, job_id, created_at FROM provision_jobs
  WHERE dedicated = 1 ORDER BY created_at, job_id;

-- Trace retention (TRACE_RETENTION_DAYS) deletes by age.
CREATE INDEX trace_events_created ON trace_events (created_at);
