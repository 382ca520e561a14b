//! The mbind method: each range of a task gets mbind(2) with MPOL_PREFERRED for the target
//! and MPOL_MF_MOVE | MPOL_MF_STRICT, which migrates the pages off the target by walking the
//! page tables. Preferred rather than bind, so that a guest fault in the range never fails
//! (a bound range on a full node meets the OOM killer): with no room on the target, the
//! kernel places the page elsewhere instead, which the query after each call sees and which
//! stops the move as a full target. Before each call the target's free memory is checked, so
//! that a call is not made that could only spill.

use std::io;

use super::fates::Fates;
use super::progress::MoveProgress;
use super::rate::RateLimit;
use super::status;
use super::task::TaskEnd;
use super::{MoveIo, MoveTask, StopReason};
use crate::placement::PAGE_SIZE;

/// Room kept free on the target beyond what a call moves.
pub const MBIND_ROOM_MARGIN: u64 = 16 << 20;

/// Moves whole ranges with mbind(2), and tells how much room a node has. The owner of the
/// guest's memory policies implements it: the call leaves the range preferring the target.
pub trait RangeMover: Send + Sync {
    /// mbind(MPOL_PREFERRED `target`, MPOL_MF_MOVE | MPOL_MF_STRICT) over `[addr, addr + len)`.
    fn move_range(&self, addr: u64, len: u64, target: u32) -> io::Result<()>;

    /// Bytes host node `node` can take now, if known.
    fn room(&self, node: u32) -> Option<u64>;
}

/// Moves a task's `pending` pages (in address order) range by range.
pub fn move_task_mbind(
    io: MoveIo<'_>,
    task: &MoveTask,
    pending: &[u64],
    step: u64,
    progress: &MoveProgress,
    rate: &RateLimit,
) -> TaskEnd {
    let from = |addr: u64| pending.partition_point(|a| *a < addr);
    let step = rate
        .bytes_per_call(step)
        .max(PAGE_SIZE)
        .next_multiple_of(PAGE_SIZE);
    let mut left_behind = 0;
    let mut offset = 0;
    while offset < task.len {
        let addr = task.addr + offset;
        let len = step.min(task.len - offset);
        let here = &pending[from(addr)..from(addr + len)];
        let after = (pending.len() - from(addr + len)) as u64;
        let stop = |reason| TaskEnd {
            stopped: Some(reason),
            left_behind: left_behind + here.len() as u64 + after,
        };
        if progress.is_cancelled() {
            return stop(StopReason::Cancelled);
        }
        offset += len;
        if here.is_empty() {
            continue;
        }
        let bytes = here.len() as u64 * PAGE_SIZE;
        if io
            .ranges
            .room(task.target)
            .is_some_and(|room| room < bytes + MBIND_ROOM_MARGIN)
        {
            return stop(StopReason::TargetFull(task.target));
        }
        let result = io.ranges.move_range(addr, len, task.target);
        // Success under MPOL_MF_STRICT means every page left its node; where it went, only a
        // query tells (a full target sends pages elsewhere).
        let fates = Fates::of(io.pages, task, here);
        progress.add_moved(fates.arrived);
        progress.drop_from_total(fates.vanished);
        let left = fates.left();
        left_behind += left;
        match result {
            Ok(()) if left > 0 => {
                progress.add_failed("ENOMEM", left);
                return TaskEnd {
                    stopped: Some(StopReason::TargetFull(task.target)),
                    left_behind: left_behind + after,
                };
            }
            Ok(()) => {}
            Err(err) => {
                let errno = err.raw_os_error().unwrap_or(0);
                progress.add_failed(status::errno_name(errno), left);
                let stopped = match errno {
                    libc::EIO => None,
                    libc::ENOMEM => Some(StopReason::TargetFull(task.target)),
                    _ => Some(StopReason::Failed(format!("mbind failed: {err}"))),
                };
                if stopped.is_some() {
                    return TaskEnd {
                        stopped,
                        left_behind: left_behind + after,
                    };
                }
            }
        }
        rate.wait(progress);
    }
    TaskEnd {
        stopped: None,
        left_behind,
    }
}
