//! Creating a vCPU and putting it in the state the kernel's 64-bit entry expects.

use kvm_bindings::{kvm_cpuid_entry2, CpuId, Msrs};
use kvm_ioctls::{VcpuFd, VmFd};

use crate::arch::cpuid::{vcpu_cpuid, CpuTopology};
use crate::arch::xcr0::boot_xcr0;
use crate::arch::{lapic, msr, regs};
use crate::error::Error;

fn kvm_err(index: u8, what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
    move |e| Error::VcpuSetup {
        index,
        what,
        source: e.into(),
    }
}

/// Starts the vCPU with `xcr0` (see [`crate::arch::xcr0`]). A KVM that refuses it only
/// costs a warning: the guest sets XCR0 itself.
fn set_xcr0(fd: &VcpuFd, index: u8, xcr0: u64) {
    let result = fd.get_xcrs().and_then(|mut xcrs| {
        xcrs.nr_xcrs = 1;
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = xcr0;
        fd.set_xcrs(&xcrs)
    });
    if let Err(e) = result {
        log::warn!("vCPU {index}: cannot start with XCR0 {xcr0:#x}: {e}");
    }
}

/// Creates vCPU `index` and configures CPUID, MSRs, registers, FPU and LAPIC for a boot at
/// `entry`.
pub fn create_vcpu(
    vm: &VmFd,
    index: u8,
    supported_cpuid: &[kvm_cpuid_entry2],
    topology: CpuTopology,
    entry: u64,
) -> Result<VcpuFd, Error> {
    let fd = vm
        .create_vcpu(u64::from(index))
        .map_err(kvm_err(index, "create the vCPU"))?;

    let entries = vcpu_cpuid(supported_cpuid, topology, index);
    let cpuid = CpuId::from_entries(&entries).map_err(|_| Error::VcpuSetup {
        index,
        what: "build its CPUID",
        source: std::io::Error::from_raw_os_error(libc::E2BIG),
    })?;
    fd.set_cpuid2(&cpuid)
        .map_err(kvm_err(index, "set its CPUID"))?;
    if let Some(xcr0) = boot_xcr0(&entries) {
        set_xcr0(&fd, index, xcr0);
    }

    let entries = msr::boot_msr_entries();
    let msrs = Msrs::from_entries(&entries).map_err(|_| Error::VcpuSetup {
        index,
        what: "build its MSR list",
        source: std::io::Error::from_raw_os_error(libc::E2BIG),
    })?;
    let written = fd.set_msrs(&msrs).map_err(kvm_err(index, "set its MSRs"))?;
    if written != entries.len() {
        return Err(Error::VcpuSetup {
            index,
            what: "set its MSRs",
            source: std::io::Error::other(format!("KVM took {written} of {} MSRs", entries.len())),
        });
    }

    fd.set_regs(&regs::boot_regs(entry))
        .map_err(kvm_err(index, "set its registers"))?;
    let sregs = fd
        .get_sregs()
        .map_err(kvm_err(index, "read its special registers"))?;
    fd.set_sregs(&regs::boot_sregs(sregs))
        .map_err(kvm_err(index, "set its special registers"))?;
    fd.set_fpu(&regs::boot_fpu())
        .map_err(kvm_err(index, "set its FPU state"))?;

    let mut lapic_state = fd
        .get_lapic()
        .map_err(kvm_err(index, "read its local APIC"))?;
    lapic::wire_legacy_pins(&mut lapic_state);
    fd.set_lapic(&lapic_state)
        .map_err(kvm_err(index, "set its local APIC"))?;
    Ok(fd)
}
