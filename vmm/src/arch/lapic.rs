//! Local APIC wiring of the legacy interrupt pins: LINT0 takes external (PIC) interrupts and
//! LINT1 takes NMIs, as on a PC.

use kvm_bindings::kvm_lapic_state;

const APIC_LVT_LINT0: usize = 0x350;
const APIC_LVT_LINT1: usize = 0x360;
const DELIVERY_MODE_NMI: u32 = 0x4;
const DELIVERY_MODE_EXTINT: u32 = 0x7;

fn read_reg(state: &kvm_lapic_state, offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = state.regs[offset + i] as u8;
    }
    u32::from_le_bytes(bytes)
}

fn write_reg(state: &mut kvm_lapic_state, offset: usize, value: u32) {
    for (i, byte) in value.to_le_bytes().into_iter().enumerate() {
        state.regs[offset + i] = byte as _;
    }
}

fn with_delivery_mode(reg: u32, mode: u32) -> u32 {
    (reg & !0x700) | (mode << 8)
}

/// Sets LINT0 to ExtINT and LINT1 to NMI in a LAPIC state read from KVM.
pub fn wire_legacy_pins(state: &mut kvm_lapic_state) {
    let lint0 = read_reg(state, APIC_LVT_LINT0);
    write_reg(
        state,
        APIC_LVT_LINT0,
        with_delivery_mode(lint0, DELIVERY_MODE_EXTINT),
    );
    let lint1 = read_reg(state, APIC_LVT_LINT1);
    write_reg(
        state,
        APIC_LVT_LINT1,
        with_delivery_mode(lint1, DELIVERY_MODE_NMI),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_delivery_modes_and_keeps_other_bits() {
        let mut state = kvm_lapic_state::default();
        write_reg(&mut state, APIC_LVT_LINT0, 0x0001_0000 | 0x200);
        wire_legacy_pins(&mut state);
        assert_eq!(read_reg(&state, APIC_LVT_LINT0), 0x0001_0700);
        assert_eq!(read_reg(&state, APIC_LVT_LINT1), 0x400);
    }
}
