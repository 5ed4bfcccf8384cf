//! The order of the candidate list, kept apart from the rules because it is tuned for speed.
//!
//! Comparing the nodes themselves spent most of a 10,000-node decision chasing pointers into
//! strings; here each node is first reduced to integers that order the same way. And the answer
//! shows only the first few of the order, so those are kept in a bounded heap during the one pass
//! over the region instead of sorting it: O(n log k) with a small k, and no allocation that grows
//! with the fleet.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::assess::Assessment;

/// A node's place in the candidate list: eligible first (higher score, then fewer effective
/// tenants, then node_id), then ineligible by node_id.
///
/// `primary` is the score as bits that order like `f64::total_cmp` (a total order, so even a NaN
/// cannot break the order), inverted so higher scores come first, with `u64::MAX` kept for
/// ineligible nodes; the node_id's first 16 bytes become a number that orders like the bytes.
/// The full node_id is compared only when all of that is equal.
#[derive(Clone, Copy)]
pub(super) struct RankKey<'a> {
    primary: u64,
    effective: u32,
    idx: u32,
    id_prefix: u128,
    node_id: &'a str,
}

impl<'a> RankKey<'a> {
    pub(super) fn new(idx: usize, a: &Assessment, node_id: &'a str) -> Self {
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
        RankKey { primary, effective, idx, id_prefix: u128::from_be_bytes(prefix), node_id }
    }

    pub(super) fn idx(&self) -> usize {
        self.idx as usize
    }

    pub(super) fn eligible(&self) -> bool {
        self.primary != u64::MAX
    }
}

impl Ord for RankKey<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.primary
            .cmp(&other.primary)
            .then(self.effective.cmp(&other.effective))
            .then(self.id_prefix.cmp(&other.id_prefix))
            .then_with(|| self.node_id.cmp(other.node_id))
    }
}

impl PartialOrd for RankKey<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Node ids are unique, so two keys are equal only for the same node.
impl PartialEq for RankKey<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RankKey<'_> {}

/// The first `limit` keys of the order, fed one at a time: the heap's top is the worst kept,
/// and a key that does not beat it is dropped at the cost of one comparison.
pub(super) struct FirstFew<'a> {
    limit: usize,
    heap: BinaryHeap<RankKey<'a>>,
    best: Option<RankKey<'a>>,
    seen: usize,
}

impl<'a> FirstFew<'a> {
    pub(super) fn new(limit: usize, fleet_len: usize) -> Self {
        FirstFew { limit, heap: BinaryHeap::with_capacity(limit.min(fleet_len).saturating_add(1)), best: None, seen: 0 }
    }

    pub(super) fn offer(&mut self, key: RankKey<'a>) {
        self.seen += 1;
        if self.best.is_none_or(|b| key < b) {
            self.best = Some(key);
        }
        if self.heap.len() < self.limit {
            self.heap.push(key);
        } else if self.heap.peek().is_some_and(|worst| key < *worst) {
            self.heap.pop();
            self.heap.push(key);
        }
    }

    /// The first key of the full order, when it is an eligible node.
    pub(super) fn best(&self) -> Option<RankKey<'a>> {
        self.best.filter(RankKey::eligible)
    }

    /// Whether nodes were left out of `into_sorted`.
    pub(super) fn truncated(&self) -> bool {
        self.heap.len() < self.seen
    }

    pub(super) fn into_sorted(self) -> Vec<RankKey<'a>> {
        self.heap.into_sorted_vec()
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
