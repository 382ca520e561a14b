//! The eventfd that stands behind a device interrupt or a device event.

use std::io;
use std::ops::Deref;

use vm_superio::Trigger;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

/// An eventfd usable as a `vm-superio` trigger: KVM turns it into an interrupt when it is
/// registered as an irqfd; the event loop reads it when it marks a device event.
#[derive(Debug)]
pub struct EventFdTrigger(EventFd);

impl EventFdTrigger {
    /// Creates a new non-blocking trigger.
    pub fn new() -> io::Result<Self> {
        EventFd::new(EFD_NONBLOCK).map(Self)
    }

    /// Another handle on the same eventfd.
    pub fn try_clone(&self) -> io::Result<Self> {
        self.0.try_clone().map(Self)
    }
}

impl Trigger for EventFdTrigger {
    type E = io::Error;

    fn trigger(&self) -> io::Result<()> {
        self.0.write(1)
    }
}

impl Deref for EventFdTrigger {
    type Target = EventFd;

    fn deref(&self) -> &EventFd {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_is_seen_through_a_clone() {
        let trigger = EventFdTrigger::new().unwrap();
        let clone = trigger.try_clone().unwrap();
        trigger.trigger().unwrap();
        trigger.trigger().unwrap();
        assert_eq!(clone.read().unwrap(), 2);
    }
}
