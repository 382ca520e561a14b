#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The three move modes in the lab, on a guest busy writing and checking its memory on both
//! vCPUs: a live move paced by the guest, a paused move (the vCPUs stood still for it and run
//! again after), and a lazy move (vCPUs pinned to the target, pages follow on touch, the
//! sweep moves the rest) whose migrate-on-touch policy is gone at the end. Placement is read
//! from the host side (move_pages queries through `GET /v1/placement`, and tern's own
//! /proc/PID/numa_maps). A lazy move whose vCPUs may run elsewhere says so and can be
//! cancelled with its policy put back; lazy moves are refused with NUMA balancing off and on
//! hugetlbfs backing.

use serde_json::Value;
use tern_tests::placement_json::share_on;
use tern_tests::sections::{expect_json_section, heartbeats, section, SECTION_FN, WAIT_FNS};
use tern_tests::{run_with_retries, LabOutput, LabSpec};

const CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet";

fn json(out: &LabOutput, name: &str) -> Value {
    expect_json_section(out, name).unwrap_or_else(|e| panic!("{e}"))
}

/// The numa_maps lines of tern's mappings with a policy of their own (guest RAM) printed as
/// `NUMAMAPS <tag> <line>`.
fn numa_maps<'a>(out: &'a LabOutput, tag: &str) -> Vec<&'a str> {
    let prefix = format!("NUMAMAPS {tag} ");
    out.script_lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// Pages on `node` / pages on any node in numa_maps lines (`N0=`, `N1=` fields).
fn numa_maps_share(lines: &[&str], node: u32) -> f64 {
    let (mut on, mut all) = (0u64, 0u64);
    for line in lines {
        for field in line.split(' ') {
            let Some((name, count)) = field.split_once('=') else {
                continue;
            };
            let (Some(n), Ok(count)) = (name.strip_prefix('N'), count.parse::<u64>()) else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else {
                continue;
            };
            all += count;
            if n == node {
                on += count;
            }
        }
    }
    on as f64 / all.max(1) as f64
}

/// The policy field of a numa_maps line (its second field).
fn policy_field(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or_default()
}

#[test]
fn live_paused_and_lazy_moves_of_a_busy_guest() {
    let script = format!(
        r#"{SECTION_FN}
{WAIT_FNS}
sock=/tmp/api.sock
maps() {{ grep -v " default" /proc/$pid/numa_maps | grep -E "N[0-9]+=" | sed "s/^/NUMAMAPS $1 /"; }}
echo "NUMA-BALANCING $(cat /proc/sys/kernel/numa_balancing)"
tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 512M --api-sock $sock \
    --cmdline "{CMDLINE} tern_task=fill tern_mib=120 tern_seconds=100000" </dev/null >/tmp/tern.out 2>&1 &
pid=$!
wait_for "cpu0: HB pass=2"; wait_for "cpu1: HB pass=2"
section live ternctl --sock $sock --json rebalance --policy to-node --node 1 --pace guest
section p_live ternctl --sock $sock --json placement
maps live
section paused ternctl --sock $sock --json rebalance --policy to-node --node 0 --mode paused
a=$(grep -c "HB pass" /tmp/tern.out); sleep 3; b=$(grep -c "HB pass" /tmp/tern.out)
echo "AFTER-PAUSE-HEARTBEATS $a $b"
section vm ternctl --sock $sock --json vm
section p_paused ternctl --sock $sock --json placement
maps paused
echo 0 > /proc/sys/kernel/numa_balancing
section refused_sysctl ternctl --sock $sock rebalance --policy to-node --node 1 --mode lazy
echo 1 > /proc/sys/kernel/numa_balancing
section unpinned ternctl --sock $sock --json rebalance --policy to-node --node 1 --mode lazy --no-wait
sleep 1
section unpinned_cancel ternctl --sock $sock --json cancel rb-3
section unpinned_end ternctl --sock $sock --json wait rb-3
maps cancelled
ternctl --sock $sock pin 0 --node 1 >/dev/null; ternctl --sock $sock pin 1 --node 1 >/dev/null
section lazy_start ternctl --sock $sock --json rebalance --policy to-node --node 1 --mode lazy --sweep-after-s 8 --no-wait
sleep 3
section lazy_topology ternctl --sock $sock --json topology
section lazy_mid ternctl --sock $sock --json status rb-4
maps during
section lazy ternctl --sock $sock --json wait rb-4
section p_lazy ternctl --sock $sock --json placement
maps after
grep "HB pass" /tmp/tern.out | sed 's/^/HBLINE /'
grep -E "ERR " /tmp/tern.out | head -n 3 | sed 's/^/ERRLINE /'
section shutdown ternctl --sock $sock shutdown
wait $pid
echo 80 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
tern --kernel /images/bzImage --initramfs /images/guest.cpio --api-sock $sock \
    --numa node=0,vcpus=0,memory=128M,host-node=0 --memory-backing hugetlb \
    --cmdline "{CMDLINE} tern_hold=600" </dev/null >/tmp/tern.out 2>&1 &
pid=$!
wait_for "TERN-GUEST: hello"
section refused_hugetlb ternctl --sock $sock rebalance --policy to-node --node 1 --mode lazy
section shutdown2 ternctl --sock $sock shutdown
wait $pid
echo 0 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
exit 0
"#
    );
    let spec = LabSpec::new("modes", script)
        .requiring_tern()
        .with_node_mib(1024)
        .with_timeout(std::time::Duration::from_secs(420));
    let out = run_with_retries(&spec).expect("the lab ran");
    println!(
        "numa_balancing in L1: {:?}",
        out.script_value("NUMA-BALANCING ")
    );

    // Live, paced by the guest.
    let live = json(&out, "live");
    println!("live: {live}");
    assert_eq!(live["state"], "done", "{live}");
    assert_eq!(live["mode"], "live");
    assert_eq!(live["pace"], "guest");
    assert!(
        live["pace_mib_per_s"].as_f64().is_some_and(|r| r > 0.0),
        "{live}"
    );
    assert_eq!(
        live["pages_moved"].as_u64().unwrap() + live["pages_failed"].as_u64().unwrap(),
        live["pages_total"].as_u64().unwrap(),
        "{live}"
    );
    assert!(share_on(&json(&out, "p_live"), 0, 1) >= 0.99);
    let maps = numa_maps(&out, "live");
    assert!(numa_maps_share(&maps, 1) >= 0.99, "{maps:?}");

    // Paused: the vCPUs stood still for it, and run again after.
    let paused = json(&out, "paused");
    println!("paused: {paused}");
    assert_eq!(paused["state"], "done", "{paused}");
    assert_eq!(paused["mode"], "paused");
    assert!(
        paused["paused_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{paused}"
    );
    let beats: Vec<u64> = out
        .script_value("AFTER-PAUSE-HEARTBEATS ")
        .unwrap()
        .split(' ')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        beats[1] > beats[0],
        "the guest did not work after the paused move: {beats:?}"
    );
    assert_eq!(json(&out, "vm")["state"], "running");
    assert!(share_on(&json(&out, "p_paused"), 0, 0) >= 0.99);
    let maps = numa_maps(&out, "paused");
    assert!(numa_maps_share(&maps, 0) >= 0.99, "{maps:?}");

    // Refused with NUMA balancing off, naming the sysctl.
    let (lines, status) = section(&out, "refused_sysctl").unwrap();
    println!("refused (sysctl): {lines:?}");
    assert_ne!(status, 0);
    assert!(
        lines.iter().any(|l| l.contains("kernel.numa_balancing")),
        "{lines:?}"
    );

    // Unpinned vCPUs: the answer warns; a cancel puts the policy back.
    let unpinned = json(&out, "unpinned");
    println!("unpinned: {unpinned}");
    assert!(
        unpinned["warning"]
            .as_str()
            .is_some_and(|w| w.contains("may run off host node 1")),
        "{unpinned}"
    );
    let cancelled = json(&out, "unpinned_cancel");
    assert_eq!(cancelled["mode"], "lazy", "{cancelled}");
    let (lines, _) = section(&out, "unpinned_end").unwrap();
    assert!(
        lines.iter().any(|l| l.contains("policies were put back")),
        "{lines:?}"
    );
    for line in numa_maps(&out, "cancelled") {
        assert!(!policy_field(line).contains('='), "a flag stayed: {line}");
    }

    // Lazy with the vCPUs on the target and a sweep.
    let topology = json(&out, "lazy_topology");
    assert_eq!(
        topology["guest_nodes"][0]["policy"], "bind-on-touch",
        "{topology}"
    );
    let mid = json(&out, "lazy_mid");
    println!("lazy, 3 s in: {mid}");
    println!(
        "numa_maps during the lazy move: {:?}",
        numa_maps(&out, "during")
    );
    let lazy = json(&out, "lazy");
    println!("lazy: {lazy}");
    assert_eq!(lazy["state"], "done", "{lazy}");
    assert_eq!(lazy["mode"], "lazy");
    assert_eq!(
        lazy["pages_moved"].as_u64().unwrap() + lazy["pages_failed"].as_u64().unwrap(),
        lazy["pages_total"].as_u64().unwrap(),
        "{lazy}"
    );
    assert!(share_on(&json(&out, "p_lazy"), 0, 1) >= 0.99);
    let after = numa_maps(&out, "after");
    println!("numa_maps after the lazy move: {after:?}");
    assert!(numa_maps_share(&after, 1) >= 0.99, "{after:?}");
    assert!(!after.is_empty());
    for line in &after {
        let policy = policy_field(line);
        assert!(
            policy == "bind:1" || policy == "prefer:1",
            "the migrate-on-touch flag stayed: {line}"
        );
    }

    // The guest's checksums held through all of it.
    assert!(
        !out.script_lines().any(|l| l.starts_with("ERRLINE")),
        "the guest found a corrupted word: {:?}",
        out.script_lines().find(|l| l.starts_with("ERRLINE"))
    );
    let beats = heartbeats(&out);
    assert!(!beats.is_empty());
    assert!(beats.iter().all(|b| b.errors == 0), "{beats:?}");

    // Refused on hugetlbfs backing.
    let (lines, status) = section(&out, "refused_hugetlb").unwrap();
    println!("refused (hugetlb): {lines:?}");
    assert_ne!(status, 0);
    assert!(lines.iter().any(|l| l.contains("hugetlbfs")), "{lines:?}");
}
