//! One task moved with move_pages(2): the huge-page pass over fully pending 2 MiB blocks,
//! then page by page (on one thread or several over disjoint pages), then a query of only
//! the pages whose fate is unknown.

use std::collections::HashSet;

use super::batch::BatchMover;
use super::fates::Fates;
use super::{MoveTask, StopReason};
use crate::chunk::CHUNK_BYTES;
use crate::placement::PAGE_SIZE;

/// How one task ended.
pub struct TaskEnd {
    /// Why it stopped early, if it did.
    pub stopped: Option<StopReason>,
    /// Populated pages of the task not on its target afterwards.
    pub left_behind: u64,
}

/// Addresses of the 2 MiB blocks all of whose pages are pending.
pub fn full_blocks(pending: &[u64]) -> Vec<u64> {
    let per_block = (CHUNK_BYTES / PAGE_SIZE) as usize;
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < pending.len() {
        let block = pending[i] & !(CHUNK_BYTES - 1);
        let run = pending[i..]
            .iter()
            .take_while(|a| **a & !(CHUNK_BYTES - 1) == block)
            .count();
        if run == per_block {
            blocks.push(block);
        }
        i += run;
    }
    blocks
}

/// Moves a task's `pending` pages (in address order). Only the pages whose fate is unknown
/// are queried afterwards: one page per 2 MiB block moved by its head (its last page tells
/// whether the block travelled whole), and the pages reported absent while they moved (those
/// that travelled with a transparent huge page count as moved; those that vanished leave the
/// total). After an early stop, every page not yet on the target is counted.
pub fn move_task_pages(
    batch: &BatchMover<'_>,
    task: &MoveTask,
    pending: Vec<u64>,
    huge_first: bool,
    workers: usize,
) -> TaskEnd {
    let mut rest = pending;
    let progress = batch.progress;
    if huge_first {
        let heads = full_blocks(&rest);
        let mut whole = HashSet::new();
        let stopped = if heads.is_empty() {
            None
        } else {
            batch.move_heads(&heads, task.target, &mut whole)
        };
        rest.retain(|a| !whole.contains(&(a & !(CHUNK_BYTES - 1))));
        // A node without a free 2 MiB block may still take base pages: after ENOMEM on huge
        // pages the rest goes page by page, which stops for good if the node is really full.
        let stopped = stopped.filter(|s| !matches!(s, StopReason::TargetFull(_)));
        if stopped.is_some() {
            // Some of what is left may have moved (a first page moved alone): count it.
            let fates = Fates::of(batch.mover, task, &rest);
            progress.add_moved(fates.arrived);
            progress.drop_from_total(fates.vanished);
            return TaskEnd {
                stopped,
                left_behind: fates.left(),
            };
        }
    }
    let (moved_before, failed_before) = (progress.pages_moved(), progress.pages_failed());
    let stopped = move_pending(batch, task, &rest, workers);
    let unsure = batch.take_unsure();
    if stopped.is_some() {
        // Some pages were never addressed: ask about all of them.
        let fates = Fates::of(batch.mover, task, &rest);
        let counted = progress.pages_moved() - moved_before;
        progress.add_moved(fates.arrived.saturating_sub(counted));
        progress.drop_from_total(fates.vanished);
        return TaskEnd {
            stopped,
            left_behind: fates.left(),
        };
    }
    // Only the pages reported absent are in doubt (they may have travelled with a huge page).
    let fates = Fates::of(batch.mover, task, &unsure);
    progress.add_moved(fates.arrived);
    progress.drop_from_total(fates.vanished);
    TaskEnd {
        stopped,
        left_behind: progress.pages_failed() - failed_before + fates.left(),
    }
}

/// Moves `rest` page by page, on `workers` threads (`mover`) over disjoint slices when it is
/// large enough (a slice whose thread cannot start is moved here); returns the first early
/// stop any of them met.
fn move_pending(
    batch: &BatchMover<'_>,
    task: &MoveTask,
    rest: &[u64],
    workers: usize,
) -> Option<StopReason> {
    let workers = workers.clamp(1, 64);
    if workers == 1 || rest.len() < workers * batch.batch_pages {
        return batch.move_all(rest, task.target);
    }
    let part = rest.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rest
            .chunks(part)
            .map(|slice| {
                std::thread::Builder::new()
                    .name("mover".into())
                    .spawn_scoped(scope, move || {
                        sandbox::enter(sandbox::ThreadKind::Mover);
                        batch.move_all(slice, task.target)
                    })
                    .map_err(|_| slice)
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h {
                Ok(handle) => handle.join().ok().flatten(),
                Err(slice) => batch.move_all(slice, task.target),
            })
            .next()
    })
}
