//! The requests of the job routes other than enqueue and complete: the workflow's `/start`, an
//! operator's cancel, and the job list's query with its opaque cursor.

use crate::domain::{JobStatus, Region};
use crate::error::ApiError;
use crate::ids::TenantId;
use crate::json::{parse_object, truncate};

/// A GitHub run id: a string of 1-20 digits (`github.run_id`).
pub fn parse_run_id(field: &str, raw: &str) -> Result<String, ApiError> {
    if (1..=20).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::bad_field(field, format!("{field} must be a string of 1-20 digits")))
    }
}

/// `POST /internal/provision-jobs/:job_id/start`.
#[derive(Debug, Clone, PartialEq)]
pub struct StartRequest {
    pub run_id: String,
    pub run_attempt: Option<u64>,
    pub run_url: Option<String>,
}

pub const MAX_URL_CHARS: usize = 512;

impl StartRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["run_id", "run_attempt", "run_url"])?;
        let run_id = parse_run_id("run_id", &f.req_str("run_id")?)?;
        let run_attempt = f.opt_count("run_attempt", u64::from(u32::MAX))?;
        if run_attempt == Some(0) {
            return Err(ApiError::bad_field("run_attempt", "run_attempt must be a whole number of at least 1"));
        }
        let run_url = f.opt_str("run_url")?;
        if let Some(u) = &run_url {
            let ok = (u.starts_with("https://") || u.starts_with("http://")) && u.chars().count() <= MAX_URL_CHARS && !u.chars().any(char::is_whitespace);
            if !ok {
                return Err(ApiError::bad_field("run_url", format!("run_url must be an http(s) URL of at most {MAX_URL_CHARS} characters")));
            }
        }
        Ok(StartRequest { run_id, run_attempt, run_url })
    }
}

/// `POST /internal/provision-jobs/:job_id/cancel`: an optional reason.
#[derive(Debug, Clone, PartialEq)]
pub struct CancelRequest {
    pub reason: Option<String>,
}

pub const MAX_REASON_CHARS: usize = 256;

impl CancelRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["reason"])?;
        let reason = f.opt_str("reason")?;
        if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control)) {
            return Err(ApiError::bad_field("reason", format!("reason must be at most {MAX_REASON_CHARS} characters without control characters")));
        }
        Ok(CancelRequest { reason })
    }
}

/// Where a page of the job list starts: after this (created_at, job_id), newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor {
    pub created_at: i64,
    pub job_id: String,
}

impl JobCursor {
    /// Opaque to clients: hex of `{created_at}:{job_id}`.
    pub fn encode(&self) -> String {
        crate::cursor::encode(&format!("{}:{}", self.created_at, self.job_id))
    }

    pub fn decode(raw: &str) -> Result<JobCursor, ApiError> {
        let bad = crate::cursor::not_ours;
        let text = crate::cursor::decode(raw, 200)?;
        let (at, id) = text.split_once(':').ok_or_else(bad)?;
        let created_at = at.parse::<i64>().map_err(|_| bad())?;
        crate::job::JobId::parse(id).map_err(|_| bad())?;
        Ok(JobCursor { created_at, job_id: id.to_string() })
    }
}

/// `GET /internal/provision-jobs?status=&tenant_id=&region=&limit=&cursor=`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobListQuery {
    pub status: Option<JobStatus>,
    pub tenant_id: Option<TenantId>,
    pub region: Option<Region>,
    pub limit: u32,
    pub cursor: Option<JobCursor>,
}

pub const DEFAULT_JOB_LIMIT: u32 = 50;
pub const MAX_JOB_LIMIT: u32 = 200;

impl JobListQuery {
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ApiError> {
        let mut q = JobListQuery { status: None, tenant_id: None, region: None, limit: DEFAULT_JOB_LIMIT, cursor: None };
        for (k, v) in pairs {
            match k {
                "status" => q.status = Some(JobStatus::parse("status", v)?),
                "tenant_id" => q.tenant_id = Some(TenantId::parse("tenant_id", v)?),
                "region" => q.region = Some(Region::parse("region", v)?),
                "limit" => q.limit = crate::cursor::page_limit(v, MAX_JOB_LIMIT)?,
                "cursor" => q.cursor = Some(JobCursor::decode(v)?),
                other => {
                    return Err(ApiError::BadRequest {
                        code: "unknown_field",
                        message: format!("unknown query parameter {:?}; allowed: status, tenant_id, region, limit, cursor", truncate(other, 64)),
                        field: Some(truncate(other, 64)),
                    })
                }
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_requests() {
        let s = StartRequest::parse(br#"{"run_id":"123456","run_attempt":2,"run_url":"https://github.com/a/b/actions/runs/123456"}"#).unwrap();
        assert_eq!((s.run_id.as_str(), s.run_attempt), ("123456", Some(2)));
        for (body, field) in [
            (r#"{}"#, "run_id"),
            (r#"{"run_id":123}"#, "run_id"),
            (r#"{"run_id":"12a"}"#, "run_id"),
            (r#"{"run_id":""}"#, "run_id"),
            (r#"{"run_id":"123456789012345678901"}"#, "run_id"),
            (r#"{"run_id":"1","run_attempt":0}"#, "run_attempt"),
            (r#"{"run_id":"1","run_attempt":1.5}"#, "run_attempt"),
            (r#"{"run_id":"1","run_url":"javascript:x"}"#, "run_url"),
            (r#"{"run_id":"1","extra":1}"#, "extra"),
        ] {
            let e = StartRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!((e.status(), e.body().error.field.as_deref()), (400, Some(field)), "{body}");
        }
    }

    #[test]
    fn cancel_requests() {
        assert_eq!(CancelRequest::parse(b"").unwrap().reason, None);
        assert_eq!(CancelRequest::parse(br#"{"reason":"wrong tenant"}"#).unwrap().reason.as_deref(), Some("wrong tenant"));
        assert!(CancelRequest::parse(format!(r#"{{"reason":"{}"}}"#, "r".repeat(256)).as_bytes()).is_ok());
        for body in [format!(r#"{{"reason":"{}"}}"#, "r".repeat(257)), r#"{"reason":7}"#.into(), r#"{"why":"x"}"#.into(), r#"{"reason":"a\u0007"}"#.into()] {
            assert_eq!(CancelRequest::parse(body.as_bytes()).unwrap_err().status(), 400, "{body}");
        }
    }

    #[test]
    fn list_queries_and_cursors() {
        let q = JobListQuery::parse([]).unwrap();
        assert_eq!((q.limit, q.status, q.cursor), (50, None, None));
        let c = JobCursor { created_at: 1_795_341_600_000, job_id: "6f1c-ab".into() };
        let enc = c.encode();
        let q = JobListQuery::parse([("status", "running"), ("region", "eu"), ("tenant_id", "acme"), ("limit", "200"), ("cursor", enc.as_str())]).unwrap();
        assert_eq!((q.status, q.region, q.limit, q.cursor), (Some(JobStatus::Running), Some(Region::Eu), 200, Some(c)));
        for (k, v) in [
            ("status", "done"),
            ("region", "ap"),
            ("limit", "0"),
            ("limit", "201"),
            ("limit", "x"),
            ("cursor", "zz"),
            ("cursor", "61"),
            ("tenant_id", "a b"),
            ("page", "1"),
        ] {
            assert_eq!(JobListQuery::parse([(k, v)]).unwrap_err().status(), 400, "{k}={v}");
        }
    }
}
