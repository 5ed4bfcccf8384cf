//! Takes the four numbers of one push from the live system, gluing the pure parsers to their
//! files.
//!
//! CPU is sampled first and alone: the tenant command (e.g. `bench`) burns CPU itself, and
//! sampling while it runs would report the agent's own load.

use std::fs;
use std::thread;

use crate::config::Config;
use crate::error::AgentError;
use crate::tenants::{self, TenantMethod};
use crate::{disk, procfs};

#[derive(Debug, Clone, PartialEq)]
pub struct Measurements {
    pub cpu_pct: f64,
    pub memory_pct: f64,
    pub disk_pct: f64,
    pub tenant_count: u64,
    /// Things that did not stop the push but an operator should fix.
    pub warnings: Vec<String>,
}

pub const TENANT_METHOD_NONE_WARNING: &str = "tenant_method = none: tenant_count is always 0, so placement sees this node as empty";

pub fn measure(config: &Config) -> Result<Measurements, AgentError> {
    let fail = |e: String| AgentError::Measure(e);

    let before = procfs::parse_cpu_times(&read_proc("/proc/stat")?).map_err(|e| fail(e.0))?;
    thread::sleep(config.cpu_sample);
    let after = procfs::parse_cpu_times(&read_proc("/proc/stat")?).map_err(|e| fail(e.0))?;
    let cpu_pct = procfs::cpu_pct(before, after).map_err(|e| fail(e.0))?;

    let memory_pct = procfs::parse_meminfo(&read_proc("/proc/meminfo")?).and_then(procfs::memory_pct).map_err(|e| fail(e.0))?;

    let counts = disk::statvfs(&config.disk_mount).map_err(|e| fail(format!("disk_mount {}: {e}", config.disk_mount.display())))?;
    let disk_pct = disk::disk_pct(counts).map_err(|e| fail(format!("disk_mount {}: {e}", config.disk_mount.display())))?;

    let tenant_count = tenants::count(&config.tenants).map_err(fail)?;
    let mut warnings = Vec::new();
    if config.tenants == TenantMethod::None {
        warnings.push(TENANT_METHOD_NONE_WARNING.to_string());
    }

    Ok(Measurements { cpu_pct, memory_pct, disk_pct, tenant_count, warnings })
}

fn read_proc(path: &str) -> Result<String, AgentError> {
    fs::read_to_string(path).map_err(|e| AgentError::Measure(format!("{path}: {e}")))
}
