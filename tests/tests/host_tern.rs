#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Tern on this host's own KVM, without the lab: a tiny hand-made guest proves the vCPU loop,
//! port I/O, the serial console and the i8042 exit path; bad input is refused with one clear
//! line and exit status 1 before any guest runs.
//!
//! Needs the tern binary: `cargo build --release` (or TERN_BIN=path).

use std::path::PathBuf;
use std::process::{Command, Output};

fn tern_bin() -> PathBuf {
    let (bin, _) = tern_tests::paths::tern_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release` first",
        bin.display()
    );
    bin
}

fn tern(args: &[&str]) -> Output {
    Command::new(tern_bin())
        .args(args)
        .output()
        .expect("tern runs")
}

fn tiny_guest(message: &str) -> Vec<u8> {
    tern_tests::tiny_guest::hello_guest(message)
}

fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-host-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn stderr_line(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        text.lines().count(),
        1,
        "want exactly one error line, got: {text:?}"
    );
    text
}

#[test]
fn tiny_guest_prints_through_the_serial_port_and_resets() {
    let kernel = write_temp("tiny.elf", &tiny_guest("Hello from a tiny guest\n"));
    for vcpus in ["1", "2"] {
        let out = tern(&[
            "--kernel",
            kernel.to_str().unwrap(),
            "--memory",
            "16M",
            "--vcpus",
            vcpus,
        ]);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Hello from a tiny guest\n"
        );
        assert!(
            out.status.success(),
            "status {:?}, stderr {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn missing_kernel_is_one_clear_error() {
    let out = tern(&["--kernel", "/nonexistent/vmlinux"]);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr_line(&out);
    assert!(
        line.contains("cannot open the kernel /nonexistent/vmlinux"),
        "{line}"
    );
    assert!(line.contains("No such file"), "{line}");
}

#[test]
fn file_that_is_no_kernel_is_refused() {
    let kernel = write_temp("script.sh", b"#!/bin/sh\necho I am not a kernel\n");
    let out = tern(&["--kernel", kernel.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("is neither an ELF vmlinux nor a bzImage"));
}

#[test]
fn truncated_bzimage_is_refused() {
    let mut bytes = vec![0u8; 0x300];
    bytes[0x202..0x206].copy_from_slice(b"HdrS");
    let kernel = write_temp("short-bzimage", &bytes);
    let out = tern(&["--kernel", kernel.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("cannot load the kernel"));
}

#[test]
fn an_elf_segment_below_1_mib_is_refused() {
    let elf = tern_tests::tiny_guest::elf_at(0x8000, &[0xf4, 0xeb, 0xfd]);
    let kernel = write_temp("low.elf", &elf);
    let out = tern(&["--kernel", kernel.to_str().unwrap(), "--memory", "16M"]);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr_line(&out);
    assert!(
        line.contains("cannot be loaded: a segment at 0x8000-0x8003 lies below 1 MiB, where the boot structures live"),
        "{line}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn initramfs_that_does_not_fit_is_refused() {
    let kernel = write_temp("tiny2.elf", &tiny_guest("unused"));
    let initramfs = write_temp("big.cpio", &vec![0x55u8; 20 << 20]);
    let out = tern(&[
        "--kernel",
        kernel.to_str().unwrap(),
        "--initramfs",
        initramfs.to_str().unwrap(),
        "--memory",
        "16M",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr_line(&out);
    assert!(line.contains("does not fit"), "{line}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_initramfs_is_refused() {
    let kernel = write_temp("tiny3.elf", &tiny_guest("unused"));
    let out = tern(&[
        "--kernel",
        kernel.to_str().unwrap(),
        "--initramfs",
        "/nonexistent.cpio",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("cannot open the initramfs /nonexistent.cpio"));
}

#[test]
fn vcpu_counts_outside_the_host_limit_are_refused() {
    let kernel = write_temp("tiny4.elf", &tiny_guest("unused"));
    for count in ["0", "100000"] {
        let out = tern(&["--kernel", kernel.to_str().unwrap(), "--vcpus", count]);
        assert_eq!(out.status.code(), Some(1), "{count} vCPUs");
        let line = stderr_line(&out);
        assert!(
            line.contains(&format!("{count} vCPUs requested; this host allows 1 to")),
            "{line}"
        );
    }
}

#[test]
fn memory_beyond_the_host_is_refused() {
    let kernel = write_temp("tiny5.elf", &tiny_guest("unused"));
    let out = tern(&["--kernel", kernel.to_str().unwrap(), "--memory", "64T"]);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr_line(&out);
    assert!(
        line.contains("64 TiB") || line.contains("65536 GiB"),
        "{line}"
    );
    assert!(line.contains("available"), "{line}");
}

#[test]
fn malformed_arguments_are_one_line() {
    for args in [
        &["--memory", "lots", "--kernel", "/k"][..],
        &[][..],
        &["--vcpus", "two", "--kernel", "/k"][..],
    ] {
        let out = tern(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        stderr_line(&out);
    }
}

#[test]
fn numa_guest_on_this_host_is_bound_prefaulted_and_reported() {
    let kernel = write_temp("tiny6.elf", &tiny_guest("numa\n"));
    let out = tern(&[
        "--kernel",
        kernel.to_str().unwrap(),
        "--numa",
        "node=0,vcpus=0,memory=16M,host-node=0",
        "--memory-backing",
        "thp",
        "--prefault",
        "--print-placement-on-exit",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let region = stderr
        .lines()
        .find(|l| l.starts_with("tern: placement region "))
        .expect("a region line");
    assert!(
        region.contains("guest_node=0 gpa=0x0-0x1000000 "),
        "{region}"
    );
    assert!(
        region.contains(" policy=bind:0 pages=4096 sampled=4096 N0=4096 absent=0"),
        "{region}"
    );
    assert!(
        stderr.contains("tern: placement guest_node=0 pages=4096 sampled=4096 N0=4096 absent=0"),
        "{stderr}"
    );
}

fn refused(args: &[&str], expected: &str) {
    let kernel = write_temp("tiny7.elf", &tiny_guest("unused"));
    let mut all = vec!["--kernel", kernel.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = tern(&all);
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let line = stderr_line(&out);
    assert!(line.contains(expected), "{args:?}: {line}");
    assert!(out.stdout.is_empty(), "no guest may run");
}

#[test]
fn numa_configurations_the_host_cannot_give_are_refused() {
    let nodes = std::fs::read_to_string("/sys/devices/system/node/online").unwrap();
    refused(
        &["--host-node", "63"],
        &format!(
            "host node 63 does not exist (this host has nodes {})",
            nodes.trim()
        ),
    );
    refused(
        &["--numa", "node=0,vcpus=0,memory=16M,host-node=63"],
        "host node 63 does not exist",
    );
    refused(
        &["--memory", "65M", "--memory-backing", "hugetlb"],
        "hugetlb backing needs a multiple of 2 MiB",
    );

    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib = |key: &str| -> u64 {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap()
            .parse()
            .unwrap()
    };
    if kib("HugePages_Free:") == 0 {
        refused(
            &["--memory", "64M", "--memory-backing", "hugetlb"],
            "hugetlb backing needs 32 free 2 MiB huge pages",
        );
    }
    let node0 = std::fs::read_to_string("/sys/devices/system/node/node0/meminfo").unwrap();
    let node0_free_mib: u64 = node0
        .lines()
        .find(|l| l.contains("MemFree:"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024;
    let want = node0_free_mib + 256;
    if want < kib("MemAvailable:") / 1024 {
        refused(
            &["--memory", &format!("{want}M"), "--host-node", "0"],
            "but that node has only",
        );
    } else {
        println!("skipped: node 0's free memory is not below what the host has available");
    }
}

#[test]
fn contradictory_numa_configurations_are_refused() {
    refused(
        &[
            "--numa",
            "node=0,vcpus=0-1,memory=16M",
            "--numa",
            "node=1,vcpus=1,memory=16M",
        ],
        "vCPU 1 is in guest nodes 0 and 1",
    );
    refused(
        &[
            "--numa",
            "node=0,vcpus=0,memory=16M",
            "--numa",
            "node=2,vcpus=1,memory=16M",
        ],
        "node 1 is missing",
    );
    refused(
        &["--numa", "node=0,vcpus=0,memory=16M", "--vcpus", "2"],
        "--vcpus 2 disagrees with the 1 vCPUs",
    );
    refused(
        &["--numa", "node=0,vcpus=0,memory=16M", "--host-node", "0"],
        "--host-node applies without --numa",
    );
    refused(&["--numa", "node=0,vcpus=0"], "'memory=' is missing");
    refused(
        &["--numa", "node=0,vcpus=0,memory=16M", "--host-cpus", "0"],
        "--host-cpus applies without --numa",
    );
}

#[test]
fn host_cpus_the_host_lacks_or_tern_may_not_use_are_refused() {
    let present = std::fs::read_to_string("/sys/devices/system/cpu/present").unwrap();
    refused(
        &["--host-cpus", "4095"],
        &format!(
            "host CPU 4095 in --host-cpus does not exist (this host has CPUs {})",
            present.trim()
        ),
    );
    refused(
        &["--numa", "node=0,vcpus=0,memory=16M,host-cpus=0,4095"],
        "host CPU 4095 in guest node 0's host-cpus does not exist",
    );
    refused(
        &["--vmm-cpus", "4095"],
        "host CPU 4095 in --vmm-cpus does not exist",
    );
    refused(&["--host-cpus", "all"], "'all' is not a list of numbers");
    // Run tern on CPU 0 only (as taskset would), and ask for CPU 1.
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap();
    if online.trim() == "0" {
        println!("skipped the affinity case: this host has one CPU");
        return;
    }
    let kernel = write_temp("tiny9.elf", &tiny_guest("unused"));
    let mut command = Command::new(tern_bin());
    command.args(["--kernel", kernel.to_str().unwrap(), "--host-cpus", "1"]);
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // sched_setaffinity, which is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(0, &mut set);
            if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr_line(&out).trim_end(),
        "tern: host CPU 1 in --host-cpus is not one tern may use (tern's CPU affinity, which \
         taskset or its cpuset set, is 0)"
    );
    assert!(out.stdout.is_empty(), "no guest may run");
}

#[test]
fn a_config_file_describes_the_vm_and_flags_override_it() {
    let kernel = write_temp("tiny8.elf", &tiny_guest("from a config file\n"));
    let dir = kernel.parent().unwrap();
    let config = dir.join("vm.json");
    std::fs::write(
        &config,
        r#"{"kernel": "tiny8.elf", "memory": "16M", "numa": [{"node": 0, "vcpus": "0-1", "memory": 16, "host_node": 0}], "print_placement_on_exit": true}"#,
    )
    .unwrap();
    let out = tern(&["--config", config.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from a config file\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("policy=bind:0 pages=4096"));

    // A flag wins over the file: 2 vCPUs in the file's node, but --vcpus 3 disagrees.
    let out = tern(&["--config", config.to_str().unwrap(), "--vcpus", "3"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).contains("--vcpus 3 disagrees with the 2 vCPUs"));

    std::fs::write(&config, r#"{"kernel": "tiny8.elf", "vcpu": 2}"#).unwrap();
    let out = tern(&["--config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let line = stderr_line(&out);
    assert!(
        line.contains("unknown field `vcpu`") && line.contains("vm.json"),
        "{line}"
    );
}
