//! The KVM virtual machine: its file descriptor, the in-kernel interrupt controllers and PIT,
//! and guest RAM registered as memory slots.

use kvm_bindings::{kvm_pit_config, kvm_userspace_memory_region, KVM_PIT_SPEAKER_DUMMY};
use kvm_ioctls::{Cap, Kvm, VmFd};

use crate::arch::layout::{KVM_IDENTITY_MAP_ADDRESS, KVM_TSS_ADDRESS};
use crate::error::Error;
use crate::memory::GuestRam;

/// KVM capabilities Tern cannot run without.
const REQUIRED_CAPS: [(Cap, &str); 7] = [
    (Cap::Irqchip, "an in-kernel irqchip"),
    (Cap::UserMemory, "user memory slots"),
    (Cap::SetTssAddr, "KVM_SET_TSS_ADDR"),
    (Cap::Pit2, "an in-kernel PIT"),
    (Cap::Irqfd, "irqfd"),
    (Cap::ImmediateExit, "immediate exit"),
    (Cap::ExtCpuid, "KVM_GET_SUPPORTED_CPUID"),
];

/// Opens /dev/kvm and checks what Tern needs.
pub fn open_kvm() -> Result<Kvm, Error> {
    let kvm = Kvm::new().map_err(|e| match e.errno() {
        libc::EACCES | libc::EPERM => Error::KvmAccess,
        libc::ENOENT => Error::KvmAbsent,
        _ => Error::Kvm("cannot open /dev/kvm", e.into()),
    })?;
    for (cap, name) in REQUIRED_CAPS {
        if !kvm.check_extension(cap) {
            return Err(Error::KvmMissing(name));
        }
    }
    Ok(kvm)
}

/// Creates a VM with an in-kernel IOAPIC, PICs and PIT.
pub fn create_vm(kvm: &Kvm) -> Result<VmFd, Error> {
    let vm = kvm
        .create_vm()
        .map_err(|e| Error::Kvm("cannot create a VM", e.into()))?;
    vm.set_identity_map_address(KVM_IDENTITY_MAP_ADDRESS)
        .map_err(|e| Error::Kvm("cannot set the identity map address", e.into()))?;
    vm.set_tss_address(KVM_TSS_ADDRESS as usize)
        .map_err(|e| Error::Kvm("cannot set the TSS address", e.into()))?;
    vm.create_irq_chip()
        .map_err(|e| Error::Kvm("cannot create the in-kernel irqchip", e.into()))?;
    let pit = kvm_pit_config {
        flags: KVM_PIT_SPEAKER_DUMMY,
        ..Default::default()
    };
    vm.create_pit2(pit)
        .map_err(|e| Error::Kvm("cannot create the in-kernel PIT", e.into()))?;
    Ok(vm)
}

/// Registers every RAM region as a KVM memory slot, slot N for region N.
pub fn register_ram(vm: &VmFd, ram: &GuestRam) -> Result<(), Error> {
    for (slot, region) in ram.regions().iter().enumerate() {
        let slot = u32::try_from(slot).map_err(|_| Error::GuestMemoryLayout)?;
        let mem_region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: region.range.start,
            memory_size: region.range.size,
            userspace_addr: region.host_addr,
        };
        // SAFETY: the host range is a live mapping owned by `ram`, which outlives the VM's
        // use of it: the VM is dropped (and its vCPUs stopped) before guest RAM.
        unsafe { vm.set_user_memory_region(mem_region) }
            .map_err(|e| Error::Kvm("cannot register guest memory", e.into()))?;
    }
    Ok(())
}
