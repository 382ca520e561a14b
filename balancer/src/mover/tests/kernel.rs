//! The mover against this host's own kernel.

use super::*;

#[test]
fn the_real_kernel_moves_nothing_that_is_already_in_place_and_refuses_a_missing_node() {
    let len = 64 * PAGE_SIZE as usize;
    let mapping = crate::anon_map::AnonMapping::new(len).unwrap();
    mapping.fill(1);
    let task = MoveTask {
        addr: mapping.addr(),
        len: len as u64,
        target: 0,
    };
    let here = crate::pages::SystemPages;
    let io = MoveIo {
        pages: &here,
        ranges: &Sim::default(),
    };
    let outcome = run_move(
        io,
        &MoveSpec {
            tasks: vec![task],
            method: Method::MovePages {
                batch_pages: 16,
                workers: 1,
            },
            huge_first: true,
            rate_limit: None,
            known: Vec::new(),
        },
        &MoveProgress::new(),
    );
    assert_eq!(
        outcome,
        MoveOutcome {
            stopped: None,
            left_behind: 0
        }
    );
    if !std::path::Path::new("/sys/devices/system/node/node7").exists() {
        let task = MoveTask { target: 7, ..task };
        let progress = MoveProgress::new();
        let outcome = run_move(
            io,
            &MoveSpec {
                tasks: vec![task],
                method: Method::MovePages {
                    batch_pages: 16,
                    workers: 1,
                },
                huge_first: false,
                rate_limit: None,
                known: Vec::new(),
            },
            &progress,
        );
        assert!(
            outcome.stopped.is_some(),
            "moving to a node that does not exist must fail"
        );
        assert_eq!(outcome.left_behind, 64, "and leave every page where it was");
        assert_eq!(progress.snapshot().pages_moved, 0);
    }
}
