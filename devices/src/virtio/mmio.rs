//! The virtio-mmio register block (virtio 1.2, 4.2.2, version 2, no legacy interface): what a
//! vCPU reads and writes at a device's MMIO window. Registers are 32-bit; the configuration
//! space at 0x100 may be read at any width. Queue registers take effect only before
//! DRIVER_OK; at DRIVER_OK every ready queue must lie in guest RAM or the device asks for a
//! reset; a status write of 0 resets the device after its worker has let go of the queues.

use std::sync::Arc;

use virtio_queue::{Queue, QueueT};
use vm_device::bus::MmioAddress;
use vm_device::MutDeviceMmio;
use vm_memory::{GuestAddress, GuestMemoryMmap};
use vmm_sys_util::eventfd::EventFd;

use super::status::{transition, StatusChange, FEATURES_OK, NEEDS_RESET};
use super::worker::WorkerHandle;
use super::{ActiveQueues, DeviceKind, VirtioInterrupt, FEATURE_VERSION_1};

/// "virt", little-endian.
const MAGIC_VALUE: u32 = 0x7472_6976;
/// The non-legacy interface.
const VERSION: u32 = 2;
/// The vendor ID: "TERN" would not fit the convention; QEMU's 0x554d4551 is taken, so 0.
const VENDOR_ID: u32 = 0;
/// Where the configuration space begins.
pub const CONFIG_OFFSET: u64 = 0x100;

mod reg {
    pub const MAGIC: u64 = 0x000;
    pub const VERSION: u64 = 0x004;
    pub const DEVICE_ID: u64 = 0x008;
    pub const VENDOR_ID: u64 = 0x00c;
    pub const DEVICE_FEATURES: u64 = 0x010;
    pub const DEVICE_FEATURES_SEL: u64 = 0x014;
    pub const DRIVER_FEATURES: u64 = 0x020;
    pub const DRIVER_FEATURES_SEL: u64 = 0x024;
    pub const QUEUE_SEL: u64 = 0x030;
    pub const QUEUE_NUM_MAX: u64 = 0x034;
    pub const QUEUE_NUM: u64 = 0x038;
    pub const QUEUE_READY: u64 = 0x044;
    pub const QUEUE_NOTIFY: u64 = 0x050;
    pub const INTERRUPT_STATUS: u64 = 0x060;
    pub const INTERRUPT_ACK: u64 = 0x064;
    pub const STATUS: u64 = 0x070;
    pub const QUEUE_DESC_LOW: u64 = 0x080;
    pub const QUEUE_DESC_HIGH: u64 = 0x084;
    pub const QUEUE_DRIVER_LOW: u64 = 0x090;
    pub const QUEUE_DRIVER_HIGH: u64 = 0x094;
    pub const QUEUE_DEVICE_LOW: u64 = 0x0a0;
    pub const QUEUE_DEVICE_HIGH: u64 = 0x0a4;
    pub const SHM_SEL: u64 = 0x0ac;
    pub const SHM_LEN_LOW: u64 = 0x0b0;
    pub const SHM_LEN_HIGH: u64 = 0x0b4;
    pub const SHM_BASE_LOW: u64 = 0x0b8;
    pub const SHM_BASE_HIGH: u64 = 0x0bc;
    pub const CONFIG_GENERATION: u64 = 0x0fc;
}

/// The byte offset of the queue notification register (for a KVM ioeventfd).
pub const QUEUE_NOTIFY_OFFSET: u64 = reg::QUEUE_NOTIFY;

/// What a transport is built from.
#[derive(Debug)]
pub struct TransportParts {
    /// The device.
    pub kind: DeviceKind,
    /// The features it offers.
    pub features: u64,
    /// Its configuration space.
    pub config: Vec<u8>,
    /// Its queues' largest sizes.
    pub queue_max_sizes: Vec<u16>,
    /// One notification eventfd per queue (the worker's), written on a QueueNotify write.
    pub queue_events: Vec<EventFd>,
}

/// One device's register block.
#[derive(Debug)]
pub struct MmioTransport {
    kind: DeviceKind,
    device_features: u64,
    config: Vec<u8>,
    queues: Vec<Queue>,
    queue_events: Vec<EventFd>,
    mem: GuestMemoryMmap,
    interrupt: Arc<VirtioInterrupt>,
    worker: WorkerHandle,
    status: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
}

impl MmioTransport {
    /// The register block of a device whose queues `worker` serves.
    pub fn new(
        parts: TransportParts,
        mem: GuestMemoryMmap,
        interrupt: Arc<VirtioInterrupt>,
        worker: WorkerHandle,
    ) -> Result<Self, virtio_queue::Error> {
        let queues = parts
            .queue_max_sizes
            .iter()
            .map(|&max| Queue::new(max))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            kind: parts.kind,
            device_features: parts.features,
            config: parts.config,
            queues,
            queue_events: parts.queue_events,
            mem,
            interrupt,
            worker,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
        })
    }

    /// The device status register as the driver reads it.
    pub fn status(&self) -> u32 {
        if self.interrupt.needs_reset() {
            self.status | NEEDS_RESET
        } else {
            self.status
        }
    }

    /// A read of `data.len()` bytes at `offset` in the window.
    pub fn read(&self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_OFFSET {
            let start = offset - CONFIG_OFFSET;
            for (i, byte) in data.iter_mut().enumerate() {
                *byte = usize::try_from(start + i as u64)
                    .ok()
                    .and_then(|at| self.config.get(at).copied())
                    .unwrap_or(0);
            }
            return;
        }
        let value = if data.len() == 4 {
            self.register(offset)
        } else {
            0
        };
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = value.to_le_bytes().get(i).copied().unwrap_or(0);
        }
    }

    fn register(&self, offset: u64) -> u32 {
        match offset {
            reg::MAGIC => MAGIC_VALUE,
            reg::VERSION => VERSION,
            reg::DEVICE_ID => self.kind.id(),
            reg::VENDOR_ID => VENDOR_ID,
            reg::DEVICE_FEATURES => match self.device_features_sel {
                0 => self.device_features as u32,
                1 => (self.device_features >> 32) as u32,
                _ => 0,
            },
            reg::QUEUE_NUM_MAX => self.selected().map_or(0, |q| u32::from(q.max_size())),
            reg::QUEUE_READY => self.selected().map_or(0, |q| u32::from(q.ready())),
            reg::INTERRUPT_STATUS => self.interrupt.status(),
            reg::STATUS => self.status(),
            // No shared memory regions: length and base all ones.
            reg::SHM_LEN_LOW | reg::SHM_LEN_HIGH | reg::SHM_BASE_LOW | reg::SHM_BASE_HIGH => {
                u32::MAX
            }
            reg::CONFIG_GENERATION => 0,
            _ => 0,
        }
    }

    /// A write of `data` at `offset` in the window.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        if offset >= CONFIG_OFFSET {
            // The configuration spaces of these devices are read-only.
            return;
        }
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            return;
        };
        let value = u32::from_le_bytes(bytes);
        match offset {
            reg::DEVICE_FEATURES_SEL => self.device_features_sel = value,
            reg::DRIVER_FEATURES_SEL => self.driver_features_sel = value,
            reg::DRIVER_FEATURES => self.set_driver_features(value),
            reg::QUEUE_SEL => self.queue_sel = value,
            reg::QUEUE_NOTIFY => {
                if let Some(event) = self.queue_events.get(value as usize) {
                    let _ = event.write(1);
                }
            }
            reg::INTERRUPT_ACK => self.interrupt.acknowledge(value),
            reg::STATUS => self.set_status(value),
            reg::SHM_SEL => {}
            _ => self.write_queue_register(offset, value),
        }
    }

    fn selected(&self) -> Option<&Queue> {
        self.queues.get(self.queue_sel as usize)
    }

    fn set_driver_features(&mut self, value: u32) {
        let choosing = self.status & super::status::DRIVER != 0 && self.status & FEATURES_OK == 0;
        if !choosing {
            return;
        }
        match self.driver_features_sel {
            0 => self.driver_features = (self.driver_features & !0xffff_ffff) | u64::from(value),
            1 => {
                self.driver_features =
                    (self.driver_features & 0xffff_ffff) | (u64::from(value) << 32)
            }
            _ => {}
        }
    }

    /// Queue configuration, taken only while the driver sets the device up.
    fn write_queue_register(&mut self, offset: u64, value: u32) {
        if self.status & super::status::DRIVER_OK != 0 {
            return;
        }
        let Some(queue) = self.queues.get_mut(self.queue_sel as usize) else {
            return;
        };
        if queue.ready() && offset != reg::QUEUE_READY {
            return;
        }
        let low = |addr: u64| GuestAddress((addr & !0xffff_ffff) | u64::from(value));
        let high = |addr: u64| GuestAddress((addr & 0xffff_ffff) | (u64::from(value) << 32));
        // Invalid sizes and misaligned addresses leave the queue as it was; is_valid at
        // DRIVER_OK then decides.
        let _ = match offset {
            reg::QUEUE_NUM => u16::try_from(value)
                .map_err(|_| virtio_queue::Error::InvalidSize)
                .and_then(|size| queue.try_set_size(size)),
            reg::QUEUE_READY => {
                queue.set_ready(value == 1);
                Ok(())
            }
            reg::QUEUE_DESC_LOW => queue.try_set_desc_table_address(low(queue.desc_table())),
            reg::QUEUE_DESC_HIGH => queue.try_set_desc_table_address(high(queue.desc_table())),
            reg::QUEUE_DRIVER_LOW => queue.try_set_avail_ring_address(low(queue.avail_ring())),
            reg::QUEUE_DRIVER_HIGH => queue.try_set_avail_ring_address(high(queue.avail_ring())),
            reg::QUEUE_DEVICE_LOW => queue.try_set_used_ring_address(low(queue.used_ring())),
            reg::QUEUE_DEVICE_HIGH => queue.try_set_used_ring_address(high(queue.used_ring())),
            _ => Ok(()),
        };
    }

    fn set_status(&mut self, value: u32) {
        match transition(self.status, value) {
            StatusChange::Reset => self.reset(),
            StatusChange::Step(value) => self.status = value,
            StatusChange::FeaturesOk(value) => {
                let acceptable = self.driver_features & !self.device_features == 0
                    && self.driver_features & FEATURE_VERSION_1 != 0;
                self.status = if acceptable {
                    value
                } else {
                    value & !FEATURES_OK
                };
            }
            StatusChange::DriverOk(value) => {
                self.status = value;
                self.activate();
            }
            StatusChange::Ignored => {}
        }
    }

    fn activate(&mut self) {
        let ready: Vec<&Queue> = self.queues.iter().filter(|q| q.ready()).collect();
        if ready.is_empty() || ready.iter().any(|q| !q.is_valid(&self.mem)) {
            self.interrupt.signal_needs_reset();
            return;
        }
        let queues = self
            .queues
            .iter()
            .map(|q| Queue::try_from(q.state()))
            .collect::<Result<Vec<_>, _>>();
        match queues {
            Ok(queues) => self.worker.activate(ActiveQueues {
                mem: self.mem.clone(),
                queues,
                features: self.driver_features,
            }),
            Err(_) => self.interrupt.signal_needs_reset(),
        }
    }

    fn reset(&mut self) {
        self.worker.reset();
        for queue in &mut self.queues {
            queue.reset();
        }
        self.status = 0;
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.interrupt.clear();
    }
}

impl MutDeviceMmio for MmioTransport {
    fn mmio_read(&mut self, _base: MmioAddress, offset: u64, data: &mut [u8]) {
        self.read(offset, data);
    }

    fn mmio_write(&mut self, _base: MmioAddress, offset: u64, data: &[u8]) {
        self.write(offset, data);
    }
}

#[cfg(test)]
mod tests;
