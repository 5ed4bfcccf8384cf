//! The fleet as a Worker isolate keeps it between requests, so a placement at 10,000 nodes reads
//! only the nodes that changed since the last one instead of the whole region (kube-scheduler's
//! cluster cache, with the database as the only source of truth).
//!
//! The database stamps every change placement can see with the next value of one counter (the
//! highest stamp plus one, by triggers: `migrations/0006_fleet_changes.sql`), per node in
//! `fleet_changes`. A read returns the counter and the full rows of the nodes stamped after a
//! given value, in one statement, so the view after applying it is exactly the database at that
//! counter. `epoch` names one run of that counter: a database rebuilt or pruned of tombstones
//! gets a new one, and a view of another epoch is read again in full.
//!
//! Correctness does not rest on the view: the enqueue's insert re-checks the chosen node in SQL,
//! so a view can make an enqueue try again but never place where the database would refuse.

use std::collections::HashMap;

use crate::domain::Region;
use crate::placement::FleetNode;

/// What a read of the database said about one node stamped after the view's counter.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub node_id: String,
    /// The node as it is now; `None` when it was deleted (or never was a node: a job can name
    /// any target).
    pub now: Option<(Region, FleetNode)>,
}

/// Whether [`FleetView::apply`] used the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Yes,
    /// A concurrent request already brought the view past these changes; it is newer, use it.
    AlreadyNewer,
    /// The changes belong to another epoch, or the counter went back (a database restored to an
    /// earlier point): read the fleet in full.
    ReadInFull,
}

/// Every region's nodes, as of `seq` in `epoch`. Order within a region is whatever the updates
/// left: placement does not depend on it.
#[derive(Debug, Clone, Default)]
pub struct FleetView {
    epoch: String,
    seq: i64,
    regions: HashMap<Region, Vec<FleetNode>>,
    /// Where each node sits in `regions`, so a change costs O(1) whatever the fleet's size.
    index: HashMap<String, (Region, usize)>,
}

impl FleetView {
    /// The view of a full read taken at `seq` in `epoch`.
    pub fn new(epoch: String, seq: i64, nodes: impl IntoIterator<Item = (Region, FleetNode)>) -> Self {
        let mut view = FleetView { epoch, seq, ..FleetView::default() };
        for (region, node) in nodes {
            view.put(region, node);
        }
        view
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn seq(&self) -> i64 {
        self.seq
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The region's nodes, in no particular order.
    pub fn region(&self, region: Region) -> &[FleetNode] {
        self.regions.get(&region).map_or(&[], Vec::as_slice)
    }

    /// Applies what a read of the nodes stamped after `after` returned; the read saw the counter
    /// at `seq` in `epoch`. A read older than the view is dropped: its rows could undo a newer
    /// change that another request already applied. A counter below `after` cannot come from
    /// requests racing (it only grows), so the database itself went back.
    pub fn apply(&mut self, epoch: &str, after: i64, seq: i64, changes: Vec<Change>) -> Applied {
        if epoch != self.epoch || seq < after {
            return Applied::ReadInFull;
        }
        if seq < self.seq {
            return Applied::AlreadyNewer;
        }
        for change in changes {
            match change.now {
                Some((region, node)) => self.put(region, node),
                None => self.remove(&change.node_id),
            }
        }
        self.seq = seq;
        Applied::Yes
    }

    fn put(&mut self, region: Region, node: FleetNode) {
        self.remove(&node.node_id);
        let nodes = self.regions.entry(region).or_default();
        self.index.insert(node.node_id.clone(), (region, nodes.len()));
        nodes.push(node);
    }

    fn remove(&mut self, node_id: &str) {
        let Some((region, at)) = self.index.remove(node_id) else { return };
        let Some(nodes) = self.regions.get_mut(&region) else { return };
        nodes.swap_remove(at);
        // The last node moved into the hole.
        if let Some(moved) = nodes.get(at) {
            if let Some(slot) = self.index.get_mut(&moved.node_id) {
                slot.1 = at;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{MetricsSource, NodeStatus};
    use crate::nodes::Metrics;
    use proptest::prelude::*;

    fn node(id: &str, tenants: u32) -> FleetNode {
        FleetNode {
            node_id: id.to_string(),
            status: NodeStatus::Active,
            metrics: Some(Metrics {
                cpu_pct: None,
                memory_pct: Some(10.0),
                disk_pct: None,
                tenant_count: tenants,
                source: MetricsSource::NodePush,
                updated_at: 0,
            }),
            reserved: 0,
        }
    }

    fn sorted(view: &FleetView, region: Region) -> Vec<FleetNode> {
        let mut nodes = view.region(region).to_vec();
        nodes.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        nodes
    }

    #[test]
    fn a_change_replaces_moves_or_removes_the_node() {
        let mut view = FleetView::new("e1".into(), 5, [(Region::Sg, node("a", 1)), (Region::Sg, node("b", 2)), (Region::Us, node("c", 3))]);
        let changes = vec![
            Change { node_id: "a".into(), now: Some((Region::Sg, node("a", 9))) },
            Change { node_id: "c".into(), now: Some((Region::Eu, node("c", 3))) },
            Change { node_id: "b".into(), now: None },
            Change { node_id: "ghost".into(), now: None },
        ];
        assert_eq!(view.apply("e1", 5, 9, changes), Applied::Yes);
        assert_eq!(view.seq(), 9);
        assert_eq!(sorted(&view, Region::Sg), vec![node("a", 9)]);
        assert!(view.region(Region::Us).is_empty());
        assert_eq!(sorted(&view, Region::Eu), vec![node("c", 3)]);
        assert_eq!(view.len(), 2);
    }

    #[test]
    fn an_older_read_another_epoch_or_a_counter_gone_back_changes_nothing() {
        let mut view = FleetView::new("e1".into(), 5, [(Region::Sg, node("a", 1))]);
        let gone = || vec![Change { node_id: "a".into(), now: None }];
        // Asked after 3, saw 4: another request brought the view to 5 meanwhile.
        assert_eq!(view.apply("e1", 3, 4, gone()), Applied::AlreadyNewer);
        assert_eq!(view.apply("e2", 5, 50, gone()), Applied::ReadInFull);
        // Asked after 5, saw 2: the database was restored to an earlier point.
        assert_eq!(view.apply("e1", 5, 2, gone()), Applied::ReadInFull);
        assert_eq!(sorted(&view, Region::Sg), vec![node("a", 1)]);
        assert_eq!(view.seq(), 5);
    }

    proptest! {
        /// Any sequence of upserts and deletes applied as deltas gives the same regions as a
        /// view built from scratch from the final state (the swap_remove bookkeeping holds).
        #[test]
        fn deltas_equal_a_full_read(steps in proptest::collection::vec((0u8..20, proptest::option::of((0usize..3, 0u32..50))), 0..200), chunk in 1usize..8) {
            let regions = [Region::Sg, Region::Us, Region::Eu];
            let mut truth: std::collections::BTreeMap<String, (Region, FleetNode)> = Default::default();
            let mut view = FleetView::new("e".into(), 0, []);
            let mut seq = 0;
            for batch in steps.chunks(chunk) {
                let mut changes = Vec::new();
                for (id, now) in batch {
                    let id = format!("n{id}");
                    let now = now.map(|(r, t)| (regions[r], node(&id, t)));
                    match &now {
                        Some(v) => { truth.insert(id.clone(), v.clone()); }
                        None => { truth.remove(&id); }
                    }
                    changes.push(Change { node_id: id, now });
                }
                seq += 1;
                prop_assert_eq!(view.apply("e", seq - 1, seq, changes), Applied::Yes);
            }
            let full = FleetView::new("e".into(), seq, truth.values().cloned());
            for r in regions {
                prop_assert_eq!(sorted(&view, r), sorted(&full, r));
            }
            prop_assert_eq!(view.len(), truth.len());
        }
    }
}
