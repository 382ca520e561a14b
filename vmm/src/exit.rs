//! How the VM ends: the first reason reported wins, and an eventfd wakes the event loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use devices::power::{PowerControl, PowerEvent};
use devices::trigger::EventFdTrigger;

/// Exit status of a guest crash: a triple fault, or a crash the guest reported.
pub const STATUS_GUEST_CRASHED: i32 = 2;

/// Why tern stops the VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The guest asked for a reset (reboot through the i8042, or KVM's reset event).
    GuestReset,
    /// The guest powered off.
    GuestPowerOff,
    /// A vCPU triple-faulted. A PC resets on it; Tern counts it as a crash, since it cannot
    /// tell a guest that chose it to reboot (Linux's `reboot=t`) from one that crashed.
    TripleFault(u8),
    /// The guest kernel reported a crash.
    GuestCrash(u8),
    /// A vCPU failed in a way the guest cannot recover from.
    VcpuFailed {
        /// Index of the vCPU.
        index: u8,
        /// What happened, as a sentence fragment.
        reason: String,
    },
    /// Tern received a terminating signal.
    Signal(i32),
    /// The API asked for a shutdown.
    ApiShutdown,
}

impl ExitReason {
    /// The process exit status this reason maps to.
    pub fn status(&self) -> i32 {
        match self {
            Self::GuestReset | Self::GuestPowerOff | Self::ApiShutdown => 0,
            Self::VcpuFailed { .. } => 1,
            Self::TripleFault(_) | Self::GuestCrash(_) => STATUS_GUEST_CRASHED,
            Self::Signal(num) => 128 + num,
        }
    }
}

/// The VM's exit request, shared by the vCPUs, the devices and the event loop.
#[derive(Debug)]
pub struct ExitSignal {
    requested: AtomicBool,
    reason: Mutex<Option<ExitReason>>,
    event: EventFdTrigger,
}

impl ExitSignal {
    /// A signal that nobody has raised yet.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            requested: AtomicBool::new(false),
            reason: Mutex::new(None),
            event: EventFdTrigger::new()?,
        })
    }

    /// Asks the VM to stop; the first reason given is kept.
    pub fn request(&self, reason: ExitReason) {
        if let Ok(mut slot) = self.reason.lock() {
            slot.get_or_insert(reason);
        }
        self.requested.store(true, Ordering::SeqCst);
        if let Err(err) = self.event.write(1) {
            log::error!("cannot wake the event loop to stop the VM: {err}");
        }
    }

    /// Whether a stop was asked for (by a call to `request` or through the eventfd).
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Marks the stop requested through the eventfd (devices write it directly).
    pub fn mark_requested(&self) {
        self.requested.store(true, Ordering::SeqCst);
    }

    /// The reason to stop; a bare eventfd write (the i8042 reset line) means a guest reset.
    pub fn reason(&self) -> ExitReason {
        self.reason
            .lock()
            .ok()
            .and_then(|slot| slot.clone())
            .unwrap_or(ExitReason::GuestReset)
    }

    /// The eventfd that the event loop watches, and that devices may write to stop the VM.
    pub fn event(&self) -> &EventFdTrigger {
        &self.event
    }
}

impl PowerControl for ExitSignal {
    fn request(&self, event: PowerEvent) {
        ExitSignal::request(
            self,
            match event {
                PowerEvent::Off => ExitReason::GuestPowerOff,
                PowerEvent::Reset => ExitReason::GuestReset,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_wins_and_wakes_the_loop() {
        let exit = ExitSignal::new().unwrap();
        assert!(!exit.is_requested());
        exit.request(ExitReason::GuestPowerOff);
        exit.request(ExitReason::Signal(15));
        assert!(exit.is_requested());
        assert_eq!(exit.reason(), ExitReason::GuestPowerOff);
        assert_eq!(exit.event().read().unwrap(), 2);
    }

    #[test]
    fn a_bare_event_is_a_guest_reset() {
        let exit = ExitSignal::new().unwrap();
        exit.event().write(1).unwrap();
        exit.mark_requested();
        assert_eq!(exit.reason(), ExitReason::GuestReset);
        assert_eq!(exit.reason().status(), 0);
        assert_eq!(ExitReason::Signal(15).status(), 143);
    }

    #[test]
    fn a_crash_has_its_own_status() {
        assert_eq!(ExitReason::TripleFault(3).status(), 2);
        assert_eq!(ExitReason::GuestCrash(0).status(), 2);
        let failed = ExitReason::VcpuFailed {
            index: 0,
            reason: "failed to run".into(),
        };
        assert_eq!(failed.status(), 1);
        assert_eq!(ExitReason::GuestPowerOff.status(), 0);
    }
}
