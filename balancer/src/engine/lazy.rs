//! Lazy mode: each planned region is bound to its target with migrate-on-touch
//! (MPOL_BIND | MPOL_F_NUMA_BALANCING, through the policy guard), so that the kernel's NUMA
//! balancing moves a page when a vCPU running on the target touches it. Tern samples where
//! the planned pages are and counts those that arrived; after `sweep_after` it moves what
//! is left with mbind(MPOL_MF_MOVE), which also takes pages NUMA balancing has made
//! PROT_NONE for its hinting faults (move_pages cannot see those: it says -ENOENT, or
//! -EFAULT for a huge page). It ends
//! done when every planned page is on its target, settling the policies by the binding
//! rules (which removes the flag); on any other way out the guard puts them back.
//!
//! Binding is safe only where the target has room for the whole guest node plus the margin
//! settling keeps: without it, lazy mode is refused before anything changes (the live mode
//! prefers the target where it cannot bind).

use std::time::{Duration, Instant};

use super::binding::bind_margin;
use super::job::{Job, JobState};
use super::settle::{cancelled_early, mib, resident_bytes, settle, Ended};
use super::{BalancerInner, RebalanceParams};
use crate::chunk::{RegionChunks, CHUNK_BYTES};
use crate::mempolicy::guard::PolicyGuard;
use crate::mempolicy::MemPolicy;
use crate::mover::rate::RateLimit;
use crate::mover::status::{errno_name, NOT_MIGRATED};
use crate::mover::{RangeMover, DEFAULT_MBIND_STEP};
use crate::page_nodes::PageNodes;
use crate::pages::query_statuses;
use crate::placement::PAGE_SIZE;
use crate::policy::{move_ranges, MoveRange, Plan, RegionTarget};

/// How often Tern looks where the pages are.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(500);
/// Room kept on the target beyond what one sweep call moves.
const SWEEP_ROOM_MARGIN: u64 = 16 << 20;

/// The pages of one planned range still off its target.
struct Pending {
    range: MoveRange,
    pages: Vec<u64>,
}

/// Refuses a lazy move whose target lacks room for all a guest node may fault in there.
fn check_room(inner: &BalancerInner, plan: &Plan, pending: &[Pending]) -> Result<(), Ended> {
    let failed = |m: String| (JobState::Failed, m);
    let host = inner
        .host
        .topology()
        .map_err(|e| failed(format!("cannot read the host topology: {e}")))?;
    let regions = inner.view.regions();
    let mut need_per_node: Vec<(u32, u64)> = Vec::new();
    for (index, target) in &plan.targets {
        let RegionTarget::Node(node) = target else {
            return Err(failed(
                "lazy mode moves each guest node to one host node; use the live mode to \
                 interleave"
                    .into(),
            ));
        };
        let Some(region) = regions.get(*index) else {
            continue;
        };
        let to_move: u64 = pending
            .iter()
            .filter(|p| p.range.region == *index)
            .map(|p| p.pages.len() as u64 * PAGE_SIZE)
            .sum();
        let need = region.len.saturating_sub(resident_bytes(inner, region)) + to_move;
        match need_per_node.iter_mut().find(|(n, _)| n == node) {
            Some((_, total)) => *total += need,
            None => need_per_node.push((*node, need)),
        }
    }
    for (node, need) in need_per_node {
        let (free, total) = host.node(node).map_or((0, 0), |n| {
            (
                n.free_bytes + n.free_huge_pages_2m * CHUNK_BYTES,
                n.total_bytes,
            )
        });
        let margin = bind_margin(total);
        if free < need.saturating_add(margin) {
            return Err(failed(format!(
                "lazy mode binds the guest node's memory to host node {node}, which has {} \
                 free, less than the {} it may still need there plus a {} margin; nothing \
                 changed; the live mode moves it without binding",
                mib(free / PAGE_SIZE),
                mib(need / PAGE_SIZE),
                mib(margin / PAGE_SIZE)
            )));
        }
    }
    Ok(())
}

/// The planned pages off their targets, per range, from the plan's snapshot.
fn pending_pages(plan: &Plan, chunks: &[RegionChunks], known: &[PageNodes]) -> Vec<Pending> {
    move_ranges(plan, chunks)
        .into_iter()
        .map(|range| {
            let pages = known
                .iter()
                .find(|k| k.covers(range.addr, range.len))
                .map(|k| k.pending(range.addr, range.len, range.target))
                .unwrap_or_default();
            Pending { range, pages }
        })
        .filter(|p| !p.pages.is_empty())
        .collect()
}

/// Counts the pages of `pending` now on their target as moved, and keeps the others.
/// With `last`, also settles the fate of the others: off the target they failed, not
/// populated they leave the total (pages NUMA balancing hid are touched first, so that the
/// kernel says where they are).
fn sample(
    inner: &BalancerInner,
    job: &Job,
    pending: &mut [Pending],
    last: bool,
) -> Result<(), Ended> {
    for p in pending.iter_mut() {
        let mut statuses = query_statuses(inner.mover.as_ref(), &p.pages).map_err(|e| {
            (
                JobState::Failed,
                format!("cannot query page placement: {e}"),
            )
        })?;
        if last {
            reveal_hidden(inner, &p.pages, &mut statuses)?;
        }
        let target = p.range.target;
        let mut kept = Vec::with_capacity(p.pages.len());
        for (addr, status) in p.pages.iter().zip(statuses) {
            if status >= 0 && status as u32 == target {
                job.progress.add_moved(1);
            } else if !last {
                kept.push(*addr);
            } else if status >= 0 {
                job.progress.add_failed(NOT_MIGRATED, 1);
            } else if status == -libc::ENOENT || status == -libc::EFAULT {
                job.progress.drop_from_total(1);
            } else {
                job.progress.add_failed(errno_name(-status), 1);
            }
        }
        p.pages = kept;
    }
    Ok(())
}

/// What move_pages(2) says of a page NUMA balancing made PROT_NONE: -ENOENT for a base
/// page, -EFAULT for a huge page mapped whole.
fn hidden_status(status: i32) -> bool {
    status == -libc::ENOENT || status == -libc::EFAULT
}

/// Pages the kernel called not present (-ENOENT, -EFAULT) that are in memory (mincore) are
/// PROT_NONE for NUMA balancing's hinting faults: a read makes them present, then they are
/// asked about again.
fn reveal_hidden(inner: &BalancerInner, pages: &[u64], statuses: &mut [i32]) -> Result<(), Ended> {
    let mut hidden: Vec<usize> = Vec::new();
    let mut resident = [0u8; 1];
    for (i, (addr, status)) in pages.iter().zip(statuses.iter()).enumerate() {
        if hidden_status(*status)
            && inner.mover.resident(*addr, &mut resident).is_ok()
            && resident[0] & 1 == 1
        {
            inner.view.touch(*addr);
            hidden.push(i);
        }
    }
    if hidden.is_empty() {
        return Ok(());
    }
    let addrs: Vec<u64> = hidden.iter().map(|i| pages[*i]).collect();
    let again = query_statuses(inner.mover.as_ref(), &addrs).map_err(|e| {
        (
            JobState::Failed,
            format!("cannot query page placement: {e}"),
        )
    })?;
    for (i, status) in hidden.into_iter().zip(again) {
        statuses[i] = status;
    }
    Ok(())
}

/// Pages per look when revealing a region's hidden pages.
const REVEAL_BATCH: u64 = 1 << 16;

/// Makes every page of the planned regions that NUMA balancing left PROT_NONE present again
/// (the flag is gone by now, so nothing marks them again): a later move_pages(2) would
/// otherwise take them for not populated and leave them behind.
fn reveal_scope(inner: &BalancerInner, plan: &Plan) {
    let regions = inner.view.regions();
    for (index, _) in &plan.targets {
        let Some(region) = regions.get(*index) else {
            continue;
        };
        let pages = region.len / PAGE_SIZE;
        let mut first = 0;
        let mut resident = Vec::new();
        while first < pages {
            let count = (pages - first).min(REVEAL_BATCH);
            let addr = region.host_addr + first * PAGE_SIZE;
            first += count;
            resident.resize(count as usize, 0u8);
            if inner.mover.resident(addr, &mut resident).is_err() {
                continue;
            }
            let present: Vec<u64> = resident
                .iter()
                .enumerate()
                .filter(|(_, r)| **r & 1 == 1)
                .map(|(i, _)| addr + i as u64 * PAGE_SIZE)
                .collect();
            let Ok(statuses) = query_statuses(inner.mover.as_ref(), &present) else {
                continue;
            };
            for (page, status) in present.iter().zip(statuses) {
                if hidden_status(status) {
                    inner.view.touch(*page);
                }
            }
        }
    }
}

/// Moves what is left with mbind(MPOL_MF_MOVE), in steps of the rate limit; `Err` with why
/// it stopped early.
fn sweep(
    job: &Job,
    guard: &PolicyGuard<'_>,
    pending: &mut [Pending],
    rate: &RateLimit,
) -> Result<(), Ended> {
    let step = rate.bytes_per_call(DEFAULT_MBIND_STEP);
    let mut swept_bytes = 0u64;
    for p in pending.iter_mut() {
        let (start, end, target) = (p.range.addr, p.range.addr + p.range.len, p.range.target);
        let mut addr = start;
        while addr < end {
            if job.progress.is_cancelled() {
                return Err((JobState::Cancelled, String::new()));
            }
            let len = step.min(end - addr);
            let here = p
                .pages
                .iter()
                .filter(|a| **a >= addr && **a < addr + len)
                .count() as u64;
            if here > 0 {
                if guard
                    .room(target)
                    .is_some_and(|room| room < here * PAGE_SIZE + SWEEP_ROOM_MARGIN)
                {
                    return Err((
                        JobState::Failed,
                        format!("host node {target} ran out of free memory during the sweep"),
                    ));
                }
                match guard.move_range(addr, len, target) {
                    Ok(()) => {}
                    // Some pages could not move now; the last look counts them.
                    Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
                    Err(e) => {
                        return Err((JobState::Failed, format!("the sweep's mbind failed: {e}")))
                    }
                }
                // The last look counts what arrived; the rate limit counts what was asked.
                swept_bytes += here * PAGE_SIZE;
                let delay = rate.delay(swept_bytes, Instant::now());
                if !delay.is_zero() && job.progress.sleep(delay) {
                    return Err((JobState::Cancelled, String::new()));
                }
            }
            addr += len;
        }
    }
    Ok(())
}

/// Runs a lazy move of `plan` to its end.
pub(super) fn execute(
    inner: &BalancerInner,
    job: &Job,
    params: &RebalanceParams,
    plan: &Plan,
    chunks: &[RegionChunks],
    known: &[PageNodes],
    sweep_after: Option<Duration>,
) -> Result<Option<String>, Ended> {
    let mut pending = pending_pages(plan, chunks, known);
    check_room(inner, plan, &pending)?;
    if job.progress.is_cancelled() {
        return Err(cancelled_early());
    }
    let total: u64 = pending.iter().map(|p| p.pages.len() as u64).sum();
    job.progress.set_total(total);
    let interim: Vec<(usize, MemPolicy)> = plan
        .targets
        .iter()
        .filter_map(|(r, t)| match t {
            RegionTarget::Node(n) => Some((*r, MemPolicy::BindOnTouch(*n))),
            RegionTarget::Interleave(_) => None,
        })
        .collect();
    let guard = PolicyGuard::point(inner.view.as_ref(), inner.host.as_ref(), &interim)
        .map_err(|e| (JobState::Failed, format!("{e}; nothing moved")))?;
    let started = Instant::now();
    let left = |pending: &[Pending]| pending.iter().map(|p| p.pages.len()).sum::<usize>();
    let mut stopped: Option<Ended> = None;
    let mut swept = false;
    while left(&pending) > 0 {
        if sweep_after.is_some_and(|after| started.elapsed() >= after) {
            let rate = RateLimit::new(params.rate_limit);
            if let Err(e) = sweep(job, &guard, &mut pending, &rate) {
                stopped = Some(e);
            }
            swept = true;
            break;
        }
        let wait = sweep_after.map_or(SAMPLE_INTERVAL, |after| {
            SAMPLE_INTERVAL.min(after.saturating_sub(started.elapsed()))
        });
        if job.progress.sleep(wait) {
            stopped = Some((JobState::Cancelled, String::new()));
            break;
        }
        if let Err(e) = sample(inner, job, &mut pending, false) {
            stopped = Some(e);
            break;
        }
    }
    if left(&pending) > 0 {
        if let Err(e) = sample(inner, job, &mut pending, stopped.is_none()) {
            stopped.get_or_insert(e);
        }
    }
    let progress = job.progress.snapshot();
    let how_far = format!(
        "{} of {}",
        mib(progress.pages_moved),
        mib(progress.pages_total)
    );
    let Some((state, why)) = stopped else {
        let settled = settle(inner, plan, guard, progress.pages_failed);
        reveal_scope(inner, plan);
        let mut note = settled?;
        let how = if swept {
            format!("{how_far} moved, on touch and by the sweep")
        } else {
            format!("{how_far} moved on touch")
        };
        note = Some(match note {
            Some(n) => format!("{how}; {n}"),
            None => how,
        });
        return Ok(note);
    };
    let restored = match guard.restore() {
        Ok(()) => "the memory policies were put back".to_string(),
        Err(e) => format!("putting the memory policies back failed: {e}"),
    };
    reveal_scope(inner, plan);
    Err(match state {
        JobState::Cancelled => (
            JobState::Cancelled,
            format!("cancelled after {how_far} moved; {restored}"),
        ),
        state => (state, format!("{why}, after {how_far} moved; {restored}")),
    })
}
