//! tenant_count: the one number placement cannot measure for itself.
//!
//! The runbook asks for one documented counting method per environment, so the config names
//! exactly one. A failed count is an error, never a 0: a node that reports 0 tenants looks empty
//! and attracts the next tenant.

use std::fs;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantMethod {
    /// Sends 0. Allowed so a fresh node can report load before its stack exists, but logged as a
    /// warning on every run because placement treats the node as empty.
    None,
    /// `/bin/sh -c COMMAND`; one tenant per non-empty output line.
    Command { command: String, timeout: Duration },
    /// One tenant per directory entry, e.g. Frappe's `sites/` folder.
    Directory { path: PathBuf, only_dirs: bool, exclude: Vec<String> },
}

pub fn count(method: &TenantMethod) -> Result<u64, String> {
    match method {
        TenantMethod::None => Ok(0),
        TenantMethod::Command { command, timeout } => count_command(command, *timeout),
        TenantMethod::Directory { path, only_dirs, exclude } => count_directory(path, *only_dirs, exclude),
    }
}

/// Lines with only whitespace are ignored so a trailing blank line or an indented footer-less
/// list does not inflate the count.
pub fn count_lines(output: &str) -> u64 {
    output.lines().filter(|l| !l.trim().is_empty()).count() as u64
}

/// Hidden entries (`.build`, `.git`) are never tenants; `exclude` names the visible non-tenant
/// entries of the layout (for Frappe: `assets`, `apps.txt`, `common_site_config.json`, ...).
pub fn count_directory(path: &Path, only_dirs: bool, exclude: &[String]) -> Result<u64, String> {
    let entries = fs::read_dir(path).map_err(|e| format!("tenant directory {}: {e}", path.display()))?;
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("tenant directory {}: {e}", path.display()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || exclude.iter().any(|x| x == name.as_ref()) {
            continue;
        }
        // metadata() follows symlinks: a site linked in from elsewhere still counts as a dir.
        if only_dirs && !fs::metadata(entry.path()).map(|m| m.is_dir()).unwrap_or(false) {
            continue;
        }
        n += 1;
    }
    Ok(n)
}

/// Runs the command in its own process group so a timeout can kill the whole pipeline
/// (`bench ... | grep ...`), not just the shell; otherwise a stuck grandchild would keep stdout
/// open and the agent would hang past its systemd timeout without writing its log line.
pub fn count_command(command: &str, timeout: Duration) -> Result<u64, String> {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("tenant command: cannot start /bin/sh: {e}"))?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let out_reader = thread::spawn(move || read_all(stdout));
    let err_reader = thread::spawn(move || read_all(stderr));

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child.id());
                let _ = child.wait();
                return Err(format!("tenant command timed out after {} ms: {command}", timeout.as_millis()));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("tenant command: wait failed: {e}")),
        }
    };
    // The shell is done; a background child it left behind would keep stdout open and the
    // readers waiting past any timeout, so the rest of its group goes too.
    kill_group(child.id());
    let out = out_reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    if !status.success() {
        let code = status.code().map_or_else(|| "a signal".to_string(), |c| format!("exit code {c}"));
        return Err(format!("tenant command failed with {code}: {command}{}", stderr_tail(&err)));
    }
    Ok(count_lines(&out))
}

fn read_all(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn kill_group(pid: u32) {
    // SAFETY: plain syscall; a negative pid addresses the process group created by process_group(0).
    unsafe {
        libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
    }
}

/// The last stderr line is usually the one that explains the failure; more would flood the one
/// log line per run.
fn stderr_tail(stderr: &str) -> String {
    match stderr.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => {
            let line: String = line.trim().chars().take(200).collect();
            format!(" (stderr: {line})")
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    fn cmd(command: &str) -> TenantMethod {
        TenantMethod::Command { command: command.to_string(), timeout: Duration::from_secs(5) }
    }

    #[test]
    fn none_counts_zero() {
        assert_eq!(count(&TenantMethod::None).unwrap(), 0);
    }

    #[test]
    fn count_lines_cases() {
        for (text, want) in [("", 0), ("\n\n", 0), ("a.example.com\n", 1), ("a\nb\n\n  \nc", 3), ("  site1  \n\tsite2\r\n", 2)] {
            assert_eq!(count_lines(text), want, "{text:?}");
        }
    }

    #[test]
    fn command_counts_non_empty_output_lines() {
        assert_eq!(count(&cmd("printf 'one\\n\\ntwo\\nthree\\n'")).unwrap(), 3);
        assert_eq!(count(&cmd("true")).unwrap(), 0);
    }

    #[test]
    fn command_non_zero_exit_is_an_error_with_stderr() {
        let e = count(&cmd("echo site1; echo 'bench: not found' >&2; exit 127")).unwrap_err();
        assert!(e.contains("exit code 127"), "{e}");
        assert!(e.contains("bench: not found"), "{e}");
    }

    #[test]
    fn command_timeout_kills_the_whole_pipeline() {
        let started = Instant::now();
        let e = count_command("sleep 30 | cat", Duration::from_millis(200)).unwrap_err();
        assert!(e.contains("timed out"), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    /// Regression: a background child holding stdout open after the shell exited kept the agent
    /// waiting with no timeout.
    #[test]
    fn a_background_child_left_by_the_command_does_not_hang_the_count() {
        let started = Instant::now();
        let n = count_command("echo site1; echo site2; sleep 30 &", Duration::from_secs(20)).unwrap();
        assert_eq!(n, 2);
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    fn frappe_sites() -> TempDir {
        let dir = TempDir::new("sites");
        for site in ["a.pregoi.com", "b.pregoi.com", "c.pregoi.com", "assets"] {
            fs::create_dir(dir.path().join(site)).unwrap();
        }
        for file in ["apps.txt", "common_site_config.json", ".build"] {
            fs::write(dir.path().join(file), "x").unwrap();
        }
        dir
    }

    #[test]
    fn directory_counts_entries_with_exclusions() {
        let dir = frappe_sites();
        let method = |only_dirs, exclude: &[&str]| TenantMethod::Directory {
            path: dir.path().to_path_buf(),
            only_dirs,
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
        };
        // Hidden `.build` is always skipped.
        assert_eq!(count(&method(false, &[])).unwrap(), 6);
        assert_eq!(count(&method(true, &[])).unwrap(), 4);
        assert_eq!(count(&method(true, &["assets"])).unwrap(), 3);
        assert_eq!(count(&method(false, &["assets", "apps.txt", "common_site_config.json"])).unwrap(), 3);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let e = count(&TenantMethod::Directory { path: PathBuf::from("/nonexistent/cp-agent/sites"), only_dirs: false, exclude: vec![] }).unwrap_err();
        assert!(e.contains("/nonexistent/cp-agent/sites"), "{e}");
    }
}
