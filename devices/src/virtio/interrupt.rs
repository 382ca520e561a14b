//! A virtio-mmio device's interrupt: the InterruptStatus bits (used buffer, configuration
//! change) and the eventfd KVM turns into an edge on the device's IOAPIC pin (irqfd).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use virtio_bindings::virtio_mmio::{VIRTIO_MMIO_INT_CONFIG, VIRTIO_MMIO_INT_VRING};
use vm_superio::Trigger;

use crate::trigger::EventFdTrigger;

/// The interrupt state shared by the transport (vCPU threads) and the device's worker.
#[derive(Debug)]
pub struct VirtioInterrupt {
    status: AtomicU32,
    needs_reset: AtomicBool,
    trigger: EventFdTrigger,
}

impl VirtioInterrupt {
    /// An interrupt raised through `trigger`.
    pub fn new(trigger: EventFdTrigger) -> Self {
        Self {
            status: AtomicU32::new(0),
            needs_reset: AtomicBool::new(false),
            trigger,
        }
    }

    /// The InterruptStatus register.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    /// InterruptACK: the driver handled these bits.
    pub fn acknowledge(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }

    /// The device put buffers in a used ring.
    pub fn signal_used(&self) {
        self.raise(VIRTIO_MMIO_INT_VRING);
    }

    /// The device met an error it cannot recover from: it sets NEEDS_RESET and tells the
    /// driver through a configuration change interrupt.
    pub fn signal_needs_reset(&self) {
        self.needs_reset.store(true, Ordering::SeqCst);
        self.raise(VIRTIO_MMIO_INT_CONFIG);
    }

    /// Whether the device asked for a reset.
    pub fn needs_reset(&self) -> bool {
        self.needs_reset.load(Ordering::SeqCst)
    }

    /// The device was reset: no interrupt pending, no reset asked for.
    pub fn clear(&self) {
        self.status.store(0, Ordering::SeqCst);
        self.needs_reset.store(false, Ordering::SeqCst);
    }

    fn raise(&self, bit: u32) {
        self.status.fetch_or(bit, Ordering::SeqCst);
        if let Err(err) = self.trigger.trigger() {
            log::warn!("cannot raise a virtio interrupt: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bits_follow_signals_and_acks() {
        let trigger = EventFdTrigger::new().unwrap();
        let seen = trigger.try_clone().unwrap();
        let irq = VirtioInterrupt::new(trigger);
        irq.signal_used();
        assert_eq!(irq.status(), VIRTIO_MMIO_INT_VRING);
        irq.signal_needs_reset();
        assert_eq!(irq.status(), VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
        assert!(irq.needs_reset());
        assert_eq!(seen.read().unwrap(), 2);
        irq.acknowledge(VIRTIO_MMIO_INT_VRING);
        assert_eq!(irq.status(), VIRTIO_MMIO_INT_CONFIG);
        irq.clear();
        assert_eq!((irq.status(), irq.needs_reset()), (0, false));
    }
}
