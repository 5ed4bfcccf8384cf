//! The order of the candidate list, kept apart from the rules because it is tuned for speed.
//!
//! Sorting a 10,000-node fleet by comparing the nodes themselves spent most of its time chasing
//! pointers into strings; here each node is first reduced to integers that sort the same way.

use std::cmp::Ordering;

use super::{Assessment, FleetNode};

/// A node's place in the candidate list: eligible first (higher score, then fewer effective
/// tenants, then node_id), then ineligible by node_id.
///
/// `primary` is the score as bits that order like `f64::total_cmp` (a total order, so even a NaN
/// cannot break the sort), inverted so higher scores come first, with `u64::MAX` kept for
/// ineligible nodes; the node_id's first 16 bytes become a number that orders like the bytes.
/// The full node_id is compared only when all of that is equal.
pub(super) struct RankKey {
    primary: u64,
    effective: u32,
    idx: u32,
    id_prefix: u128,
}

impl RankKey {
    pub(super) fn new(idx: usize, a: &Assessment, node_id: &str) -> Self {
        let (primary, effective) = match a.score {
            // The clamp only merges two negative-NaN bit patterns, which validation never lets in.
            Some(score) => ((!total_order_bits(score)).min(u64::MAX - 1), a.effective),
            None => (u64::MAX, 0),
        };
        // Zero padding orders a shorter id first, as byte order does; ids with NUL bytes or a
        // longer shared prefix fall through to the full comparison.
        let mut prefix = [0u8; 16];
        let n = node_id.len().min(16);
        prefix[..n].copy_from_slice(&node_id.as_bytes()[..n]);
        // A fleet slice cannot hold 2^32 nodes of ~100 bytes in a 4 GiB WASM memory.
        let idx = u32::try_from(idx).expect("fleet larger than u32::MAX nodes");
        RankKey { primary, effective, idx, id_prefix: u128::from_be_bytes(prefix) }
    }

    pub(super) fn idx(&self) -> usize {
        self.idx as usize
    }

    pub(super) fn cmp(&self, other: &Self, fleet: &[FleetNode]) -> Ordering {
        self.primary
            .cmp(&other.primary)
            .then(self.effective.cmp(&other.effective))
            .then(self.id_prefix.cmp(&other.id_prefix))
            .then_with(|| fleet[self.idx()].node_id.cmp(&fleet[other.idx()].node_id))
    }
}

/// Maps an f64 to a u64 that sorts like `f64::total_cmp`: negatives have every bit flipped,
/// non-negatives get the sign bit set.
pub(super) fn total_order_bits(x: f64) -> u64 {
    let bits = x.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}
