#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The balancer in the lab: a running guest (2 vCPUs, 512 MiB, a workload per CPU that
//! checks every word of 160 MiB each pass) has its memory moved between host nodes through
//! the API while it runs. Every move lands (tern's placement and numa_maps agree), no word
//! is lost, the heartbeats never stop; memory follows pinned vCPUs on request and
//! automatically; a full target node, a cancel and a node that does not exist are handled.

use serde_json::Value;
use tern_tests::sections::{
    expect_json_section, heartbeats, largest_gap_ms, section, Heartbeat, SECTION_FN, WAIT_FNS,
};
use tern_tests::{run_with_retries, LabOutput, LabSpec};

/// Starts tern with the workload, waits until both workloads finished a pass, and defines
/// `section`, `numa` (guest VMAs of numa_maps) and `settle` (waits for two more passes of
/// both workloads, so that moved memory has been verified).
fn prologue(extra: &str) -> String {
    format!(
        r#"{SECTION_FN}
sock=/tmp/api.sock
tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 512M --api-sock $sock {extra} \
    --cmdline "console=ttyS0 reboot=k panic=1 pci=off quiet tern_task=fill tern_mib=160 tern_seconds=100000" \
    </dev/null >/tmp/tern.out 2>&1 &
pid=$!
{WAIT_FNS}
echo "waiting for the guest's workloads"
wait_for "cpu0: HB pass=1"; wait_for "cpu1: HB pass=1"
echo "the guest's workloads run"
numa() {{ grep -E ' (bind|prefer|local|interleave)' /proc/$pid/numa_maps | sed "s/^/NUMAMAPS $1 /"
    addrs=$(grep -E ' (bind|prefer|local|interleave)' /proc/$pid/numa_maps | cut -d' ' -f1 | tr '\n' ' ')
    awk -v addrs="$addrs" -v tag="$1" 'BEGIN {{ n = split(addrs, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }}
        /^[0-9a-f]+-[0-9a-f]+ / {{ split($1, r, "-"); cur = (r[1] in want) ? r[1] : "" }}
        cur != "" && /^AnonHugePages:/ {{ print "SMAPS " tag " " cur " " $2 }}' /proc/$pid/smaps; }}
numa start
settle() {{ c=$(grep -c "HB pass" /tmp/tern.out); n=0; while [ $(grep -c "HB pass" /tmp/tern.out) -lt $((c+4)) ] && [ $n -lt 600 ] && kill -0 $pid 2>/dev/null; do n=$((n+1)); sleep 0.2; done; }}
"#
    )
}

const EPILOGUE: &str = r#"
settle
section vm-end ternctl --sock $sock --json vm
section shutdown ternctl --sock $sock shutdown
n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 300 ] && kill -9 $pid; sleep 0.2; done
wait $pid; echo "TERN-EXIT status=$?"
grep "HB pass" /tmp/tern.out | sed 's/^/HBLINE /'
grep "ERR " /tmp/tern.out | head -5
exit 0
"#;

fn run(name: &str, body: &str, extra: &str) -> LabOutput {
    let script = format!("{}{body}{EPILOGUE}", prologue(extra));
    let spec = LabSpec::new(name, script)
        .requiring_tern()
        .with_node_mib(1024);
    let out = run_with_retries(&spec).expect("the lab ran");
    assert_eq!(
        out.script_value("TERN-EXIT status="),
        Some("0"),
        "{}",
        out.console
    );
    out
}

fn json(out: &LabOutput, name: &str) -> Value {
    expect_json_section(out, name).unwrap_or_else(|e| panic!("{e}"))
}

/// Populated pages on `node` / all populated pages of guest node 0, from /v1/placement.
fn share_on(placement: &Value, node: u64) -> (f64, u64) {
    let g = &placement["guest_nodes"][0];
    let pages: Vec<(u64, u64)> = g["host_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["host_node"].as_u64().unwrap(),
                h["pages"].as_u64().unwrap(),
            )
        })
        .collect();
    let total: u64 = pages.iter().map(|(_, p)| p).sum();
    let on = pages
        .iter()
        .find(|(n, _)| *n == node)
        .map_or(0, |(_, p)| *p);
    assert_eq!(
        g["unknown"].as_u64(),
        Some(0),
        "pages hidden by the kernel's NUMA balancing: {g}"
    );
    (on as f64 / total.max(1) as f64, total)
}

/// numa_maps pages per node over the guest VMAs printed with `tag`.
fn numa_maps_share(out: &LabOutput, tag: &str, node: u32) -> f64 {
    let (mut on, mut total) = (0u64, 0u64);
    for line in out
        .script_lines()
        .filter_map(|l| l.strip_prefix(&format!("NUMAMAPS {tag} ")))
    {
        for (n, c) in line
            .split_whitespace()
            .filter_map(|w| w.strip_prefix('N')?.split_once('='))
        {
            let (n, c): (u32, u64) = (n.parse().unwrap(), c.parse().unwrap());
            total += c;
            if n == node {
                on += c;
            }
        }
    }
    assert!(total > 0, "no guest VMA for {tag}");
    on as f64 / total as f64
}

/// AnonHugePages (kB) over the guest VMAs printed with `tag`.
fn anon_huge_kb(out: &LabOutput, tag: &str) -> u64 {
    out.script_lines()
        .filter_map(|l| l.strip_prefix(&format!("SMAPS {tag} ")))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum()
}

fn assert_intact(out: &LabOutput) -> Vec<Heartbeat> {
    let beats = heartbeats(out);
    assert!(beats.len() > 10, "too few heartbeats: {}", beats.len());
    assert!(
        beats.iter().all(|b| b.errors == 0),
        "the guest found corrupted words: {:?}",
        beats.iter().find(|b| b.errors > 0)
    );
    assert!(
        !out.script_lines().any(|l| l.contains("ERR pass=")),
        "the workload reported a bad word"
    );
    let vm = json(out, "vm-end");
    assert_eq!(vm["state"], "running", "{vm}");
    beats
}

#[test]
fn memory_moves_between_nodes_and_follows_vcpus_while_the_guest_runs() {
    let body = r#"
for step in 1:1 2:0 3:1; do
    i=${step%:*}; t=${step#*:}
    section move-$i ternctl --sock $sock --json rebalance --policy to-node --node $t
    section placement-$i ternctl --sock $sock --json placement
    numa move-$i
done
section to-0 ternctl --sock $sock --json rebalance --policy to-node --node 0
section pin-1 sh -c "ternctl --sock $sock pin 0 --node 1 && ternctl --sock $sock pin 1 --node 1"
sleep 1
section follow ternctl --sock $sock --json rebalance --policy follow-vcpus
section placement-follow ternctl --sock $sock --json placement
numa follow
section pin-0 sh -c "ternctl --sock $sock pin 0 --node 0 && ternctl --sock $sock pin 1 --node 0"
section auto-on ternctl --sock $sock --json auto on --interval-ms 1000
n=0; while [ $n -lt 60 ]; do n=$((n+1)); sleep 1; ternctl --sock $sock --json auto | grep -q '"rebalances_started": [1-9]' && break; done
n=0; while [ $n -lt 60 ]; do n=$((n+1)); sleep 1; s=$(ternctl --sock $sock --json status rb-6 2>/dev/null | grep -c '"state": "done"'); [ "$s" = 1 ] && break; done
section auto-state ternctl --sock $sock --json auto
section placement-auto ternctl --sock $sock --json placement
numa auto
"#;
    let out = run("balance_moves", body, "");
    println!(
        "AnonHugePages of guest memory at start: {} kB",
        anon_huge_kb(&out, "start")
    );
    for (i, target) in [(1, 1u64), (2, 0), (3, 1)] {
        let status = json(&out, &format!("move-{i}"));
        assert_eq!(
            status["state"], "done",
            "move {i} to node {target}: {status}"
        );
        // The guest's memory starts split: each vCPU faulted its pages in on its own node.
        let (moved, total) = (
            status["pages_moved"].as_u64().unwrap(),
            status["pages_total"].as_u64().unwrap(),
        );
        assert!(moved == total && moved > 30_000, "{status}");
        assert_eq!(status["pages_failed"].as_u64(), Some(0), "{status}");
        let (share, populated) = share_on(&json(&out, &format!("placement-{i}")), target);
        let numa_share = numa_maps_share(&out, &format!("move-{i}"), target as u32);
        println!(
            "move {i} to node {target}: {} pages in {} ms ({:.0} MiB/s); tern {share:.4} on target of {populated} pages, numa_maps {numa_share:.4}",
            status["pages_moved"], status["elapsed_ms"],
            status["bytes_moved"].as_f64().unwrap() / 1048576.0 / (status["elapsed_ms"].as_f64().unwrap() / 1000.0)
        );
        println!(
            "  AnonHugePages after: {} kB",
            anon_huge_kb(&out, &format!("move-{i}"))
        );
        assert!(
            share >= 0.99 && numa_share >= 0.99,
            "move {i} to {target}: tern {share}, numa_maps {numa_share}"
        );
    }
    let follow = json(&out, "follow");
    assert_eq!(follow["state"], "done", "{follow}");
    let (share, _) = share_on(&json(&out, "placement-follow"), 1);
    assert!(
        share >= 0.99 && numa_maps_share(&out, "follow", 1) >= 0.99,
        "follow-vcpus: {share}"
    );

    let auto = json(&out, "auto-state");
    println!("auto: {auto}");
    assert!(auto["rebalances_started"].as_u64().unwrap() >= 1, "{auto}");
    let (share, _) = share_on(&json(&out, "placement-auto"), 0);
    assert!(
        share >= 0.99 && numa_maps_share(&out, "auto", 0) >= 0.99,
        "auto: memory did not follow the vCPUs to node 0: {share}"
    );

    let beats = assert_intact(&out);
    println!(
        "heartbeats: {}, largest gap {} ms",
        beats.len(),
        largest_gap_ms(&beats)
    );
}

#[test]
fn a_full_node_a_cancel_and_a_missing_node_leave_the_guest_intact() {
    // Node 1 keeps about 120 MiB free: huge pages reserved there take the rest.
    let body = r#"
section placement-start ternctl --sock $sock --json placement
section missing-node ternctl --sock $sock rebalance --policy to-node --node 7
section placement-after-missing ternctl --sock $sock --json placement
free_kb=$(awk '/MemFree/ {print $4}' /sys/devices/system/node/node1/meminfo)
echo $(( (free_kb / 1024 - 120) / 2 )) > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
echo "NODE1-FREE-MIB $(( $(awk '/MemFree/ {print $4}' /sys/devices/system/node/node1/meminfo) / 1024 ))"
section full ternctl --sock $sock --json rebalance --policy to-node --node 1
section placement-full ternctl --sock $sock --json placement
echo 0 > /sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages
settle
section slow ternctl --sock $sock --json rebalance --policy to-node --node 1 --max-mib-per-s 4 --no-wait
# Cancel once the first pages moved: at 4 MiB/s what is left takes about 10 s.
for i in $(seq 100); do
  ternctl --sock $sock --json status rb-2 | grep -Eq '"pages_moved": *0([^0-9]|$)' || break
  sleep 0.1
done

section cancel ternctl --sock $sock --json cancel rb-2
sleep 1
section cancelled ternctl --sock $sock --json status rb-2
section placement-cancelled ternctl --sock $sock --json placement
"#;
    let out = run("balance_limits", body, "");
    let (share0, before) = share_on(&json(&out, "placement-start"), 0);

    let (missing, status) = section(&out, "missing-node").unwrap();
    assert_eq!(status, 1);
    assert!(
        missing.join(" ").contains("host node 7 does not exist"),
        "{missing:?}"
    );
    let (share_after, after) = share_on(&json(&out, "placement-after-missing"), 0);
    assert_eq!(
        (share_after, after.abs_diff(before) < before / 50),
        (share0, true),
        "a refused rebalance moved memory"
    );

    println!(
        "node 1 free before the full move: {:?} MiB",
        out.script_value("NODE1-FREE-MIB ")
    );
    let full = json(&out, "full");
    println!("full: {full}");
    assert_eq!(full["state"], "failed", "{full}");
    assert!(
        full["message"]
            .as_str()
            .unwrap()
            .contains("ran out of free memory"),
        "{full}"
    );
    assert!(
        full["failed_by_reason"]["ENOMEM"].as_u64().unwrap() > 0,
        "{full}"
    );
    let moved = full["pages_moved"].as_u64().unwrap();
    assert!(
        moved > 0 && moved < full["pages_total"].as_u64().unwrap(),
        "a partial move: {full}"
    );
    let (on1, _) = share_on(&json(&out, "placement-full"), 1);
    assert!(on1 > 0.0 && on1 < 0.9, "part of the memory moved: {on1}");

    let cancelled = json(&out, "cancelled");
    println!("cancelled: {cancelled}");
    assert_eq!(cancelled["state"], "cancelled", "{cancelled}");
    let moved = cancelled["pages_moved"].as_u64().unwrap();
    assert!(
        moved > 0 && moved < cancelled["pages_total"].as_u64().unwrap(),
        "{cancelled}"
    );

    let beats = assert_intact(&out);
    println!(
        "heartbeats: {}, largest gap {} ms",
        beats.len(),
        largest_gap_ms(&beats)
    );
}
