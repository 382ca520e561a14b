//! Boot time: from starting the VMM to the guest's init (its first `TERN-GUEST` line), for
//! Tern and for QEMU's microvm machine, both booting the same bzImage and initramfs with the
//! same command line, 2 vCPUs and 256 MiB, alternating, in several fresh L1s (repeated L2
//! boots in one L1 occasionally lock L1 up; a fresh L1 per few boots keeps that rare).

use std::time::Duration;

use serde_json::json;

use super::error::BenchError;
use super::figure::{Figure, PartResult};
use super::lab;
use super::records::{facts, records};
use super::shell::{prelude, GUEST_CMDLINE};
use super::stats::median;

/// The part's name.
pub const PART: &str = "boot";
/// Tern and QEMU boots of each kind per lab run.
pub const PAIRS_PER_RUN: usize = 2;
/// QEMU's firmware files microvm loads (QEMU 7.2), carried to the same path in L1.
pub const QEMU_FILES: [&str; 3] = [
    "/usr/share/qemu/bios-microvm.bin",
    "/usr/share/qemu/linuxboot_dma.bin",
    "/usr/share/qemu/kvmvapic.bin",
];
/// QEMU on the host, carried into L1.
pub const QEMU: &str = "/usr/bin/qemu-system-x86_64";

/// A VMM booting the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vmm {
    /// Tern.
    Tern,
    /// QEMU's microvm machine.
    Qemu,
}

impl Vmm {
    /// `tern` or `qemu`.
    pub fn name(self) -> &'static str {
        match self {
            Vmm::Tern => "tern",
            Vmm::Qemu => "qemu",
        }
    }

    fn command(self) -> String {
        match self {
            Vmm::Tern => format!(
                "tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 256M --cmdline \"{GUEST_CMDLINE}\""
            ),
            Vmm::Qemu => format!(
                "qemu-system-x86_64 -L /usr/share/qemu -M microvm -accel kvm -cpu host -m 256M -smp 2 \
                 -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
                 -kernel /images/bzImage -initrd /images/guest.cpio -append \"{GUEST_CMDLINE}\""
            ),
        }
    }
}

/// The boot order of lab run `run` (0-based): alternating, starting with Tern in even runs
/// and with QEMU in odd ones.
pub fn order(run: usize) -> Vec<Vmm> {
    let (a, b) = if run.is_multiple_of(2) {
        (Vmm::Tern, Vmm::Qemu)
    } else {
        (Vmm::Qemu, Vmm::Tern)
    };
    (0..PAIRS_PER_RUN).flat_map(|_| [a, b]).collect()
}

/// `spec` with QEMU and the firmware files it loads carried into L1.
pub fn with_qemu(spec: crate::LabSpec) -> crate::LabSpec {
    QEMU_FILES
        .iter()
        .fold(spec.carry_binary(QEMU), |spec, &f| spec.carry_file(f, f))
}

/// The script of lab run `run`.
pub fn script(run: usize) -> String {
    let mut s = prelude();
    s.push_str(
        r#"facts
echo "REC fact qemu=$(qemu-system-x86_64 --version | head -n 1 | tr ' ' _)"
boot() {
    kind=$1; i=$2; shift 2
    now s; echo "REC boot_start kind=$kind i=$i at=$s"
    ( timeout -s KILL 120 "$@" </dev/null 2>&1; echo "BOOT-EXIT status=$?" ) | while IFS= read -r line; do read up _r </proc/uptime; echo "BL $kind $i @$up $line"; done
    now e; echo "REC boot_end kind=$kind i=$i at=$e"
    sleep 2
}
"#,
    );
    let mut counts = [0usize; 2];
    for vmm in order(run) {
        let i = &mut counts[vmm as usize];
        *i += 1;
        s.push_str(&format!("boot {} {} {}\n", vmm.name(), *i, vmm.command()));
    }
    s.push_str("exit 0\n");
    s
}

/// One boot.
#[derive(Clone, Debug, PartialEq)]
pub struct Boot {
    /// `tern` or `qemu`.
    pub kind: String,
    /// The lab run (0-based) and the boot's number of its kind in that run.
    pub run: usize,
    /// Its number.
    pub i: i64,
    /// Start to the first guest line, ms.
    pub to_init_ms: Option<f64>,
    /// The guest kernel's own uptime at init, ms.
    pub guest_uptime_ms: Option<f64>,
    /// Start to the VMM's exit, ms.
    pub to_exit_ms: Option<f64>,
    /// The VMM's exit status.
    pub status: Option<i64>,
}

/// The boots of one lab run's output.
pub fn parse_run(output: &str, run: usize) -> Vec<Boot> {
    records(output.lines(), "boot_start")
        .iter()
        .filter_map(|r| {
            let (kind, i, start) = (r.get("kind")?, r.int("i")?, r.num("at")?);
            let prefix = format!("BL {kind} {i} @");
            let lines: Vec<(f64, &str)> = output
                .lines()
                .filter_map(|l| l.strip_prefix(prefix.as_str()))
                .filter_map(|l| {
                    let (t, text) = l.split_once(' ')?;
                    Some((t.parse().ok()?, text.trim_end_matches('\r')))
                })
                .collect();
            let init = lines.iter().find(|(_, t)| t.starts_with("TERN-GUEST"));
            let end = records(output.lines(), "boot_end")
                .iter()
                .find(|e| e.get("kind") == Some(kind) && e.int("i") == Some(i))
                .and_then(|e| e.num("at"));
            Some(Boot {
                kind: kind.into(),
                run,
                i,
                to_init_ms: init.map(|(t, _)| (t - start) * 1000.0),
                guest_uptime_ms: lines
                    .iter()
                    .find_map(|(_, t)| t.strip_prefix("TERN-GUEST uptime="))
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| s * 1000.0),
                to_exit_ms: end.map(|e| (e - start) * 1000.0),
                status: lines
                    .iter()
                    .find_map(|(_, t)| t.strip_prefix("BOOT-EXIT status="))
                    .and_then(|v| v.trim().parse().ok()),
            })
        })
        .collect()
}

/// The figures of all boots.
pub fn analyze(boots: &[Boot], failed_runs: &[String]) -> Result<PartResult, BenchError> {
    let of = |kind: &str, f: fn(&Boot) -> Option<f64>| -> Vec<f64> {
        boots
            .iter()
            .filter(|b| b.kind == kind)
            .filter_map(f)
            .collect()
    };
    let ratios: Vec<f64> = boots
        .iter()
        .filter(|b| b.kind == "tern")
        .filter_map(|t| {
            let q = boots
                .iter()
                .find(|q| q.kind == "qemu" && q.run == t.run && q.i == t.i)?;
            Some(q.to_init_ms? / t.to_init_ms?)
        })
        .collect();
    let tern = of("tern", |b| b.to_init_ms);
    if tern.is_empty() {
        return Err(BenchError::output(
            PART,
            format!("no Tern boot reached init ({} boots)", boots.len()),
        ));
    }
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    result.figure(Figure::new(
        &key("tern_to_init_ms"),
        "Tern start → guest init (bzImage, 2 vCPUs, 256 MiB)",
        "ms",
        tern.clone(),
    ));
    result.figure(Figure::new(
        &key("qemu_to_init_ms"),
        "QEMU microvm start → guest init (same kernel, initramfs, command line)",
        "ms",
        of("qemu", |b| b.to_init_ms),
    ));
    result.figure(Figure::new(
        &key("ratio_qemu_over_tern"),
        "boot to init: QEMU microvm / Tern, paired",
        "×",
        ratios.clone(),
    ));
    result.figure(Figure::new(
        &key("tern_guest_uptime_ms"),
        "guest kernel's own uptime at init, Tern",
        "ms",
        of("tern", |b| b.guest_uptime_ms),
    ));
    result.figure(Figure::new(
        &key("qemu_guest_uptime_ms"),
        "guest kernel's own uptime at init, QEMU microvm",
        "ms",
        of("qemu", |b| b.guest_uptime_ms),
    ));
    result.figure(Figure::new(
        &key("tern_to_exit_ms"),
        "Tern start → exit (guest powered off)",
        "ms",
        of("tern", |b| b.to_exit_ms),
    ));
    result.figure(Figure::new(
        &key("qemu_to_exit_ms"),
        "QEMU microvm start → exit",
        "ms",
        of("qemu", |b| b.to_exit_ms),
    ));
    result.headline("boot_to_init_ms", median(&tern));
    result.headline(
        "qemu_microvm_boot_to_init_ms",
        median(&of("qemu", |b| b.to_init_ms)),
    );
    result.headline("boot_ratio_vs_qemu_microvm", median(&ratios));
    let missed: Vec<String> = boots
        .iter()
        .filter(|b| b.to_init_ms.is_none() || b.status != Some(0))
        .map(|b| {
            format!(
                "{} run {} boot {}: init {:?}, status {:?}",
                b.kind,
                b.run + 1,
                b.i,
                b.to_init_ms,
                b.status
            )
        })
        .collect();
    if !missed.is_empty() {
        result.note(format!(
            "boots that did not reach init or exit 0: {}",
            missed.join("; ")
        ));
    }
    for f in failed_runs {
        result.note(format!("a boot lab run failed: {f}"));
    }
    result.detail(
        "boots",
        boots
            .iter()
            .map(|b| json!({"vmm": b.kind, "run": b.run + 1, "i": b.i, "to_init_ms": b.to_init_ms, "guest_uptime_at_init_ms": b.guest_uptime_ms, "to_exit_ms": b.to_exit_ms, "status": b.status}))
            .collect(),
    );
    Ok(result)
}

/// Runs the part: enough lab runs for `rounds` boots of each VMM.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let runs = rounds.div_ceil(PAIRS_PER_RUN).max(1);
    let mut boots = Vec::new();
    let mut failed = Vec::new();
    let mut lab_facts = json!(null);
    let mut attempts = Vec::new();
    for run in 0..runs {
        let spec = with_qemu(lab::spec(
            &format!("bench-boot-{}", run + 1),
            script(run),
            Duration::from_secs(5 * 60),
        ));
        match lab::run(PART, &spec) {
            Ok(out) => {
                let these = parse_run(&out.script_output, run);
                for b in &these {
                    println!(
                        "bench:   {} boot {}: init after {}",
                        b.kind,
                        b.i,
                        b.to_init_ms
                            .map_or("(never)".into(), |ms| format!("{ms:.0} ms"))
                    );
                }
                boots.extend(these);
                attempts.push(out.attempts);
                lab_facts = facts(out.script_output.lines());
            }
            Err(e) => {
                eprintln!("bench: {e}");
                failed.push(e.to_string());
            }
        }
    }
    let mut result = analyze(&boots, &failed)?;
    result.detail("lab", lab_facts);
    result.detail("lab_attempts", json!(attempts));
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_alternate_and_start_with_each_vmm_in_turn() {
        assert_eq!(order(0), [Vmm::Tern, Vmm::Qemu, Vmm::Tern, Vmm::Qemu]);
        assert_eq!(order(1), [Vmm::Qemu, Vmm::Tern, Vmm::Qemu, Vmm::Tern]);
        let s = script(1);
        let first = s.find("boot qemu 1 ").unwrap();
        assert!(first < s.find("boot tern 1 ").unwrap());
        assert!(s.contains("boot tern 2 tern --kernel /images/bzImage"));
        assert!(s.contains("-M microvm -accel kvm -cpu host -m 256M -smp 2"));
        assert_eq!(s.matches(GUEST_CMDLINE).count(), 5); // the prelude's and four boots'
    }

    fn run_output() -> String {
        "REC boot_start kind=tern i=1 at=10.00\nBL tern 1 @10.50 [ 0.1] Linux\nBL tern 1 @12.00 TERN-GUEST: hello from the guest\r\n\
         BL tern 1 @12.01 TERN-GUEST uptime=1.20\nBL tern 1 @12.30 BOOT-EXIT status=0\nREC boot_end kind=tern i=1 at=12.40\n\
         REC boot_start kind=qemu i=1 at=20.00\nBL qemu 1 @28.00 TERN-GUEST: hello from the guest\nBL qemu 1 @28.00 TERN-GUEST uptime=6.00\n\
         BL qemu 1 @29.00 BOOT-EXIT status=0\nREC boot_end kind=qemu i=1 at=29.00\n\
         REC boot_start kind=tern i=2 at=40.00\nBL tern 2 @160.00 BOOT-EXIT status=137\nREC boot_end kind=tern i=2 at=160.00\n"
            .into()
    }

    #[test]
    fn reads_boots_and_pairs_them() {
        let boots = parse_run(&run_output(), 0);
        assert_eq!(boots.len(), 3);
        assert_eq!(boots[0].to_init_ms, Some(2000.0));
        assert_eq!(boots[0].guest_uptime_ms, Some(1200.0));
        assert_eq!(boots[0].status, Some(0));
        assert_eq!(boots[2].to_init_ms, None);
        let r = analyze(&boots, &["x".into()]).unwrap();
        assert_eq!(
            r.find("boot.ratio_qemu_over_tern").unwrap().samples,
            vec![4.0]
        );
        assert_eq!(r.headline[0], ("boot_to_init_ms".into(), 2000.0));
        assert_eq!(r.notes.len(), 2);
        assert!(analyze(&[], &[]).is_err());
    }
}
