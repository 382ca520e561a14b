#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! tern's seccomp filters in the lab, with the default mode (kill): while a Linux guest with a
//! virtio disk and a virtio-net device (its drivers probe them) runs, its memory moves to the
//! other node on two workers and heat is sampled, every thread of tern (main, vCPUs, console
//! writer, API and its slow-request worker, the devices' workers, rebalance job, movers, heat
//! sampler, automatic balancer) runs under its filter, the move ends and tern exits 0 (base
//! pages, `--memory-backing anon`: with transparent huge pages a move goes block by block on
//! the job's own thread and starts no worker). Then a forbidden call from a page mover (the one kind of thread this
//! host's single node cannot start) stops tern with its line and status 3.

use tern_tests::sections::{json_section, section, SECTION_FN, WAIT_FNS};
use tern_tests::threads::{parse_script_lines, RUNNING_THREADS, SCRIPT_FUNCTION};
use tern_tests::tiny_guest::writer_guest;
use tern_tests::{run_with_retries, LabSpec};

const BODY: &str = r#"
# Base pages (--memory-backing anon): with transparent huge pages, tern's default, a move goes
# block by block on the job's thread, and no worker starts.
echo madvise > /sys/kernel/mm/transparent_hugepage/enabled
sock=/tmp/api.sock
dd if=/dev/zero of=/tmp/disk.img bs=1M count=4 2>/dev/null
tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 512M --api-sock $sock \
    --memory-backing anon --disk path=/tmp/disk.img --net tap=tern0 \
    --cmdline "console=ttyS0 reboot=k panic=1 pci=off quiet tern_task=fill tern_mib=160 tern_seconds=100000" \
    </dev/null >/tmp/tern.out 2>&1 &
pid=$!
wait_for "cpu0: HB pass=1"; wait_for "cpu1: HB pass=1"
section heat ternctl --sock $sock heat --enable --interval-ms 500
section auto ternctl --sock $sock auto on --interval-ms 600000
section move ternctl --sock $sock --json rebalance --policy to-node --node 1 --workers 2 --batch-pages 64 --max-mib-per-s 16 --no-wait
# Movers start afresh for each range the move takes in turn, and the two of a range end one
# after the other, so a listing may catch one, or none: list again until a listing shows both.
movers() { cat /proc/$pid/task/*/comm 2>/dev/null | grep -c '^mover$'; }
n=0; while [ $n -lt 300 ] && [ "$(movers)" -lt 2 ]; do n=$((n+1)); sleep 0.1; done
n=0
while [ $n -lt 100 ]; do
    threads $pid >/tmp/threads.out
    [ "$(grep -c '^thread mover seccomp=[0-9]' /tmp/threads.out)" -ge 2 ] && break
    n=$((n+1))
done
cat /tmp/threads.out
section moved ternctl --sock $sock --json wait rb-1
section shutdown ternctl --sock $sock shutdown
n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 300 ] && kill -9 $pid; sleep 0.2; done
wait $pid; echo "TERN-EXIT status=$?"
grep -q "TERN-GUEST: hello" /tmp/tern.out && echo TERN-GUEST-WAS-READY
grep "tern: " /tmp/tern.out | sed 's/^/TERNMSG /'
echo "AUDIT-LINES $(dmesg | grep -c 'type=1326')"

pid=
TERN_SECCOMP_SELFTEST=mover tern --kernel /lab/writer.elf --memory 64M --host-node 0 --prefault \
    --memory-backing anon \
    --api-sock /tmp/mover.sock </dev/null >/tmp/mover.out 2>&1 &
mpid=$!
n=0; while ! ternctl --sock /tmp/mover.sock vm >/dev/null 2>&1 && [ $n -lt 100 ]; do n=$((n+1)); sleep 0.1; done
ternctl --sock /tmp/mover.sock rebalance --policy to-node --node 1 --workers 2 --batch-pages 1 >/dev/null 2>&1
n=0; while kill -0 $mpid 2>/dev/null && [ $n -lt 100 ]; do n=$((n+1)); sleep 0.1; done
kill -9 $mpid 2>/dev/null
wait $mpid; echo "MOVER-EXIT status=$?"
sed 's/^/MOVERMSG /' /tmp/mover.out
exit 0
"#;

#[test]
fn every_thread_runs_under_its_filter_while_memory_moves() {
    let dir = std::env::temp_dir().join(format!("tern-lab-seccomp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let guest = dir.join("writer.elf");
    std::fs::write(&guest, writer_guest()).unwrap();
    let script = format!("{SECTION_FN}\n{WAIT_FNS}\n{SCRIPT_FUNCTION}\n{BODY}");
    let spec = LabSpec::new("seccomp", script)
        .requiring_tern()
        .with_node_mib(1024)
        .carry_file(&guest, "/lab/writer.elf");
    let out = run_with_retries(&spec).expect("the lab ran");
    let _ = std::fs::remove_dir_all(&dir);

    let threads = parse_script_lines(&out.console);
    println!("threads while the move ran: {threads:?}");
    for name in RUNNING_THREADS.iter().chain(&["mover"]) {
        assert!(
            threads.iter().any(|t| t.name == *name),
            "no {name} thread: {threads:?}\n{}",
            out.console
        );
    }
    assert_eq!(
        threads.iter().filter(|t| t.name == "mover").count(),
        2,
        "{threads:?}"
    );
    for thread in &threads {
        assert_eq!(thread.seccomp, 2, "{thread:?} runs without a filter");
    }

    let moved = json_section(&out, "moved")
        .unwrap_or_else(|| panic!("no move status: {:?}", section(&out, "moved")));
    println!("move: {moved}");
    assert_eq!(moved["state"], "done", "{moved}");
    assert!(moved["pages_moved"].as_u64().unwrap() > 0, "{moved}");
    assert_eq!(
        out.script_value("TERN-EXIT status="),
        Some("0"),
        "{}",
        out.console
    );
    assert!(
        !out.script_lines()
            .any(|l| l.starts_with("TERNMSG") && l.contains("seccomp")),
        "{}",
        out.console
    );
    assert_eq!(out.script_value("AUDIT-LINES "), Some("0"));

    assert_eq!(
        out.script_value("MOVER-EXIT status="),
        Some("3"),
        "{}",
        out.console
    );
    assert_eq!(
        out.script_lines()
            .filter_map(|l| l.strip_prefix("MOVERMSG "))
            .last(),
        Some("tern: seccomp: thread mover made a forbidden system call 41 (socket); stopping"),
        "{}",
        out.console
    );
}
