//! The route table: which (method, path) is which route, decided without I/O.
//!
//! Unknown paths are 404, known paths with the wrong method 405 (with the allowed methods), so the
//! shell never answers a route it does not have. `ROUTES` is also what the OpenAPI test compares
//! the API document against.

use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Health,
    PlacementCompute,
    PlacementDryRun,
    NodeUpsert,
    NodeList,
    NodeGet(String),
    NodeDelete(String),
    MetricsPush,
    TraceEventPost,
    TraceEventList,
    EnqueueProvision(String),
    JobGet(String),
    JobComplete(String),
    PrometheusMetrics,
    Ui,
    UiScript,
    UiStyle,
    NodeTokenIssue(String),
    NodeTokenRevoke(String),
    JobStart(String),
    JobList,
    JobCancel(String),
    JobRetry(String),
}

/// Every route as (method, path pattern), in the OpenAPI document's notation.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("POST", "/internal/placement/compute"),
    ("POST", "/internal/placement-dry-run"),
    ("POST", "/internal/nodes"),
    ("GET", "/internal/nodes"),
    ("GET", "/internal/nodes/{node_id}"),
    ("DELETE", "/internal/nodes/{node_id}"),
    ("POST", "/internal/server-metrics"),
    ("POST", "/internal/trace-events"),
    ("GET", "/internal/trace-events"),
    ("POST", "/internal/tenants/{tenant_id}/enqueue-provision"),
    ("GET", "/internal/provision-jobs/{job_id}"),
    ("POST", "/internal/provision-jobs/{job_id}/complete"),
    ("GET", "/internal/metrics"),
    ("GET", "/ui"),
    ("GET", "/ui/app.js"),
    ("GET", "/ui/app.css"),
    ("POST", "/internal/nodes/{node_id}/token"),
    ("DELETE", "/internal/nodes/{node_id}/token"),
    ("POST", "/internal/provision-jobs/{job_id}/start"),
    ("GET", "/internal/provision-jobs"),
    ("POST", "/internal/provision-jobs/{job_id}/cancel"),
    ("POST", "/internal/provision-jobs/{job_id}/retry"),
];

impl Route {
    /// Whether the route needs the Bearer key (everything under `/internal/`).
    pub fn is_internal(path: &str) -> bool {
        path == "/internal" || path.starts_with("/internal/")
    }
}

/// Matches a request. `path` is the URL path as received (percent-encoded); path parameters are
/// decoded, and one that does not decode to UTF-8 is a 400.
pub fn match_route(method: &str, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let param = |s: &str| percent_decode(s);
    let (allow, route): (&'static str, Option<Route>) = match segments.as_slice() {
        ["health"] => ("GET", (method == "GET").then_some(Route::Health)),
        ["internal", "placement", "compute"] => ("POST", (method == "POST").then_some(Route::PlacementCompute)),
        ["internal", "placement-dry-run"] => ("POST", (method == "POST").then_some(Route::PlacementDryRun)),
        ["internal", "nodes"] => (
            "GET, POST",
            match method {
                "GET" => Some(Route::NodeList),
                "POST" => Some(Route::NodeUpsert),
                _ => None,
            },
        ),
        ["internal", "nodes", id] if !id.is_empty() => (
            "GET, DELETE",
            match method {
                "GET" => Some(Route::NodeGet(param(id)?)),
                "DELETE" => Some(Route::NodeDelete(param(id)?)),
                _ => None,
            },
        ),
        ["internal", "server-metrics"] => ("POST", (method == "POST").then_some(Route::MetricsPush)),
        ["internal", "trace-events"] => (
            "GET, POST",
            match method {
                "GET" => Some(Route::TraceEventList),
                "POST" => Some(Route::TraceEventPost),
                _ => None,
            },
        ),
        ["internal", "tenants", id, "enqueue-provision"] if !id.is_empty() => {
            ("POST", if method == "POST" { Some(Route::EnqueueProvision(param(id)?)) } else { None })
        }
        ["internal", "provision-jobs", id] if !id.is_empty() => ("GET", if method == "GET" { Some(Route::JobGet(param(id)?)) } else { None }),
        ["internal", "provision-jobs", id, "complete"] if !id.is_empty() => {
            ("POST", if method == "POST" { Some(Route::JobComplete(param(id)?)) } else { None })
        }
        ["internal", "metrics"] => ("GET", (method == "GET").then_some(Route::PrometheusMetrics)),
        ["ui"] => ("GET", (method == "GET").then_some(Route::Ui)),
        ["ui", "app.js"] => ("GET", (method == "GET").then_some(Route::UiScript)),
        ["ui", "app.css"] => ("GET", (method == "GET").then_some(Route::UiStyle)),
        ["internal", "nodes", id, "token"] if !id.is_empty() => (
            "POST, DELETE",
            match method {
                "POST" => Some(Route::NodeTokenIssue(param(id)?)),
                "DELETE" => Some(Route::NodeTokenRevoke(param(id)?)),
                _ => None,
            },
        ),
        ["internal", "provision-jobs"] => ("GET", (method == "GET").then_some(Route::JobList)),
        ["internal", "provision-jobs", id, action @ ("start" | "cancel" | "retry")] if !id.is_empty() => {
            let route = match *action {
                "start" => Route::JobStart(param(id)?),
                "cancel" => Route::JobCancel(param(id)?),
                _ => Route::JobRetry(param(id)?),
            };
            ("POST", (method == "POST").then_some(route))
        }
        _ => return Err(ApiError::not_found("no such route")),
    };
    route.ok_or(ApiError::MethodNotAllowed { allow })
}

/// Decodes `%XX` escapes of one path segment.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return Err(ApiError::bad_request("invalid_path", "path has a malformed % escape")),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("invalid_path", "path parameter is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_route_matches_its_pattern() {
        for (method, pattern) in ROUTES {
            let path = pattern.replace("{node_id}", "n1").replace("{tenant_id}", "t1").replace("{job_id}", "j1");
            assert!(match_route(method, &path).is_ok(), "{method} {path}");
        }
    }

    #[test]
    fn params_are_decoded() {
        assert_eq!(match_route("GET", "/internal/nodes/hz-sg-1").unwrap(), Route::NodeGet("hz-sg-1".into()));
        assert_eq!(match_route("GET", "/internal/nodes/%2e%2e").unwrap(), Route::NodeGet("..".into()));
        assert_eq!(match_route("GET", "/internal/nodes/a%ZZ").unwrap_err().status(), 400);
        assert_eq!(match_route("GET", "/internal/nodes/%ff").unwrap_err().status(), 400);
    }

    #[test]
    fn unknown_paths_404_and_wrong_methods_405() {
        for p in ["/", "/internal", "/internal/", "/internal/nodes/", "/internal/nodes/a/b", "/healthz", "/internal/provision-jobs/j/pause"] {
            assert_eq!(match_route("GET", p).unwrap_err().status(), 404, "{p}");
        }
        assert_eq!(match_route("PUT", "/internal/nodes").unwrap_err(), ApiError::MethodNotAllowed { allow: "GET, POST" });
        assert_eq!(match_route("POST", "/health").unwrap_err().status(), 405);
        assert_eq!(match_route("GET", "/internal/server-metrics").unwrap_err().status(), 405);
        assert_eq!(match_route("PATCH", "/internal/nodes/x").unwrap_err().status(), 405);
        assert_eq!(match_route("GET", "/internal/nodes/x/token").unwrap_err(), ApiError::MethodNotAllowed { allow: "POST, DELETE" });
        assert_eq!(match_route("POST", "/internal/nodes/x/token").unwrap(), Route::NodeTokenIssue("x".into()));
        assert_eq!(match_route("DELETE", "/internal/nodes/x/token").unwrap(), Route::NodeTokenRevoke("x".into()));
        assert_eq!(match_route("GET", "/internal/provision-jobs/j/cancel").unwrap_err(), ApiError::MethodNotAllowed { allow: "POST" });
        assert_eq!(match_route("POST", "/internal/provision-jobs").unwrap_err(), ApiError::MethodNotAllowed { allow: "GET" });
        assert_eq!(match_route("POST", "/internal/provision-jobs/j-1/retry").unwrap(), Route::JobRetry("j-1".into()));
        for m in ["PROPFIND", "QUERY", "get", "HEAD"] {
            assert_eq!(match_route(m, "/internal/nodes/x").unwrap_err(), ApiError::MethodNotAllowed { allow: "GET, DELETE" }, "{m}");
        }
    }
}
