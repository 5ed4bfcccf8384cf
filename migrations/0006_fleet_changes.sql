-- The fleet's change stamps (core/src/fleet_view.rs): every write that placement can see stamps
-- the node it touches with the next value of one counter, the highest stamp plus one, so a Worker
-- isolate that holds the fleet in memory reads only the nodes stamped after its last read, in
-- the same statement as the counter. The triggers stamp whatever writes: the routes, the
-- scheduled sweeps, an operator at a SQL prompt.
--
-- Each stamp is one upsert, not INSERT OR REPLACE: SQLite lets the ON CONFLICT of the statement
-- that fires a trigger override the trigger's own (the metrics push is an upsert), and REPLACE
-- would then fail on the node's existing stamp. The outer SELECT's WHERE skips a NULL id (a job
-- without a target) or an update's old id when it is the new one, and is what SQLite's grammar
-- needs before ON CONFLICT.
--
-- A migration that rebuilds nodes, server_metrics or provision_jobs (create, copy, drop, rename)
-- drops these triggers with the table and must create them again.

-- A new epoch makes every isolate read the fleet in full again (set when tombstones are pruned).
CREATE TABLE fleet_clock (
  id    INTEGER PRIMARY KEY CHECK (id = 1),
  epoch TEXT NOT NULL
);
INSERT INTO fleet_clock (id, epoch) VALUES (1, lower(hex(randomblob(8))));

-- The last stamp of each node id; a row whose node is gone is a tombstone.
CREATE TABLE fleet_changes (
  node_id TEXT PRIMARY KEY,
  seq     INTEGER NOT NULL
);
CREATE INDEX fleet_changes_seq ON fleet_changes (seq);
INSERT INTO fleet_changes (node_id, seq) SELECT node_id, 1 FROM nodes;

-- nodes: placement reads the id, region and status.
CREATE TRIGGER fleet_nodes_insert AFTER INSERT ON nodes BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT NEW.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER fleet_nodes_update AFTER UPDATE OF node_id, region, status ON nodes BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT OLD.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL AND id IS NOT NEW.node_id
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT NEW.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER fleet_nodes_delete AFTER DELETE ON nodes BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT OLD.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;

-- server_metrics: every column is the node's latest metrics, and updated_at also ends the
-- reservation of a job completed before it.
CREATE TRIGGER fleet_metrics_insert AFTER INSERT ON server_metrics BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT NEW.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER fleet_metrics_update AFTER UPDATE ON server_metrics BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT OLD.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL AND id IS NOT NEW.node_id
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT NEW.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER fleet_metrics_delete AFTER DELETE ON server_metrics BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT OLD.node_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;

-- provision_jobs: a job's target, status and completion time make its node's reservation.
CREATE TRIGGER fleet_jobs_insert AFTER INSERT ON provision_jobs BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT NEW.target_server_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER fleet_jobs_update AFTER UPDATE OF target_server_id, status, completed_at ON provision_jobs BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT OLD.target_server_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL AND id IS NOT NEW.target_server_id
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT NEW.target_server_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
CREATE TRIGGER fleet_jobs_delete AFTER DELETE ON provision_jobs BEGIN
  INSERT INTO fleet_changes (node_id, seq) SELECT id, next FROM (SELECT OLD.target_server_id AS id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM fleet_changes) AS next) WHERE id IS NOT NULL
    ON CONFLICT (node_id) DO UPDATE SET seq = excluded.seq;
END;
