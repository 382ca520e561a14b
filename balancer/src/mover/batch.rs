//! Moving a list of pages with move_pages(2): batches, per-page outcomes, bounded retries
//! with backoff for busy pages, the rate limit, and stopping on cancel or a full target.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::progress::MoveProgress;
use super::rate::RateLimit;
use super::status::{classify, errno_name, PageOutcome};
use super::StopReason;
use crate::chunk::{CHUNK_BYTES, PAGES_PER_CHUNK};
use crate::pages::PageMover;
use crate::placement::PAGE_SIZE;

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

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst) || self.progress.is_cancelled()
    }

    /// Moves `pages` (host addresses) to `target`. Returns why it stopped early, if it did.
    pub fn move_all(&self, pages: &[u64], target: u32) -> Option<StopReason> {
        let mut pending: Vec<u64> = pages.to_vec();
        for round in 0..=MAX_RETRIES {
            if pending.is_empty() {
                return None;
            }
            if round > 0 {
                std::thread::sleep(Duration::from_millis(1 << (round - 1)));
            }
            let mut again = Vec::new();
            let last_round = round == MAX_RETRIES;
            for batch in pending.chunks(self.batch_pages.max(1)) {
                if self.stopped() {
                    return Some(StopReason::Cancelled);
                }
                match self.move_batch(batch, target, last_round, &mut again) {
                    Ok(()) => self
                        .rate
                        .wait(self.progress.bytes_moved(), &|| self.stopped()),
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
        let mut status = vec![0i32; batch.len()];
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
        for (addr, s) in batch.iter().zip(status) {
            match classify(s, target) {
                PageOutcome::Moved => moved += 1,
                PageOutcome::NotPopulated => absent.push(*addr),
                PageOutcome::Retry(reason) if last_round => self.progress.add_failed(reason, 1),
                PageOutcome::Retry(_) => again.push(*addr),
                PageOutcome::TargetFull => full += 1,
                PageOutcome::Failed(reason) => self.progress.add_failed(reason, 1),
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

impl BatchMover<'_> {
    /// Moves one address per 2 MiB block, so that a huge page travels whole. After each call
    /// the last page of each block it addressed tells whether the block travelled whole (it
    /// can only have moved with the first page, as one huge page): those blocks go into
    /// `whole` and count as moved. Stops on cancel, a failed call or a full target.
    pub fn move_heads(
        &self,
        heads: &[u64],
        target: u32,
        whole: &mut HashSet<u64>,
    ) -> Option<StopReason> {
        for batch in heads.chunks(self.rate.huge_pages_per_call(self.batch_pages)) {
            if self.stopped() {
                return Some(StopReason::Cancelled);
            }
            let nodes = vec![target as i32; batch.len()];
            let mut status = vec![0i32; batch.len()];
            let stopped = match self.mover.move_pages(batch, Some(&nodes), &mut status) {
                Ok(_)
                    if status
                        .iter()
                        .any(|s| classify(*s, target) == PageOutcome::TargetFull) =>
                {
                    Some(StopReason::TargetFull(target))
                }
                Ok(_) => None,
                Err(err) if err.raw_os_error() == Some(libc::ENOMEM) => {
                    Some(StopReason::TargetFull(target))
                }
                Err(err) => Some(StopReason::Failed(format!("move_pages failed: {err}"))),
            };
            let tails: Vec<u64> = batch.iter().map(|h| h + CHUNK_BYTES - PAGE_SIZE).collect();
            let mut status = vec![0i32; tails.len()];
            if self.mover.move_pages(&tails, None, &mut status).is_ok() {
                let before = whole.len();
                whole.extend(
                    batch
                        .iter()
                        .zip(&status)
                        .filter(|(_, s)| **s >= 0 && **s as u32 == target)
                        .map(|(h, _)| *h),
                );
                self.progress
                    .add_moved((whole.len() - before) as u64 * PAGES_PER_CHUNK);
            }
            if stopped.is_some() {
                self.stop.store(true, Ordering::SeqCst);
                return stopped;
            }
            self.rate
                .wait(self.progress.bytes_moved(), &|| self.stopped());
        }
        None
    }
}
