//! Holds: answers that an enqueue must refuse rather than act on.
//!
//! Both guard against an order that would hurt and could not be taken back by a retry: a
//! Hetzner server bought because the control plane went blind (kube-scheduler's node controller
//! distrusts its own view the same way, `unhealthy-zone-threshold`), and a `pulumi up` on another
//! tenant's dedicated stack. The compute preview shows the same hold, so an operator sees the
//! refusal before a checkout meets it.

use serde::Serialize;

use crate::domain::Region;
use crate::error::ApiError;

/// How long a refused checkout should wait before asking again: about one push cadence, the time
/// a recovering metrics pipeline needs to refresh a region.
pub const BLIND_FLEET_RETRY_AFTER_S: u32 = 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldCode {
    FleetMetricsStale,
    StackNameTaken,
}

impl HoldCode {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldCode::FleetMetricsStale => "fleet_metrics_stale",
            HoldCode::StackNameTaken => "stack_name_taken",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hold {
    pub code: HoldCode,
    pub message: String,
}

impl Hold {
    /// The stack-name refusal; also what the enqueue answers when its batch lost a race for the
    /// name. The owner's id is not repeated: the caller learns only that this tenant_id needs
    /// another name.
    pub fn stack_taken(stack: &str) -> Hold {
        Hold {
            code: HoldCode::StackNameTaken,
            message: format!("the dedicated stack {stack} belongs to another tenant; this tenant_id maps to the same stack name"),
        }
    }

    /// What the enqueue (and an operator's retry) answers instead of creating the job.
    pub fn into_error(self) -> ApiError {
        match self.code {
            HoldCode::FleetMetricsStale => {
                ApiError::Unavailable { code: HoldCode::FleetMetricsStale.as_str(), message: self.message, retry_after_s: BLIND_FLEET_RETRY_AFTER_S }
            }
            HoldCode::StackNameTaken => ApiError::conflict(HoldCode::StackNameTaken.as_str(), self.message),
        }
    }
}

/// The region's active nodes and how many of them have stale or no metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Sight {
    pub active: usize,
    pub blind: usize,
}

/// `fleet_metrics_stale`, for a `no_eligible_node` decision: at least `blind_pct` percent of
/// the active nodes cannot be seen (0 turns the hold off; a region with no active node is
/// empty, not blind, so a first server is ordered).
pub(super) fn blind_fleet(region: Region, sight: Sight, blind_pct: u32) -> Option<Hold> {
    // Integer arithmetic, so "exactly at the threshold" holds and one node fewer does not.
    let held = blind_pct > 0 && sight.active > 0 && sight.blind * 100 >= sight.active * blind_pct as usize;
    held.then(|| Hold {
        code: HoldCode::FleetMetricsStale,
        message: format!(
            "{} of {} active nodes in {} have stale or no metrics (hold at {}%): the metrics pipeline is more likely broken than the region full, \
             so no server is ordered; fix the pushes or set PLACEMENT_BLIND_FLEET_PCT",
            sight.blind,
            sight.active,
            region.as_str(),
            blind_pct
        ),
    })
}

/// `stack_name_taken`: the dedicated stack already belongs to another tenant.
pub(super) fn stack_taken(stack: &str, tenant_id: Option<&str>, owner: Option<&str>) -> Option<Hold> {
    match (tenant_id, owner) {
        (Some(tenant), Some(owner)) if tenant != owner => Some(Hold::stack_taken(stack)),
        _ => None,
    }
}
