//! The only code that speaks HTTP: one `POST /internal/server-metrics`, retried as `retry` decides.

use std::error::Error as _;
use std::io::Read;
use std::thread;

use reqwest::blocking::Client;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use serde::Serialize;

use crate::apikey::ApiKey;
use crate::config::Config;
use crate::error::AgentError;
use crate::measure::Measurements;
use crate::retry::{self, Attempt, Jitter, Verdict};

pub const USER_AGENT: &str = concat!("cp-agent/", env!("CARGO_PKG_VERSION"));

/// The request body, field for field as the control plane's `POST /internal/server-metrics`
/// expects it (it refuses unknown fields, so nothing extra goes here).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Payload {
    pub node_id: String,
    pub cpu_pct: f64,
    pub memory_pct: f64,
    pub disk_pct: f64,
    pub tenant_count: u64,
    pub source: &'static str,
    pub save_snapshot: bool,
}

impl Payload {
    pub fn new(config: &Config, m: &Measurements, save_snapshot: bool) -> Payload {
        Payload {
            node_id: config.node_id.as_str().to_string(),
            cpu_pct: m.cpu_pct,
            memory_pct: m.memory_pct,
            disk_pct: m.disk_pct,
            tenant_count: m.tenant_count,
            source: "node_push",
            save_snapshot,
        }
    }
}

/// A successful push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub status: u16,
    pub attempts: u32,
}

pub fn send(config: &Config, key: &ApiKey, payload: &Payload) -> Result<Delivered, AgentError> {
    let client = Client::builder()
        .user_agent(USER_AGENT)
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        // A redirected POST turns into a GET without a body; better to report the wrong URL.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| AgentError::Unreachable { message: format!("cannot set up the HTTP client: {}", chain(&e)), attempts: 0 })?;
    let mut auth = HeaderValue::from_str(&key.bearer_header()).map_err(|_| AgentError::Key("key is not a valid header value".to_string()))?;
    auth.set_sensitive(true);
    let url = config.metrics_url();

    let mut last_detail = None;
    let run = retry::run(
        &config.retry,
        &mut Jitter::from_entropy(),
        |_| {
            let response = client.post(&url).header(AUTHORIZATION, auth.clone()).json(payload).send();
            match response {
                Ok(resp) => {
                    let code = resp.status().as_u16();
                    let retry_after = resp.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(retry::parse_retry_after);
                    last_detail = if resp.status().is_success() { None } else { error_detail(resp) };
                    Attempt::Status { code, retry_after }
                }
                Err(e) => {
                    last_detail = None;
                    Attempt::Network(chain(&e))
                }
            }
        },
        thread::sleep,
    );

    match (run.verdict, run.last) {
        (Verdict::Success, Attempt::Status { code, .. }) => Ok(Delivered { status: code, attempts: run.attempts }),
        (Verdict::Permanent, Attempt::Status { code, .. }) => {
            Err(AgentError::Rejected { message: rejection_message(code, config.node_id.as_str()), status: code, detail: last_detail, attempts: run.attempts })
        }
        (_, Attempt::Status { code, .. }) => Err(AgentError::Unreachable {
            message: format!("control plane still failing after {} attempts (last status {code})", run.attempts),
            attempts: run.attempts,
        }),
        (_, Attempt::Network(e)) => {
            Err(AgentError::Unreachable { message: format!("control plane unreachable after {} attempts: {e}", run.attempts), attempts: run.attempts })
        }
    }
}

/// Words an operator can act on for each permanent answer.
pub fn rejection_message(code: u16, node_id: &str) -> String {
    match code {
        401 => "control plane refused the token (401): wrong, revoked or re-issued; install this node's current token".to_string(),
        403 => format!("control plane forbade the push (403): the token is not node_id {node_id}'s"),
        404 => format!("node_id {node_id} is not registered in the control plane (404)"),
        300..=399 => format!("control plane answered a redirect ({code}); check control_plane_url"),
        400 | 422 => format!("control plane rejected the metrics ({code})"),
        _ => format!("control plane rejected the request ({code})"),
    }
}

/// The control plane's `{"error": {"code", "message"}}`, read from at most 4 KiB of body, so a
/// 400 says which field was wrong. Plain-text bodies (a proxy's error page) are cut short.
fn error_detail(resp: reqwest::blocking::Response) -> Option<String> {
    let mut body = Vec::new();
    resp.take(4096).read_to_end(&mut body).ok()?;
    detail_from_body(&String::from_utf8_lossy(&body))
}

pub fn detail_from_body(body: &str) -> Option<String> {
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
        let err = &json["error"];
        let code = err["code"].as_str();
        let message = err["message"].as_str();
        let field = err["field"].as_str();
        let parts: Vec<String> = [code.map(str::to_string), message.map(str::to_string), field.map(|f| format!("field {f}"))].into_iter().flatten().collect();
        if !parts.is_empty() {
            return Some(parts.join(": "));
        }
    }
    let text: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    (!text.is_empty()).then(|| text.chars().take(200).collect())
}

/// reqwest's top-level message ("error sending request for url") hides the useful part
/// ("Connection refused"), which sits further down the source chain.
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_for_permanent_answers() {
        assert!(rejection_message(401, "hz-1").starts_with("control plane refused the token (401)"));
        assert!(rejection_message(403, "hz-1").contains("not node_id hz-1's"));
        assert_eq!(rejection_message(404, "hz-1"), "node_id hz-1 is not registered in the control plane (404)");
        assert!(rejection_message(302, "hz-1").contains("control_plane_url"));
        assert!(rejection_message(400, "hz-1").contains("rejected the metrics (400)"));
    }

    #[test]
    fn detail_from_control_plane_error_json() {
        let body = r#"{"error":{"code":"invalid_field","message":"cpu_pct must be 0-100","field":"cpu_pct"}}"#;
        assert_eq!(detail_from_body(body).unwrap(), "invalid_field: cpu_pct must be 0-100: field cpu_pct");
        assert_eq!(detail_from_body("<html>\n Bad   Gateway </html>").unwrap(), "<html> Bad Gateway </html>");
        assert_eq!(detail_from_body(""), None);
        assert_eq!(detail_from_body(&"x".repeat(1000)).unwrap().len(), 200);
    }

    #[test]
    fn payload_has_exactly_the_contract_fields() {
        let p = Payload { node_id: "hz-1".into(), cpu_pct: 12.5, memory_pct: 40.0, disk_pct: 71.3, tenant_count: 3, source: "node_push", save_snapshot: false };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({
                "node_id": "hz-1", "cpu_pct": 12.5, "memory_pct": 40.0, "disk_pct": 71.3,
                "tenant_count": 3, "source": "node_push", "save_snapshot": false
            })
        );
    }

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(USER_AGENT, format!("cp-agent/{}", env!("CARGO_PKG_VERSION")));
    }
}
