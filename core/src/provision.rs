//! The placement, enqueue and completion requests. The job itself and the rules of its life are
//! in `job.rs`; the other job routes' requests in `job_requests.rs`.

use crate::domain::{JobStatus, PlanTier, Region};
use crate::error::ApiError;
use crate::ids::{is_dns_name, NodeId, SubdomainSlug, TenantId, TraceId};
use crate::json::{parse_object, Fields};
use crate::placement::Listing;
use serde_json::Value;

/// Tier and region of a placement request: `plan_tier` (alias `tier`, default basic) and
/// `region` (default `DEFAULT_REGION`). Unknown values are 400, never a silent default.
fn tier_and_region(f: &mut Fields, default_region: Region) -> Result<(PlanTier, Region), ApiError> {
    let tier = match f.opt_str_alias(&["plan_tier", "tier"])? {
        Some(t) => PlanTier::parse("plan_tier", &t)?,
        None => PlanTier::Basic,
    };
    let region = match f.opt_str("region")? {
        Some(r) => Region::parse("region", &r)?,
        None => default_region,
    };
    Ok((tier, region))
}

/// `POST /internal/placement/compute` and the legacy dry-run.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputeRequest {
    pub plan_tier: PlanTier,
    pub region: Region,
    /// Echoed, and used for a dedicated stack's name. Free text within bounds: a preview may ask
    /// about an id the enqueue path would refuse, and the answer then says so.
    pub tenant_id: Option<String>,
    /// `candidates_limit` (0-1000, default 100).
    pub candidates_limit: usize,
    /// `explain_node_ids`: at most 50 distinct node ids.
    pub explain_node_ids: Vec<String>,
}

impl ComputeRequest {
    pub fn parse(body: &[u8], default_region: Region) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["plan_tier", "tier", "region", "tenant_id", "candidates_limit", "explain_node_ids"])?;
        let (plan_tier, region) = tier_and_region(&mut f, default_region)?;
        let candidates_limit = f.opt_count("candidates_limit", Listing::MAX_LIMIT as u64)?.map_or(Listing::DEFAULT_LIMIT, |n| n as usize);
        let explain_node_ids = explain_ids(f.opt_value("explain_node_ids"))?;
        let tenant_id = f.opt_str("tenant_id")?;
        if let Some(t) = &tenant_id {
            if t.is_empty() || t.chars().count() > 128 || t.chars().any(char::is_control) {
                return Err(ApiError::bad_field("tenant_id", "tenant_id must be 1-128 characters without control characters"));
            }
        }
        Ok(ComputeRequest { plan_tier, region, tenant_id, candidates_limit, explain_node_ids })
    }
}

/// `explain_node_ids`: an array of at most 50 distinct node ids (an id twice would be one node
/// explained twice: a caller's mistake worth naming).
fn explain_ids(value: Option<Value>) -> Result<Vec<String>, ApiError> {
    const FIELD: &str = "explain_node_ids";
    let items = match value {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ApiError::bad_field(FIELD, "explain_node_ids must be an array of node ids")),
    };
    if items.len() > Listing::MAX_EXPLAIN {
        return Err(ApiError::bad_field(FIELD, format!("explain_node_ids takes at most {} node ids", Listing::MAX_EXPLAIN)));
    }
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let id = match item {
            Value::String(s) => NodeId::parse(FIELD, &s)?.to_string(),
            _ => return Err(ApiError::bad_field(FIELD, "explain_node_ids must be an array of node ids")),
        };
        if ids.contains(&id) {
            return Err(ApiError::bad_field(FIELD, format!("explain_node_ids names {id} twice")));
        }
        ids.push(id);
    }
    Ok(ids)
}

/// `POST /internal/tenants/:tenant_id/enqueue-provision`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnqueueRequest {
    pub tenant_id: TenantId,
    pub plan_tier: PlanTier,
    pub region: Region,
    pub subdomain_slug: SubdomainSlug,
    pub canonical_hostname: String,
    /// None: the shell makes a fresh `trace_<uuid>`.
    pub trace_id: Option<TraceId>,
    pub idempotency_key: Option<String>,
}

impl EnqueueRequest {
    pub fn parse(tenant_id: &str, body: &[u8], idempotency_key: Option<&str>, default_region: Region, base_domain: &str) -> Result<Self, ApiError> {
        let tenant_id = TenantId::parse("tenant_id", tenant_id)?;
        let idempotency_key = idempotency_key.map(parse_idempotency_key).transpose()?;
        let mut f = parse_object(body)?;
        f.deny_unknown(&["plan_tier", "tier", "region", "subdomain_slug", "canonical_hostname", "trace_id"])?;
        let (plan_tier, region) = tier_and_region(&mut f, default_region)?;
        let subdomain_slug = SubdomainSlug::parse("subdomain_slug", &f.req_str("subdomain_slug")?)?;
        let canonical_hostname = match f.opt_str("canonical_hostname")? {
            Some(h) if is_dns_name(&h) && h.contains('.') => h.to_ascii_lowercase(),
            Some(_) => return Err(ApiError::bad_field("canonical_hostname", "canonical_hostname must be a DNS name such as acme.example.com")),
            None => format!("{subdomain_slug}.{base_domain}"),
        };
        let trace_id = f.opt_str("trace_id")?.map(|t| TraceId::parse("trace_id", &t)).transpose()?;
        Ok(EnqueueRequest { tenant_id, plan_tier, region, subdomain_slug, canonical_hostname, trace_id, idempotency_key })
    }
}

/// `Idempotency-Key`: 1-128 printable ASCII characters.
pub fn parse_idempotency_key(raw: &str) -> Result<String, ApiError> {
    if (1..=128).contains(&raw.len()) && raw.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::bad_field("Idempotency-Key", "Idempotency-Key must be 1-128 printable ASCII characters"))
    }
}

/// `POST /internal/provision-jobs/:job_id/complete`, called by the workflow at its end.
#[derive(Debug, Clone, PartialEq)]
pub struct CompleteRequest {
    pub status: JobStatus,
    pub node_id: Option<NodeId>,
    pub error: Option<String>,
    /// The run that reports (`github.run_id`), when it says.
    pub run_id: Option<String>,
}

pub const MAX_ERROR_CHARS: usize = 2000;

impl CompleteRequest {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["status", "node_id", "error", "run_id"])?;
        let status = JobStatus::parse("status", &f.req_str("status")?)?;
        if !matches!(status, JobStatus::Succeeded | JobStatus::Failed) {
            return Err(ApiError::bad_field("status", "status must be succeeded or failed"));
        }
        let node_id = f.opt_str("node_id")?.map(|n| NodeId::parse("node_id", &n)).transpose()?;
        let error = f.opt_str("error")?;
        if error.as_ref().is_some_and(|e| e.chars().count() > MAX_ERROR_CHARS) {
            return Err(ApiError::bad_field("error", format!("error must be at most {MAX_ERROR_CHARS} characters")));
        }
        let run_id = f.opt_str("run_id")?.map(|r| crate::job_requests::parse_run_id("run_id", &r)).transpose()?;
        Ok(CompleteRequest { status, node_id, error, run_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enqueue(body: &str, key: Option<&str>) -> Result<EnqueueRequest, ApiError> {
        EnqueueRequest::parse("acme-1", body.as_bytes(), key, Region::Sg, "pregoi.com")
    }

    #[test]
    fn enqueue_defaults_and_derived_hostname() {
        let e = enqueue(r#"{"subdomain_slug":"acme"}"#, None).unwrap();
        assert_eq!((e.plan_tier, e.region), (PlanTier::Basic, Region::Sg));
        assert_eq!(e.canonical_hostname, "acme.pregoi.com");
        assert_eq!(e.trace_id, None);
        let e =
            enqueue(r#"{"tier":"enterprise","region":"eu","subdomain_slug":"acme","canonical_hostname":"Shop.Acme.com","trace_id":"trace_x"}"#, Some("k-1"))
                .unwrap();
        assert_eq!((e.plan_tier, e.region), (PlanTier::Enterprise, Region::Eu));
        assert_eq!(e.canonical_hostname, "shop.acme.com");
        assert_eq!(e.idempotency_key.as_deref(), Some("k-1"));
    }

    #[test]
    fn enqueue_refusals() {
        for (body, key) in [
            (r#"{}"#, None),
            (r#"{"subdomain_slug":"Acme"}"#, None),
            (r#"{"subdomain_slug":"acme","plan_tier":"gold"}"#, None),
            (r#"{"subdomain_slug":"acme","region":"ap"}"#, None),
            (r#"{"subdomain_slug":"acme","plan_tier":"basic","tier":"basic"}"#, None),
            (r#"{"subdomain_slug":"acme","canonical_hostname":"localhost"}"#, None),
            (r#"{"subdomain_slug":"acme","trace_id":"abc"}"#, None),
            (r#"{"subdomain_slug":"acme","priority":1}"#, None),
            (r#"{"subdomain_slug":"acme"}"#, Some("")),
            (r#"{"subdomain_slug":"acme"}"#, Some("k\u{7}")),
        ] {
            assert_eq!(enqueue(body, key).unwrap_err().status(), 400, "{body} {key:?}");
        }
        assert!(EnqueueRequest::parse("../x", b"{\"subdomain_slug\":\"a\"}", None, Region::Sg, "d.com").is_err());
    }

    #[test]
    fn compute_requests() {
        assert_eq!(
            ComputeRequest::parse(b"", Region::Us).unwrap(),
            ComputeRequest { plan_tier: PlanTier::Basic, region: Region::Us, tenant_id: None, candidates_limit: 100, explain_node_ids: vec![] }
        );
        let c = ComputeRequest::parse(br#"{"candidates_limit":0,"explain_node_ids":["hz-1","hz-2"]}"#, Region::Us).unwrap();
        assert_eq!((c.candidates_limit, c.explain_node_ids), (0, vec!["hz-1".to_string(), "hz-2".to_string()]));
        assert_eq!(ComputeRequest::parse(br#"{"candidates_limit":1000.0}"#, Region::Us).unwrap().candidates_limit, 1000);
        let fifty: Vec<String> = (0..50).map(|i| format!("\"n{i}\"")).collect();
        assert_eq!(
            ComputeRequest::parse(format!(r#"{{"explain_node_ids":[{}]}}"#, fifty.join(",")).as_bytes(), Region::Us).unwrap().explain_node_ids.len(),
            50
        );
        let field = |body: &str| ComputeRequest::parse(body.as_bytes(), Region::Us).unwrap_err().body().error.field;
        for bad in [r#"{"candidates_limit":1001}"#, r#"{"candidates_limit":-1}"#, r#"{"candidates_limit":2.5}"#, r#"{"candidates_limit":"10"}"#] {
            assert_eq!(field(bad).as_deref(), Some("candidates_limit"), "{bad}");
        }
        let fifty_one: Vec<String> = (0..51).map(|i| format!("\"n{i}\"")).collect();
        for bad in [
            format!(r#"{{"explain_node_ids":[{}]}}"#, fifty_one.join(",")),
            r#"{"explain_node_ids":"hz-1"}"#.to_string(),
            r#"{"explain_node_ids":[1]}"#.to_string(),
            r#"{"explain_node_ids":["a b"]}"#.to_string(),
            r#"{"explain_node_ids":["hz-1","hz-1"]}"#.to_string(),
        ] {
            assert_eq!(field(&bad).as_deref(), Some("explain_node_ids"), "{bad}");
        }
        assert!(ComputeRequest::parse(br#"{"tier":"platinum"}"#, Region::Us).is_err());
        assert!(ComputeRequest::parse(br#"{"tenant_id":""}"#, Region::Us).is_err());
        assert!(ComputeRequest::parse(br#"{"dry":true}"#, Region::Us).is_err());
    }

    #[test]
    fn completion_requests() {
        assert!(CompleteRequest::parse(br#"{"status":"dispatched"}"#).is_err());
        assert!(CompleteRequest::parse(br#"{"status":"succeeded","node_id":"a b"}"#).is_err());
        let c = CompleteRequest::parse(br#"{"status":"failed","error":"pulumi up failed"}"#).unwrap();
        assert_eq!(c.error.as_deref(), Some("pulumi up failed"));
    }
}
