#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `make demo`'s own script in the lab: the guest boots from its ext4 disk, L1 reaches it over
//! virtio-net, each vCPU thread is pinned at launch to its guest node's host node (read from
//! /proc on the host side), and after a pin of vCPU 1 to host node 0 the follow-vcpus move
//! ends done and the guest powers off cleanly.

use tern_tests::paths::{resources_dir, rootfs_image};
use tern_tests::{run_with_retries, LabSpec};

#[test]
fn the_demo_boots_from_disk_with_network_and_pinned_vcpus() {
    let script = std::fs::read_to_string(resources_dir().join("demo.sh")).expect("demo.sh");
    let spec = LabSpec::new("demo", script).requiring_tern().carry_file(
        rootfs_image().expect("the root disk"),
        "/images/rootfs.ext4",
    );
    let out = run_with_retries(&spec).expect("the lab ran");
    let lines: Vec<&str> = out.script_lines().collect();
    let has = |want: &str| lines.iter().any(|l| l.trim_end().ends_with(want));
    assert_eq!(out.status, 0, "{}", out.console);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("L1 fetched from the guest over virtio-net: hello from a Tern guest booted from /dev/vda")),
        "{}",
        out.console
    );
    assert!(has("L1 pings the guest: 3 of 3 replies"), "{}", out.console);
    let affinity: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("demo: host side: "))
        .map(str::trim_end)
        .collect();
    assert_eq!(
        affinity,
        [
            "vcpu0 may run on CPUs 0",
            "vcpu1 may run on CPUs 1",
            "vcpu0 may run on CPUs 0",
            "vcpu1 may run on CPUs 0",
        ],
        "{}",
        out.console
    );
    assert!(has("demo: the move ended with status 0"), "{}", out.console);
    assert!(has("demo: tern exited with status 0"), "{}", out.console);
}
