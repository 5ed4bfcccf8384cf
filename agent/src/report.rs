//! The single JSON line each run writes to stdout (the journal, under systemd).
//!
//! One line per run, always, so "did the agent run and what happened" is one `journalctl` query
//! and a log pipeline can alert on `status` without parsing prose. The key never reaches it: the
//! line is built only from the payload, the config's public parts and error messages that do not
//! quote the key.

use serde::Serialize;

use crate::error::{AgentError, EXIT_OK};
use crate::push::Payload;

#[derive(Debug, Serialize, PartialEq)]
pub struct Report {
    /// `ok`, `dry_run` or `error`.
    pub status: &'static str,
    pub node_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_pct: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub save_snapshot: Option<bool>,
    /// Where the payload goes (or would go, in a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The exact request body, in a dry run only (install checks compare it by eye).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Payload>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    pub attempts: u32,
    pub duration_ms: u64,
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The control plane's own explanation of a rejection, when it gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(status: &'static str, node_id: Option<String>, duration_ms: u64) -> Report {
        Report {
            status,
            node_id,
            cpu_pct: None,
            memory_pct: None,
            disk_pct: None,
            tenant_count: None,
            save_snapshot: None,
            url: None,
            payload: None,
            http_status: None,
            attempts: 0,
            duration_ms,
            exit_code: EXIT_OK,
            error_kind: None,
            error: None,
            detail: None,
            warnings: Vec::new(),
        }
    }

    pub fn with_payload(mut self, p: &Payload) -> Report {
        self.cpu_pct = Some(p.cpu_pct);
        self.memory_pct = Some(p.memory_pct);
        self.disk_pct = Some(p.disk_pct);
        self.tenant_count = Some(p.tenant_count);
        self.save_snapshot = Some(p.save_snapshot);
        self
    }

    pub fn with_error(mut self, e: &AgentError) -> Report {
        self.status = "error";
        self.exit_code = e.exit_code();
        self.attempts = e.attempts();
        self.error_kind = Some(e.kind());
        self.error = Some(e.message().to_string());
        if let AgentError::Rejected { status, detail, .. } = e {
            self.http_status = Some(*status);
            self.detail = detail.clone();
        }
        self
    }

    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"status":"error","error":"cannot encode report"}"#.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_line_carries_kind_code_and_detail() {
        let e =
            AgentError::Rejected { message: "control plane refused the API key (401)".into(), status: 401, detail: Some("unauthorized".into()), attempts: 1 };
        let line = Report::new("ok", Some("hz-1".into()), 12).with_error(&e).to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["status"], "error");
        assert_eq!(v["exit_code"], 3);
        assert_eq!(v["error_kind"], "rejected");
        assert_eq!(v["http_status"], 401);
        assert_eq!(v["detail"], "unauthorized");
        assert_eq!(v["attempts"], 1);
        assert!(!line.contains('\n'));
        assert!(v.get("cpu_pct").is_none());
    }

    #[test]
    fn config_error_before_node_id_is_known() {
        let line = Report::new("ok", None, 0).with_error(&AgentError::Config("agent.conf: node_id is required".into())).to_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["node_id"], serde_json::Value::Null);
        assert_eq!(v["exit_code"], 2);
    }
}
