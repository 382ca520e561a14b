#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Hostile guests on this host's own KVM. Each hand-made guest hammers one part of tern
//! forever: it floods the serial port (into a stdout nobody reads, or over a limit), spins on
//! the serial receive register, or touches random I/O ports and MMIO addresses; another
//! triple-faults. Through all of them tern answers its API, its main thread stays all but
//! idle (it has nothing to do with any of it), the console output stays within the limit
//! given, and SIGTERM stops tern within 2 s.
//!
//! Needs the tern binary: `cargo build --release` (or TERN_BIN=path).

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tern_tests::host_run::{tern_bin, RunningTern};
use tern_tests::tiny_guest::{hello_guest, hostile};

/// CPU time each hostile guest's vCPU gets before tern is stopped (on a busy 2-core host
/// that may take several seconds of wall time, never more than [`RUN_MAX`]).
const RUN_CPU_S: f64 = 0.5;
/// The longest a hostile guest runs.
const RUN_MAX: Duration = Duration::from_secs(15);
/// The console limit every hostile run is given.
const CONSOLE_LIMIT: u64 = 64 * 1024;
/// How soon tern must be gone after SIGTERM.
const STOP_BOUND: Duration = Duration::from_secs(2);

/// CPU seconds two of tern's threads used while the guest ran.
#[derive(Debug)]
struct CpuUse {
    main: f64,
    vcpu: f64,
}

impl CpuUse {
    /// The main thread serves the event loop and the API; a guest's port I/O is the vCPU
    /// thread's business. Before the receive register stopped waking it, the main thread
    /// took 0.3 s of CPU per second of a guest reading it in a loop.
    fn assert_main_thread_idle(&self) {
        println!("CPU while the guest ran: {self:?}");
        assert!(self.vcpu >= RUN_CPU_S, "the guest hardly ran: {self:?}");
        assert!(
            self.main <= 0.05 * self.vcpu + 0.03,
            "the main thread worked for the guest: {self:?}"
        );
    }
}

fn start(name: &str, guest: &[u8], extra: &[&str], stdout: Stdio) -> RunningTern {
    let limit = CONSOLE_LIMIT.to_string();
    let mut args = vec!["--memory", "16M", "--console-limit", &limit];
    args.extend_from_slice(extra);
    RunningTern::start_with_stdout(name, guest, &args, stdout)
}

/// Lets the guest run until its vCPU has had [`RUN_CPU_S`] of CPU, asking the API for the
/// VM's state four times a second; the CPU the main thread and the vCPU thread used meanwhile.
fn run_answering_the_api(tern: &RunningTern) -> CpuUse {
    let vcpu = tern.vcpu_tid(0);
    let (main0, vcpu0) = (tern.main_thread_cpu_s(), tern.thread_cpu_s(vcpu));
    let end = Instant::now() + RUN_MAX;
    while tern.thread_cpu_s(vcpu) - vcpu0 < RUN_CPU_S && Instant::now() < end {
        let vm = tern.get("/v1/vm");
        assert_eq!(vm["state"], "running", "{vm}");
        std::thread::sleep(Duration::from_millis(250));
    }
    CpuUse {
        main: tern.main_thread_cpu_s() - main0,
        vcpu: tern.thread_cpu_s(vcpu) - vcpu0,
    }
}

fn assert_stops_on_sigterm(tern: &mut RunningTern) {
    let (status, took) = tern.sigterm();
    println!("stopped {took:?} after SIGTERM");
    assert_eq!(status, 128 + libc::SIGTERM, "{}", tern.stderr_text());
    assert!(
        took < STOP_BOUND,
        "tern took {took:?} to stop: {}",
        tern.stderr_text()
    );
}

/// The value of one series of `GET /metrics`, like `tern_console_bytes_total{kind="written"}`
/// (the VM's `vm` label, first in every series, is added here).
fn metric(tern: &RunningTern, series: &str) -> u64 {
    let text = tern.client.get("/metrics").unwrap().body;
    let key = format!("{} ", series.replacen('{', "{vm=\"api\",", 1));
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .parse()
        .unwrap()
}

/// tern's exits of vCPU 0 by reason, from `GET /metrics`.
fn exits(tern: &RunningTern, reason: &str) -> u64 {
    metric(
        tern,
        &format!("tern_vcpu_exits_total{{vcpu=\"0\",reason=\"{reason}\"}}"),
    )
}

/// The bytes a small pipe holds (one page).
const SMALL_PIPE: usize = 4096;

/// A pipe that holds [`SMALL_PIPE`] bytes, so a guest fills it at once.
fn small_pipe() -> (std::fs::File, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array it is given.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: resizes the pipe just created; the result is checked.
    let size = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, SMALL_PIPE as libc::c_int) };
    assert_eq!(size, SMALL_PIPE as libc::c_int);
    // SAFETY: both descriptors were just created and are owned here only.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

/// Before the console had a buffer of its own, the vCPU blocked in write(2) holding the
/// UART's lock once the pipe was full, and tern was still running 10 s after SIGTERM.
#[test]
fn a_guest_flooding_a_stdout_nobody_reads_cannot_stall_tern() {
    let (_never_read, write_end) = small_pipe();
    let mut tern = start(
        "flood-pipe",
        &hostile::serial_flood(),
        &[],
        Stdio::from(write_end),
    );
    // Well past what the pipe holds.
    let deadline = Instant::now() + Duration::from_secs(20);
    while exits(&tern, "io_out") < 4 * SMALL_PIPE as u64 {
        assert!(Instant::now() < deadline, "the guest does not write");
        std::thread::sleep(Duration::from_millis(50));
    }
    let written = exits(&tern, "io_out");
    let cpu = run_answering_the_api(&tern);
    cpu.assert_main_thread_idle();
    assert!(exits(&tern, "io_out") > written + 1000, "the vCPU is stuck");
    let from_guest = metric(&tern, "tern_console_bytes_total{kind=\"from_guest\"}");
    let reached_stdout = metric(&tern, "tern_console_bytes_total{kind=\"written\"}");
    assert!(from_guest > written, "{from_guest} bytes from the guest");
    assert!(
        reached_stdout <= SMALL_PIPE as u64,
        "{reached_stdout} bytes written into a pipe of {SMALL_PIPE}"
    );
    assert_stops_on_sigterm(&mut tern);
    let stderr = tern.stderr_text();
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.contains("stdout did not take the last of the guest's console output"))
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn a_flood_is_cut_at_the_console_limit_with_one_warning() {
    let console = std::env::temp_dir().join(format!("tern-hostile-{}.out", std::process::id()));
    let file = std::fs::File::create(&console).unwrap();
    let mut tern = start("flood-limit", &hostile::serial_flood(), &[], file.into());
    let size = || std::fs::metadata(&console).unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while size() < CONSOLE_LIMIT {
        assert!(Instant::now() < deadline, "only {} bytes of output", size());
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu = run_answering_the_api(&tern);
    cpu.assert_main_thread_idle();
    assert_eq!(
        size(),
        CONSOLE_LIMIT,
        "the guest kept writing past the limit"
    );
    assert_eq!(
        metric(&tern, "tern_console_bytes_total{kind=\"written\"}"),
        CONSOLE_LIMIT
    );
    assert!(metric(&tern, "tern_console_dropped_bytes_total{reason=\"limit\"}") > 0);
    assert_stops_on_sigterm(&mut tern);
    assert_eq!(size(), CONSOLE_LIMIT);
    let stderr = tern.stderr_text();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        ["tern: warning: the guest's console output reached --console-limit (65536 bytes); the rest is dropped"],
    );
    let _ = std::fs::remove_file(&console);
}

#[test]
fn a_flood_is_held_to_the_console_rate() {
    let console =
        std::env::temp_dir().join(format!("tern-hostile-rate-{}.out", std::process::id()));
    let file = std::fs::File::create(&console).unwrap();
    let started = Instant::now();
    let mut tern = start(
        "flood-rate",
        &hostile::serial_flood(),
        &["--console-rate", "4K"],
        file.into(),
    );
    let cpu = run_answering_the_api(&tern);
    cpu.assert_main_thread_idle();
    assert_stops_on_sigterm(&mut tern);
    let written = std::fs::metadata(&console).unwrap().len();
    // One second's worth at once, then 4 KiB per second.
    let allowed = 4096.0 * (started.elapsed().as_secs_f64() + 1.0);
    assert!(
        written > 4096 && (written as f64) <= allowed,
        "{written} bytes in {:?}",
        started.elapsed()
    );
    let stderr = tern.stderr_text();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        ["tern: warning: the guest's console output goes over --console-rate (4096 bytes/s); the excess is dropped"],
    );
    let _ = std::fs::remove_file(&console);
}

#[test]
fn a_guest_spinning_on_the_receive_register_does_not_wake_the_main_thread() {
    let mut tern = start(
        "rx-spin",
        &hostile::receive_spin(),
        &[],
        Stdio::from(std::fs::File::create("/dev/null").unwrap()),
    );
    let cpu = run_answering_the_api(&tern);
    assert!(exits(&tern, "io_in") > 1000);
    cpu.assert_main_thread_idle();
    assert_stops_on_sigterm(&mut tern);
}

#[test]
fn a_guest_touching_random_ports_and_mmio_changes_nothing_for_tern() {
    let console =
        std::env::temp_dir().join(format!("tern-hostile-chaos-{}.out", std::process::id()));
    let file = std::fs::File::create(&console).unwrap();
    let mut tern = start("chaos", &hostile::port_and_mmio_chaos(), &[], file.into());
    let cpu = run_answering_the_api(&tern);
    cpu.assert_main_thread_idle();
    for reason in ["io_in", "io_out", "mmio_read", "mmio_write"] {
        assert!(exits(&tern, reason) > 100, "{reason}");
    }
    assert_stops_on_sigterm(&mut tern);
    assert!(std::fs::metadata(&console).unwrap().len() <= CONSOLE_LIMIT);
    let _ = std::fs::remove_file(&console);
}

#[test]
fn a_triple_fault_is_reported_as_a_guest_crash() {
    let dir = std::env::temp_dir().join(format!("tern-hostile-tf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join("triple-fault.elf");
    std::fs::write(&kernel, hostile::triple_fault()).unwrap();
    let out = Command::new(tern_bin())
        .args(["--kernel", kernel.to_str().unwrap(), "--memory", "16M"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "tern: the guest crashed: vCPU 0 triple-faulted\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// What a guest printing `message` shows on a terminal through tern with `args`.
fn on_a_terminal(message: &str, args: &[&str]) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("tern-hostile-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join("escapes.elf");
    std::fs::write(&kernel, hello_guest(message)).unwrap();
    // tern's stdout is the slave side; the test reads the master side.
    let (mut master, slave) = tern_tests::pty::open();
    let mut child = Command::new(tern_bin())
        .args(["--kernel", kernel.to_str().unwrap(), "--memory", "16M"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(slave))
        .spawn()
        .unwrap();
    assert!(child.wait().unwrap().success());
    // With every slave descriptor closed, the master reads what was written, then EIO.
    let mut shown = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        shown.extend_from_slice(&buf[..n]);
    }
    let _ = std::fs::remove_dir_all(&dir);
    shown
}

/// The terminal reset tern sends at exit (devices/src/console/filter.rs) begins so.
const RESET_START: &[u8] = b"\x18\x1b7\x1b[r\x1b8\x1b[0m";

#[test]
fn a_terminal_gets_colours_but_no_title_or_queries_and_is_reset_at_exit() {
    let message = "\x1b]0;owned\x07\x1b[31mred\x1b[0m\x1b[c\x1bP$qm\x1b\\\x1b[?1049hok";
    let shown = on_a_terminal(message, &[]);
    assert!(
        shown.starts_with(b"\x1b[31mred\x1b[0mok"),
        "{}",
        String::from_utf8_lossy(&shown)
    );
    assert!(
        shown[b"\x1b[31mred\x1b[0mok".len()..].starts_with(RESET_START),
        "{}",
        String::from_utf8_lossy(&shown)
    );

    let shown = on_a_terminal(message, &["--console-filter", "off"]);
    assert!(
        shown.starts_with(message.as_bytes()),
        "{}",
        String::from_utf8_lossy(&shown)
    );
}
