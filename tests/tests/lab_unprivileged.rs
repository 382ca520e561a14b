#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! tern needs no root: in the lab, /dev/kvm is made group-accessible (group kvm, mode 0660) as
//! distributions set it up, and a user in that group (uid 1000, no capabilities) boots a
//! Linux guest, moves its memory to the other host node through the API, pins a vCPU there,
//! and runs a guest on hugetlbfs pages that root reserved. A user outside the group gets one
//! sentence naming /dev/kvm and the fix; an API socket in a directory the user may not write
//! to is refused with the path.

use serde_json::Value;
use tern_tests::sections::{json_section, section, SECTION_FN, WAIT_FNS};
use tern_tests::tiny_guest::hello_guest;
use tern_tests::{run_with_retries, LabOutput, LabSpec};

/// The kvm group's id in the lab (Debian's).
const KVM_GID: u32 = 78;

fn body() -> String {
    format!(
        r#"
chgrp {KVM_GID} /dev/kvm && chmod 660 /dev/kvm
echo "KVMNODE $(ls -ln /dev/kvm)"
# A user in the kvm group, and one who is not; neither keeps any capability (util-linux
# setpriv, carried in: busybox's has no --reuid).
user="/usr/local/bin/setpriv --reuid=1000 --regid=1000 --groups={KVM_GID} --inh-caps=-all --bounding-set=-all"
as_user() {{ $user "$@"; }}
as_other() {{ /usr/local/bin/setpriv --reuid=1001 --regid=1001 --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }}
mkdir -p /tmp/user /tmp/rootonly && chown 1000:1000 /tmp/user && chmod 755 /tmp/rootonly

as_other tern --kernel /images/bzImage --memory 64M </dev/null >/tmp/nokvm.out 2>&1
echo "NOKVM-STATUS $?"; sed 's/^/NOKVM /' /tmp/nokvm.out
as_user tern --kernel /images/bzImage --memory 64M --api-sock /tmp/rootonly/api.sock </dev/null >/tmp/nosock.out 2>&1
echo "NOSOCK-STATUS $?"; sed 's/^/NOSOCK /' /tmp/nosock.out

sock=/tmp/user/api.sock
# Started without a shell function, so that $! is tern's own pid (setpriv execs it).
$user tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 512M --api-sock $sock \
    --cmdline "console=ttyS0 reboot=k panic=1 pci=off quiet tern_task=fill tern_mib=128 tern_seconds=100000" \
    </dev/null >/tmp/tern.out 2>&1 &
pid=$!
wait_for "cpu0: HB pass=1"; wait_for "cpu1: HB pass=1"
grep -E '^(Uid|Gid|Groups|CapEff|CapPrm|NoNewPrivs|Seccomp):' /proc/$pid/status | tr -s '\t' ' ' | sed 's/^/STATUS /'
section move as_user ternctl --sock $sock --json rebalance --policy to-node --node 1
section placement as_user ternctl --sock $sock --json placement
section pin as_user ternctl --sock $sock pin 0 --node 1
for t in /proc/$pid/task/*; do [ "$(cat $t/comm)" = vcpu0 ] && echo "VCPU0-CPUS $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' $t/status)"; done
echo "NODE1-CPUS $(cat /sys/devices/system/node/node1/cpulist)"
section shutdown as_user ternctl --sock $sock shutdown
n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 300 ] && kill -9 $pid; sleep 0.2; done
wait $pid; echo "TERN-EXIT status=$?"
grep -q "TERN-GUEST: hello" /tmp/tern.out && echo TERN-GUEST-WAS-READY
grep "tern: " /tmp/tern.out | sed 's/^/TERNMSG /'

echo 40 > /sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages
as_user tern --kernel /lab/hello.elf --memory 64M --host-node 0 --memory-backing hugetlb --prefault \
    --print-placement-on-exit </dev/null >/tmp/huge.out 2>&1
echo "HUGE-STATUS $?"; sed 's/^/HUGE /' /tmp/huge.out
exit 0
"#
    )
}

fn lines<'a>(out: &'a LabOutput, prefix: &str) -> Vec<&'a str> {
    out.script_lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .collect()
}

/// The share of guest node 0's populated pages on host node `node`, from /v1/placement.
fn share_on(placement: &Value, node: u64) -> f64 {
    let hosts = placement["guest_nodes"][0]["host_nodes"]
        .as_array()
        .unwrap();
    let pages = |h: &Value| h["pages"].as_u64().unwrap();
    let total: u64 = hosts.iter().map(pages).sum();
    let on: u64 = hosts
        .iter()
        .filter(|h| h["host_node"].as_u64() == Some(node))
        .map(pages)
        .sum();
    on as f64 / total.max(1) as f64
}

#[test]
fn a_user_in_the_kvm_group_runs_moves_and_pins_a_guest_without_root() {
    let dir = std::env::temp_dir().join(format!("tern-lab-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let guest = dir.join("hello.elf");
    std::fs::write(&guest, hello_guest("hello from huge pages\n")).unwrap();
    let script = format!("{SECTION_FN}\n{WAIT_FNS}\n{}", body());
    let spec = LabSpec::new("unprivileged", script)
        .requiring_tern()
        .with_node_mib(1024)
        .carry_binary("/usr/bin/setpriv")
        .carry_file(&guest, "/lab/hello.elf");
    let out = run_with_retries(&spec).expect("the lab ran");
    let _ = std::fs::remove_dir_all(&dir);
    println!("{:?}", lines(&out, "KVMNODE "));

    // Without access to /dev/kvm: one sentence naming it and the fix.
    assert_eq!(
        out.script_value("NOKVM-STATUS "),
        Some("1"),
        "{}",
        out.console
    );
    let nokvm = lines(&out, "NOKVM ");
    println!("without the kvm group: {nokvm:?}");
    assert_eq!(
        nokvm,
        vec![
            "tern: cannot open /dev/kvm: permission denied; give this user read-write access to \
             it, usually by adding it to the group that owns /dev/kvm (`sudo usermod -aG kvm \
             $USER`, then log in again)"
        ]
    );
    // A socket directory the user may not write to.
    assert_eq!(
        out.script_value("NOSOCK-STATUS "),
        Some("1"),
        "{}",
        out.console
    );
    let nosock = lines(&out, "NOSOCK ");
    println!("socket in a root-only directory: {nosock:?}");
    assert_eq!(
        nosock,
        vec!["tern: cannot create the API socket /tmp/rootonly/api.sock: Permission denied (os error 13)"]
    );

    // The guest ran as uid 1000 with no capability.
    let status = lines(&out, "STATUS ");
    println!("tern's credentials: {status:?}");
    assert!(status.contains(&"Uid: 1000 1000 1000 1000"), "{status:?}");
    assert!(status.contains(&"CapEff: 0000000000000000"), "{status:?}");
    assert!(status.contains(&"Seccomp: 2"), "{status:?}");

    let moved = json_section(&out, "move")
        .unwrap_or_else(|| panic!("no move: {:?}", section(&out, "move")));
    println!("move: {moved}");
    assert_eq!(moved["state"], "done", "{moved}");
    assert_eq!(moved["pages_failed"].as_u64(), Some(0), "{moved}");
    assert!(moved["pages_moved"].as_u64().unwrap() > 0, "{moved}");
    let share = share_on(&json_section(&out, "placement").unwrap(), 1);
    assert!(share >= 0.99, "{share} of the guest's memory on node 1");

    let (pin, status) = section(&out, "pin").unwrap();
    assert_eq!(status, 0, "{pin:?}");
    assert_eq!(
        out.script_value("VCPU0-CPUS "),
        out.script_value("NODE1-CPUS "),
        "vCPU 0 is not pinned to node 1's CPUs"
    );
    assert_eq!(
        out.script_value("TERN-EXIT status="),
        Some("0"),
        "{}",
        out.console
    );

    // Huge pages root reserved serve an unprivileged tern.
    let huge = lines(&out, "HUGE ");
    println!("hugetlb: {huge:?}");
    assert_eq!(
        out.script_value("HUGE-STATUS "),
        Some("0"),
        "{}",
        out.console
    );
    assert!(
        huge.iter().any(|l| l.contains("hello from huge pages")),
        "{huge:?}"
    );
    assert!(
        huge.iter()
            .any(|l| l.starts_with("tern: placement guest_node=0") && l.contains("N0=")),
        "{huge:?}"
    );
}
