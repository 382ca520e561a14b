//! The mover against a simulated address space (a `PageMover` that keeps a node per page and
//! injects EBUSY, EAGAIN, ENOMEM, EFAULT, EACCES and whole-call failures), and against this
//! host's own kernel.

mod by_mbind;
mod enomem;
mod faulted;
mod huge;
mod kernel;
mod unreported;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Mutex;

use super::progress::MoveProgress;
use super::*;
use crate::chunk::CHUNK_BYTES;
use crate::page_nodes::PageNodes;

const BASE: u64 = 0x7f00_0000_0000;

/// Pages at BASE + i * 4 KiB for i < n, with a node each (or absent).
#[derive(Default)]
struct Sim {
    nodes: Mutex<BTreeMap<u64, i32>>,
    /// Per page: statuses returned (instead of moving) for its next move attempts.
    scripted: Mutex<HashMap<u64, Vec<i32>>>,
    /// Pages the target may still take before it is full.
    room: Mutex<Option<u64>>,
    /// A huge-page simulation: moving a block's first page moves the whole block.
    huge: bool,
    /// Whether `room` answers for mbind's check before each call.
    room_known: bool,
    /// Every move call's batch size.
    calls: Mutex<Vec<usize>>,
    /// Pages queried (move_pages without nodes), over all calls.
    queried: Mutex<usize>,
    /// Fail every move call with this errno.
    call_errno: Option<i32>,
    /// Cancel this progress after the first move call.
    cancel_after_first: Option<std::sync::Arc<MoveProgress>>,
    /// For the next move calls, one entry each: the kernel writes the status of the first
    /// `.0` pages, moves the next `.1` without writing their status, never reaches the rest,
    /// and returns how many pages it did not report.
    partial: Mutex<Vec<(usize, usize)>>,
    /// How many of the next move calls move every page and then fail with ENOMEM anyway.
    enomem_after_moving: Mutex<usize>,
    /// Pages the guest faults in (page index, node) at the next move call.
    fault_in: Mutex<Vec<(u64, i32)>>,
    /// mbind calls, as (address, length, target).
    ranges: Mutex<Vec<(u64, u64, u32)>>,
}

impl Sim {
    fn with_pages(states: impl IntoIterator<Item = Option<i32>>) -> Self {
        let sim = Sim::default();
        {
            let mut nodes = sim.nodes.lock().unwrap();
            for (i, s) in states.into_iter().enumerate() {
                if let Some(node) = s {
                    nodes.insert(BASE + i as u64 * PAGE_SIZE, node);
                }
            }
        }
        sim
    }

    /// Makes the next calls for page `page` (an index) return `statuses`, one per call.
    fn script(&self, page: u64, statuses: Vec<i32>) {
        self.scripted
            .lock()
            .unwrap()
            .insert(BASE + page * PAGE_SIZE, statuses);
    }

    fn on(&self, node: i32) -> usize {
        self.nodes
            .lock()
            .unwrap()
            .values()
            .filter(|n| **n == node)
            .count()
    }

    fn move_one(&self, addr: u64, target: i32) -> i32 {
        if let Some(script) = self.scripted.lock().unwrap().get_mut(&addr) {
            if !script.is_empty() {
                let status = script.remove(0);
                // A page reported as not mapped is gone (the guest's memory was unmapped); one
                // reported absent was migrating with its huge page, to the target.
                if status == -libc::EFAULT {
                    self.nodes.lock().unwrap().remove(&addr);
                }
                if status == -libc::ENOENT {
                    self.nodes.lock().unwrap().insert(addr, target);
                }
                return status;
            }
        }
        let mut nodes = self.nodes.lock().unwrap();
        let Some(node) = nodes.get(&addr).copied() else {
            return -libc::ENOENT;
        };
        if node == target {
            return target;
        }
        let block: Vec<u64> = if self.huge && addr.is_multiple_of(CHUNK_BYTES) {
            (0..CHUNK_BYTES / PAGE_SIZE)
                .map(|i| addr + i * PAGE_SIZE)
                .filter(|a| nodes.get(a).is_some_and(|n| *n != target))
                .collect()
        } else {
            vec![addr]
        };
        let mut room = self.room.lock().unwrap();
        if let Some(left) = room.as_mut() {
            if *left < block.len() as u64 {
                return -libc::ENOMEM;
            }
            *left -= block.len() as u64;
        }
        for a in block {
            nodes.insert(a, target);
        }
        target
    }
}

impl Sim {
    fn io(&self) -> MoveIo<'_> {
        MoveIo {
            pages: self,
            ranges: self,
        }
    }

    fn fault_in_at_next_move(&self, page: u64, node: i32) {
        self.fault_in.lock().unwrap().push((page, node));
    }
}

impl PageMover for Sim {
    fn move_pages(
        &self,
        pages: &[u64],
        nodes: Option<&[i32]>,
        status: &mut [i32],
    ) -> io::Result<usize> {
        let Some(nodes) = nodes else {
            *self.queried.lock().unwrap() += pages.len();
            let map = self.nodes.lock().unwrap();
            for (p, s) in pages.iter().zip(status.iter_mut()) {
                *s = map.get(p).copied().unwrap_or(-libc::ENOENT);
            }
            return Ok(0);
        };
        self.calls.lock().unwrap().push(pages.len());
        for (page, node) in self.fault_in.lock().unwrap().drain(..) {
            self.nodes
                .lock()
                .unwrap()
                .insert(BASE + page * PAGE_SIZE, node);
        }
        if let Some(errno) = self.call_errno {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let partial = {
            let mut p = self.partial.lock().unwrap();
            (!p.is_empty()).then(|| p.remove(0))
        };
        let (written, silent) = partial.unwrap_or((pages.len(), 0));
        for (i, ((p, n), s)) in pages.iter().zip(nodes).zip(status.iter_mut()).enumerate() {
            if i < written {
                *s = self.move_one(*p, *n);
            } else if i < written + silent {
                self.move_one(*p, *n);
            }
        }
        if let Some(progress) = &self.cancel_after_first {
            progress.cancel();
        }
        let mut enomem = self.enomem_after_moving.lock().unwrap();
        if *enomem > 0 {
            *enomem -= 1;
            return Err(io::Error::from_raw_os_error(libc::ENOMEM));
        }
        Ok(pages.len() - written.min(pages.len()))
    }

    fn resident(&self, addr: u64, r: &mut [u8]) -> io::Result<()> {
        let map = self.nodes.lock().unwrap();
        for (i, byte) in r.iter_mut().enumerate() {
            *byte = u8::from(map.contains_key(&(addr + i as u64 * PAGE_SIZE)));
        }
        Ok(())
    }
}

impl RangeMover for Sim {
    /// Moves every populated page of the range to `target` while it has room, and (like a
    /// preferred policy) leaves the rest where it is.
    fn move_range(&self, addr: u64, len: u64, target: u32) -> io::Result<()> {
        self.ranges.lock().unwrap().push((addr, len, target));
        let mut page = addr;
        while page < addr + len {
            let mut nodes = self.nodes.lock().unwrap();
            if nodes.get(&page).is_some_and(|n| *n != target as i32) {
                let mut room = self.room.lock().unwrap();
                if room.is_none_or(|left| left > 0) {
                    nodes.insert(page, target as i32);
                    if let Some(left) = room.as_mut() {
                        *left -= 1;
                    }
                }
            }
            page += PAGE_SIZE;
        }
        Ok(())
    }

    fn room(&self, _: u32) -> Option<u64> {
        self.room_known
            .then(|| self.room.lock().unwrap().map(|p| p * PAGE_SIZE))
            .flatten()
    }
}

fn spec(pages: u64, target: u32, batch_pages: usize, workers: usize) -> MoveSpec {
    MoveSpec {
        tasks: vec![MoveTask {
            addr: BASE,
            len: pages * PAGE_SIZE,
            target,
        }],
        method: Method::MovePages {
            batch_pages,
            workers,
        },
        huge_first: false,
        rate_limit: None,
        known: Vec::new(),
    }
}

#[test]
fn moves_every_populated_page_once_and_skips_the_rest() {
    // 100 pages on node 0, 20 absent, 30 already on node 1.
    let states = (0..150).map(|i| match i {
        0..=99 => Some(0),
        100..=119 => None,
        _ => Some(1),
    });
    let sim = Sim::with_pages(states);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(150, 1, 32, 1), &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    assert_eq!((sim.on(1), sim.on(0)), (130, 0));
    let s = progress.snapshot();
    assert_eq!(
        (s.pages_total, s.pages_moved, s.pages_failed, s.bytes_moved),
        (100, 100, 0, 100 * 4096)
    );
    // Only the 100 pages that needed it were addressed, 32 at a time.
    assert_eq!(*sim.calls.lock().unwrap(), vec![32, 32, 32, 4]);
}

#[test]
fn busy_pages_are_retried_until_they_move() {
    let sim = Sim::with_pages((0..10).map(|_| Some(0)));
    sim.script(0, vec![-libc::EBUSY, -libc::EAGAIN]);
    sim.script(5, vec![-libc::EBUSY]);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(10, 1, 512, 1), &progress);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(1), 10);
    assert_eq!(progress.snapshot().pages_failed, 0);
    assert_eq!(
        *sim.calls.lock().unwrap(),
        vec![10, 2, 1],
        "two retry rounds, each only for the busy pages"
    );
}

#[test]
fn pages_busy_for_good_fail_by_reason_after_bounded_retries() {
    let sim = Sim::with_pages((0..4).map(|_| Some(0)));
    sim.script(0, vec![-libc::EAGAIN; 100]);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(4, 1, 512, 1), &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 1
        }
    );
    let s = progress.snapshot();
    assert_eq!((s.pages_moved, s.pages_failed), (3, 1));
    assert_eq!(
        s.failed_by_reason,
        BTreeMap::from([("EAGAIN".to_string(), 1)])
    );
    assert_eq!(
        sim.calls.lock().unwrap().len(),
        1 + batch::MAX_RETRIES as usize
    );
}

#[test]
fn a_full_target_stops_the_move_and_reports_what_moved() {
    let sim = Sim::with_pages((0..100).map(|_| Some(0)));
    *sim.room.lock().unwrap() = Some(40);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(100, 1, 16, 1), &progress);
    assert_eq!(outcome.stopped, Some(StopReason::TargetFull(1)));
    assert_eq!(outcome.left_behind, 60);
    let s = progress.snapshot();
    assert_eq!((s.pages_total, s.pages_moved), (100, 40));
    assert_eq!(
        s.failed_by_reason.get("ENOMEM"),
        Some(&60),
        "every page left behind for want of room"
    );
    assert_eq!(
        sim.calls.lock().unwrap().len(),
        3,
        "no call after the full one"
    );
    assert_eq!(
        (sim.on(0), sim.on(1)),
        (60, 40),
        "nothing lost, nothing moved back"
    );
}

#[test]
fn unpopulated_and_shared_pages() {
    let sim = Sim::with_pages((0..6).map(|_| Some(0)));
    sim.script(1, vec![-libc::EFAULT]);
    sim.script(2, vec![-libc::EACCES]);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(6, 1, 512, 1), &progress);
    assert_eq!(outcome.stopped, None);
    let s = progress.snapshot();
    assert_eq!(
        (s.pages_total, s.pages_moved, s.pages_failed),
        (5, 4, 1),
        "EFAULT: nothing to move"
    );
    assert_eq!(
        s.failed_by_reason,
        BTreeMap::from([("EACCES".to_string(), 1)])
    );
}

#[test]
fn a_page_reported_absent_while_it_travelled_counts_as_moved() {
    let sim = Sim::with_pages((0..6).map(|_| Some(0)));
    sim.script(3, vec![-libc::ENOENT]);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(6, 1, 512, 1), &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    let s = progress.snapshot();
    assert_eq!((s.pages_total, s.pages_moved, s.pages_failed), (6, 6, 0));
    // The first query, then only the page in doubt.
    assert_eq!(*sim.queried.lock().unwrap(), 6 + 1);
}

#[test]
fn a_failing_call_stops_the_move_with_its_reason() {
    let mut sim = Sim::with_pages((0..6).map(|_| Some(0)));
    sim.call_errno = Some(libc::ENODEV);
    let outcome = run_move(sim.io(), &spec(6, 3, 512, 1), &MoveProgress::new());
    assert_eq!(
        outcome.stopped,
        Some(StopReason::Failed(
            "host node 3 has no memory to move pages to".into()
        ))
    );
    assert_eq!(outcome.left_behind, 6);
    sim.call_errno = Some(libc::EPERM);
    let outcome = run_move(sim.io(), &spec(6, 3, 512, 1), &MoveProgress::new());
    assert!(matches!(outcome.stopped, Some(StopReason::Failed(m)) if m.contains("EPERM")));
}

#[test]
fn cancel_stops_between_batches() {
    let progress = std::sync::Arc::new(MoveProgress::new());
    let mut sim = Sim::with_pages((0..100).map(|_| Some(0)));
    sim.cancel_after_first = Some(progress.clone());
    let outcome = run_move(sim.io(), &spec(100, 1, 10, 1), &progress);
    assert_eq!(outcome.stopped, Some(StopReason::Cancelled));
    assert_eq!((sim.on(1), outcome.left_behind), (10, 90));
    assert_eq!(progress.snapshot().pages_moved, 10);
}

#[test]
fn workers_share_the_pages_between_them() {
    let sim = Sim::with_pages((0..4096).map(|_| Some(0)));
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(4096, 1, 256, 4), &progress);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(1), 4096);
    assert_eq!(progress.snapshot().pages_moved, 4096);
    assert_eq!(sim.calls.lock().unwrap().iter().sum::<usize>(), 4096);
}
