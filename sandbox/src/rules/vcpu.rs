//! A vCPU thread: KVM_RUN in a loop; port I/O and MMIO go to the device models in the same
//! thread, which raise interrupts and the exit request through eventfds (write, in every
//! filter) and hand a virtio driver's start or reset to the device's worker over a channel
//! (futex, and an eventfd); a pause waits on a condition variable (futex). The kick signal's
//! handler only sets a flag. A vCPU pinned at launch pins itself under its filter, after a
//! first KVM_RUN that does not enter the guest (the kernel workers KVM starts then copy the
//! thread, filter included, before it is pinned): its own affinity only.

use syscalls::Sysno;

use super::{ArgCheck, Rules};
use crate::ioctls::{request, KVM_RUN};

/// The vCPU thread's own calls.
pub fn vcpu() -> Rules {
    Rules::default()
        // Its vCPU's descriptor, closed when the thread ends.
        .allow(&[Sysno::close])
        .allow_if(Sysno::ioctl, &[ArgCheck::eq(1, request(KVM_RUN()))])
        .allow_if(Sysno::sched_setaffinity, &[ArgCheck::eq(0, 0)])
}
