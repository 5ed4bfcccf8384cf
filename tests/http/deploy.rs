//! The deploy path, verified offline: `wrangler deploy --dry-run` on the production
//! `wrangler.toml` (its bindings, queues, dead-letter queue and cron, and the built Worker), so a
//! broken deploy config fails the tests rather than the first release. Also checks that the same
//! command refuses a config that is broken, so this case cannot pass by accident.

use crate::harness::{quiet, repo, Worker};
use crate::Suite;
use std::path::Path;
use std::process::Command;

pub fn suites() -> Vec<Suite> {
    vec![Suite {
        name: "deploy",
        vars: vec![],
        cases: vec![("wrangler_deploy_dry_run_accepts_the_production_config", wrangler_deploy_dry_run_accepts_the_production_config)],
    }]
}

/// Runs `wrangler deploy --dry-run` on `config` from `dir`; the Worker is already built (the
/// harness built it before starting this suite's Worker), so the `[build]` step returns at once.
fn dry_run(dir: &Path, config: &Path, out_dir: &Path) -> (bool, String) {
    let out = quiet(&mut Command::new("wrangler"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(out_dir)
        .arg("--config")
        .arg(config)
        .current_dir(dir)
        .env("CP_SKIP_BUILD", "1")
        .output()
        .expect("run wrangler deploy --dry-run");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn wrangler_deploy_dry_run_accepts_the_production_config(w: &mut Worker) {
    let out_dir = w.dir.join("deploy-out");
    let (ok, out) = dry_run(&repo(), &repo().join("wrangler.toml"), &out_dir);
    assert!(ok, "wrangler deploy --dry-run refused the production config:\n{out}");
    assert!(out.contains("--dry-run: exiting now."), "{out}");
    // wrangler only warns about unknown or misspelt fields (a `dead_letter_queue` typo among them):
    // the production config must have none.
    assert!(!out.contains("WARNING") && !out.contains("ERROR"), "the production config must deploy without warnings:\n{out}");
    // Every binding the Worker reads is in the deploy: D1, the queue producer, the vars.
    for binding in ["env.DB (control-plane)", "env.PROVISION_QUEUE (provision-jobs)", "env.ENVIRONMENT (\"production\")", "env.DEFAULT_REGION (\"sg\")"] {
        assert!(out.contains(binding), "the dry run lacks the binding {binding}:\n{out}");
    }
    let bundle: Vec<String> = std::fs::read_dir(&out_dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(bundle.iter().any(|f| f == "index.js") && bundle.iter().any(|f| f.ends_with(".wasm")), "bundle: {bundle:?}");

    // The same command fails on a broken config: a consumer that names no queue.
    let broken_dir = w.dir.join("broken-config");
    std::fs::create_dir_all(&broken_dir).unwrap();
    let config = std::fs::read_to_string(repo().join("wrangler.toml")).unwrap();
    // Paths made absolute, so the copy outside the repository means the same Worker.
    let r = repo().display().to_string();
    let absolute = config
        .replacen("main = \"build/index.js\"", &format!("main = \"{r}/build/index.js\""), 1)
        .replacen("command = \"bash scripts/build.sh\"", &format!("command = \"bash {r}/scripts/build.sh\""), 1)
        .replacen("migrations_dir = \"migrations\"", &format!("migrations_dir = \"{r}/migrations\""), 1);
    let copy = broken_dir.join("wrangler.toml");
    std::fs::write(&copy, &absolute).unwrap();
    let (ok, out) = dry_run(&broken_dir, &copy, &broken_dir.join("out-ok"));
    assert!(ok, "the control copy must deploy:\n{out}");
    // A consumer that names no queue, and a cron that is not a list: both refused.
    for (what, broken) in [
        ("a consumer without a queue", absolute.replacen("\nqueue = \"provision-jobs-dlq\"\n", "\n", 1)),
        ("a cron that is not a list", absolute.replacen("crons = [\"*/5 * * * *\"]", "crons = \"*/5 * * * *\"", 1)),
    ] {
        assert_ne!(broken, absolute, "the breakage must apply: {what}");
        std::fs::write(&copy, broken).unwrap();
        let (ok, out) = dry_run(&broken_dir, &copy, &broken_dir.join("out-broken"));
        assert!(!ok && out.contains("ERROR"), "{what} was accepted:\n{out}");
    }
}
