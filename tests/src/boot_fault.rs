//! Telling an L2 guest that triple-faulted while its kernel booted apart from Tern's
//! failures.
//!
//! In the lab the L2 guest runs under L1's KVM, which itself runs on QEMU's emulated SVM, and
//! that stack sometimes crashes a guest when L1 is busy: with the guest's boot log passed
//! through a shell loop that forked a command per line, 1 of 15 Tern boots triple-faulted in
//! mid-boot, and 1 of 13 QEMU microvm boots under the same load reset at the same point of the
//! boot log; with L1 idle, 0 of 78 Tern boots did. A triple fault reported by tern before the
//! guest's init printed its first line (tern had only served port I/O by then) is therefore
//! counted as the lab's failure and retried; one after that (while the test moves memory,
//! pauses or resumes) stays the test's failure, and a Tern setup fault (CPUID, page tables,
//! registers) would strike every attempt alike.

/// Follows the script's lines across tern runs: a run starts at `TERN-START`, its guest's
/// init at its first `TERN-GUEST` line.
#[derive(Debug, Default)]
pub struct BootFaultWatch {
    guest_init_ran: bool,
}

impl BootFaultWatch {
    /// Looks at one line the script printed; returns it when it reports a triple fault
    /// before the guest's init ran.
    pub fn observe(&mut self, text: &str) -> Option<String> {
        // tern_command prefixes tern's lines with "@<L1 uptime> ".
        let line = match text.strip_prefix('@') {
            Some(rest) => rest.split_once(' ').map_or(rest, |(_, line)| line),
            None => text,
        };
        if line.starts_with("TERN-START") {
            self.guest_init_ran = false;
        } else if line.starts_with("TERN-GUEST") {
            self.guest_init_ran = true;
        } else if !self.guest_init_ran && line.contains("tern: ") && line.contains("triple-faulted")
        {
            return Some(text.to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAULT: &str =
        "@9.10 [    0.048105] smpboot: Atern: warning: vCPU 0 triple-faulted; the guest was reset";

    #[test]
    fn a_fault_before_init_is_reported() {
        let mut watch = BootFaultWatch::default();
        assert_eq!(watch.observe("TERN-START at=7.01"), None);
        assert_eq!(watch.observe("@8.00 [    0.0] Linux version 6.1"), None);
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
    }

    #[test]
    fn a_fault_after_init_is_the_tests_own() {
        let mut watch = BootFaultWatch::default();
        watch.observe("TERN-START at=7.01");
        watch.observe("@9.00 TERN-GUEST: hello from the guest");
        assert_eq!(watch.observe(FAULT), None);
        // The next tern run starts over.
        watch.observe("TERN-START at=20.5");
        assert_eq!(watch.observe(FAULT), Some(FAULT.to_string()));
    }

    #[test]
    fn other_lines_are_not_faults() {
        let mut watch = BootFaultWatch::default();
        assert_eq!(watch.observe("@8.0 guest says triple-faulted"), None);
        assert_eq!(watch.observe("@8.1 tern: the guest crashed"), None);
        assert_eq!(watch.observe("TERN-EXIT status=0"), None);
    }
}
