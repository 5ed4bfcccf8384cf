//! The HTTP edge: request ids, auth, body limits, routing, and the one place where an `ApiError`
//! becomes a response. Handlers return `Result<Reply, ApiError>` and never build error responses
//! themselves.

use crate::ctx::{config_from_env, now_ms, BodyKind, Ctx, Reply};
use crate::log_fields;
use crate::routes;
use crate::{db, node_tokens};
use cp_core::auth::{identify, permit, AdminKey, AdminKeys, Credential, Principal};
use cp_core::node_token;
use cp_core::routes::{match_route, Route};
use cp_core::ApiError;
use worker::{Env, Headers, Request, Response};

/// A client-supplied `x-request-id` is kept when it is short and plain, so a caller can follow
/// its own id through our logs; otherwise a fresh one is made.
fn request_id(req: &Request) -> String {
    match req.headers().get("x-request-id").ok().flatten() {
        Some(id) if (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) => id,
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

pub async fn handle(mut req: Request, env: Env) -> Response {
    let started = now_ms();
    // The raw method: `Request::method()` maps methods it does not know (QUERY, PROPFIND) to GET.
    let method = req.inner().method();
    let path = req.path();
    let config = config_from_env(&env);
    let mut ctx = Ctx { request_id: request_id(&req), now_ms: started, config, env, trace_id: None, job_id: None, principal: None };

    let result = dispatch(&mut req, &mut ctx, &method, &path).await;
    let (status, body, kind, error) = match result {
        Ok(reply) => (reply.status, reply.body, reply.kind, None),
        Err(e) => {
            let body = serde_json::to_string(&e.body()).unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"internal error"}}"#.into());
            (e.status(), body, BodyKind::Json, Some(e))
        }
    };
    let response = build_response(status, body, kind, &ctx.request_id, error.as_ref());

    let mut fields = log_fields!(
        "request_id" => ctx.request_id,
        "method" => method,
        "path" => path,
        "status" => status,
        "duration_ms" => now_ms() - started,
        "trace_id" => ctx.trace_id,
        "job_id" => ctx.job_id,
    );
    if let Some(e) = &error {
        fields.insert("error_code".into(), e.code().into());
        if let ApiError::Internal { detail } = e {
            fields.insert("error_detail".into(), detail.clone().into());
        }
    }
    crate::log::line(if status >= 500 { "error" } else { "info" }, "request", fields);
    response
}

/// The operator's page may load only its own script and style sheet and call only this origin;
/// nothing inline, nothing from elsewhere, no framing, no form posts.
const PAGE_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn content_type(kind: BodyKind) -> &'static str {
    match kind {
        BodyKind::Json => "application/json",
        BodyKind::Prometheus => cp_core::prometheus::CONTENT_TYPE,
        BodyKind::Html => "text/html; charset=utf-8",
        BodyKind::JavaScript => "text/javascript; charset=utf-8",
        BodyKind::Css => "text/css; charset=utf-8",
    }
}

fn build_response(status: u16, body: String, kind: BodyKind, request_id: &str, error: Option<&ApiError>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", content_type(kind));
    let _ = headers.set("x-request-id", request_id);
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set("x-content-type-options", "nosniff");
    if kind == BodyKind::Html {
        let _ = headers.set("content-security-policy", PAGE_POLICY);
        let _ = headers.set("referrer-policy", "no-referrer");
    }
    match error {
        Some(ApiError::Unauthorized) => {
            let _ = headers.set("www-authenticate", "Bearer");
        }
        Some(ApiError::MethodNotAllowed { allow }) => {
            let _ = headers.set("allow", allow);
        }
        Some(ApiError::Unavailable { retry_after_s, .. }) => {
            let _ = headers.set("retry-after", &retry_after_s.to_string());
        }
        _ => {}
    }
    Response::builder().with_status(status).with_headers(headers).fixed(body.into_bytes())
}

/// Auth runs before routing, so an unknown `/internal/*` path without a key is a 401, not a 404;
/// with a node token it is a 403 (`auth::permit`).
async fn dispatch(req: &mut Request, ctx: &mut Ctx, method: &str, path: &str) -> Result<Reply, ApiError> {
    let matched = match_route(method, path);
    let route = if Route::is_internal(path) {
        let principal = authenticate(req, ctx, method, path).await?;
        let route = permit(&principal, matched)?;
        ctx.principal = Some(principal);
        route
    } else {
        matched?
    };
    routes::serve(req, ctx, route).await
}

/// Who is calling: an admin key, or a node token verified against its node's stored row.
async fn authenticate(req: &Request, ctx: &Ctx, method: &str, path: &str) -> Result<Principal, ApiError> {
    if ctx.config.auth_bypass_ignored_in_production() {
        crate::log::line("warn", "SKIP_INTERNAL_API_AUTH is set outside development and is ignored", log_fields!("request_id" => ctx.request_id));
    }
    let environment = ctx.config.environment.clone()?;
    let header = req.headers().get("authorization").ok().flatten();
    let keys = AdminKeys {
        current: ctx.config.internal_api_key.as_ref().map(|k| k.expose()),
        previous: ctx.config.internal_api_key_previous.as_ref().map(|k| k.expose()),
    };
    match identify(header.as_deref(), keys, environment, ctx.config.skip_auth_requested)? {
        Credential::Skipped | Credential::Admin(AdminKey::Current) => Ok(Principal::Admin),
        Credential::Admin(AdminKey::Previous) => {
            // Names the route, never the key: the signal that a caller still has to be moved to
            // the new key before INTERNAL_API_KEY_PREVIOUS is removed.
            crate::log::line(
                "warn",
                "request authorized with INTERNAL_API_KEY_PREVIOUS: move this caller to INTERNAL_API_KEY before removing the previous key",
                log_fields!("request_id" => ctx.request_id, "route" => format!("{method} {path}")),
            );
            Ok(Principal::Admin)
        }
        Credential::NodeToken(presented) => {
            let d1 = db::database(&ctx.env)?;
            let stored = node_tokens::stored(&d1, &presented.node_id).await?;
            Ok(Principal::Node(node_token::verify(&presented, stored.as_ref())?))
        }
    }
}
