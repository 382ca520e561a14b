#![allow(clippy::panic)]
//! The lab's own check: a 2-node L1 boots, has /dev/kvm and both NUMA nodes, and a
//! script's exit status comes back unretried, and an L2 guest's triple fault before it is
//! done is taken for the lab's failure.

use tern_tests::{run, run_with_retries, sections, FailureReason, LabError, LabSpec};

const SELFTEST: &str = r#"
set -e
test -c /dev/kvm
echo "kvm=yes"
test -d /sys/devices/system/node/node0
test -d /sys/devices/system/node/node1
echo "nodes=$(ls -d /sys/devices/system/node/node[0-9]* | wc -l)"
echo "nproc=$(nproc)"
test -f /images/bzImage && test -f /images/vmlinux && test -f /images/guest.cpio
echo "images=yes"
"#;

#[test]
fn two_node_lab_boots_with_kvm() {
    let spec = LabSpec::new("lab_selftest", SELFTEST).with_nodes(2);
    let out = run_with_retries(&spec).unwrap();
    println!(
        "lab selftest: boot {:.1} s, wall {:.1} s, initramfs {:.2} s, attempt {}",
        out.boot.as_secs_f64(),
        out.wall.as_secs_f64(),
        out.initramfs_time.as_secs_f64(),
        out.attempts
    );
    assert_eq!(out.status, 0, "script failed:\n{}", out.console);
    assert!(out.console.contains("TERN-LAB-READY uptime="));
    assert!(out.console.contains("TERN-LAB-EXIT status=0"));
    assert_eq!(out.script_value("kvm="), Some("yes"));
    assert_eq!(out.script_value("nodes="), Some("2"));
    assert_eq!(out.script_value("nproc="), Some("2"));
    assert_eq!(out.script_value("images="), Some("yes"));
    assert!(out.log.is_file());
}

#[test]
fn a_failing_script_is_a_result_not_a_retry() {
    let spec = LabSpec::new("lab_selftest_exit", "echo about to fail; exit 7").with_nodes(1);
    let out = run_with_retries(&spec).unwrap();
    println!(
        "exit test: initramfs {:.2} s",
        out.initramfs_time.as_secs_f64()
    );
    assert_eq!(out.status, 7);
    assert_eq!(out.attempts, 1);
    assert_eq!(out.script_output, "about to fail");
}

fn expect_guest_fault(name: &str, script: &str) {
    let spec = LabSpec::new(name, script).with_nodes(1);
    match run(&spec) {
        Err(LabError::Lab(failure)) => {
            assert!(
                matches!(&failure.reason, FailureReason::GuestTripleFault(line) if line.contains("vCPU 0 triple-faulted")),
                "{failure}"
            );
            assert_eq!(failure.attempt, 1);
        }
        other => panic!("expected a lab failure, got {other:?}"),
    }
}

/// The lines of a tern run (as tern_command prints them) whose guest triple-faulted while
/// its kernel booted: the runner stops the run and reports a lab failure.
#[test]
fn a_guest_triple_fault_before_it_is_done_is_a_lab_failure() {
    expect_guest_fault(
        "lab_selftest_guest_fault",
        "echo TERN-START at=1.00\n\
         echo '@1.50 [    0.048105] smpboot: Atern: the guest crashed: vCPU 0 triple-faulted'\n\
         echo 'TERN-EXIT status=0'",
    );
}

/// Once the guest printed its first line it is ready: a crash after that is Tern's until
/// shown otherwise, a result the test judges, never retried.
#[test]
fn a_guest_crash_once_the_guest_is_ready_is_not_a_lab_failure() {
    let spec = LabSpec::new(
        "lab_selftest_ready_fault",
        "echo TERN-START at=1.00\n\
         echo '@1.20 TERN-GUEST: hello from the guest'\n\
         echo '@1.50 tern: the guest crashed: vCPU 0 triple-faulted'\n\
         echo 'TERN-EXIT status=2'",
    )
    .with_nodes(1);
    let out = run_with_retries(&spec).unwrap();
    assert_eq!(out.attempts, 1);
    assert!(
        out.script_output.contains("triple-faulted"),
        "{}",
        out.script_output
    );
}

/// A script running tern in the background (`$pid`, /tmp/tern.out) finds it gone at its
/// next section: the section prints tern's messages, and the runner sees the triple fault.
#[test]
fn a_section_after_tern_died_shows_why() {
    let script = format!(
        "{}\n\
         echo '[    1.2] x86/fpu: xtern: the guest crashed: vCPU 0 triple-faulted' >/tmp/tern.out\n\
         true & pid=$!; wait $pid\n\
         section vm echo never",
        sections::SECTION_FN
    );
    expect_guest_fault("lab_selftest_tern_gone", &script);
}
