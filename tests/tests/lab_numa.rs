#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Guest RAM per host NUMA node, in the lab: a guest with two nodes bound to host nodes 0
//! and 1 sees its own topology, fills memory from a task pinned to each of its CPUs, and every
//! page of each node lands on its bound host node, as numa_maps and tern's own placement
//! both say. With transparent huge pages (the default backing) and with base pages only
//! (`anon`, even in L1's THP mode "always"), with hugetlb pages, and in a 3-node lab where the
//! guest's SLIT follows the host's distances. Each vCPU thread is pinned from launch to its
//! guest node's host node's CPUs, to `host-cpus=`, or left unpinned (`host-cpus=any`), and
//! `--vmm-cpus` places tern's own threads: L1's /proc says so, thread by thread.

use tern_tests::{
    guest_vmas, run_with_retries, tern_inspect_command, thread_cpus, GuestVma, LabOutput, LabSpec,
    TernRun,
};

const CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet";
const TWO_NODES: &str =
    "--numa node=0,vcpus=0,memory=256M,host-node=0 --numa node=1,vcpus=1,memory=256M,host-node=1";
/// L1's CPUs: one per host node.
const ALL_CPUS: &str = "0-1";
/// MiB each guest CPU fills.
const FILL_MIB: u64 = 128;

fn run_inspected(name: &str, spec: LabSpec) -> (LabOutput, TernRun) {
    let out = run_with_retries(&spec).expect("the lab ran");
    let run = TernRun::parse(&out)
        .unwrap_or_else(|| panic!("{name}: tern never finished:\n{}", out.console));
    assert_eq!(run.status, 0, "{name}: tern failed:\n{}", out.console);
    (out, run)
}

/// The two-node guest with `nodes` (its `--numa` flags) and `extra` flags, in L1's THP mode
/// `thp_mode`, filling memory from each guest CPU: the guest memory VMAs, tern's threads and
/// their CPUs, and the run.
fn two_node_fill(
    name: &str,
    nodes: &str,
    extra: &str,
    thp_mode: &str,
) -> (Vec<GuestVma>, Vec<(String, String)>, TernRun) {
    let args = format!(
        "--kernel /images/bzImage --initramfs /images/guest.cpio {nodes} {extra} \
         --print-placement-on-exit --cmdline '{CMDLINE} tern_task=nodes,fill tern_mib={FILL_MIB} tern_passes=2 tern_hold=4'"
    );
    let script = format!(
        "echo {thp_mode} > /sys/kernel/mm/transparent_hugepage/enabled\n{}",
        tern_inspect_command(&args, "TERN-GUEST fill result=")
    );
    let (out, run) = run_inspected(name, LabSpec::new(name, script).requiring_tern());
    let threads = thread_cpus(&out);
    println!("{name}: threads and their Cpus_allowed_list: {threads:?}");
    (guest_vmas(&out), threads, run)
}

/// The Cpus_allowed_list of tern's thread `name`.
fn cpus_of<'a>(threads: &'a [(String, String)], name: &str) -> &'a str {
    threads
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c.as_str())
        .unwrap_or_else(|| panic!("no thread {name}: {threads:?}"))
}

fn assert_guest_sees_two_nodes(run: &TernRun) {
    assert_eq!(
        run.guest_value("nodes"),
        Some("node0 node1"),
        "{:#?}",
        run.lines
    );
    for (node, cpu) in [(0, 0), (1, 1)] {
        let line = run
            .lines
            .iter()
            .find(|l| l.starts_with(&format!("TERN-GUEST node=node{node} ")))
            .unwrap_or_else(|| panic!("no line for guest node {node}"));
        assert!(line.contains(&format!(" cpulist={cpu} ")), "{line}");
        let kb: u64 = line
            .split("memtotal_kb=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        // 256 MiB per node, minus what the kernel keeps (more on node 0).
        assert!(
            (150_000..=262_144).contains(&kb),
            "guest node {node} MemTotal {kb} kB"
        );
    }
    assert_eq!(
        run.guest_value("fill result"),
        Some("ok"),
        "{:#?}",
        run.lines
    );
}

fn assert_each_node_on_its_host_node(vmas: &[GuestVma], run: &TernRun) {
    for node in [0u32, 1] {
        let vma = vmas
            .iter()
            .find(|v| v.policy == format!("bind:{node}"))
            .unwrap_or_else(|| panic!("no bind:{node} VMA in numa_maps: {vmas:#?}"));
        println!(
            "numa_maps guest node {node}: {} pages {:?}, AnonHugePages {:?} kB",
            vma.policy, vma.pages_on, vma.anon_huge_kb
        );
        // The CPU of this node filled FILL_MIB of it.
        assert!(
            vma.pages() >= FILL_MIB * 256 * 9 / 10,
            "guest node {node} has only {} pages populated",
            vma.pages()
        );
        assert!(
            vma.share_on(node) >= 0.99,
            "numa_maps: guest node {node}: {:?}",
            vma.pages_on
        );

        let placement = run
            .placement_of_guest_node(node)
            .unwrap_or_else(|| panic!("no placement line for guest node {node}"));
        println!("tern placement guest node {node}: {placement:?}");
        assert_eq!(placement.pages, 256 * 256);
        assert!(
            placement.share_on(node) >= 0.99,
            "tern's placement: guest node {node}: {placement:?}"
        );
        let tern_populated: u64 = placement.on_node.values().sum();
        assert!(
            tern_populated.abs_diff(vma.pages()) <= vma.pages() / 20,
            "tern {tern_populated} vs numa_maps {}",
            vma.pages()
        );
    }
}

#[test]
fn two_guest_nodes_in_base_pages_with_unpinned_vcpus_and_tern_on_vmm_cpus() {
    // L1's THP mode "always" would give plain anonymous memory huge pages: anon refuses them.
    let nodes = "--numa node=0,vcpus=0,memory=256M,host-node=0,host-cpus=any \
                 --numa node=1,vcpus=1,memory=256M,host-node=1,host-cpus=any";
    let (vmas, threads, run) = two_node_fill(
        "numa_bind_anon",
        nodes,
        "--memory-backing anon --vmm-cpus 1",
        "always",
    );
    assert_guest_sees_two_nodes(&run);
    assert_each_node_on_its_host_node(&vmas, &run);
    for vma in &vmas {
        assert_eq!(
            vma.anon_huge_kb,
            Some(0),
            "anon backing took huge pages with THP in mode always: {vma:?}"
        );
    }
    // host-cpus=any: the vCPUs may run anywhere, not on --vmm-cpus, which tern's other
    // threads keep.
    assert_eq!(cpus_of(&threads, "vcpu0"), ALL_CPUS);
    assert_eq!(cpus_of(&threads, "vcpu1"), ALL_CPUS);
    for (name, cpus) in threads.iter().filter(|(n, _)| !n.starts_with("vcpu")) {
        assert_eq!(cpus, "1", "tern's thread {name}");
    }
    assert!(
        threads.iter().any(|(n, _)| n == "console-out"),
        "{threads:?}"
    );
}

#[test]
fn two_guest_nodes_with_default_huge_pages_and_vcpus_pinned_to_their_host_nodes() {
    // The host's THP mode most distributions ship: huge pages only where asked for.
    let (vmas, threads, run) = two_node_fill("numa_bind_thp", TWO_NODES, "", "madvise");
    assert_guest_sees_two_nodes(&run);
    assert_each_node_on_its_host_node(&vmas, &run);
    for vma in &vmas {
        let huge = vma.anon_huge_kb.expect("smaps of the guest region");
        assert!(
            huge >= FILL_MIB * 1024 / 2,
            "{} AnonHugePages only {huge} kB",
            vma.policy
        );
    }
    // Host node N has CPU N in the lab: each vCPU runs on its node from launch.
    assert_eq!(cpus_of(&threads, "vcpu0"), "0");
    assert_eq!(cpus_of(&threads, "vcpu1"), "1");
    assert_eq!(cpus_of(&threads, "tern"), ALL_CPUS);
}

#[test]
fn three_host_nodes_give_the_guest_their_distances() {
    let args = format!(
        "--kernel /images/bzImage --initramfs /images/guest.cpio --numa node=0,vcpus=0,memory=128M,host-node=0 \
         --numa node=1,vcpus=1,memory=128M,host-node=2 --cmdline '{CMDLINE} tern_task=nodes'"
    );
    let spec = LabSpec::new("numa_three_nodes", tern_tests::tern_command(&args))
        .with_nodes(3)
        .with_node_mib(768)
        .with_distance(0, 1, 21)
        .with_distance(0, 2, 31)
        .with_distance(1, 2, 21)
        .requiring_tern();
    let (_, run) = run_inspected("numa_three_nodes", spec);
    assert_eq!(
        run.guest_value("nodes"),
        Some("node0 node1"),
        "{:#?}",
        run.lines
    );
    let node0 = run
        .lines
        .iter()
        .find(|l| l.starts_with("TERN-GUEST node=node0 "))
        .unwrap();
    let node1 = run
        .lines
        .iter()
        .find(|l| l.starts_with("TERN-GUEST node=node1 "))
        .unwrap();
    assert!(node0.ends_with("distance=10,31"), "{node0}");
    assert!(node1.ends_with("distance=31,10"), "{node1}");
    assert!(node1.contains(" cpulist=1 "), "{node1}");
}

#[test]
fn hugetlb_backing_uses_huge_pages_reserved_on_each_host_node() {
    // host-cpus names the CPUs: here each vCPU on the other node's CPU.
    let args = format!(
        "--kernel /images/bzImage --initramfs /images/guest.cpio \
         --numa node=0,vcpus=0,memory=256M,host-node=0,host-cpus=1 \
         --numa node=1,vcpus=1,memory=256M,host-node=1,host-cpus=0 --memory-backing hugetlb \
         --print-placement-on-exit --cmdline '{CMDLINE} tern_task=fill tern_mib=64 tern_passes=1 tern_hold=3'"
    );
    let script = format!(
        "for n in 0 1; do echo 160 > /sys/devices/system/node/node$n/hugepages/hugepages-2048kB/nr_hugepages; done\n\
         for n in 0 1; do echo \"HUGE node$n free=$(cat /sys/devices/system/node/node$n/hugepages/hugepages-2048kB/free_hugepages)\"; done\n{}\n\
         for n in 0 1; do echo \"HUGE-AFTER node$n free=$(cat /sys/devices/system/node/node$n/hugepages/hugepages-2048kB/free_hugepages)\"; done\n",
        tern_inspect_command(&args, "TERN-GUEST fill result=")
    );
    let (out, run) = run_inspected(
        "numa_hugetlb",
        LabSpec::new("numa_hugetlb", script).requiring_tern(),
    );
    assert_eq!(
        run.guest_value("fill result"),
        Some("ok"),
        "{:#?}",
        run.lines
    );
    let threads = thread_cpus(&out);
    println!("numa_hugetlb: threads and their Cpus_allowed_list: {threads:?}");
    assert_eq!(cpus_of(&threads, "vcpu0"), "1");
    assert_eq!(cpus_of(&threads, "vcpu1"), "0");
    let vmas = guest_vmas(&out);
    for node in [0u32, 1] {
        let vma = vmas
            .iter()
            .find(|v| v.policy == format!("bind:{node}"))
            .unwrap_or_else(|| panic!("{vmas:#?}"));
        println!("hugetlb guest node {node}: {:?}", vma.pages_on);
        assert!(vma.share_on(node) >= 0.99, "{vma:?}");
        let placement = run.placement_of_guest_node(node).unwrap();
        assert!(placement.share_on(node) >= 0.99, "{placement:?}");
    }
    // Each 256 MiB guest node took 128 huge pages from its own host node.
    for node in 0..2 {
        assert_eq!(
            out.script_value(&format!("HUGE node{node} free=")),
            Some("160")
        );
        let line = out
            .script_lines()
            .find(|l| l.contains("kernelpagesize_kB=2048") && l.contains(&format!("bind:{node}")));
        assert!(line.is_some(), "no huge page VMA bound to node {node}");
    }
}
