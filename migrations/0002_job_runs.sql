-- Job runs (SPEC Part 2, "Job life cycle"): the statuses `running` and `cancelled`, the GitHub run
-- that owns a job, when it started or was cancelled, and the job an operator's retry replaces.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt and its rows copied.

CREATE TABLE provision_jobs_v2 (
  job_id             TEXT PRIMARY KEY,
  tenant_id          TEXT NOT NULL,
  status             TEXT NOT NULL CHECK (status IN ('pending', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled')),
  infra_mode         TEXT NOT NULL CHECK (infra_mode IN ('create_new_server', 'use_existing')),
  dedicated          INTEGER CHECK (dedicated IS NULL OR dedicated = 1),
  region             TEXT NOT NULL,
  target_server_id   TEXT,
  plan_tier          TEXT NOT NULL,
  subdomain_slug     TEXT NOT NULL,
  canonical_hostname TEXT NOT NULL,
  pulumi_stack       TEXT NOT NULL,
  trace_id           TEXT NOT NULL,
  idempotency_key    TEXT UNIQUE,
  attempts           INTEGER NOT NULL DEFAULT 0,
  last_error         TEXT,
  node_id            TEXT,             -- the node the workflow reports at completion
  lease_until        INTEGER,          -- a consumer is dispatching it until then (no double dispatch)
  next_attempt_at    INTEGER NOT NULL, -- when a queue delivery is next expected (the outbox sweep's clock)
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL,
  dispatched_at      INTEGER,
  completed_at       INTEGER,
  workflow_run_id    TEXT,             -- digits: the GitHub run that owns the job
  run_url            TEXT,
  started_at         INTEGER,
  cancelled_at       INTEGER,
  retry_of           TEXT              -- the failed or cancelled job this one retries
);

INSERT INTO provision_jobs_v2 (job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier,
  subdomain_slug, canonical_hostname, pulumi_stack, trace_id, idempotency_key, attempts, last_error, node_id, lease_until,
  next_attempt_at, created_at, updated_at, dispatched_at, completed_at)
SELECT job_id, tenant_id, status, infra_mode, dedicated, region, target_server_id, plan_tier,
  subdomain_slug, canonical_hostname, pulumi_stack, trace_id, idempotency_key, attempts, last_error, node_id, lease_until,
  next_attempt_at, created_at, updated_at, dispatched_at, completed_at
FROM provision_jobs;

DROP TABLE provision_jobs;
ALTER TABLE provision_jobs_v2 RENAME TO provision_jobs;

-- At most one active job per tenant, enforced by the database rather than a read-then-write.
CREATE UNIQUE INDEX provision_jobs_one_active_per_tenant
  ON provision_jobs (tenant_id) WHERE status IN ('pending', 'dispatched', 'running');
-- Reservations: jobs placed on a node, by status and completion time.
CREATE INDEX provision_jobs_target ON provision_jobs (target_server_id, status, completed_at);
-- The reconcile: dispatched or running jobs whose workflow has not called back.
CREATE INDEX provision_jobs_status_dispatched ON provision_jobs (status, dispatched_at);
-- The outbox sweep: pending jobs whose expected delivery is overdue.
CREATE INDEX provision_jobs_status_next ON provision_jobs (status, next_attempt_at);
-- The operator's list: newest first, optionally by status, tenant or region.
CREATE INDEX provision_jobs_created ON provision_jobs (created_at, job_id);
CREATE INDEX provision_jobs_status_created ON provision_jobs (status, created_at, job_id);
CREATE INDEX provision_jobs_tenant_created ON provision_jobs (tenant_id, created_at, job_id);
