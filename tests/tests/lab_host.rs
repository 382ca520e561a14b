#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The host balancer in the lab: three VMs on two host nodes of 1.5 GiB, each with one vCPU
//! and 320 MiB, its workload filling 192 MiB and checking every word. vm-a and vm-b start with
//! their memory on node 1 and an operator pins their vCPUs to node 0; vm-c starts on node 0
//! with vCPUs the scheduler places; a file in L1 leaves node 0 about 300 MiB free. So node 0
//! gets more demand than it can hold: room for one of vm-a and vm-b only once vm-c has left.
//! `ternctl host balance` runs until two passes in a row find nothing to do, then gets SIGTERM,
//! while a sampler reads each node's free memory every 0.2 s. At the end every guest node's
//! memory is with its vCPUs except the one the balancer says has no room, no node's free
//! memory fell below half its margin, nobody met the OOM killer, and every workload kept
//! running with no bad word.

use serde_json::Value;
use tern_tests::sections::{expect_json_section, heartbeats, section, SECTION_FN};
use tern_tests::{run_with_retries, LabOutput, LabSpec};

const CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet";
const NODE_MIB: u64 = 1536;

fn json(out: &LabOutput, name: &str) -> Value {
    expect_json_section(out, name).unwrap_or_else(|e| panic!("{e}"))
}

/// The lowest free MiB of each node over the `SAMPLE f0 f1` lines, and how many there were.
fn lowest_free(out: &LabOutput) -> ([u64; 2], usize) {
    let mut low = [u64::MAX; 2];
    let mut count = 0;
    for line in out.script_lines().filter_map(|l| l.strip_prefix("SAMPLE ")) {
        let free: Vec<u64> = line.split(' ').filter_map(|f| f.parse().ok()).collect();
        if let [f0, f1] = free[..] {
            low = [low[0].min(f0), low[1].min(f1)];
            count += 1;
        }
    }
    (low, count)
}

/// `(vm, local share of guest node 0)` from `ternctl host --json`.
fn local_shares(view: &Value) -> Vec<(String, f64)> {
    view["vms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|vm| {
            (
                vm["name"].as_str().unwrap().to_string(),
                vm["guest_nodes"][0]["local_share"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

#[test]
fn the_host_balancer_brings_memory_to_vcpus_without_overfilling_a_node() {
    let script = format!(
        r#"{SECTION_FN}
mkdir -p /run/tern
freemib() {{ awk '/MemFree/ {{print int($4/1024)}}' /sys/devices/system/node/node$1/meminfo; }}
start() {{
    timeout 400 tern --name vm-$1 --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 1 \
        --memory 320M --host-node $2 --host-cpus any --api-sock /run/tern/vm-$1.sock \
        --cmdline "{CMDLINE} tern_task=fill tern_mib=192 tern_seconds=100000" </dev/null >/tmp/$1.out 2>&1 &
    echo $! >/tmp/$1.pid
}}
finish() {{
    for v in a b c; do ternctl --sock /run/tern/vm-$v.sock shutdown >/dev/null 2>&1; done
    for v in a b c; do
        n=0; while kill -0 $(cat /tmp/$v.pid) 2>/dev/null && [ $n -lt 100 ]; do n=$((n+1)); sleep 0.2; done
        kill -9 $(cat /tmp/$v.pid) 2>/dev/null
    done
    rm -f /tmp/hog; wait
}}
seen() {{ n=0; while ! grep -q "$2" /tmp/$1.out; do n=$((n+1)); if [ $n -gt 900 ]; then echo "NEVER-SAW $1 $2"; grep -q "TERN-GUEST: hello" /tmp/$1.out && echo TERN-GUEST-WAS-READY; tail -n 20 /tmp/$1.out | sed "s/^/TAIL $1 /"; finish; exit 1; fi; sleep 0.2; done; }}
passes() {{ grep -c "cpu0: HB pass" /tmp/$1.out; }}
start a 1; seen a "TERN-GUEST: hello"; start b 1; seen b "TERN-GUEST: hello"; start c 0
for v in a b c; do seen $v "cpu0: HB pass=1"; done
ternctl --sock /run/tern/vm-a.sock pin 0 --node 0 >/dev/null
ternctl --sock /run/tern/vm-b.sock pin 0 --node 0 >/dev/null
echo "FREE-START $(freemib 0) $(freemib 1)"
hog=$(( $(freemib 0) - 300 ))
numactl --membind=0 dd if=/dev/zero of=/tmp/hog bs=1M count=$hog 2>/dev/null
echo "FREE-HOGGED $(freemib 0) $(freemib 1)"
for v in a b c; do ternctl --sock /run/tern/vm-$v.sock auto on --interval-ms 3600000 >/dev/null; done
section view-before ternctl host --json
section plan ternctl host balance --once --dry-run
for v in a b c; do echo "PASSES-BEFORE vm-$v $(passes $v)"; done
( while [ ! -e /tmp/stop-sampler ]; do echo "SAMPLE $(freemib 0) $(freemib 1)"; sleep 0.2; done ) >/tmp/samples &
timeout 240 ternctl host balance --interval 1 --max-mib-per-s 128 >/tmp/balance.out 2>&1 &
bal=$!
n=0
while [ $n -lt 600 ]; do
    n=$((n+1)); sleep 0.5
    [ "$(grep -c 'nothing to do' /tmp/balance.out)" -ge 2 ] && break
    kill -0 $bal 2>/dev/null || break
done
kill -TERM $bal; wait $bal; echo "BALANCER-STATUS $?"
touch /tmp/stop-sampler; sleep 0.5
sed 's/^/BAL /' /tmp/balance.out
cat /tmp/samples
section view-after ternctl host --json
section plan-after ternctl host balance --once --dry-run
sleep 3
for v in a b c; do echo "PASSES-AFTER vm-$v $(passes $v)"; done
for v in a b c; do section auto-$v ternctl --sock /run/tern/vm-$v.sock --json auto; done
for v in a b c; do
    kill -0 $(cat /tmp/$v.pid) 2>/dev/null && continue
    echo "GONE vm-$v"; grep -q "TERN-GUEST: hello" /tmp/$v.out && echo TERN-GUEST-WAS-READY
    grep "tern: " /tmp/$v.out | sed "s/^/TERNMSG vm-$v /"
done
dmesg | grep -iE "out of memory|oom-kill|killed process" | sed 's/^/OOM /'
for v in a b c; do grep "HB pass" /tmp/$v.out | tail -n 3 | sed 's/^/HBLINE /'; grep -E "ERR " /tmp/$v.out | head -n 3 | sed 's/^/ERRLINE /'; done
finish
exit 0
"#
    );
    let spec = LabSpec::new("host_balancer", script)
        .requiring_tern()
        .with_node_mib(NODE_MIB as u32)
        .carry_binary("/usr/bin/numactl")
        .with_timeout(std::time::Duration::from_secs(420));
    let out = run_with_retries(&spec).expect("the lab ran");
    assert_eq!(out.status, 0, "{}", out.script_output);
    let gone: Vec<&str> = out
        .script_lines()
        .filter(|l| l.starts_with("GONE ") || l.starts_with("TERNMSG "))
        .collect();
    assert!(gone.is_empty(), "a VM ended during the run: {gone:?}");
    for key in ["FREE-START ", "FREE-HOGGED ", "BALANCER-STATUS "] {
        println!("{key}{:?}", out.script_value(key));
    }
    let (_, plan_status) = section(&out, "plan").unwrap();
    assert_eq!(plan_status, 0);
    println!("dry run:\n{}", section(&out, "plan").unwrap().0.join("\n"));
    let balance: Vec<&str> = out
        .script_lines()
        .filter_map(|l| l.strip_prefix("BAL "))
        .collect();
    println!("balancer:\n{}", balance.join("\n"));
    assert_eq!(out.script_value("BALANCER-STATUS "), Some("0"));
    assert!(
        balance.iter().any(|l| l.starts_with("  done: ")),
        "the balancer moved nothing"
    );
    assert!(
        !balance.iter().any(|l| l.starts_with("  failed: ")),
        "a step failed"
    );
    assert_eq!(
        balance.last().copied(),
        Some("host balancer stopped by SIGTERM")
    );

    let before = local_shares(&json(&out, "view-before"));
    let after_view = json(&out, "view-after");
    let after = local_shares(&after_view);
    println!("local share before {before:?}, after {after:?}");
    assert_eq!(after.len(), 3, "{after_view}");
    let (final_plan, _) = section(&out, "plan-after").unwrap();
    assert!(
        final_plan.iter().any(|l| l.contains("nothing to do")),
        "{final_plan:?}"
    );
    let local = after.iter().filter(|(_, share)| *share >= 0.9).count();
    assert!(local >= 2, "only {local} VMs local: {after:?}");
    for (vm, share) in &after {
        if *share < 0.9 {
            assert!(
                final_plan
                    .iter()
                    .any(|l| l.contains(&format!("leave {vm} guest node 0: stays with"))),
                "{vm} is not local ({share}) and the plan does not say why: {final_plan:?}"
            );
        }
    }

    let (low, samples) = lowest_free(&out);
    let margin = NODE_MIB / 16;
    println!("{samples} samples; lowest free MiB per node {low:?} (margin {margin} MiB)");
    assert!(samples >= 10, "too few samples: {samples}");
    assert!(
        low.iter().all(|free| *free >= margin / 2),
        "a node was filled past its margin: lowest free {low:?} MiB"
    );
    let oom: Vec<&str> = out
        .script_lines()
        .filter(|l| l.starts_with("OOM "))
        .collect();
    assert!(oom.is_empty(), "the OOM killer ran: {oom:?}");

    for vm in ["vm-a", "vm-b", "vm-c"] {
        let count = |key: &str| -> u64 {
            out.script_value(&format!("{key} {vm} "))
                .unwrap()
                .parse()
                .unwrap()
        };
        let (b, a) = (count("PASSES-BEFORE"), count("PASSES-AFTER"));
        println!("{vm}: {b} passes before the balancer, {a} after");
        assert!(a > b, "{vm}'s workload stopped: {b} -> {a}");
        let auto = json(&out, &format!("auto-{}", &vm[3..]));
        println!("{vm} auto: {auto}");
    }
    assert!(
        !out.script_lines().any(|l| l.starts_with("ERRLINE")),
        "a guest found a corrupted word"
    );
    let beats = heartbeats(&out);
    assert!(!beats.is_empty());
    assert!(beats.iter().all(|b| b.errors == 0), "{beats:?}");
}
