//! The legacy devices of the microVM on their port I/O bus: COM1, the i8042 reset line and
//! the ACPI power-management block.

use std::io::Write;
use std::sync::{Arc, Mutex};

use devices::acpi_pm::{AcpiPm, ACPI_PM_PORT_BASE, ACPI_PM_PORT_COUNT};
use devices::i8042::{I8042, I8042_PORT_BASE, I8042_PORT_COUNT};
use devices::power::PowerControl;
use devices::serial::{SerialConsole, COM1_IRQ, COM1_PORT_BASE, COM_PORT_COUNT};
use devices::trigger::EventFdTrigger;
use kvm_ioctls::VmFd;
use vm_device::device_manager::IoManager;
use vm_device::resources::Resource;
use vm_device::DevicePio;

use crate::error::Error;

/// The devices and the bus they sit on.
pub struct LegacyDevices {
    /// The I/O bus the vCPUs dispatch to (port I/O here; virtio adds MMIO devices).
    pub io: IoManager,
    /// The console UART.
    pub console: Arc<Mutex<SerialConsole>>,
    /// Fires when the guest has drained the console's input FIFO.
    pub console_drained: EventFdTrigger,
}

/// Places `device` on the bus at ports `base..base + size`.
fn add_pio_device(
    io: &mut IoManager,
    name: &'static str,
    device: Arc<dyn DevicePio + Send + Sync>,
    base: u16,
    size: u16,
) -> Result<(), Error> {
    io.register_pio_resources(device, &[Resource::PioAddressRange { base, size }])
        .map_err(|e| Error::DeviceBus(name, format!("{e:?}")))
}

/// Creates COM1 (IRQ 4 through an irqfd, output to `console_out`), the i8042, whose reset
/// line writes `reset`, and the ACPI power block, which reports to `power`.
pub fn create_legacy_devices(
    vm: &VmFd,
    console_out: Box<dyn Write + Send>,
    reset: EventFdTrigger,
    power: Arc<dyn PowerControl>,
) -> Result<LegacyDevices, Error> {
    let irq = EventFdTrigger::new().map_err(|e| Error::Device("COM1 interrupt", e))?;
    vm.register_irqfd(&irq, COM1_IRQ)
        .map_err(|e| Error::Kvm("cannot register the COM1 interrupt", e.into()))?;
    let (console, console_drained) =
        SerialConsole::new(irq, console_out).map_err(Error::Devices)?;
    let console = Arc::new(Mutex::new(console));

    let mut io = IoManager::new();
    add_pio_device(
        &mut io,
        "COM1",
        console.clone(),
        COM1_PORT_BASE,
        COM_PORT_COUNT,
    )?;
    let i8042 = Arc::new(Mutex::new(I8042::new(reset)));
    add_pio_device(&mut io, "i8042", i8042, I8042_PORT_BASE, I8042_PORT_COUNT)?;
    let acpi_pm = Arc::new(Mutex::new(AcpiPm::new(power)));
    add_pio_device(
        &mut io,
        "ACPI power block",
        acpi_pm,
        ACPI_PM_PORT_BASE,
        ACPI_PM_PORT_COUNT,
    )?;

    Ok(LegacyDevices {
        io,
        console,
        console_drained,
    })
}

impl std::fmt::Debug for LegacyDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyDevices").finish_non_exhaustive()
    }
}
