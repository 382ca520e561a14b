//! Virtio devices over MMIO (virtio 1.2, section 4.2): the register transport, the worker
//! thread that serves a device's queues, and the block and network devices.
//!
//! - [`mmio`]: the virtio-mmio register block a vCPU reads and writes, and its state machine.
//! - [`status`]: the device status handshake (ACKNOWLEDGE .. DRIVER_OK, NEEDS_RESET).
//! - [`interrupt`]: the interrupt status register and the eventfd behind the interrupt.
//! - [`worker`]: one thread per device, pinned where asked, that serves the queues.
//! - [`chain`]: a guest's descriptor chain checked and turned into guest memory slices.
//! - [`pop`]: taking chains off a queue, with notifications off while the device drains it.
//! - [`counters`]: requests, bytes and errors per device.
//! - [`block`]: virtio-blk on a raw image. [`net`]: virtio-net on a tap device.
//!
//! Everything here treats the guest as hostile: addresses, lengths, queue sizes and chains
//! come from it, and a malformed one earns the guest an error status or NEEDS_RESET.

pub mod block;
pub mod chain;
pub mod counters;
pub mod interrupt;
pub mod mmio;
pub mod net;
pub mod pop;
pub mod status;
pub mod worker;

#[cfg(any(test, feature = "fuzzing"))]
pub mod hostile;
#[cfg(any(test, feature = "fuzzing"))]
pub mod test_driver;

use std::os::fd::RawFd;

use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;

pub use self::counters::DeviceCounters;
pub use self::interrupt::VirtioInterrupt;

/// Size of one device's MMIO window (registers at 0x000, configuration space at 0x100).
pub const MMIO_WINDOW_SIZE: u64 = 0x1000;

/// The feature bit every device offers: virtio 1.x, no legacy interface.
pub const FEATURE_VERSION_1: u64 = 1 << virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
/// Indirect descriptor tables.
pub const FEATURE_INDIRECT_DESC: u64 =
    1 << virtio_bindings::virtio_ring::VIRTIO_RING_F_INDIRECT_DESC;
/// used_event / avail_event interrupt suppression.
pub const FEATURE_EVENT_IDX: u64 = 1 << virtio_bindings::virtio_ring::VIRTIO_RING_F_EVENT_IDX;

/// What kind of virtio device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// virtio-blk.
    Block,
    /// virtio-net.
    Net,
}

impl DeviceKind {
    /// The worker thread of the device of this kind numbered `index` (`virtio-disk0`, ...).
    pub fn worker_thread(self, index: u8) -> sandbox::ThreadKind {
        match self {
            Self::Block => sandbox::ThreadKind::VirtioDisk(index),
            Self::Net => sandbox::ThreadKind::VirtioNet(index),
        }
    }

    /// The virtio device ID.
    pub fn id(self) -> u32 {
        match self {
            Self::Block => virtio_bindings::virtio_ids::VIRTIO_ID_BLOCK,
            Self::Net => virtio_bindings::virtio_ids::VIRTIO_ID_NET,
        }
    }

    /// Its name in the API and in metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Net => "net",
        }
    }
}

/// The guest did something a device cannot go on from: the device asks for a reset.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// The available ring's index ran further ahead than the queue holds.
    #[error("the available ring index jumped by more than the queue size")]
    AvailIndex,
    /// A descriptor chain is empty, loops, or points outside the descriptor table.
    #[error("a descriptor chain is empty, loops or leaves its table")]
    BrokenChain,
    /// A descriptor chain holds more descriptors than a device accepts.
    #[error("a descriptor chain has more than {0} descriptors")]
    ChainTooLong(usize),
    /// A descriptor points outside guest memory.
    #[error("a descriptor points outside guest memory")]
    OutsideMemory,
    /// A device-writable descriptor comes before a device-readable one.
    #[error("a device-writable descriptor comes before a readable one")]
    WritableFirst,
    /// A request's header is shorter than the device needs.
    #[error("a request is shorter than its header")]
    ShortHeader,
    /// A request has no room for its status.
    #[error("a request has no writable byte for its status")]
    NoStatus,
    /// A receive buffer is shorter than the virtio-net header or holds readable descriptors.
    #[error("a receive buffer is shorter than the network header or not all writable")]
    BadReceiveBuffer,
    /// The used ring could not be written.
    #[error("the used ring could not be written")]
    UsedRing,
}

/// What a device's worker needs from the queues once the driver is ready.
#[derive(Debug)]
pub struct ActiveQueues {
    /// Guest memory.
    pub mem: GuestMemoryMmap,
    /// The queues, in device order (a queue the driver left unused is not ready).
    pub queues: Vec<Queue>,
    /// The features the driver accepted.
    pub features: u64,
}

/// A device's own part: its queues' meaning. The transport and the worker do the rest.
pub trait DeviceBackend: Send + 'static {
    /// Which device this is.
    fn kind(&self) -> DeviceKind;
    /// The features it offers.
    fn features(&self) -> u64;
    /// The largest size of each of its queues.
    fn queue_max_sizes(&self) -> Vec<u16>;
    /// Its configuration space (read-only to the guest).
    fn config_space(&self) -> Vec<u8>;
    /// The driver set DRIVER_OK with `features` accepted.
    fn activate(&mut self, features: u64) -> std::io::Result<()>;
    /// Serves queue `index` after its notification. Returns whether the used ring changed.
    fn process_queue(
        &mut self,
        index: usize,
        active: &mut ActiveQueues,
        counters: &DeviceCounters,
    ) -> Result<Progress, GuestError>;
    /// A host file descriptor the worker should watch for input while `wants_input`.
    fn input_fd(&self) -> Option<RawFd> {
        None
    }
    /// Whether it has room to take input from `input_fd` now.
    fn wants_input(&self) -> bool {
        false
    }
    /// `input_fd` is readable.
    fn process_input(
        &mut self,
        _active: &mut ActiveQueues,
        _counters: &DeviceCounters,
    ) -> Result<Progress, GuestError> {
        Ok(Progress::default())
    }
    /// The driver reset the device.
    fn reset(&mut self) {}
}

/// What one pass over a queue did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Queues whose used ring got entries (bit per queue).
    pub used: u32,
    /// Work is left that the pass stopped short of, to keep other work from starving.
    pub more: bool,
}

impl Progress {
    /// Marks queue `index` as having new used entries.
    pub fn used_on(&mut self, index: usize) {
        self.used |= 1 << index;
    }
}
