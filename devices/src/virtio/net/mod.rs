//! virtio-net on a tap device: a receive queue (0) and a transmit queue (1). Frames keep
//! their 12-byte virtio-net header on the way through the tap, so the guest's checksum and
//! segmentation offloads (VIRTIO_NET_F_CSUM, HOST_TSO4/6) reach the host kernel, and the
//! host's (GUEST_CSUM, GUEST_TSO4/6, set on the tap with TUNSETOFFLOAD) reach the guest.
//! Frames go straight between the tap and guest memory (readv/writev), never through a
//! buffer of tern's.

pub mod tap;

use std::os::fd::{AsRawFd, RawFd};

use virtio_bindings::virtio_net::{
    VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
    VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_MAC,
};
use vm_memory::GuestMemoryMmap;

use self::tap::{Tap, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, VNET_HDR_LEN};
use super::chain::check_chain;
use super::pop::{add_used, drain, end_pass, pop_chain};
use super::{
    ActiveQueues, DeviceBackend, DeviceCounters, DeviceKind, GuestError, Progress,
    FEATURE_EVENT_IDX, FEATURE_INDIRECT_DESC, FEATURE_VERSION_1,
};

/// Size of each queue.
pub const QUEUE_SIZE: u16 = 256;
/// The receive queue.
pub const RX: usize = 0;
/// The transmit queue.
pub const TX: usize = 1;
/// Most descriptors (and iovecs) in one frame's chain: below the kernel's UIO_MAXIOV.
pub const MAX_DESCRIPTORS: usize = 1024;
/// The largest frame the guest may send: a 64 KiB TSO frame, its Ethernet header and the
/// virtio-net header.
pub const MAX_TX_FRAME: u64 = 65_536 + 14 + VNET_HDR_LEN as u64;

/// A MAC address.
pub type Mac = [u8; 6];

/// A virtio-net device.
#[derive(Debug)]
pub struct Net {
    tap: Tap,
    mac: Mac,
    rx_has_room: bool,
}

impl Net {
    /// A device on `tap` whose guest side has address `mac`.
    pub fn new(tap: Tap, mac: Mac) -> Self {
        Self {
            tap,
            mac,
            rx_has_room: true,
        }
    }

    /// Receives frames from the tap into the guest's receive buffers until either runs dry
    /// or a queue's worth is done.
    fn receive(
        &mut self,
        active: &mut ActiveQueues,
        counters: &DeviceCounters,
    ) -> Result<Progress, GuestError> {
        let ActiveQueues { mem, queues, .. } = active;
        let mut progress = Progress::default();
        let Some(queue) = queues.get_mut(RX) else {
            return Ok(progress);
        };
        for _ in 0..QUEUE_SIZE {
            let Some(chain) = pop_chain(queue, mem)? else {
                if end_pass(queue, mem)? {
                    // Buffers came in while notifications were being turned back on.
                    continue;
                }
                // No buffer: stop watching the tap until the driver adds some.
                self.rx_has_room = false;
                return Ok(progress);
            };
            let checked = check_chain(chain, mem, MAX_DESCRIPTORS)?;
            if checked.writable.len() < VNET_HDR_LEN as u64 || !checked.readable.is_empty() {
                return Err(GuestError::BadReceiveBuffer);
            }
            let iovecs = checked
                .writable
                .iovecs(mem, MAX_DESCRIPTORS)
                .ok_or(GuestError::ChainTooLong(MAX_DESCRIPTORS))?;
            match self.tap.read_frame(&iovecs) {
                Ok(Some(len)) => {
                    set_num_buffers(mem, &checked.writable)?;
                    counters.request();
                    counters.read(len.saturating_sub(VNET_HDR_LEN) as u64);
                    add_used(queue, mem, checked.head, len as u32)?;
                    progress.used_on(RX);
                }
                Ok(None) => {
                    // Nothing waiting: give the buffer back for the next frame.
                    virtio_queue::QueueOwnedT::go_to_previous_position(queue);
                    return Ok(progress);
                }
                Err(err) => {
                    log::debug!("tap {}: read failed: {err}", self.tap.name());
                    counters.error();
                    virtio_queue::QueueOwnedT::go_to_previous_position(queue);
                    return Ok(progress);
                }
            }
        }
        progress.more = true;
        Ok(progress)
    }

    /// Sends the guest's frames to the tap.
    fn transmit(
        &mut self,
        active: &mut ActiveQueues,
        counters: &DeviceCounters,
    ) -> Result<Progress, GuestError> {
        let ActiveQueues { mem, queues, .. } = active;
        let tap = &self.tap;
        drain(TX, queues, mem, usize::from(QUEUE_SIZE), |chain| {
            let checked = check_chain(chain, mem, MAX_DESCRIPTORS)?;
            let frame = &checked.readable;
            counters.request();
            if frame.len() <= VNET_HDR_LEN as u64 || frame.len() > MAX_TX_FRAME {
                counters.error();
                return Ok((checked.head, 0));
            }
            let iovecs = frame
                .iovecs(mem, MAX_DESCRIPTORS)
                .ok_or(GuestError::ChainTooLong(MAX_DESCRIPTORS))?;
            match tap.write_frame(&iovecs) {
                Ok(_) => counters.written(frame.len() - VNET_HDR_LEN as u64),
                Err(err) => {
                    log::debug!("tap {}: write failed: {err}", tap.name());
                    counters.error();
                }
            }
            Ok((checked.head, 0))
        })
    }
}

/// Sets num_buffers (bytes 10-11 of the header) to 1: one buffer per frame.
fn set_num_buffers(
    mem: &GuestMemoryMmap,
    buffers: &super::chain::GuestBuffers,
) -> Result<(), GuestError> {
    let (_, rest) = buffers.split_at(10);
    rest.write(mem, &1u16.to_le_bytes()).map(|_| ())
}

impl DeviceBackend for Net {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Net
    }

    fn features(&self) -> u64 {
        FEATURE_VERSION_1
            | FEATURE_INDIRECT_DESC
            | FEATURE_EVENT_IDX
            | (1 << VIRTIO_NET_F_MAC)
            | (1 << VIRTIO_NET_F_CSUM)
            | (1 << VIRTIO_NET_F_GUEST_CSUM)
            | (1 << VIRTIO_NET_F_HOST_TSO4)
            | (1 << VIRTIO_NET_F_HOST_TSO6)
            | (1 << VIRTIO_NET_F_GUEST_TSO4)
            | (1 << VIRTIO_NET_F_GUEST_TSO6)
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE, QUEUE_SIZE]
    }

    fn config_space(&self) -> Vec<u8> {
        self.mac.to_vec()
    }

    fn activate(&mut self, features: u64) -> std::io::Result<()> {
        let has = |bit: u32| features & (1 << bit) != 0;
        let mut offload = 0;
        if has(VIRTIO_NET_F_GUEST_CSUM) {
            offload |= TUN_F_CSUM;
            if has(VIRTIO_NET_F_GUEST_TSO4) {
                offload |= TUN_F_TSO4;
            }
            if has(VIRTIO_NET_F_GUEST_TSO6) {
                offload |= TUN_F_TSO6;
            }
        }
        self.rx_has_room = true;
        // Without offloads the host sends whole, checksummed frames: the guest still works.
        if let Err(err) = self.tap.set_offload(offload) {
            log::warn!("{err}; the guest gets frames without offloads");
        }
        Ok(())
    }

    fn process_queue(
        &mut self,
        index: usize,
        active: &mut ActiveQueues,
        counters: &DeviceCounters,
    ) -> Result<Progress, GuestError> {
        match index {
            RX => {
                // New receive buffers: take frames again.
                self.rx_has_room = true;
                self.receive(active, counters)
            }
            TX => self.transmit(active, counters),
            _ => Ok(Progress::default()),
        }
    }

    fn input_fd(&self) -> Option<RawFd> {
        Some(self.tap.as_raw_fd())
    }

    fn wants_input(&self) -> bool {
        self.rx_has_room
    }

    fn process_input(
        &mut self,
        active: &mut ActiveQueues,
        counters: &DeviceCounters,
    ) -> Result<Progress, GuestError> {
        self.receive(active, counters)
    }

    fn reset(&mut self) {
        self.rx_has_room = true;
    }
}

/// Parses a MAC address written as six hex bytes separated by ':'.
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = Mac::default();
    let mut parts = text.split(':');
    for slot in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

#[cfg(test)]
mod tests;
