//! What the guest and tern say on tern's output, as the driver follows it: whether the guest
//! is ready, the workload's heartbeats and bad words per guest CPU, a guest crash, and the
//! last lines (for a failure's report).

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::guest_fault::GUEST_READY;
use crate::sections::heartbeat;

/// Lines of tern's output kept for a failure's report.
const TAIL_LINES: usize = 40;

/// One guest CPU's workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuBeats {
    /// Its last pass.
    pub pass: u64,
    /// Heartbeats seen.
    pub beats: u64,
    /// Its last heartbeat's guest uptime, ms.
    pub uptime_ms: u64,
    /// Largest gap between two of its heartbeats, ms of guest time.
    pub largest_gap_ms: u64,
    /// When the driver saw its last heartbeat.
    pub seen_at: Instant,
}

/// What tern's output has said so far.
#[derive(Clone, Debug, Default)]
pub struct ConsoleState {
    /// The guest's init printed its first line.
    pub ready: bool,
    /// Per guest CPU.
    pub cpus: BTreeMap<usize, CpuBeats>,
    /// Words the workload found wrong, summed over its heartbeats.
    pub bad_words: u64,
    /// `ERR` lines.
    pub err_lines: u64,
    /// tern's line saying the guest crashed, if it did.
    pub crash: Option<String>,
    /// The last lines.
    pub tail: VecDeque<String>,
}

/// Whether a line should be passed on to L1's console: the guest's own lines, tern's
/// messages (where the lab runner sees a crash in early boot), and the workload's errors.
pub fn worth_passing_on(line: &str) -> bool {
    line.starts_with("TERN-GUEST")
        || line.starts_with("tern: ")
        || line.contains("ERR pass=")
        || line.contains("WORKLOAD DONE")
        || line.contains("Kernel panic")
}

impl ConsoleState {
    /// Takes in one line of tern's output (carriage return removed).
    pub fn observe(&mut self, line: &str, now: Instant) {
        if self.tail.len() == TAIL_LINES {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_string());
        if line == GUEST_READY {
            self.ready = true;
        }
        if line.starts_with("tern: ")
            && (line.contains("triple-faulted") || line.contains("the guest crashed"))
        {
            self.crash.get_or_insert_with(|| line.to_string());
        }
        if line.contains("ERR pass=") {
            self.err_lines += 1;
        }
        let Some(beat) = heartbeat(line) else {
            return;
        };
        self.bad_words += beat.errors;
        let cpu = self.cpus.entry(beat.cpu).or_insert(CpuBeats {
            pass: beat.pass,
            beats: 0,
            uptime_ms: beat.uptime_ms,
            largest_gap_ms: 0,
            seen_at: now,
        });
        cpu.largest_gap_ms = cpu
            .largest_gap_ms
            .max(beat.uptime_ms.saturating_sub(cpu.uptime_ms));
        cpu.pass = beat.pass;
        cpu.beats += 1;
        cpu.uptime_ms = beat.uptime_ms;
        cpu.seen_at = now;
    }

    /// Heartbeats seen in all.
    pub fn heartbeats(&self) -> u64 {
        self.cpus.values().map(|c| c.beats).sum()
    }

    /// The lowest pass any of `cpus` guest CPUs reached (0 for one not heard from).
    pub fn slowest_pass(&self, cpus: usize) -> u64 {
        (0..cpus)
            .map(|c| self.cpus.get(&c).map_or(0, |b| b.pass))
            .min()
            .unwrap_or(0)
    }

    /// The guest CPU silent the longest, and since when, among `cpus`.
    pub fn most_silent(&self, cpus: usize) -> Option<(usize, Instant)> {
        (0..cpus)
            .filter_map(|c| self.cpus.get(&c).map(|b| (c, b.seen_at)))
            .min_by_key(|(_, at)| *at)
    }

    /// The largest heartbeat gap of any guest CPU, ms.
    pub fn largest_gap_ms(&self) -> u64 {
        self.cpus
            .values()
            .map(|c| c.largest_gap_ms)
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_heartbeats_errors_and_a_crash() {
        let now = Instant::now();
        let mut s = ConsoleState::default();
        for line in [
            "[    0.5] Linux",
            "TERN-GUEST: hello from the guest",
            "cpu0: HB pass=0 uptime_ms=1000 pass_ms=900 errors=0",
            "cpu1: HB pass=0 uptime_ms=1100 pass_ms=900 errors=0",
            "cpu0: HB pass=1 uptime_ms=1600 pass_ms=600 errors=3",
            "cpu0: ERR pass=1 word=5 offset=0x28 expected=0x1 found=0x2",
            "cpu1: HB pacpu0: HB pass=2",
            "tern: the guest crashed: vCPU 1 triple-faulted",
        ] {
            s.observe(line, now);
        }
        assert!(s.ready);
        assert_eq!((s.bad_words, s.err_lines, s.heartbeats()), (3, 1, 3));
        assert_eq!(s.slowest_pass(2), 0);
        assert_eq!(s.slowest_pass(3), 0);
        assert_eq!(s.cpus[&0].pass, 1);
        assert_eq!(s.largest_gap_ms(), 600);
        assert!(s.crash.as_deref().unwrap().contains("triple-faulted"));
        assert_eq!(s.tail.len(), 8);
        assert!(worth_passing_on("TERN-GUEST: hello from the guest"));
        assert!(worth_passing_on("cpu0: ERR pass=1 word=5"));
        assert!(!worth_passing_on("cpu0: HB pass=1 uptime_ms=1"));
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut s = ConsoleState::default();
        for i in 0..100 {
            s.observe(&format!("line {i}"), Instant::now());
        }
        assert_eq!(s.tail.len(), TAIL_LINES);
        assert_eq!(s.tail.back().map(String::as_str), Some("line 99"));
    }
}
