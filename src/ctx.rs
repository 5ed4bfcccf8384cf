//! What every handler, the queue consumer and the scheduled handler share: the context of one
//! piece of work (environment, settings, clock, log ids), the successful answer type, and the two
//! readers of the runtime (settings, clock). Kept apart from the HTTP edge so that nothing but
//! `lib.rs` imports `http.rs`.

use cp_core::auth::Principal;
use cp_core::config::Config;
use cp_core::ApiError;
use serde::Serialize;
use worker::{Date, Env};

/// What a handler needs besides its body: the environment, the parsed settings, the clock, and
/// the ids that go into the request's log line.
pub struct Ctx {
    pub env: Env,
    pub config: Config,
    pub request_id: String,
    pub now_ms: i64,
    pub trace_id: Option<String>,
    pub job_id: Option<String>,
    /// Who is calling, set by the edge once an `/internal/*` request is authenticated (None on
    /// public routes).
    pub principal: Option<Principal>,
}

/// A successful answer: a status, a body, and what the body is (which decides its content type
/// and headers in `http.rs`, the one place responses are built).
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub kind: BodyKind,
}

/// The kinds of body the Worker answers with. Everything is JSON but the Prometheus scrape and
/// the operator's page with its script and style sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Prometheus,
    Html,
    JavaScript,
    Css,
}

impl Reply {
    pub fn json(status: u16, body: &impl Serialize) -> Result<Reply, ApiError> {
        let body = serde_json::to_string(body).map_err(|e| ApiError::internal(format!("serialize reply: {e}")))?;
        Ok(Reply { status, body, kind: BodyKind::Json })
    }

    /// A body that is not JSON, already rendered.
    pub fn text(status: u16, kind: BodyKind, body: String) -> Reply {
        Reply { status, body, kind }
    }
}

/// Reads the settings: vars and secrets are both plain strings in the environment.
pub fn config_from_env(env: &Env) -> Config {
    Config::from_lookup(|name| env.var(name).ok().map(|v| v.to_string()))
}

pub fn now_ms() -> i64 {
    Date::now().as_millis() as i64
}
