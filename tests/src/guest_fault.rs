//! Telling an L2 guest that the lab crashed apart from Tern's failures.
//!
//! In the lab the L2 guest runs under L1's KVM, which itself runs on QEMU's emulated SVM, and
//! that stack sometimes crashes a guest: a triple fault in mid-boot, or while its init runs,
//! with Tern doing nothing but serving the serial port. Measured: 1 of 15 Tern boots when L1
//! was kept busy (a shell loop forking a command per line of the guest's console), and 1 of 13
//! boots of QEMU's microvm under the same load, at the same point of the boot log; with L1
//! idle, 0 of 78 Tern boots; and once in a quiet boot while the guest's init ran. The lab cannot
//! tell such a crash from one Tern caused, so a triple fault that tern reports before the
//! guest's init printed `TERN-GUEST done` counts as the lab's failure: retried, and printed
//! each time. A Tern fault that strikes every run (CPUID, page tables, registers, a mover that
//! corrupts memory) still fails every attempt, and a guest that corrupts its memory is caught
//! by its workload's checks. A triple fault after `TERN-GUEST done` is the guest's own way out
//! (`reboot=t`), never the lab's.

use crate::tern_script::unstamp;

/// Follows the script's lines across tern runs: a run starts at `TERN-START`, its guest has
/// finished its work at `TERN-GUEST done`.
#[derive(Debug, Default)]
pub struct GuestFaultWatch {
    guest_done: bool,
}

impl GuestFaultWatch {
    /// Looks at one line the script printed; returns it when it reports a triple fault of a
    /// guest that had not finished its work.
    pub fn observe(&mut self, text: &str) -> Option<String> {
        let line = unstamp(text).map_or(text, |(_, line)| line);
        if line.starts_with("TERN-START") {
            self.guest_done = false;
        } else if line == "TERN-GUEST done" {
            self.guest_done = true;
        } else if !self.guest_done && line.contains("tern: ") && line.contains("triple-faulted") {
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
    fn a_fault_while_the_guest_works_is_reported() {
        let mut watch = GuestFaultWatch::default();
        assert_eq!(watch.observe("TERN-START at=7.01"), None);
        assert_eq!(watch.observe("@8.00 [    0.0] Linux version 6.1"), None);
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
        watch.observe("@9.00 TERN-GUEST: hello from the guest");
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
    }

    #[test]
    fn a_fault_after_the_guest_is_done_is_its_reboot() {
        let mut watch = GuestFaultWatch::default();
        watch.observe("TERN-START at=7.01");
        watch.observe("@9.00 TERN-GUEST done");
        assert_eq!(watch.observe(FAULT), None);
        // The next tern run starts over.
        watch.observe("TERN-START at=20.5");
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
    }

    #[test]
    fn other_lines_are_not_faults() {
        let mut watch = GuestFaultWatch::default();
        assert_eq!(watch.observe("@8.0 guest says triple-faulted"), None);
        assert_eq!(watch.observe("@8.1 tern: the guest crashed"), None);
        assert_eq!(watch.observe("TERN-EXIT status=0"), None);
    }
}
