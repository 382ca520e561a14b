//! Running a lab: boot L1 under QEMU, follow its console, and tell the script's result
//! apart from the lab's own failures.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::console::{self, Event};
use crate::error::{FailureReason, LabError, LabFailure};
use crate::guest_fault::GuestFaultWatch;
use crate::output::LabOutput;
use crate::qemu::{self, Qemu};
use crate::spec::LabSpec;
use crate::{initramfs, ledger, lock, logs, paths};

/// How many times a lab failure is retried by [`run_with_retries`].
pub const MAX_RETRIES: u32 = 2;
/// How long QEMU may take to power off after the exit marker before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(30);

/// Runs `spec` once. `Ok` whenever the script ran to its end, whatever its exit status;
/// `Err(LabError::Lab(..))` when the lab itself failed. The run goes into the ledger.
pub fn run(spec: &LabSpec) -> Result<LabOutput, LabError> {
    let result = run_attempt(spec, 1);
    record(spec, 1, &result, None);
    result
}

/// Runs `spec`, retrying a lab failure at most [`MAX_RETRIES`] times and saying so on
/// stderr (past the test harness's capture). A script's non-zero exit is a result, never
/// retried. The run, with its attempts, goes into the ledger.
pub fn run_with_retries(spec: &LabSpec) -> Result<LabOutput, LabError> {
    let mut attempt = 1;
    let mut first_failure = None;
    loop {
        match run_attempt(spec, attempt) {
            Err(LabError::Lab(f)) if attempt <= MAX_RETRIES => {
                ledger::say(&format!(
                    "lab: retry {attempt}/{MAX_RETRIES} of {}: {} (console: {})",
                    spec.name,
                    f.reason,
                    f.log.display()
                ));
                first_failure.get_or_insert_with(|| f.reason.to_string());
                attempt += 1;
            }
            other => {
                record(spec, attempt, &other, first_failure.as_deref());
                return other;
            }
        }
    }
}

/// Writes a run into the ledger.
fn record(
    spec: &LabSpec,
    attempts: u32,
    result: &Result<LabOutput, LabError>,
    retried_for: Option<&str>,
) {
    let ended = match result {
        Ok(out) => format!("script exit status {}", out.status),
        Err(e) => format!("{e}"),
    };
    let outcome = match retried_for {
        Some(reason) => format!("{ended}; retried after: {reason}"),
        None => ended,
    };
    ledger::record(&spec.name, attempts, &outcome);
}

/// What following the console found.
#[derive(Debug, Default)]
struct Watch {
    lines: Vec<String>,
    script: Vec<String>,
    ready: Option<Duration>,
    status: Option<i32>,
    failure: Option<FailureReason>,
}

fn run_attempt(spec: &LabSpec, attempt: u32) -> Result<LabOutput, LabError> {
    spec.validate()?;
    let _lock = lock::acquire()?;
    paths::ensure_resources()?;
    let initrd = initramfs::prepare(spec)?;
    let kernel = paths::kernel_dir().join("bzImage");
    let args = qemu::qemu_args(spec, &kernel, &initrd.path);

    let started = Instant::now();
    let mut qemu = Qemu::start(&args).map_err(LabError::io(format!(
        "start {} (install qemu-system-x86 or run resources/install-deps.sh)",
        qemu::qemu_binary()
    )))?;
    let lines = spawn_line_reader(qemu.child_mut().stdout.take());
    let stderr = spawn_collector(qemu.child_mut().stderr.take());

    let mut watch = follow(spec, &lines, started);
    let exit = qemu.kill();
    let wall = started.elapsed();
    drop(lines);
    let stderr = stderr.join().unwrap_or_default();

    if watch.failure.is_none() && watch.status.is_none() {
        watch.failure = Some(FailureReason::QemuExited {
            status: match &exit {
                Ok(s) => s.to_string(),
                Err(e) => format!("unknown status: {e}"),
            },
            stderr: last_lines(&stderr, 3),
        });
    }
    let log = logs::log_path(&spec.name, attempt);
    let summary = match (&watch.failure, watch.status) {
        (Some(reason), _) => format!("lab failure: {reason}"),
        (None, Some(s)) => format!("script exit status {s}"),
        (None, None) => "no result".to_string(),
    };
    logs::write(&log, &args, &watch.lines, &stderr, &summary, wall)?;

    if let Some(reason) = watch.failure {
        return Err(LabFailure {
            reason,
            attempt,
            log,
        }
        .into());
    }
    Ok(LabOutput {
        status: watch.status.unwrap_or(-1),
        console: watch.lines.join("\n"),
        script_output: watch.script.join("\n"),
        wall,
        boot: watch.ready.unwrap_or_default(),
        initramfs_time: initrd.build_time,
        attempts: attempt,
        log,
    })
}

/// Reads console lines until a result, a lab failure, a time limit or QEMU's end.
fn follow(spec: &LabSpec, lines: &mpsc::Receiver<String>, started: Instant) -> Watch {
    let mut w = Watch::default();
    let deadline = started + spec.timeout;
    let ready_deadline = started + spec.ready_timeout.min(spec.timeout);
    let mut grace_deadline = None;
    let mut last_line = started;
    let mut guest_faults = GuestFaultWatch::default();
    loop {
        let (limit, why) = match (grace_deadline, w.ready) {
            (Some(g), _) => (g, Limit::Run),
            (None, None) if ready_deadline < deadline => (ready_deadline, Limit::Ready),
            (None, None) => (deadline, Limit::Run),
            // While the script runs, L1 prints a sign of life every few seconds.
            (None, Some(_)) if last_line + spec.silence_limit < deadline => {
                (last_line + spec.silence_limit, Limit::Silence)
            }
            (None, Some(_)) => (deadline, Limit::Run),
        };
        // Checked before each read, so that a console that never stops talking still
        // meets the time limit.
        let left = limit.saturating_duration_since(Instant::now());
        let received = if left.is_zero() {
            Err(RecvTimeoutError::Timeout)
        } else {
            lines.recv_timeout(left)
        };
        let raw = match received {
            Ok(raw) => raw,
            Err(RecvTimeoutError::Disconnected) => return w,
            Err(RecvTimeoutError::Timeout) => {
                if w.status.is_none() {
                    w.failure = Some(match why {
                        Limit::Ready => FailureReason::NotReady(spec.ready_timeout),
                        Limit::Silence => FailureReason::Frozen(spec.silence_limit),
                        Limit::Run => FailureReason::Timeout(spec.timeout),
                    });
                }
                return w;
            }
        };
        last_line = Instant::now();
        let line = console::clean(&raw);
        if spec.echo {
            println!("{line}");
        }
        let event = console::classify(&line);
        w.lines.push(line.clone());
        if w.status.is_some() {
            continue; // L1 is powering off; nothing it says changes the result.
        }
        let fail = match event {
            Event::Ready => {
                w.ready = Some(started.elapsed());
                None
            }
            Event::Exit(status) => {
                w.status = Some(status);
                grace_deadline = Some(Instant::now() + EXIT_GRACE);
                None
            }
            Event::Script(text) => {
                let fault = guest_faults.observe(&text);
                w.script.push(text);
                fault.map(FailureReason::GuestTripleFault)
            }
            Event::Broken(why) => Some(FailureReason::InitBroken(why)),
            Event::SoftLockup => Some(FailureReason::SoftLockup(line)),
            Event::Panic => Some(FailureReason::KernelPanic(line)),
            Event::Oops => Some(FailureReason::KernelOops(line)),
            Event::Alive | Event::Other => None,
        };
        if fail.is_some() {
            w.failure = fail;
            return w;
        }
    }
}

/// Which time limit the runner waits on.
#[derive(Clone, Copy)]
enum Limit {
    /// L1 must print its ready marker.
    Ready,
    /// The run's (or the power-off grace's) end.
    Run,
    /// L1 must print something, if only its sign of life.
    Silence,
}

/// Sends each line of `pipe` (lossy UTF-8, newline removed) until it closes.
fn spawn_line_reader<R: Read + Send + 'static>(pipe: Option<R>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(pipe) = pipe {
        thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf)
                            .trim_end_matches('\n')
                            .to_string();
                        if tx.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
    }
    rx
}

/// Collects all of `pipe` into a string.
fn spawn_collector<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    })
}

/// The last `n` lines of QEMU's stderr that are not warnings, joined on one line.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("warning:"))
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> LabSpec {
        LabSpec::new("follow", "true")
            .with_timeout(Duration::from_secs(20))
            .with_silence_limit(Duration::from_millis(300))
    }

    /// Sends `lines`, one every `gap`, from another thread, then keeps the channel open
    /// (silent) for `hold`.
    fn console(lines: &[&str], gap: Duration, hold: Duration) -> mpsc::Receiver<String> {
        let (tx, rx) = mpsc::channel();
        let lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        thread::spawn(move || {
            for line in lines {
                thread::sleep(gap);
                if tx.send(line).is_err() {
                    return;
                }
            }
            thread::sleep(hold);
        });
        rx
    }

    #[test]
    fn signs_of_life_keep_a_quiet_script_going() {
        let mut lines = vec!["TERN-LAB-READY uptime=3.0"];
        lines.extend(["TERN-LAB-ALIVE"; 6]);
        lines.push("TERN-LAB-EXIT status=0");
        // Six signs of life 100 ms apart outlast the 300 ms limit several times over.
        let rx = console(&lines, Duration::from_millis(100), Duration::ZERO);
        let w = follow(&spec(), &rx, Instant::now());
        assert_eq!(w.failure, None);
        assert_eq!(w.status, Some(0));
    }

    #[test]
    fn a_silent_l1_is_frozen() {
        let lines = ["TERN-LAB-READY uptime=3.0", "| working", "TERN-LAB-ALIVE"];
        let rx = console(&lines, Duration::from_millis(10), Duration::from_secs(5));
        let started = Instant::now();
        let w = follow(&spec(), &rx, started);
        assert_eq!(
            w.failure,
            Some(FailureReason::Frozen(Duration::from_millis(300)))
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(w.script, ["working"]);
    }

    #[test]
    fn silence_before_ready_is_the_ready_limit() {
        let spec = spec().with_ready_timeout(Duration::from_millis(200));
        let rx = console(&[], Duration::ZERO, Duration::from_secs(5));
        let w = follow(&spec, &rx, Instant::now());
        assert_eq!(
            w.failure,
            Some(FailureReason::NotReady(Duration::from_millis(200)))
        );
    }
}
