//! The guest while Tern moves its memory: a guest (2 vCPUs, 1 GiB prefaulted on node 0)
//! runs the `fill` workload (256 MiB per vCPU, every word checked and rewritten each pass);
//! each round times a move of all of it to node 1 with Tern's default mover, at full speed
//! or (every other round) capped at [`CAPPED_MIB_S`] MiB/s, and compares the workload's pass
//! rate during the move with its rate over an equally long window just before (guest
//! clock, from the heartbeats). Then one more move is watched with
//! `ternctl placement` in a loop, for the placement plot.

mod analyze;
mod script;

use std::time::Duration;

use super::error::BenchError;
use super::figure::PartResult;
use super::lab;
use super::svg::PlacementPlot;

pub use analyze::{analyze, plot};
pub use script::{script, CAPPED_MIB_S};

/// The part's name.
pub const PART: &str = "guest_impact";

/// Runs the part; the result and the placement plot of the watched move, if it was seen.
pub fn run(rounds: usize) -> Result<(PartResult, Option<PlacementPlot>), BenchError> {
    let spec = lab::spec(
        "bench-guest-impact",
        script(rounds),
        Duration::from_secs(15 * 60),
    );
    let (result, out) = lab::run_and_analyze(PART, &spec, analyze)?;
    Ok((result, plot(&out.script_output)))
}
