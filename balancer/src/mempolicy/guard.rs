//! The one owner of guest memory policies while a rebalance runs. A [`PolicyGuard`] points
//! regions at their targets, remembering the policy each had, and on every way out puts them
//! back: by [`PolicyGuard::restore`], or by being dropped (a cancel, a full target, a failed
//! call, a failed policy change, a shutdown, a panic unwinding the thread). Only
//! [`PolicyGuard::settle`] leaves the regions with new policies. Partial moves with mbind(2)
//! go through it as well ([`RangeMover`]), so nothing else changes a policy while it lives.

use std::io;

use super::MemPolicy;
use crate::chunk::CHUNK_BYTES;
use crate::guest::{GuestView, MemoryRegion};
use crate::host::HostInfo;
use crate::mover::RangeMover;

/// Why a region's policy could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The VM has no such region.
    #[error("guest memory region {0} does not exist")]
    NoRegion(usize),
    /// mbind(2) failed.
    #[error("cannot set the memory policy of guest memory region {region} to {policy}: {source}")]
    Set {
        /// The region.
        region: usize,
        /// The policy's name.
        policy: &'static str,
        /// The system's error.
        source: io::Error,
    },
}

/// Regions pointed away from their policy, until settled or put back.
pub struct PolicyGuard<'a> {
    view: &'a dyn GuestView,
    host: &'a dyn HostInfo,
    /// Each region changed, as it was before (its policy included).
    found: Vec<(usize, MemoryRegion)>,
    /// Whether the regions still have to be put back.
    armed: bool,
}

impl std::fmt::Debug for PolicyGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyGuard")
            .field(
                "regions",
                &self.found.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            )
            .field("armed", &self.armed)
            .finish()
    }
}

impl<'a> PolicyGuard<'a> {
    /// Gives each region of `interim` its policy, remembering the one it had. If one cannot
    /// be set, the regions already changed are put back and the error returned.
    pub fn point(
        view: &'a dyn GuestView,
        host: &'a dyn HostInfo,
        interim: &[(usize, MemPolicy)],
    ) -> Result<Self, PolicyError> {
        let regions = view.regions();
        let mut guard = Self {
            view,
            host,
            found: Vec::with_capacity(interim.len()),
            armed: true,
        };
        for (index, policy) in interim {
            let region = regions.get(*index).ok_or(PolicyError::NoRegion(*index))?;
            guard.found.push((*index, region.clone()));
            view.set_region_policy(*index, policy.clone())
                .map_err(|source| PolicyError::Set {
                    region: *index,
                    policy: policy.name(),
                    source,
                })?;
        }
        Ok(guard)
    }

    /// The regions it changed, with the policy each had.
    pub fn originals(&self) -> impl Iterator<Item = (usize, &MemPolicy)> {
        self.found.iter().map(|(i, r)| (*i, &r.policy))
    }

    /// Leaves each region it changed with its policy in `finals` (a region `finals` leaves
    /// out is put back). A region whose new policy cannot be set is put back as well, and the
    /// first such error returned.
    pub fn settle(mut self, finals: &[(usize, MemPolicy)]) -> Result<(), PolicyError> {
        self.armed = false;
        let mut first = None;
        for (index, region) in &self.found {
            let policy = finals
                .iter()
                .find(|(i, _)| i == index)
                .map_or_else(|| region.policy.clone(), |(_, p)| p.clone());
            let name = policy.name();
            if let Err(source) = self.view.set_region_policy(*index, policy) {
                self.put_back_one(*index, region);
                first.get_or_insert(PolicyError::Set {
                    region: *index,
                    policy: name,
                    source,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Puts every region back now; the first error, if any (the others are still tried).
    pub fn restore(mut self) -> Result<(), PolicyError> {
        self.armed = false;
        self.put_back()
    }

    fn put_back(&self) -> Result<(), PolicyError> {
        let mut first = None;
        for (index, region) in &self.found {
            if let Err(source) = self.view.set_region_policy(*index, region.policy.clone()) {
                first.get_or_insert(PolicyError::Set {
                    region: *index,
                    policy: region.policy.name(),
                    source,
                });
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn put_back_one(&self, index: usize, region: &MemoryRegion) {
        if let Err(e) = self.view.set_region_policy(index, region.policy.clone()) {
            log::error!("cannot put back the memory policy of guest memory region {index}: {e}");
        }
    }
}

impl Drop for PolicyGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.put_back() {
                log::error!("{e}");
            }
        }
    }
}

impl RangeMover for PolicyGuard<'_> {
    fn move_range(&self, addr: u64, len: u64, target: u32) -> io::Result<()> {
        let owned = self.found.iter().any(|(_, r)| {
            addr >= r.host_addr
                && addr
                    .checked_add(len)
                    .is_some_and(|end| end <= r.host_addr + r.len)
        });
        if !owned {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.view
            .move_range(addr, len, &MemPolicy::Preferred(target))
    }

    fn room(&self, node: u32) -> Option<u64> {
        let host = self.host.topology().ok()?;
        let node = host.node(node)?;
        Some(node.free_bytes + node.free_huge_pages_2m * CHUNK_BYTES)
    }
}
