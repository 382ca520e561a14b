//! Moves by mbind(MPOL_MF_MOVE), range by range.

use super::*;

fn mbind_spec(pages: u64, target: u32) -> MoveSpec {
    MoveSpec {
        method: Method::Mbind {
            step: 4 * PAGE_SIZE,
        },
        ..spec(pages, target, 512, 1)
    }
}

#[test]
fn mbind_moves_range_by_range_and_counts_what_arrived() {
    let sim = Sim::with_pages((0..10).map(|i| (i != 5).then_some(0)));
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &mbind_spec(10, 1), &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    assert_eq!(sim.on(1), 9);
    let s = progress.snapshot();
    assert_eq!((s.pages_total, s.pages_moved, s.pages_failed), (9, 9, 0));
    let ranges = sim.ranges.lock().unwrap();
    assert_eq!(
        ranges.len(),
        3,
        "three ranges of 4 pages at most: {ranges:?}"
    );
    assert!(ranges.iter().all(|(_, _, t)| *t == 1));
}

#[test]
fn mbind_stops_as_target_full_when_pages_land_elsewhere() {
    // The target takes 6 pages; the kernel then places the others elsewhere (they stay).
    let sim = Sim::with_pages((0..12).map(|_| Some(0)));
    *sim.room.lock().unwrap() = Some(6);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &mbind_spec(12, 1), &progress);
    assert_eq!(outcome.stopped, Some(StopReason::TargetFull(1)));
    assert_eq!(outcome.left_behind, 6);
    assert_eq!((sim.on(1), sim.on(0)), (6, 6));
    let s = progress.snapshot();
    assert_eq!((s.pages_moved, s.pages_failed), (6, 6));
    assert_eq!(s.failed_by_reason.get("ENOMEM"), Some(&6));
    assert_eq!(
        sim.ranges.lock().unwrap().len(),
        2,
        "no call after the spill"
    );
}

#[test]
fn mbind_makes_no_call_the_target_has_no_room_for() {
    let mut sim = Sim::with_pages((0..12).map(|_| Some(0)));
    sim.room_known = true;
    *sim.room.lock().unwrap() = Some(4 + (mbind::MBIND_ROOM_MARGIN / PAGE_SIZE));
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &mbind_spec(12, 1), &progress);
    assert_eq!(outcome.stopped, Some(StopReason::TargetFull(1)));
    assert_eq!(
        (sim.on(1), sim.on(0)),
        (4, 8),
        "one call, then room for no more"
    );
    assert_eq!(outcome.left_behind, 8);
    assert_eq!(progress.snapshot().failed_by_reason.get("ENOMEM"), Some(&8));
}
