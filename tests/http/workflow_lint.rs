//! The workflow suite's static checks against the running Worker: the stack-name table shared by
//! the bash port and the Rust core (and the Worker's answer), and the workflow lint (a current
//! actionlint with shellcheck, plus the stack-name table).

use crate::harness::{repo, Worker};
use crate::programs::{clean, path_with, run_cmd, scratch};
use serde_json::json;
use std::fs;
use std::process::Command;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Stack names: bash vs the table vs the running Worker

pub fn stack_names_agree(w: &mut Worker) {
    let table = repo().join("tests/fixtures/stack_names.tsv");
    let rows: Vec<(String, String)> = fs::read_to_string(&table)
        .unwrap()
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (t, e) = l.split_once('\t').unwrap_or_else(|| panic!("no tab in {l:?}"));
            (t.to_string(), e.to_string())
        })
        .collect();
    assert!(rows.len() >= 20, "the table lost its cases: {}", rows.len());

    let dir = scratch(w, "stack-names");
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/workflow/test-stack-names.sh").current_dir(repo());
    clean(&mut cmd, path_with(None));
    let run = run_cmd(cmd, &dir, "stack-names", Duration::from_secs(60));
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(run.stdout.trim(), format!("{} passed, 0 failed", rows.len()), "every row must be checked:\n{run}");

    // The deployed Worker names the dedicated stack the same way (400 when it cannot).
    for (tenant, expected) in &rows {
        let r = w.post("/internal/placement/compute", &json!({"plan_tier": "enterprise", "tenant_id": tenant}));
        if expected == "EMPTY" {
            assert_eq!((r.status, r.json()["error"]["field"].as_str()), (400, Some("tenant_id")), "{tenant:?}: {}", r.text);
        } else {
            assert_eq!(r.status, 200, "{tenant:?}: {}", r.text);
            assert_eq!(r.json()["placement"]["pulumi_stack"], format!("dedicated-{expected}"), "{tenant:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The workflow lint

/// A hang guard, not a speed check: actionlint is a WASM build under node, and on a loaded
/// two-core machine it has needed more than a minute (measured: the 60 s guard fired while the
/// agent case beside it took 256 s).
const LINT_LIMIT: Duration = Duration::from_secs(300);

pub fn workflow_lint(w: &mut Worker) {
    let dir = scratch(w, "lint");
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/lint-workflows.sh").current_dir(repo());
    clean(&mut cmd, path_with(None));
    let run = run_cmd(cmd, &dir, "lint", LINT_LIMIT);
    assert_eq!(run.code, 0, "{run}");
    let all = format!("{}\n{}", run.stdout, run.stderr);
    let summary = all.lines().find(|l| l.starts_with("actionlint: ")).unwrap_or_else(|| panic!("no actionlint summary:\n{run}"));
    let files: u32 = summary["actionlint: ".len()..].split_whitespace().next().unwrap().parse().unwrap();
    assert!(files >= 1, "{summary}");
    assert!(summary.contains(", 0 problems"), "{summary}");
    assert!(all.contains(" 0 failed"), "the stack-name table ran clean:\n{run}");

    // The linter is live: a copy of the provisioning workflow with an input spliced into shell
    // text and a reference to an undefined step fails it.
    let good = fs::read_to_string(repo().join(".github/workflows/provision-tenant.yml")).unwrap();
    let anchor = "        run: bash scripts/workflow/validate-inputs.sh";
    assert!(good.contains(anchor), "the workflow changed shape; update this check");
    let bad = good.replacen(anchor, "        run: echo ${{ inputs.job_id }} && bash scripts/workflow/validate-inputs.sh", 1).replacen(
        "if: steps.validate.outputs.create_new_server == 'false'",
        "if: steps.no_such_step.outputs.create_new_server == 'false'",
        1,
    );
    // A node20 action (the runtime GitHub removes) and a shell bug that only shellcheck sees.
    let (pin, start) = ("actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "        run: bash scripts/workflow/start-job.sh");
    assert!(bad.contains(pin) && bad.contains(start), "the workflow changed shape; update this check");
    let bad = bad.replacen(pin, "actions/checkout@v4", 1).replacen(start, "        run: cd $RUNNER_TEMP && bash scripts/workflow/start-job.sh", 1);
    let file = dir.join("broken-provision.yml");
    fs::write(&file, bad).unwrap();
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/actionlint.sh").arg(&file).current_dir(repo());
    clean(&mut cmd, path_with(None));
    let broken = run_cmd(cmd, &dir, "lint-broken", LINT_LIMIT);
    assert_eq!(broken.code, 1, "{broken}");
    let all = format!("{}\n{}", broken.stdout, broken.stderr);
    assert!(all.contains("[injection]"), "{broken}");
    assert!(all.contains("no_such_step"), "{broken}");
    assert!(all.contains("\"node20\" is deprecated") && all.contains("actions/checkout@v4"), "a current actionlint flags node20: {broken}");
    assert!(all.contains("SC2086"), "shellcheck ran on the run: blocks: {broken}");
    assert!(!all.contains(", 0 problems"), "{broken}");
}
