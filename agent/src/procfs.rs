//! Pure parsers for `/proc/stat` and `/proc/meminfo` text, and the percentages derived from them.
//!
//! Kept free of I/O so every kernel quirk we meet can be pinned with a captured sample
//! (`tests/fixtures/`) instead of a live machine.

use std::fmt;

/// Why a sample could not be turned into a number; the text names the file so the one log line
/// of a failed run points at the right place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcError(pub String);

impl fmt::Display for ProcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProcError {}

fn err(msg: impl Into<String>) -> ProcError {
    ProcError(msg.into())
}

/// Cumulative jiffies of the aggregate `cpu` line. Only differences between two samples mean
/// anything, hence no percentage here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    pub total: u64,
    /// idle + iowait: time the CPUs could have done work but had none runnable.
    pub idle: u64,
}

/// Reads the aggregate `cpu ` line (not `cpu0`, `cpu1`, ...).
///
/// Sums user..steal (the first 8 columns). `guest` and `guest_nice` are left out because the
/// kernel already counts them inside `user` and `nice`; adding them would count guest time twice.
/// Kernels older than 2.6.11 print fewer columns; at least 4 are required.
pub fn parse_cpu_times(stat: &str) -> Result<CpuTimes, ProcError> {
    let line = stat.lines().find(|l| l.split_whitespace().next() == Some("cpu")).ok_or_else(|| err("/proc/stat: no aggregate `cpu` line"))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse::<u64>().map_err(|_| err(format!("/proc/stat: `cpu` line has a non-number field {f:?}"))))
        .collect::<Result<_, _>>()?;
    if fields.len() < 4 {
        return Err(err(format!("/proc/stat: `cpu` line has {} fields, expected at least 4", fields.len())));
    }
    let total = fields.iter().fold(0u64, |acc, v| acc.saturating_add(*v));
    let iowait = fields.get(4).copied().unwrap_or(0);
    Ok(CpuTimes { total, idle: fields[3].saturating_add(iowait) })
}

/// Busy share of the time between two samples, in percent.
///
/// Saturating arithmetic because iowait is known to go backwards on some kernels (it is an
/// estimate per CPU); a tiny negative step must not turn into a huge busy value.
pub fn cpu_pct(before: CpuTimes, after: CpuTimes) -> Result<f64, ProcError> {
    if after.total < before.total {
        return Err(err("/proc/stat: cpu counters went backwards between samples"));
    }
    let elapsed = after.total - before.total;
    if elapsed == 0 {
        return Err(err("/proc/stat: no CPU time elapsed between samples (raise cpu_sample_ms)"));
    }
    let idle = after.idle.saturating_sub(before.idle);
    let busy = elapsed.saturating_sub(idle);
    Ok(round_pct(busy as f64 * 100.0 / elapsed as f64))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub total_kb: u64,
    pub available_kb: u64,
}

/// Needs `MemAvailable` (Linux 3.14+). Deliberately no fallback to MemFree+Cached: that guess
/// overstates free memory on nodes with large shmem/tmpfs, and a node that looks emptier than it
/// is attracts tenants it cannot hold.
pub fn parse_meminfo(text: &str) -> Result<MemInfo, ProcError> {
    let mut total = None;
    let mut available = None;
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key.trim() {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            _ => continue,
        };
        let number = rest.split_whitespace().next().unwrap_or("");
        let kb = number.parse::<u64>().map_err(|_| err(format!("/proc/meminfo: {} has a non-number value {number:?}", key.trim())))?;
        *slot = Some(kb);
    }
    Ok(MemInfo {
        total_kb: total.ok_or_else(|| err("/proc/meminfo: no MemTotal line"))?,
        available_kb: available.ok_or_else(|| err("/proc/meminfo: no MemAvailable line (kernel older than 3.14?)"))?,
    })
}

/// `(MemTotal - MemAvailable) / MemTotal * 100`.
pub fn memory_pct(mem: MemInfo) -> Result<f64, ProcError> {
    if mem.total_kb == 0 {
        return Err(err("/proc/meminfo: MemTotal is 0"));
    }
    let used = mem.total_kb.saturating_sub(mem.available_kb);
    Ok(round_pct(used as f64 * 100.0 / mem.total_kb as f64))
}

/// One decimal, inside 0-100: the control plane refuses anything outside the range, and more
/// precision than 0.1 % is noise for placement.
pub fn round_pct(value: f64) -> f64 {
    if !value.is_finite() {
        return 0.0;
    }
    ((value * 10.0).round() / 10.0).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HETZNER_STAT_1: &str = include_str!("../tests/fixtures/hetzner-cpx31-stat-1.txt");
    const HETZNER_STAT_2: &str = include_str!("../tests/fixtures/hetzner-cpx31-stat-2.txt");
    const HETZNER_MEMINFO: &str = include_str!("../tests/fixtures/hetzner-cpx31-meminfo.txt");
    const LOCAL_STAT_1: &str = include_str!("../tests/fixtures/local-stat-1.txt");
    const LOCAL_STAT_2: &str = include_str!("../tests/fixtures/local-stat-2.txt");
    const LOCAL_MEMINFO: &str = include_str!("../tests/fixtures/local-meminfo.txt");
    const OLD_KERNEL_MEMINFO: &str = include_str!("../tests/fixtures/old-kernel-meminfo-no-available.txt");

    fn times(total: u64, idle: u64) -> CpuTimes {
        CpuTimes { total, idle }
    }

    #[test]
    fn parses_the_aggregate_line_not_cpu0() {
        let stat = "cpu0 1 1 1 1 1 1 1 1 0 0\ncpu  10 20 30 400 50 6 7 8 90 100\n";
        // guest (90) and guest_nice (100) are already inside user/nice.
        assert_eq!(parse_cpu_times(stat).unwrap(), times(10 + 20 + 30 + 400 + 50 + 6 + 7 + 8, 450));
    }

    #[test]
    fn accepts_old_four_column_cpu_line() {
        assert_eq!(parse_cpu_times("cpu 1 2 3 4\n").unwrap(), times(10, 4));
    }

    #[test]
    fn cpu_line_errors() {
        for (stat, needle) in [("", "no aggregate"), ("cpu0 1 2 3 4\n", "no aggregate"), ("cpu 1 2 3\n", "at least 4"), ("cpu 1 2 x 4\n", "non-number")] {
            let e = parse_cpu_times(stat).unwrap_err();
            assert!(e.0.contains(needle), "{stat:?}: {e}");
        }
    }

    #[test]
    fn cpu_pct_from_hetzner_samples() {
        let a = parse_cpu_times(HETZNER_STAT_1).unwrap();
        let b = parse_cpu_times(HETZNER_STAT_2).unwrap();
        // 400 jiffies elapsed (4 vCPUs x 1 s), 290 of them idle or iowait.
        assert_eq!(b.total - a.total, 400);
        assert_eq!(b.idle - a.idle, 290);
        assert_eq!(cpu_pct(a, b).unwrap(), 27.5);
    }

    #[test]
    fn cpu_pct_from_this_machines_samples_is_in_range() {
        let a = parse_cpu_times(LOCAL_STAT_1).unwrap();
        let b = parse_cpu_times(LOCAL_STAT_2).unwrap();
        let pct = cpu_pct(a, b).unwrap();
        assert!((0.0..=100.0).contains(&pct), "{pct}");
    }

    #[test]
    fn cpu_pct_cases() {
        for (before, after, want) in [
            (times(0, 0), times(100, 100), 0.0),
            (times(0, 0), times(100, 0), 100.0),
            (times(1000, 800), times(1300, 900), 66.7),
            // iowait stepping back: idle shrinks, counted as 0 idle, not a wrap-around.
            (times(1000, 900), times(1100, 890), 100.0),
        ] {
            assert_eq!(cpu_pct(before, after).unwrap(), want, "{before:?} -> {after:?}");
        }
    }

    #[test]
    fn cpu_pct_refuses_no_elapsed_time_or_backwards_counters() {
        assert!(cpu_pct(times(100, 50), times(100, 50)).unwrap_err().0.contains("cpu_sample_ms"));
        assert!(cpu_pct(times(100, 50), times(90, 50)).unwrap_err().0.contains("backwards"));
    }

    #[test]
    fn memory_from_hetzner_sample() {
        let m = parse_meminfo(HETZNER_MEMINFO).unwrap();
        assert_eq!(m, MemInfo { total_kb: 7_851_948, available_kb: 4_914_372 });
        assert_eq!(memory_pct(m).unwrap(), 37.4);
    }

    #[test]
    fn memory_from_this_machines_sample_is_in_range() {
        let pct = memory_pct(parse_meminfo(LOCAL_MEMINFO).unwrap()).unwrap();
        assert!((0.0..=100.0).contains(&pct), "{pct}");
    }

    #[test]
    fn meminfo_without_memavailable_is_an_error() {
        let e = parse_meminfo(OLD_KERNEL_MEMINFO).unwrap_err();
        assert!(e.0.contains("MemAvailable"), "{e}");
    }

    #[test]
    fn meminfo_errors() {
        assert!(parse_meminfo("MemAvailable: 10 kB\n").unwrap_err().0.contains("MemTotal"));
        assert!(parse_meminfo("MemTotal: lots kB\nMemAvailable: 1 kB\n").unwrap_err().0.contains("non-number"));
    }

    #[test]
    fn memory_pct_cases() {
        let m = |total_kb, available_kb| MemInfo { total_kb, available_kb };
        assert_eq!(memory_pct(m(1000, 250)).unwrap(), 75.0);
        assert_eq!(memory_pct(m(1000, 1000)).unwrap(), 0.0);
        assert_eq!(memory_pct(m(1000, 0)).unwrap(), 100.0);
        // Available above total happens briefly during memory hot-add; never negative.
        assert_eq!(memory_pct(m(1000, 1200)).unwrap(), 0.0);
        assert!(memory_pct(m(0, 0)).unwrap_err().0.contains("MemTotal is 0"));
    }

    #[test]
    fn round_pct_clamps_and_rounds() {
        for (input, want) in [(12.345, 12.3), (12.36, 12.4), (-0.01, 0.0), (100.04, 100.0), (250.0, 100.0), (f64::NAN, 0.0)] {
            assert_eq!(round_pct(input), want, "{input}");
        }
    }
}
