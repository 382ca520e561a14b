//! The huge-page pass: one address per fully pending 2 MiB block, so that a transparent or
//! hugetlb huge page travels whole, and a query of each block's last page to learn whether
//! it did.

use std::collections::HashSet;

use super::batch::BatchMover;
use super::status::{classify, PageOutcome};
use super::StopReason;
use crate::chunk::{CHUNK_BYTES, PAGES_PER_CHUNK};
use crate::pages::{query_statuses, unset_statuses};
use crate::placement::PAGE_SIZE;

/// Huge pages addressed per call at most: 64 MiB, so that a call ends (and a cancel or a
/// shutdown is seen) within a fraction of a second even in an emulated lab.
pub const MAX_HEADS_PER_CALL: usize = 32;

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
        let per_call = self
            .rate
            .huge_pages_per_call(self.batch_pages.min(MAX_HEADS_PER_CALL));
        for batch in heads.chunks(per_call) {
            if self.stopped() {
                return Some(StopReason::Cancelled);
            }
            let nodes = vec![target as i32; batch.len()];
            let mut status = unset_statuses(batch.len());
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
            if let Ok(status) = query_statuses(self.mover, &tails) {
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
                return stopped;
            }
            self.rate.wait(self.progress);
        }
        None
    }
}
