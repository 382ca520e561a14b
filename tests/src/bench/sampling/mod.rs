//! What heat sampling (KVM dirty logging) costs the guest, measured crosswise: two VMs run
//! the same `fill` workload side by side, one vCPU each on its own L1 CPU and node (tern's
//! own threads on that CPU too, so what sampling costs in CPU falls on its own guest). In
//! each window one VM samples (1 Hz, 10 Hz, or nothing: a null window) and the other does
//! not; each round has a window with VM a sampling and one with VM b sampling, per mode.
//! A round's figure is one minus the geometric mean of (a's rate over b's, a sampling) and
//! (b's rate over a's, b sampling): a constant difference in speed between the two VMs
//! cancels, and so does whatever slows both at once.

mod analyze;
mod script;

use std::time::Duration;

pub use analyze::analyze;
pub use script::script;

use super::error::BenchError;
use super::figure::PartResult;
use super::lab;

/// The part's name.
pub const PART: &str = "sampling";
/// Rounds at least: 20 give a 95% interval of the median between the 6th and the 15th of
/// the sorted rounds.
pub const MIN_ROUNDS: usize = 20;

/// Runs the part.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let rounds = rounds.max(MIN_ROUNDS);
    let spec = lab::spec(
        "bench-sampling",
        script(rounds),
        Duration::from_secs(60 * (4 + rounds as u64)),
    );
    lab::run_and_analyze(PART, &spec, analyze).map(|(result, _)| result)
}
