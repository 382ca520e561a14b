//! The VM as the balancer sees it: guest RAM regions and their policies, the dirty log of
//! their KVM slots, and the vCPU threads. Nothing else of the VM is reachable from the
//! balancer.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use balancer::guest::{GuestView, MemoryRegion, VcpuThread};
use balancer::mempolicy::MemPolicy;
use kvm_ioctls::VmFd;

use crate::control::PAUSE_TIMEOUT;
use crate::dirty_log::{set_dirty_logging, take_dirty_bitmap, Rearm};
use crate::memory::GuestRam;
use crate::vcpu::control::VcpuControl;
use crate::vcpu::kick_shared;

/// The balancer's handle on a VM.
#[derive(Debug)]
pub struct VmView {
    ram: Arc<GuestRam>,
    vm: Arc<VmFd>,
    manual_protect: bool,
    vcpus: Arc<VcpuControl>,
    vcpu_guest_nodes: Vec<u32>,
}

impl VmView {
    /// A view of `ram` and `vcpus`; `vcpu_guest_nodes[i]` is vCPU i's guest node.
    pub fn new(
        ram: Arc<GuestRam>,
        vm: Arc<VmFd>,
        manual_protect: bool,
        vcpus: Arc<VcpuControl>,
        vcpu_guest_nodes: Vec<u32>,
    ) -> Self {
        Self {
            ram,
            vm,
            manual_protect,
            vcpus,
            vcpu_guest_nodes,
        }
    }
}

impl GuestView for VmView {
    fn regions(&self) -> Vec<MemoryRegion> {
        self.ram.memory_regions()
    }

    fn set_region_policy(&self, index: usize, policy: MemPolicy) -> io::Result<()> {
        self.ram.set_policy(index, policy)
    }

    fn move_range(&self, addr: u64, len: u64, policy: &MemPolicy) -> io::Result<()> {
        self.ram.move_range(addr, len, policy)
    }

    fn set_dirty_logging(&self, on: bool) -> io::Result<()> {
        set_dirty_logging(&self.vm, &self.ram, on)
    }

    fn take_dirty_bitmap(&self, index: usize, rearm: Option<&[u64]>) -> io::Result<Vec<u64>> {
        let region = self
            .ram
            .regions()
            .get(index)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        take_dirty_bitmap(
            &self.vm,
            index as u32,
            region.range.size,
            match (self.manual_protect, rearm) {
                (false, _) => Rearm::ByKvm,
                (true, None) => Rearm::Written,
                (true, Some(pages)) => Rearm::Pages(pages),
            },
        )
    }

    fn rearms_selectively(&self) -> bool {
        self.manual_protect
    }

    fn vcpu_threads(&self) -> Vec<VcpuThread> {
        self.vcpus
            .vcpus()
            .iter()
            .enumerate()
            .map(|(i, v)| VcpuThread {
                vcpu: i as u32,
                guest_node: self.vcpu_guest_nodes.get(i).copied().unwrap_or(0),
                tid: v.tid.load(Ordering::SeqCst),
                pins: v.pins.load(Ordering::SeqCst),
            })
            .collect()
    }

    fn pause_vcpus(&self) -> io::Result<bool> {
        if self.vcpus.is_paused() {
            return Ok(false);
        }
        if !self.vcpus.pause(kick_shared, PAUSE_TIMEOUT) {
            self.vcpus.resume();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the vCPUs did not stop within 5 s",
            ));
        }
        Ok(true)
    }

    fn resume_vcpus(&self) {
        self.vcpus.resume();
    }

    fn touch(&self, addr: u64) {
        self.ram.touch(addr);
    }
}
