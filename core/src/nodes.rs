//! The node registry's request and answer shapes, and metrics freshness.
//!
//! Freshness is computed here once and used by node reads, the stale filter and placement, so
//! "stale" means the same thing on every route.

use crate::domain::{MetricsSource, NodeStatus, Region};
use crate::error::ApiError;
use crate::ids::{parse_host, NodeId};
use crate::json::{parse_object, truncate, whole_number};
use crate::time::as_rfc3339;
use serde::Serialize;
use std::collections::BTreeMap;

/// `POST /internal/nodes`: absent optional fields keep the stored values on update.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeUpsert {
    pub node_id: NodeId,
    pub region: Region,
    pub host: String,
    pub status: Option<NodeStatus>,
    pub provider_server_id: Option<String>,
    pub labels: Option<BTreeMap<String, String>>,
}

const MAX_LABELS: usize = 32;
const MAX_LABEL_VALUE: usize = 256;

impl NodeUpsert {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["node_id", "region", "host", "status", "provider_server_id", "labels"])?;
        let node_id = NodeId::parse("node_id", &f.req_str("node_id")?)?;
        let region = Region::parse("region", &f.req_str("region")?)?;
        let host = parse_host("host", &f.req_str("host")?)?;
        let status = f.opt_str("status")?.map(|s| NodeStatus::parse("status", &s)).transpose()?;
        // Hetzner server ids are integers; accept them as a JSON number (whole, also when written
        // `96116595.0`) or as a string of digits (the workflow's register step sends a string).
        let bad_id = || ApiError::bad_field("provider_server_id", "provider_server_id must be a Hetzner server id: a whole number, or a string of digits");
        let provider_server_id = match f.opt_value("provider_server_id") {
            None => None,
            Some(serde_json::Value::Number(n)) => Some(whole_number(&n, u64::MAX).ok_or_else(bad_id)?.to_string()),
            Some(serde_json::Value::String(s)) if (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) => Some(s),
            Some(_) => return Err(bad_id()),
        };
        let labels = f.opt_object("labels")?.map(parse_labels).transpose()?;
        Ok(NodeUpsert { node_id, region, host, status, provider_server_id, labels })
    }
}

fn parse_labels(map: serde_json::Map<String, serde_json::Value>) -> Result<BTreeMap<String, String>, ApiError> {
    if map.len() > MAX_LABELS {
        return Err(ApiError::bad_field("labels", format!("labels may hold at most {MAX_LABELS} entries")));
    }
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let key_ok = (1..=64).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        if !key_ok {
            return Err(ApiError::bad_field("labels", format!("label key {:?} must be 1-64 of [A-Za-z0-9._/-]", truncate(&k, 64))));
        }
        match v {
            serde_json::Value::String(s) if s.chars().count() <= MAX_LABEL_VALUE && !s.chars().any(char::is_control) => {
                out.insert(k, s);
            }
            _ => {
                return Err(ApiError::bad_field(
                    "labels",
                    format!("label {k:?} must be a string of at most {MAX_LABEL_VALUE} characters without control characters"),
                ))
            }
        }
    }
    Ok(out)
}

/// A node as stored (the shell converts its D1 row into this).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredNode {
    pub node_id: String,
    pub region: String,
    pub host: String,
    pub status: String,
    pub provider_server_id: Option<String>,
    pub labels: BTreeMap<String, String>,
    #[serde(serialize_with = "as_rfc3339::serialize")]
    pub created_at: i64,
    #[serde(serialize_with = "as_rfc3339::serialize")]
    pub updated_at: i64,
}

/// A node's latest pushed metrics (its `server_metrics` row), the one shape the node routes,
/// placement and the scrape all read. Percentages are `None` when nothing could measure them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub cpu_pct: Option<f64>,
    pub memory_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    pub tenant_count: u32,
    pub source: MetricsSource,
    /// Milliseconds since the epoch; RFC 3339 on the wire.
    #[serde(serialize_with = "as_rfc3339::serialize")]
    pub updated_at: i64,
}

/// Whole seconds since the metrics were pushed. A row from the future is 0 s old; i128 so no
/// pair of timestamps can overflow.
pub fn metrics_age_s(now_ms: i64, updated_at_ms: i64) -> u64 {
    let elapsed = i128::from(now_ms) - i128::from(updated_at_ms);
    u64::try_from(elapsed.max(0) / 1000).unwrap_or(u64::MAX)
}

/// Metrics are stale when strictly older than the limit (node reads, the stale filter, the
/// scheduled freshness alert and placement all use this one definition).
pub fn is_stale(now_ms: i64, updated_at_ms: i64, stale_after_s: u64) -> bool {
    i128::from(now_ms) - i128::from(updated_at_ms) > i128::from(stale_after_s) * 1000
}

/// The answer of the node routes: the node, its latest metrics, and their freshness.
#[derive(Debug, Serialize)]
pub struct NodeView {
    #[serde(flatten)]
    pub node: StoredNode,
    pub metrics: Option<Metrics>,
    pub metrics_age_s: Option<u64>,
    pub stale: bool,
}

impl NodeView {
    pub fn new(node: StoredNode, metrics: Option<Metrics>, now_ms: i64, stale_after_s: u64) -> Self {
        NodeView {
            metrics_age_s: metrics.as_ref().map(|m| metrics_age_s(now_ms, m.updated_at)),
            stale: metrics.as_ref().is_none_or(|m| is_stale(now_ms, m.updated_at, stale_after_s)),
            node,
            metrics,
        }
    }
}

/// `GET /internal/nodes?region=..&stale=..&limit=..&cursor=..`: every parameter optional; pages
/// in node_id order.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeListFilter {
    pub region: Option<Region>,
    pub stale: Option<bool>,
    /// `limit` (1-1000, default 1000).
    pub limit: u32,
    /// The page starts after this node_id (from the opaque `cursor`).
    pub after: Option<NodeId>,
}

pub const MAX_NODE_PAGE: u32 = 1000;

impl Default for NodeListFilter {
    fn default() -> Self {
        NodeListFilter { region: None, stale: None, limit: MAX_NODE_PAGE, after: None }
    }
}

impl NodeListFilter {
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, ApiError> {
        let mut filter = NodeListFilter::default();
        for (k, v) in pairs {
            match k {
                "region" => filter.region = Some(Region::parse("region", v)?),
                "stale" => {
                    filter.stale = Some(match v {
                        "true" => true,
                        "false" => false,
                        _ => return Err(ApiError::bad_field("stale", "stale must be true or false")),
                    })
                }
                "limit" => filter.limit = crate::cursor::page_limit(v, MAX_NODE_PAGE)?,
                "cursor" => filter.after = Some(decode_node_cursor(v)?),
                other => {
                    return Err(ApiError::BadRequest {
                        code: "unknown_field",
                        message: format!("unknown query parameter {:?}; allowed: region, stale, limit, cursor", truncate(other, 64)),
                        field: Some(truncate(other, 64)),
                    })
                }
            }
        }
        Ok(filter)
    }
}

/// The node list's cursor holds the last node_id of the page.
pub fn encode_node_cursor(last: &str) -> String {
    crate::cursor::encode(last)
}

fn decode_node_cursor(raw: &str) -> Result<NodeId, ApiError> {
    NodeId::parse("cursor", &crate::cursor::decode(raw, 128)?).map_err(|_| crate::cursor::not_ours())
}

/// `POST /internal/server-metrics`, as the metrics runbook defines it.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPush {
    pub node_id: NodeId,
    pub cpu_pct: Option<f64>,
    pub memory_pct: Option<f64>,
    pub disk_pct: Option<f64>,
    pub tenant_count: u32,
    pub save_snapshot: bool,
    pub source: MetricsSource,
}

/// A tenant count beyond this is a broken counting script, not a node.
pub const MAX_TENANT_COUNT: u64 = 100_000;

impl MetricsPush {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let mut f = parse_object(body)?;
        f.deny_unknown(&["node_id", "cpu_pct", "memory_pct", "disk_pct", "tenant_count", "save_snapshot", "source"])?;
        Ok(MetricsPush {
            node_id: NodeId::parse("node_id", &f.req_str("node_id")?)?,
            cpu_pct: f.opt_number_in("cpu_pct", 0.0, 100.0)?,
            memory_pct: f.opt_number_in("memory_pct", 0.0, 100.0)?,
            disk_pct: f.opt_number_in("disk_pct", 0.0, 100.0)?,
            tenant_count: f.opt_count("tenant_count", MAX_TENANT_COUNT)?.unwrap_or(0) as u32,
            save_snapshot: f.opt_bool("save_snapshot")?.unwrap_or(false),
            source: f.opt_str("source")?.map(|s| MetricsSource::parse("source", &s)).transpose()?.unwrap_or(MetricsSource::NodePush),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(e: ApiError) -> String {
        serde_json::to_value(e.body()).unwrap()["error"]["field"].as_str().unwrap_or("").to_string()
    }

    #[test]
    fn metrics_push_defaults() {
        let p = MetricsPush::parse(br#"{"node_id":"hz-sg-1"}"#).unwrap();
        assert_eq!((p.cpu_pct, p.tenant_count, p.save_snapshot, p.source), (None, 0, false, MetricsSource::NodePush));
        let p = MetricsPush::parse(
            br#"{"node_id":"hz-sg-1","cpu_pct":null,"memory_pct":41.5,"disk_pct":0,"tenant_count":7,"save_snapshot":true,"source":"hetzner_api"}"#,
        )
        .unwrap();
        assert_eq!((p.memory_pct, p.disk_pct, p.tenant_count, p.save_snapshot), (Some(41.5), Some(0.0), 7, true));
    }

    #[test]
    fn metrics_push_refusals_name_the_field() {
        let cases = [
            (r#"{}"#, "node_id"),
            (r#"{"node_id":5}"#, "node_id"),
            (r#"{"node_id":"a","cpu_pct":101}"#, "cpu_pct"),
            (r#"{"node_id":"a","memory_pct":-0.1}"#, "memory_pct"),
            (r#"{"node_id":"a","disk_pct":"50"}"#, "disk_pct"),
            (r#"{"node_id":"a","tenant_count":-1}"#, "tenant_count"),
            (r#"{"node_id":"a","tenant_count":1.5}"#, "tenant_count"),
            (r#"{"node_id":"a","tenant_count":1e6}"#, "tenant_count"),
            (r#"{"node_id":"a","save_snapshot":"true"}"#, "save_snapshot"),
            (r#"{"node_id":"a","source":"cron"}"#, "source"),
            (r#"{"node_id":"a","cpu":1}"#, "cpu"),
        ];
        for (body, field) in cases {
            let e = MetricsPush::parse(body.as_bytes()).unwrap_err();
            assert_eq!(e.status(), 400, "{body}");
            assert_eq!(field_of(e), field, "{body}");
        }
    }

    #[test]
    fn node_upsert_parses_and_refuses() {
        let n = NodeUpsert::parse(br#"{"node_id":"hz-sg-1","region":"sg","host":"10.0.0.5","provider_server_id":4242,"labels":{"rack":"a"}}"#).unwrap();
        assert_eq!(n.provider_server_id.as_deref(), Some("4242"));
        // Regression: a string id (what the workflow's register step sends) was refused.
        let s = NodeUpsert::parse(br#"{"node_id":"hz-sg-1","region":"sg","host":"10.0.0.5","provider_server_id":"4242"}"#).unwrap();
        assert_eq!(s.provider_server_id.as_deref(), Some("4242"));
        // Regression (the OpenAPI fuzzer): a whole number written as a decimal is an integer.
        let d = NodeUpsert::parse(br#"{"node_id":"hz-sg-1","region":"sg","host":"10.0.0.5","provider_server_id":96116595.0}"#).unwrap();
        assert_eq!(d.provider_server_id.as_deref(), Some("96116595"));
        assert_eq!(n.status, None);
        assert_eq!(n.labels.unwrap()["rack"], "a");
        for (body, field) in [
            (r#"{"region":"sg","host":"h"}"#, "node_id"),
            (r#"{"node_id":"a","region":"ap","host":"h"}"#, "region"),
            (r#"{"node_id":"a","region":"sg","host":"not a host"}"#, "host"),
            (r#"{"node_id":"a","region":"sg","host":"h","status":"dead"}"#, "status"),
            (r#"{"node_id":"a","region":"sg","host":"h","labels":{"k":1}}"#, "labels"),
            (r#"{"node_id":"a","region":"sg","host":"h","labels":["x"]}"#, "labels"),
            (r#"{"node_id":"a","region":"sg","host":"h","provider_server_id":true}"#, "provider_server_id"),
            (r#"{"node_id":"a","region":"sg","host":"h","provider_server_id":-1}"#, "provider_server_id"),
            (r#"{"node_id":"a","region":"sg","host":"h","provider_server_id":"a b"}"#, "provider_server_id"),
            (r#"{"node_id":"a","region":"sg","host":"h","provider_server_id":"NaN"}"#, "provider_server_id"),
        ] {
            assert_eq!(field_of(NodeUpsert::parse(body.as_bytes()).unwrap_err()), field, "{body}");
        }
    }

    #[test]
    fn freshness_has_one_definition() {
        assert_eq!(metrics_age_s(10_999, 10_000), 0);
        assert_eq!(metrics_age_s(9_000, 10_000), 0);
        assert!(!is_stale(610_000, 10_000, 600));
        assert!(is_stale(610_001, 10_000, 600));
        let node = StoredNode {
            node_id: "n".into(),
            region: "sg".into(),
            host: "h".into(),
            status: "active".into(),
            provider_server_id: None,
            labels: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
        };
        let v = NodeView::new(node, None, 5_000, 600);
        assert!(v.stale && v.metrics_age_s.is_none() && v.metrics.is_none());
    }

    #[test]
    fn list_filters() {
        assert_eq!(
            NodeListFilter::parse([("region", "eu"), ("stale", "true")]).unwrap(),
            NodeListFilter { region: Some(Region::Eu), stale: Some(true), limit: 1000, after: None }
        );
        let cursor = encode_node_cursor("hz-sg-07");
        let f = NodeListFilter::parse([("limit", "2"), ("cursor", cursor.as_str())]).unwrap();
        assert_eq!((f.limit, f.after.as_ref().map(NodeId::as_str)), (2, Some("hz-sg-07")));
        for (k, v) in [("limit", "0"), ("limit", "1001"), ("limit", "x"), ("cursor", "zz"), ("cursor", "6"), ("cursor", "2f2e2e"), ("cursor", "")] {
            assert_eq!(NodeListFilter::parse([(k, v)]).unwrap_err().body().error.field.as_deref(), Some(k), "{k}={v}");
        }
        assert!(NodeListFilter::parse([("stale", "yes")]).is_err());
        assert!(NodeListFilter::parse([("regoin", "eu")]).is_err());
    }
}
