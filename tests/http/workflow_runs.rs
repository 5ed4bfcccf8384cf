//! Run ownership as the workflow lives it (SPEC Part 2, `/start`): the first run to start a job
//! owns it, a second run for the same job stops at `/start` without provisioning or reporting,
//! `/complete` carries the run id, and a control plane that is down at `/start` fails the run
//! before anything is provisioned. The cases run in the workflow suite's Worker.

use crate::harness::{Worker, KEY};
use crate::programs::{q, register_node, scratch};
use crate::support::{free_port_url, job};
use crate::workflow::{events, inputs, insert_dispatched, names, next_run_id, provision, pulumi_calls, pulumi_project, stub_pulumi, Job};
use crate::Case;

pub fn cases() -> Vec<Case> {
    vec![
        ("workflow_second_run_of_a_running_job_stops_at_start", second_run_of_a_running_job),
        ("workflow_control_plane_down_at_start_fails_the_run_without_provisioning", control_plane_down_at_start),
    ]
}

/// Two runs for one job (a duplicate dispatch): the first owns it; the second, started while the
/// first is still working, stops at `/start` with nothing provisioned and nothing reported; the
/// first run's `/complete` names it and succeeds.
fn second_run_of_a_running_job(w: &mut Worker) {
    register_node(w, "hz-sg-own");
    let j = Job {
        id: "0a0a0a0a-7777-4777-8777-000000000007",
        tenant: "tenant-owned",
        region: "sg",
        target: Some("hz-sg-own"),
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_owned",
    };
    insert_dispatched(w, &j);
    // The first run takes the job as its first step would.
    let first = next_run_id();
    let r = w.post(&format!("/internal/provision-jobs/{}/start", j.id), &serde_json::json!({"run_id": first, "run_attempt": 1}));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.json()["status"].clone(), r.json()["workflow_run_id"].clone()), ("running".into(), first.clone().into()));
    let before = w.sql(&format!("SELECT * FROM provision_jobs WHERE job_id = {}", q(j.id)));

    // The second run (its own GITHUB_RUN_ID) does nothing.
    let dir = scratch(w, "owned");
    let run = provision(w, &dir, &inputs(&j, false), &[], None);
    assert_eq!(run.code, 0, "{run}");
    assert!(run.stderr.contains("duplicate"), "{run}");
    assert_eq!(before, w.sql(&format!("SELECT * FROM provision_jobs WHERE job_id = {}", q(j.id))), "the second run changed the job");
    let evs = events(w, j.trace);
    let count = |name: &str| names(&evs).iter().filter(|n| **n == name).count();
    assert_eq!((count("workflow.duplicate_run"), count("workflow.host_resolved"), count("workflow.completed")), (1, 0, 0), "{:?}", names(&evs));
    let dup = evs.iter().find(|e| e["event"] == "workflow.duplicate_run").unwrap();
    assert_eq!(dup["detail"]["code"], "job_owned_by_other_run", "{dup}");

    // The owner finishes: its own run id on /complete.
    let dir = scratch(w, "owned-first");
    let run = provision(w, &dir, &inputs(&j, false), &[("GITHUB_RUN_ID", first.clone())], None);
    assert_eq!(run.code, 0, "{run}");
    let done = job(w, j.id);
    assert_eq!(
        (done["status"].clone(), done["workflow_run_id"].clone(), done["node_id"].clone()),
        ("succeeded".into(), first.into(), "hz-sg-own".into()),
        "{done}"
    );
}

/// The control plane cannot be reached at `/start`: the run fails, pulumi never runs, the job
/// is untouched (the reconcile or an operator deals with it).
fn control_plane_down_at_start(w: &mut Worker) {
    let j = Job {
        id: "0b0b0b0b-8888-4888-8888-000000000008",
        tenant: "tenant-cp-down",
        region: "sg",
        target: None,
        dedicated: false,
        stack: "sg",
        trace: "trace_edges_cp_down",
    };
    insert_dispatched(w, &j);
    let before = w.sql(&format!("SELECT * FROM provision_jobs WHERE job_id = {}", q(j.id)));
    let dir = scratch(w, "cp-down");
    let (bin, log) = stub_pulumi(&dir, false);
    let infra = pulumi_project(&dir);
    let extra = [("PULUMI_DIR", infra.display().to_string()), ("CONTROL_PLANE_URL", free_port_url()), ("CP_MAX_ATTEMPTS", "2".into())];
    let run = provision(w, &dir, &inputs(&j, true), &extra, Some(&bin));
    assert_ne!(run.code, 0, "{run}");
    assert!(run.stderr.contains("could not start job"), "{run}");
    assert!(!run.stderr.contains(KEY) && !run.stdout.contains(KEY));
    assert_eq!(pulumi_calls(&log), Vec::<(String, Vec<String>)>::new(), "pulumi ran without the job");
    assert_eq!(before, w.sql(&format!("SELECT * FROM provision_jobs WHERE job_id = {}", q(j.id))), "the job changed");
}
