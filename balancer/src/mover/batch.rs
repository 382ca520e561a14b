//! Moving a list of pages with move_pages(2): batches, per-page outcomes, bounded retries
//! with backoff for busy pages and for pages the kernel gave up on, the rate limit, and
//! stopping on cancel or a full target.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::progress::MoveProgress;
use super::rate::RateLimit;
use super::status::{classify, errno_name, PageOutcome, NOT_MIGRATED};
use super::StopReason;
use crate::pages::{query_statuses, unset_statuses, PageMover};

/// Retry rounds for busy pages, with backoff 1, 2, 4, 8, 16 ms before each.
pub const MAX_RETRIES: u32 = 5;

/// What a list of pages is moved with and under.
pub struct BatchMover<'a> {
    /// The system call.
    pub mover: &'a dyn PageMover,
    /// Pages per call.
    pub batch_pages: usize,
    /// Counters.
    pub progress: &'a MoveProgress,
    /// The rate limit.
    pub rate: RateLimit,
    /// Set when any worker must stop every worker (full target, failed call).
    pub stop: &'a AtomicBool,
    /// Pages reported absent (-ENOENT, -EFAULT) when asked to move: not populated, or moving
    /// with their huge page at that moment.
    pub unsure: Mutex<Vec<u64>>,
}

impl std::fmt::Debug for BatchMover<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchMover")
            .field("batch_pages", &self.batch_pages)
            .finish_non_exhaustive()
    }
}

impl BatchMover<'_> {
    /// The pages reported absent so far, leaving none.
    pub fn take_unsure(&self) -> Vec<u64> {
        self.unsure
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }

    pub(super) fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.progress.is_cancelled()
    }

    /// Moves `pages` (host addresses) to `target`. Returns why it stopped early, if it did.
    pub fn move_all(&self, pages: &[u64], target: u32) -> Option<StopReason> {
        let mut pending: Vec<u64> = pages.to_vec();
        for round in 0..=MAX_RETRIES {
            if pending.is_empty() {
                return None;
            }
            if round > 0 && self.progress.sleep(Duration::from_millis(1 << (round - 1))) {
                return Some(StopReason::Cancelled);
            }
            let mut again = Vec::new();
            let last_round = round == MAX_RETRIES;
            for batch in pending.chunks(self.batch_pages.max(1)) {
                if self.stopped() {
                    return Some(StopReason::Cancelled);
                }
                match self.move_batch(batch, target, last_round, &mut again) {
                    Ok(()) => self.rate.wait(self.progress),
                    Err(reason) => {
                        self.stop.store(true, Ordering::SeqCst);
                        return Some(reason);
                    }
                }
            }
            pending = again;
        }
        None
    }

    fn move_batch(
        &self,
        batch: &[u64],
        target: u32,
        last_round: bool,
        again: &mut Vec<u64>,
    ) -> Result<(), StopReason> {
        let nodes = vec![target as i32; batch.len()];
        let mut status = unset_statuses(batch.len());
        if let Err(err) = self.mover.move_pages(batch, Some(&nodes), &mut status) {
            let errno = err.raw_os_error().unwrap_or(0);
            return Err(match errno {
                libc::ENOMEM => StopReason::TargetFull(target),
                libc::ENODEV => {
                    StopReason::Failed(format!("host node {target} has no memory to move pages to"))
                }
                _ => {
                    StopReason::Failed(format!("move_pages failed: {err} ({})", errno_name(errno)))
                }
            });
        }
        let mut moved = 0;
        let mut full = 0;
        let mut absent = Vec::new();
        let mut unreached = Vec::new();
        for (addr, s) in batch.iter().zip(status) {
            match classify(s, target) {
                PageOutcome::Moved => moved += 1,
                PageOutcome::NotPopulated => absent.push(*addr),
                PageOutcome::Retry(reason) if last_round => self.progress.add_failed(reason, 1),
                PageOutcome::Retry(_) => again.push(*addr),
                PageOutcome::TargetFull => full += 1,
                PageOutcome::Failed(reason) => self.progress.add_failed(reason, 1),
                PageOutcome::Unreached => unreached.push(*addr),
            }
        }
        if !unreached.is_empty() {
            // The kernel gave up part-way and did not say what became of these pages: ask.
            let statuses = query_statuses(self.mover, &unreached).ok();
            for (i, addr) in unreached.iter().enumerate() {
                match statuses.as_ref().map(|s| s[i]) {
                    Some(s) if s >= 0 && s as u32 == target => moved += 1,
                    Some(s) if s < 0 => absent.push(*addr),
                    _ if last_round => self.progress.add_failed(NOT_MIGRATED, 1),
                    _ => again.push(*addr),
                }
            }
        }
        self.progress.add_moved(moved);
        if !absent.is_empty() {
            if let Ok(mut unsure) = self.unsure.lock() {
                unsure.extend(absent);
            }
        }
        if full > 0 {
            // Counted with everything else left behind when the task ends.
            return Err(StopReason::TargetFull(target));
        }
        Ok(())
    }
}
