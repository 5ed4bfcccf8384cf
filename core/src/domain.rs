//! The closed vocabularies of the contract (regions, plan tiers, statuses, policies) as enums.
//!
//! An unknown value is a 400 naming the field and the allowed values, never a silent default; once
//! parsed, the rest of the code cannot hold a value outside the contract.

use crate::error::ApiError;
use serde::{Deserialize, Serialize};

/// Declares a wire enum: the variants, their wire strings, `parse`, `as_str` and `ALL`.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// Parses the wire string; `field` names the request field in the error.
            pub fn parse(field: &str, value: &str) -> Result<Self, ApiError> {
                match value {
                    $($wire => Ok($name::$variant),)+
                    _ => Err(ApiError::bad_field(
                        field,
                        format!("{field} must be one of {}", [$($wire),+].join(", ")),
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// The three Hetzner regions the platform runs in.
    Region { Sg => "sg", Us => "us", Eu => "eu" }
);

wire_enum!(
    /// The plan a tenant bought; `enterprise` gets a dedicated stack.
    PlanTier { Free => "free", Basic => "basic", Professional => "professional", Enterprise => "enterprise" }
);

wire_enum!(
    /// Whether a node takes new tenants (`active`) or is being emptied (`draining`).
    NodeStatus { Active => "active", Draining => "draining" }
);

wire_enum!(
    /// The placement policy of the deployment (`PLACEMENT_POLICY`).
    Policy { UnifiedV1 => "unified_v1", OneTenantOneServerV1 => "one_tenant_one_server_v1" }
);

wire_enum!(
    /// Where a metrics row came from: the node's own agent or a sidecar reading the Hetzner API.
    MetricsSource { NodePush => "node_push", HetznerApi => "hetzner_api" }
);

wire_enum!(
    /// The life of a provision job (the allowed moves are `job::can_move`).
    JobStatus {
        Pending => "pending",
        Dispatched => "dispatched",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

wire_enum!(
    /// How a job's tenant gets a server: a new one, or a place on an existing node.
    InfraMode { CreateNewServer => "create_new_server", UseExisting => "use_existing" }
);

wire_enum!(
    /// `development` honours `SKIP_INTERNAL_API_AUTH`; `production` never does.
    Environment { Development => "development", Production => "production" }
);

impl JobStatus {
    /// Pending, dispatched and running jobs hold a reservation on their node and block a second
    /// job for the same tenant.
    pub fn is_active(self) -> bool {
        matches!(self, JobStatus::Pending | JobStatus::Dispatched | JobStatus::Running)
    }

    /// Succeeded, failed and cancelled jobs never move again.
    pub fn is_final(self) -> bool {
        !self.is_active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_round_trips_through_its_wire_string() {
        for r in Region::ALL {
            assert_eq!(Region::parse("region", r.as_str()).unwrap(), *r);
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for t in PlanTier::ALL {
            assert_eq!(PlanTier::parse("plan_tier", t.as_str()).unwrap(), *t);
        }
        for s in JobStatus::ALL {
            assert_eq!(JobStatus::parse("status", s.as_str()).unwrap(), *s);
        }
    }

    #[test]
    fn unknown_values_are_refused_with_the_field_named() {
        let e = Region::parse("region", "SG").unwrap_err();
        assert_eq!(e.status(), 400);
        let body = serde_json::to_value(e.body()).unwrap();
        assert_eq!(body["error"]["field"], "region");
        assert!(body["error"]["message"].as_str().unwrap().contains("sg, us, eu"));
        assert!(PlanTier::parse("plan_tier", "").is_err());
        assert!(Policy::parse("PLACEMENT_POLICY", "unified_v2").is_err());
    }
}
