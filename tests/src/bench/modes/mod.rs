//! The move modes side by side: one busy guest (2 vCPUs, 1 GiB, the `fill` workload writing
//! [`WORKLOAD_MIB`] MiB per vCPU and checking every word) is moved between the two nodes
//! again and again, each move in one of the modes (live at full speed, paused, lazy with a
//! sweep, live paced by the guest), in an order that rotates each round, first on transparent
//! huge pages and then (a second VM, THP off in L1) on 4 KiB pages. Before each move the
//! vCPUs are pinned to the target and the guest runs undisturbed for a while: its pass rate
//! there is the idle speed the move is judged against. Times are L1's, so that a paused
//! guest's clock does not hide the pause.

mod analyze;
mod script;

use std::time::Duration;

use super::error::BenchError;
use super::figure::PartResult;
use super::lab;

pub use analyze::analyze;
pub use script::{script, Mode, SWEEP_S, WORKLOAD_MIB};

/// The part's name.
pub const PART: &str = "modes";

/// Runs the part with `rounds` moves per mode and page size.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let spec = lab::spec("bench-modes", script(rounds), Duration::from_secs(50 * 60));
    let (mut result, out) = lab::run_and_analyze(PART, &spec, analyze)?;
    lab::note_vm_deaths(&mut result, &out.script_output);
    Ok(result)
}
