//! The mover: moves ranges of Tern's own memory (guest RAM) to target host nodes while the
//! guest runs, with move_pages(2) in batches (optionally on several threads over disjoint
//! pages) or with mbind(2, MPOL_MF_MOVE | MPOL_MF_STRICT) range by range.
//!
//! A move first queries every page and keeps only populated pages not on their target, so
//! nothing moves twice. With `huge_first`, each fully pending 2 MiB block is first addressed
//! once (the kernel migrates a transparent or hugetlb huge page whole), then what is left is
//! moved page by page. Querying costs about as much as moving a huge page, so after the
//! first query only the pages whose fate is unknown are queried again. Per-page results: EBUSY/EAGAIN are retried with bounded backoff, ENOMEM
//! (target full) stops the move, ENOENT/EFAULT mean nothing to move, EACCES and other errors are
//! counted as failures by reason. Progress is live; a move can be cancelled and rate-limited.

pub mod batch;
pub mod progress;
pub mod rate;
pub mod status;

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;

use self::batch::BatchMover;
use self::progress::MoveProgress;
use self::rate::RateLimit;
use crate::chunk::CHUNK_BYTES;
use crate::mempolicy::{set_policy, MemPolicy, MPOL_MF_MOVE, MPOL_MF_STRICT};
use crate::page_nodes::PageNodes;
use crate::pages::{query_each, PageMover, QUERY_BATCH};
use crate::placement::PAGE_SIZE;

/// Default pages per move_pages call: the kernel migrates in batches of 512 as well.
pub const DEFAULT_BATCH_PAGES: usize = 512;
/// Default bytes per mbind call: large enough that the calls' fixed cost (draining the
/// per-CPU LRU caches of every CPU) is spread over many pages, small enough to cancel within
/// a fraction of a second. A rate limit makes calls smaller (a tenth of a second each).
pub const DEFAULT_MBIND_STEP: u64 = 64 << 20;

/// One range to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoveTask {
    /// Host address (page-aligned).
    pub addr: u64,
    /// Length in bytes (whole pages).
    pub len: u64,
    /// Target host node.
    pub target: u32,
}

/// How pages move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// move_pages(2) in batches of `batch_pages`, over `workers` threads.
    MovePages {
        /// Pages per call.
        batch_pages: usize,
        /// Threads.
        workers: usize,
    },
    /// mbind(2) with MPOL_MF_MOVE | MPOL_MF_STRICT, `step` bytes at a time.
    Mbind {
        /// Bytes per call.
        step: u64,
    },
}

/// A move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveSpec {
    /// The ranges, in order.
    pub tasks: Vec<MoveTask>,
    /// How.
    pub method: Method,
    /// Address each 2 MiB block once first (for THP or hugetlb backed memory).
    pub huge_first: bool,
    /// Bytes per second at most.
    pub rate_limit: Option<u64>,
    /// Where the pages were at the plan's query: a task a snapshot covers takes its pending
    /// pages from it instead of querying again.
    pub known: Vec<PageNodes>,
}

/// Why a move stopped before the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Cancelled.
    Cancelled,
    /// The target node had no room (ENOMEM).
    TargetFull(u32),
    /// A call failed as a whole.
    Failed(String),
}

/// How a move ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveOutcome {
    /// Why it stopped early; `None` if it went through every page.
    pub stopped: Option<StopReason>,
    /// Populated pages not on their target afterwards, per the final query.
    pub left_behind: u64,
}

/// Populated pages of `task` not on its target, by a query in batches.
fn pending_pages(mover: &dyn PageMover, task: &MoveTask) -> Result<Vec<u64>, StopReason> {
    let mut pending = Vec::new();
    query_each(mover, task.addr, task.len / PAGE_SIZE, |_, addr, status| {
        if status >= 0 && status as u32 != task.target {
            pending.push(addr);
        }
    })
    .map_err(|e| StopReason::Failed(format!("cannot query page placement: {e}")))?;
    Ok(pending)
}

/// Addresses of the 2 MiB blocks all of whose pages are pending.
fn full_blocks(pending: &[u64]) -> Vec<u64> {
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

/// The status of each of `addrs` (move_pages in query mode, in batches).
fn query_addrs(mover: &dyn PageMover, addrs: &[u64]) -> std::io::Result<Vec<i32>> {
    let mut statuses = Vec::with_capacity(addrs.len());
    for batch in addrs.chunks(QUERY_BATCH) {
        let mut status = vec![0i32; batch.len()];
        mover.move_pages(batch, None, &mut status)?;
        statuses.extend(status);
    }
    Ok(statuses)
}

/// How one task ended.
struct TaskEnd {
    stopped: Option<StopReason>,
    /// Populated pages of the task not on its target afterwards.
    left_behind: u64,
}

/// Moves a task's `pending` pages. Only the pages whose fate is unknown are queried
/// afterwards: one page per 2 MiB block moved by its head (its last page tells whether the
/// block travelled whole), and the pages reported absent while they moved (those that
/// travelled with a transparent huge page count as moved; those that vanished leave the
/// total). After an early stop, every page not yet on the target is counted.
fn move_task_pages(
    batch: &BatchMover<'_>,
    task: &MoveTask,
    pending: Vec<u64>,
    huge_first: bool,
    workers: usize,
) -> TaskEnd {
    let mut rest = pending;
    if huge_first {
        let (whole, stopped) = move_whole_blocks(batch, task, &rest);
        rest.retain(|a| !whole.contains(&(a & !(CHUNK_BYTES - 1))));
        if stopped.is_some() {
            // Some of what is left may have moved (a first page moved alone): count it.
            let fates = Fates::of(batch.mover, task, &rest);
            batch.progress.add_moved(fates.arrived);
            batch.progress.drop_from_total(fates.vanished);
            return TaskEnd {
                stopped,
                left_behind: fates.left(),
            };
        }
    }
    let (moved_before, failed_before) =
        (batch.progress.pages_moved(), batch.progress.pages_failed());
    let stopped = move_pending(batch, task, &rest, workers);
    let unsure = batch.take_unsure();
    let progress = batch.progress;
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

/// Where some pages of a task are after it ran, by a query.
struct Fates {
    /// Pages asked about.
    asked: u64,
    /// On the task's target.
    arrived: u64,
    /// Not mapped or not populated any more.
    vanished: u64,
}

impl Fates {
    /// Queries `pages` (if the query fails, every page counts as left).
    fn of(mover: &dyn PageMover, task: &MoveTask, pages: &[u64]) -> Self {
        let asked = pages.len() as u64;
        let Ok(statuses) = query_addrs(mover, pages) else {
            return Self {
                asked,
                arrived: 0,
                vanished: 0,
            };
        };
        let count = |f: &dyn Fn(i32) -> bool| statuses.iter().filter(|s| f(**s)).count() as u64;
        Self {
            asked,
            arrived: count(&|s| s >= 0 && s as u32 == task.target),
            vanished: count(&|s| s == -libc::ENOENT || s == -libc::EFAULT),
        }
    }

    /// Pages not on the target that are still there.
    fn left(&self) -> u64 {
        self.asked - self.arrived - self.vanished
    }
}

/// Pages among `pages` still there but not on the task's target (all of them if the query
/// fails).
fn count_left(mover: &dyn PageMover, task: &MoveTask, pages: &[u64]) -> u64 {
    Fates::of(mover, task, pages).left()
}

/// Addresses every fully pending 2 MiB block once, through its first page; returns the
/// blocks that travelled whole (counted as moved), and why it stopped early, if it did.
fn move_whole_blocks(
    batch: &BatchMover<'_>,
    task: &MoveTask,
    pending: &[u64],
) -> (HashSet<u64>, Option<StopReason>) {
    let mut whole = HashSet::new();
    let heads = full_blocks(pending);
    if heads.is_empty() {
        return (whole, None);
    }
    let stopped = batch.move_heads(&heads, task.target, &mut whole);
    (whole, stopped)
}

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
                let batch = &batch;
                scope.spawn(move || batch.move_all(slice, task.target))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .next()
    })
}

fn move_task_mbind(
    mover: &dyn PageMover,
    task: &MoveTask,
    pending: &[u64],
    step: u64,
    progress: &MoveProgress,
    rate: RateLimit,
) -> TaskEnd {
    // `pending` is in address order: the pages of a range are a slice of it.
    let from = |addr: u64| pending.partition_point(|a| *a < addr);
    let step = rate
        .bytes_per_call(step)
        .max(PAGE_SIZE)
        .next_multiple_of(PAGE_SIZE);
    let mut left_behind = 0;
    let mut offset = 0;
    while offset < task.len {
        let addr = task.addr + offset;
        if progress.is_cancelled() {
            return TaskEnd {
                stopped: Some(StopReason::Cancelled),
                left_behind: left_behind + (pending.len() - from(addr)) as u64,
            };
        }
        let len = step.min(task.len - offset);
        offset += len;
        let here = &pending[from(addr)..from(addr + len)];
        if here.is_empty() {
            continue;
        }
        match set_policy(
            addr,
            len,
            &MemPolicy::Bind(task.target),
            MPOL_MF_MOVE | MPOL_MF_STRICT,
        ) {
            // With MPOL_MF_STRICT, success means every page of the range is on the target.
            Ok(()) => progress.add_moved(here.len() as u64),
            Err(err) => {
                let errno = err.raw_os_error().unwrap_or(0);
                let left = count_left(mover, task, here);
                progress.add_moved(here.len() as u64 - left);
                progress.add_failed(status::errno_name(errno), left);
                left_behind += left;
                let after = (pending.len() - from(addr + len)) as u64;
                if errno == libc::ENOMEM {
                    return TaskEnd {
                        stopped: Some(StopReason::TargetFull(task.target)),
                        left_behind: left_behind + after,
                    };
                }
                if errno != libc::EIO {
                    return TaskEnd {
                        stopped: Some(StopReason::Failed(format!("mbind failed: {err}"))),
                        left_behind: left_behind + after,
                    };
                }
            }
        }
        rate.wait(progress.bytes_moved(), &|| progress.is_cancelled());
    }
    TaskEnd {
        stopped: None,
        left_behind,
    }
}

/// Runs `spec`, reporting into `progress`. Every page is queried once, up front (or taken
/// from the plan's snapshot); afterwards only what may need counting is.
pub fn run_move(mover: &dyn PageMover, spec: &MoveSpec, progress: &MoveProgress) -> MoveOutcome {
    let pending = match spec
        .tasks
        .iter()
        .map(
            |t| match spec.known.iter().find(|k| k.covers(t.addr, t.len)) {
                Some(known) => Ok(known.pending(t.addr, t.len, t.target)),
                None => pending_pages(mover, t),
            },
        )
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(p) => p,
        Err(reason) => {
            return MoveOutcome {
                stopped: Some(reason),
                left_behind: 0,
            }
        }
    };
    progress.set_total(pending.iter().map(|p| p.len() as u64).sum());
    let stop = AtomicBool::new(false);
    let rate = RateLimit::new(spec.rate_limit);
    let mut stopped = None;
    let mut left_behind = 0;
    let mut tasks = spec.tasks.iter().zip(pending);
    for (task, pending) in tasks.by_ref() {
        let end = match spec.method {
            Method::MovePages {
                batch_pages,
                workers,
            } => {
                let batch = BatchMover {
                    mover,
                    batch_pages,
                    progress,
                    rate,
                    stop: &stop,
                    unsure: Default::default(),
                };
                move_task_pages(&batch, task, pending, spec.huge_first, workers)
            }
            Method::Mbind { step } => move_task_mbind(mover, task, &pending, step, progress, rate),
        };
        left_behind += end.left_behind;
        if end.stopped.is_some() {
            stopped = end.stopped;
            break;
        }
    }
    // Tasks never started keep all their pending pages.
    left_behind += tasks.map(|(_, p)| p.len() as u64).sum::<u64>();
    if matches!(stopped, Some(StopReason::TargetFull(_))) {
        // Every page left behind for want of room, beyond pages that failed for other reasons.
        progress.add_failed(
            "ENOMEM",
            left_behind.saturating_sub(progress.pages_failed()),
        );
    }
    MoveOutcome {
        stopped,
        left_behind,
    }
}

#[cfg(test)]
mod tests;
