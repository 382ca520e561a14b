#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The soak, short: 50 live moves of a running guest's memory in one lab run (THP-backed;
//! `make soak` runs 1000 and takes turns with 4 KiB pages), with both methods, every policy
//! and faults (cancels, pauses, pins, a target that fills up), the guest checking every word
//! on both vCPUs. Every move is checked from the host's side: the guest finds no bad word, no
//! completed move misses its placement, and nothing fails that no fault explains.

use std::time::Instant;

use tern_tests::soak::lab::{run_soak, GuestShape, RunSizes, SoakPlan};
use tern_tests::soak::report::{failures_by_kind, report, summary};

#[test]
fn fifty_moves_with_faults_land_and_lose_no_word() {
    let started = Instant::now();
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
        });
    println!("soak seed {seed} (SOAK_SEED={seed} deals the same moves)");
    let plan = SoakPlan {
        moves: 50,
        per_run: RunSizes { thp: 50, base: 50 },
        seed,
        shape: GuestShape::default(),
        driver: env!("CARGO_BIN_EXE_tern-soak").into(),
        name: "lab_soak".into(),
        echo: false,
    };
    let result = run_soak(&plan, |line| println!("{line}"));
    let doc = report(&result, &serde_json::json!({}));
    println!("{}", summary(&doc));
    println!("soak took {:.0} s", started.elapsed().as_secs_f64());
    for f in doc["failure_list"].as_array().unwrap() {
        println!("failure: {f}");
    }
    let moves: Vec<_> = result.moves().collect();
    assert_eq!(moves.len(), 50, "{}", summary(&doc));
    assert_eq!(result.bad_words(), 0, "the guest found corrupted words");
    let failures = failures_by_kind(&result);
    assert!(
        failures.values().all(|n| *n == 0),
        "failures {failures:?}; {}",
        doc["failure_list"]
    );
    assert_eq!(doc["placement_misses"], 0);
    // The soak did what it says: moves landed, and faults stopped some of them.
    let states = &doc["states"];
    assert!(states["done"].as_u64().unwrap() >= 20, "{states}");
    assert!(
        moves.iter().any(|m| m.state_name() != "done"),
        "no fault stopped a move: {states}"
    );
}
