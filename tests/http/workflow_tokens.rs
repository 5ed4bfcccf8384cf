//! The provisioning workflow's token steps, run for real against the Worker: register-node.sh
//! issues the new node's push token into a private file, install-node-token.sh sends it to the
//! server over SSH (a recording `ssh` stands in for the server) or, when it cannot, revokes it.

use crate::harness::{repo, Worker, KEY};
use crate::programs::{clean, path_with, run_cmd, scratch, Run};
use crate::tokens::{bearer, push_as};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn step(w: &Worker, dir: &Path, script: &str, env: &[(&str, String)]) -> Run {
    let mut cmd = Command::new("bash");
    cmd.arg(format!("scripts/workflow/{script}")).current_dir(repo());
    clean(&mut cmd, path_with(None));
    cmd.env("CONTROL_PLANE_URL", &w.base).env("INTERNAL_API_KEY", KEY).env("CP_RETRY_DELAY", "0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_cmd(cmd, dir, script, Duration::from_secs(60))
}

/// Registers `node` with a token issued into `dir/node-token`; returns the token.
fn register_with_token(w: &Worker, dir: &Path, node: &str, host: &str) -> String {
    let file = dir.join("node-token");
    let env = [("NODE_ID", node.to_string()), ("REGION", "sg".into()), ("HOST", host.into()), ("NODE_TOKEN_FILE", file.display().to_string())];
    let run = step(w, dir, "register-node.sh", &env);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stdout.contains("token_version=1"), "{run}");
    let token = fs::read_to_string(&file).unwrap().trim().to_string();
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token), "the token was printed:\n{run}");
    token
}

/// An `ssh` that records its arguments and stdin, then exits with `code`.
fn fake_ssh(dir: &Path, code: i32) -> String {
    let path = dir.join("ssh");
    let script =
        format!("#!/bin/sh\necho call >> '{d}/ssh.calls'\nprintf '%s\\n' \"$@\" > '{d}/ssh.args'\ncat > '{d}/ssh.stdin'\nexit {code}\n", d = dir.display());
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

pub fn delivers_the_node_token_or_revokes_it(w: &mut Worker) {
    // Delivered: the token goes on ssh's stdin, never its command line, and the runner's copy goes.
    let dir = scratch(w, "token-ssh");
    let token = register_with_token(w, &dir, "hz-sg-tok-1", "203.0.113.41");
    let file = dir.join("node-token");
    let base = |ssh: String| {
        vec![
            ("NODE_ID", "hz-sg-tok-1".to_string()),
            ("HOST", "203.0.113.41".to_string()),
            ("NODE_TOKEN_FILE", file.display().to_string()),
            ("NODE_SSH_PRIVATE_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n-----END OPENSSH PRIVATE KEY-----".to_string()),
            ("SSH", ssh),
        ]
    };
    let run = step(w, &dir, "install-node-token.sh", &base(fake_ssh(&dir, 0)));
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(fs::read_to_string(dir.join("ssh.stdin")).unwrap().trim(), token);
    let args = fs::read_to_string(dir.join("ssh.args")).unwrap();
    assert!(args.contains("root@203.0.113.41") && args.contains("/etc/cp-agent/node-token"), "{args}");
    assert!(args.contains("BatchMode=yes") && !args.contains(&token), "{args}");
    assert!(!file.exists(), "the runner's copy of the token is left behind");
    assert!(!run.stderr.contains(&token), "{run}");
    assert_eq!(push_as(w, &bearer(&token), "hz-sg-tok-1").status, 200, "the delivered token works");

    // ssh fails: exit 1, the undelivered token is revoked.
    let dir = scratch(w, "token-ssh-fails");
    let token = register_with_token(w, &dir, "hz-sg-tok-2", "203.0.113.42");
    let file = dir.join("node-token");
    let mut env = base(fake_ssh(&dir, 255));
    env[0].1 = "hz-sg-tok-2".into();
    env[1].1 = "203.0.113.42".into();
    env[2].1 = file.display().to_string();
    env.push(("NODE_SSH_ATTEMPTS", "3".into()));
    env.push(("NODE_SSH_RETRY_DELAY", "0".into()));
    let run = step(w, &dir, "install-node-token.sh", &env);
    assert_eq!(run.code, 1, "{run}");
    assert_eq!(fs::read_to_string(dir.join("ssh.calls")).unwrap().lines().count(), 3, "a fresh server's sshd gets retries");
    assert!(run.stderr.contains("revoked"), "{run}");
    assert!(!file.exists());
    assert_eq!(push_as(w, &bearer(&token), "hz-sg-tok-2").status, 401, "an undelivered token stays live");

    // No SSH key configured: a warning, exit 0, and the token is revoked.
    let dir = scratch(w, "token-no-key");
    let token = register_with_token(w, &dir, "hz-sg-tok-3", "203.0.113.43");
    let file = dir.join("node-token");
    let env = [("NODE_ID", "hz-sg-tok-3".to_string()), ("HOST", "203.0.113.43".to_string()), ("NODE_TOKEN_FILE", file.display().to_string())];
    let run = step(w, &dir, "install-node-token.sh", &env);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("NODE_SSH_PRIVATE_KEY is not set") && run.stderr.contains("by hand"), "{run}");
    assert_eq!(push_as(w, &bearer(&token), "hz-sg-tok-3").status, 401);
    let r = w.get("/internal/nodes/hz-sg-tok-3");
    assert_eq!(r.status, 200, "the node stays registered: {}", r.text);
}
