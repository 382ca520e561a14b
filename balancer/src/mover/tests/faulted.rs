//! Pages the guest faults in while a move is planned or runs.

use super::*;

#[test]
fn pages_faulted_in_after_the_plans_query_are_moved_too() {
    // The plan saw pages 4..8 absent; the guest faulted them in (on node 0) before new faults
    // were pointed at node 1.
    let sim = Sim::with_pages((0..8).map(|_| Some(0)));
    let mut snapshot = PageNodes::with_capacity(BASE, 8);
    for i in 0..8 {
        assert!(snapshot.record(if i < 4 { 0 } else { -libc::ENOENT }));
    }
    let mut s = spec(8, 1, 512, 1);
    s.known = vec![snapshot];
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(1), 8);
    let snap = progress.snapshot();
    assert_eq!((snap.pages_total, snap.pages_moved), (8, 8));
}

#[test]
fn pages_faulted_in_off_the_target_during_the_move_are_found_and_moved() {
    // Page 9 is absent at first; the guest faults it in on node 0 (the target was full at
    // that moment) while the first batch moves.
    let sim = Sim::with_pages((0..10).map(|i| (i < 9).then_some(0)));
    sim.fault_in_at_next_move(9, 0);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(10, 1, 512, 1), &progress);
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    assert_eq!(sim.on(1), 10);
    let snap = progress.snapshot();
    assert_eq!((snap.pages_total, snap.pages_moved), (10, 10));
}

#[test]
fn pages_faulted_in_on_the_target_during_the_move_need_nothing() {
    let sim = Sim::with_pages((0..10).map(|i| (i < 9).then_some(0)));
    sim.fault_in_at_next_move(9, 1);
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(10, 1, 512, 1), &progress);
    assert_eq!(outcome.stopped, None);
    let snap = progress.snapshot();
    assert_eq!((snap.pages_total, snap.pages_moved), (9, 9));
    assert_eq!(sim.calls.lock().unwrap().len(), 1);
}
