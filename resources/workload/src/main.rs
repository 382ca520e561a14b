//! tern-workload: fills memory with a known pattern and verifies it in passes, so that a
//! guest can tell whether its memory stayed intact while the host moved its pages.
//!
//! Output (one line each):
//!   `HB pass=P uptime_ms=U pass_ms=D errors=E`   after each pass (pass 0 is the fill)
//!   `ERR pass=P word=I offset=0x.. expected=0x.. found=0x..`   for the first wrong words
//!   `WORKLOAD DONE passes=P errors=E mib=N`   at the end; exit status 0 iff E == 0

mod args;
mod pattern;
mod sys;

use std::io::Write;
use std::process::ExitCode;

/// At most this many wrong words are printed; all are counted.
const MAX_REPORTED: usize = 16;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // Nothing useful can be done if the console is gone; the exit status still tells.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(args::ArgError::Help) => {
            say(args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tern-workload: {e}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("tern-workload: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the passes and returns the number of wrong words found.
fn run(args: &args::Args) -> Result<u64, String> {
    sys::catch_stop_signals().map_err(|e| format!("cannot catch SIGTERM/SIGINT: {e}"))?;
    if let Some(cpu) = args.cpu {
        sys::pin_to_cpu(cpu).map_err(|e| format!("cannot pin to CPU {cpu}: {e}"))?;
    }
    let mut region =
        sys::Region::new(args.mib).map_err(|e| format!("cannot map {} MiB: {e}", args.mib))?;
    let started = sys::uptime_ms();
    let heartbeat = |pass: u64, pass_start: u64, errors: u64| {
        if !args.quiet {
            let now = sys::uptime_ms();
            say(&format!(
                "HB pass={pass} uptime_ms={now} pass_ms={} errors={errors}",
                now - pass_start
            ));
        }
    };

    pattern::fill(region.words(), 0, 0);
    heartbeat(0, started, 0);

    let mut report = Vec::with_capacity(MAX_REPORTED);
    let mut errors = 0u64;
    let mut pass = 0u64;
    while !done(args, pass, started) {
        pass += 1;
        let pass_start = sys::uptime_ms();
        let already = report.len();
        let found = pattern::verify_and_rewrite(region.words(), 0, pass, &mut report);
        for m in &report[already..] {
            say(&format!(
                "ERR pass={pass} word={} offset={:#x} expected={:#018x} found={:#018x}",
                m.index,
                m.index * 8,
                m.expected,
                m.found
            ));
        }
        errors += found;
        heartbeat(pass, pass_start, found);
    }
    say(&format!(
        "WORKLOAD DONE passes={pass} errors={errors} mib={}",
        args.mib
    ));
    Ok(errors)
}

/// Whether to stop before starting pass `pass + 1`.
fn done(args: &args::Args, pass: u64, started_ms: u64) -> bool {
    if sys::stop_requested() {
        return true;
    }
    if args.passes.is_some_and(|p| pass >= p) {
        return true;
    }
    if let Some(s) = args.seconds {
        return sys::uptime_ms().saturating_sub(started_ms) >= s * 1000;
    }
    false
}
