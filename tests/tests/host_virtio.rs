#![allow(clippy::unwrap_used, clippy::expect_used)]
//! virtio devices on this host's own KVM, without the lab: a tiny guest runs with a disk (the
//! device is wired, its worker started and stopped), and every bad `--disk` or `--net` is one
//! line and exit status 1 before the guest runs.
//!
//! Needs the tern binary: `cargo build --release` (or TERN_BIN=path).

use std::path::PathBuf;
use std::process::{Command, Output};

fn tern(args: &[&str]) -> Output {
    let (bin, _) = tern_tests::paths::tern_bin();
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build --release`",
        bin.display()
    );
    Command::new(bin).args(args).output().expect("tern runs")
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tern-host-virtio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny_kernel() -> String {
    let path = temp_dir().join("tiny.elf");
    std::fs::write(&path, tern_tests::tiny_guest::hello_guest("hi\n")).unwrap();
    path.display().to_string()
}

fn refused(args: &[&str], expected: &str) {
    let kernel = tiny_kernel();
    let mut all = vec!["--kernel", kernel.as_str(), "--memory", "16M"];
    all.extend_from_slice(args);
    let out = tern(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "the guest must not run");
}

#[test]
fn a_guest_runs_with_a_disk_and_tern_ends_cleanly() {
    let image = temp_dir().join("disk.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    let disk = format!("path={},readonly=on", image.display());
    let kernel = tiny_kernel();
    let out = tern(&["--kernel", &kernel, "--memory", "16M", "--disk", &disk]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
}

#[test]
fn bad_disks_and_nets_are_one_line_each() {
    let dir = temp_dir();
    refused(
        &["--disk", "path=/nonexistent/disk.img"],
        "tern: cannot open disk image /nonexistent/disk.img for reading and writing",
    );
    let as_dir = format!("path={}", dir.display());
    refused(&["--disk", &as_dir], "Is a directory");
    refused(&["--disk", "readonly=on"], "'path=' is missing");
    let image = dir.join("node.img");
    std::fs::write(&image, vec![0u8; 4096]).unwrap();
    let on_node_3 = format!("path={},guest-node=3", image.display());
    refused(
        &["--disk", &on_node_3],
        "names guest node 3, which the VM does not have",
    );
    refused(&["--net", "tap=no/slash"], "is not a valid interface name");
    refused(&["--net", "tap=t0,mac=01:00:5e:00:00:01"], "multicast");
    let many: Vec<String> = (0..20)
        .flat_map(|_| ["--disk".to_string(), format!("path={}", image.display())])
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    refused(
        &many,
        "20 virtio devices asked for; tern supports at most 19",
    );
}
