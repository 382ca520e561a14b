//! The hardware-reduced ACPI power-management block: the sleep control and status registers
//! and the reset register that the FADT points at.
//!
//! Writing SLP_EN with the S5 sleep type to the control register powers the VM off; writing
//! the reset value to the reset register resets it.

use std::sync::Arc;

use vm_device::bus::{PioAddress, PioAddressOffset};
use vm_device::MutDevicePio;

use crate::power::{PowerControl, PowerEvent};

/// First I/O port of the block.
pub const ACPI_PM_PORT_BASE: u16 = 0x600;
/// Ports the block decodes.
pub const ACPI_PM_PORT_COUNT: u16 = 3;
/// Offset of the sleep control register.
pub const SLEEP_CONTROL_OFFSET: u16 = 0;
/// Offset of the sleep status register.
pub const SLEEP_STATUS_OFFSET: u16 = 1;
/// Offset of the reset register.
pub const RESET_OFFSET: u16 = 2;
/// The value that resets the VM when written to the reset register.
pub const RESET_VALUE: u8 = 1;
/// The sleep type the DSDT's `\_S5` names, for soft-off.
pub const S5_SLEEP_TYPE: u8 = 5;

const SLP_EN: u8 = 1 << 5;
const SLP_TYP_SHIFT: u8 = 2;
const SLP_TYP_MASK: u8 = 0x7;

/// The power-management block on the port I/O bus.
pub struct AcpiPm {
    power: Arc<dyn PowerControl>,
}

impl std::fmt::Debug for AcpiPm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcpiPm").finish_non_exhaustive()
    }
}

impl AcpiPm {
    /// A block that reports power requests to `power`.
    pub fn new(power: Arc<dyn PowerControl>) -> Self {
        Self { power }
    }
}

impl MutDevicePio for AcpiPm {
    fn pio_read(&mut self, _base: PioAddress, _offset: PioAddressOffset, data: &mut [u8]) {
        // No wake events ever: every register reads as zero.
        data.fill(0);
    }

    fn pio_write(&mut self, _base: PioAddress, offset: PioAddressOffset, data: &[u8]) {
        let Some(&value) = data.first() else {
            return;
        };
        match offset {
            SLEEP_CONTROL_OFFSET => {
                let sleep_type = (value >> SLP_TYP_SHIFT) & SLP_TYP_MASK;
                if value & SLP_EN != 0 && sleep_type == S5_SLEEP_TYPE {
                    self.power.request(PowerEvent::Off);
                }
            }
            RESET_OFFSET if value == RESET_VALUE => self.power.request(PowerEvent::Reset),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<PowerEvent>>);

    impl PowerControl for Recorder {
        fn request(&self, event: PowerEvent) {
            self.0.lock().unwrap().push(event);
        }
    }

    fn write(dev: &mut AcpiPm, offset: u16, value: u8) {
        dev.pio_write(PioAddress(ACPI_PM_PORT_BASE + offset), offset, &[value]);
    }

    #[test]
    fn s5_with_slp_en_powers_off_and_reset_value_resets() {
        let rec = Arc::new(Recorder::default());
        let mut dev = AcpiPm::new(rec.clone());
        write(
            &mut dev,
            SLEEP_CONTROL_OFFSET,
            (S5_SLEEP_TYPE << 2) | SLP_EN,
        );
        write(&mut dev, RESET_OFFSET, RESET_VALUE);
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![PowerEvent::Off, PowerEvent::Reset]
        );
    }

    #[test]
    fn other_writes_change_nothing() {
        let rec = Arc::new(Recorder::default());
        let mut dev = AcpiPm::new(rec.clone());
        write(&mut dev, SLEEP_CONTROL_OFFSET, S5_SLEEP_TYPE << 2); // no SLP_EN
        write(&mut dev, SLEEP_CONTROL_OFFSET, (3 << 2) | SLP_EN); // S3: not supported
        write(&mut dev, RESET_OFFSET, 0x42);
        write(&mut dev, SLEEP_STATUS_OFFSET, 0xff);
        assert!(rec.0.lock().unwrap().is_empty());
        let mut byte = [0xaa];
        dev.pio_read(
            PioAddress(ACPI_PM_PORT_BASE),
            SLEEP_STATUS_OFFSET,
            &mut byte,
        );
        assert_eq!(byte, [0]);
    }
}
