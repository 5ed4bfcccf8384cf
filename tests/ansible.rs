//! The cp_agent Ansible role (deploy/ansible/) run for real: linted, syntax-checked, and applied
//! with `ansible_connection=local` into a temporary root (the role's `cp_agent_root`), whose
//! result is checked file by file; a second run must change nothing, and `cp_agent_state=absent`
//! must leave the root as it was. The host has no running systemd, so the role runs with
//! `cp_agent_systemd_live=false`: "enabled" is the timers.target.wants link `systemctl enable`
//! would make. Ansible comes from scripts/setup.sh (a pinned venv outside the clone).

#[path = "shared/agent_bin.rs"]
mod agent_bin;

use agent_bin::agent_bin;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const CREDENTIAL: &str = "cpn_test-credential-value-5f3a9c";
const VAULT_PASSWORD: &str = "test-vault-password";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn venv_bin() -> PathBuf {
    let tools = std::env::var_os("CP_TOOLS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/cp-tools"));
    let bin = tools.join("ansible-venv/bin");
    assert!(bin.join("ansible-playbook").exists(), "no Ansible in {}: run bash scripts/setup.sh", bin.display());
    bin
}

/// A command from the venv, with the venv first on PATH and Ansible's own state kept in `home`.
fn ansible(tool: &str, home: &Path) -> Command {
    let bin = venv_bin();
    let mut cmd = Command::new(bin.join(tool));
    cmd.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
        .env("ANSIBLE_HOME", home.join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", home.join(".ansible/tmp"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env("NO_COLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "0")
        .stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command) -> (bool, String) {
    let Output { status, stdout, stderr } = cmd.output().expect("run an Ansible tool");
    let text = format!("{}\n--- stderr\n{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    assert!(!text.contains(CREDENTIAL), "the credential was printed:\n{text}");
    (status.success(), text)
}

/// A fresh temporary folder, removed by the OS's tmp cleaning at worst; each test its own.
fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cp-ansible-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The example playbook against this host, with the test's variables: a root under `dir`, the
/// freshly built agent, and the credential from a Vault-encrypted vars file.
struct Setup {
    dir: PathBuf,
    root: PathBuf,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir = temp(name);
        let root = dir.join("root");
        // What a node already has; the role must neither need more nor remove these.
        for d in ["usr/local/bin", "etc/systemd/system/timers.target.wants"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::create_dir_all(dir.join("sites/alpha.example")).unwrap();
        fs::write(
            dir.join("inventory.ini"),
            format!("[tenant_nodes]\ntestnode ansible_connection=local ansible_become=false ansible_python_interpreter={}\n", python3()),
        )
        .unwrap();
        let vars = serde_json::json!({
            "cp_agent_root": root,
            "cp_agent_binary_src": agent_bin(),
            "cp_agent_control_plane_url": "http://127.0.0.1:9",
            "cp_agent_node_id": "hz-test-01",
            "cp_agent_tenant_dir": dir.join("sites"),
            "cp_agent_cpu_sample_ms": 100,
            "cp_agent_systemd_live": false,
            "cp_agent_conf_extra": {"max_attempts": 1, "timeout_ms": 2000},
        });
        fs::write(dir.join("vars.json"), vars.to_string()).unwrap();
        fs::write(dir.join("vault-password"), VAULT_PASSWORD).unwrap();
        fs::write(dir.join("secret.yml"), format!("cp_agent_credential: {CREDENTIAL}\n")).unwrap();
        let mut enc = ansible("ansible-vault", &dir);
        enc.args(["encrypt", "--vault-password-file"]).arg(dir.join("vault-password")).arg(dir.join("secret.yml"));
        let (ok, out) = run(enc);
        assert!(ok, "ansible-vault encrypt failed:\n{out}");
        assert!(fs::read_to_string(dir.join("secret.yml")).unwrap().starts_with("$ANSIBLE_VAULT;"));
        Setup { dir, root }
    }

    /// Runs the playbook with extra `-e` arguments; returns (success, output).
    fn playbook(&self, extra: &[&str]) -> (bool, String) {
        let mut cmd = ansible("ansible-playbook", &self.dir);
        cmd.current_dir(repo().join("deploy/ansible"))
            .arg("-i")
            .arg(self.dir.join("inventory.ini"))
            .arg("cp-agent.yml")
            .arg("--vault-password-file")
            .arg(self.dir.join("vault-password"))
            .arg("-e")
            .arg(format!("@{}", self.dir.join("vars.json").display()))
            .arg("-e")
            .arg(format!("@{}", self.dir.join("secret.yml").display()))
            // --diff prints what each task changes: a credential task without no_log would show it.
            .args(["-v", "--diff"]);
        for e in extra {
            cmd.args(["-e", e]);
        }
        run(cmd)
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    /// Every path under the root with its type, mode, owner and group.
    fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        let m = fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let kind = if m.file_type().is_symlink() {
            "link"
        } else if m.is_dir() {
            "dir"
        } else {
            "file"
        };
        out.push(format!("{kind} {:o} {}:{} {rel}", m.permissions().mode() & 0o7777, m.uid(), m.gid()));
        if m.is_dir() && !m.file_type().is_symlink() {
            walk(root, &p, out);
        }
    }
}

fn python3() -> String {
    let out = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `changed=N` of the play recap.
fn changed(output: &str) -> u32 {
    let recap = output.lines().find(|l| l.starts_with("testnode") && l.contains("changed=")).unwrap_or_else(|| panic!("no play recap:\n{output}"));
    recap.split("changed=").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
}

/// (mode, uid, gid) of a path, not following a link.
fn stat(p: &Path) -> (u32, u32, u32) {
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.permissions().mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn role_is_lint_clean_and_its_playbook_parses() {
    let home = temp("lint");
    // A copy, so the linter's cache folder is not left in the clone.
    let copy = home.join("ansible");
    let status = Command::new("cp").arg("-a").arg(repo().join("deploy/ansible")).arg(&copy).status().unwrap();
    assert!(status.success());
    let mut lint = ansible("ansible-lint", &home);
    lint.current_dir(&copy).args(["--offline", "--profile", "production", "--strict"]);
    let (ok, out) = run(lint);
    assert!(ok, "ansible-lint found problems:\n{out}");
    assert!(out.contains("Passed: 0 failure(s), 0 warning(s)"), "{out}");

    let mut syntax = ansible("ansible-playbook", &home);
    syntax.current_dir(&copy).args(["--syntax-check", "-i", "inventory.example.ini", "cp-agent.yml"]);
    let (ok, out) = run(syntax);
    assert!(ok, "syntax check failed:\n{out}");
    let _ = fs::remove_dir_all(&home);
}

#[test]
fn role_installs_the_agent_once_and_removes_it_all() {
    let s = Setup::new("apply");
    let before = s.tree();

    let (ok, first) = s.playbook(&[]);
    assert!(ok, "first run failed:\n{first}");
    assert!(changed(&first) > 0, "{first}");

    // File by file: owner root, the modes the agent requires.
    let root_owned = |p: &str, mode: u32| assert_eq!(stat(&s.path(p)), (mode, 0, 0), "{p}");
    root_owned("/usr/local/bin/cp-agent", 0o755);
    root_owned("/etc/cp-agent", 0o700);
    root_owned("/etc/cp-agent/node-token", 0o600);
    root_owned("/etc/cp-agent/agent.conf", 0o600);
    root_owned("/etc/systemd/system/cp-agent.service", 0o644);
    root_owned("/etc/systemd/system/cp-agent.timer", 0o644);
    assert_eq!(fs::read(s.path("/usr/local/bin/cp-agent")).unwrap(), fs::read(agent_bin()).unwrap());
    assert_eq!(fs::read_to_string(s.path("/etc/cp-agent/node-token")).unwrap(), format!("{CREDENTIAL}\n"), "the vaulted value, decrypted");
    // The units are the ones agent/ ships, byte for byte (the default paths need no change).
    for unit in ["cp-agent.service", "cp-agent.timer"] {
        assert_eq!(
            fs::read_to_string(s.path(&format!("/etc/systemd/system/{unit}"))).unwrap(),
            fs::read_to_string(repo().join("agent/systemd").join(unit)).unwrap()
        );
    }
    // Enabled: the link `systemctl enable cp-agent.timer` makes, to the node's own path.
    let link = s.path("/etc/systemd/system/timers.target.wants/cp-agent.timer");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), PathBuf::from("/etc/systemd/system/cp-agent.timer"));

    let conf = fs::read_to_string(s.path("/etc/cp-agent/agent.conf")).unwrap();
    let sites = format!("tenant_dir = {}", s.dir.join("sites").display());
    for line in [
        "control_plane_url = http://127.0.0.1:9",
        "node_id = hz-test-01",
        "token_file = /etc/cp-agent/node-token",
        "tenant_method = directory",
        &sites,
        "max_attempts = 1",
        "timeout_ms = 2000",
    ] {
        assert!(conf.lines().any(|l| l == line), "agent.conf lacks {line:?}:\n{conf}");
    }
    assert!(!conf.contains(CREDENTIAL), "agent.conf holds the credential itself");

    // The agent accepts what the role wrote: config, key file mode, tenant dir (a dry run
    // measures and checks everything, and sends nothing).
    let out = Command::new(s.path("/usr/local/bin/cp-agent"))
        .args(["--dry-run", "--config"])
        .arg(s.path("/etc/cp-agent/agent.conf"))
        .env("CP_AGENT_TOKEN_FILE", s.path("/etc/cp-agent/node-token"))
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "cp-agent --dry-run refused the installed config: {line} {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!((report["status"].as_str(), report["node_id"].as_str(), report["tenant_count"].as_i64()), (Some("dry_run"), Some("hz-test-01"), Some(1)));

    // A second run changes nothing.
    let (ok, second) = s.playbook(&[]);
    assert!(ok, "second run failed:\n{second}");
    assert_eq!(changed(&second), 0, "the second run changed something:\n{second}");

    // The credential from a file on the controller instead of Vault: the same file, no change.
    let src = s.dir.join("credential");
    fs::write(&src, format!("{CREDENTIAL}\n")).unwrap();
    let (ok, from_file) = s.playbook(&["cp_agent_credential=", &format!("cp_agent_credential_src={}", src.display())]);
    assert!(ok, "run with cp_agent_credential_src failed:\n{from_file}");
    assert_eq!(changed(&from_file), 0, "{from_file}");

    // absent removes everything it installed, and only that; twice is no change.
    let (ok, absent) = s.playbook(&["cp_agent_state=absent"]);
    assert!(ok, "absent run failed:\n{absent}");
    assert!(changed(&absent) > 0);
    assert_eq!(s.tree(), before, "absent left something behind or removed the node's own folders");
    let (ok, again) = s.playbook(&["cp_agent_state=absent"]);
    assert!(ok, "{again}");
    assert_eq!(changed(&again), 0, "{again}");
}

#[test]
fn role_refuses_incomplete_settings_before_installing_anything() {
    let s = Setup::new("refuse");
    let before = s.tree();
    let src = s.dir.join("credential");
    fs::write(&src, "other\n").unwrap();
    // Two credential sources at once, and a node_id the control plane would refuse.
    for (extra, why) in
        [(format!("cp_agent_credential_src={}", src.display()), "two credential sources"), ("cp_agent_node_id=bad/id".to_string(), "bad node_id")]
    {
        let (ok, out) = s.playbook(&[&extra]);
        assert!(!ok, "{why}: the run succeeded:\n{out}");
        assert!(out.contains("cp_agent needs cp_agent_control_plane_url"), "{why}: no clear message:\n{out}");
        assert_eq!(s.tree(), before, "{why}: something was installed");
    }
}
