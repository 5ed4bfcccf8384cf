//! The Prometheus text exposition (format 0.0.4) behind `GET /internal/metrics`: what an operator
//! scrapes and alerts on instead of reading the scheduled handler's log line.
//!
//! Pure: the shell loads the whole fleet and the job counts in a few queries and hands them in with
//! the clock; everything that decides a value (freshness, eligibility, which statuses exist) is the
//! rule the rest of the core already uses, so a scrape and a placement answer cannot disagree.
//!
//! Invariants:
//! - every region × node status and every job status appears, zeros included, so an alert on a
//!   series is never silent because the series is absent;
//! - the job statuses come from `JobStatus::ALL` and "active" from `JobStatus::is_active`: a status
//!   added to the enum appears here without a change to this file;
//! - eligibility is `decide_placement`'s own (`cluster.eligible`), not a second copy of the rule;
//! - label values are escaped as the format says (`\\`, `\"`, `\n`).

use crate::domain::{JobStatus, NodeStatus, PlanTier, Policy, Region};
use crate::error::ApiError;
use crate::fleet_view::FleetView;
use crate::nodes::{is_stale, metrics_age_s};
use crate::placement::{decide_placement, FleetNode, Listing, PlacementInput, Thresholds};
use std::fmt::Write;

/// The media type of the text format that `promtool check metrics` and every scraper accept.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The jobs of one status: how many, and when the oldest of them was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobGroup {
    pub status: JobStatus,
    pub count: u64,
    pub oldest_created_at_ms: Option<i64>,
}

/// Everything one scrape reports, as the shell loaded it.
#[derive(Debug, Clone)]
pub struct Snapshot<'a> {
    pub now_ms: i64,
    pub thresholds: Thresholds,
    /// Every node of every region, with its metrics and reservations (as placement loads them).
    pub fleet: &'a FleetView,
    /// At most one group per status; a status without a group has no jobs.
    pub jobs: &'a [JobGroup],
}

/// Renders the exposition. The only error is the placement core's, which cannot occur for the
/// shared (non-dedicated) input used here; it is passed on rather than hidden.
pub fn render(s: &Snapshot<'_>) -> Result<String, ApiError> {
    let mut out = String::with_capacity(1024 + s.fleet.len() * 80);

    family(&mut out, "cp_nodes", "Registered nodes by region and status.");
    for region in Region::ALL {
        for status in NodeStatus::ALL {
            let n = s.fleet.region(*region).iter().filter(|node| node.status == *status).count();
            sample(&mut out, "cp_nodes", &[("region", region.as_str()), ("status", status.as_str())], n as u64);
        }
    }

    family(&mut out, "cp_nodes_stale", "Nodes whose metrics are missing or older than METRICS_STALE_AFTER_SECONDS.");
    for region in Region::ALL {
        let n = s
            .fleet
            .region(*region)
            .iter()
            .filter(|node| node.metrics.as_ref().is_none_or(|m| is_stale(s.now_ms, m.updated_at, s.thresholds.stale_after_s)))
            .count();
        sample(&mut out, "cp_nodes_stale", &[("region", region.as_str())], n as u64);
    }

    family(&mut out, "cp_node_metrics_age_seconds", "Seconds since the node last pushed metrics (nodes that have pushed).");
    let mut aged: Vec<(&Region, &FleetNode, i64)> =
        Region::ALL.iter().flat_map(|r| s.fleet.region(*r).iter().filter_map(move |n| n.metrics.as_ref().map(|m| (r, n, m.updated_at)))).collect();
    aged.sort_by(|a, b| (a.0, a.1.node_id.as_bytes()).cmp(&(b.0, b.1.node_id.as_bytes())));
    for (region, node, updated_at_ms) in aged {
        sample(&mut out, "cp_node_metrics_age_seconds", &[("region", region.as_str()), ("node_id", &node.node_id)], metrics_age_s(s.now_ms, updated_at_ms));
    }

    family(&mut out, "cp_placement_eligible_nodes", "Nodes that placement would consider for a new shared tenant now.");
    for region in Region::ALL {
        sample(&mut out, "cp_placement_eligible_nodes", &[("region", region.as_str())], eligible(*region, s.fleet.region(*region), s)? as u64);
    }

    family(&mut out, "cp_provision_jobs", "Provision jobs by status.");
    for status in JobStatus::ALL {
        sample(&mut out, "cp_provision_jobs", &[("status", status.as_str())], group(s, *status).map_or(0, |g| g.count));
    }

    family(&mut out, "cp_provision_jobs_oldest_active_seconds", "Seconds since the oldest job in each active status was created (0 when there is none).");
    for status in JobStatus::ALL.iter().filter(|st| st.is_active()) {
        let age = group(s, *status).and_then(|g| g.oldest_created_at_ms).map_or(0, |created| metrics_age_s(s.now_ms, created));
        sample(&mut out, "cp_provision_jobs_oldest_active_seconds", &[("status", status.as_str())], age);
    }
    Ok(out)
}

/// Eligibility does not depend on the tier or the policy (candidates carry their reasons in every
/// case), so a basic tenant under `unified_v1` asks the question without naming a stack.
fn eligible(region: Region, nodes: &[FleetNode], s: &Snapshot<'_>) -> Result<usize, ApiError> {
    let input = PlacementInput {
        plan_tier: PlanTier::Basic,
        region,
        tenant_id: None,
        policy: Policy::UnifiedV1,
        thresholds: s.thresholds,
        blind_fleet_pct: 0,
        stack_owner: None,
        listing: Listing::NONE,
        now_ms: s.now_ms,
    };
    Ok(decide_placement(&input, nodes)?.cluster.eligible)
}

fn group(s: &Snapshot<'_>, status: JobStatus) -> Option<JobGroup> {
    s.jobs.iter().copied().find(|g| g.status == status)
}

fn family(out: &mut String, name: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} gauge");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// A label value as the text format needs it: backslash, double quote and line feed escaped.
pub fn escape_label_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escapes backslash and line feed (a quote is literal there).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MetricsSource;
    use crate::nodes::Metrics;

    const NOW: i64 = 1_800_000_000_000;

    fn node(id: &str, status: NodeStatus, pushed_s_ago: Option<i64>, memory_pct: f64, tenants: u32, reserved: u32) -> FleetNode {
        FleetNode {
            node_id: id.into(),
            status,
            metrics: pushed_s_ago.map(|ago| Metrics {
                cpu_pct: Some(10.0),
                memory_pct: Some(memory_pct),
                disk_pct: Some(20.0),
                tenant_count: tenants,
                source: MetricsSource::NodePush,
                updated_at: NOW - ago * 1000,
            }),
            reserved,
        }
    }

    fn fleet() -> Vec<(Region, FleetNode)> {
        use NodeStatus::*;
        vec![
            (Region::Sg, node("sg-ok", Active, Some(30), 40.0, 3, 1)),
            (Region::Sg, node("sg-old", Active, Some(601), 40.0, 3, 0)),
            (Region::Sg, node("sg-none", Active, None, 0.0, 0, 0)),
            (Region::Sg, node("sg-full", Active, Some(5), 40.0, 39, 1)),
            (Region::Sg, node("sg-drain", Draining, Some(5), 10.0, 0, 0)),
            (Region::Eu, node("eu-a", Active, Some(600), 79.9, 0, 0)),
            (Region::Eu, node("eu-hot", Active, Some(1), 80.0, 0, 0)),
        ]
    }

    fn render_with(fleet: &[(Region, FleetNode)], jobs: &[JobGroup]) -> String {
        let fleet = FleetView::new("test".into(), 0, fleet.iter().cloned());
        render(&Snapshot { now_ms: NOW, thresholds: Thresholds::default(), fleet: &fleet, jobs }).unwrap()
    }

    /// The sample lines (no comments) as `name{labels} value`, for exact comparisons.
    fn samples(text: &str, name: &str) -> Vec<String> {
        text.lines().filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))).map(str::to_string).collect()
    }

    #[test]
    fn fleet_series_match_the_fleet_exactly() {
        let text = render_with(&fleet(), &[]);
        assert_eq!(
            samples(&text, "cp_nodes"),
            [
                r#"cp_nodes{region="sg",status="active"} 4"#,
                r#"cp_nodes{region="sg",status="draining"} 1"#,
                r#"cp_nodes{region="us",status="active"} 0"#,
                r#"cp_nodes{region="us",status="draining"} 0"#,
                r#"cp_nodes{region="eu",status="active"} 2"#,
                r#"cp_nodes{region="eu",status="draining"} 0"#,
            ]
        );
        // 601 s is stale, 600 s is not (strictly older than the limit); no metrics counts as stale.
        assert_eq!(
            samples(&text, "cp_nodes_stale"),
            [r#"cp_nodes_stale{region="sg"} 2"#, r#"cp_nodes_stale{region="us"} 0"#, r#"cp_nodes_stale{region="eu"} 0"#]
        );
        assert_eq!(
            samples(&text, "cp_node_metrics_age_seconds"),
            [
                r#"cp_node_metrics_age_seconds{region="sg",node_id="sg-drain"} 5"#,
                r#"cp_node_metrics_age_seconds{region="sg",node_id="sg-full"} 5"#,
                r#"cp_node_metrics_age_seconds{region="sg",node_id="sg-ok"} 30"#,
                r#"cp_node_metrics_age_seconds{region="sg",node_id="sg-old"} 601"#,
                r#"cp_node_metrics_age_seconds{region="eu",node_id="eu-a"} 600"#,
                r#"cp_node_metrics_age_seconds{region="eu",node_id="eu-hot"} 1"#,
            ]
        );
        // sg: only sg-ok (sg-full is at 39 + 1 reserved = 40); eu: eu-a (eu-hot is at the memory limit).
        assert_eq!(
            samples(&text, "cp_placement_eligible_nodes"),
            [r#"cp_placement_eligible_nodes{region="sg"} 1"#, r#"cp_placement_eligible_nodes{region="us"} 0"#, r#"cp_placement_eligible_nodes{region="eu"} 1"#]
        );
    }

    #[test]
    fn eligibility_is_the_placement_cores_own() {
        let fleet = fleet();
        let sg: Vec<FleetNode> = fleet.iter().filter(|(r, _)| *r == Region::Sg).map(|(_, n)| n.clone()).collect();
        let input = PlacementInput {
            plan_tier: PlanTier::Free,
            region: Region::Sg,
            tenant_id: None,
            policy: Policy::UnifiedV1,
            thresholds: Thresholds::default(),
            blind_fleet_pct: 0,
            stack_owner: None,
            listing: Listing::ALL,
            now_ms: NOW,
        };
        let eligible = decide_placement(&input, &sg).unwrap().candidates.iter().filter(|c| c.eligible).count();
        assert!(render_with(&fleet, &[]).contains(&format!("cp_placement_eligible_nodes{{region=\"sg\"}} {eligible}\n")));
    }

    #[test]
    fn every_job_status_appears_with_zeros_and_active_ones_have_an_age() {
        let jobs = [
            JobGroup { status: JobStatus::Pending, count: 3, oldest_created_at_ms: Some(NOW - 901_500) },
            JobGroup { status: JobStatus::Failed, count: 2, oldest_created_at_ms: Some(NOW - 86_400_000) },
        ];
        let text = render_with(&[], &jobs);
        let counts = samples(&text, "cp_provision_jobs");
        assert_eq!(counts.len(), JobStatus::ALL.len());
        for status in JobStatus::ALL {
            let want = match status {
                JobStatus::Pending => 3,
                JobStatus::Failed => 2,
                _ => 0,
            };
            assert!(counts.contains(&format!("cp_provision_jobs{{status=\"{status}\"}} {want}")), "{status}: {counts:?}");
        }
        let ages = samples(&text, "cp_provision_jobs_oldest_active_seconds");
        let active: Vec<&JobStatus> = JobStatus::ALL.iter().filter(|s| s.is_active()).collect();
        assert_eq!(ages.len(), active.len());
        for status in active {
            let want = if *status == JobStatus::Pending { 901 } else { 0 };
            assert!(ages.contains(&format!("cp_provision_jobs_oldest_active_seconds{{status=\"{status}\"}} {want}")), "{status}: {ages:?}");
        }
        // A finished status has no "oldest active" series.
        assert!(!text.contains("cp_provision_jobs_oldest_active_seconds{status=\"failed\"}"));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let text = render_with(&fleet(), &[]);
        for name in [
            "cp_nodes",
            "cp_nodes_stale",
            "cp_node_metrics_age_seconds",
            "cp_placement_eligible_nodes",
            "cp_provision_jobs",
            "cp_provision_jobs_oldest_active_seconds",
        ] {
            let help = text.find(&format!("# HELP {name} ")).unwrap_or_else(|| panic!("no HELP for {name}"));
            let ty = text.find(&format!("# TYPE {name} gauge\n")).unwrap_or_else(|| panic!("no TYPE for {name}"));
            let first = text.find(&format!("\n{name}{{")).unwrap_or_else(|| panic!("no sample of {name}"));
            assert!(help < ty && ty < first, "{name}");
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn an_empty_fleet_still_reports_every_region() {
        let text = render_with(&[], &[]);
        assert_eq!(samples(&text, "cp_nodes").len(), Region::ALL.len() * NodeStatus::ALL.len());
        assert!(samples(&text, "cp_node_metrics_age_seconds").is_empty());
        assert!(text.contains("cp_placement_eligible_nodes{region=\"us\"} 0\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("x\ny"), "x\\ny");
        assert_eq!(escape_label_value("hz-sg-1.é"), "hz-sg-1.é");
        let mut out = String::new();
        sample(&mut out, "m", &[("node_id", "a\"}\n b")], 1);
        assert_eq!(out, "m{node_id=\"a\\\"}\\n b\"} 1\n");
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }
}
