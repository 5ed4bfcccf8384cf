//! The calls to GitHub: `workflow_dispatch` (with `return_run_details`, and the fallback for a
//! server that refuses it), a run's status for the reconcile, and a run's cancel. What to do
//! about an answer is decided by the pure core (`cp_core::retry`, `cp_core::github`).

use cp_core::config::{Config, Secret};
use cp_core::github::{dispatch_body, refuses_run_details, run_details, run_state, RepoApi, RunDetails, RunDetailsAsk};
use cp_core::job::RunState;
use cp_core::message::ProvisionQueueMessage;
use cp_core::retry::{github_message, DispatchOutcome, RateLimitHeaders, TransportKind};
use cp_core::ApiError;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

/// GitHub refuses API requests without a User-Agent; Workers' fetch sends none by default.
pub const USER_AGENT: &str = concat!("prego-control-plane/", env!("CARGO_PKG_VERSION"), " (provision dispatcher)");
const TIMEOUT_MS: u32 = 10_000;

/// The settings a call needs; a missing one is an error the consumer retries (an operator may
/// fix it) and that ends at the deadline if nobody does. The token stays a `Secret` until the
/// header is set.
pub struct Target {
    url: String,
    token: Secret,
    git_ref: String,
}

impl Target {
    pub fn from_config(config: &Config) -> Result<Target, ApiError> {
        Ok(Target { url: config.github_dispatch_url.clone()?, token: config.github_token.clone()?, git_ref: config.github_ref.clone()? })
    }

    fn repo(&self) -> Result<RepoApi, String> {
        RepoApi::from_dispatch_url(&self.url).ok_or_else(|| "GITHUB_WORKFLOW_DISPATCH_URL names no repository".to_string())
    }
}

/// What one dispatch produced: the outcome the retry policy reads, and the run when GitHub named it.
pub struct Dispatch {
    pub outcome: DispatchOutcome,
    pub run: Option<RunDetails>,
}

pub async fn dispatch(target: &Target, msg: &ProvisionQueueMessage) -> Dispatch {
    let first = dispatch_once(target, msg, RunDetailsAsk::Ask).await;
    if refuses_run_details(&first.outcome) {
        // An older GitHub Enterprise Server: the same attempt, without the field.
        return dispatch_once(target, msg, RunDetailsAsk::DontAsk).await;
    }
    first
}

async fn dispatch_once(target: &Target, msg: &ProvisionQueueMessage, ask: RunDetailsAsk) -> Dispatch {
    let body = dispatch_body(msg, &target.git_ref, ask).to_string();
    match call(target, Method::Post, &target.url, Some(body)).await {
        Ok(Answer { status, rate, text }) => {
            let run = if status == 200 { run_details(&text) } else { None };
            Dispatch { outcome: DispatchOutcome::response(status, rate, &text), run }
        }
        Err((kind, text)) => Dispatch { outcome: DispatchOutcome::transport(kind, &text), run: None },
    }
}

/// The run's state; `Err` when GitHub gave no usable answer (asked again on the next pass).
pub async fn run_status(target: &Target, run_id: &str) -> Result<RunState, String> {
    let url = target.repo()?.run_url(run_id);
    match call(target, Method::Get, &url, None).await {
        Ok(a) => run_state(a.status, &a.text),
        Err((kind, text)) => Err(format!("{kind}: {}", github_message(&text))),
    }
}

/// Asks GitHub to cancel the run; GitHub's answer for the event's detail (best effort).
pub async fn cancel_run(target: &Target, run_id: &str) -> serde_json::Value {
    let url = match target.repo() {
        Ok(r) => r.cancel_url(run_id),
        Err(e) => return serde_json::json!({ "error": e }),
    };
    match call(target, Method::Post, &url, None).await {
        Ok(a) => serde_json::json!({ "status": a.status, "message": github_message(&a.text) }),
        Err((kind, text)) => serde_json::json!({ "error": format!("{kind}: {}", github_message(&text)) }),
    }
}

struct Answer {
    status: u16,
    rate: RateLimitHeaders,
    text: String,
}

async fn call(target: &Target, method: Method, url: &str, body: Option<String>) -> Result<Answer, (TransportKind, String)> {
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(TIMEOUT_MS));
    let sent = send(target, method, url, body, &signal).await;
    sent.map_err(|e| {
        // The timeout is the signal's, not a guess from the error's text.
        let kind = if signal.aborted() { TransportKind::Timeout } else { TransportKind::Network };
        (kind, e.to_string())
    })
}

async fn send(target: &Target, method: Method, url: &str, body: Option<String>, signal: &AbortSignal) -> worker::Result<Answer> {
    let headers = Headers::new();
    headers.set("authorization", &format!("Bearer {}", target.token.expose()))?;
    headers.set("accept", "application/vnd.github+json")?;
    headers.set("x-github-api-version", "2022-11-28")?;
    headers.set("user-agent", USER_AGENT)?;
    let mut init = RequestInit::new();
    if let Some(b) = body {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(b.into()));
    }
    init.with_method(method).with_headers(headers);
    let request = Request::new_with_init(url, &init)?;
    let mut response = Fetch::Request(request).send_with_signal(signal).await?;
    let status = response.status_code();
    let rate = RateLimitHeaders::from_lookup(|name| response.headers().get(name).ok().flatten());
    let text = response.text().await.unwrap_or_default();
    Ok(Answer { status, rate, text })
}
