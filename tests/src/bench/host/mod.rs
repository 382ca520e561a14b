//! Many VMs on one host: three busy VMs (one vCPU and 320 MiB each, the `fill` workload
//! checking every word) on the lab's two nodes. Again and again an operator moves one VM's
//! vCPU to the other node (round-robin over the VMs), and for the next window the share of
//! all guest memory that sits on its vCPUs' node is sampled while one of three keepers
//! looks after the memory: nobody, `ternctl host balance` with its defaults, or each Tern's
//! own automatic balancing with its defaults. Keepers rotate each round; before each window
//! the host balancer brings every guest node home (untimed), so every window starts alike.

mod analyze;
mod script;

use std::time::Duration;

use super::error::BenchError;
use super::figure::PartResult;
use super::lab;

pub use analyze::analyze;
pub use script::{script, Keeper, VMS, VM_MIB, WINDOW_S, WORKLOAD_MIB};

/// The part's name.
pub const PART: &str = "host";

/// Runs the part with `rounds` windows per keeper.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let spec = lab::spec("bench-host", script(rounds), Duration::from_secs(25 * 60));
    lab::run_and_analyze(PART, &spec, analyze).map(|(result, _)| result)
}
