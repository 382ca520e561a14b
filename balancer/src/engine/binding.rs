//! The policy each region keeps after a complete move. A region that was bound follows its
//! memory to the new node bound again only if that node has room for everything the guest
//! node may still fault in there (its size, not only its populated pages) plus a margin;
//! otherwise it prefers the new node, so that a guest fault on a full node goes elsewhere
//! instead of meeting the OOM killer (or, with hugetlb pages, SIGBUS). A binding the operator
//! chose (a region already bound to the target) stays as it is.

use std::collections::BTreeMap;

use crate::chunk::CHUNK_BYTES;
use crate::guest::MemoryRegion;
use crate::mempolicy::MemPolicy;
use crate::policy::RegionTarget;
use crate::topology::HostTopology;

/// Room a node keeps beyond what bound memory may still fault in: 1/16 of its memory, at
/// least this much.
pub const MIN_BIND_MARGIN: u64 = 64 << 20;

/// What settling decided for one guest node that is not bound as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingNote {
    /// The guest node.
    pub guest_node: u32,
    /// The host node it now prefers.
    pub host_node: u32,
    /// Why it is not bound there, as a sentence.
    pub sentence: String,
}

/// The margin kept on a node of `total` bytes.
pub fn bind_margin(total: u64) -> u64 {
    (total / 16).max(MIN_BIND_MARGIN)
}

/// Whether a host node has room for `need` more bytes of guest memory: its free memory (free
/// 2 MiB huge pages for hugetlb-backed memory) against the need plus the node's margin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Room {
    /// The node.
    pub node: u32,
    /// Its free bytes.
    pub free: u64,
    /// What may still come to it.
    pub need: u64,
    /// What it keeps free beyond that: [`bind_margin`] of its memory.
    pub margin: u64,
}

impl Room {
    /// `node`'s room on `host` for `need` bytes of memory backed like `hugetlb` says.
    pub fn on(host: &HostTopology, node: u32, need: u64, hugetlb: bool) -> Self {
        let (free, total) = free_for(host, node, hugetlb);
        Self {
            node,
            free,
            need,
            margin: bind_margin(total),
        }
    }

    /// Whether the need and the margin fit in the free memory.
    pub fn fits(&self) -> bool {
        self.free >= self.need.saturating_add(self.margin)
    }

    /// `host node N has X free, less than the Y ... plus a Z margin`, with `what` naming
    /// the need.
    pub fn shortfall(&self, what: &str) -> String {
        format!(
            "host node {} has {} free, less than the {} {what} plus a {} margin",
            self.node,
            mib(self.free),
            mib(self.need),
            mib(self.margin)
        )
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}

/// The memory policy a region keeps after a complete move.
fn settled_policy(target: &RegionTarget, original: &MemPolicy) -> MemPolicy {
    match (target, original) {
        (RegionTarget::Node(n), MemPolicy::Bind(_)) => MemPolicy::Bind(*n),
        (RegionTarget::Node(n), _) => MemPolicy::Preferred(*n),
        (RegionTarget::Interleave(nodes), _) => MemPolicy::Interleave(nodes.clone()),
    }
}

/// Free bytes of `node` for memory backed like `hugetlb` says.
fn free_for(host: &HostTopology, node: u32, hugetlb: bool) -> (u64, u64) {
    host.node(node).map_or((0, 0), |n| {
        let free = if hugetlb {
            n.free_huge_pages_2m * CHUNK_BYTES
        } else {
            n.free_bytes
        };
        (free, n.total_bytes)
    })
}

/// The policy each planned region keeps (`targets`, with the policy each had in
/// `originals`), given every region of the VM as it is now (`regions`), how many bytes of a
/// region are in memory (`resident`), and the host now. Returns them with a note per guest
/// node left preferring a node it was not bound to.
pub fn final_policies(
    targets: &[(usize, RegionTarget)],
    originals: &[(usize, MemPolicy)],
    regions: &[MemoryRegion],
    resident: &dyn Fn(&MemoryRegion) -> u64,
    host: &HostTopology,
) -> (Vec<(usize, MemPolicy)>, Vec<BindingNote>) {
    let original = |index: usize| {
        originals
            .iter()
            .find(|(i, _)| *i == index)
            .map_or(MemPolicy::Default, |(_, p)| p.clone())
    };
    let mut finals: Vec<(usize, MemPolicy)> = targets
        .iter()
        .map(|(index, target)| (*index, settled_policy(target, &original(*index))))
        .collect();
    // Regions a complete move would bind to another node than the one they were bound to.
    let mut newly_bound: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, policy) in &finals {
        if let (MemPolicy::Bind(n), MemPolicy::Bind(was)) = (policy, original(*index)) {
            if *n != was {
                newly_bound.entry(*n).or_default().push(*index);
            }
        }
    }
    let mut notes = Vec::new();
    for (node, indices) in newly_bound {
        // Everything bound to the node after settling may still fault in there: the regions
        // bound to it by this move and those already bound to it.
        let bound_after = regions.iter().enumerate().filter(|(i, r)| {
            indices.contains(i)
                || (!targets.iter().any(|(t, _)| t == i) && r.policy == MemPolicy::Bind(node))
        });
        let mut need = 0u64;
        let mut hugetlb = false;
        for (_, region) in bound_after {
            need += region.len.saturating_sub(resident(region));
            hugetlb |= region.hugetlb;
        }
        let room = Room::on(host, node, need, hugetlb);
        if room.fits() {
            continue;
        }
        let mut guest_nodes: Vec<u32> = Vec::new();
        for (index, policy) in finals.iter_mut() {
            if indices.contains(index) {
                *policy = MemPolicy::Preferred(node);
                if let Some(r) = regions.get(*index) {
                    if !guest_nodes.contains(&r.guest_node) {
                        guest_nodes.push(r.guest_node);
                    }
                }
            }
        }
        for guest_node in guest_nodes {
            notes.push(BindingNote {
                guest_node,
                host_node: node,
                sentence: format!(
                    "guest node {guest_node} prefers host node {node} instead of being bound to \
                     it: {}",
                    room.shortfall("its bound memory may still fault in")
                ),
            });
        }
    }
    (finals, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::HostNode;

    const MIB: u64 = 1 << 20;

    fn host(free1: u64) -> HostTopology {
        let node = |id, free| HostNode {
            id,
            cpus: vec![id],
            total_bytes: 1024 * MIB,
            free_bytes: free,
            free_huge_pages_2m: 0,
            distances: vec![10, 20],
        };
        HostTopology {
            nodes: vec![node(0, 800 * MIB), node(1, free1)],
        }
    }

    fn region(guest_node: u32, len: u64, policy: MemPolicy) -> MemoryRegion {
        MemoryRegion {
            guest_node,
            guest_addr: 0,
            len,
            host_addr: 0x1000_0000,
            policy,
            hugetlb: false,
        }
    }

    #[test]
    fn a_bound_guest_node_is_bound_again_only_where_it_fits_whole() {
        // The scenario: 448 MiB bound to node 0, 130 MiB in use, moved to node 1,
        // which has 250 MiB free.
        let regions = [region(0, 448 * MIB, MemPolicy::Preferred(1))];
        let targets = [(0, RegionTarget::Node(1))];
        let originals = [(0, MemPolicy::Bind(0))];
        let resident = |_: &MemoryRegion| 130 * MIB;
        let (finals, notes) =
            final_policies(&targets, &originals, &regions, &resident, &host(250 * MIB));
        assert_eq!(finals, vec![(0, MemPolicy::Preferred(1))]);
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0]
                .sentence
                .contains("250 MiB free, less than the 318 MiB"),
            "{}",
            notes[0].sentence
        );
        // With room for the whole guest node and the margin, it is bound again.
        let (finals, notes) =
            final_policies(&targets, &originals, &regions, &resident, &host(400 * MIB));
        assert_eq!(finals, vec![(0, MemPolicy::Bind(1))]);
        assert!(notes.is_empty());
    }

    #[test]
    fn memory_already_bound_to_the_node_counts_against_its_room() {
        // Guest node 1 is already bound to host node 1 with 200 MiB still to fault in.
        let regions = [
            region(0, 300 * MIB, MemPolicy::Preferred(1)),
            region(1, 256 * MIB, MemPolicy::Bind(1)),
        ];
        let targets = [(0, RegionTarget::Node(1))];
        let originals = [(0, MemPolicy::Bind(0))];
        let resident = |r: &MemoryRegion| {
            if r.guest_node == 0 {
                200 * MIB
            } else {
                56 * MIB
            }
        };
        let (finals, _) =
            final_policies(&targets, &originals, &regions, &resident, &host(350 * MIB));
        assert_eq!(
            finals,
            vec![(0, MemPolicy::Preferred(1))],
            "100 + 200 + 64 > 350"
        );
        let (finals, _) =
            final_policies(&targets, &originals, &regions, &resident, &host(400 * MIB));
        assert_eq!(finals, vec![(0, MemPolicy::Bind(1))]);
    }

    #[test]
    fn unbound_and_operator_bound_regions_keep_their_kind() {
        let regions = [
            region(0, 512 * MIB, MemPolicy::Local),
            region(1, 512 * MIB, MemPolicy::Bind(1)),
        ];
        let targets = [(0, RegionTarget::Node(1)), (1, RegionTarget::Node(1))];
        let originals = [(0, MemPolicy::Local), (1, MemPolicy::Bind(1))];
        let (finals, notes) = final_policies(&targets, &originals, &regions, &|_| 0, &host(0));
        assert_eq!(
            finals,
            vec![(0, MemPolicy::Preferred(1)), (1, MemPolicy::Bind(1))]
        );
        assert!(notes.is_empty());
        let spread = [(0, RegionTarget::Interleave(vec![0, 1]))];
        let (finals, _) = final_policies(&spread, &originals, &regions, &|_| 0, &host(0));
        assert_eq!(finals, vec![(0, MemPolicy::Interleave(vec![0, 1]))]);
    }
}
