//! Guest RAM: host mappings laid out in guest-physical space and seen as one vm-memory
//! `GuestMemoryMmap`, while each region remembers its guest node, host address and memory
//! policy. Each region's policy is set with mbind(2) before anything touches it; a region
//! without a chosen node gets an explicit local policy, which places pages like the default
//! but keeps the kernel's automatic NUMA balancing off guest memory (Tern's balancer moves it).

pub mod layout;
pub mod mapping;
pub mod thp;

use std::sync::Mutex;

use balancer::guest::MemoryRegion;
use balancer::mempolicy::{set_policy, MemPolicy, MPOL_MF_MOVE, MPOL_MF_STRICT};
use vm_memory::mmap::MmapRegionBuilder;
use vm_memory::{GuestAddress, GuestMemoryMmap, GuestRegionMmap};

use self::layout::RamRange;
use self::mapping::HostMapping;
use crate::config::MemoryBacking;
use crate::error::Error;

/// One region of guest RAM: a guest-physical range backed by one host mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RamRegion {
    /// Where it sits in the guest and which guest node owns it.
    pub range: RamRange,
    /// Host virtual address of its first byte.
    pub host_addr: u64,
    /// The memory policy set on it when it was mapped.
    pub initial_policy: MemPolicy,
}

/// How to back guest RAM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backing {
    /// Base pages, THP or hugetlbfs pages.
    pub kind: MemoryBacking,
    /// Populate every page before the guest starts.
    pub prefault: bool,
}

/// All of guest RAM. Share it as `Arc<GuestRam>`: it owns the host mappings, so it must
/// outlive every use of its memory.
#[derive(Debug)]
pub struct GuestRam {
    memory: GuestMemoryMmap,
    regions: Vec<RamRegion>,
    hugetlb: bool,
    policies: Mutex<Vec<MemPolicy>>,
    // Declared last: dropped after `memory`, which points into it.
    _mappings: Vec<HostMapping>,
}

fn map_range(range: &RamRange, policy: &MemPolicy, backing: Backing) -> Result<HostMapping, Error> {
    let len = usize::try_from(range.size).map_err(|_| Error::GuestMemoryTooLarge(range.size))?;
    let mapping = match backing.kind {
        MemoryBacking::Hugetlb => HostMapping::huge_pages(len),
        MemoryBacking::Anon | MemoryBacking::Thp => HostMapping::anonymous(len),
    }
    .map_err(|e| Error::MapGuestMemory(range.size, e))?;
    thp::advise_page_size(&mapping, backing.kind);
    if *policy != MemPolicy::Default {
        // Default never reaches here: GuestRam::new turns it into Local.
        set_policy(mapping.as_ptr() as u64, range.size, policy, 0).map_err(|e| {
            Error::MemoryPolicy {
                guest_node: range.guest_node,
                policy: policy.clone(),
                source: e,
            }
        })?;
    }
    if backing.prefault {
        mapping.populate().map_err(|e| Error::Prefault {
            guest_node: range.guest_node,
            source: e,
        })?;
    }
    Ok(mapping)
}

impl GuestRam {
    /// Maps host memory for each range, with the policy `policy_of(guest node)` set before
    /// any page is touched.
    pub fn new(
        ranges: &[RamRange],
        policy_of: impl Fn(u32) -> MemPolicy,
        backing: Backing,
    ) -> Result<Self, Error> {
        let mut mappings = Vec::with_capacity(ranges.len());
        let mut vm_regions = Vec::with_capacity(ranges.len());
        let mut regions = Vec::with_capacity(ranges.len());
        for range in ranges {
            let policy = match policy_of(range.guest_node) {
                MemPolicy::Default => MemPolicy::Local,
                other => other,
            };
            let mapping = map_range(range, &policy, backing)?;
            // SAFETY: the pointer and length describe `mapping`, which lives in `self` for as
            // long as the region built on it.
            let builder = unsafe {
                MmapRegionBuilder::new(mapping.len()).with_raw_mmap_pointer(mapping.as_ptr())
            };
            let mmap = builder.build().map_err(|e| {
                Error::MapGuestMemory(range.size, std::io::Error::other(e.to_string()))
            })?;
            let region = GuestRegionMmap::new(mmap, GuestAddress(range.start))
                .ok_or(Error::GuestMemoryLayout)?;
            regions.push(RamRegion {
                range: *range,
                host_addr: mapping.as_ptr() as u64,
                initial_policy: policy,
            });
            vm_regions.push(region);
            mappings.push(mapping);
        }
        let memory =
            GuestMemoryMmap::from_regions(vm_regions).map_err(|_| Error::GuestMemoryLayout)?;
        let policies = Mutex::new(regions.iter().map(|r| r.initial_policy.clone()).collect());
        Ok(Self {
            memory,
            regions,
            hugetlb: backing.kind == MemoryBacking::Hugetlb,
            policies,
            _mappings: mappings,
        })
    }

    /// The guest memory, for loading images and for device access.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// The regions, in guest-physical order.
    pub fn regions(&self) -> &[RamRegion] {
        &self.regions
    }

    /// Total guest RAM in bytes.
    pub fn size(&self) -> u64 {
        self.regions.iter().map(|r| r.range.size).sum()
    }

    /// The RAM ranges as (start, size) pairs, for the e820 map.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        self.regions
            .iter()
            .map(|r| (r.range.start, r.range.size))
            .collect()
    }

    /// End of the RAM below the MMIO hole (where the initramfs goes).
    pub fn low_ram_end(&self) -> u64 {
        self.regions
            .iter()
            .map(|r| r.range.end())
            .filter(|end| *end <= crate::arch::layout::MMIO_GAP_START)
            .max()
            .unwrap_or(0)
    }
}

impl GuestRam {
    /// The memory policy region `index` has now.
    pub fn policy(&self, index: usize) -> MemPolicy {
        self.policies
            .lock()
            .ok()
            .and_then(|p| p.get(index).cloned())
            .unwrap_or(MemPolicy::Default)
    }

    /// Sets (mbind, moving nothing) and records the memory policy of region `index`.
    pub fn set_policy(&self, index: usize, policy: MemPolicy) -> std::io::Result<()> {
        let region = self
            .regions
            .get(index)
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        set_policy(region.host_addr, region.range.size, &policy, 0)?;
        if let Ok(mut policies) = self.policies.lock() {
            if let Some(slot) = policies.get_mut(index) {
                *slot = policy;
            }
        }
        Ok(())
    }

    /// The regions as the balancer sees them, with their current policies.
    pub fn memory_regions(&self) -> Vec<MemoryRegion> {
        self.regions
            .iter()
            .enumerate()
            .map(|(i, r)| MemoryRegion {
                guest_node: r.range.guest_node,
                guest_addr: r.range.start,
                len: r.range.size,
                host_addr: r.host_addr,
                policy: self.policy(i),
                hugetlb: self.hugetlb,
            })
            .collect()
    }

    /// Gives `[addr, addr + len)`, which must lie inside one region, `policy`, moving its
    /// pages to satisfy it (mbind with MPOL_MF_MOVE | MPOL_MF_STRICT). The region's recorded
    /// policy is left as it was: the balancer's policy guard, the only caller, sets the whole
    /// region's policy afterwards.
    pub fn move_range(&self, addr: u64, len: u64, policy: &MemPolicy) -> std::io::Result<()> {
        let inside = self.regions.iter().any(|r| {
            addr >= r.host_addr
                && addr
                    .checked_add(len)
                    .is_some_and(|end| end <= r.host_addr + r.range.size)
        });
        if !inside {
            return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
        }
        set_policy(addr, len, policy, MPOL_MF_MOVE | MPOL_MF_STRICT)
    }

    /// Reads the byte at host address `addr` if it lies inside guest RAM: a page the
    /// kernel's NUMA balancing made PROT_NONE takes its hinting fault and is present again.
    pub fn touch(&self, addr: u64) {
        let inside = self
            .regions
            .iter()
            .any(|r| addr >= r.host_addr && addr - r.host_addr < r.range.size);
        if inside {
            // SAFETY: the address lies inside a guest RAM mapping, which stays mapped as long
            // as `self` lives; a volatile byte read of memory the guest may write at the same
            // time reads some value of it and changes nothing.
            let _ = unsafe { std::ptr::read_volatile(addr as *const u8) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use balancer::pages::SystemPages;
    use balancer::placement::query_placement;
    use vm_memory::{Bytes, GuestMemoryBackend};

    #[test]
    fn regions_are_one_guest_memory() {
        let ranges = layout::ram_layout(&[8 << 20, 4 << 20]);
        let ram = GuestRam::new(&ranges, |_| MemPolicy::Default, Backing::default()).unwrap();
        assert_eq!(ram.size(), 12 << 20);
        assert_eq!(ram.memory().num_regions(), 2);
        ram.memory()
            .write_obj(0xdead_beefu32, GuestAddress(9 << 20))
            .unwrap();
        let host = ram.regions()[1].host_addr + (1 << 20);
        // SAFETY: the address lies inside the second region's live mapping.
        let word = unsafe { std::ptr::read_volatile(host as *const u32) };
        assert_eq!(word, 0xdead_beef);
        assert_eq!(ram.regions()[1].range.guest_node, 1);
        assert_eq!(ram.low_ram_end(), 12 << 20);
    }

    #[test]
    fn bound_and_prefaulted_memory_is_all_on_its_node() {
        let ranges = layout::ram_layout(&[4 << 20]);
        let backing = Backing {
            kind: MemoryBacking::Thp,
            prefault: true,
        };
        let ram = GuestRam::new(&ranges, |_| MemPolicy::Bind(0), backing).unwrap();
        let view = ram.memory_regions();
        assert_eq!(view[0].policy, MemPolicy::Bind(0));
        let placement =
            query_placement(&SystemPages, view[0].host_addr, view[0].len, 1 << 20).unwrap();
        assert_eq!(placement.absent, 0);
        assert_eq!(placement.share_on(0), 1.0);
    }

    #[test]
    fn a_host_node_that_does_not_exist_fails_before_the_guest_runs() {
        let ranges = layout::ram_layout(&[2 << 20]);
        let err = GuestRam::new(&ranges, |_| MemPolicy::Bind(60), Backing::default()).unwrap_err();
        assert!(
            matches!(err, Error::MemoryPolicy { guest_node: 0, .. }),
            "{err}"
        );
    }
}
