//! Pages the guest faulted in after a snapshot was taken: mincore(2) tells which pages are in
//! memory now, and only those the snapshot had as absent are queried. A page faulted in
//! before new faults were pointed at the target sits on the old node; one faulted in later
//! lands on the target unless it had no room.

use std::io;

use super::MoveTask;
use crate::page_nodes::PageNodes;
use crate::pages::{query_statuses, PageMover};
use crate::placement::PAGE_SIZE;

/// Pages per mincore call (1 GiB of 4 KiB pages: a 256 KiB vector).
const RESIDENT_BATCH: u64 = 1 << 18;

/// The pages of `task` in memory now that `snapshot` had as absent: each is queried and
/// recorded in the snapshot, and those populated off the task's target are returned, in
/// address order.
pub fn discover(
    mover: &dyn PageMover,
    snapshot: &mut PageNodes,
    task: &MoveTask,
) -> io::Result<Vec<u64>> {
    let pages = task.len / PAGE_SIZE;
    let mut candidates = Vec::new();
    let mut resident = Vec::new();
    let mut first = 0;
    while first < pages {
        let count = (pages - first).min(RESIDENT_BATCH);
        let addr = task.addr + first * PAGE_SIZE;
        resident.resize(count as usize, 0u8);
        mover.resident(addr, &mut resident)?;
        candidates.extend(
            resident
                .iter()
                .enumerate()
                .map(|(i, r)| (addr + i as u64 * PAGE_SIZE, r))
                .filter(|(a, r)| **r & 1 == 1 && snapshot.at(*a) == Some(PageNodes::ABSENT))
                .map(|(a, _)| a),
        );
        first += count;
    }
    let statuses = query_statuses(mover, &candidates)?;
    let mut off_target = Vec::new();
    for (addr, status) in candidates.into_iter().zip(statuses) {
        snapshot.update(addr, status);
        if status >= 0 && status as u32 != task.target {
            off_target.push(addr);
        }
    }
    Ok(off_target)
}
