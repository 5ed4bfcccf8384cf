//! The control-plane Worker: a thin shell around `cp-core`.
//!
//! This crate does the I/O (HTTP, D1, the queue, outbound fetch) and nothing else: every rule
//! lives in `cp-core`, which has no `worker` import and is tested with plain `cargo test`. The
//! shell compiles only for `wasm32`; on the host this crate is empty apart from its HTTP tests,
//! which drive the real Worker under `wrangler dev`.
//! The one `cfg` gate below makes the crate empty on the host.
#![cfg(target_arch = "wasm32")]

mod consumer;
mod ctx;
mod db;
mod dispatch;
mod fleet;
mod http;
mod job_store;
mod log;
mod node_tokens;
mod outbox;
mod reconcile;
mod routes;
mod scheduled;
mod stack_owners;
mod trace_log;

use worker::{event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent};

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// Never returns `Err`: every failure becomes a JSON error response in `http::handle`.
#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    Ok(crate::http::handle(req, env).await)
}

/// Acks or retries every message itself and always returns `Ok`: an `Err` would re-deliver
/// the whole batch, dispatching its successful messages twice.
#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    crate::consumer::handle_batch(batch, env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    crate::scheduled::run(&env).await;
}
