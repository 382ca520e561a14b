//! The i8042 PS/2 controller, kept for its one job in a microVM: the CPU reset line.
//!
//! A guest that reboots with `reboot=k` writes the reset command (0xfe) to port 0x64; the
//! device fires its trigger and the VMM stops the VM.

use vm_device::bus::{PioAddress, PioAddressOffset};
use vm_device::MutDevicePio;
use vm_superio::I8042Device;

use crate::trigger::EventFdTrigger;

/// First I/O port of the controller (data port 0x60; command/status port 0x64).
pub const I8042_PORT_BASE: u16 = 0x60;
/// Number of ports the controller decodes from its base.
pub const I8042_PORT_COUNT: u16 = 5;

/// The i8042 controller on the port I/O bus.
#[derive(Debug)]
pub struct I8042 {
    inner: I8042Device<EventFdTrigger>,
}

impl I8042 {
    /// A controller that fires `reset` when the guest asks for a CPU reset.
    pub fn new(reset: EventFdTrigger) -> Self {
        Self {
            inner: I8042Device::new(reset),
        }
    }
}

impl MutDevicePio for I8042 {
    fn pio_read(&mut self, _base: PioAddress, offset: PioAddressOffset, data: &mut [u8]) {
        if data.len() != 1 {
            data.fill(0xff);
            return;
        }
        data[0] = u8::try_from(offset).map_or(0xff, |off| self.inner.read(off));
    }

    fn pio_write(&mut self, _base: PioAddress, offset: PioAddressOffset, data: &[u8]) {
        let (Ok(off), [value]) = (u8::try_from(offset), data) else {
            return;
        };
        if let Err(err) = self.inner.write(off, *value) {
            log::error!("i8042: cannot signal the reset request: {err:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_command_fires_the_trigger() {
        let reset = EventFdTrigger::new().unwrap();
        let mut dev = I8042::new(reset.try_clone().unwrap());
        dev.pio_write(PioAddress(I8042_PORT_BASE), 4, &[0xfe]);
        assert_eq!(reset.read().unwrap(), 1);
    }

    #[test]
    fn other_writes_do_not_reset() {
        let reset = EventFdTrigger::new().unwrap();
        let mut dev = I8042::new(reset.try_clone().unwrap());
        dev.pio_write(PioAddress(I8042_PORT_BASE), 4, &[0x20]);
        assert!(reset.read().is_err(), "no reset may be signalled");
    }
}
