//! The mover's rate limit: after each batch, sleep until the bytes moved so far are within
//! the budget the elapsed time allows.

use std::time::{Duration, Instant};

use super::progress::MoveProgress;
use crate::chunk::CHUNK_BYTES;

/// A byte-rate limit measured from a start time.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    bytes_per_s: Option<u64>,
    start: Instant,
}

impl RateLimit {
    /// A limit of `bytes_per_s` (none when `None` or 0), starting now.
    pub fn new(bytes_per_s: Option<u64>) -> Self {
        Self {
            bytes_per_s: bytes_per_s.filter(|r| *r > 0),
            start: Instant::now(),
        }
    }

    /// How long to wait before more may move, with `moved` bytes moved so far.
    pub fn delay(&self, moved: u64, now: Instant) -> Duration {
        let Some(rate) = self.bytes_per_s else {
            return Duration::ZERO;
        };
        let due = Duration::from_secs_f64(moved as f64 / rate as f64);
        due.saturating_sub(now.saturating_duration_since(self.start))
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
        match self.bytes_per_s {
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
        let start = limit.start;
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
