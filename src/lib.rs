//! The control-plane Worker: a thin shell around `cp-core`.
//!
//! This crate does the I/O (HTTP, D1, the queue, outbound fetch) and nothing else: every rule
//! lives in `cp-core`, which has no `worker` import and is tested with plain `cargo test`. The
//! shell compiles only for `wasm32`; on the host this crate is empty apart from its HTTP tests,
//! which drive the real Worker under `wrangler dev`.

#[cfg(target_arch = "wasm32")]
mod db;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod log;
#[cfg(target_arch = "wasm32")]
mod routes;

#[cfg(target_arch = "wasm32")]
mod entry {
    use worker::{event, Context, Env, Request, Response, Result};

    #[event(start)]
    fn start() {
        console_error_panic_hook::set_once();
    }

    /// Never returns `Err`: every failure becomes a JSON error response in `http::respond`.
    #[event(fetch)]
    async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
        Ok(crate::http::handle(req, env).await)
    }
}
