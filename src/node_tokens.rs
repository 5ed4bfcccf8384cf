//! The `node_tokens` table: every read and write of it, so the ways a node's push token can
//! appear, change or go are in one file. The table holds a token's SHA-256 and version, never the
//! token (`cp_core::node_token` decides the format and the check).

use crate::db::{self, int, text};
use cp_core::ids::NodeId;
use cp_core::node_token::{IssuedToken, StoredToken};
use cp_core::ApiError;
use serde::Deserialize;
use worker::{D1Database, D1PreparedStatement};

#[derive(Deserialize)]
struct TokenRow {
    token_version: f64,
    token_hash: Option<String>,
}

impl TokenRow {
    fn into_core(self) -> StoredToken {
        StoredToken { version: self.token_version as u32, hash: self.token_hash }
    }
}

/// A node as the token routes see it: whether it exists, and its token row if any.
#[derive(Deserialize)]
struct NodeTokenRow {
    token_version: Option<f64>,
    token_hash: Option<String>,
}

const NODE_WITH_TOKEN: &str = "SELECT t.token_version, t.token_hash FROM nodes n LEFT JOIN node_tokens t ON t.node_id = n.node_id WHERE n.node_id = ?1";

/// The stored token of `node_id` (None: never issued, or the node is gone): what a presented
/// token is verified against.
pub async fn stored(d1: &D1Database, node_id: &NodeId) -> Result<Option<StoredToken>, ApiError> {
    let s = db::stmt(d1, "SELECT token_version, token_hash FROM node_tokens WHERE node_id = ?1", &[text(node_id.as_str())])?;
    Ok(db::first::<TokenRow>(s, "read node token").await?.map(TokenRow::into_core))
}

/// `None`: no such node. `Some(None)`: a node that never had a token.
pub async fn of_node(d1: &D1Database, node_id: &NodeId) -> Result<Option<Option<StoredToken>>, ApiError> {
    let s = db::stmt(d1, NODE_WITH_TOKEN, &[text(node_id.as_str())])?;
    let row = db::first::<NodeTokenRow>(s, "read node and token").await?;
    Ok(row.map(|r| r.token_version.map(|v| StoredToken { version: v as u32, hash: r.token_hash })))
}

/// Stores a newly issued token in place of the node's previous one, only if the node still
/// exists and nobody issued another since `previous` was read (the version guards the row).
/// Returns whether it was stored.
pub async fn replace(d1: &D1Database, node_id: &NodeId, issued: &IssuedToken, previous: Option<&StoredToken>, now_ms: i64) -> Result<bool, ApiError> {
    let expected = previous.map_or(0, |p| p.version);
    let s = db::stmt(
        d1,
        "INSERT INTO node_tokens (node_id, token_version, token_hash, issued_at, revoked_at) \
         SELECT node_id, ?2, ?3, ?4, NULL FROM nodes WHERE node_id = ?1 \
         ON CONFLICT (node_id) DO UPDATE SET token_version = excluded.token_version, token_hash = excluded.token_hash, \
           issued_at = excluded.issued_at, revoked_at = NULL \
         WHERE node_tokens.token_version = ?5",
        &[text(node_id.as_str()), int(issued.version.into()), text(&issued.hash), int(now_ms), int(expected.into())],
    )?;
    Ok(db::run(s, "store node token").await? > 0)
}

/// Revokes the node's live token, if it has one. Returns whether one was revoked; the version is
/// kept so that the next token gets a new one.
pub async fn revoke(d1: &D1Database, node_id: &NodeId, now_ms: i64) -> Result<bool, ApiError> {
    let s = db::stmt(
        d1,
        "UPDATE node_tokens SET token_hash = NULL, revoked_at = ?2 WHERE node_id = ?1 AND token_hash IS NOT NULL",
        &[text(node_id.as_str()), int(now_ms)],
    )?;
    Ok(db::run(s, "revoke node token").await? > 0)
}

/// The delete of a node's token row, for the node delete's batch: `guard` is the same SQL
/// condition (on ?1 = the node id) the rest of that batch carries, so the token goes exactly
/// when the node does.
pub fn delete_with_node(d1: &D1Database, node_id: &NodeId, guard: &str) -> Result<D1PreparedStatement, ApiError> {
    db::stmt(d1, &format!("DELETE FROM node_tokens WHERE node_id = ?1 AND {guard}"), &[text(node_id.as_str())])
}
