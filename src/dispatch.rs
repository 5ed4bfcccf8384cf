//! The call to GitHub's `workflow_dispatch` API. It returns what happened as a
//! `DispatchOutcome`; what to do about it (dispatched, retry, fail) is decided by the pure
//! `cp_core::retry::classify`.

use cp_core::config::Config;
use cp_core::message::ProvisionQueueMessage;
use cp_core::retry::{DispatchOutcome, RateLimitHeaders, TransportKind};
use cp_core::ApiError;
use worker::{AbortSignal, Fetch, Headers, Method, Request, RequestInit};

/// GitHub refuses API requests without a User-Agent; Workers' fetch sends none by default.
pub const USER_AGENT: &str = concat!("prego-control-plane/", env!("CARGO_PKG_VERSION"), " (provision dispatcher)");
const TIMEOUT_MS: u32 = 10_000;

/// The settings a dispatch needs; a missing one is an error the consumer retries (an operator
/// may fix it) and that ends in the dead-letter queue if nobody does.
pub struct Target {
    url: String,
    token: String,
    git_ref: String,
}

impl Target {
    pub fn from_config(config: &Config) -> Result<Target, ApiError> {
        Ok(Target { url: config.github_dispatch_url.clone()?, token: config.github_token.clone()?.expose().to_string(), git_ref: config.github_ref.clone()? })
    }
}

pub async fn dispatch(target: &Target, msg: &ProvisionQueueMessage) -> DispatchOutcome {
    match send(target, msg).await {
        Ok(outcome) => outcome,
        Err(e) => {
            let text = e.to_string();
            let kind = if text.to_ascii_lowercase().contains("abort") || text.contains("timed out") { TransportKind::Timeout } else { TransportKind::Network };
            DispatchOutcome::transport(kind, &text)
        }
    }
}

async fn send(target: &Target, msg: &ProvisionQueueMessage) -> worker::Result<DispatchOutcome> {
    let headers = Headers::new();
    headers.set("authorization", &format!("Bearer {}", target.token))?;
    headers.set("accept", "application/vnd.github+json")?;
    headers.set("x-github-api-version", "2022-11-28")?;
    headers.set("user-agent", USER_AGENT)?;
    headers.set("content-type", "application/json")?;
    let body = msg.dispatch_body(&target.git_ref).to_string();
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(body.into()));
    let request = Request::new_with_init(&target.url, &init)?;
    let signal = AbortSignal::from(worker::web_sys::AbortSignal::timeout_with_u32(TIMEOUT_MS));
    let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
    let status = response.status_code();
    let rate = RateLimitHeaders::from_lookup(|name| response.headers().get(name).ok().flatten());
    let text = response.text().await.unwrap_or_default();
    Ok(DispatchOutcome::response(status, rate, &text))
}
