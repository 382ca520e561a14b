//! Running one benchmark lab: the spec every part starts from, progress while it runs, and
//! the checks on what came back.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::error::BenchError;
use crate::{run_with_retries, LabOutput, LabSpec};

/// Memory per L1 node: room for a 1 GiB guest (bound to one node) and L1 itself.
pub const NODE_MIB: u32 = 1536;

/// A 2-node lab (1 CPU and [`NODE_MIB`] each) that needs tern, running `script`.
pub fn spec(name: &str, script: String, timeout: Duration) -> LabSpec {
    LabSpec::new(name, script)
        .with_nodes(2)
        .with_node_mib(NODE_MIB)
        .requiring_tern()
        .with_timeout(timeout)
}

/// Runs `spec` (with the runner's retries), printing a line when it starts and every
/// minute while it runs. A lab failure or a non-zero script status is an error of `part`.
pub fn run(part: &str, spec: &LabSpec) -> Result<LabOutput, BenchError> {
    println!(
        "bench: {part}: lab run {} started (time limit {} min)",
        spec.name,
        spec.timeout.as_secs().div_ceil(60)
    );
    let started = Instant::now();
    let (stop, stopped) = mpsc::channel::<()>();
    let name = spec.name.clone();
    let ticker = thread::spawn(move || {
        let mut minutes = 0;
        while let Err(mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(Duration::from_secs(60))
        {
            minutes += 1;
            println!("bench:   {name} still running ({minutes} min)");
        }
    });
    let result = run_with_retries(spec);
    drop(stop);
    let _ = ticker.join();
    let out = result.map_err(|source| BenchError::Lab {
        part: part.into(),
        source,
    })?;
    println!(
        "bench: {part}: lab run {} finished in {:.0} s (attempt {}, console {})",
        spec.name,
        started.elapsed().as_secs_f64(),
        out.attempts,
        out.log.display()
    );
    if out.status != 0 {
        return Err(BenchError::Script {
            part: part.into(),
            status: out.status,
            log: out.log.display().to_string(),
        });
    }
    Ok(out)
}

/// Runs `spec` for `part` ([`run`]) and turns its script's output into the part's result with
/// `analyze`, adding what every lab part reports: its console log, the attempts it took and
/// the alarming guest lines as notes. The lab's output comes back for anything else a part
/// reads from it.
pub fn run_and_analyze(
    part: &str,
    spec: &LabSpec,
    analyze: impl FnOnce(&str) -> Result<super::figure::PartResult, BenchError>,
) -> Result<(super::figure::PartResult, LabOutput), BenchError> {
    let out = run(part, spec)?;
    let mut result = analyze(&out.script_output)?;
    result.detail("console", out.log.display().to_string().into());
    result.detail("lab_attempts", out.attempts.into());
    for d in diagnostics(&out) {
        result.note(format!("guest console: {d}"));
    }
    Ok((result, out))
}

/// The `DIAG` lines a script printed (alarming guest output), for notes.
pub fn diagnostics(out: &LabOutput) -> Vec<String> {
    out.script_lines()
        .filter_map(|l| l.strip_prefix("DIAG "))
        .map(String::from)
        .collect()
}

/// Notes how often the guest died and was restarted (`REC vm_died`), and CPUs whose workload
/// fell silent while their VM ran on.
pub fn note_vm_deaths(result: &mut super::figure::PartResult, output: &str) {
    let deaths = super::records::records(output.lines(), "vm_died");
    if !deaths.is_empty() {
        let at: Vec<&str> = deaths.iter().filter_map(|r| r.get("at")).collect();
        result.note(format!(
            "the guest died {} time(s) (at L1 uptime {} s) and was started again; the measurements of a \
             window or move it died in do not count (its last console lines are in the notes above or the console log)",
            deaths.len(),
            at.join(", ")
        ));
    }
    for (epoch, beats) in super::heartbeat::by_epoch(output) {
        for (cpu, last) in beats.silent_cpus(10_000) {
            result.note(format!(
                "VM {epoch}: the workload on guest CPU {cpu} stopped sending heartbeats at guest uptime {:.1} s while the other CPU went on",
                last as f64 / 1000.0
            ));
        }
    }
    result.detail("vm_deaths", deaths.len().into());
}
