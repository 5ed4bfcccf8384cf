//! One module per resource; each handler parses with `cp-core`, does its D1 work, and returns a
//! `Reply` or an `ApiError`. `serve` is the one place that maps a matched route to its handler
//! and reads the body or query it takes.

pub mod job_controls;
pub mod jobs;
pub mod metrics;
pub mod node_tokens;
pub mod nodes;
pub mod placement;
pub mod prometheus;
pub mod provision;
pub mod trace_events;
pub mod ui;

use crate::ctx::{Ctx, Reply};
use cp_core::json::MAX_BODY_BYTES;
use cp_core::routes::Route;
use cp_core::ApiError;
use worker::Request;

/// Runs the handler of an already matched (and, for `/internal/*`, authorized) route.
pub async fn serve(req: &mut Request, ctx: &mut Ctx, route: Route) -> Result<Reply, ApiError> {
    match route {
        Route::Health => Reply::json(200, &serde_json::json!({ "status": "ok" })),
        Route::NodeUpsert => nodes::upsert(ctx, &read_body(req).await?).await,
        Route::NodeList => nodes::list(ctx, &query_pairs(req)?).await,
        Route::NodeGet(id) => nodes::get(ctx, &id).await,
        Route::NodeDelete(id) => nodes::delete(ctx, &id).await,
        Route::MetricsPush => metrics::push(ctx, &read_body(req).await?).await,
        Route::TraceEventPost => trace_events::post(ctx, &read_body(req).await?).await,
        Route::TraceEventList => trace_events::list(ctx, &query_pairs(req)?).await,
        Route::PlacementCompute => placement::compute(ctx, &read_body(req).await?, placement::View::Compute).await,
        Route::PlacementDryRun => placement::compute(ctx, &read_body(req).await?, placement::View::LegacyDryRun).await,
        Route::EnqueueProvision(tenant) => {
            let key = req.headers().get("idempotency-key").ok().flatten();
            provision::enqueue(ctx, &tenant, &read_body(req).await?, key).await
        }
        Route::JobGet(id) => jobs::get(ctx, &id).await,
        Route::JobComplete(id) => jobs::complete(ctx, &id, &read_body(req).await?).await,
        Route::PrometheusMetrics => prometheus::scrape(ctx).await,
        Route::Ui => ui::page(ctx),
        Route::UiScript => Ok(ui::script()),
        Route::UiStyle => Ok(ui::style()),
        Route::NodeTokenIssue(id) => node_tokens::issue(ctx, &id, &read_body(req).await?).await,
        Route::NodeTokenRevoke(id) => node_tokens::revoke(ctx, &id).await,
        Route::JobStart(id) => jobs::start(ctx, &id, &read_body(req).await?).await,
        Route::JobList => job_controls::list(ctx, &query_pairs(req)?).await,
        Route::JobCancel(id) => job_controls::cancel(ctx, &id, &read_body(req).await?).await,
        Route::JobRetry(id) => {
            let key = req.headers().get("idempotency-key").ok().flatten();
            job_controls::retry(ctx, &id, &read_body(req).await?, key).await
        }
    }
}

/// Reads a JSON body within the size limit. An empty body is allowed whatever its content type
/// (routes whose fields are all optional can be called without one); a non-empty one must be
/// declared as JSON.
async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
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
fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    let url = req.url().map_err(|e| ApiError::bad_request("invalid_url", format!("bad URL: {e}")))?;
    let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(other, _)| other == k) {
            return Err(ApiError::bad_field(&cp_core::json::truncate(k, 64), "query parameter is given twice"));
        }
    }
    Ok(pairs)
}
