//! Per-vCPU counters of the exits tern handles, read by the metrics endpoint. The vCPU thread
//! only does relaxed atomic increments.

use std::sync::atomic::{AtomicU64, Ordering};

/// The exit reasons counted, in the order of [`ExitCounters`]' slots.
pub const EXIT_REASONS: [&str; 9] = [
    "io_in",
    "io_out",
    "mmio_read",
    "mmio_write",
    "hlt",
    "shutdown",
    "system_event",
    "interrupted",
    "other",
];

/// Index of a reason in [`EXIT_REASONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// Port input.
    IoIn = 0,
    /// Port output.
    IoOut,
    /// MMIO read.
    MmioRead,
    /// MMIO write.
    MmioWrite,
    /// HLT outside the in-kernel LAPIC.
    Hlt,
    /// Triple fault.
    Shutdown,
    /// KVM system event (shutdown, reset, crash).
    SystemEvent,
    /// KVM_RUN interrupted (a kick, a signal).
    Interrupted,
    /// Anything else.
    Other,
}

/// Exit counters of one vCPU.
#[derive(Debug, Default)]
pub struct ExitCounters {
    counts: [AtomicU64; EXIT_REASONS.len()],
}

impl ExitCounters {
    /// Counts one exit.
    pub fn count(&self, kind: ExitKind) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// (reason, count) for every reason.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        EXIT_REASONS
            .iter()
            .zip(self.counts.iter())
            .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
            .collect()
    }

    /// All exits.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let c = ExitCounters::default();
        c.count(ExitKind::IoOut);
        c.count(ExitKind::IoOut);
        c.count(ExitKind::Other);
        let snap = c.snapshot();
        assert_eq!(snap[1], ("io_out", 2));
        assert_eq!(snap[8], ("other", 1));
        assert_eq!(c.total(), 3);
    }
}
