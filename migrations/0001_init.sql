-- The control plane's tables. Instants are INTEGER milliseconds since the Unix epoch (exact and
-- cheap to compare in SQL); the API shows them as RFC 3339 strings.

CREATE TABLE nodes (
  node_id            TEXT PRIMARY KEY,
  region             TEXT NOT NULL CHECK (region IN ('sg', 'us', 'eu')),
  host               TEXT NOT NULL,
  status             TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'draining')),
  provider_server_id TEXT,
  labels             TEXT NOT NULL DEFAULT '{}',  -- JSON object of strings
  created_at         INTEGER NOT NULL,
  updated_at         INTEGER NOT NULL
);
-- Placement and the list route read one region's nodes in node_id order.
CREATE INDEX nodes_region ON nodes (region, node_id);

-- The latest metrics of each node: one row per node, replaced by every push.
CREATE TABLE server_metrics (
  node_id      TEXT PRIMARY KEY REFERENCES nodes (node_id) ON DELETE CASCADE,
  cpu_pct      REAL,
  memory_pct   REAL,
  disk_pct     REAL,
  tenant_count INTEGER NOT NULL DEFAULT 0,
  source       TEXT NOT NULL DEFAULT 'node_push' CHECK (source IN ('node_push', 'hetzner_api')),
  updated_at   INTEGER NOT NULL
);

-- History, written when a push asks for it; pruned after SNAPSHOT_RETENTION_DAYS.
CREATE TABLE server_metrics_snapshots (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  node_id      TEXT NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
  cpu_pct      REAL,
  memory_pct   REAL,
  disk_pct     REAL,
  tenant_count INTEGER NOT NULL,
  source       TEXT NOT NULL,
  created_at   INTEGER NOT NULL
);
CREATE INDEX snapshots_node ON server_metrics_snapshots (node_id, created_at);
CREATE INDEX snapshots_created ON server_metrics_snapshots (created_at);

CREATE TABLE provision_jobs (
  job_id             TEXT PRIMARY KEY,
  tenant_id          TEXT NOT NULL,
  status             TEXT NOT NULL CHECK (status IN ('pending', 'dispatched', 'succeeded', 'failed')),
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
  completed_at       INTEGER
);
-- At most one active job per tenant, enforced by the database rather than a read-then-write.
CREATE UNIQUE INDEX provision_jobs_one_active_per_tenant
  ON provision_jobs (tenant_id) WHERE status IN ('pending', 'dispatched');
-- Reservations: jobs placed on a node, by status and completion time.
CREATE INDEX provision_jobs_target ON provision_jobs (target_server_id, status, completed_at);
-- The scheduled alert: dispatched jobs whose workflow never called back.
CREATE INDEX provision_jobs_status_dispatched ON provision_jobs (status, dispatched_at);
-- The outbox sweep: pending jobs whose expected delivery is overdue.
CREATE INDEX provision_jobs_status_next ON provision_jobs (status, next_attempt_at);

CREATE TABLE trace_events (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  trace_id   TEXT NOT NULL,
  event      TEXT NOT NULL,
  job_id     TEXT,
  tenant_id  TEXT,
  status     TEXT,
  detail     TEXT,                    -- JSON object
  created_at INTEGER NOT NULL
);
-- Timelines are read oldest first by the time of the event (the Worker stamps its events with
-- the time of the change they describe, which may be written a moment later).
CREATE INDEX trace_events_trace ON trace_events (trace_id, created_at, id);
CREATE INDEX trace_events_job ON trace_events (job_id, created_at, id);
