#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The API fuzzer at `make test` size: a few thousand seeded hostile requests (raw bytes on
//! raw connections) against a real tern running a heartbeat guest on this host's KVM. Every
//! answer must be a status the spec documents for its route with a JSON error body, nothing
//! may hang, and afterwards tern must be alive with its guest running. The seed is printed;
//! `TERN_FUZZ_SEED` replays it and `TERN_FUZZ_REQUESTS` sets the size.

use std::time::Duration;

use serde_json::json;
use tern_tests::api_fuzz::rng::fresh_seed;
use tern_tests::api_fuzz::{replay_hint, run, start_target, FuzzConfig};
use tern_tests::host_run::RunningTern;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn exits(tern: &RunningTern) -> u64 {
    tern.get("/v1/vcpus")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["exits"].as_u64().unwrap())
        .sum()
}

#[test]
fn thousands_of_hostile_requests_get_documented_answers_and_the_guest_runs_on() {
    let seed = env_u64("TERN_FUZZ_SEED").unwrap_or_else(fresh_seed);
    let requests = env_u64("TERN_FUZZ_REQUESTS").unwrap_or(3000);
    eprintln!("api fuzz: seed {seed} ({})", replay_hint(seed));
    let mut tern = start_target("api-fuzz");
    let mut config = FuzzConfig::new(seed, requests);
    config.only_case = env_u64("TERN_FUZZ_CASE");
    let report = run(&mut tern, &config);
    eprintln!("{}", report.summary());
    assert!(report.findings.is_empty(), "{}", report.summary());
    if config.only_case.is_none() {
        assert!(report.requests >= requests);
    }

    // The guest still runs: tern is alive, the VM reads running, its vCPUs keep exiting
    // and its heartbeats keep coming.
    assert!(tern.child.try_wait().unwrap().is_none(), "tern exited");
    assert_eq!(tern.get("/v1/vm")["state"], json!("running"));
    let before = exits(&tern);
    tern.wait_for_heartbeats(2);
    std::thread::sleep(Duration::from_millis(200));
    assert!(exits(&tern) > before, "the vCPUs stopped exiting");
}
