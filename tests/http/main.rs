//! HTTP-level tests against the real Worker under `wrangler dev` (workerd, local D1, local
//! Queues). A custom runner (harness = false) so that each group of cases shares one running
//! Worker, which is always stopped, process group and all, also when a case fails.
//!
//! `cargo test --test http -- NAME` runs only the cases whose `suite::case` name contains NAME.

mod agent;
#[path = "../shared/agent_bin.rs"]
mod agent_bin;
mod contract;
mod deadline;
mod deploy;
mod fake_github;
mod fake_hetzner;
mod foundation;
mod harness;
mod holds;
mod hostile;
mod hostile_bodies;
mod hostile_table;
mod hostile_tokens;
mod lifecycle;
mod load;
mod pipeline;
mod placement;
mod programs;
mod prometheus;
mod schema_doc;
mod schema_gen;
mod sidecar;
mod support;
mod tokens;
mod ui;
mod workflow;
mod workflow_lint;
mod workflow_runs;
mod workflow_tokens;

use harness::Worker;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

pub type Case = (&'static str, fn(&mut Worker));

/// Cases that share one Worker started with `vars`.
pub struct Suite {
    pub name: &'static str,
    /// `--var`s for this Worker (a suite may compute them, e.g. the URL of its fake GitHub).
    pub vars: Vec<(&'static str, String)>,
    pub cases: Vec<Case>,
}

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()));
    let all = [
        foundation::suites(),
        placement::suites(),
        holds::suites(),
        pipeline::suites(),
        workflow::suites(),
        agent::suites(),
        hostile::suites(),
        load::suites(),
        contract::suites(),
        prometheus::suites(),
        ui::suites(),
        deploy::suites(),
        sidecar::suites(),
        tokens::suites(),
        lifecycle::suites(),
        deadline::suites(),
    ];
    let suites: Vec<Suite> = all
        .into_iter()
        .flatten()
        .map(|mut s| {
            let suite_name = s.name;
            s.cases.retain(|(c, _)| wanted(&format!("{suite_name}::{c}")));
            s
        })
        .filter(|s| !s.cases.is_empty())
        .collect();

    let started = Instant::now();
    // Two suites at a time: each runs its own wrangler/workerd, and the machines have two cores.
    let results: Vec<(String, bool)> = std::thread::scope(|scope| {
        let mut out = Vec::new();
        for pair in suites.chunks(2) {
            let handles: Vec<_> = pair.iter().map(|s| scope.spawn(move || run_suite(s))).collect();
            for h in handles {
                out.extend(h.join().unwrap_or_default());
            }
        }
        out
    });

    let failed: Vec<&String> = results.iter().filter(|(_, ok)| !ok).map(|(n, _)| n).collect();
    let passed = results.len() - failed.len();
    println!();
    for name in &failed {
        println!("FAILED: {name}");
    }
    println!("http tests finished in {:.1}s", started.elapsed().as_secs_f64());
    println!("{passed} passed, {} failed", failed.len());
    println!("test result: {}. {passed} passed; {} failed; 0 ignored", if failed.is_empty() { "ok" } else { "FAILED" }, failed.len());
    std::process::exit(if failed.is_empty() { 0 } else { 1 });
}

fn run_suite(suite: &Suite) -> Vec<(String, bool)> {
    let mut results = Vec::new();
    let vars: Vec<(&str, &str)> = suite.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let worker = catch_unwind(|| Worker::start(suite.name, &vars));
    let mut worker = match worker {
        Ok(w) => w,
        Err(_) => {
            return suite.cases.iter().map(|(c, _)| (format!("{}::{c}", suite.name), false)).collect();
        }
    };
    for (case, f) in &suite.cases {
        let name = format!("{}::{case}", suite.name);
        let t = Instant::now();
        let ok = catch_unwind(AssertUnwindSafe(|| f(&mut worker))).is_ok();
        println!("test {name} ... {} ({:.1}s)", if ok { "ok" } else { "FAILED" }, t.elapsed().as_secs_f64());
        results.push((name, ok));
    }
    results
}
