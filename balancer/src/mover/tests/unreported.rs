//! Pages the kernel gave up on part-way without writing their status.

use super::*;

/// Moves of `pages` pages starting on `from` to `to`, with the kernel giving up part-way in
/// the first call: it reports 2 pages, moves 3 more without a word, and never reaches the
/// rest.
fn move_with_an_unwritten_tail(from: i32, to: u32) -> (Sim, MoveProgress, MoveOutcome) {
    let sim = Sim::with_pages((0..10).map(|_| Some(from)));
    sim.partial.lock().unwrap().push((2, 3));
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(10, to, 512, 1), &progress);
    (sim, progress, outcome)
}

#[test]
fn pages_the_kernel_did_not_report_are_asked_about_not_taken_for_node_0() {
    let (sim, progress, outcome) = move_with_an_unwritten_tail(1, 0);
    assert_eq!(outcome.stopped, None);
    assert_eq!(outcome.left_behind, 0);
    assert_eq!(sim.on(0), 10, "the unreached pages were moved after all");
    let s = progress.snapshot();
    assert_eq!((s.pages_total, s.pages_moved, s.pages_failed), (10, 10, 0));
    // The first call, then one retry of the five pages the kernel never reached.
    assert_eq!(*sim.calls.lock().unwrap(), vec![10, 5]);
}

#[test]
fn pages_the_kernel_did_not_report_are_retried_not_failed_for_node_1() {
    let (sim, progress, outcome) = move_with_an_unwritten_tail(0, 1);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(1), 10);
    let s = progress.snapshot();
    assert_eq!((s.pages_total, s.pages_moved, s.pages_failed), (10, 10, 0));
    assert!(s.failed_by_reason.is_empty(), "{:?}", s.failed_by_reason);
}

#[test]
fn a_batch_the_kernel_never_reached_is_moved_again() {
    let sim = Sim::with_pages((0..8).map(|_| Some(1)));
    sim.partial.lock().unwrap().push((0, 0));
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(8, 0, 512, 1), &progress);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(0), 8);
    assert_eq!(progress.snapshot().pages_moved, 8);
    assert_eq!(*sim.calls.lock().unwrap(), vec![8, 8]);
}

#[test]
fn pages_the_kernel_keeps_giving_up_on_fail_after_the_retries() {
    let sim = Sim::with_pages((0..4).map(|_| Some(0)));
    sim.partial
        .lock()
        .unwrap()
        .extend(std::iter::repeat_n((0, 0), 1 + batch::MAX_RETRIES as usize));
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &spec(4, 1, 512, 1), &progress);
    assert_eq!(outcome.left_behind, 4);
    let s = progress.snapshot();
    assert_eq!((s.pages_moved, s.pages_failed), (0, 4));
    assert_eq!(
        s.failed_by_reason,
        BTreeMap::from([(status::NOT_MIGRATED.to_string(), 4)])
    );
    assert_eq!(sim.on(0), 4, "nothing moved, nothing counted as moved");
}
