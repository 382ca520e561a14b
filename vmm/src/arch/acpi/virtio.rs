//! virtio-mmio devices in the DSDT: Linux's virtio_mmio driver binds ACPI devices with _HID
//! "LNRO0005" and takes their registers from a memory resource and their interrupt from an
//! interrupt resource. This works with a distribution kernel that lacks
//! CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES.

use acpi_tables::{aml, Aml};

use crate::virtio_mmio::layout::MmioSlot;

/// The _HID Linux's virtio_mmio driver matches.
pub const VIRTIO_MMIO_HID: &str = "LNRO0005";

/// Appends one `Device (VRnn)` per slot, in scope `\_SB_`, to `body`.
pub fn virtio_devices(slots: &[MmioSlot], body: &mut Vec<u8>) {
    if slots.is_empty() {
        return;
    }
    let mut devices = Vec::with_capacity(slots.len());
    for (index, slot) in slots.iter().enumerate() {
        devices.push(device(index, slot));
    }
    let children: Vec<&dyn Aml> = devices.iter().map(|d| d as &dyn Aml).collect();
    aml::Scope::new("\\_SB_".into(), children).to_aml_bytes(body);
}

/// One device's AML, already encoded (the aml builders borrow their parts).
struct EncodedDevice(Vec<u8>);

impl Aml for EncodedDevice {
    fn to_aml_bytes(&self, sink: &mut dyn acpi_tables::AmlSink) {
        sink.vec(&self.0);
    }
}

fn device(index: usize, slot: &MmioSlot) -> EncodedDevice {
    let hid: String = VIRTIO_MMIO_HID.to_string();
    let uid = index as u32;
    // Slots lie below 4 GiB and are 4 KiB long (layout.rs).
    let memory = aml::Memory32Fixed::new(true, slot.base as u32, slot.size as u32);
    // Edge-triggered, active high, exclusive: what an irqfd delivers.
    let irq = aml::Interrupt::new(true, true, false, false, slot.irq);
    let resources = aml::ResourceTemplate::new(vec![&memory, &irq]);
    let hid_name = aml::Name::new("_HID".into(), &hid);
    let uid_name = aml::Name::new("_UID".into(), &uid);
    let crs_name = aml::Name::new("_CRS".into(), &resources);
    let name = format!("VR{index:02X}");
    let device = aml::Device::new(name.as_str().into(), vec![&hid_name, &uid_name, &crs_name]);
    let mut bytes = Vec::new();
    device.to_aml_bytes(&mut bytes);
    EncodedDevice(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_device_has_its_hid_memory_and_interrupt() {
        let slots = [
            MmioSlot {
                base: 0xd000_0000,
                size: 0x1000,
                irq: 5,
            },
            MmioSlot {
                base: 0xd000_1000,
                size: 0x1000,
                irq: 6,
            },
        ];
        let mut body = Vec::new();
        virtio_devices(&slots, &mut body);
        let count = |needle: &[u8]| body.windows(needle.len()).filter(|w| *w == needle).count();
        assert_eq!(count(b"LNRO0005\0"), 2);
        assert_eq!(count(b"VR00"), 1);
        assert_eq!(count(b"VR01"), 1);
        // Memory32Fixed: 0x86, length 9, read-write, base, length.
        assert_eq!(count(&[0x86, 9, 0, 1, 0, 0, 0, 0xd0, 0, 0x10, 0, 0]), 1);
        assert_eq!(count(&[0x86, 9, 0, 1, 0, 0x10, 0, 0xd0, 0, 0x10, 0, 0]), 1);
        // Extended interrupt: consumer, edge, active high, exclusive, one interrupt.
        assert_eq!(count(&[0x89, 6, 0, 0b11, 1, 5, 0, 0, 0]), 1);
        assert_eq!(count(&[0x89, 6, 0, 0b11, 1, 6, 0, 0, 0]), 1);
        let mut none = Vec::new();
        virtio_devices(&[], &mut none);
        assert!(none.is_empty());
    }
}
