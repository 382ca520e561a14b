//! Guest pacing: the mover sets its own rate so that the guest keeps 90% or more of its idle
//! speed. Every interval it looks at what the vCPU threads lost against the wall time they
//! had: how long they waited for a CPU (the second field of `/proc/self/task/TID/schedstat`,
//! run-queue delay in ns) and how long they ran in the host kernel (`stime` in
//! `/proc/self/task/TID/stat`: exit handling, above all the page faults that map again each
//! page the move took away). It also looks at what it moved itself: additive increase while
//! the vCPUs lost less than the target and the mover kept up with its rate (its own cost did
//! not hold it back), multiplicative decrease when they lost more. A fixed cap
//! (`max_mib_per_s`) bounds it.
//!
//! The target is what the vCPUs lost before the move (measured over a short baseline) plus
//! [`WAIT_TARGET`]: a host whose vCPUs already wait for a CPU, or a guest that exits often,
//! does not hold every move at the floor, and the move itself may cost the guest at most that
//! much more.

use std::time::Duration;

/// Share of wall time the vCPUs may lose (waiting for a CPU or in the host kernel) while a
/// paced move runs, beyond what they lost before it. Below the 10% the guest may lose,
/// because a moved page also slows the guest in ways neither shows (TLB refills after each
/// exit; bench/README.md, part `modes`).
pub const WAIT_TARGET: f64 = 0.07;
/// How long the vCPUs' wait is measured before a paced move starts.
pub const BASELINE: Duration = Duration::from_millis(500);
/// A baseline above this share is taken as this share: a guest that waits more than half the
/// time already leaves the mover at most the rest.
const BASELINE_CAP: f64 = 0.5;
/// How often the rate is adjusted.
pub const PACE_INTERVAL: Duration = Duration::from_millis(250);
/// The first rate: 64 MiB/s.
pub const START_RATE: u64 = 64 << 20;
/// The rate never goes below 2 MiB/s (one huge page per second), so a move always ends.
pub const MIN_RATE: u64 = 2 << 20;
/// Added each interval the guest leaves room for more: 16 MiB/s.
pub const RATE_STEP: u64 = 16 << 20;
/// The rate is multiplied by this when the vCPUs waited too long.
const DECREASE: f64 = 0.5;
/// Below this share of the target, the rate may grow; between it and the target it holds.
const GROW_BELOW: f64 = 0.8;
/// The mover kept up with its rate when it moved at least this share of the budget.
const KEPT_UP: f64 = 0.8;

/// Clock ticks per second of the times in `/proc/.../stat` (USER_HZ, 100 on x86 Linux).
const USER_HZ: u64 = 100;

/// One interval as the pacer saw it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaceSample {
    /// Wall time of the interval.
    pub wall: Duration,
    /// Run-queue delay of all vCPU threads together in the interval.
    pub vcpu_wait: Duration,
    /// Time all vCPU threads together ran in the host kernel in the interval.
    pub vcpu_kernel: Duration,
    /// vCPU threads looked at.
    pub vcpus: u32,
    /// Bytes the mover moved in the interval.
    pub moved: u64,
}

impl PaceSample {
    /// Share of the vCPUs' wall time the guest lost: waiting for a CPU or in the host kernel.
    pub fn lost_share(&self) -> f64 {
        let had = self.wall.as_secs_f64() * f64::from(self.vcpus.max(1));
        if had <= 0.0 {
            return 0.0;
        }
        (self.vcpu_wait + self.vcpu_kernel).as_secs_f64() / had
    }
}

/// The pacing controller (AIMD on the mover's rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestPace {
    rate: u64,
    cap: Option<u64>,
    /// The vCPUs' wait share before the move, in millionths.
    baseline_ppm: u32,
}

impl GuestPace {
    /// A controller starting at [`START_RATE`], never above `cap` (bytes per second).
    pub fn new(cap: Option<u64>) -> Self {
        let cap = cap.map(|c| c.max(1));
        Self {
            rate: cap.map_or(START_RATE, |c| START_RATE.min(c)),
            cap,
            baseline_ppm: 0,
        }
    }

    /// The same controller, measuring against the vCPUs' wait before the move: `before` is a
    /// sample taken over [`BASELINE`] while nothing moved.
    pub fn with_baseline(self, before: &PaceSample) -> Self {
        let share = before.lost_share().clamp(0.0, BASELINE_CAP);
        Self {
            baseline_ppm: (share * 1e6) as u32,
            ..self
        }
    }

    /// The wait share the vCPUs may reach while the move runs.
    pub fn target(&self) -> f64 {
        f64::from(self.baseline_ppm) / 1e6 + WAIT_TARGET
    }

    /// The rate now, in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Adjusts the rate after one interval and returns it.
    pub fn update(&mut self, sample: &PaceSample) -> u64 {
        if sample.vcpus == 0 || sample.wall.is_zero() {
            return self.rate;
        }
        let wait = sample.lost_share();
        let target = self.target();
        let floor = self.cap.map_or(MIN_RATE, |c| MIN_RATE.min(c));
        if wait > target {
            self.rate = ((self.rate as f64 * DECREASE) as u64).max(floor);
        } else if wait < target - WAIT_TARGET * (1.0 - GROW_BELOW) {
            let budget = self.rate as f64 * sample.wall.as_secs_f64();
            if sample.moved as f64 >= budget * KEPT_UP {
                let grown = self.rate.saturating_add(RATE_STEP);
                self.rate = self.cap.map_or(grown, |c| grown.min(c));
            }
        }
        self.rate
    }
}

/// The run-queue delay (ns) in the text of a schedstat file: its second field.
pub fn schedstat_wait(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The kernel time (`stime`, the 15th field) in the text of a `/proc/.../stat` file, in
/// clock ticks. The command name (2nd field) may hold spaces and parentheses: fields are
/// counted after its last `)`.
pub fn stat_kernel_ticks(text: &str) -> Option<u64> {
    let (_, after_name) = text.rsplit_once(')')?;
    after_name.split_whitespace().nth(12)?.parse().ok()
}

/// The time thread `tid` of this process has run in the kernel so far, if the kernel tells.
pub fn thread_kernel_time(tid: i32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let ticks = stat_kernel_ticks(&text)?;
    Some(Duration::from_nanos(
        ticks.saturating_mul(1_000_000_000 / USER_HZ),
    ))
}

/// The run-queue delay of thread `tid` of this process so far, if the kernel tells.
pub fn thread_wait(tid: i32) -> Option<Duration> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    schedstat_wait(&text).map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    /// An interval of 250 ms of 2 vCPUs that waited `wait_ms` in all, the mover having
    /// moved `moved_mib`.
    fn sample(wait_ms: u64, moved_mib: u64) -> PaceSample {
        PaceSample {
            wall: PACE_INTERVAL,
            vcpu_wait: Duration::from_millis(wait_ms),
            vcpu_kernel: Duration::ZERO,
            vcpus: 2,
            moved: moved_mib * MIB,
        }
    }

    /// Fake schedstat readings: cumulative (run ns, wait ns, slices) per vCPU, as the file
    /// shows them, turned into a sample of the interval between two readings.
    fn from_schedstat(before: [&str; 2], after: [&str; 2], moved_mib: u64) -> PaceSample {
        let wait =
            |texts: [&str; 2]| -> u64 { texts.iter().map(|t| schedstat_wait(t).unwrap()).sum() };
        PaceSample {
            wall: PACE_INTERVAL,
            vcpu_wait: Duration::from_nanos(wait(after) - wait(before)),
            vcpu_kernel: Duration::ZERO,
            vcpus: 2,
            moved: moved_mib * MIB,
        }
    }

    #[test]
    fn schedstat_gives_its_second_field() {
        assert_eq!(schedstat_wait("123456 7890 12\n"), Some(7890));
        assert_eq!(schedstat_wait("123456"), None);
        assert_eq!(schedstat_wait(""), None);
        assert!(thread_wait(i32::MAX).is_none());
    }

    #[test]
    fn grows_while_the_guest_barely_waits_and_the_mover_keeps_up() {
        let mut pace = GuestPace::new(None);
        assert_eq!(pace.rate(), START_RATE);
        // 10 ms of 500 ms waited (2%), 16 MiB moved of a 16 MiB budget.
        let s = from_schedstat(
            ["1000000000 5000000 10", "1000000000 5000000 10"],
            ["1200000000 10000000 20", "1200000000 10000000 20"],
            16,
        );
        assert!((s.lost_share() - 0.02).abs() < 1e-9);
        assert_eq!(pace.update(&s), START_RATE + RATE_STEP);
        assert_eq!(pace.update(&s), START_RATE + 2 * RATE_STEP);
    }

    #[test]
    fn does_not_grow_past_what_its_own_cost_lets_it_move() {
        let mut pace = GuestPace::new(None);
        // The guest has room, but the mover moved 4 MiB of a 16 MiB budget.
        assert_eq!(pace.update(&sample(0, 4)), START_RATE);
    }

    #[test]
    fn halves_when_the_vcpus_wait_too_long_and_never_stops() {
        let mut pace = GuestPace::new(None);
        // 150 ms of 500 ms waited: 30%.
        let s = from_schedstat(
            ["0 0 0", "0 0 0"],
            ["100000000 75000000 5", "100000000 75000000 5"],
            16,
        );
        assert_eq!(pace.update(&s), START_RATE / 2);
        for _ in 0..20 {
            pace.update(&s);
        }
        assert_eq!(pace.rate(), MIN_RATE, "a paced move always ends");
    }

    #[test]
    fn holds_near_the_target() {
        let mut pace = GuestPace::new(None);
        // 30 ms of 500 ms: 6%, above 80% of the target and below it.
        assert_eq!(pace.update(&sample(30, 16)), START_RATE);
    }

    #[test]
    fn a_fixed_cap_bounds_it() {
        let mut pace = GuestPace::new(Some(70 * MIB));
        assert_eq!(pace.rate(), START_RATE);
        assert_eq!(pace.update(&sample(0, 16)), 70 * MIB);
        assert_eq!(pace.update(&sample(0, 18)), 70 * MIB);
        let mut low = GuestPace::new(Some(MIB));
        assert_eq!(low.rate(), MIB);
        assert_eq!(
            low.update(&sample(400, 1)),
            MIB,
            "never below the cap's own floor"
        );
    }

    #[test]
    fn measures_against_the_wait_before_the_move() {
        // Before the move the vCPUs waited 25% of the time (125 ms of 500 ms).
        let before = sample(125, 0);
        let mut pace = GuestPace::new(None).with_baseline(&before);
        assert!((pace.target() - 0.32).abs() < 1e-6);
        // 30%: more than a guest without contention may wait, less than this one's target.
        assert_eq!(pace.update(&sample(150, 16)), START_RATE + RATE_STEP);
        // 31%: near the target, holds.
        assert_eq!(pace.update(&sample(155, 20)), START_RATE + RATE_STEP);
        // 40%: the move costs the guest more than 7 points: halve.
        assert_eq!(pace.update(&sample(200, 20)), (START_RATE + RATE_STEP) / 2);
        // Without the baseline the same 30% halves at once.
        assert_eq!(
            GuestPace::new(None).update(&sample(150, 16)),
            START_RATE / 2
        );
    }

    #[test]
    fn a_baseline_beyond_half_the_time_counts_as_half() {
        let pace = GuestPace::new(None).with_baseline(&sample(450, 0));
        assert!((pace.target() - 0.57).abs() < 1e-6);
    }

    #[test]
    fn stat_gives_kernel_ticks_past_any_name() {
        let plain = "4242 (vcpu0) S 1 2 3 4 5 6 7 8 9 10 120 35 0 0 20 0 1 0 99";
        assert_eq!(stat_kernel_ticks(plain), Some(35));
        let odd = "4242 (a) b (c) R 1 2 3 4 5 6 7 8 9 10 7 8 0 0";
        assert_eq!(stat_kernel_ticks(odd), Some(8));
        assert_eq!(stat_kernel_ticks("4242 (short) S 1 2"), None);
        assert_eq!(stat_kernel_ticks(""), None);
        assert!(thread_kernel_time(i32::MAX).is_none());
    }

    #[test]
    fn time_in_the_host_kernel_counts_as_lost() {
        // 2% waiting, but 10% of the vCPUs' time in the host kernel (nested page faults).
        let mut s = sample(10, 16);
        assert_eq!(GuestPace::new(None).update(&s), START_RATE + RATE_STEP);
        s.vcpu_kernel = Duration::from_millis(50);
        assert!((s.lost_share() - 0.12).abs() < 1e-9);
        assert_eq!(GuestPace::new(None).update(&s), START_RATE / 2);
        // The same kernel time before the move is the guest's own: measured against it.
        let mut before = sample(0, 0);
        before.vcpu_kernel = Duration::from_millis(50);
        let mut pace = GuestPace::new(None).with_baseline(&before);
        assert_eq!(pace.update(&s), START_RATE + RATE_STEP);
    }

    #[test]
    fn an_interval_without_vcpus_changes_nothing() {
        let mut pace = GuestPace::new(None);
        let mut s = sample(400, 16);
        s.vcpus = 0;
        assert_eq!(pace.update(&s), START_RATE);
    }
}
