#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! tern's seccomp filters on this host's KVM with tiny guests: every thread of a running tern
//! runs under a filter (`Seccomp: 2`), the balancer's threads, the API's worker and the virtio
//! devices' workers too; a forbidden call from each kind of thread that can run here stops
//! tern with status 3 and one line naming the thread and the call (the
//! `TERN_SECCOMP_SELFTEST` hook); `--seccomp log` lets it through and `--seccomp off` installs
//! nothing, with a warning. (The page movers need a second NUMA node: lab_seccomp checks
//! them.)

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tern_tests::host_run::RunningTern;
use tern_tests::threads::{threads_of, ThreadInfo, RUNNING_THREADS};
use tern_tests::tiny_guest::{heartbeat_guest, writer_guest};

const FORBIDDEN_STATUS: i32 = 3;

/// Waits until tern has threads named `names` (and no thread that starts later); its threads.
fn wait_for_threads(tern: &RunningTern, names: &[&str]) -> Vec<ThreadInfo> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let threads = threads_of(tern.child.id());
        if names.iter().all(|n| threads.iter().any(|t| t.name == *n)) {
            return threads;
        }
        assert!(
            Instant::now() < deadline,
            "tern never had all of {names:?}: {threads:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tap name no other test uses at the same time (tern creates the tap and removes it);
/// `test` tells this file's tests apart.
fn tap_name(test: char) -> String {
    format!("ts{test}{}", std::process::id() % 1_000_000)
}

#[test]
fn every_thread_of_a_running_tern_runs_under_its_filter() {
    let image = std::env::temp_dir().join(format!("tern-seccomp-disk-{}", std::process::id()));
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let disk = format!("path={}", image.display());
    let net = format!("tap={}", tap_name('a'));
    let tern = RunningTern::start(
        "seccomp-threads",
        &writer_guest(),
        &[
            "--memory",
            "16M",
            "--vcpus",
            "2",
            "--auto-balance",
            "--disk",
            &disk,
            "--net",
            &net,
            // Pinned at launch: the kernel workers KVM starts on a vCPU's first run (Linux
            // 6.13 and later) copy the vCPU thread, and must carry its filter too.
            "--host-cpus",
            "0",
        ],
    );
    // A hot-first rebalance samples heat before it plans: its job thread starts the heat
    // sampler, and both live for a few samples.
    let (status, job) = tern.call(
        "POST",
        "/v1/rebalance",
        Some(json!({"policy": "hot-first", "host_node": 0})),
    );
    assert_eq!(status, 202, "{job}");
    let threads = wait_for_threads(&tern, &RUNNING_THREADS);
    println!("threads: {threads:?}");
    for thread in &threads {
        assert_eq!(thread.seccomp, 2, "{thread:?} runs without a filter");
    }
    let pid = tern.child.id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // The filters let every request through, quick ones (main thread) and slow ones
    // (api-worker): the VM still answers.
    for path in [
        "/v1/vm",
        "/v1/vcpus",
        "/v1/placement",
        "/v1/topology",
        "/v1/heat",
        "/metrics",
    ] {
        let (status, body) = tern.call("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
    }
    let (status, body) = tern.call("PUT", "/v1/auto-balance", Some(json!({"enabled": false})));
    assert_eq!(status, 200, "{body}");
    // A pin (sched_setaffinity from the main thread) of a vCPU that was not pinned at launch.
    let (status, body) = tern.call("PUT", "/v1/vcpus/0/affinity", Some(json!({"cpus": [0]})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["affinity"], json!([0]), "{body}");
    let vm = tern.get("/v1/vm");
    assert_eq!(vm["state"], "running", "{vm}");
    let _ = std::fs::remove_file(&image);
}

/// Runs tern with the self-test hook on `kind` until it exits (at most 30 s).
fn selftest_at_start(kind: &str, args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("tern-seccomp-{}-{kind}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("guest.elf");
    std::fs::write(&image, heartbeat_guest()).unwrap();
    let sock = dir.join("api.sock");
    let mut child = Command::new(tern_tests::paths::tern_bin().0)
        .args(["--kernel", image.to_str().unwrap(), "--memory", "16M"])
        .args(["--api-sock", sock.to_str().unwrap()])
        .args(args)
        .env("TERN_SECCOMP_SELFTEST", kind)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("tern did not stop on a forbidden call from {kind}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// The line a forbidden socket(2) call from `thread` prints.
fn report(thread: &str) -> String {
    format!("tern: seccomp: thread {thread} made a forbidden system call 41 (socket); stopping")
}

fn assert_stopped_by(out: &Output, thread: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(FORBIDDEN_STATUS),
        "stderr: {stderr}"
    );
    assert_eq!(
        stderr.lines().last(),
        Some(report(thread).as_str()),
        "{stderr}"
    );
}

#[test]
fn a_forbidden_call_stops_tern_and_names_the_thread_that_made_it() {
    let image = std::env::temp_dir().join(format!("tern-seccomp-disk-ro-{}", std::process::id()));
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let disk = format!("path={},readonly=on", image.display());
    let net = format!("tap={}", tap_name('b'));
    for (kind, thread, args) in [
        ("main", "main", &[][..]),
        ("console-out", "console-out", &[]),
        ("api", "api", &[]),
        ("api-worker", "api-worker", &[]),
        ("virtio-disk", "virtio-disk0", &["--disk", &disk]),
        ("virtio-net", "virtio-net0", &["--net", &net]),
        ("auto-balance", "auto-balance", &["--auto-balance"]),
    ] {
        let out = selftest_at_start(kind, args);
        assert_stopped_by(&out, thread);
    }
    let _ = std::fs::remove_file(&image);
    let out = selftest_at_start("vcpu", &["--vcpus", "2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(FORBIDDEN_STATUS), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last == report("vcpu0") || last == report("vcpu1"),
        "{stderr}"
    );
}

/// Starts tern with the self-test hook on `kind`, lets `start` make such a thread through
/// the API, and checks that tern stopped with the report of `kind`.
fn selftest_through_the_api(kind: &str, start: impl FnOnce(&RunningTern)) {
    let mut tern = RunningTern::start_with_env(
        &format!("seccomp-{kind}"),
        &writer_guest(),
        &["--memory", "16M"],
        &[("TERN_SECCOMP_SELFTEST", kind)],
    );
    start(&tern);
    let status = tern.wait_exit();
    let stderr = tern.stderr_text();
    assert_eq!(status, FORBIDDEN_STATUS, "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some(report(kind).as_str()),
        "{stderr}"
    );
}

#[test]
fn a_forbidden_call_from_the_balancer_or_the_heat_sampler_stops_tern() {
    // The API's answer may not arrive: tern stops as the thread starts.
    selftest_through_the_api("balancer", |tern| {
        let body = json!({"policy": "to-node", "host_node": 0}).to_string();
        let _ = tern
            .client
            .request("POST", "/v1/rebalance", Some(body.as_bytes()));
    });
    selftest_through_the_api("heat", |tern| {
        let _ = tern.client.put_json("/v1/heat", &json!({"enabled": true}));
    });
}

/// The local modes (`c_lflag`) of the terminal `fd`.
fn local_modes(fd: &OwnedFd) -> libc::tcflag_t {
    // SAFETY: tcgetattr fills the termios it is given; the descriptor is a live terminal.
    unsafe {
        let mut termios = std::mem::zeroed::<libc::termios>();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut termios), 0);
        termios.c_lflag
    }
}

#[test]
fn the_terminal_tern_made_raw_is_restored_at_exit_and_when_a_forbidden_call_stops_it() {
    let (_master, slave) = tern_tests::pty::open();
    let cooked = local_modes(&slave);
    assert_ne!(cooked & libc::ICANON, 0);
    let dir = std::env::temp_dir().join(format!("tern-seccomp-tty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("guest.elf");
    std::fs::write(&image, heartbeat_guest()).unwrap();
    let tern = |selftest: &str| {
        Command::new(tern_tests::paths::tern_bin().0)
            .args(["--kernel", image.to_str().unwrap(), "--memory", "16M"])
            .env("TERN_SECCOMP_SELFTEST", selftest)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // A clean stop (SIGTERM) restores it from the main thread, under its filter.
    let child = tern("");
    let deadline = Instant::now() + Duration::from_secs(10);
    while local_modes(&slave) & libc::ICANON != 0 {
        assert!(
            Instant::now() < deadline,
            "tern never made the terminal raw"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill only sends a signal to our own child, which has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(128 + libc::SIGTERM),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(local_modes(&slave), cooked, "the terminal was left raw");

    // A forbidden call restores it from the SIGSYS handler.
    let out = tern("vcpu").wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_stopped_by(&out, "vcpu0");
    assert_eq!(local_modes(&slave), cooked, "the terminal was left raw");
}

#[test]
fn log_mode_lets_a_forbidden_call_through_and_off_installs_no_filter() {
    let tern = RunningTern::start_with_env(
        "seccomp-log",
        &heartbeat_guest(),
        &["--memory", "16M", "--seccomp", "log"],
        &[("TERN_SECCOMP_SELFTEST", "vcpu")],
    );
    tern.wait_for_heartbeats(3);
    let threads = threads_of(tern.child.id());
    assert!(threads.iter().all(|t| t.seccomp == 2), "{threads:?}");
    assert!(
        !tern.stderr_text().contains("seccomp"),
        "{}",
        tern.stderr_text()
    );
    drop(tern);

    let tern = RunningTern::start_with_env(
        "seccomp-off",
        &heartbeat_guest(),
        &["--memory", "16M", "--seccomp", "off"],
        &[],
    );
    tern.wait_for_heartbeats(3);
    let threads = threads_of(tern.child.id());
    assert!(threads.iter().all(|t| t.seccomp == 0), "{threads:?}");
    assert!(
        tern.stderr_text().contains(
            "tern: warning: --seccomp off: tern's threads run without seccomp filters; use it \
             only for debugging"
        ),
        "{}",
        tern.stderr_text()
    );
}
