//! `POST` and `DELETE /internal/nodes/:node_id/token`: an operator (or the provisioning
//! workflow's registration step) issues a node its push token, or revokes it. Admin key only; the
//! scope rules are in `cp_core::auth`.

use crate::ctx::{Ctx, Reply};
use crate::db;
use crate::log_fields;
use crate::node_tokens;
use cp_core::ids::NodeId;
use cp_core::json::parse_object;
use cp_core::node_token::{self, SECRET_BYTES};
use cp_core::ApiError;

/// 201 with the token, shown this once; the previous token of the node stops working.
pub async fn issue(ctx: &mut Ctx, id: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let node_id = NodeId::parse("node_id", id)?;
    no_fields(body)?;
    let d1 = db::database(&ctx.env)?;
    let previous = node_tokens::of_node(&d1, &node_id).await?.ok_or_else(|| not_registered(&node_id))?;
    let version =
        node_token::next_version(previous.as_ref()).ok_or_else(|| ApiError::conflict("token_versions_exhausted", "this node has issued too many tokens"))?;
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| ApiError::internal(format!("random bytes: {e}")))?;
    let issued = node_token::issue(&node_id, version, &secret);
    if !node_tokens::replace(&d1, &node_id, &issued, previous.as_ref(), ctx.now_ms).await? {
        // Deleted, or another issue won the race since our read: nothing of ours was stored.
        return match node_tokens::of_node(&d1, &node_id).await? {
            None => Err(not_registered(&node_id)),
            Some(_) => Err(ApiError::conflict("token_issue_conflict", format!("another token was issued for node {node_id} at the same time; issue again"))),
        };
    }
    crate::log::line(
        "info",
        "node token issued",
        log_fields!("request_id" => ctx.request_id, "node_id" => node_id.as_str(), "token_version" => version, "replaced_version" => previous.map(|p| p.version)),
    );
    Reply::json(201, &serde_json::json!({ "node_id": node_id, "token": issued.token.expose(), "token_version": version }))
}

/// 200 whether or not the node had a live token (`revoked` says); 404 for an unknown node.
pub async fn revoke(ctx: &mut Ctx, id: &str) -> Result<Reply, ApiError> {
    let node_id = NodeId::parse("node_id", id)?;
    let d1 = db::database(&ctx.env)?;
    let revoked = node_tokens::revoke(&d1, &node_id, ctx.now_ms).await?;
    let stored = node_tokens::of_node(&d1, &node_id).await?.ok_or_else(|| not_registered(&node_id))?;
    if revoked {
        crate::log::line("info", "node token revoked", log_fields!("request_id" => ctx.request_id, "node_id" => node_id.as_str()));
    }
    Reply::json(200, &serde_json::json!({ "node_id": node_id, "revoked": revoked, "token_version": stored.map(|s| s.version) }))
}

fn not_registered(node_id: &NodeId) -> ApiError {
    ApiError::not_found(format!("node {node_id} is not registered"))
}

/// The issue route takes no fields; an empty body or `{}` is fine, anything else is a typo.
fn no_fields(body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        return Ok(());
    }
    parse_object(body)?.deny_unknown(&[])
}
