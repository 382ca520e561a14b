//! The mover: moves ranges of Tern's own memory (guest RAM) to target host nodes while the
//! guest runs, with move_pages(2) in batches (optionally on several threads over disjoint
//! pages) or with mbind(2, MPOL_MF_MOVE | MPOL_MF_STRICT) range by range.
//!
//! Every page is accounted for by what the kernel reported about it: a page counts as moved
//! only when a move or a query said it is on its target. A move starts from where each page
//! was (the plan's query, or a query of its own), and before moving it looks for pages the
//! guest faulted in since (they may sit on the old node). With `huge_first`, each fully
//! pending 2 MiB block is first addressed once (the kernel migrates a transparent or hugetlb
//! huge page whole), then what is left is moved page by page. After the move it looks again
//! for pages faulted in meanwhile that landed off the target, and moves those, a bounded
//! number of rounds. Per-page results: EBUSY/EAGAIN are retried with bounded backoff, ENOMEM
//! (target full) stops the move, ENOENT/EFAULT mean nothing to move, EACCES and other errors
//! are counted as failures by reason, and a page whose status the kernel left unwritten (it
//! gave up part-way) is asked about and moved again. Progress is live; a move can be
//! cancelled and rate-limited.

pub mod batch;
mod discover;
mod fates;
mod heads;
mod mbind;
pub mod pace;
pub mod progress;
pub mod rate;
pub mod status;
mod task;

use std::io;
use std::sync::atomic::AtomicBool;

use self::batch::BatchMover;
use self::discover::discover;
use self::progress::MoveProgress;
use self::rate::RateLimit;
use self::status::FAULTED_OFF_TARGET;
use crate::page_nodes::PageNodes;
use crate::pages::{query_each, PageMover};
use crate::placement::PAGE_SIZE;

pub use self::mbind::RangeMover;

/// Default pages per move_pages call: the kernel migrates in batches of 512 as well.
pub const DEFAULT_BATCH_PAGES: usize = 512;
/// Default bytes per mbind call: large enough that the calls' fixed cost (draining the
/// per-CPU LRU caches of every CPU) is spread over many pages, small enough to cancel within
/// a fraction of a second. A rate limit makes calls smaller (a tenth of a second each).
pub const DEFAULT_MBIND_STEP: u64 = 64 << 20;
/// Rounds of looking for pages faulted in off the target during the move, after the move.
pub const DISCOVERY_ROUNDS: u32 = 2;

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

/// The system calls a move makes.
#[derive(Clone, Copy)]
pub struct MoveIo<'a> {
    /// move_pages(2) and mincore(2).
    pub pages: &'a dyn PageMover,
    /// mbind(2) with MPOL_MF_MOVE, for [`Method::Mbind`].
    pub ranges: &'a dyn RangeMover,
}

impl std::fmt::Debug for MoveIo<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoveIo").finish_non_exhaustive()
    }
}

/// Where every page of a task's range was, by a query of its own, or `Err` with why not.
fn snapshot_of(
    mover: &dyn PageMover,
    task: &MoveTask,
    progress: &MoveProgress,
) -> Result<PageNodes, StopReason> {
    let pages = task.len / PAGE_SIZE;
    let mut snapshot = PageNodes::with_capacity(task.addr, pages);
    let mut holdable = true;
    query_each(
        mover,
        task.addr,
        pages,
        &|| progress.is_cancelled(),
        |_, _, status| holdable &= snapshot.record(status),
    )
    .map_err(|e| match e.kind() {
        io::ErrorKind::Interrupted => StopReason::Cancelled,
        _ => StopReason::Failed(format!("cannot query page placement: {e}")),
    })?;
    if !holdable {
        return Err(StopReason::Failed(
            "a page sits on a host node numbered above 253, which the mover cannot track".into(),
        ));
    }
    Ok(snapshot)
}

/// The snapshots a move works from: the plan's where they cover a task, a fresh query for
/// each task they do not. Returns them with, per task, the index of its snapshot.
fn snapshots(
    mover: &dyn PageMover,
    spec: &MoveSpec,
    progress: &MoveProgress,
) -> Result<(Vec<PageNodes>, Vec<usize>), StopReason> {
    let mut snapshots = spec.known.clone();
    let mut of_task = Vec::with_capacity(spec.tasks.len());
    for task in &spec.tasks {
        match snapshots.iter().position(|k| k.covers(task.addr, task.len)) {
            Some(i) => of_task.push(i),
            None => {
                snapshots.push(snapshot_of(mover, task, progress)?);
                of_task.push(snapshots.len() - 1);
            }
        }
    }
    Ok((snapshots, of_task))
}

/// How one pass over the tasks ended.
struct PassEnd {
    stopped: Option<StopReason>,
    left_behind: u64,
}

/// Moves each task's `pending` pages, in order, until one stops early.
fn move_pass(
    io: MoveIo<'_>,
    spec: &MoveSpec,
    pending: Vec<Vec<u64>>,
    progress: &MoveProgress,
    rate: &RateLimit,
) -> PassEnd {
    let mut left_behind = 0;
    let mut tasks = spec.tasks.iter().zip(pending);
    for (task, pending) in tasks.by_ref() {
        if pending.is_empty() {
            continue;
        }
        // One stop flag per task: a full target stops this task's workers, not the next task.
        let stop = AtomicBool::new(false);
        let end = match spec.method {
            Method::MovePages {
                batch_pages,
                workers,
            } => {
                let batch = BatchMover {
                    mover: io.pages,
                    batch_pages,
                    progress,
                    rate: rate.clone(),
                    stop: &stop,
                    unsure: Default::default(),
                };
                task::move_task_pages(&batch, task, pending, spec.huge_first, workers)
            }
            Method::Mbind { step } => {
                mbind::move_task_mbind(io, task, &pending, step, progress, rate)
            }
        };
        left_behind += end.left_behind;
        // A task whose every page is on its target is complete, whatever ENOMEM the kernel
        // reported on the way: the next task may go to another node.
        let complete =
            matches!(end.stopped, Some(StopReason::TargetFull(_))) && end.left_behind == 0;
        if !complete && end.stopped.is_some() {
            // Tasks never started keep all their pending pages.
            left_behind += tasks.map(|(_, p)| p.len() as u64).sum::<u64>();
            return PassEnd {
                stopped: end.stopped,
                left_behind,
            };
        }
    }
    PassEnd {
        stopped: None,
        left_behind,
    }
}

/// Pages of each task the guest faulted in since its snapshot that are off the task's target,
/// or `Err` with why they could not be looked for.
fn discover_all(
    mover: &dyn PageMover,
    spec: &MoveSpec,
    snapshots: &mut [PageNodes],
    of_task: &[usize],
) -> Result<Vec<Vec<u64>>, StopReason> {
    spec.tasks
        .iter()
        .zip(of_task)
        .map(|(task, i)| {
            discover(mover, &mut snapshots[*i], task).map_err(|e| {
                StopReason::Failed(format!("cannot look for pages faulted in meanwhile: {e}"))
            })
        })
        .collect()
}

/// Runs `spec`, reporting into `progress`, at most at `spec.rate_limit`.
pub fn run_move(io: MoveIo<'_>, spec: &MoveSpec, progress: &MoveProgress) -> MoveOutcome {
    run_move_at(io, spec, progress, &RateLimit::new(spec.rate_limit))
}

/// Runs `spec`, reporting into `progress`, at most at `rate` (which another thread may
/// change while the move runs; `spec.rate_limit` is not looked at).
pub fn run_move_at(
    io: MoveIo<'_>,
    spec: &MoveSpec,
    progress: &MoveProgress,
    rate: &RateLimit,
) -> MoveOutcome {
    let stopped = |reason| MoveOutcome {
        stopped: Some(reason),
        left_behind: 0,
    };
    let (mut snapshots, of_task) = match snapshots(io.pages, spec, progress) {
        Ok(s) => s,
        Err(reason) => return stopped(reason),
    };
    // Pages faulted in between the snapshot and now (before the caller pointed new faults at
    // the targets) may sit on the old node: move them with the rest.
    let fresh = match discover_all(io.pages, spec, &mut snapshots, &of_task) {
        Ok(f) => f,
        Err(reason) => return stopped(reason),
    };
    let pending: Vec<Vec<u64>> = spec
        .tasks
        .iter()
        .zip(&of_task)
        .zip(fresh)
        .map(|((task, i), fresh)| {
            let mut pages = snapshots[*i].pending(task.addr, task.len, task.target);
            pages.extend(fresh);
            pages.sort_unstable();
            pages.dedup();
            pages
        })
        .collect();
    progress.set_total(pending.iter().map(|p| p.len() as u64).sum());
    let mut end = move_pass(io, spec, pending, progress, rate);
    for round in 0..=DISCOVERY_ROUNDS {
        if end.stopped.is_some() {
            break;
        }
        // Pages the guest faulted in during the move land on the target unless it had no
        // room: look for those that did not.
        let found = match discover_all(io.pages, spec, &mut snapshots, &of_task) {
            Ok(f) => f,
            Err(reason) => {
                end.stopped = Some(reason);
                break;
            }
        };
        let count: u64 = found.iter().map(|f| f.len() as u64).sum();
        if count == 0 {
            break;
        }
        progress.add_to_total(count);
        if round == DISCOVERY_ROUNDS {
            progress.add_failed(FAULTED_OFF_TARGET, count);
            end.left_behind += count;
            break;
        }
        let again = move_pass(io, spec, found, progress, rate);
        end.left_behind += again.left_behind;
        end.stopped = again.stopped;
    }
    if matches!(end.stopped, Some(StopReason::TargetFull(_))) {
        // Every page left behind for want of room, beyond pages that failed for other reasons.
        progress.add_failed(
            "ENOMEM",
            end.left_behind.saturating_sub(progress.pages_failed()),
        );
    }
    MoveOutcome {
        stopped: end.stopped,
        left_behind: end.left_behind,
    }
}

#[cfg(test)]
mod tests;
