//! ENOMEM from the kernel that does not mean the target is full.

use super::*;

#[test]
fn enomem_on_a_huge_page_sends_its_block_page_by_page() {
    // The target has no free 2 MiB block for the first huge page, but room for base pages.
    let pages = 2 * 512;
    let mut sim = Sim::with_pages((0..pages).map(|_| Some(0)));
    sim.huge = true;
    sim.script(0, vec![-libc::ENOMEM]);
    let mut s = spec(pages, 1, 512, 1);
    s.huge_first = true;
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    assert_eq!(sim.on(1), pages as usize);
    let snap = progress.snapshot();
    assert_eq!((snap.pages_total, snap.pages_moved), (pages, pages));
    assert!(
        snap.failed_by_reason.is_empty(),
        "{:?}",
        snap.failed_by_reason
    );
}

#[test]
fn a_task_that_arrived_whole_despite_enomem_lets_the_next_task_run() {
    // Interleave-like: pages 0-99 go to node 1, pages 100-199 to node 0. The first call moves
    // its pages and still fails with ENOMEM.
    let sim = Sim::with_pages((0..200).map(|i| Some(i32::from(i < 100) ^ 1)));
    *sim.enomem_after_moving.lock().unwrap() = 1;
    let mut s = spec(100, 1, 512, 1);
    s.tasks.push(MoveTask {
        addr: BASE + 100 * PAGE_SIZE,
        len: 100 * PAGE_SIZE,
        target: 0,
    });
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    assert_eq!((sim.on(0), sim.on(1)), (100, 100));
    let snap = progress.snapshot();
    assert_eq!((snap.pages_total, snap.pages_moved), (200, 200));
}

#[test]
fn a_target_full_for_base_pages_still_stops_the_huge_move() {
    let pages = 2 * 512;
    let mut sim = Sim::with_pages((0..pages).map(|_| Some(0)));
    sim.huge = true;
    *sim.room.lock().unwrap() = Some(100);
    let mut s = spec(pages, 1, 512, 1);
    s.huge_first = true;
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(outcome.stopped, Some(StopReason::TargetFull(1)));
    assert_eq!(outcome.left_behind, pages - 100);
    assert_eq!((sim.on(0), sim.on(1)), (pages as usize - 100, 100));
    assert_eq!(progress.snapshot().pages_moved, 100);
}
