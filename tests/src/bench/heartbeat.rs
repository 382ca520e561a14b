//! The guest workload's heartbeats, stamped with L1's uptime as they left tern:
//! `HB @<L1 seconds> cpuN: HB pass=P uptime_ms=U pass_ms=T errors=E`.
//!
//! The heartbeat carries the guest's own clock (`uptime_ms`); the stamp lets an L1 time
//! window (a move, a sampling window) be mapped onto the guest clock. Pass progress between
//! two heartbeats is interpolated linearly, so a window's pass rate is not rounded to whole
//! passes.

use std::collections::BTreeMap;

/// The prefix of a stamped heartbeat line in the script's output.
pub const PREFIX: &str = "HB @";

/// One heartbeat.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Beat {
    /// L1 uptime when tern's output reached the script, in ms.
    pub l1_ms: f64,
    /// The guest CPU.
    pub cpu: usize,
    /// Passes completed.
    pub pass: u64,
    /// Guest uptime (CLOCK_BOOTTIME) at the end of the pass, in ms.
    pub uptime_ms: u64,
    /// Errors the workload found so far.
    pub errors: u64,
}

fn field(text: &str, key: &str) -> Option<u64> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(key))?
        .parse()
        .ok()
}

/// Parses one stamped heartbeat line; `None` for anything else, torn lines included (two
/// workloads share the console, so their lines sometimes interleave).
pub fn parse_beat(line: &str) -> Option<Beat> {
    let rest = line.trim_end_matches('\r').strip_prefix(PREFIX)?;
    let (stamp, text) = rest.split_once(' ')?;
    let l1_s: f64 = stamp.parse().ok()?;
    let (cpu, text) = text.strip_prefix("cpu")?.split_once(": HB ")?;
    let words = text.split_whitespace().count();
    if words != 4 || text.contains("cpu") {
        return None;
    }
    Some(Beat {
        l1_ms: l1_s * 1000.0,
        cpu: cpu.parse().ok()?,
        pass: field(text, "pass=")?,
        uptime_ms: field(text, "uptime_ms=")?,
        errors: field(text, "errors=")?,
    })
}

/// The heartbeats among `lines`, per CPU in order, each CPU's passes and times strictly
/// increasing (a beat that breaks the order is dropped as garbled).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Beats {
    per_cpu: BTreeMap<usize, Vec<Beat>>,
}

impl Beats {
    /// Collects the heartbeats of `lines`.
    pub fn parse<'a>(lines: impl Iterator<Item = &'a str>) -> Self {
        let mut per_cpu: BTreeMap<usize, Vec<Beat>> = BTreeMap::new();
        for beat in lines.filter_map(parse_beat) {
            let list = per_cpu.entry(beat.cpu).or_default();
            let in_order = list
                .last()
                .is_none_or(|last| beat.pass > last.pass && beat.uptime_ms > last.uptime_ms);
            if in_order {
                list.push(beat);
            }
        }
        Self { per_cpu }
    }

    /// All heartbeats.
    pub fn len(&self) -> usize {
        self.per_cpu.values().map(Vec::len).sum()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The CPUs that sent heartbeats.
    pub fn cpus(&self) -> usize {
        self.per_cpu.len()
    }

    /// The highest error count any CPU reported.
    pub fn errors(&self) -> u64 {
        self.per_cpu
            .values()
            .flatten()
            .map(|b| b.errors)
            .max()
            .unwrap_or(0)
    }

    /// L1 time minus guest time, in ms: the smallest difference over all heartbeats (the
    /// one that waited least between the guest's clock read and the stamp).
    pub fn clock_offset_ms(&self) -> Option<f64> {
        self.per_cpu
            .values()
            .flatten()
            .map(|b| b.l1_ms - b.uptime_ms as f64)
            .min_by(f64::total_cmp)
    }

    /// Passes CPU `list` had completed at guest time `t` ms, interpolated; `None` outside
    /// its heartbeats.
    fn progress(list: &[Beat], t: f64) -> Option<f64> {
        list.windows(2).find_map(|w| {
            let (u0, u1) = (w[0].uptime_ms as f64, w[1].uptime_ms as f64);
            (u0 <= t && t <= u1).then(|| {
                let (p0, p1) = (w[0].pass as f64, w[1].pass as f64);
                p0 + (p1 - p0) * (t - u0) / (u1 - u0)
            })
        })
    }

    /// Heartbeats per second of guest time over `[from, to]` (guest ms), summed over the
    /// CPUs; `None` if the window is empty or some CPU's heartbeats do not cover it.
    pub fn pass_rate(&self, from: f64, to: f64) -> Option<f64> {
        if to <= from || self.per_cpu.is_empty() {
            return None;
        }
        let mut passes = 0.0;
        for list in self.per_cpu.values() {
            passes += Self::progress(list, to)? - Self::progress(list, from)?;
        }
        Some(passes / ((to - from) / 1000.0))
    }

    /// CPUs that fell silent: their last heartbeat came more than `ms` of guest time before
    /// the last heartbeat of any CPU. (cpu, guest uptime of its last heartbeat.)
    pub fn silent_cpus(&self, ms: u64) -> Vec<(usize, u64)> {
        let last = |list: &Vec<Beat>| list.last().map_or(0, |b| b.uptime_ms);
        let latest = self.per_cpu.values().map(last).max().unwrap_or(0);
        self.per_cpu
            .iter()
            .filter(|(_, list)| last(list) + ms < latest)
            .map(|(cpu, list)| (*cpu, last(list)))
            .collect()
    }

    /// Passes CPU `list` had completed at L1 time `t` ms, interpolated; `None` outside its
    /// heartbeats.
    fn progress_l1(list: &[Beat], t: f64) -> Option<f64> {
        list.windows(2).find_map(|w| {
            let (t0, t1) = (w[0].l1_ms, w[1].l1_ms);
            (t0 <= t && t <= t1 && t1 > t0).then(|| {
                let (p0, p1) = (w[0].pass as f64, w[1].pass as f64);
                p0 + (p1 - p0) * (t - t0) / (t1 - t0)
            })
        })
    }

    /// Heartbeats per second of L1 time over `[from, to]` (L1 ms), summed over the CPUs:
    /// for windows the guest's own clock may not count in full (a pause); `None` if the
    /// window is empty or some CPU's heartbeats do not cover it.
    pub fn pass_rate_l1(&self, from: f64, to: f64) -> Option<f64> {
        if to <= from || self.per_cpu.is_empty() {
            return None;
        }
        let mut passes = 0.0;
        for list in self.per_cpu.values() {
            passes += Self::progress_l1(list, to)? - Self::progress_l1(list, from)?;
        }
        Some(passes / ((to - from) / 1000.0))
    }

    /// The longest L1 time between two heartbeats of one CPU that overlaps `[from, to]` (L1
    /// ms), in ms.
    pub fn largest_gap_l1_ms(&self, from: f64, to: f64) -> Option<f64> {
        self.per_cpu
            .values()
            .flat_map(|list| list.windows(2))
            .filter(|w| w[0].l1_ms < to && w[1].l1_ms > from)
            .map(|w| w[1].l1_ms - w[0].l1_ms)
            .max_by(f64::total_cmp)
    }

    /// The longest time between two heartbeats of one CPU that overlaps `[from, to]` (guest
    /// ms), in ms.
    pub fn largest_gap_ms(&self, from: f64, to: f64) -> Option<f64> {
        self.per_cpu
            .values()
            .flat_map(|list| list.windows(2))
            .filter(|w| (w[0].uptime_ms as f64) < to && (w[1].uptime_ms as f64) > from)
            .map(|w| (w[1].uptime_ms - w[0].uptime_ms) as f64)
            .max_by(f64::total_cmp)
    }
}

/// The heartbeats of each VM of a script's output: the `HB` lines after `REC epoch n=K`
/// belong to VM K (the script prints the marker and then that VM's heartbeats); lines
/// before any marker belong to VM 1.
pub fn by_epoch(output: &str) -> BTreeMap<i64, Beats> {
    let mut lines: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    let mut epoch = 1;
    for line in output.lines() {
        if let Some(n) = line.strip_prefix("REC epoch n=") {
            epoch = n.trim().parse().unwrap_or(epoch);
        } else if line.starts_with(PREFIX) {
            lines.entry(epoch).or_default().push(line);
        }
    }
    lines
        .into_iter()
        .map(|(k, v)| (k, Beats::parse(v.into_iter())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(l1: f64, cpu: usize, pass: u64, up: u64) -> String {
        format!("HB @{l1:.2} cpu{cpu}: HB pass={pass} uptime_ms={up} pass_ms=500 errors=0")
    }

    #[test]
    fn parses_and_drops_torn_lines() {
        let b =
            parse_beat("HB @12.34 cpu1: HB pass=3 uptime_ms=5000 pass_ms=500 errors=0\r").unwrap();
        assert_eq!((b.cpu, b.pass, b.uptime_ms, b.errors), (1, 3, 5000, 0));
        assert!((b.l1_ms - 12340.0).abs() < 1e-6);
        for torn in [
            "HB @1.00 cpu0: cpu1: HB pass=3 uptime_ms=5000 pass_ms=500 errors=0",
            "HB @1.00 cpu0: HB pass=220 uptime_ms=16275SP:",
            "HB @1.00 [cpu0: pass=219 u p1tim6e2",
            "HB @x cpu0: HB pass=1 uptime_ms=1 pass_ms=1 errors=0",
        ] {
            assert!(parse_beat(torn).is_none(), "{torn}");
        }
    }

    #[test]
    fn rates_gaps_and_clock_offset() {
        // CPU 0: a pass every 500 ms; CPU 1: every 1000 ms, with a 3 s stall.
        let mut lines = Vec::new();
        for i in 0..=20u64 {
            lines.push(line(100.0 + i as f64 * 0.5, 0, i + 1, 1000 + i * 500));
        }
        for (i, up) in [1000u64, 2000, 3000, 6000, 7000, 8000, 9000, 10000, 11000]
            .iter()
            .enumerate()
        {
            lines.push(line(
                100.05 + (*up as f64 - 1000.0) / 1000.0,
                1,
                i as u64 + 1,
                *up,
            ));
        }
        lines.push("HB @150.00 cpu1: HB pass=1 uptime_ms=99999 pass_ms=1 errors=0".into());
        let beats = Beats::parse(lines.iter().map(String::as_str));
        assert_eq!((beats.cpus(), beats.len(), beats.errors()), (2, 30, 0));
        assert!((beats.clock_offset_ms().unwrap() - 99000.0).abs() < 1e-6);
        // 2 passes/s on CPU 0; CPU 1 makes 1 pass over 3000-6000 and 1/s elsewhere.
        let steady = beats.pass_rate(6000.0, 10000.0).unwrap();
        assert!((steady - 3.0).abs() < 1e-9, "{steady}");
        let stalled = beats.pass_rate(3000.0, 6000.0).unwrap();
        assert!((stalled - (2.0 + 1.0 / 3.0)).abs() < 1e-9, "{stalled}");
        assert_eq!(beats.largest_gap_ms(3500.0, 4000.0), Some(3000.0));
        assert_eq!(beats.largest_gap_ms(7000.0, 9000.0), Some(1000.0));
        assert_eq!(beats.pass_rate(500.0, 2000.0), None);
        assert_eq!(beats.pass_rate(2000.0, 2000.0), None);
        assert!(beats.silent_cpus(10).is_empty());
    }

    #[test]
    fn rates_and_gaps_on_l1s_clock() {
        // The guest's clock stopped for a 2 s pause (its uptime jumps by 500 ms only); L1's
        // stamps show the pause.
        let lines = [
            line(10.0, 0, 1, 1000),
            line(10.5, 0, 2, 1500),
            line(12.5, 0, 3, 2000),
            line(13.0, 0, 4, 2500),
        ];
        let beats = Beats::parse(lines.iter().map(String::as_str));
        assert_eq!(beats.largest_gap_l1_ms(11000.0, 12000.0), Some(2000.0));
        assert_eq!(beats.largest_gap_ms(1600.0, 1900.0), Some(500.0));
        let paused = beats.pass_rate_l1(10500.0, 12500.0).unwrap();
        assert!((paused - 0.5).abs() < 1e-9, "{paused}");
        let steady = beats.pass_rate_l1(12500.0, 13000.0).unwrap();
        assert!((steady - 2.0).abs() < 1e-9, "{steady}");
        assert_eq!(beats.pass_rate_l1(9000.0, 10500.0), None);
    }

    #[test]
    fn heartbeats_split_by_vm() {
        let text = format!(
            "{}\nREC epoch n=1\n{}\nREC vm_died epoch=1\nREC epoch n=2\n{}\n{}\n",
            line(1.0, 0, 1, 100),
            line(2.0, 0, 2, 600),
            line(9.0, 0, 1, 50),
            line(9.5, 1, 1, 60)
        );
        let vms = by_epoch(&text);
        assert_eq!(vms.len(), 2);
        assert_eq!((vms[&1].len(), vms[&2].len(), vms[&2].cpus()), (2, 2, 2));
        assert_eq!(vms[&2].silent_cpus(5), vec![(0, 50)]);
    }
}
