//! `cp-agent`: one run = measure this node, push to the control plane, write one log line, exit.
//!
//! A systemd timer starts it every minute; there is no daemon mode, so a crash or a leak cannot
//! outlive one run and the timer is the only scheduler. This file holds the flags and the order
//! of the steps; everything that can be tested without a live node lives in the modules.

mod apikey;
mod config;
mod disk;
mod error;
mod measure;
mod procfs;
mod push;
mod report;
mod retry;
mod tenants;
#[cfg(test)]
mod testutil;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use error::AgentError;
use report::Report;

const USAGE: &str = "\
usage: cp-agent [--config PATH] [--dry-run] [--save-snapshot] [--insecure-key-file-permissions]

Measures cpu/memory/disk and the tenant count of this node and pushes them once to
POST {control_plane_url}/internal/server-metrics. Writes one JSON line to stdout.

  --config PATH                     config file (default /etc/cp-agent/agent.conf)
  --dry-run                         measure and print the payload, check the token file, send nothing
  --once                            run once (the default; accepted for clarity in unit files)
  --save-snapshot                   ask for a snapshot row this run, whatever the config says
  --insecure-key-file-permissions   accept a token file readable by group/others (tests only)
  --help, --version

environment: CP_AGENT_URL, CP_AGENT_NODE_ID, CP_AGENT_TOKEN_FILE override the config keys
            (CP_AGENT_KEY_FILE: the deprecated name of CP_AGENT_TOKEN_FILE)
exit codes: 0 ok, 2 config/token/usage (also a config file others can write), 3 rejected by
            the control plane, 4 unreachable
            or retries exhausted, 5 measuring failed (nothing sent)";

#[derive(Debug, Clone, PartialEq, Eq)]
struct Args {
    config: PathBuf,
    dry_run: bool,
    save_snapshot: bool,
    insecure_key_file_permissions: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum Command {
    Run(Args),
    Help,
    Version,
}

/// Hand-rolled: five flags do not justify an argument-parsing crate on every node.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, AgentError> {
    let mut parsed = Args { config: PathBuf::from(config::DEFAULT_CONFIG_PATH), dry_run: false, save_snapshot: false, insecure_key_file_permissions: false };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--once" => {}
            "--dry-run" => parsed.dry_run = true,
            "--save-snapshot" => parsed.save_snapshot = true,
            "--insecure-key-file-permissions" => parsed.insecure_key_file_permissions = true,
            "--config" => {
                let path = args.next().ok_or_else(|| AgentError::Usage("--config needs a path".to_string()))?;
                parsed.config = PathBuf::from(path);
            }
            other => {
                if let Some(path) = other.strip_prefix("--config=") {
                    parsed.config = PathBuf::from(path);
                } else {
                    return Err(AgentError::Usage(format!("unknown argument {other:?}")));
                }
            }
        }
    }
    Ok(Command::Run(parsed))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("{}", push::USER_AGENT);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cp-agent: {}\n\n{USAGE}", e.message());
            return exit(e.exit_code());
        }
    };
    let report = run(&args);
    println!("{}", report.to_line());
    exit(report.exit_code)
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Config and key are checked before the (1 s) CPU sample so a broken install fails at once.
fn run(args: &Args) -> Report {
    let started = Instant::now();
    let elapsed = || started.elapsed().as_millis() as u64;

    let config = match load_config(args) {
        Ok(c) => c,
        Err(e) => return Report::new("error", None, elapsed()).with_error(&e),
    };
    let node_id = Some(config.node_id.as_str().to_string());
    let with_config_warnings = |mut r: Report| {
        r.warnings.splice(0..0, config.warnings.iter().cloned());
        r
    };
    let key = match apikey::read(&config.token_file, args.insecure_key_file_permissions) {
        Ok(k) => k,
        Err(e) => return with_config_warnings(Report::new("error", node_id, elapsed()).with_error(&AgentError::Key(e))),
    };
    let measured = match measure::measure(&config) {
        Ok(m) => m,
        Err(e) => return with_config_warnings(Report::new("error", node_id, elapsed()).with_error(&e)),
    };
    let payload = push::Payload::new(&config, &measured, config.save_snapshot || args.save_snapshot);

    if args.dry_run {
        let mut report = Report::new("dry_run", node_id, elapsed()).with_payload(&payload);
        report.url = Some(config.metrics_url());
        report.payload = Some(payload);
        report.warnings = measured.warnings;
        return with_config_warnings(report);
    }

    let result = push::send(&config, &key, &payload);
    let mut report = Report::new("ok", node_id, 0).with_payload(&payload);
    report.warnings = measured.warnings;
    match result {
        Ok(delivered) => {
            report.http_status = Some(delivered.status);
            report.attempts = delivered.attempts;
        }
        Err(e) => report = report.with_error(&e),
    }
    report.duration_ms = elapsed();
    with_config_warnings(report)
}

/// Reads the config from the opened file after checking that file's owner and mode (no second
/// `stat` of the path, so the file cannot be swapped between the check and the read).
fn load_config(args: &Args) -> Result<config::Config, AgentError> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = args.config.display().to_string();
    let cannot = |e: std::io::Error| AgentError::Config(format!("cannot read config {file}: {e}"));
    let mut opened = std::fs::File::open(&args.config).map_err(cannot)?;
    let meta = opened.metadata().map_err(cannot)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    config::check_config_file(&file, meta.permissions().mode(), meta.uid(), me).map_err(|e| AgentError::Config(e.0))?;
    let mut text = String::new();
    opened.read_to_string(&mut text).map_err(cannot)?;
    config::parse(&file, &text, &|var| std::env::var(var).ok()).map_err(|e| AgentError::Config(e.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, AgentError> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults() {
        assert_eq!(
            parse(&[]).unwrap(),
            Command::Run(Args {
                config: PathBuf::from("/etc/cp-agent/agent.conf"),
                dry_run: false,
                save_snapshot: false,
                insecure_key_file_permissions: false,
            })
        );
    }

    #[test]
    fn all_flags() {
        let Command::Run(a) = parse(&["--once", "--config", "/tmp/a.conf", "--dry-run", "--save-snapshot", "--insecure-key-file-permissions"]).unwrap() else {
            panic!()
        };
        assert_eq!(a.config, PathBuf::from("/tmp/a.conf"));
        assert!(a.dry_run && a.save_snapshot && a.insecure_key_file_permissions);
        let Command::Run(a) = parse(&["--config=/x.conf"]).unwrap() else { panic!() };
        assert_eq!(a.config, PathBuf::from("/x.conf"));
    }

    #[test]
    fn help_version_and_usage_errors() {
        assert_eq!(parse(&["--dry-run", "--help"]).unwrap(), Command::Help);
        assert_eq!(parse(&["-V"]).unwrap(), Command::Version);
        for bad in [&["--config"][..], &["--daemon"], &["run"]] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
    }
}
