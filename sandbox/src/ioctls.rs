//! The ioctl requests tern's threads make once running.

use kvm_bindings::{kvm_clear_dirty_log, kvm_dirty_log, kvm_userspace_memory_region, KVMIO};
use vmm_sys_util::{ioctl_io_nr, ioctl_iow_nr, ioctl_iowr_nr};

ioctl_io_nr!(KVM_RUN, KVMIO, 0x80);
ioctl_iow_nr!(
    KVM_SET_USER_MEMORY_REGION,
    KVMIO,
    0x46,
    kvm_userspace_memory_region
);
ioctl_iow_nr!(KVM_GET_DIRTY_LOG, KVMIO, 0x42, kvm_dirty_log);
ioctl_iowr_nr!(KVM_CLEAR_DIRTY_LOG, KVMIO, 0xc0, kvm_clear_dirty_log);
/// The tun driver's ioctl type ('T').
const TUNTAP: u32 = b'T' as u32;
ioctl_iow_nr!(TUNSETOFFLOAD, TUNTAP, 208, libc::c_uint);

/// An ioctl request as the filter compares it (the kernel takes it as a 32-bit number).
pub fn request(number: libc::c_ulong) -> u32 {
    // Every request number fits in 32 bits (direction, size, type, number).
    number as u32
}

/// The name of ioctl request `number`, for the README's table and messages.
pub fn name(number: u32) -> &'static str {
    let known: [(u32, &str); 7] = [
        (request(KVM_RUN()), "KVM_RUN"),
        (
            request(KVM_SET_USER_MEMORY_REGION()),
            "KVM_SET_USER_MEMORY_REGION",
        ),
        (request(KVM_GET_DIRTY_LOG()), "KVM_GET_DIRTY_LOG"),
        (request(KVM_CLEAR_DIRTY_LOG()), "KVM_CLEAR_DIRTY_LOG"),
        (request(TUNSETOFFLOAD()), "TUNSETOFFLOAD"),
        (request(libc::TCGETS), "TCGETS"),
        (request(libc::TCSETS), "TCSETS"),
    ];
    known
        .iter()
        .find(|(n, _)| *n == number)
        .map_or("an unknown request", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kvm_requests_have_the_kernels_numbers() {
        assert_eq!(request(KVM_RUN()), 0xae80);
        assert_eq!(request(KVM_SET_USER_MEMORY_REGION()), 0x4020_ae46);
        assert_eq!(request(KVM_GET_DIRTY_LOG()), 0x4010_ae42);
        assert_eq!(request(KVM_CLEAR_DIRTY_LOG()), 0xc018_aec0);
        assert_eq!(request(TUNSETOFFLOAD()), 0x4004_54d0);
        assert_eq!(name(0xae80), "KVM_RUN");
    }
}
