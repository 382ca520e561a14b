//! Telling an L2 guest that the lab crashed apart from Tern's failures.
//!
//! In the lab the L2 guest runs under L1's KVM, which itself runs on QEMU's emulated SVM, and
//! that stack sometimes crashes a guest in early boot, for other VMMs as well as Tern (QEMU's
//! microvm, measured, see the README). A guest crash (tern's `vCPU N triple-faulted` line)
//! before the guest reports ready (its init's first line, `TERN-GUEST: hello from the guest`)
//! therefore counts as the lab's failure: retried, and printed each time. Once the guest is
//! ready, a crash is Tern's until shown otherwise: it fails the test, and in particular a crash
//! during a move, a pause or a pin is never retried. A triple fault after `TERN-GUEST done` is
//! the guest's own way out (`reboot=t`), which the test itself judges.
//!
//! Scripts often keep the guest's console in a file and print only its tail when tern is gone,
//! so the ready line may be cut off or printed with a prefix. The guest counts as ready on any
//! sign of it: the ready line anywhere in a line, a workload heartbeat (`HB pass=`), or
//! [`GUEST_WAS_READY`], which the scripts' shell functions print before such a tail when the
//! file holds the ready line. Only a crash with no such sign before it is retried.

use crate::tern_script::unstamp;

/// The line the guest's init prints first: from then on the guest is ready.
pub const GUEST_READY: &str = "TERN-GUEST: hello from the guest";

/// What a script prints when the guest console it is about to show had reached
/// [`GUEST_READY`].
pub const GUEST_WAS_READY: &str = "TERN-GUEST-WAS-READY";

/// Whether `line` shows that a guest had got as far as its init.
fn shows_ready(line: &str) -> bool {
    line.contains(GUEST_READY) || line.contains(GUEST_WAS_READY) || line.contains("HB pass=")
}

/// Follows the script's lines across tern runs: a run starts at `TERN-START`, its guest is
/// ready at [`GUEST_READY`].
#[derive(Debug, Default)]
pub struct GuestFaultWatch {
    guest_ready: bool,
}

impl GuestFaultWatch {
    /// Looks at one line the script printed; returns it when it reports a crash of a guest
    /// that was not ready yet.
    pub fn observe(&mut self, text: &str) -> Option<String> {
        let line = unstamp(text).map_or(text, |(_, line)| line);
        if line.starts_with("TERN-START") {
            self.guest_ready = false;
        } else if shows_ready(line) {
            self.guest_ready = true;
        } else if !self.guest_ready && line.contains("tern: ") && line.contains("triple-faulted") {
            return Some(text.to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAULT: &str =
        "@9.10 [    0.048105] smpboot: Atern: the guest crashed: vCPU 0 triple-faulted";

    #[test]
    fn a_fault_in_early_boot_is_the_labs() {
        let mut watch = GuestFaultWatch::default();
        assert_eq!(watch.observe("TERN-START at=7.01"), None);
        assert_eq!(watch.observe("@8.00 [    0.0] Linux version 6.1"), None);
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
    }

    #[test]
    fn a_fault_once_the_guest_is_ready_is_terns() {
        let mut watch = GuestFaultWatch::default();
        watch.observe("TERN-START at=7.01");
        watch.observe("@9.00 TERN-GUEST: hello from the guest");
        assert_eq!(watch.observe(FAULT), None);
        watch.observe("@9.50 TERN-GUEST done");
        assert_eq!(watch.observe(FAULT), None);
        // The next tern run starts over.
        watch.observe("TERN-START at=20.5");
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
    }

    #[test]
    fn a_fault_in_a_tail_after_signs_of_a_ready_guest_is_terns() {
        for sign in [
            "TAIL TERN-GUEST: hello from the guest",
            "TAIL hold: HB pass=173 uptime_ms=20782 pass_ms=101 errors=0",
            GUEST_WAS_READY,
        ] {
            let mut watch = GuestFaultWatch::default();
            watch.observe(sign);
            let tail = "TAIL tern: the guest crashed: vCPU 0 triple-faulted";
            assert_eq!(watch.observe(tail), None, "after {sign:?}");
        }
        let mut watch = GuestFaultWatch::default();
        let tail = "TAIL tern: the guest crashed: vCPU 0 triple-faulted";
        assert_eq!(watch.observe("TAIL [    0.4] PCI: Fatal"), None);
        assert_eq!(watch.observe(tail), Some(tail.to_string()));
    }

    #[test]
    fn other_lines_are_not_faults() {
        let mut watch = GuestFaultWatch::default();
        assert_eq!(watch.observe("@8.0 guest says triple-faulted"), None);
        assert_eq!(watch.observe("@8.1 tern: the guest crashed"), None);
        assert_eq!(watch.observe("TERN-EXIT status=0"), None);
    }
}
