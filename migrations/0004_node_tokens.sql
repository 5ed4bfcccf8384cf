-- Per-node push tokens (SPEC Part 2, "Least privilege"). A node token only pushes its own node's
-- metrics. The token itself is never stored: `token_hash` is SHA-256 of the whole token (lowercase
-- hex), NULL once revoked. `token_version` counts the tokens issued for the node; issuing again
-- bumps it and replaces the hash, which revokes the previous token. The row goes with its node.
CREATE TABLE node_tokens (
  node_id       TEXT PRIMARY KEY REFERENCES nodes (node_id) ON DELETE CASCADE,
  token_version INTEGER NOT NULL CHECK (token_version >= 1),
  token_hash    TEXT CHECK (token_hash IS NULL OR length(token_hash) = 64),
  issued_at     INTEGER NOT NULL,
  revoked_at    INTEGER
);
