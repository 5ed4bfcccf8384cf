//! The provisioning workflow, run for real against the running Worker:
//! - its step scripts (`scripts/workflow/provision.sh` runs them in the order of
//!   provision-tenant.yml), with a stub `pulumi` first on PATH for the new-server path;
//! - the stack-name table and the workflow lint, in workflow_lint.rs.
//!
//! Each workflow case inserts its job row as `dispatched` (the enqueue/dispatch pipeline is tested
//! in pipeline.rs); the run takes it with `/start` under its own `GITHUB_RUN_ID`. The run
//! ownership cases are in workflow_runs.rs.

use crate::harness::{repo, Worker, KEY};
use crate::programs::{clean, output_lines, path_with, q, register_node, run_cmd, scratch, Run};
use crate::support::{job, now_ms, JobRow};
use crate::Suite;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn suites() -> Vec<Suite> {
    let mut cases: Vec<crate::Case> = vec![
        ("workflow_target_path_completes_the_job_on_the_node", workflow_target_path),
        ("workflow_create_path_registers_the_new_node", workflow_create_path),
        ("workflow_dedicated_create_uses_the_workers_stack_name", workflow_dedicated_create),
        ("workflow_fails_fast_without_a_target_and_fails_the_job", workflow_fails_fast_without_target),
        ("workflow_unknown_target_fails_the_job_naming_the_node", workflow_unknown_target),
        ("workflow_pulumi_up_failure_fails_the_job_and_registers_nothing", workflow_pulumi_up_fails),
        ("workflow_create_records_the_server_id_and_refuses_a_second_node_on_one_host", workflow_server_id_and_twin_host),
        ("workflow_duplicate_run_of_a_finished_job_does_nothing", workflow_duplicate_run),
        ("stack_names_agree_in_bash_and_in_the_worker", crate::workflow_lint::stack_names_agree),
        ("workflow_lint_is_clean_and_catches_a_broken_workflow", crate::workflow_lint::workflow_lint),
        ("workflow_delivers_the_node_token_over_ssh_or_revokes_it", crate::workflow_tokens::delivers_the_node_token_or_revokes_it),
    ];
    cases.extend(crate::workflow_runs::cases());
    vec![Suite { name: "workflow", vars: vec![], cases }]
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A job as the consumer leaves it after a successful dispatch.
pub struct Job<'a> {
    pub id: &'a str,
    pub tenant: &'a str,
    pub region: &'a str,
    pub target: Option<&'a str>,
    pub dedicated: bool,
    pub stack: &'a str,
    pub trace: &'a str,
}

pub fn insert_dispatched(w: &Worker, j: &Job) {
    let (now, slug) = (now_ms(), slug(j.tenant));
    JobRow {
        status: "dispatched",
        target: j.target,
        dedicated: j.dedicated,
        region: j.region,
        plan_tier: if j.dedicated { "enterprise" } else { "basic" },
        stack: j.stack,
        trace_id: Some(j.trace),
        attempts: 1,
        next_attempt_at: now,
        created_at: now,
        dispatched_at: Some(now),
        ..JobRow::new(j.id, j.tenant, &slug)
    }
    .insert(w);
    assert_eq!(w.count(&format!("SELECT COUNT(*) FROM provision_jobs WHERE job_id = {} AND status = 'dispatched'", q(j.id))), 1);
}

fn slug(tenant: &str) -> String {
    tenant.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// The workflow inputs of a job, as the dispatcher sends them (every value a string).
pub fn inputs(j: &Job, create_new_server: bool) -> Vec<(&'static str, String)> {
    vec![
        ("JOB_ID", j.id.to_string()),
        ("TENANT_ID", j.tenant.to_string()),
        ("REGION", j.region.to_string()),
        ("CREATE_NEW_SERVER", create_new_server.to_string()),
        ("TARGET_SERVER_ID", j.target.unwrap_or("").to_string()),
        ("SUBDOMAIN_SLUG", slug(j.tenant)),
        ("CANONICAL_HOSTNAME", format!("{}.pregoi.com", slug(j.tenant))),
        ("DEDICATED", j.dedicated.to_string()),
        ("TRACE_ID", j.trace.to_string()),
    ]
}

/// A fresh `GITHUB_RUN_ID`, as each workflow run has its own.
pub fn next_run_id() -> String {
    static RUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(7_000_000_001);
    RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst).to_string()
}

/// `bash scripts/workflow/provision.sh` from the repository root against the Worker, as a new
/// run (`GITHUB_RUN_ID`; `extra` may name another).
pub fn provision(w: &Worker, dir: &Path, inputs: &[(&str, String)], extra: &[(&str, String)], pulumi: Option<&Path>) -> Run {
    let mut cmd = Command::new("bash");
    cmd.arg("scripts/workflow/provision.sh").current_dir(repo());
    clean(&mut cmd, path_with(pulumi));
    cmd.env("CONTROL_PLANE_URL", &w.base).env("INTERNAL_API_KEY", KEY).env("CP_RETRY_DELAY", "0").env("GITHUB_RUN_ID", next_run_id());
    for (k, v) in inputs.iter().chain(extra) {
        cmd.env(k, v);
    }
    let run = run_cmd(cmd, dir, "provision", Duration::from_secs(60));
    assert!(!run.stdout.contains(KEY) && !run.stderr.contains(KEY), "the key was printed:\n{run}");
    run
}

/// A stub `pulumi` in `dir/bin`: appends `cwd<TAB>args` to `dir/pulumi.log`, exits 0 and prints
/// `$STUB_IP` (default 203.0.113.10) for `stack output`, `$STUB_SERVER_ID` (default 4242) for the
/// `server_id` output; with `fail_up` it fails `up` the way a quota error would.
pub fn stub_pulumi(dir: &Path, fail_up: bool) -> (PathBuf, PathBuf) {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let log = dir.join("pulumi.log");
    let script = format!(
        "#!/usr/bin/env bash\n\
         printf '%s\\t%s\\n' \"$PWD\" \"$*\" >> '{log}'\n\
         if [[ $1 == up && {fail} == 1 ]]; then echo 'error: hcloud: server limit reached for this project' >&2; exit 255; fi\n\
         if [[ $1 == stack && $2 == output && $3 == server_id ]]; then echo \"${{STUB_SERVER_ID:-4242}}\"; exit 0; fi\n\
         if [[ $1 == stack && $2 == output ]]; then echo \"${{STUB_IP:-203.0.113.10}}\"; fi\n\
         exit 0\n",
        log = log.display(),
        fail = u8::from(fail_up),
    );
    let path = bin.join("pulumi");
    fs::write(&path, script).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    (bin, log)
}

/// The stub's calls: (working directory, argument words).
/// The whole workflow for `j` on the new-server path, with the stub `pulumi` (whose `up` fails
/// when `fail_up`) in a scratch folder called `name`: the run, pulumi's call log, the project.
fn provision_new_server(w: &Worker, j: &Job, name: &str, fail_up: bool) -> (Run, PathBuf, PathBuf) {
    insert_dispatched(w, j);
    let dir = scratch(w, name);
    let (bin, log) = stub_pulumi(&dir, fail_up);
    let infra = pulumi_project(&dir);
    let run = provision(w, &dir, &inputs(j, true), &[("PULUMI_DIR", infra.display().to_string())], Some(&bin));
    (run, log, infra)
}

/// Every pulumi call that names a stack names `stack`.
fn assert_every_stack_is(calls: &[(String, Vec<String>)], stack: &str, what: &str) {
    for (_, a) in calls {
        if let Some(s) = stack_of(a) {
            assert_eq!(s, stack, "{what}: {calls:?}");
        }
    }
}

pub fn pulumi_calls(log: &Path) -> Vec<(String, Vec<String>)> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let (cwd, args) = l.split_once('\t').unwrap();
            (cwd.to_string(), args.split_whitespace().map(str::to_string).collect())
        })
        .collect()
}

/// The value after `--stack` in a call, or (for `stack select --create NAME`) the positional name.
fn stack_of(args: &[String]) -> Option<String> {
    if let Some(i) = args.iter().position(|a| a == "--stack") {
        return args.get(i + 1).cloned();
    }
    if args.len() >= 2 && args[0] == "stack" && args[1] == "select" {
        return args[2..].iter().find(|a| !a.starts_with('-')).cloned();
    }
    None
}

fn starts(args: &[String], prefix: &[&str]) -> bool {
    args.len() >= prefix.len() && args.iter().zip(prefix).all(|(a, p)| a == p)
}

pub fn pulumi_project(dir: &Path) -> PathBuf {
    let infra = dir.join("infra");
    fs::create_dir_all(&infra).unwrap();
    fs::write(infra.join("Pulumi.yaml"), "name: prego-infra\nruntime: nodejs\n").unwrap();
    infra
}

pub fn events(w: &Worker, trace: &str) -> Vec<Value> {
    let r = w.get(&format!("/internal/trace-events?trace_id={trace}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let v = r.json();
    assert_eq!(v["trace_id"], trace);
    v["events"].as_array().unwrap().clone()
}

pub fn names(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap()).collect()
}

fn event<'a>(events: &'a [Value], name: &str) -> &'a Value {
    events.iter().find(|e| e["event"] == name).unwrap_or_else(|| panic!("no {name} event in {:?}", names(events)))
}

fn position(events: &[Value], name: &str) -> usize {
    events.iter().position(|e| e["event"] == name).unwrap_or_else(|| panic!("no {name} event in {:?}", names(events)))
}

/// Every event the workflow posted carries the job and tenant it is about.
fn assert_workflow_events_name_the_job(evs: &[Value], j: &Job) {
    let ours: Vec<&Value> = evs.iter().filter(|e| e["event"].as_str().unwrap().starts_with("workflow.")).collect();
    assert!(!ours.is_empty(), "no workflow events: {:?}", names(evs));
    for e in ours {
        assert_eq!((e["job_id"].as_str(), e["tenant_id"].as_str()), (Some(j.id), Some(j.tenant)), "{e}");
        assert!(e["detail"].is_object(), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// 1. The target (use-existing) path

fn workflow_target_path(w: &mut Worker) {
    let r = w.post("/internal/nodes", &json!({"node_id": "hz-sg-1", "region": "sg", "host": "10.20.0.1"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let j = Job {
        id: "0a1b2c3d-1111-4111-8111-000000000001",
        tenant: "tenant-target",
        region: "sg",
        target: Some("hz-sg-1"),
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_target_path",
    };
    insert_dispatched(w, &j);
    let dir = scratch(w, "target");
    let run = provision(w, &dir, &inputs(&j, false), &[], None);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(output_lines(&run), ["node_id=hz-sg-1", "host=10.20.0.1", "status=succeeded"], "{run}");

    let v = job(w, j.id);
    assert_eq!(v["status"], "succeeded", "{v}");
    assert_eq!(v["node_id"], "hz-sg-1", "{v}");
    assert_eq!(v["last_error"], Value::Null, "{v}");
    assert!(v["completed_at"].is_string(), "{v}");

    let evs = events(w, j.trace);
    let seen = names(&evs);
    for name in ["workflow.started", "workflow.host_resolved", "workflow.completed", "job.succeeded"] {
        assert!(seen.contains(&name), "{name} missing from {seen:?}");
    }
    for bad in ["workflow.invalid_inputs", "workflow.pulumi_up_started", "job.failed"] {
        assert!(!seen.contains(&bad), "{bad} in {seen:?}");
    }
    let resolved = event(&evs, "workflow.host_resolved");
    assert_eq!((resolved["detail"]["node_id"].as_str(), resolved["detail"]["host"].as_str()), (Some("hz-sg-1"), Some("10.20.0.1")), "{resolved}");
    assert_eq!(event(&evs, "workflow.completed")["status"], "succeeded");
    let succeeded = event(&evs, "job.succeeded");
    assert_eq!(succeeded["job_id"], j.id);
    assert_eq!(succeeded["detail"]["node_id"], "hz-sg-1", "{succeeded}");
    assert!(position(&evs, "workflow.started") < position(&evs, "workflow.host_resolved"));
    assert!(position(&evs, "workflow.host_resolved") < position(&evs, "job.succeeded"));
    assert_workflow_events_name_the_job(&evs, &j);

    // A re-run (GitHub's "re-run job") reports the same outcome again: 200, nothing changes.
    let before = w.sql(&format!("SELECT status, node_id, completed_at FROM provision_jobs WHERE job_id = {}", q(j.id)));
    let again = provision(w, &dir, &inputs(&j, false), &[], None);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(before, w.sql(&format!("SELECT status, node_id, completed_at FROM provision_jobs WHERE job_id = {}", q(j.id))));
    let evs = events(w, j.trace);
    assert_eq!(names(&evs).iter().filter(|n| **n == "job.succeeded").count(), 1, "{:?}", names(&evs));
}

// ---------------------------------------------------------------------------------------------
// 2. The create path, shared and dedicated

fn workflow_create_path(w: &mut Worker) {
    let j = Job {
        id: "5e6f7a8b-2222-4222-8222-000000000002",
        tenant: "tenant-create",
        region: "sg",
        target: None,
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_create_path",
    };
    let node = "hz-sg-5e6f7a8b";
    assert_eq!(w.get(&format!("/internal/nodes/{node}")).status, 404);
    insert_dispatched(w, &j);
    let dir = scratch(w, "create");
    let (bin, log) = stub_pulumi(&dir, false);
    let infra = pulumi_project(&dir);
    let token_file = dir.join("node-token");
    let env = [("PULUMI_DIR", infra.display().to_string()), ("NODE_TOKEN_FILE", token_file.display().to_string())];
    let run = provision(w, &dir, &inputs(&j, true), &env, Some(&bin));
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(output_lines(&run), [format!("node_id={node}").as_str(), "host=203.0.113.10", "status=succeeded"], "{run}");

    // The register step issued the new node's push token into a private file, printing nothing
    // of it; the token pushes for this node (and only it).
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    let token = fs::read_to_string(&token_file).unwrap().trim().to_string();
    assert!(token.starts_with(&format!("cpn1.{node}.1.")), "{token}");
    assert!(!run.stdout.contains(&token) && !run.stderr.contains(&token), "the token was printed:\n{run}");
    assert_eq!(crate::tokens::push_as(w, &crate::tokens::bearer(&token), node).status, 200);
    assert_eq!(crate::tokens::push_as(w, &crate::tokens::bearer(&token), "hz-sg-1").status, 403);

    // The new server is a registered node, labelled with what made it.
    let r = w.get(&format!("/internal/nodes/{node}"));
    assert_eq!(r.status, 200, "{}", r.text);
    let n = r.json();
    assert_eq!((n["host"].as_str(), n["region"].as_str(), n["status"].as_str()), (Some("203.0.113.10"), Some("sg"), Some("active")), "{n}");
    assert_eq!(n["labels"]["job_id"], j.id, "{n}");
    assert_eq!(n["labels"]["tenant_id"], j.tenant, "{n}");
    assert_eq!(n["labels"]["stack"], "sg", "{n}");
    assert_eq!(w.count("SELECT COUNT(*) FROM nodes WHERE host = '203.0.113.10'"), 1);

    let v = job(w, j.id);
    assert_eq!((v["status"].as_str(), v["node_id"].as_str()), (Some("succeeded"), Some(node)), "{v}");

    // pulumi ran in the project folder, on the region stack, and was asked for the IP.
    let calls = pulumi_calls(&log);
    let up: Vec<_> = calls.iter().filter(|(_, a)| starts(a, &["up"])).collect();
    assert_eq!(up.len(), 1, "{calls:?}");
    assert_eq!(up[0].0, infra.display().to_string(), "pulumi up ran outside PULUMI_DIR");
    assert_eq!(stack_of(&up[0].1).as_deref(), Some("sg"), "{calls:?}");
    assert!(up[0].1.iter().any(|a| a == "--yes"), "pulumi up must not prompt: {calls:?}");
    assert!(calls.iter().any(|(_, a)| starts(a, &["stack", "select"]) && stack_of(a).as_deref() == Some("sg")), "{calls:?}");
    assert!(calls.iter().any(|(_, a)| starts(a, &["stack", "output"]) && stack_of(a).as_deref() == Some("sg")), "{calls:?}");
    assert!(calls.iter().any(|(_, a)| starts(a, &["config", "set", "region", "sg"])), "{calls:?}");
    // A shared stack never gets one tenant's settings.
    assert!(!calls.iter().any(|(_, a)| a.iter().any(|x| x == "tenant_id")), "{calls:?}");
    assert_every_stack_is(&calls, "sg", "every call on the region stack");

    let evs = events(w, j.trace);
    let seen = names(&evs);
    for name in ["workflow.started", "workflow.pulumi_up_started", "workflow.server_created", "workflow.node_registered", "workflow.completed", "job.succeeded"]
    {
        assert!(seen.contains(&name), "{name} missing from {seen:?}");
    }
    assert!(!seen.contains(&"workflow.host_resolved"), "{seen:?}");
    let created = event(&evs, "workflow.server_created");
    assert_eq!((created["detail"]["host"].as_str(), created["detail"]["stack"].as_str()), (Some("203.0.113.10"), Some("sg")), "{created}");
    assert!(position(&evs, "workflow.server_created") < position(&evs, "workflow.node_registered"));
    assert!(position(&evs, "workflow.node_registered") < position(&evs, "job.succeeded"));
    assert_eq!(event(&evs, "job.succeeded")["detail"]["node_id"], node);
    assert_workflow_events_name_the_job(&evs, &j);
}

fn workflow_dedicated_create(w: &mut Worker) {
    let tenant = "Acme_Corp.42";
    // The Worker's own name for this tenant's stack (what it records on the job).
    let r = w.post("/internal/placement/compute", &json!({"plan_tier": "enterprise", "region": "eu", "tenant_id": tenant}));
    assert_eq!(r.status, 200, "{}", r.text);
    let worker_stack = r.json()["placement"]["pulumi_stack"].as_str().unwrap().to_string();
    assert_eq!(worker_stack, "dedicated-acme-corp-42");

    let j = Job {
        id: "c0ffee12-3333-4333-8333-000000000003",
        tenant,
        region: "eu",
        target: None,
        dedicated: true,
        stack: &worker_stack,
        trace: "trace_edges_dedicated",
    };
    let node = "hz-eu-c0ffee12";
    let (run, log, _) = provision_new_server(w, &j, "dedicated", false);
    assert_eq!(run.code, 0, "{run}");

    let calls = pulumi_calls(&log);
    let up: Vec<_> = calls.iter().filter(|(_, a)| starts(a, &["up"])).collect();
    assert_eq!(up.len(), 1, "{calls:?}");
    assert_eq!(stack_of(&up[0].1).as_deref(), Some(worker_stack.as_str()), "pulumi up on another stack than the Worker named: {calls:?}");
    assert_every_stack_is(&calls, &worker_stack, "every call on the tenant's stack");
    // The tenant's own stack gets the tenant's settings.
    for (key, value) in [
        ("tenant_id", tenant.to_string()),
        ("subdomain_slug", slug(tenant)),
        ("canonical_hostname", format!("{}.pregoi.com", slug(tenant))),
        ("region", "eu".into()),
    ] {
        assert!(calls.iter().any(|(_, a)| starts(a, &["config", "set", key, value.as_str()])), "config {key} = {value} not set: {calls:?}");
    }

    let n = w.get(&format!("/internal/nodes/{node}")).json();
    assert_eq!((n["host"].as_str(), n["region"].as_str()), (Some("203.0.113.10"), Some("eu")), "{n}");
    assert_eq!(n["labels"]["stack"], worker_stack.as_str(), "{n}");
    assert_eq!(n["labels"]["tenant_id"], tenant, "{n}");
    let v = job(w, j.id);
    assert_eq!((v["status"].as_str(), v["node_id"].as_str(), v["dedicated"].as_bool()), (Some("succeeded"), Some(node), Some(true)), "{v}");
}

// ---------------------------------------------------------------------------------------------
// 3, 4. Failures: before anything is done, and in the middle

fn workflow_fails_fast_without_target(w: &mut Worker) {
    let j = Job {
        id: "fa11fa57-4444-4444-8444-000000000004",
        tenant: "tenant-no-target",
        region: "sg",
        target: None,
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_fail_fast",
    };
    insert_dispatched(w, &j);
    let nodes_before = w.sql("SELECT * FROM nodes ORDER BY node_id");
    let dir = scratch(w, "fail-fast");
    let run = provision(w, &dir, &inputs(&j, false), &[], None);
    assert_eq!(run.code, 1, "exit 1 = failed and recorded:\n{run}");
    assert!(!run.stdout.contains("status=succeeded"), "{run}");
    assert!(run.stderr.contains("target_server_id is empty"), "{run}");

    let v = job(w, j.id);
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("target_server_id") && error.contains("empty"), "{v}");
    assert_eq!(v["node_id"], Value::Null, "{v}");
    assert_eq!(nodes_before, w.sql("SELECT * FROM nodes ORDER BY node_id"), "a run that failed fast changed the nodes");

    let evs = events(w, j.trace);
    let seen = names(&evs);
    for name in ["workflow.invalid_inputs", "workflow.completed", "job.failed"] {
        assert!(seen.contains(&name), "{name} missing from {seen:?}");
    }
    for bad in ["workflow.started", "workflow.host_resolved", "job.succeeded"] {
        assert!(!seen.contains(&bad), "{bad} in {seen:?}");
    }
    assert_eq!(event(&evs, "workflow.completed")["status"], "failed");
    assert!(event(&evs, "job.failed")["detail"]["error"].as_str().unwrap_or_default().contains("target_server_id"));
}

fn workflow_unknown_target(w: &mut Worker) {
    let j = Job {
        id: "deadbeef-5555-4555-8555-000000000005",
        tenant: "tenant-ghost-node",
        region: "sg",
        target: Some("hz-sg-404"),
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_unknown_target",
    };
    assert_eq!(w.get("/internal/nodes/hz-sg-404").status, 404);
    insert_dispatched(w, &j);
    let dir = scratch(w, "unknown-target");
    let run = provision(w, &dir, &inputs(&j, false), &[], None);
    assert_eq!(run.code, 1, "{run}");

    let v = job(w, j.id);
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("hz-sg-404") && error.contains("not registered"), "{v}");
    assert_eq!(v["node_id"], Value::Null, "an unresolved node is not reported as the job's node: {v}");

    let evs = events(w, j.trace);
    let seen = names(&evs);
    for name in ["workflow.started", "workflow.completed", "job.failed"] {
        assert!(seen.contains(&name), "{name} missing from {seen:?}");
    }
    assert!(!seen.contains(&"workflow.host_resolved") && !seen.contains(&"job.succeeded"), "{seen:?}");
    assert!(event(&evs, "job.failed")["detail"]["error"].as_str().unwrap_or_default().contains("hz-sg-404"));
    assert_eq!(w.get("/internal/nodes/hz-sg-404").status, 404, "a failed lookup must not register the node");
}

/// Regressions: the register step sends the Hetzner id as a string (once refused by the Worker),
/// and a shared stack's `pulumi up` that hands back an already registered server must not make
/// one machine two nodes.
fn workflow_server_id_and_twin_host(w: &mut Worker) {
    let first = Job {
        id: "0a1b2c3d-7777-4777-8777-000000000007",
        tenant: "tenant-server-id",
        region: "us",
        target: None,
        dedicated: false,
        stack: "us",
        trace: "trace_edges_server_id",
    };
    insert_dispatched(w, &first);
    let dir = scratch(w, "server-id");
    let (bin, _) = stub_pulumi(&dir, false);
    let infra = pulumi_project(&dir).display().to_string();
    let extra = [
        ("PULUMI_DIR", infra.clone()),
        ("PULUMI_SERVER_ID_OUTPUT", "server_id".to_string()),
        ("STUB_IP", "198.51.100.7".to_string()),
        ("STUB_SERVER_ID", "98765".to_string()),
    ];
    let run = provision(w, &dir, &inputs(&first, true), &extra, Some(&bin));
    assert_eq!(run.code, 0, "{run}");
    let n = w.get("/internal/nodes/hz-us-0a1b2c3d").json();
    assert_eq!((n["host"].as_str(), n["provider_server_id"].as_str()), (Some("198.51.100.7"), Some("98765")), "{n}");
    assert_eq!(job(w, first.id)["status"], "succeeded");

    let twin = Job { id: "0a1b2c3e-8888-4888-8888-000000000008", tenant: "tenant-twin", trace: "trace_edges_twin", ..first };
    insert_dispatched(w, &twin);
    let run = provision(w, &dir, &inputs(&twin, true), &extra, Some(&bin));
    assert_eq!(run.code, 1, "{run}");
    let v = job(w, twin.id);
    assert_eq!(v["status"], "failed", "{v}");
    assert!(v["last_error"].as_str().unwrap_or_default().contains("already registered as node hz-us-0a1b2c3d"), "{v}");
    assert_eq!(w.get("/internal/nodes/hz-us-0a1b2c3e").status, 404, "the twin must not be registered");
    assert_eq!(w.count("SELECT COUNT(*) FROM nodes WHERE host = '198.51.100.7'"), 1);
}

/// A second run for a job that already finished (a duplicate dispatch) changes nothing and does
/// not report again: its `/start` is a 409 (`job_finished`) and it stops there.
fn workflow_duplicate_run(w: &mut Worker) {
    register_node(w, "hz-sg-dup");
    let j = Job {
        id: "d0d0d0d0-9999-4999-8999-000000000009",
        tenant: "tenant-duplicate",
        region: "sg",
        target: Some("hz-sg-dup"),
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_duplicate",
    };
    insert_dispatched(w, &j);
    let dir = scratch(w, "duplicate");
    assert_eq!(provision(w, &dir, &inputs(&j, false), &[], None).code, 0);
    let done = job(w, j.id);
    assert_eq!(done["status"], "succeeded", "{done}");

    let run = provision(w, &dir, &inputs(&j, false), &[], None);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("duplicate"), "{run}");
    let again = job(w, j.id);
    assert_eq!((again["status"].clone(), again["completed_at"].clone()), (done["status"].clone(), done["completed_at"].clone()), "{again}");
    let evs = events(w, j.trace);
    let count = |name: &str| names(&evs).iter().filter(|n| **n == name).count();
    assert_eq!(
        (count("workflow.duplicate_run"), count("workflow.completed"), count("job.succeeded"), count("workflow.host_resolved")),
        (1, 1, 1, 1),
        "{:?}",
        names(&evs)
    );
}

fn workflow_pulumi_up_fails(w: &mut Worker) {
    let j = Job {
        id: "bad0c0de-6666-4666-8666-000000000006",
        tenant: "tenant-quota",
        region: "us",
        target: None,
        dedicated: false,
        stack: "us",
        trace: "trace_edges_pulumi_fails",
    };
    let node = "hz-us-bad0c0de";
    let (run, log, _) = provision_new_server(w, &j, "pulumi-fails", true);
    assert_eq!(run.code, 1, "{run}");
    assert!(run.stderr.contains("server limit reached"), "pulumi's own error must reach the log:\n{run}");

    let v = job(w, j.id);
    assert_eq!(v["status"], "failed", "{v}");
    let error = v["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("pulumi up failed") && error.contains("us"), "{v}");
    assert_eq!(v["node_id"], Value::Null, "{v}");
    assert_eq!(w.get(&format!("/internal/nodes/{node}")).status, 404, "no server, no node");

    let calls = pulumi_calls(&log);
    assert!(calls.iter().any(|(_, a)| starts(a, &["up"])), "{calls:?}");
    assert!(!calls.iter().any(|(_, a)| starts(a, &["stack", "output"])), "outputs read after a failed up: {calls:?}");

    let evs = events(w, j.trace);
    let seen = names(&evs);
    for name in ["workflow.pulumi_up_started", "workflow.completed", "job.failed"] {
        assert!(seen.contains(&name), "{name} missing from {seen:?}");
    }
    for bad in ["workflow.server_created", "workflow.node_registered", "job.succeeded"] {
        assert!(!seen.contains(&bad), "{bad} in {seen:?}");
    }
}
