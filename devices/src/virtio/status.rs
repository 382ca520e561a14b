//! The device status handshake (virtio 1.2, 2.1 and 3.1.1): the driver sets ACKNOWLEDGE,
//! DRIVER, FEATURES_OK and DRIVER_OK in that order, FAILED at any time, and writes 0 to reset.
//! Any other write is ignored, so a confused or hostile driver cannot skip a step.

use virtio_bindings::virtio_config::{
    VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FAILED, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_NEEDS_RESET,
};

/// ACKNOWLEDGE: the guest saw the device.
pub const ACKNOWLEDGE: u32 = VIRTIO_CONFIG_S_ACKNOWLEDGE;
/// DRIVER: the guest has a driver for it.
pub const DRIVER: u32 = VIRTIO_CONFIG_S_DRIVER;
/// FEATURES_OK: the driver accepted features; the device keeps it only if it agrees.
pub const FEATURES_OK: u32 = VIRTIO_CONFIG_S_FEATURES_OK;
/// DRIVER_OK: the driver is ready; the device starts serving queues.
pub const DRIVER_OK: u32 = VIRTIO_CONFIG_S_DRIVER_OK;
/// FAILED: the driver gave up.
pub const FAILED: u32 = VIRTIO_CONFIG_S_FAILED;
/// NEEDS_RESET: the device met an error it cannot go on from.
pub const NEEDS_RESET: u32 = VIRTIO_CONFIG_S_NEEDS_RESET;

/// What a write of the status register asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// Written 0: reset the device.
    Reset,
    /// A step that needs nothing from the device: keep the new value.
    Step(u32),
    /// FEATURES_OK set: the device checks the accepted features.
    FeaturesOk(u32),
    /// DRIVER_OK set: the device starts.
    DriverOk(u32),
    /// Out of order: ignore the write.
    Ignored,
}

/// The change from status `old` to the written `new`.
pub fn transition(old: u32, new: u32) -> StatusChange {
    if new == 0 {
        return StatusChange::Reset;
    }
    let old = old & !NEEDS_RESET;
    if new & old != old || new & NEEDS_RESET != 0 {
        return StatusChange::Ignored;
    }
    let added = new & !old;
    if added == FAILED {
        return StatusChange::Step(new);
    }
    let expected = match added & !FAILED {
        ACKNOWLEDGE if old & !FAILED == 0 => Some(StatusChange::Step(new)),
        DRIVER if old & !FAILED == ACKNOWLEDGE => Some(StatusChange::Step(new)),
        FEATURES_OK if old & !FAILED == ACKNOWLEDGE | DRIVER => Some(StatusChange::FeaturesOk(new)),
        DRIVER_OK if old & !FAILED == ACKNOWLEDGE | DRIVER | FEATURES_OK => {
            Some(StatusChange::DriverOk(new))
        }
        _ => None,
    };
    match expected {
        Some(change) if new & FAILED == 0 => change,
        _ => StatusChange::Ignored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_in_order() {
        assert_eq!(transition(0, ACKNOWLEDGE), StatusChange::Step(1));
        assert_eq!(transition(1, 3), StatusChange::Step(3));
        assert_eq!(transition(3, 11), StatusChange::FeaturesOk(11));
        assert_eq!(transition(11, 15), StatusChange::DriverOk(15));
        assert_eq!(transition(15, 0), StatusChange::Reset);
    }

    #[test]
    fn skipped_steps_and_cleared_bits_are_ignored() {
        assert_eq!(transition(0, DRIVER_OK), StatusChange::Ignored);
        assert_eq!(
            transition(1, ACKNOWLEDGE | DRIVER_OK),
            StatusChange::Ignored
        );
        assert_eq!(transition(3, 3 | DRIVER_OK), StatusChange::Ignored);
        assert_eq!(transition(11, 3), StatusChange::Ignored);
        assert_eq!(transition(3, 3 | NEEDS_RESET), StatusChange::Ignored);
        assert_eq!(
            transition(1, 1 | DRIVER | FEATURES_OK),
            StatusChange::Ignored
        );
    }

    #[test]
    fn failed_may_come_any_time_and_ends_the_handshake() {
        assert_eq!(transition(3, 3 | FAILED), StatusChange::Step(3 | FAILED));
        assert_eq!(transition(3 | FAILED, 11 | FAILED), StatusChange::Ignored);
        assert_eq!(transition(15 | NEEDS_RESET, 0), StatusChange::Reset);
    }

    #[test]
    fn every_write_from_every_state_is_handled_without_panic() {
        for old in 0..=0xffu32 {
            for new in 0..=0xffu32 {
                let change = transition(old, new);
                if let StatusChange::Step(v)
                | StatusChange::FeaturesOk(v)
                | StatusChange::DriverOk(v) = change
                {
                    assert_eq!(v, new);
                    assert_eq!(v & NEEDS_RESET, 0);
                }
            }
        }
    }
}
