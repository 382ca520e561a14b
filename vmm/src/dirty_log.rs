//! KVM dirty logging of guest RAM, for the balancer's write heat.
//!
//! Where the host offers it, manual protect with initially-set bits is enabled when the VM is
//! created (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2): turning logging on then write-protects nothing
//! up front, and each sample re-protects only the pages the heat sampler chooses to watch
//! (KVM_CLEAR_DIRTY_LOG), so the guest pays write faults only for those.

use std::io;

use kvm_bindings::{
    kvm_clear_dirty_log, kvm_clear_dirty_log__bindgen_ty_1, kvm_enable_cap,
    kvm_userspace_memory_region, KVMIO, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_MEM_LOG_DIRTY_PAGES,
};
use kvm_ioctls::{Kvm, VmFd};
use vmm_sys_util::ioctl::ioctl_with_ref;
use vmm_sys_util::ioctl_iowr_nr;

use crate::memory::GuestRam;

ioctl_iowr_nr!(KVM_CLEAR_DIRTY_LOG, KVMIO, 0xc0, kvm_clear_dirty_log);

/// KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET.
const MANUAL_PROTECT_FLAGS: u64 = 0b11;
const PAGE: u64 = 4096;

/// Turns on manual dirty-log protection if KVM has it; returns whether it is on.
pub fn enable_manual_protect(kvm: &Kvm, vm: &VmFd) -> bool {
    let offered = kvm.check_extension_raw(u64::from(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2)) as u64;
    if offered & MANUAL_PROTECT_FLAGS != MANUAL_PROTECT_FLAGS {
        return false;
    }
    let mut cap = kvm_enable_cap {
        cap: KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
        ..Default::default()
    };
    cap.args[0] = MANUAL_PROTECT_FLAGS;
    vm.enable_cap(&cap).is_ok()
}

/// Registers every RAM region again, with or without dirty logging.
pub fn set_dirty_logging(vm: &VmFd, ram: &GuestRam, on: bool) -> io::Result<()> {
    for (slot, region) in ram.regions().iter().enumerate() {
        let mem_region = kvm_userspace_memory_region {
            slot: slot as u32,
            flags: if on { KVM_MEM_LOG_DIRTY_PAGES } else { 0 },
            guest_phys_addr: region.range.start,
            memory_size: region.range.size,
            userspace_addr: region.host_addr,
        };
        // SAFETY: the same slot, addresses and live mapping as registered at start (owned by
        // `ram`, which outlives the VM's use of it); only the logging flag changes.
        unsafe { vm.set_user_memory_region(mem_region) }.map_err(io::Error::from)?;
    }
    Ok(())
}

/// What reading a slot's dirty log re-protects for the next interval.
#[derive(Clone, Copy, Debug)]
pub enum Rearm<'a> {
    /// No manual protect: KVM re-protects every page written when the log is read.
    ByKvm,
    /// Manual protect: clear and re-protect the pages written.
    Written,
    /// Manual protect: clear and re-protect these pages (a bitmap like the log).
    Pages(&'a [u64]),
}

/// The dirty log of slot `slot` (of `size` bytes), re-arming what `rearm` says.
pub fn take_dirty_bitmap(
    vm: &VmFd,
    slot: u32,
    size: u64,
    rearm: Rearm<'_>,
) -> io::Result<Vec<u64>> {
    let bitmap = vm
        .get_dirty_log(slot, size as usize)
        .map_err(io::Error::from)?;
    let mut mask = match rearm {
        Rearm::ByKvm => return Ok(bitmap),
        Rearm::Written => bitmap.clone(),
        Rearm::Pages(pages) => {
            let mut mask = pages.to_vec();
            mask.resize(bitmap.len(), 0);
            mask
        }
    };
    if mask.iter().any(|w| *w != 0) {
        let clear = kvm_clear_dirty_log {
            slot,
            num_pages: (size / PAGE) as u32,
            first_page: 0,
            __bindgen_anon_1: kvm_clear_dirty_log__bindgen_ty_1 {
                dirty_bitmap: mask.as_mut_ptr().cast(),
            },
        };
        // SAFETY: the ioctl reads `clear` and the mask it points at, which holds one bit for
        // each of the slot's pages (sized like get_dirty_log's bitmap: the slot, rounded up
        // to 64 bits); `num_pages` is the whole slot, as KVM requires of a count that is not
        // a multiple of 64.
        let ret = unsafe { ioctl_with_ref(vm, KVM_CLEAR_DIRTY_LOG(), &clear) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(bitmap)
}
