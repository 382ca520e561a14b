//! The heat sampler: while on, KVM dirty logging covers guest memory and a thread reads (and
//! re-arms) the dirty bitmaps every interval into the decaying per-chunk heat map. Where KVM
//! lets Tern choose which pages to re-arm, only a few pages per chunk are watched in each
//! interval (see [`crate::watch`]), and an interval shorter than [`ARM_PERIOD`] is one
//! observation per period: the watched pages are armed, read once the interval has passed,
//! and armed again a period after the last arming. Every arming write-protects pages, which
//! makes KVM flush the TLBs of all vCPUs, and wakes the sampler, which preempts a vCPU on a
//! host whose CPUs they fill; at 10 Hz that cost the lab's guest about a tenth of its speed,
//! and observing as often per second at one arming per second costs what 1 Hz does.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::guest::GuestView;
use crate::heat::HeatMap;
use crate::mover::progress::MoveProgress;
use crate::placement::PAGE_SIZE;
use crate::watch::{watch_set, DEFAULT_EVERY, DEFAULT_PAGES_PER_CHUNK};

/// Heat kept per sample: half of the previous score (the last few samples dominate).
pub const HEAT_DECAY: f64 = 0.5;
/// Default sampling interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// The operator's sampling arms its watched pages at most once per this period: a shorter
/// interval is the length of each observation, not how often one starts.
pub const ARM_PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Shared {
    map: Mutex<Option<HeatMap>>,
    /// Set to stop the sampling thread; `wake` is notified with it.
    stop: Mutex<bool>,
    wake: Condvar,
    interval_ms: AtomicU64,
    /// How often an observation starts (see [`Pace`]).
    period_ms: AtomicU64,
    /// Samples taken since sampling started; `sampled` is notified at each.
    samples: Mutex<u64>,
    sampled: Condvar,
}

impl Shared {
    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms.load(Ordering::Relaxed))
    }

    fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms.load(Ordering::Relaxed))
    }

    /// Sleeps until `span` (an interval or a period, as it is now if it changes meanwhile)
    /// has passed since `last`, or until a stop, whichever comes first; returns whether to
    /// stop. The thread wakes only for those: waking a thread costs a guest whose vCPUs fill
    /// the host's CPUs a preemption.
    fn sleep_after(&self, last: Instant, span: fn(&Self) -> Duration) -> bool {
        let Ok(mut stop) = self.stop.lock() else {
            return true;
        };
        while !*stop {
            let left = (last + span(self)).saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            stop = match self.wake.wait_timeout(stop, left) {
                Ok((guard, _)) => guard,
                Err(_) => return true,
            };
        }
        true
    }

    fn set_stop(&self, value: bool) {
        if let Ok(mut stop) = self.stop.lock() {
            *stop = value;
        }
        self.wake.notify_all();
    }

    fn count_sample(&self) {
        if let Ok(mut samples) = self.samples.lock() {
            *samples += 1;
        }
        self.sampled.notify_all();
    }
}

/// Who wants sampling, and the thread that samples while anyone does.
#[derive(Debug, Default)]
struct Users {
    /// The operator's interval, while the operator has sampling on (`PUT /v1/heat`).
    operator: Option<Duration>,
    /// Hot-first rebalances warming up their heat map.
    warmups: u32,
    thread: Option<JoinHandle<()>>,
}

/// How the sampler runs: its interval, and how often an observation starts. Each
/// observation covers one chunk in [`DEFAULT_EVERY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pace {
    interval: Duration,
    /// An observation starts this often: the interval itself (each observation arms the next
    /// one), or [`ARM_PERIOD`] for the operator's shorter intervals.
    period: Duration,
}

impl Users {
    /// How sampling should run, if anyone wants it. The operator's sampling observes a
    /// quarter of the chunks per second at any interval (at most 128 write faults per GiB per
    /// second, one arming per second); a warm-up alone is a short burst that observes a
    /// quarter of the chunks per sample, so its few samples see most of the memory.
    fn wanted(&self) -> Option<Pace> {
        match self.operator {
            Some(interval) => Some(Pace {
                interval,
                period: interval.max(ARM_PERIOD),
            }),
            None => (self.warmups > 0).then_some(Pace {
                interval: WARMUP_INTERVAL,
                period: WARMUP_INTERVAL,
            }),
        }
    }
}

/// Sampling interval used while a hot-first rebalance warms up and the operator has not
/// chosen one.
pub const WARMUP_INTERVAL: Duration = Duration::from_millis(500);

/// Starts and stops sampling for whoever wants it (the operator, hot-first warm-ups): it
/// runs while anyone does. Holds the heat map.
pub struct HeatSampler {
    view: Arc<dyn GuestView>,
    shared: Arc<Shared>,
    users: Mutex<Users>,
}

impl std::fmt::Debug for HeatSampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeatSampler")
            .field("users", &self.users)
            .finish_non_exhaustive()
    }
}

/// A hot-first rebalance's claim on sampling; sampling stops when the last claim is dropped
/// unless the operator wants it.
#[derive(Debug)]
pub struct Warmup<'a> {
    sampler: &'a HeatSampler,
}

impl Drop for Warmup<'_> {
    fn drop(&mut self) {
        if let Err(e) = self
            .sampler
            .change(|u| u.warmups = u.warmups.saturating_sub(1))
        {
            log::warn!("heat: cannot stop sampling after a warm-up: {e}");
        }
    }
}

/// What the sampler watches: every page, or (where KVM lets Tern choose) a few pages per
/// chunk that change every interval.
struct Watch {
    /// Pages per region.
    pages: Vec<u64>,
    /// Per region, the pages watched in the interval under way (`None`: every page).
    current: Option<Vec<Vec<u64>>>,
    /// Intervals started.
    interval: u64,
}

impl Watch {
    /// Arms the first interval (reading and forgetting the bits set when logging started).
    fn start(view: &dyn GuestView) -> io::Result<Self> {
        let pages: Vec<u64> = view.regions().iter().map(|r| r.len / PAGE_SIZE).collect();
        let mut watch = Self {
            pages,
            current: None,
            interval: 0,
        };
        let first = watch.next_sets(view);
        for read in read_logs(view, &first) {
            read?;
        }
        watch.current = first.into_iter().collect();
        Ok(watch)
    }

    /// The watch sets of the next interval, one chunk in [`DEFAULT_EVERY`] (all `None` when
    /// every page is watched).
    fn next_sets(&mut self, view: &dyn GuestView) -> Vec<Option<Vec<u64>>> {
        self.interval += 1;
        let selective = view.rearms_selectively();
        self.pages
            .iter()
            .map(|p| {
                selective
                    .then(|| watch_set(*p, self.interval, DEFAULT_PAGES_PER_CHUNK, DEFAULT_EVERY))
            })
            .collect()
    }

    /// Reads every region's log into `map` as one sample (it covered `elapsed`), and arms
    /// the next interval.
    fn sample(&mut self, view: &dyn GuestView, map: &Mutex<Option<HeatMap>>, elapsed: Duration) {
        let next = self.next_sets(view);
        let bitmaps = read_logs(view, &next);
        self.record(map, &bitmaps, elapsed);
        self.current = next.into_iter().collect();
    }

    /// Reads every region's log into `map` as one sample (it covered `elapsed`) and arms
    /// nothing: the watched pages stay armed until [`arm`](Self::arm).
    fn observe(&self, view: &dyn GuestView, map: &Mutex<Option<HeatMap>>, elapsed: Duration) {
        let nothing: Vec<Option<Vec<u64>>> = self.pages.iter().map(|_| Some(Vec::new())).collect();
        let bitmaps = read_logs(view, &nothing);
        self.record(map, &bitmaps, elapsed);
    }

    /// Arms the next observation, forgetting what the pages armed before were written since
    /// they were read.
    fn arm(&mut self, view: &dyn GuestView) {
        let next = self.next_sets(view);
        for (i, read) in read_logs(view, &next).into_iter().enumerate() {
            if let Err(e) = read {
                log::warn!("heat: cannot re-arm the dirty log of region {i}: {e}");
            }
        }
        self.current = next.into_iter().collect();
    }

    /// Records `bitmaps`, read at the end of the observation under way, into `map` as one
    /// sample that covered `elapsed`.
    fn record(
        &self,
        map: &Mutex<Option<HeatMap>>,
        bitmaps: &[io::Result<Vec<u64>>],
        elapsed: Duration,
    ) {
        if let Ok(mut guard) = map.lock() {
            if let Some(map) = guard.as_mut() {
                for (i, bitmap) in bitmaps.iter().enumerate() {
                    match (bitmap, self.current.as_ref().and_then(|c| c.get(i))) {
                        (Ok(bits), Some(watched)) => {
                            let share = 1.0 / f64::from(DEFAULT_EVERY);
                            map.record_watched(i, bits, watched, share);
                        }
                        (Ok(bits), None) => {
                            map.record(i, bits);
                        }
                        (Err(e), _) => {
                            log::warn!("heat: cannot read the dirty log of region {i}: {e}")
                        }
                    }
                }
                map.end_sample(elapsed);
            }
        }
    }
}

/// Reads every region's log, re-arming per region what `rearm` says (`None`: every page
/// written; an empty set: nothing).
fn read_logs(view: &dyn GuestView, rearm: &[Option<Vec<u64>>]) -> Vec<io::Result<Vec<u64>>> {
    rearm
        .iter()
        .enumerate()
        .map(|(i, set)| view.take_dirty_bitmap(i, set.as_deref()))
        .collect()
}

/// Samples until told to stop. Observations back to back (each read arms the next) while the
/// period is the interval or KVM re-arms every page it reads; else one observation per
/// period: read an interval after arming, armed again a period after the last arming.
fn sample_loop(view: Arc<dyn GuestView>, shared: Arc<Shared>, mut watch: Watch) {
    let view = view.as_ref();
    let mut last = Instant::now();
    loop {
        if shared.sleep_after(last, Shared::interval) {
            return;
        }
        if shared.period() > shared.interval() && view.rearms_selectively() {
            watch.observe(view, &shared.map, last.elapsed());
            shared.count_sample();
            if shared.sleep_after(last, Shared::period) {
                return;
            }
            last = Instant::now();
            watch.arm(view);
        } else {
            let elapsed = last.elapsed();
            last = Instant::now();
            watch.sample(view, &shared.map, elapsed);
            shared.count_sample();
        }
    }
}

impl HeatSampler {
    /// A sampler of `view`'s dirty log, not running.
    pub fn new(view: Arc<dyn GuestView>) -> Self {
        Self {
            view,
            shared: Arc::default(),
            users: Mutex::default(),
        }
    }

    /// Whether sampling is on.
    pub fn is_running(&self) -> bool {
        self.users
            .lock()
            .map(|u| u.thread.is_some())
            .unwrap_or(false)
    }

    /// Whether the operator has sampling on.
    pub fn operator_wants(&self) -> bool {
        self.users
            .lock()
            .map(|u| u.operator.is_some())
            .unwrap_or(false)
    }

    /// The sampling interval.
    pub fn interval(&self) -> Duration {
        match self.shared.interval_ms.load(Ordering::Relaxed) {
            0 => DEFAULT_INTERVAL,
            ms => Duration::from_millis(ms),
        }
    }

    /// How often an observation starts: the interval, or [`ARM_PERIOD`] for a shorter one.
    pub fn period(&self) -> Duration {
        self.shared.period().max(self.interval())
    }

    /// The heat map (None until sampling first started).
    pub fn map(&self) -> Option<MutexGuard<'_, Option<HeatMap>>> {
        self.shared.map.lock().ok()
    }

    /// Samples taken since sampling started.
    pub fn samples(&self) -> u64 {
        self.shared.samples.lock().map(|s| *s).unwrap_or(0)
    }

    /// The operator turns sampling on (every `interval`, or the current interval) or off.
    /// Sampling a warm-up started goes on until the warm-up ends.
    pub fn set_operator(&self, enabled: bool, interval: Option<Duration>) -> io::Result<()> {
        let interval = interval.unwrap_or_else(|| self.interval());
        self.change(|u| u.operator = enabled.then_some(interval))
    }

    /// Claims sampling for a hot-first warm-up (started at the warm-up interval if nobody
    /// samples yet) until the claim is dropped.
    pub fn warm_up(&self) -> io::Result<Warmup<'_>> {
        self.change(|u| u.warmups += 1)?;
        Ok(Warmup { sampler: self })
    }

    /// Stops sampling whoever wants it (at shutdown).
    pub fn stop_all(&self) -> io::Result<()> {
        self.change(|u| {
            u.operator = None;
            u.warmups = 0;
        })
    }

    /// Changes who wants sampling and makes the sampler match, all under one lock: the
    /// thread runs, and dirty logging is on, exactly while someone wants sampling.
    fn change(&self, edit: impl FnOnce(&mut Users)) -> io::Result<()> {
        let Ok(mut users) = self.users.lock() else {
            return Err(io::Error::other("the heat sampler's lock is poisoned"));
        };
        let before = (users.operator, users.warmups);
        edit(&mut users);
        match (users.wanted(), users.thread.is_some()) {
            (Some(pace), true) => {
                self.set_pace(pace);
                Ok(())
            }
            (Some(pace), false) => match self.start(pace) {
                Ok(handle) => {
                    users.thread = Some(handle);
                    Ok(())
                }
                Err(e) => {
                    // Sampling could not start: the claim that asked for it is not taken.
                    (users.operator, users.warmups) = before;
                    Err(e)
                }
            },
            (None, true) => {
                if let Some(handle) = users.thread.take() {
                    self.shared.set_stop(true);
                    let _ = handle.join();
                }
                self.view.set_dirty_logging(false)
            }
            (None, false) => Ok(()),
        }
    }

    fn set_pace(&self, pace: Pace) {
        self.shared
            .interval_ms
            .store(pace.interval.as_millis().max(10) as u64, Ordering::Relaxed);
        self.shared
            .period_ms
            .store(pace.period.as_millis().max(10) as u64, Ordering::Relaxed);
        self.shared.wake.notify_all();
    }

    /// Turns dirty logging on, starts a fresh heat map and the sampling thread.
    fn start(&self, pace: Pace) -> io::Result<JoinHandle<()>> {
        self.set_pace(pace);
        self.view.set_dirty_logging(true)?;
        let watch = match Watch::start(self.view.as_ref()) {
            Ok(w) => w,
            Err(e) => {
                let _ = self.view.set_dirty_logging(false);
                return Err(e);
            }
        };
        let lens: Vec<u64> = self.view.regions().iter().map(|r| r.len).collect();
        if let Ok(mut map) = self.shared.map.lock() {
            *map = Some(HeatMap::new(&lens, HEAT_DECAY));
        }
        if let Ok(mut samples) = self.shared.samples.lock() {
            *samples = 0;
        }
        self.shared.set_stop(false);
        let (view, shared) = (self.view.clone(), self.shared.clone());
        let spawned = std::thread::Builder::new()
            .name("heat".into())
            .spawn(move || {
                sandbox::enter(sandbox::ThreadKind::Heat);
                sample_loop(view, shared, watch)
            });
        if spawned.is_err() {
            let _ = self.view.set_dirty_logging(false);
        }
        spawned
    }

    /// Waits until `samples` samples were taken since sampling started, the job is cancelled
    /// (its canceller calls [`wake_waiters`](Self::wake_waiters)), or a generous deadline
    /// passes.
    pub fn wait_for_samples(&self, samples: u64, progress: &MoveProgress) {
        let deadline = Instant::now() + self.period() * (samples as u32 + 2);
        let Ok(mut taken) = self.shared.samples.lock() else {
            return;
        };
        while *taken < samples && !progress.is_cancelled() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            taken = match self.shared.sampled.wait_timeout(taken, left) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
    }

    /// Wakes whoever waits for samples, so that they see a cancel.
    pub fn wake_waiters(&self) {
        let _guard = self.shared.samples.lock();
        self.shared.sampled.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::CHUNK_BYTES;
    use crate::guest::{MemoryRegion, VcpuThread};
    use crate::mempolicy::MemPolicy;

    /// KVM's dirty log with manual protect, for one region of two chunks: bits start set,
    /// re-arming clears the given ones, and the "guest" sets the bits of what it writes.
    struct Kvm {
        bits: Mutex<Vec<u64>>,
        rearmed: Mutex<Vec<Vec<u64>>>,
    }

    impl Kvm {
        fn write_chunk(&self, chunk: usize) {
            let mut bits = self.bits.lock().unwrap();
            bits[chunk * 8..chunk * 8 + 8].fill(u64::MAX);
        }
    }

    impl GuestView for Kvm {
        fn regions(&self) -> Vec<MemoryRegion> {
            vec![MemoryRegion {
                guest_node: 0,
                guest_addr: 0,
                len: 2 * CHUNK_BYTES,
                host_addr: 0x1000_0000,
                policy: MemPolicy::Bind(0),
                hugetlb: false,
            }]
        }
        fn set_region_policy(&self, _: usize, _: MemPolicy) -> io::Result<()> {
            Ok(())
        }
        fn move_range(&self, _: u64, _: u64, _: &MemPolicy) -> io::Result<()> {
            Ok(())
        }
        fn set_dirty_logging(&self, _: bool) -> io::Result<()> {
            Ok(())
        }
        fn take_dirty_bitmap(&self, _: usize, rearm: Option<&[u64]>) -> io::Result<Vec<u64>> {
            let mut bits = self.bits.lock().unwrap();
            let read = bits.clone();
            let rearm = rearm.expect("a selective view is always given what to re-arm");
            for (b, m) in bits.iter_mut().zip(rearm) {
                *b &= !m;
            }
            self.rearmed.lock().unwrap().push(rearm.to_vec());
            Ok(read)
        }
        fn rearms_selectively(&self) -> bool {
            true
        }
        fn vcpu_threads(&self) -> Vec<VcpuThread> {
            Vec::new()
        }
        fn pause_vcpus(&self) -> io::Result<bool> {
            Ok(true)
        }
        fn resume_vcpus(&self) {}
        fn touch(&self, _: u64) {}
    }

    #[test]
    fn the_operators_sampling_arms_once_a_second_and_a_warm_up_alone_samples_broadly() {
        let operator = |ms| Users {
            operator: Some(Duration::from_millis(ms)),
            ..Users::default()
        };
        let pace = |interval_ms, period_ms| Pace {
            interval: Duration::from_millis(interval_ms),
            period: Duration::from_millis(period_ms),
        };
        assert_eq!(operator(1000).wanted(), Some(pace(1000, 1000)));
        assert_eq!(operator(5000).wanted(), Some(pace(5000, 5000)));
        assert_eq!(operator(100).wanted(), Some(pace(100, 1000)));
        let mut warm = Users {
            warmups: 1,
            ..Users::default()
        };
        assert_eq!(warm.wanted(), Some(pace(500, 500)));
        warm.operator = Some(Duration::from_millis(250));
        assert_eq!(warm.wanted(), Some(pace(250, 1000)));
        assert_eq!(Users::default().wanted(), None);
    }

    #[test]
    fn a_few_watched_pages_per_chunk_tell_hot_from_cold_despite_stale_bits() {
        let kvm = Kvm {
            bits: Mutex::new(vec![u64::MAX; 16]),
            rearmed: Mutex::new(Vec::new()),
        };
        let map = Mutex::new(Some(HeatMap::new(&[2 * CHUNK_BYTES], 0.5)));
        let mut watch = Watch::start(&kvm).unwrap();
        // Each chunk is observed once in DEFAULT_EVERY (4) samples: chunk 0 in samples 4
        // and 8, chunk 1 in samples 3 and 7.
        for _ in 0..8 {
            kvm.write_chunk(0);
            watch.sample(&kvm, &map, Duration::from_secs(1));
        }
        let guard = map.lock().unwrap();
        let heat = guard.as_ref().unwrap();
        // Chunk 1's bits stayed set from the start, except the watched ones: it is cold.
        assert_eq!(
            (heat.heat(0, 0), heat.heat(0, 1)),
            (512.0 * 0.5 + 512.0, 0.0)
        );
        // The last sample observed chunk 0 only, a quarter of the region.
        assert_eq!(heat.dirty_pages_last_sample(0), 4 * 512);
        // Each interval re-armed at most one page, never a whole chunk.
        let rearmed = kvm.rearmed.lock().unwrap();
        assert_eq!(rearmed.len(), 9);
        for mask in rearmed.iter() {
            let pages: u32 = mask.iter().map(|w| w.count_ones()).sum();
            assert!(pages <= 1, "{pages}");
        }
    }

    #[test]
    fn an_observation_reads_without_arming_and_the_next_arming_forgets_what_came_between() {
        let kvm = Kvm {
            bits: Mutex::new(vec![u64::MAX; 16]),
            rearmed: Mutex::new(Vec::new()),
        };
        let map = Mutex::new(Some(HeatMap::new(&[2 * CHUNK_BYTES], 0.5)));
        // Observations 1 and 2 watch no chunk of this small region, 3 watches chunk 1 and 4
        // chunk 0 (one in DEFAULT_EVERY, in turn).
        let mut watch = Watch::start(&kvm).unwrap();
        for _ in 0..2 {
            watch.observe(&kvm, &map, Duration::from_millis(100));
            watch.arm(&kvm);
        }
        kvm.write_chunk(1);
        watch.observe(&kvm, &map, Duration::from_millis(100));
        {
            let guard = map.lock().unwrap();
            let heat = guard.as_ref().unwrap();
            assert_eq!(heat.samples(), 3);
            assert_eq!(heat.heat(0, 1), 512.0);
            assert_eq!(heat.dirty_pages_last_sample(0), 4 * 512);
        }
        // Chunk 0 is written after observation 3 read the log but before observation 4 is
        // armed: the arming forgets it, and observation 4 finds chunk 0 cold.
        kvm.write_chunk(0);
        watch.arm(&kvm);
        watch.observe(&kvm, &map, Duration::from_millis(100));
        let guard = map.lock().unwrap();
        let heat = guard.as_ref().unwrap();
        assert_eq!(heat.heat(0, 0), 0.0);
        assert_eq!(heat.dirty_pages_last_sample(0), 0);
        // Each observation re-armed nothing; each arming at most one page.
        let rearmed = kvm.rearmed.lock().unwrap();
        let pages: Vec<u32> = rearmed
            .iter()
            .map(|mask| mask.iter().map(|w| w.count_ones()).sum())
            .collect();
        assert_eq!(pages.len(), 1 + 4 + 3);
        for (i, n) in pages.iter().enumerate() {
            assert!(*n <= 1, "{pages:?}");
            // Calls alternate arm (start), observe, arm, ...: observations are the odd ones.
            if i % 2 == 1 {
                assert_eq!(*n, 0, "{pages:?}");
            }
        }
    }
}
