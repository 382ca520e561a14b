//! The mover's rate limit: after each batch, sleep until the bytes moved so far are within
//! the budget the elapsed time allows. The rate can change while a move runs (guest pacing):
//! the budget then counts from the change, at the new rate, without credit for time the
//! mover spent below the old one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::progress::MoveProgress;
use crate::chunk::CHUNK_BYTES;

/// The budget: `bytes` moved by `at`, then `bytes_per_s` more each second.
#[derive(Clone, Copy, Debug)]
struct Budget {
    bytes_per_s: u64,
    at: Instant,
    bytes: u64,
}

impl Budget {
    /// When `moved` bytes are due.
    fn due(&self, moved: u64) -> Instant {
        let ahead = moved.saturating_sub(self.bytes);
        self.at + Duration::from_secs_f64(ahead as f64 / self.bytes_per_s as f64)
    }
}

/// A byte-rate limit, shared by the threads of one move and whoever paces it.
#[derive(Clone, Debug)]
pub struct RateLimit {
    budget: Option<Arc<Mutex<Budget>>>,
}

impl RateLimit {
    /// A limit of `bytes_per_s` (none when `None` or 0), starting now.
    pub fn new(bytes_per_s: Option<u64>) -> Self {
        Self {
            budget: bytes_per_s.filter(|r| *r > 0).map(|bytes_per_s| {
                Arc::new(Mutex::new(Budget {
                    bytes_per_s,
                    at: Instant::now(),
                    bytes: 0,
                }))
            }),
        }
    }

    fn budget(&self) -> Option<Budget> {
        self.budget.as_ref().and_then(|b| b.lock().ok().map(|b| *b))
    }

    /// The rate now, in bytes per second (`None`: no limit).
    pub fn bytes_per_s(&self) -> Option<u64> {
        self.budget().map(|b| b.bytes_per_s)
    }

    /// Changes the rate to `bytes_per_s` (at least 1) from `now`, with `moved` bytes moved
    /// so far: what is already due at the old rate stays due then. A limit made without a
    /// rate stays without one.
    pub fn set_rate(&self, bytes_per_s: u64, moved: u64, now: Instant) {
        let Some(budget) = &self.budget else {
            return;
        };
        if let Ok(mut b) = budget.lock() {
            let due = b.due(moved).max(now);
            *b = Budget {
                bytes_per_s: bytes_per_s.max(1),
                at: due,
                bytes: moved,
            };
        }
    }

    /// How long to wait before more may move, with `moved` bytes moved so far.
    pub fn delay(&self, moved: u64, now: Instant) -> Duration {
        self.budget().map_or(Duration::ZERO, |b| {
            b.due(moved).saturating_duration_since(now)
        })
    }

    /// Sleeps as long as [`delay`](Self::delay) says for the bytes `progress` has moved,
    /// waking at once if the move is cancelled.
    pub fn wait(&self, progress: &MoveProgress) {
        let delay = self.delay(progress.bytes_moved(), Instant::now());
        if !delay.is_zero() {
            progress.sleep(delay);
        }
    }

    /// How many bytes one call may cover, at most `most`: a tenth of a second of the budget
    /// (whole 2 MiB blocks, at least one), or all of `most` when there is no limit.
    pub fn bytes_per_call(&self, most: u64) -> u64 {
        match self.bytes_per_s() {
            Some(rate) => {
                ((rate / 10) / CHUNK_BYTES * CHUNK_BYTES).clamp(CHUNK_BYTES, most.max(CHUNK_BYTES))
            }
            None => most,
        }
    }

    /// How many 2 MiB huge pages one call may address so that a call stays within a tenth
    /// of a second of the budget (all of `most` when there is no limit).
    pub fn huge_pages_per_call(&self, most: usize) -> usize {
        let most = most.max(1) as u64;
        (self.bytes_per_call(most * CHUNK_BYTES) / CHUNK_BYTES) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_only_when_ahead_of_the_rate() {
        let limit = RateLimit::new(Some(100 << 20));
        let start = limit.budget().unwrap().at;
        assert_eq!(
            limit.delay(50 << 20, start + Duration::from_secs(1)),
            Duration::ZERO
        );
        let d = limit.delay(200 << 20, start + Duration::from_millis(500));
        assert!((d.as_secs_f64() - 1.5).abs() < 1e-6, "{d:?}");
        assert_eq!(RateLimit::new(None).delay(u64::MAX, start), Duration::ZERO);
        assert_eq!(
            RateLimit::new(Some(0)).delay(u64::MAX, start),
            Duration::ZERO
        );
    }

    #[test]
    fn a_new_rate_counts_from_the_change_without_credit() {
        let limit = RateLimit::new(Some(100 << 20));
        let start = limit.budget().unwrap().at;
        // 2 s in, only 50 MiB moved: at 10 MiB/s from now, 10 MiB more are due in 1 s.
        let now = start + Duration::from_secs(2);
        limit.set_rate(10 << 20, 50 << 20, now);
        assert_eq!(limit.bytes_per_s(), Some(10 << 20));
        let d = limit.delay(60 << 20, now);
        assert!((d.as_secs_f64() - 1.0).abs() < 1e-6, "{d:?}");
        // 200 MiB moved by 1 s (ahead of 100 MiB/s): still due at 2 s, then the new rate.
        let limit = RateLimit::new(Some(100 << 20));
        let start = limit.budget().unwrap().at;
        limit.set_rate(200 << 20, 200 << 20, start + Duration::from_secs(1));
        let d = limit.delay(400 << 20, start + Duration::from_secs(1));
        assert!((d.as_secs_f64() - 2.0).abs() < 1e-6, "{d:?}");
        let none = RateLimit::new(None);
        none.set_rate(1, 0, start);
        assert_eq!(none.bytes_per_s(), None);
    }

    #[test]
    fn waiting_stops_on_cancel_and_huge_batches_fit_the_rate() {
        let limit = RateLimit::new(Some(1 << 20));
        let progress = MoveProgress::new();
        progress.add_moved(25_600);
        progress.cancel();
        let t = Instant::now();
        limit.wait(&progress);
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "100 MiB ahead, but cancelled"
        );
        assert_eq!(limit.huge_pages_per_call(512), 1);
        assert_eq!(RateLimit::new(Some(200 << 20)).huge_pages_per_call(512), 10);
        assert_eq!(RateLimit::new(None).huge_pages_per_call(512), 512);
    }

    #[test]
    fn bytes_per_call_follow_the_budget() {
        let most = 64 << 20;
        assert_eq!(RateLimit::new(None).bytes_per_call(most), most);
        assert_eq!(
            RateLimit::new(Some(100 << 20)).bytes_per_call(most),
            10 << 20
        );
        assert_eq!(RateLimit::new(Some(1 << 20)).bytes_per_call(most), 2 << 20);
        assert_eq!(RateLimit::new(Some(10 << 30)).bytes_per_call(most), most);
    }
}
