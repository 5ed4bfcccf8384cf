//! The HTTP edge: request ids, auth, body limits, routing, and the one place where an `ApiError`
//! becomes a response. Handlers return `Result<Reply, ApiError>` and never build error responses
//! themselves.

use crate::log_fields;
use crate::routes;
use cp_core::auth::{authorize, AuthOutcome};
use cp_core::config::Config;
use cp_core::json::MAX_BODY_BYTES;
use cp_core::routes::{match_route, Route};
use cp_core::ApiError;
use serde::Serialize;
use worker::{Date, Env, Headers, Request, Response};

/// What a handler needs besides its body: the environment, the parsed settings, the clock, and
/// the ids that go into the request's log line.
pub struct Ctx {
    pub env: Env,
    pub config: Config,
    pub request_id: String,
    pub now_ms: i64,
    pub trace_id: Option<String>,
    pub job_id: Option<String>,
}

/// A successful answer: a status and a JSON body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_string(body).map_err(|e| ApiError::internal(format!("serialize reply: {e}")))?;
        Ok(Reply { status, body })
    }
}

/// Reads the settings: vars and secrets are both plain strings in the environment.
pub fn config_from_env(env: &Env) -> Config {
    Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}

pub fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}

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
    let method = req.method().to_string();
    let path = req.path();
    let config = config_from_env(&env);
    let mut ctx = Ctx { request_id: request_id(&req), now_ms: started, config, env, trace_id: None, job_id: None };

    let result = dispatch(&mut req, &mut ctx, &method, &path).await;
    let (status, body, error) = match result {
        Ok(reply) => (reply.status, reply.body, None),
        Err(e) => {
            let body = serde_json::to_string(&e.body()).unwrap_or_else(|_| r#"{"error":{"code":"internal","message":"internal error"}}"#.into());
            (e.status(), body, Some(e))
        }
    };
    let response = build_response(status, body, &ctx.request_id, error.as_ref());

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

fn build_response(status: u16, body: String, request_id: &str, error: Option<&ApiError>) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("x-request-id", request_id);
    let _ = headers.set("cache-control", "no-store");
    match error {
        Some(ApiError::Unauthorized) => {
            let _ = headers.set("www-authenticate", "Bearer");
        }
        Some(ApiError::MethodNotAllowed { allow }) => {
            let _ = headers.set("allow", allow);
        }
        _ => {}
    }
    Response::builder().with_status(status).with_headers(headers).fixed(body.into_bytes())
}

async fn dispatch(req: &mut Request, ctx: &mut Ctx, method: &str, path: &str) -> Result<Reply, ApiError> {
    if Route::is_internal(path) {
        check_auth(req, ctx)?;
    }
    match match_route(method, path)? {
        Route::Health => Reply::json(200, &serde_json::json!({ "status": "ok" })),
        Route::NodeUpsert => routes::nodes::upsert(ctx, &read_body(req).await?).await,
        Route::NodeList => routes::nodes::list(ctx, &query_pairs(req)?).await,
        Route::NodeGet(id) => routes::nodes::get(ctx, &id).await,
        Route::NodeDelete(id) => routes::nodes::delete(ctx, &id).await,
        Route::MetricsPush => routes::metrics::push(ctx, &read_body(req).await?).await,
        Route::TraceEventPost => routes::trace_events::post(ctx, &read_body(req).await?).await,
        Route::TraceEventList => routes::trace_events::list(ctx, &query_pairs(req)?).await,
        Route::PlacementCompute => routes::placement::compute(ctx, &read_body(req).await?, false).await,
        Route::PlacementDryRun => routes::placement::compute(ctx, &read_body(req).await?, true).await,
        Route::EnqueueProvision(tenant) => {
            let key = req.headers().get("idempotency-key").ok().flatten();
            routes::provision::enqueue(ctx, &tenant, &read_body(req).await?, key).await
        }
        Route::JobGet(id) => routes::jobs::get(ctx, &id).await,
        Route::JobComplete(id) => routes::jobs::complete(ctx, &id, &read_body(req).await?).await,
    }
}

fn check_auth(req: &Request, ctx: &Ctx) -> Result<(), ApiError> {
    if ctx.config.auth_bypass_ignored_in_production() {
        crate::log::line("warn", "SKIP_INTERNAL_API_AUTH is set outside development and is ignored", log_fields!("request_id" => ctx.request_id));
    }
    let environment = ctx.config.environment.clone()?;
    let header = req.headers().get("authorization").ok().flatten();
    let key = ctx.config.internal_api_key.as_ref().map(|k| k.expose());
    match authorize(header.as_deref(), key, environment, ctx.config.skip_auth_requested)? {
        AuthOutcome::Allowed | AuthOutcome::Skipped => Ok(()),
    }
}

/// Reads a JSON body within the size limit. An empty body is allowed whatever its content type
/// (routes whose fields are all optional can be called without one); a non-empty one must be
/// declared as JSON.
pub async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
    let headers = req.headers();
    if let Some(len) = headers.get("content-length").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok()) {
        if len > MAX_BODY_BYTES as u64 {
            return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
        }
    }
    let content_type = headers.get("content-type").ok().flatten().unwrap_or_default();
    let bytes = req.bytes().await.map_err(|e| ApiError::bad_request("invalid_body", format!("could not read the body: {e}")))?;
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES });
    }
    if !bytes.is_empty() && !is_json_content_type(&content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(bytes)
}

fn is_json_content_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The query string as decoded (name, value) pairs; a repeated name is refused, as in bodies.
pub fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    let url = req.url().map_err(|e| ApiError::bad_request("invalid_url", format!("bad URL: {e}")))?;
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(other, _)| other == k) {
            return Err(ApiError::bad_field(&cp_core::json::truncate(k, 64), "query parameter is given twice"));
        }
    }
    Ok(pairs)
}
