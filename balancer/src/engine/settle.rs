//! How a rebalance ends, shared by live, paused and lazy moves: the end state and message of a
//! job, the final memory policies of a complete move (bound to the target only where the guest
//! node fits whole), and how much of a region is in memory.

use super::binding::final_policies;
use super::job::JobState;
use super::BalancerInner;
use crate::guest::MemoryRegion;
use crate::mempolicy::guard::PolicyGuard;
use crate::mempolicy::MemPolicy;
use crate::placement::PAGE_SIZE;
use crate::policy::Plan;

/// `pages` as MiB with one decimal, for messages.
pub(super) fn mib(pages: u64) -> String {
    format!("{:.1} MiB", (pages * PAGE_SIZE) as f64 / f64::from(1 << 20))
}

/// How a job ended early: its state and the sentence that says why.
pub(super) type Ended = (JobState, String);

/// The end of a job cancelled before any page moved.
pub(super) fn cancelled_early() -> Ended {
    (
        JobState::Cancelled,
        "cancelled before any page moved".into(),
    )
}

/// Bytes of `region` in memory now (mincore), or its whole length if that cannot be told.
pub(super) fn resident_bytes(inner: &BalancerInner, region: &MemoryRegion) -> u64 {
    let pages = region.len / PAGE_SIZE;
    let mut resident = vec![0u8; usize::try_from(pages).unwrap_or(0)];
    match inner.mover.resident(region.host_addr, &mut resident) {
        Ok(()) => resident.iter().filter(|r| **r & 1 == 1).count() as u64 * PAGE_SIZE,
        Err(_) => region.len,
    }
}

/// Leaves the regions of a complete move with their final policies, binding a guest node to
/// its new node only where it fits whole, and says what it did.
pub(super) fn settle(
    inner: &BalancerInner,
    plan: &Plan,
    guard: PolicyGuard<'_>,
    left_behind: u64,
) -> Result<Option<String>, Ended> {
    let originals: Vec<(usize, MemPolicy)> =
        guard.originals().map(|(i, p)| (i, p.clone())).collect();
    let regions = inner.view.regions();
    let host = inner.host.topology().map_err(|e| {
        (
            JobState::Failed,
            format!("cannot read the host topology to settle the memory policies: {e}"),
        )
    })?;
    let (finals, notes) = final_policies(
        &plan.targets,
        &originals,
        &regions,
        &|r| resident_bytes(inner, r),
        &host,
    );
    guard.settle(&finals).map_err(|e| {
        (
            JobState::Failed,
            format!("the move completed but {e}; the policy it had was put back"),
        )
    })?;
    inner.record_binding_notes(plan, &regions, &notes);
    let mut sentences: Vec<String> = Vec::new();
    if left_behind > 0 {
        sentences.push(format!(
            "{} stayed behind (see failed_by_reason)",
            mib(left_behind)
        ));
    }
    sentences.extend(notes.into_iter().map(|n| n.sentence));
    Ok((!sentences.is_empty()).then(|| sentences.join("; ")))
}
