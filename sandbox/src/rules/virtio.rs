//! The virtio device workers: each waits (epoll) on its queues' notification eventfds, a
//! control eventfd and, for a network device, its tap; it reads the eventfds, raises the
//! device's interrupt through an irqfd (write) and answers the transport over a channel
//! (futex). A worker pins itself before it installs its filter.

use syscalls::Sysno;

use super::{ArgCheck, Rules};
use crate::ioctls::{request, TUNSETOFFLOAD};

/// What every device worker calls: its event loop, and closing its descriptors at the end.
fn worker() -> Rules {
    Rules::default().allow(&[
        Sysno::epoll_wait,
        Sysno::epoll_pwait,
        Sysno::epoll_ctl,
        Sysno::read,
        Sysno::close,
    ])
}

/// A virtio-blk worker: reads and writes its image at offsets straight into guest memory,
/// and flushes it (fdatasync) when the guest asks.
pub fn disk() -> Rules {
    worker().allow(&[Sysno::pread64, Sysno::pwrite64, Sysno::fdatasync])
}

/// A virtio-net worker: frames between its tap and guest memory (readv, writev), and the
/// offloads the guest accepts (TUNSETOFFLOAD) when the driver starts the device.
pub fn net() -> Rules {
    worker()
        .allow(&[Sysno::readv, Sysno::writev])
        .allow_if(Sysno::ioctl, &[ArgCheck::eq(1, request(TUNSETOFFLOAD()))])
}
