//! A move's progress, shared between the threads that move and whoever reports it: atomic
//! counters, failures by reason, and the cancel flag.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::placement::PAGE_SIZE;

/// Counters of one move.
#[derive(Debug)]
pub struct MoveProgress {
    started: Instant,
    pages_total: AtomicU64,
    pages_moved: AtomicU64,
    pages_failed: AtomicU64,
    bytes_moved: AtomicU64,
    failed_by_reason: Mutex<BTreeMap<String, u64>>,
    cancel: AtomicBool,
    /// The cancel flag again, for threads that sleep until a cancel or a deadline.
    cancel_wait: Mutex<bool>,
    cancelled: Condvar,
}

/// A consistent-enough copy of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgressSnapshot {
    /// Populated pages the move has to move.
    pub pages_total: u64,
    /// Pages moved.
    pub pages_moved: u64,
    /// Pages that could not be moved.
    pub pages_failed: u64,
    /// Failed pages by reason (errno name).
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Bytes moved.
    pub bytes_moved: u64,
    /// Time since the move started.
    pub elapsed: Duration,
}

impl Default for MoveProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl MoveProgress {
    /// Counters at zero, the clock started now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            pages_total: AtomicU64::new(0),
            pages_moved: AtomicU64::new(0),
            pages_failed: AtomicU64::new(0),
            bytes_moved: AtomicU64::new(0),
            failed_by_reason: Mutex::new(BTreeMap::new()),
            cancel: AtomicBool::new(false),
            cancel_wait: Mutex::new(false),
            cancelled: Condvar::new(),
        }
    }

    /// Sets the number of pages to move.
    pub fn set_total(&self, pages: u64) {
        self.pages_total.store(pages, Ordering::Relaxed);
    }

    /// Adds `pages` to the total (pages found to need a move after it began).
    pub fn add_to_total(&self, pages: u64) {
        self.pages_total.fetch_add(pages, Ordering::Relaxed);
    }

    /// Takes `pages` out of the total (pages that turned out to need no move).
    pub fn drop_from_total(&self, pages: u64) {
        let _ = self
            .pages_total
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(pages))
            });
    }

    /// Counts pages moved.
    pub fn add_moved(&self, pages: u64) {
        self.pages_moved.fetch_add(pages, Ordering::Relaxed);
        self.bytes_moved
            .fetch_add(pages * PAGE_SIZE, Ordering::Relaxed);
    }

    /// Counts pages that failed for `reason`.
    pub fn add_failed(&self, reason: &str, pages: u64) {
        if pages == 0 {
            return;
        }
        self.pages_failed.fetch_add(pages, Ordering::Relaxed);
        if let Ok(mut map) = self.failed_by_reason.lock() {
            *map.entry(reason.to_string()).or_default() += pages;
        }
    }

    /// Pages moved so far.
    pub fn pages_moved(&self) -> u64 {
        self.pages_moved.load(Ordering::Relaxed)
    }

    /// Pages that failed so far.
    pub fn pages_failed(&self) -> u64 {
        self.pages_failed.load(Ordering::Relaxed)
    }

    /// Bytes moved so far.
    pub fn bytes_moved(&self) -> u64 {
        self.bytes_moved.load(Ordering::Relaxed)
    }

    /// Asks the move to stop at its next batch, and wakes whoever sleeps in
    /// [`sleep`](Self::sleep).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
        if let Ok(mut flag) = self.cancel_wait.lock() {
            *flag = true;
        }
        self.cancelled.notify_all();
    }

    /// Sleeps for `duration` unless the move is cancelled first (or meanwhile); returns
    /// whether it was.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let Ok(mut flag) = self.cancel_wait.lock() else {
            return self.is_cancelled();
        };
        while !*flag {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            flag = match self.cancelled.wait_timeout(flag, left) {
                Ok((guard, _)) => guard,
                Err(_) => return self.is_cancelled(),
            };
        }
        true
    }

    /// Whether a stop was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Time since the move started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The counters now.
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            pages_total: self.pages_total.load(Ordering::Relaxed),
            pages_moved: self.pages_moved.load(Ordering::Relaxed),
            pages_failed: self.pages_failed.load(Ordering::Relaxed),
            failed_by_reason: self
                .failed_by_reason
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default(),
            bytes_moved: self.bytes_moved(),
            elapsed: self.elapsed(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pages_bytes_and_reasons() {
        let p = MoveProgress::new();
        p.set_total(10);
        p.add_moved(3);
        p.add_failed("EBUSY", 2);
        p.add_failed("EBUSY", 1);
        p.add_failed("ENOMEM", 0);
        p.drop_from_total(1);
        let s = p.snapshot();
        assert_eq!(
            (s.pages_total, s.pages_moved, s.pages_failed, s.bytes_moved),
            (9, 3, 3, 3 * 4096)
        );
        assert_eq!(
            s.failed_by_reason,
            BTreeMap::from([("EBUSY".to_string(), 3)])
        );
        assert!(!p.is_cancelled());
        assert!(!p.sleep(Duration::from_millis(1)));
        p.cancel();
        assert!(p.is_cancelled());
        assert!(
            p.sleep(Duration::from_secs(60)),
            "a cancelled move never sleeps"
        );
    }

    #[test]
    fn a_cancel_wakes_a_sleeper_at_once() {
        let p = std::sync::Arc::new(MoveProgress::new());
        let sleeper = {
            let p = p.clone();
            std::thread::spawn(move || p.sleep(Duration::from_secs(600)))
        };
        p.cancel();
        assert!(sleeper.join().unwrap());
    }
}
