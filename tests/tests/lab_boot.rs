#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Tern boots Debian's cloud kernel in the lab, as a bzImage and as an uncompressed vmlinux,
//! with 2 vCPUs and 256 MiB; the guest's init reports its CPUs and memory and powers off (or
//! reboots), and tern exits 0. Bad input inside the lab gets one error line and status 1.

use tern_tests::{run_with_retries, tern_command, LabSpec, TernRun};

const QUIET_CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet";

fn boot(name: &str, args: &str) -> TernRun {
    let spec = LabSpec::new(name, tern_command(args)).requiring_tern();
    let out = run_with_retries(&spec).expect("the lab ran");
    let run =
        TernRun::parse(&out).unwrap_or_else(|| panic!("tern never finished:\n{}", out.console));
    if let (Some(boot), Some(uptime)) = (run.boot_to_init_s(), run.guest_uptime_at_init) {
        println!(
            "{name}: tern start to guest init {boot:.2} s, guest uptime at init {uptime:.2} s"
        );
    }
    assert_eq!(run.status, 0, "tern failed:\n{}", out.console);
    run
}

fn assert_two_cpus_and_256m(run: &TernRun) {
    assert_eq!(run.guest_value("nproc"), Some("2"), "{:#?}", run.lines);
    let memtotal_kb: u64 = run
        .guest_value("memtotal_kb")
        .and_then(|v| v.parse().ok())
        .expect("MemTotal");
    // The kernel keeps some of the 256 MiB for itself.
    assert!(
        (180_000..=262_144).contains(&memtotal_kb),
        "MemTotal {memtotal_kb} kB"
    );
    assert!(run.lines.iter().any(|l| l == "TERN-GUEST done"));
}

#[test]
fn boots_the_bzimage_with_two_vcpus() {
    let run = boot(
        "boot_bzimage",
        "--kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 256M",
    );
    assert_two_cpus_and_256m(&run);
    // The default command line shows the kernel's boot log, warnings included: the guest's
    // XSAVE size must agree with its XCR0 (see vmm/src/arch/xcr0.rs).
    assert!(run.lines.iter().any(|l| l.contains("Linux version")));
    assert!(
        !run.lines
            .iter()
            .any(|l| l.contains("XSAVE consistency problem")),
        "{:#?}",
        run.lines
    );
    assert!(run.tern_messages().is_empty(), "{:?}", run.tern_messages());
}

#[test]
fn boots_the_vmlinux_with_two_vcpus() {
    let run = boot(
        "boot_vmlinux",
        &format!("--kernel /images/vmlinux --initramfs /images/guest.cpio --vcpus 2 --memory 256 --cmdline '{QUIET_CMDLINE}'"),
    );
    assert_two_cpus_and_256m(&run);
    assert!(
        !run.lines.iter().any(|l| l.contains("Linux version")),
        "quiet was passed"
    );
}

#[test]
fn a_guest_reboot_ends_tern_cleanly() {
    let run = boot(
        "boot_reboot",
        &format!("--kernel /images/bzImage --initramfs /images/guest.cpio --cmdline '{QUIET_CMDLINE} tern_exit=reboot'"),
    );
    assert_eq!(run.guest_value("nproc"), Some("1"));
    assert!(run.lines.iter().any(|l| l == "TERN-GUEST done"));
}

/// `reboot=t` makes Linux reboot by a triple fault. Tern cannot tell that from a crash, so it
/// reports it as one: the crash line and status 2 (README, exit status). It comes after the
/// guest printed `TERN-GUEST done`, so the lab runner leaves it to the test (a triple fault
/// before that counts as the lab's failure, see tests/src/guest_fault.rs).
#[test]
fn a_guest_that_reboots_by_triple_fault_is_reported_as_a_crash() {
    let spec = LabSpec::new(
        "boot_triple_fault",
        tern_command(&format!("--kernel /images/bzImage --initramfs /images/guest.cpio --cmdline '{QUIET_CMDLINE} reboot=t tern_exit=reboot'")),
    )
    .requiring_tern();
    let out = run_with_retries(&spec).expect("the lab ran");
    let run =
        TernRun::parse(&out).unwrap_or_else(|| panic!("tern never finished:\n{}", out.console));
    assert!(run.lines.iter().any(|l| l == "TERN-GUEST done"));
    assert_eq!(run.status, 2, "{:#?}", run.lines);
    assert_eq!(
        run.tern_messages(),
        ["tern: the guest crashed: vCPU 0 triple-faulted"],
        "{:#?}",
        run.lines
    );
}

#[test]
fn bad_input_is_refused_inside_the_lab() {
    let cases = [
        (
            "missing_kernel",
            "--kernel /images/none",
            "cannot open the kernel /images/none",
        ),
        (
            "not_a_kernel",
            "--kernel /lab/script.sh",
            "is neither an ELF vmlinux nor a bzImage",
        ),
        (
            "initramfs_too_big",
            "--kernel /images/bzImage --initramfs /images/vmlinux --memory 64M",
            "does not fit",
        ),
        (
            "zero_vcpus",
            "--kernel /images/bzImage --vcpus 0",
            "0 vCPUs requested",
        ),
        (
            "too_many_vcpus",
            "--kernel /images/bzImage --vcpus 5000",
            "5000 vCPUs requested",
        ),
        (
            "too_much_memory",
            "--kernel /images/bzImage --memory 64G",
            "host has only",
        ),
        (
            "bad_size",
            "--kernel /images/bzImage --memory lots",
            "'lots' is not a memory size",
        ),
    ];
    let mut script = String::new();
    for (name, args, _) in &cases {
        script.push_str(&format!(
            "timeout 60 tern {args} </dev/null >/tmp/out 2>/tmp/err; echo \"case={name} status=$? lines=$(wc -l </tmp/err) out=$(wc -c </tmp/out) msg=$(cat /tmp/err)\"\n"
        ));
    }
    let spec = LabSpec::new("boot_bad_input", script).requiring_tern();
    let out = run_with_retries(&spec).expect("the lab ran");
    for (name, _, expected) in &cases {
        let line = out
            .script_value(&format!("case={name} "))
            .unwrap_or_else(|| panic!("{name} missing:\n{}", out.console));
        assert!(
            line.starts_with("status=1 lines=1 out=0 msg=tern: "),
            "{name}: {line}"
        );
        assert!(line.contains(expected), "{name}: {line}");
    }
}
