//! Where virtio-mmio devices sit: a 4 KiB window each from `VIRTIO_MMIO_START` in the 32-bit
//! MMIO hole, and an IOAPIC pin each from 5 (the pins below are the legacy devices').

use devices::virtio::MMIO_WINDOW_SIZE;

/// Guest-physical address of the first device's window.
pub const VIRTIO_MMIO_START: u64 = 0xd000_0000;
/// The first device's interrupt (GSI, IOAPIC pin).
pub const FIRST_IRQ: u32 = 5;
/// The last pin of KVM's in-kernel IOAPIC.
pub const LAST_IRQ: u32 = 23;
/// How many devices fit.
pub const MAX_DEVICES: usize = (LAST_IRQ - FIRST_IRQ + 1) as usize;

/// One device's place, as ACPI announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioSlot {
    /// Guest-physical base of its registers.
    pub base: u64,
    /// Size of its window.
    pub size: u64,
    /// Its interrupt (GSI).
    pub irq: u32,
}

/// The place of device `index`, if there is room for it.
pub fn slot(index: usize) -> Option<MmioSlot> {
    (index < MAX_DEVICES).then(|| MmioSlot {
        base: VIRTIO_MMIO_START + index as u64 * MMIO_WINDOW_SIZE,
        size: MMIO_WINDOW_SIZE,
        irq: FIRST_IRQ + index as u32,
    })
}

/// The places of `count` devices, or None if they do not fit.
pub fn slots(count: usize) -> Option<Vec<MmioSlot>> {
    (0..count).map(slot).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::layout::{IOAPIC_START, KVM_IDENTITY_MAP_ADDRESS, MMIO_GAP_START};

    #[test]
    fn slots_stay_in_the_hole_and_clear_of_the_apics() {
        let all = slots(MAX_DEVICES).unwrap();
        assert_eq!(
            all[0],
            MmioSlot {
                base: 0xd000_0000,
                size: 0x1000,
                irq: 5
            }
        );
        let last = all[MAX_DEVICES - 1];
        assert_eq!(last.irq, 23);
        assert!(all[0].base >= MMIO_GAP_START);
        assert!(last.base + last.size <= IOAPIC_START.min(KVM_IDENTITY_MAP_ADDRESS));
        assert!(slots(MAX_DEVICES + 1).is_none());
    }
}
