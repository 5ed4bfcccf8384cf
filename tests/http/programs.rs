//! Running the programs at the Worker's edges (the workflow's scripts, the node agent, the
//! linters) the way CI would: in a clean environment, in their own process group, with a time
//! limit, their output kept in files of the Worker's test folder.

use crate::harness::Worker;
use serde_json::json;
use std::fmt;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh folder inside the Worker's own test folder (removed with it).
pub fn scratch(w: &Worker, name: &str) -> PathBuf {
    let dir = w.dir.join(format!("programs-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A finished process: exit code (-1 when killed by a signal), stdout, stderr.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// Runs `cmd` with output to files in `dir`, in its own process group, killed (group and all)
/// after `limit`, so a hanging script fails the case instead of the whole run.
pub fn run_cmd(mut cmd: Command, dir: &Path, tag: &str, limit: Duration) -> Run {
    let (out, err) = (dir.join(format!("{tag}.stdout")), dir.join(format!("{tag}.stderr")));
    cmd.stdin(Stdio::null()).stdout(fs::File::create(&out).unwrap()).stderr(fs::File::create(&err).unwrap()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {tag}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > limit {
            // SAFETY: a plain syscall on the process group this function created.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            let _ = child.wait();
            panic!("{tag} still running after {limit:?}; stderr:\n{}", fs::read_to_string(&err).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { code: status.code().unwrap_or(-1), stdout: fs::read_to_string(&out).unwrap_or_default(), stderr: fs::read_to_string(&err).unwrap_or_default() }
}

/// PATH with `first` in front, when given.
pub fn path_with(first: Option<&Path>) -> String {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
    match first {
        Some(dir) => format!("{}:{path}", dir.display()),
        None => path,
    }
}

/// A clean environment: nothing of the developer's or CI's (GITHUB_OUTPUT, GITHUB_ACTIONS,
/// RUNNER_TEMP, proxies, PULUMI_*) reaches the program under test.
pub fn clean(cmd: &mut Command, path: String) {
    cmd.env_clear().env("PATH", path).env("LANG", "C.UTF-8");
    for var in ["HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
}

pub fn output_lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().filter(|l| !l.trim().is_empty()).collect()
}

/// A plain `sg` node for a program to report on.
pub fn register_node(w: &Worker, id: &str) {
    let r = w.post("/internal/nodes", &json!({"node_id": id, "region": "sg", "host": "10.30.0.1"}));
    assert_eq!(r.status, 201, "{}", r.text);
}
