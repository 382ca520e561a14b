//! A driver for tests: it sets a device up through its registers like Linux's virtio_mmio
//! driver does, lays out one queue in guest memory, posts descriptor chains and waits for the
//! device to use them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::mmio::{MmioTransport, TransportParts};
use super::status::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FEATURES_OK};
use super::worker::{spawn_worker, WorkerSetup};
use super::{DeviceBackend, DeviceCounters, VirtioInterrupt};
use crate::trigger::EventFdTrigger;

/// Guest memory size of the tests.
pub const MEM_SIZE: u64 = 0x20_0000;
/// Where queue N's rings go: descriptor table, available ring, used ring.
pub fn ring_addrs(queue: u16) -> (u64, u64, u64) {
    let base = 0x1_0000 * u64::from(queue + 1);
    (base, base + 0x4000, base + 0x8000)
}
/// Where test data buffers may go.
pub const DATA_START: u64 = 0x10_0000;

/// A device under test with its driver side.
#[allow(missing_debug_implementations)]
pub struct TestDriver {
    pub transport: MmioTransport,
    pub mem: GuestMemoryMmap,
    pub interrupt: Arc<VirtioInterrupt>,
    pub counters: Arc<DeviceCounters>,
    pub queue_size: u16,
    avail_idx: Vec<u16>,
}

impl TestDriver {
    /// `backend` behind a transport, with a worker, in fresh guest memory.
    pub fn new(backend: Box<dyn DeviceBackend>, queue_size: u16) -> Self {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE as usize)]).unwrap();
        let interrupt = Arc::new(VirtioInterrupt::new(EventFdTrigger::new().unwrap()));
        let counters = Arc::new(DeviceCounters::default());
        let queues = backend.queue_max_sizes().len();
        let queue_events: Vec<EventFd> = (0..queues)
            .map(|_| EventFd::new(EFD_NONBLOCK).unwrap())
            .collect();
        let parts = TransportParts {
            kind: backend.kind(),
            features: backend.features(),
            config: backend.config_space(),
            queue_max_sizes: backend.queue_max_sizes(),
            queue_events: queue_events
                .iter()
                .map(|e| e.try_clone().unwrap())
                .collect(),
        };
        let worker = spawn_worker(
            backend,
            WorkerSetup {
                thread: parts.kind.worker_thread(0),
                queue_events,
                interrupt: interrupt.clone(),
                counters: counters.clone(),
                cpus: None,
            },
        )
        .unwrap();
        let transport = MmioTransport::new(parts, mem.clone(), interrupt.clone(), worker).unwrap();
        Self {
            transport,
            mem,
            interrupt,
            counters,
            queue_size,
            avail_idx: vec![0; queues],
        }
    }

    pub fn write_reg(&mut self, offset: u64, value: u32) {
        self.transport.write(offset, &value.to_le_bytes());
    }

    pub fn read_reg(&self, offset: u64) -> u32 {
        let mut data = [0u8; 4];
        self.transport.read(offset, &mut data);
        u32::from_le_bytes(data)
    }

    /// Negotiates `features` (the device's, masked) and sets up every queue.
    pub fn start(&mut self, features: u64) -> u32 {
        self.write_reg(0x70, 0);
        self.write_reg(0x70, ACKNOWLEDGE);
        self.write_reg(0x70, ACKNOWLEDGE | DRIVER);
        self.write_reg(0x14, 0);
        let low = self.read_reg(0x10);
        self.write_reg(0x14, 1);
        let high = self.read_reg(0x10);
        let offered = u64::from(low) | (u64::from(high) << 32);
        let accepted = offered & features;
        self.write_reg(0x24, 0);
        self.write_reg(0x20, accepted as u32);
        self.write_reg(0x24, 1);
        self.write_reg(0x20, (accepted >> 32) as u32);
        self.write_reg(0x70, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        for q in 0..self.avail_idx.len() as u16 {
            self.setup_queue(q);
        }
        self.write_reg(0x70, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        self.read_reg(0x70)
    }

    fn setup_queue(&mut self, q: u16) {
        let (desc, avail, used) = ring_addrs(q);
        // Fresh rings, as a driver allocates them at each setup.
        self.mem.write_obj(0u32, GuestAddress(avail)).unwrap();
        self.mem.write_obj(0u32, GuestAddress(used)).unwrap();
        self.write_reg(0x30, u32::from(q));
        self.write_reg(0x38, u32::from(self.queue_size));
        self.write_reg(0x80, desc as u32);
        self.write_reg(0x84, 0);
        self.write_reg(0x90, avail as u32);
        self.write_reg(0x94, 0);
        self.write_reg(0xa0, used as u32);
        self.write_reg(0xa4, 0);
        self.write_reg(0x44, 1);
        self.avail_idx[q as usize] = 0;
    }

    /// Writes descriptor `index` of queue `q`.
    pub fn set_desc(&self, q: u16, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = ring_addrs(q).0 + 16 * u64::from(index);
        self.mem.write_obj(addr, GuestAddress(at)).unwrap();
        self.mem.write_obj(len, GuestAddress(at + 8)).unwrap();
        self.mem.write_obj(flags, GuestAddress(at + 12)).unwrap();
        self.mem.write_obj(next, GuestAddress(at + 14)).unwrap();
    }

    /// Makes chain `head` available on queue `q` and notifies.
    pub fn post(&mut self, q: u16, head: u16) {
        let avail = ring_addrs(q).1;
        let idx = self.avail_idx[q as usize];
        let slot = u64::from(idx % self.queue_size);
        self.mem
            .write_obj(head, GuestAddress(avail + 4 + 2 * slot))
            .unwrap();
        self.set_avail_idx(q, idx.wrapping_add(1));
        self.notify(q);
    }

    /// Writes the available ring's index directly.
    pub fn set_avail_idx(&mut self, q: u16, idx: u16) {
        self.avail_idx[q as usize] = idx;
        self.mem
            .write_obj(idx, GuestAddress(ring_addrs(q).1 + 2))
            .unwrap();
    }

    pub fn notify(&mut self, q: u16) {
        self.write_reg(0x50, u32::from(q));
    }

    /// The used ring's index of queue `q`.
    pub fn used_idx(&self, q: u16) -> u16 {
        self.mem
            .read_obj(GuestAddress(ring_addrs(q).2 + 2))
            .unwrap()
    }

    /// Used element `n` of queue `q`: (head, len).
    pub fn used_elem(&self, q: u16, n: u16) -> (u32, u32) {
        let at = ring_addrs(q).2 + 4 + 8 * u64::from(n % self.queue_size);
        (
            self.mem.read_obj(GuestAddress(at)).unwrap(),
            self.mem.read_obj(GuestAddress(at + 4)).unwrap(),
        )
    }

    /// Waits until queue `q`'s used index reaches `idx` or the device asks for a reset;
    /// true if it reached it.
    pub fn wait_used(&self, q: u16, idx: u16) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.used_idx(q) == idx {
                return true;
            }
            if self.interrupt.needs_reset() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    /// Waits for NEEDS_RESET; true if it came.
    pub fn wait_needs_reset(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.read_reg(0x70) & super::status::NEEDS_RESET != 0 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }
}
