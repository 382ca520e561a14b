//! The balancer's view of a VM: its guest memory regions, nothing of KVM. The VMM implements
//! [`GuestView`]; the balancer's logic works on any implementation, so it is tested without
//! a VM.

use crate::mempolicy::MemPolicy;
use crate::pages::PageMover;
use crate::placement::{query_placement, Placement};

/// One region of guest memory, as the host sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// The guest NUMA node it belongs to.
    pub guest_node: u32,
    /// First guest-physical address.
    pub guest_addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// Host virtual address of its first byte, in the VMM's address space.
    pub host_addr: u64,
    /// The memory policy set on it.
    pub policy: MemPolicy,
    /// Backed by hugetlbfs pages (reserved per node) rather than ordinary memory.
    pub hugetlb: bool,
}

/// A vCPU thread of the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuThread {
    /// The vCPU.
    pub vcpu: u32,
    /// Its guest NUMA node.
    pub guest_node: u32,
    /// Its host thread id (0 before it started).
    pub tid: i32,
    /// How many times an operator has pinned it (changed its CPU affinity) since launch.
    pub pins: u64,
}

/// What the balancer may know of, and do to, a VM: its memory regions and their policies,
/// the dirty log of its memory, and its vCPU threads. Nothing of KVM beyond that.
pub trait GuestView: Send + Sync {
    /// The guest memory regions, in guest-physical order.
    fn regions(&self) -> Vec<MemoryRegion>;

    /// Sets (mbind, without moving anything) and records the memory policy of region `index`.
    fn set_region_policy(&self, index: usize, policy: MemPolicy) -> std::io::Result<()>;

    /// Gives `[addr, addr + len)`, which lies inside one region, `policy` and moves its pages
    /// to satisfy it (mbind with MPOL_MF_MOVE | MPOL_MF_STRICT). Only the owner of policies
    /// during a rebalance calls it, and puts the whole region's policy right afterwards.
    fn move_range(&self, addr: u64, len: u64, policy: &MemPolicy) -> std::io::Result<()>;

    /// Turns dirty logging of all guest memory on or off.
    fn set_dirty_logging(&self, on: bool) -> std::io::Result<()>;

    /// The dirty log of region `index` (one bit per 4 KiB page), then re-arms it for the next
    /// interval: the pages set in `rearm` where the host lets Tern choose (see
    /// [`rearms_selectively`](Self::rearms_selectively)), else every page written.
    fn take_dirty_bitmap(&self, index: usize, rearm: Option<&[u64]>) -> std::io::Result<Vec<u64>>;

    /// Whether `take_dirty_bitmap` re-arms only the pages it is given (KVM's manual
    /// dirty-log protect). Then a bit means "written since this page was last re-armed" and
    /// only the bits of re-armed pages tell about the last interval; otherwise every bit
    /// tells whether its page was written since the last call.
    fn rearms_selectively(&self) -> bool;

    /// The vCPU threads.
    fn vcpu_threads(&self) -> Vec<VcpuThread>;

    /// Holds every vCPU outside KVM_RUN (the VM's own pause). Returns whether it paused
    /// them: `false` if the VM was paused already (by the operator), which the caller then
    /// leaves as it is.
    fn pause_vcpus(&self) -> std::io::Result<bool>;

    /// Lets the vCPUs run again after [`pause_vcpus`](Self::pause_vcpus) paused them.
    fn resume_vcpus(&self);

    /// Reads one byte of guest memory at host address `addr` (nothing if it lies outside
    /// guest memory): a page the kernel's NUMA balancing made PROT_NONE is present again
    /// afterwards, so move_pages(2) can say where it is.
    fn touch(&self, addr: u64);
}

/// The placement of one region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionPlacement {
    /// The region.
    pub region: MemoryRegion,
    /// Where its pages are.
    pub placement: Placement,
}

/// The placement of every region; the first error (a failed query) stops it.
pub fn guest_placement(
    regions: &[MemoryRegion],
    mover: &dyn PageMover,
    max_samples: u64,
) -> std::io::Result<Vec<RegionPlacement>> {
    regions
        .iter()
        .cloned()
        .map(|region| {
            let placement = query_placement(mover, region.host_addr, region.len, max_samples)?;
            Ok(RegionPlacement { region, placement })
        })
        .collect()
}

/// Sums region placements per guest node, in node order.
pub fn per_guest_node(regions: &[RegionPlacement]) -> Vec<(u32, Placement)> {
    let mut nodes: Vec<(u32, Placement)> = Vec::new();
    for r in regions {
        match nodes.iter_mut().find(|(n, _)| *n == r.region.guest_node) {
            Some((_, total)) => total.merge(&r.placement),
            None => nodes.push((r.region.guest_node, r.placement.clone())),
        }
    }
    nodes.sort_by_key(|(n, _)| *n);
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::PAGE_SIZE;
    use std::collections::BTreeMap;

    struct TwoNodes;

    impl GuestView for TwoNodes {
        fn regions(&self) -> Vec<MemoryRegion> {
            let region = |guest_node, guest_addr, host_addr| MemoryRegion {
                guest_node,
                guest_addr,
                len: 4 * PAGE_SIZE,
                host_addr,
                policy: MemPolicy::Bind(guest_node),
                hugetlb: false,
            };
            vec![
                region(0, 0, 0x1000_0000),
                region(1, 0x4000, 0x2000_0000),
                region(1, 0x1_0000_0000, 0x3000_0000),
            ]
        }

        fn set_region_policy(&self, _: usize, _: MemPolicy) -> std::io::Result<()> {
            Ok(())
        }

        fn move_range(&self, _: u64, _: u64, _: &MemPolicy) -> std::io::Result<()> {
            Ok(())
        }

        fn set_dirty_logging(&self, _: bool) -> std::io::Result<()> {
            Ok(())
        }

        fn take_dirty_bitmap(&self, _: usize, _: Option<&[u64]>) -> std::io::Result<Vec<u64>> {
            Ok(Vec::new())
        }

        fn rearms_selectively(&self) -> bool {
            false
        }

        fn vcpu_threads(&self) -> Vec<VcpuThread> {
            Vec::new()
        }

        fn pause_vcpus(&self) -> std::io::Result<bool> {
            Ok(true)
        }

        fn resume_vcpus(&self) {}

        fn touch(&self, _: u64) {}
    }

    /// Pages below 0x2000_0000 are on node 0, the others on node 1, except the last page of
    /// each region, which is absent.
    struct ByAddress;

    impl PageMover for ByAddress {
        fn move_pages(
            &self,
            pages: &[u64],
            _: Option<&[i32]>,
            status: &mut [i32],
        ) -> std::io::Result<usize> {
            for (p, s) in pages.iter().zip(status.iter_mut()) {
                *s = if p % (4 * PAGE_SIZE) == 3 * PAGE_SIZE {
                    -libc::ENOENT
                } else {
                    i32::from(*p >= 0x2000_0000)
                };
            }
            Ok(0)
        }

        fn resident(&self, _: u64, resident: &mut [u8]) -> std::io::Result<()> {
            resident.fill(0);
            Ok(())
        }
    }

    #[test]
    fn placement_per_region_and_per_guest_node() {
        let regions = guest_placement(&TwoNodes.regions(), &ByAddress, 1 << 10).unwrap();
        assert_eq!(regions.len(), 3);
        assert_eq!(regions[0].placement.on_node, BTreeMap::from([(0, 3)]));
        let nodes = per_guest_node(&regions);
        assert_eq!(nodes.len(), 2);
        assert_eq!((nodes[1].0, nodes[1].1.pages, nodes[1].1.absent), (1, 8, 2));
        assert_eq!(nodes[1].1.on_node, BTreeMap::from([(1, 6)]));
        assert_eq!(nodes[1].1.share_on(1), 1.0);
    }
}
