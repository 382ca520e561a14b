//! Huge-page-first moves: one address per 2 MiB block, then the rest page by page.

use super::*;

#[test]
fn huge_pages_are_addressed_once_per_block() {
    // Two full blocks and a half block, all on node 0, with a THP-like simulation.
    let pages = 2 * 512 + 256;
    let mut sim = Sim::with_pages((0..pages).map(|_| Some(0)));
    sim.huge = true;
    let mut s = spec(pages, 1, 512, 1);
    s.huge_first = true;
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(1), pages as usize);
    let snap = progress.snapshot();
    assert_eq!((snap.pages_total, snap.pages_moved), (pages, pages));
    // One call for the two heads, one for the 256 pages of the half block.
    assert_eq!(*sim.calls.lock().unwrap(), vec![2, 256]);
    // Every page queried once up front; then only the two blocks' last pages (the half
    // block's pages all reported where they went).
    assert_eq!(*sim.queried.lock().unwrap(), pages as usize + 2);
}

#[test]
fn the_plans_snapshot_spares_the_first_query() {
    let pages = 2 * 512;
    let mut sim = Sim::with_pages((0..pages).map(|i| Some(i32::from(i >= 512))));
    sim.huge = true;
    let mut snapshot = PageNodes::with_capacity(BASE, pages);
    for i in 0..pages {
        assert!(snapshot.record(i32::from(i >= 512)));
    }
    let mut s = spec(pages, 1, 512, 1);
    s.huge_first = true;
    s.known = vec![snapshot];
    let progress = MoveProgress::new();
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(outcome.stopped, None);
    assert_eq!(sim.on(1), pages as usize);
    assert_eq!(progress.snapshot().pages_moved, 512);
    // Only the moved block's last page was queried.
    assert_eq!(*sim.queried.lock().unwrap(), 1);
}

#[test]
fn blocks_of_base_pages_move_page_by_page_after_their_first_page() {
    // Huge-first over memory made of base pages: each head moves alone, the rest follow.
    let pages = 2 * 512;
    let sim = Sim::with_pages((0..pages).map(|_| Some(0)));
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
}

#[test]
fn a_cancel_during_the_huge_pass_reports_what_stayed() {
    let pages = 4 * 512;
    let progress = std::sync::Arc::new(MoveProgress::new());
    let mut sim = Sim::with_pages((0..pages).map(|_| Some(0)));
    sim.huge = true;
    sim.cancel_after_first = Some(progress.clone());
    let mut s = spec(pages, 1, 512, 1);
    s.huge_first = true;
    s.rate_limit = Some(2 << 20); // one head per call
    let outcome = run_move(sim.io(), &s, &progress);
    assert_eq!(outcome.stopped, Some(StopReason::Cancelled));
    assert_eq!((sim.on(1), outcome.left_behind), (512, 3 * 512));
    // The block that travelled counted as it went.
    assert_eq!(progress.snapshot().pages_moved, 512);
}
