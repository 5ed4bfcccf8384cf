//! Why a node cannot take a tenant: the seven reason codes, a node's set of them, and the
//! region's counts of each (the kube-scheduler way of saying "3000 Insufficient memory" without
//! 3,000 lines).

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Why a node cannot take a tenant. The declaration order is the order in which a candidate
/// lists its reasons, so an answer reads the same every time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IneligibleReason {
    NodeDraining,
    NoMetrics,
    StaleMetrics,
    MemoryUnknown,
    MemoryOverThreshold,
    DiskOverThreshold,
    TenantCapacityReached,
}

impl IneligibleReason {
    pub const ALL: [IneligibleReason; 7] = [
        IneligibleReason::NodeDraining,
        IneligibleReason::NoMetrics,
        IneligibleReason::StaleMetrics,
        IneligibleReason::MemoryUnknown,
        IneligibleReason::MemoryOverThreshold,
        IneligibleReason::DiskOverThreshold,
        IneligibleReason::TenantCapacityReached,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IneligibleReason::NodeDraining => "node_draining",
            IneligibleReason::NoMetrics => "no_metrics",
            IneligibleReason::StaleMetrics => "stale_metrics",
            IneligibleReason::MemoryUnknown => "memory_unknown",
            IneligibleReason::MemoryOverThreshold => "memory_over_threshold",
            IneligibleReason::DiskOverThreshold => "disk_over_threshold",
            IneligibleReason::TenantCapacityReached => "tenant_capacity_reached",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`IneligibleReason`]s that always iterates (and serializes) in the fixed order, and
/// costs no allocation per candidate on a 10,000-node fleet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Reasons(u8);

impl Reasons {
    pub fn insert(&mut self, reason: IneligibleReason) {
        self.0 |= reason.bit();
    }

    /// `insert` when `cond` holds, without a branch.
    #[inline]
    pub fn insert_if(&mut self, cond: bool, reason: IneligibleReason) {
        self.0 |= u8::from(cond) * reason.bit();
    }

    pub fn contains(self, reason: IneligibleReason) -> bool {
        self.0 & reason.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    pub fn iter(self) -> impl Iterator<Item = IneligibleReason> {
        IneligibleReason::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<IneligibleReason> for Reasons {
    fn from_iter<I: IntoIterator<Item = IneligibleReason>>(iter: I) -> Self {
        let mut set = Reasons::default();
        iter.into_iter().for_each(|r| set.insert(r));
        set
    }
}

impl std::fmt::Debug for Reasons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Reasons {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// How many of the region's nodes have each reason, every code present (zero included) so a
/// dashboard can plot a code before the first node ever has it.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct ReasonCounts([u32; 7]);

impl ReasonCounts {
    pub fn get(&self, reason: IneligibleReason) -> u32 {
        self.0[reason as usize]
    }
}

/// How many of the region's nodes have each set of reasons (seven reasons: 128 sets). The one
/// pass counts a node with a single increment; the counts by reason, the eligible nodes and the
/// blind ones follow at the end. Seven counters bumped per node cost more than the rest of a
/// node's screening together.
pub(super) struct Tally([u32; 128]);

impl Tally {
    pub(super) fn new() -> Self {
        Tally([0; 128])
    }

    #[inline]
    pub(super) fn add(&mut self, reasons: Reasons) {
        self.0[usize::from(reasons.0 & 0x7f)] += 1;
    }

    /// The nodes whose set of reasons satisfies `pred`.
    pub(super) fn count(&self, pred: impl Fn(Reasons) -> bool) -> usize {
        (0u8..128).filter(|bits| pred(Reasons(*bits))).map(|bits| self.0[usize::from(bits)] as usize).sum()
    }

    pub(super) fn reason_counts(&self) -> ReasonCounts {
        let mut counts = ReasonCounts::default();
        for reason in IneligibleReason::ALL {
            counts.0[reason as usize] = self.count(|r| r.contains(reason)) as u32;
        }
        counts
    }
}

impl std::fmt::Debug for ReasonCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(IneligibleReason::ALL.iter().map(|r| (r.as_str(), self.get(*r)))).finish()
    }
}

impl Serialize for ReasonCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(IneligibleReason::ALL.len()))?;
        for r in IneligibleReason::ALL {
            map.serialize_entry(r.as_str(), &self.get(r))?;
        }
        map.end()
    }
}
