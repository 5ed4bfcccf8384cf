//! The `cp-agent` binary for the tests that run it (the agent suite and the Ansible role),
//! built once per test process.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// Builds `cp-agent` once; cargo's JSON messages say where the binary is, whatever the target
/// directory.
pub fn agent_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(env!("CARGO"))
            .args(["build", "-p", "cp-agent", "--bin", "cp-agent", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .output()
            .expect("run cargo build -p cp-agent");
        assert!(out.status.success(), "building cp-agent failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "cp-agent")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("cargo named no cp-agent executable")
    })
    .clone()
}
