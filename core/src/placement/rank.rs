//! The order of the candidate list, kept apart from the rules because it is tuned for speed.
//!
//! Comparing the nodes themselves spent most of a 10,000-node decision chasing pointers into
//! strings; here each node is first reduced to integers that order the same way. And the answer
//! shows only the first few of the order, so those are kept in a bounded heap during the one pass
//! over the region instead of sorting it: O(n log k) with a small k, and no allocation that grows
//! with the fleet. The heap also says how good a node must be to matter ([`FirstFew::bar`]), so
//! the pass works out the exact score of only the few nodes that come near it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::assess::Assessment;

/// A node's place in the candidate list: eligible first (higher score, then fewer effective
/// tenants, then node_id), then ineligible by node_id.
///
/// `primary` is the score as bits that order like `f64::total_cmp` (a total order, so even a NaN
/// cannot break the order), inverted so higher scores come first, with `u64::MAX` kept for
/// ineligible nodes. The node_id's bytes are read only when the integers tie: building a key
/// never leaves the node's own row, so the one pass does not chase a pointer per node.
#[derive(Clone, Copy)]
pub(super) struct RankKey<'a> {
    /// The exact score, `-inf` when ineligible (what `bar` reads).
    score: f64,
    primary: u64,
    effective: u32,
    idx: u32,
    node_id: &'a str,
}

impl<'a> RankKey<'a> {
    #[inline]
    pub(super) fn new(idx: usize, a: &Assessment, node_id: &'a str) -> Self {
        let (primary, effective) = match a.score {
            // The clamp only merges two negative-NaN bit patterns, which validation never lets in.
            Some(score) => ((!total_order_bits(score)).min(u64::MAX - 1), a.effective),
            None => (u64::MAX, 0),
        };
        // A fleet slice cannot hold 2^32 nodes of ~100 bytes in a 4 GiB WASM memory.
        let idx = u32::try_from(idx).expect("fleet larger than u32::MAX nodes");
        RankKey { score: a.score.unwrap_or(f64::NEG_INFINITY), primary, effective, idx, node_id }
    }

    pub(super) fn idx(&self) -> usize {
        self.idx as usize
    }

    pub(super) fn eligible(&self) -> bool {
        self.primary != u64::MAX
    }
}

// Inlined: these run once or twice per node of the region, and a call each was a fifth of a
// decision's time.
impl Ord for RankKey<'_> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        self.primary.cmp(&other.primary).then(self.effective.cmp(&other.effective)).then_with(|| self.node_id.cmp(other.node_id))
    }
}

impl PartialOrd for RankKey<'_> {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Node ids are unique, so two keys are equal only for the same node.
impl PartialEq for RankKey<'_> {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for RankKey<'_> {}

/// The first `limit` keys of the order, fed one at a time: the heap's top is the worst kept,
/// and a key that does not beat it is dropped at the cost of one comparison.
pub(super) struct FirstFew<'a> {
    limit: usize,
    fleet_len: usize,
    heap: BinaryHeap<RankKey<'a>>,
    best: Option<RankKey<'a>>,
    bar: f64,
    takes_ineligible: bool,
}

impl<'a> FirstFew<'a> {
    pub(super) fn new(limit: usize, fleet_len: usize) -> Self {
        FirstFew {
            limit,
            fleet_len,
            heap: BinaryHeap::with_capacity(limit.min(fleet_len).saturating_add(1)),
            best: None,
            bar: f64::NEG_INFINITY,
            takes_ineligible: true,
        }
    }

    /// Every key that could change what is kept must be offered; others may be.
    #[inline]
    pub(super) fn offer(&mut self, key: RankKey<'a>) {
        if self.best.is_none_or(|b| key < b) {
            self.best = Some(key);
        }
        if self.heap.len() < self.limit {
            self.heap.push(key);
        } else if self.heap.peek().is_some_and(|worst| key < *worst) {
            self.heap.pop();
            self.heap.push(key);
        }
        // The edge of what is kept: the worst of a full heap, or the best when only the best is
        // kept (the enqueue's listing); nothing while there is room.
        let edge = if self.limit == 0 {
            self.best
        } else if self.heap.len() < self.limit {
            None
        } else {
            self.heap.peek().copied()
        };
        self.bar = edge.map_or(f64::NEG_INFINITY, |k| k.score);
        self.takes_ineligible = edge.is_none_or(|k| !k.eligible());
    }

    /// The exact score an eligible node must reach to be kept (`-inf`: any score). A node below
    /// it cannot beat the edge: the edge is eligible, and a lower score ranks after it.
    #[inline]
    pub(super) fn bar(&self) -> f64 {
        self.bar
    }

    /// Whether an ineligible node can still be kept (there is room, or the edge is ineligible
    /// and the node may come before it by id).
    #[inline]
    pub(super) fn takes_ineligible(&self) -> bool {
        self.takes_ineligible
    }

    /// The first key of the full order, when it is an eligible node.
    pub(super) fn best(&self) -> Option<RankKey<'a>> {
        self.best.filter(RankKey::eligible)
    }

    /// Whether nodes were left out of `into_sorted`.
    pub(super) fn truncated(&self) -> bool {
        self.heap.len() < self.fleet_len
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
