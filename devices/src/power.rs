//! What the guest can ask of the machine's power: switch off or reset. Devices that carry
//! such a request (the ACPI power-management block) report it through [`PowerControl`].

/// A power request from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerEvent {
    /// The guest entered the soft-off state (ACPI S5).
    Off,
    /// The guest asked for a reset.
    Reset,
}

/// Whoever acts on power requests (the VMM).
pub trait PowerControl: Send + Sync {
    /// Acts on `event`.
    fn request(&self, event: PowerEvent);
}
