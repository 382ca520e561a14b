//! Tern's emulated devices.
//!
//! - [`serial`]: the 8250 UART at 0x3f8 / IRQ 4 that carries the guest console to tern's
//!   standard output and tern's standard input to the guest.
//! - [`console`]: the console output's bounded buffer, its limits, its escape filter and the
//!   thread that writes it out.
//! - [`i8042`]: the PS/2 controller's reset line, so that a guest reboot reaches tern.
//! - [`acpi_pm`]: the hardware-reduced ACPI power-management block (soft-off and reset).
//! - [`power`]: how a device reports the guest's power requests to the VMM.
//! - [`trigger`]: the eventfd behind every device interrupt and device event.
//!
//! Devices sit on a port I/O bus from `vm-device`; the VMM owns the bus and the wiring.

pub mod acpi_pm;
pub mod console;
pub mod i8042;
pub mod power;
pub mod serial;
pub mod trigger;
pub mod virtio;

/// Errors of the device crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An eventfd for a device interrupt or event could not be created.
    #[error("cannot create an eventfd for the {0}: {1}")]
    EventFd(&'static str, #[source] std::io::Error),
}
