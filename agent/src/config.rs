//! The agent's settings, parsed and checked once at start so a bad file fails the run (exit 2)
//! before anything is measured or sent.
//!
//! Format: `key = value` lines, `#` starts a comment line, values may be wrapped in single or
//! double quotes. Chosen over TOML because the file has a dozen flat keys, it keeps a parser crate
//! off every node, and the same file reads naturally in shell or a systemd `EnvironmentFile`-style
//! review. Unknown and repeated keys are errors so a typo cannot silently fall back to a default.
//!
//! `CP_AGENT_URL`, `CP_AGENT_NODE_ID` and `CP_AGENT_TOKEN_FILE` override their keys, so tests and
//! one-off checks can point a stock config elsewhere.
//!
//! The credential is the node's own push token (`token_file`), which opens nothing but this
//! node's metrics push. `api_key_file` / `CP_AGENT_KEY_FILE`, from when agents held the admin
//! key, still work as another name for it, with a warning in every log line until the config is
//! migrated (agent/README.md, "Migrating from the admin key").
//!
//! The file itself is checked like the token file (`check_config_file`): it decides where the
//! credential is sent and which file is read, so a file others can write is refused.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::retry::RetryPolicy;
use crate::tenants::TenantMethod;

pub const DEFAULT_CONFIG_PATH: &str = "/etc/cp-agent/agent.conf";
pub const DEFAULT_TOKEN_FILE: &str = "/etc/cp-agent/node-token";

/// Every key the file may hold; anything else is a typo.
const KNOWN_KEYS: &[&str] = &[
    "control_plane_url",
    "node_id",
    "token_file",
    "api_key_file",
    "disk_mount",
    "cpu_sample_ms",
    "tenant_method",
    "tenant_command",
    "tenant_command_timeout_ms",
    "tenant_dir",
    "tenant_dir_only_dirs",
    "tenant_dir_exclude",
    "save_snapshot",
    "timeout_ms",
    "max_attempts",
    "backoff_base_ms",
    "backoff_max_ms",
];

/// Environment variable -> the key it overrides.
pub const ENV_OVERRIDES: &[(&str, &str)] =
    &[("CP_AGENT_URL", "control_plane_url"), ("CP_AGENT_NODE_ID", "node_id"), ("CP_AGENT_TOKEN_FILE", "token_file"), ("CP_AGENT_KEY_FILE", "api_key_file")];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Base URL without a trailing slash; the route is appended.
    pub control_plane_url: String,
    pub node_id: NodeId,
    /// The file holding this node's push token.
    pub token_file: PathBuf,
    pub disk_mount: PathBuf,
    pub cpu_sample: Duration,
    pub tenants: TenantMethod,
    pub save_snapshot: bool,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Things that work but should be fixed (a deprecated key); they go into every log line.
    pub warnings: Vec<String>,
}

impl Config {
    pub fn metrics_url(&self) -> String {
        format!("{}/internal/server-metrics", self.control_plane_url)
    }
}

/// A node id that already satisfies the control plane's rule (1-64 of `[A-Za-z0-9._-]`, at least
/// one letter or digit), so a malformed id is a local config error, not a 400 after a network
/// round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeId(String);

impl NodeId {
    pub fn parse(s: &str) -> Result<NodeId, String> {
        let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if s.is_empty() || s.len() > 64 || !ok_chars {
            return Err(format!("expected 1-64 of [A-Za-z0-9._-], got {s:?}"));
        }
        if !s.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("needs at least one letter or digit, got {s:?}"));
        }
        Ok(NodeId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a value came from, so an error points at the line or variable to fix.
#[derive(Debug, Clone)]
enum Origin {
    Line(usize),
    Env(&'static str),
}

struct Raw {
    file: String,
    values: HashMap<&'static str, (Origin, String)>,
}

impl Raw {
    fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(|(_, v)| v.as_str())
    }

    fn err(&self, key: &str, msg: impl fmt::Display) -> ConfigError {
        match self.values.get(key) {
            Some((Origin::Line(n), _)) => ConfigError(format!("{} line {n}: {key}: {msg}", self.file)),
            Some((Origin::Env(var), _)) => ConfigError(format!("{var} (overrides {key}): {msg}")),
            None => ConfigError(format!("{}: {key}: {msg}", self.file)),
        }
    }

    fn required(&self, key: &str) -> Result<&str, ConfigError> {
        self.get(key).ok_or_else(|| ConfigError(format!("{}: {key} is required", self.file)))
    }

    fn number(&self, key: &str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.err(key, format!("expected an integer {min}-{max}, got {text:?}"))),
        }
    }

    fn millis(&self, key: &str, default: u64, min: u64, max: u64) -> Result<Duration, ConfigError> {
        self.number(key, default, min, max).map(Duration::from_millis)
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        let Some(text) = self.get(key) else {
            return Ok(default);
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(true),
            "false" | "no" | "off" | "0" => Ok(false),
            _ => Err(self.err(key, format!("expected true or false, got {text:?}"))),
        }
    }
}

/// Parses the file text; `env` looks up the override variables (a closure so tests need not touch
/// the process environment). `file` is only used in messages.
pub fn parse(file: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    let mut raw = Raw { file: file.to_string(), values: HashMap::new() };
    for (index, line) in text.lines().enumerate() {
        let n = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ConfigError(format!("{file} line {n}: expected key = value")));
        };
        let key = key.trim();
        let Some(known) = KNOWN_KEYS.iter().copied().find(|k| *k == key) else {
            return Err(ConfigError(format!("{file} line {n}: unknown key {key:?}")));
        };
        if let Some((Origin::Line(first), _)) = raw.values.get(known) {
            return Err(ConfigError(format!("{file} line {n}: {key} repeated (first set on line {first})")));
        }
        raw.values.insert(known, (Origin::Line(n), unquote(value.trim()).to_string()));
    }
    for (var, key) in ENV_OVERRIDES {
        if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
            raw.values.insert(key, (Origin::Env(var), value.trim().to_string()));
        }
    }
    build(&raw)
}

/// The config file decides where the credential is sent and which file it is read from, so it
/// must be root's (or the agent's own account's) and writable by nobody else; reading it is
/// fine (it holds no secret). `mode` and `owner` are those of the opened file.
pub fn check_config_file(path: &str, mode: u32, owner: u32, me: u32) -> Result<(), ConfigError> {
    if owner != 0 && owner != me {
        return Err(ConfigError(format!("config {path} is owned by uid {owner}; it must belong to root (chown root:root {path})")));
    }
    if mode & 0o022 != 0 {
        return Err(ConfigError(format!("config {path} has mode {:04o}; group and others must not write it (chmod 644 {path})", mode & 0o7777)));
    }
    Ok(())
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn build(raw: &Raw) -> Result<Config, ConfigError> {
    let url = raw.required("control_plane_url")?;
    let control_plane_url = check_url(url).map_err(|e| raw.err("control_plane_url", e))?;
    let node_id = NodeId::parse(raw.required("node_id")?).map_err(|e| raw.err("node_id", e))?;

    let retry = RetryPolicy {
        max_attempts: raw.number("max_attempts", 4, 1, 10)? as u32,
        base: raw.millis("backoff_base_ms", 1000, 1, 60_000)?,
        max: raw.millis("backoff_max_ms", 8000, 1, 300_000)?,
    };
    if retry.max < retry.base {
        return Err(raw.err("backoff_max_ms", "must not be below backoff_base_ms"));
    }

    let (token_file, warnings) = token_file(raw)?;
    Ok(Config {
        control_plane_url,
        node_id,
        token_file,
        warnings,
        disk_mount: PathBuf::from(raw.get("disk_mount").unwrap_or("/")),
        cpu_sample: raw.millis("cpu_sample_ms", 1000, 100, 10_000)?,
        tenants: tenant_method(raw)?,
        save_snapshot: raw.boolean("save_snapshot", false)?,
        timeout: raw.millis("timeout_ms", 10_000, 100, 120_000)?,
        retry,
    })
}

/// `token_file`, or the deprecated `api_key_file` under its old name (never both).
fn token_file(raw: &Raw) -> Result<(PathBuf, Vec<String>), ConfigError> {
    match (raw.get("token_file"), raw.get("api_key_file")) {
        (Some(_), Some(_)) => Err(raw.err("api_key_file", "is the old name of token_file: set only token_file")),
        (Some(path), None) => Ok((PathBuf::from(path), Vec::new())),
        (None, Some(path)) => Ok((
            PathBuf::from(path),
            vec!["api_key_file (or CP_AGENT_KEY_FILE) is deprecated: install this node's push token and set token_file (agent/README.md)".to_string()],
        )),
        (None, None) => Ok((PathBuf::from(DEFAULT_TOKEN_FILE), Vec::new())),
    }
}

/// The credential must not cross the internet in clear text, so plain http is only for a control
/// plane on this machine (wrangler dev, tests). The host is parsed, not prefix-matched:
/// `http://127.evil.example` is another machine.
fn check_url(text: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("not a URL ({e}): {text:?}"))?;
    // The URL parser has already normalized the host (`127.1` is `127.0.0.1`, IPv6 in brackets).
    let loopback = match url.host_str() {
        Some(h) if h.eq_ignore_ascii_case("localhost") => true,
        Some(h) if h.starts_with('[') => h.trim_matches(|c| c == '[' || c == ']').parse::<std::net::Ipv6Addr>().is_ok_and(|ip| ip.is_loopback()),
        Some(h) => h.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err("must be https:// (http:// only for 127.0.0.0/8, localhost or [::1])".to_string()),
        other => return Err(format!("unsupported scheme {other:?}")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_string());
    }
    Ok(text.trim_end_matches('/').to_string())
}

/// Exactly one method: keys belonging to another method are refused, because a leftover
/// `tenant_dir` next to `tenant_method = command` means someone is unsure which one counts.
fn tenant_method(raw: &Raw) -> Result<TenantMethod, ConfigError> {
    let method = raw.get("tenant_method").ok_or_else(|| ConfigError(format!("{}: tenant_method is required (command, directory or none)", raw.file)))?;
    let (allowed, chosen): (&[&str], TenantMethod) = match method {
        "none" => (&[], TenantMethod::None),
        "command" => {
            let command = raw.get("tenant_command").filter(|c| !c.trim().is_empty()).ok_or_else(|| raw.err("tenant_method", "command needs tenant_command"))?;
            (
                &["tenant_command", "tenant_command_timeout_ms"],
                TenantMethod::Command { command: command.to_string(), timeout: raw.millis("tenant_command_timeout_ms", 20_000, 100, 600_000)? },
            )
        }
        "directory" => {
            let path = raw.get("tenant_dir").filter(|d| !d.trim().is_empty()).ok_or_else(|| raw.err("tenant_method", "directory needs tenant_dir"))?;
            let exclude = raw.get("tenant_dir_exclude").unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
            (
                &["tenant_dir", "tenant_dir_only_dirs", "tenant_dir_exclude"],
                TenantMethod::Directory { path: PathBuf::from(path), only_dirs: raw.boolean("tenant_dir_only_dirs", false)?, exclude },
            )
        }
        other => return Err(raw.err("tenant_method", format!("expected command, directory or none, got {other:?}"))),
    };
    for key in KNOWN_KEYS.iter().filter(|k| k.starts_with("tenant_") && **k != "tenant_method") {
        if raw.get(key).is_some() && !allowed.contains(key) {
            return Err(raw.err(key, format!("does not apply to tenant_method = {method}")));
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "\
control_plane_url = https://cp.example.com/
node_id = hz-sg-01
tenant_method = none
";

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn ok(text: &str) -> Config {
        parse("agent.conf", text, &no_env).unwrap()
    }

    fn fails(text: &str) -> String {
        parse("agent.conf", text, &no_env).unwrap_err().0
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let c = ok(MINIMAL);
        assert_eq!(c.control_plane_url, "https://cp.example.com");
        assert_eq!(c.metrics_url(), "https://cp.example.com/internal/server-metrics");
        assert_eq!(c.node_id.as_str(), "hz-sg-01");
        assert_eq!(c.token_file, PathBuf::from(DEFAULT_TOKEN_FILE));
        assert!(c.warnings.is_empty());
        assert_eq!(c.disk_mount, PathBuf::from("/"));
        assert_eq!(c.cpu_sample, Duration::from_secs(1));
        assert_eq!(c.tenants, TenantMethod::None);
        assert!(!c.save_snapshot);
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.retry, RetryPolicy { max_attempts: 4, base: Duration::from_secs(1), max: Duration::from_secs(8) });
    }

    #[test]
    fn shipped_example_parses() {
        let c = ok(include_str!("../agent.conf.example"));
        assert_eq!(c.node_id.as_str(), "hz-sg-01");
        assert!(matches!(c.tenants, TenantMethod::Directory { only_dirs: true, .. }));
        assert_eq!(c.retry.max_attempts, 4);
    }

    #[test]
    fn full_file_with_quotes_and_comments() {
        let c = ok(r#"
# Node sg-01
control_plane_url = "https://cp.example.com/base"
node_id = 'hz-sg-01'
api_key_file = /root/key
disk_mount = /home
cpu_sample_ms = 500
tenant_method = directory
tenant_dir = /home/frappe/frappe-bench/sites
tenant_dir_only_dirs = yes
tenant_dir_exclude = assets, apps.txt ,common_site_config.json,
save_snapshot = true
timeout_ms = 5000
max_attempts = 2
backoff_base_ms = 10
backoff_max_ms = 20
"#);
        assert_eq!(c.metrics_url(), "https://cp.example.com/base/internal/server-metrics");
        assert_eq!(c.token_file, PathBuf::from("/root/key"));
        assert!(c.warnings[0].contains("api_key_file (or CP_AGENT_KEY_FILE) is deprecated"), "{:?}", c.warnings);
        assert_eq!(c.disk_mount, PathBuf::from("/home"));
        assert_eq!(c.cpu_sample, Duration::from_millis(500));
        assert_eq!(
            c.tenants,
            TenantMethod::Directory {
                path: PathBuf::from("/home/frappe/frappe-bench/sites"),
                only_dirs: true,
                exclude: vec!["assets".into(), "apps.txt".into(), "common_site_config.json".into()],
            }
        );
        assert!(c.save_snapshot);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.retry.max_attempts, 2);
        assert_eq!(c.retry.base, Duration::from_millis(10));
    }

    #[test]
    fn command_method_keeps_the_whole_command() {
        let c = ok(&format!("{}tenant_command = bench --site all list | grep -v '^#' \n", MINIMAL.replace("tenant_method = none", "tenant_method = command")));
        assert_eq!(c.tenants, TenantMethod::Command { command: "bench --site all list | grep -v '^#'".into(), timeout: Duration::from_secs(20) });
    }

    #[test]
    fn http_is_allowed_for_loopback_only() {
        for url in ["http://127.0.0.1:8787", "http://localhost:8787/", "http://[::1]:1", "http://127.9.8.7/", "http://LOCALHOST/"] {
            ok(&MINIMAL.replace("https://cp.example.com/", url));
        }
        // Look-alikes of a loopback host are other machines.
        for url in [
            "http://cp.example.com/",
            "http://127.evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://localhost.evil.example/",
            "http://127.0.0.1@evil.example/",
            "http://[::2]/",
            "http://128.0.0.1/",
        ] {
            let e = fails(&MINIMAL.replace("https://cp.example.com/", url));
            assert!(e.contains("must be https"), "{url}: {e}");
        }
    }

    #[test]
    fn token_file_and_its_old_name() {
        let c = ok(&format!("{MINIMAL}token_file = /etc/cp-agent/tok\n"));
        assert_eq!((c.token_file, c.warnings.len()), (PathBuf::from("/etc/cp-agent/tok"), 0));
        let e = fails(&format!("{MINIMAL}token_file = /a\napi_key_file = /b\n"));
        assert!(e.contains("set only token_file"), "{e}");
        let env = |var: &str| (var == "CP_AGENT_TOKEN_FILE").then(|| "/run/tok".to_string());
        assert_eq!(parse("agent.conf", MINIMAL, &env).unwrap().token_file, PathBuf::from("/run/tok"));
    }

    #[test]
    fn env_overrides_win_and_are_named_in_errors() {
        let env = |var: &str| match var {
            "CP_AGENT_URL" => Some("http://127.0.0.1:9".to_string()),
            "CP_AGENT_NODE_ID" => Some("test-node".to_string()),
            "CP_AGENT_KEY_FILE" => Some("/tmp/key".to_string()),
            _ => None,
        };
        let c = parse("agent.conf", MINIMAL, &env).unwrap();
        assert_eq!(c.control_plane_url, "http://127.0.0.1:9");
        assert_eq!(c.node_id.as_str(), "test-node");
        assert_eq!(c.token_file, PathBuf::from("/tmp/key"));

        let bad = |var: &str| (var == "CP_AGENT_NODE_ID").then(|| "bad id!".to_string());
        let e = parse("agent.conf", MINIMAL, &bad).unwrap_err().0;
        assert!(e.starts_with("CP_AGENT_NODE_ID (overrides node_id)"), "{e}");

        let empty = |var: &str| (var == "CP_AGENT_NODE_ID").then(String::new);
        assert_eq!(parse("agent.conf", MINIMAL, &empty).unwrap().node_id.as_str(), "hz-sg-01");
    }

    #[test]
    fn missing_fields() {
        for (drop, needle) in
            [("control_plane_url", "control_plane_url is required"), ("node_id", "node_id is required"), ("tenant_method", "tenant_method is required")]
        {
            let text: String = MINIMAL.lines().filter(|l| !l.starts_with(drop)).map(|l| format!("{l}\n")).collect();
            assert!(fails(&text).contains(needle), "{drop}");
        }
        let e = fails(&MINIMAL.replace("none", "command"));
        assert!(e.contains("command needs tenant_command"), "{e}");
        let e = fails(&MINIMAL.replace("none", "directory"));
        assert!(e.contains("directory needs tenant_dir"), "{e}");
    }

    #[test]
    fn bad_values() {
        for (extra, needle) in [
            ("max_attempts = 0", "line 4: max_attempts: expected an integer 1-10"),
            ("max_attempts = four", "expected an integer 1-10, got \"four\""),
            ("cpu_sample_ms = 50", "cpu_sample_ms: expected an integer 100-10000"),
            ("timeout_ms = -1", "timeout_ms: expected an integer"),
            ("save_snapshot = maybe", "expected true or false"),
            ("backoff_base_ms = 500\nbackoff_max_ms = 100", "must not be below backoff_base_ms"),
            ("nod_id = x", "unknown key \"nod_id\""),
            ("node_id = again", "node_id repeated (first set on line 2)"),
            ("just some words", "line 4: expected key = value"),
            ("tenant_dir = /srv/sites", "tenant_dir: does not apply to tenant_method = none"),
        ] {
            let e = fails(&format!("{MINIMAL}{extra}\n"));
            assert!(e.contains(needle), "{extra:?}: {e}");
        }
        for (from, to, needle) in [
            ("none", "sql", "expected command, directory or none, got \"sql\""),
            ("hz-sg-01", "hz sg 01", "node_id: expected 1-64"),
            ("hz-sg-01", "...", "at least one letter or digit"),
            ("https://cp.example.com/", "cp.example.com", "not a URL"),
            ("https://cp.example.com/", "ftp://cp.example.com", "unsupported scheme"),
            ("https://cp.example.com/", "https://cp.example.com/?a=1", "query"),
        ] {
            let e = fails(&MINIMAL.replace(from, to));
            assert!(e.contains(needle), "{to:?}: {e}");
        }
    }

    #[test]
    fn the_config_file_is_checked_like_the_token_file() {
        for (mode, owner) in [(0o100644, 0), (0o100600, 0), (0o100640, 0), (0o100644, 1000)] {
            assert!(check_config_file("/etc/cp-agent/agent.conf", mode, owner, 1000).is_ok(), "{mode:o} {owner}");
        }
        for mode in [0o100664, 0o100646, 0o100666, 0o100660, 0o100602] {
            let e = check_config_file("/etc/cp-agent/agent.conf", mode, 0, 0).unwrap_err().0;
            assert!(e.contains("must not write it") && e.contains(&format!("{:04o}", mode & 0o7777)), "{e}");
        }
        let e = check_config_file("/etc/cp-agent/agent.conf", 0o100644, 33, 0).unwrap_err().0;
        assert!(e.contains("uid 33") && e.contains("chown root:root"), "{e}");
    }

    #[test]
    fn node_id_rule_matches_the_control_plane() {
        for good in ["a", "hz-sg-01", "node.eu_2", &"x".repeat(64)] {
            assert!(NodeId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-", "._", "a/b", "ä", &"x".repeat(65)] {
            assert!(NodeId::parse(bad).is_err(), "{bad}");
        }
    }
}
