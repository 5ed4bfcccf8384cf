//! Trace events: one timeline per `trace_id`, shared by the checkout flow, the Worker and the
//! provisioning workflow.

use crate::error::ApiError;
use crate::ids::TraceId;
use crate::json::parse_object;

pub const MAX_DETAIL_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct TraceEventInput {
    pub trace_id: TraceId,
    pub event: String,
    pub job_id: Option<String>,
    pub tenant_id: Option<String>,
    pub status: Option<String>,
    /// The `detail` object, serialized (at most 8 KiB).
    pub detail: Option<String>,
}

/// `[a-z0-9_.-]{1,64}`: event names are a small vocabulary (`job.created`, `workflow.completed`).
pub fn is_event_name(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

/// Free-text correlation fields: bounded, no control characters (they end up in logs).
fn short_text(field: &str, value: Option<String>, max_chars: usize) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > max_chars || v.chars().any(char::is_control) => {
            Err(ApiError::bad_field(field, format!("{field} must be at most {max_chars} characters without control characters")))
        }
        other => Ok(other),
    }
}

impl TraceEventInput {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["trace_id", "event", "job_id", "tenant_id", "status", "detail"])?;
        let trace_id = TraceId::parse("trace_id", &f.req_str("trace_id")?)?;
        let event = f.req_str("event")?;
        if !is_event_name(&event) {
            return Err(ApiError::bad_field("event", "event must be 1-64 of [a-z0-9_.-]"));
        }
        let job_id = short_text("job_id", f.opt_str("job_id")?, 128)?;
        let tenant_id = short_text("tenant_id", f.opt_str("tenant_id")?, 128)?;
        let status = short_text("status", f.opt_str("status")?, 64)?;
        let detail = match f.opt_object("detail")? {
            None => None,
            Some(map) => {
                let text = serde_json::Value::Object(map).to_string();
                if text.len() > MAX_DETAIL_BYTES {
                    return Err(ApiError::bad_field("detail", format!("detail must be at most {MAX_DETAIL_BYTES} bytes of JSON")));
                }
                Some(text)
            }
        };
        Ok(TraceEventInput { trace_id, event, job_id, tenant_id, status, detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_event_parses() {
        let e = TraceEventInput::parse(br#"{"trace_id":" trace_1 ","event":"job.created","job_id":"j","tenant_id":"t","status":"ok","detail":{"a":[1,2]}}"#)
            .unwrap();
        assert_eq!(e.trace_id.as_str(), "trace_1");
        assert_eq!(e.detail.as_deref(), Some(r#"{"a":[1,2]}"#));
    }

    #[test]
    fn refusals() {
        let big = format!(r#"{{"trace_id":"trace_1","event":"e","detail":{{"x":"{}"}}}}"#, "a".repeat(MAX_DETAIL_BYTES));
        for body in [
            r#"{"event":"e"}"#,
            r#"{"trace_id":"t1","event":"e"}"#,
            r#"{"trace_id":"trace_1","event":"Job.Created"}"#,
            r#"{"trace_id":"trace_1","event":""}"#,
            r#"{"trace_id":"trace_1","event":"e","detail":"text"}"#,
            r#"{"trace_id":"trace_1","event":"e","detail":[1]}"#,
            r#"{"trace_id":"trace_1","event":"e","job_id":"a\u0000b"}"#,
            r#"{"trace_id":"trace_1","event":"e","extra":1}"#,
            big.as_str(),
        ] {
            assert_eq!(TraceEventInput::parse(body.as_bytes()).unwrap_err().status(), 400, "{body}");
        }
    }
}
