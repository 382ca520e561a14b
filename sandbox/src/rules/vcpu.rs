//! A vCPU thread: KVM_RUN in a loop; port I/O and MMIO go to the device models in the same
//! thread, which raise interrupts and the exit request through eventfds (write, in every
//! filter) and hand a virtio driver's start or reset to the device's worker over a channel
//! (futex, and an eventfd); a pause waits on a condition variable (futex). The kick signal's
//! handler only sets a flag. The thread pins itself (launch pinning) before its filter is in
//! place, so the filter allows no change of affinity.

use syscalls::Sysno;

use super::{ArgCheck, Rules};
use crate::ioctls::{request, KVM_RUN};

/// The vCPU thread's own calls.
pub fn vcpu() -> Rules {
    Rules::default()
        // Its vCPU's descriptor, closed when the thread ends.
        .allow(&[Sysno::close])
        .allow_if(Sysno::ioctl, &[ArgCheck::eq(1, request(KVM_RUN()))])
}
