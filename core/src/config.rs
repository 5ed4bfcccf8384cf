//! The Worker's settings, parsed once per request from the environment.
//!
//! Each setting is kept as a `Result`: a missing or malformed one is an error only for the
//! requests that need it (HTTP 500, code `misconfigured`, naming the setting but never its value),
//! so a typo in `PLACEMENT_DISK_PCT_MAX` cannot take down metrics pushes, and nothing falls back to
//! a silent default when a value is present but wrong.

use crate::domain::{Environment, Policy, Region};
use crate::error::ApiError;
use crate::placement::Thresholds;
use crate::retry::RetryPolicy;

pub type Setting<T> = Result<T, ApiError>;

/// A secret string whose `Debug` never shows the value, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Setting<Environment>,
    /// `None` when unset: auth then refuses every call (see `auth::authorize`).
    pub internal_api_key: Option<Secret>,
    /// `INTERNAL_API_KEY_PREVIOUS`: also accepted as the admin key while set (a rotation).
    pub internal_api_key_previous: Option<Secret>,
    /// `SKIP_INTERNAL_API_AUTH` was set to a true value (honoured only in development).
    pub skip_auth_requested: bool,
    pub github_token: Setting<Secret>,
    pub github_dispatch_url: Setting<String>,
    pub github_ref: Setting<String>,
    pub policy: Setting<Policy>,
    pub memory_pct_max: Setting<f64>,
    pub disk_pct_max: Setting<f64>,
    pub max_tenants_per_node: Setting<u32>,
    pub stale_after_s: Setting<u64>,
    pub default_region: Setting<Region>,
    pub tenant_base_domain: Setting<String>,
    pub snapshot_retention_days: Setting<u32>,
    /// `PLACEMENT_BLIND_FLEET_PCT` (0-100, default 50; 0 turns the hold off).
    pub blind_fleet_pct: Setting<u32>,
    /// `SNAPSHOT_MIN_INTERVAL_SECONDS` (default 300; 0 stores every asked-for snapshot).
    pub snapshot_min_interval_s: Setting<u32>,
    /// `TRACE_RETENTION_DAYS` (default 90, at least 1: a trace is what explains a job afterwards).
    pub trace_retention_days: Setting<u32>,
    /// The dispatcher's backoff and deadline (`DISPATCH_RETRY_BASE_SECONDS`, default 30,
    /// `DISPATCH_RETRY_MAX_SECONDS`, default 600, `DISPATCH_DEADLINE_SECONDS`, default 21600);
    /// tests shorten them.
    pub retry_policy: Setting<RetryPolicy>,
    /// `JOB_RUN_TIMEOUT_SECONDS` (default 5400): a dispatched or running job without a completion
    /// for this long is reconciled against GitHub.
    pub job_run_timeout_s: Setting<u32>,
}

impl Config {
    /// `lookup` returns a var or secret by name (None when unset).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Config {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Config {
            environment: with_default(get("ENVIRONMENT"), "ENVIRONMENT", Environment::Production, |v| Environment::parse("ENVIRONMENT", v).ok()),
            internal_api_key: get("INTERNAL_API_KEY").map(Secret),
            internal_api_key_previous: get("INTERNAL_API_KEY_PREVIOUS").map(Secret),
            skip_auth_requested: crate::auth::skip_requested(get("SKIP_INTERNAL_API_AUTH").as_deref()),
            github_token: required(get("GITHUB_TOKEN"), "GITHUB_TOKEN", |v| Some(Secret(v.to_string()))),
            github_dispatch_url: required(get("GITHUB_WORKFLOW_DISPATCH_URL"), "GITHUB_WORKFLOW_DISPATCH_URL", |v| {
                crate::url_rule::https_or_loopback(v).then(|| v.to_string())
            }),
            github_ref: with_default(get("GITHUB_REF"), "GITHUB_REF", "main".to_string(), |v| (!v.contains(char::is_whitespace)).then(|| v.to_string())),
            policy: with_default(get("PLACEMENT_POLICY"), "PLACEMENT_POLICY", Policy::UnifiedV1, |v| Policy::parse("PLACEMENT_POLICY", v).ok()),
            memory_pct_max: with_default(get("PLACEMENT_MEMORY_PCT_MAX"), "PLACEMENT_MEMORY_PCT_MAX", 80.0, pct),
            disk_pct_max: with_default(get("PLACEMENT_DISK_PCT_MAX"), "PLACEMENT_DISK_PCT_MAX", 85.0, pct),
            max_tenants_per_node: with_default(get("PLACEMENT_MAX_TENANTS_PER_NODE"), "PLACEMENT_MAX_TENANTS_PER_NODE", 40, |v| {
                v.parse().ok().filter(|n| *n >= 1)
            }),
            stale_after_s: with_default(get("METRICS_STALE_AFTER_SECONDS"), "METRICS_STALE_AFTER_SECONDS", 600, |v| v.parse().ok().filter(|n| *n >= 1)),
            default_region: with_default(get("DEFAULT_REGION"), "DEFAULT_REGION", Region::Sg, |v| Region::parse("DEFAULT_REGION", v).ok()),
            tenant_base_domain: with_default(get("TENANT_BASE_DOMAIN"), "TENANT_BASE_DOMAIN", "pregoi.com".to_string(), |v| {
                crate::ids::is_dns_name(v).then(|| v.to_ascii_lowercase())
            }),
            snapshot_retention_days: with_default(get("SNAPSHOT_RETENTION_DAYS"), "SNAPSHOT_RETENTION_DAYS", 30, |v| v.parse().ok()),
            blind_fleet_pct: with_default(get("PLACEMENT_BLIND_FLEET_PCT"), "PLACEMENT_BLIND_FLEET_PCT", 50, |v| v.parse().ok().filter(|n| *n <= 100)),
            snapshot_min_interval_s: with_default(get("SNAPSHOT_MIN_INTERVAL_SECONDS"), "SNAPSHOT_MIN_INTERVAL_SECONDS", 300, |v| {
                v.parse().ok().filter(|n| *n <= 86_400)
            }),
            trace_retention_days: with_default(get("TRACE_RETENTION_DAYS"), "TRACE_RETENTION_DAYS", 90, |v| v.parse().ok().filter(|n| (1..=3650).contains(n))),
            retry_policy: retry_policy(get("DISPATCH_RETRY_BASE_SECONDS"), get("DISPATCH_RETRY_MAX_SECONDS"), get("DISPATCH_DEADLINE_SECONDS")),
            job_run_timeout_s: with_default(get("JOB_RUN_TIMEOUT_SECONDS"), "JOB_RUN_TIMEOUT_SECONDS", 5400, |v| {
                v.parse().ok().filter(|n| (1..=604_800).contains(n))
            }),
        }
    }

    /// The placement limits, or the first malformed one.
    pub fn thresholds(&self) -> Setting<Thresholds> {
        Ok(Thresholds {
            memory_pct_max: self.memory_pct_max.clone()?,
            disk_pct_max: self.disk_pct_max.clone()?,
            max_tenants_per_node: self.max_tenants_per_node.clone()?,
            stale_after_s: self.stale_after_s.clone()?,
        })
    }

    /// Whether requests skip auth: only when asked for *and* in development.
    pub fn auth_bypass_ignored_in_production(&self) -> bool {
        self.skip_auth_requested && !matches!(self.environment, Ok(Environment::Development))
    }
}

fn retry_policy(base: Option<String>, max: Option<String>, deadline: Option<String>) -> Setting<RetryPolicy> {
    let defaults = RetryPolicy::default();
    let seconds = |v: &str| v.parse::<u32>().ok().filter(|n| (1..=43_200).contains(n));
    let base_delay_seconds = with_default(base, "DISPATCH_RETRY_BASE_SECONDS", defaults.base_delay_seconds, seconds)?;
    let max_delay_seconds = with_default(max, "DISPATCH_RETRY_MAX_SECONDS", defaults.max_delay_seconds, seconds)?;
    // Up to a week: a job that cannot be dispatched for that long needs a person anyway.
    let deadline_seconds =
        with_default(deadline, "DISPATCH_DEADLINE_SECONDS", defaults.deadline_seconds, |v| v.parse::<u32>().ok().filter(|n| (1..=604_800).contains(n)))?;
    Ok(RetryPolicy { base_delay_seconds, max_delay_seconds, deadline_seconds })
}

fn pct(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().filter(|n| n.is_finite() && *n > 0.0 && *n <= 100.0)
}

fn with_default<T>(raw: Option<String>, name: &'static str, default: T, parse: impl Fn(&str) -> Option<T>) -> Setting<T> {
    match raw {
        None => Ok(default),
        Some(v) => parse(&v).ok_or(ApiError::Misconfigured { setting: name }),
    }
}

fn required<T>(raw: Option<String>, name: &'static str, parse: impl Fn(&str) -> Option<T>) -> Setting<T> {
    raw.as_deref().and_then(parse).ok_or(ApiError::Misconfigured { setting: name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Config {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = config(&[]);
        assert_eq!(c.environment, Ok(Environment::Production));
        assert_eq!(c.policy, Ok(Policy::UnifiedV1));
        assert_eq!(c.memory_pct_max, Ok(80.0));
        assert_eq!(c.disk_pct_max, Ok(85.0));
        assert_eq!(c.max_tenants_per_node, Ok(40));
        assert_eq!(c.stale_after_s, Ok(600));
        assert_eq!(c.default_region, Ok(Region::Sg));
        assert_eq!(c.tenant_base_domain.as_deref(), Ok("pregoi.com"));
        assert_eq!(c.snapshot_retention_days, Ok(30));
        assert_eq!((c.blind_fleet_pct, c.snapshot_min_interval_s, c.trace_retention_days), (Ok(50), Ok(300), Ok(90)));
        assert_eq!(c.github_ref.as_deref(), Ok("main"));
        assert_eq!(c.retry_policy, Ok(RetryPolicy { base_delay_seconds: 30, max_delay_seconds: 600, deadline_seconds: 21_600 }));
        assert_eq!(c.job_run_timeout_s, Ok(5400));
        assert!(c.internal_api_key.is_none());
        assert_eq!(c.github_token.unwrap_err(), ApiError::Misconfigured { setting: "GITHUB_TOKEN" });
    }

    #[test]
    fn malformed_settings_are_errors_not_defaults() {
        let c = config(&[
            ("PLACEMENT_MEMORY_PCT_MAX", "eighty"),
            ("PLACEMENT_DISK_PCT_MAX", "150"),
            ("PLACEMENT_POLICY", "pack"),
            ("DEFAULT_REGION", "ap"),
            ("ENVIRONMENT", "staging"),
            ("METRICS_STALE_AFTER_SECONDS", "0"),
            ("GITHUB_WORKFLOW_DISPATCH_URL", "ftp://x"),
            ("DISPATCH_DEADLINE_SECONDS", "-1"),
            ("JOB_RUN_TIMEOUT_SECONDS", "soon"),
            ("PLACEMENT_BLIND_FLEET_PCT", "101"),
            ("SNAPSHOT_MIN_INTERVAL_SECONDS", "-5"),
            ("TRACE_RETENTION_DAYS", "0"),
        ]);
        assert_eq!(c.blind_fleet_pct.clone().unwrap_err(), ApiError::Misconfigured { setting: "PLACEMENT_BLIND_FLEET_PCT" });
        assert!(c.snapshot_min_interval_s.is_err() && c.trace_retention_days.is_err());
        assert_eq!(c.retry_policy.clone().unwrap_err(), ApiError::Misconfigured { setting: "DISPATCH_DEADLINE_SECONDS" });
        assert_eq!(c.job_run_timeout_s.clone().unwrap_err(), ApiError::Misconfigured { setting: "JOB_RUN_TIMEOUT_SECONDS" });
        assert_eq!(c.memory_pct_max.unwrap_err(), ApiError::Misconfigured { setting: "PLACEMENT_MEMORY_PCT_MAX" });
        assert!(c.disk_pct_max.is_err() && c.policy.is_err() && c.default_region.is_err());
        assert!(c.environment.is_err() && c.stale_after_s.is_err() && c.github_dispatch_url.is_err());
        // Unrelated settings are unaffected.
        assert_eq!(c.max_tenants_per_node, Ok(40));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let c = config(&[("INTERNAL_API_KEY", "topsecret"), ("INTERNAL_API_KEY_PREVIOUS", "oldsecret"), ("GITHUB_TOKEN", "ghp_abc")]);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("topsecret") && !dbg.contains("oldsecret") && !dbg.contains("ghp_abc"), "{dbg}");
        assert_eq!(c.internal_api_key_previous.as_ref().map(Secret::expose), Some("oldsecret"));
        assert!(config(&[("INTERNAL_API_KEY_PREVIOUS", "  ")]).internal_api_key_previous.is_none());
    }

    #[test]
    fn the_dispatch_url_is_https_or_plain_http_to_this_machine() {
        let url = |v: &str| config(&[("GITHUB_WORKFLOW_DISPATCH_URL", v)]).github_dispatch_url;
        for ok in ["https://api.github.com/repos/o/r/actions/workflows/p.yml/dispatches", "http://127.0.0.1:9999/x", "http://localhost/x"] {
            assert_eq!(url(ok).as_deref(), Ok(ok));
        }
        for bad in ["http://api.github.com/x", "http://127.evil.example/x", "ftp://x", "api.github.com"] {
            assert_eq!(url(bad).unwrap_err(), ApiError::Misconfigured { setting: "GITHUB_WORKFLOW_DISPATCH_URL" }, "{bad}");
        }
    }

    #[test]
    fn the_bypass_is_flagged_when_ignored() {
        assert!(config(&[("SKIP_INTERNAL_API_AUTH", "true")]).auth_bypass_ignored_in_production());
        assert!(!config(&[("SKIP_INTERNAL_API_AUTH", "true"), ("ENVIRONMENT", "development")]).auth_bypass_ignored_in_production());
    }
}
