//! Disk and network throughput through virtio-mmio devices, Tern beside QEMU's microvm
//! machine (virtio-blk-device, virtio-net-device on a tap), same kernel, initramfs and
//! command line, alternating, in several fresh L1s. The guest times O_DIRECT writes and reads
//! of a raw scratch disk and a download from L1's web server over the tap.

use std::time::Duration;

use serde_json::json;

use super::boot::{order, with_qemu, Vmm};
use super::error::BenchError;
use super::figure::{Figure, PartResult};
use super::lab;
use super::records::{facts, records};
use super::shell::{prelude, GUEST_CMDLINE};
use super::stats::median;

/// The part's name.
pub const PART: &str = "virtio";
/// MiB written and read on the disk, and downloaded.
pub const MIB: u32 = 128;

/// The VMM's command line for the I/O guest.
fn command(vmm: Vmm) -> String {
    let cmdline = format!("{GUEST_CMDLINE} tern_task=io_bench tern_bench_mib={MIB}");
    match vmm {
        Vmm::Tern => format!(
            "tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 256M \
             --disk path=/tmp/scratch.img --net tap=tern0 --cmdline \"{cmdline}\""
        ),
        Vmm::Qemu => format!(
            "qemu-system-x86_64 -L /usr/share/qemu -M microvm -accel kvm -cpu host -m 256M -smp 2 \
             -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
             -drive id=d0,file=/tmp/scratch.img,format=raw,if=none -device virtio-blk-device,drive=d0 \
             -netdev tap,id=n0,ifname=tern0,script=no,downscript=no -device virtio-net-device,netdev=n0 \
             -kernel /images/bzImage -initrd /images/guest.cpio -append \"{cmdline}\""
        ),
    }
}

/// The script of lab run `run`: each VM gets a fresh scratch disk and a fresh tap, which L1
/// addresses (169.254.10.1) once the VMM has created it, and serves `/blob` on.
pub fn script(run: usize) -> String {
    let mut s = prelude();
    s.push_str(&format!(
        r#"facts
echo "REC fact qemu=$(qemu-system-x86_64 --version | head -n 1 | tr ' ' _)"
mkdir -p /tmp/www
dd if=/dev/urandom of=/tmp/www/blob bs=1M count={MIB} 2>/dev/null
echo {MIB} > /tmp/www/blob.size
vm() {{
    kind=$1; i=$2; shift 2
    rm -f /tmp/www/ready /tmp/scratch.img
    dd if=/dev/zero of=/tmp/scratch.img bs=1M count={MIB} 2>/dev/null
    ( timeout -s KILL 240 "$@" </dev/null 2>&1; echo "VM-EXIT status=$?" ) | awk -v p="IO $kind $i " '{{ print p $0; fflush() }}' &
    v=$!
    n=0; while [ ! -e /sys/class/net/tern0 ] && [ $n -lt 300 ]; do n=$((n+1)); sleep 0.1; done
    ip addr add 169.254.10.1/16 dev tern0 && ip link set tern0 up
    httpd -f -p 169.254.10.1:8080 -h /tmp/www & h=$!
    touch /tmp/www/ready
    wait $v
    kill $h; wait $h 2>/dev/null
    echo "REC vm_done kind=$kind i=$i"
    sleep 1
}}
"#
    ));
    let mut counts = [0usize; 2];
    for vmm in order(run) {
        let i = &mut counts[vmm as usize];
        *i += 1;
        s.push_str(&format!("vm {} {} {}\n", vmm.name(), *i, command(vmm)));
    }
    s.push_str("exit 0\n");
    s
}

/// One VM's measurements.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// `tern` or `qemu`.
    pub kind: String,
    /// The lab run (0-based) and the VM's number of its kind in it.
    pub run: usize,
    /// Its number.
    pub i: i64,
    /// Disk write, read and network download throughput, MiB/s.
    pub write: Option<f64>,
    /// Disk read MiB/s.
    pub read: Option<f64>,
    /// Download MiB/s.
    pub net: Option<f64>,
}

/// One rate of a sample.
type Rate = fn(&Sample) -> Option<f64>;

/// The samples of one lab run's output.
pub fn parse_run(output: &str, run: usize) -> Vec<Sample> {
    records(output.lines(), "vm_done")
        .iter()
        .filter_map(|r| {
            let (kind, i) = (r.get("kind")?, r.int("i")?);
            let prefix = format!("IO {kind} {i} TERN-GUEST ");
            let value = |key: &str| -> Option<f64> {
                output
                    .lines()
                    .filter_map(|l| l.strip_prefix(prefix.as_str()))
                    .find_map(|l| {
                        l.trim_end_matches('\r')
                            .strip_prefix(key)?
                            .strip_prefix('=')
                    })
                    .and_then(|v| v.trim().parse().ok())
            };
            let rate = |ms: Option<f64>, mib: Option<f64>| match (ms, mib) {
                (Some(ms), Some(mib)) if ms > 0.0 => Some(mib * 1000.0 / ms),
                _ => None,
            };
            let mib = value("bench_mib");
            Some(Sample {
                kind: kind.into(),
                run,
                i,
                write: rate(value("bench_disk_write_ms"), mib),
                read: rate(value("bench_disk_read_ms"), mib),
                net: rate(value("bench_net_ms"), value("bench_net_mib")),
            })
        })
        .collect()
}

/// The figures of all samples: Tern's rates over QEMU's, paired within a lab run.
pub fn analyze(samples: &[Sample], failed_runs: &[String]) -> Result<PartResult, BenchError> {
    let of = |kind: &str, f: fn(&Sample) -> Option<f64>| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.kind == kind)
            .filter_map(f)
            .collect()
    };
    let ratio = |f: fn(&Sample) -> Option<f64>| -> Vec<f64> {
        samples
            .iter()
            .filter(|s| s.kind == "tern")
            .filter_map(|t| {
                let q = samples
                    .iter()
                    .find(|q| q.kind == "qemu" && q.run == t.run && q.i == t.i)?;
                Some(f(t)? / f(q)?)
            })
            .collect()
    };
    if of("tern", |s| s.read).is_empty() {
        return Err(BenchError::output(
            PART,
            format!("no Tern VM finished its I/O ({} VMs)", samples.len()),
        ));
    }
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    let rows: [(&str, &str, Rate); 3] = [
        (
            "disk_write",
            "O_DIRECT 1 MiB writes to a raw scratch disk",
            |s| s.write,
        ),
        (
            "disk_read",
            "O_DIRECT 1 MiB reads of a raw scratch disk",
            |s| s.read,
        ),
        ("net", "download from L1 over the tap (busybox wget)", |s| {
            s.net
        }),
    ];
    for (name, label, f) in rows {
        result.figure(Figure::new(
            &key(&format!("tern_{name}_mib_s")),
            format!("Tern: {label}"),
            "MiB/s",
            of("tern", f),
        ));
        result.figure(Figure::new(
            &key(&format!("qemu_{name}_mib_s")),
            format!("QEMU microvm: {label}"),
            "MiB/s",
            of("qemu", f),
        ));
        let ratios = ratio(f);
        result.figure(Figure::new(
            &key(&format!("{name}_ratio_vs_qemu")),
            format!("{label}: Tern / QEMU microvm, paired (above 1: Tern faster)"),
            "×",
            ratios.clone(),
        ));
        result.headline(&format!("{name}_ratio_vs_qemu"), median(&ratios));
    }
    for f in failed_runs {
        result.note(format!("an I/O lab run failed: {f}"));
    }
    result.detail(
        "vms",
        samples
            .iter()
            .map(|s| json!({"vmm": s.kind, "run": s.run + 1, "i": s.i, "disk_write_mib_s": s.write, "disk_read_mib_s": s.read, "net_mib_s": s.net}))
            .collect(),
    );
    Ok(result)
}

/// Runs the part: enough lab runs for `rounds` VMs of each VMM.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let runs = rounds.div_ceil(super::boot::PAIRS_PER_RUN).max(1);
    let mut samples = Vec::new();
    let mut failed = Vec::new();
    let mut lab_facts = json!(null);
    for run in 0..runs {
        let spec = with_qemu(lab::spec(
            &format!("bench-virtio-{}", run + 1),
            script(run),
            Duration::from_secs(12 * 60),
        ));
        match lab::run(PART, &spec) {
            Ok(out) => {
                let these = parse_run(&out.script_output, run);
                for s in &these {
                    println!(
                        "bench:   {} vm {}: disk write {:?} read {:?} net {:?} MiB/s",
                        s.kind, s.i, s.write, s.read, s.net
                    );
                }
                samples.extend(these);
                lab_facts = facts(out.script_output.lines());
            }
            Err(e) => {
                eprintln!("bench: {e}");
                failed.push(e.to_string());
            }
        }
    }
    let mut result = analyze(&samples, &failed)?;
    result.detail("lab", lab_facts);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_alternate_and_both_vmms_get_a_disk_and_a_tap() {
        assert_eq!(order(1), [Vmm::Qemu, Vmm::Tern, Vmm::Qemu, Vmm::Tern]);
        let s = script(0);
        assert!(s.find("vm tern 1 ").unwrap() < s.find("vm qemu 1 ").unwrap());
        assert!(s.contains("--disk path=/tmp/scratch.img --net tap=tern0"));
        assert!(s.contains("-device virtio-blk-device,drive=d0"));
        assert!(s.contains("ifname=tern0,script=no"));
    }

    #[test]
    fn reads_rates_and_pairs_them() {
        let out = "IO tern 1 TERN-GUEST bench_mib=128\nIO tern 1 TERN-GUEST bench_disk_write_ms=1000\r\n\
                   IO tern 1 TERN-GUEST bench_disk_read_ms=500\nIO tern 1 TERN-GUEST bench_net_ms=2000\n\
                   IO tern 1 TERN-GUEST bench_net_mib=128\nREC vm_done kind=tern i=1\n\
                   IO qemu 1 TERN-GUEST bench_mib=128\nIO qemu 1 TERN-GUEST bench_disk_write_ms=2000\n\
                   IO qemu 1 TERN-GUEST bench_disk_read_ms=1000\nIO qemu 1 TERN-GUEST bench_net_ms=1000\n\
                   IO qemu 1 TERN-GUEST bench_net_mib=128\nREC vm_done kind=qemu i=1\n";
        let samples = parse_run(out, 0);
        assert_eq!(samples[0].write, Some(128.0));
        assert_eq!(samples[0].read, Some(256.0));
        let r = analyze(&samples, &[]).unwrap();
        assert_eq!(
            r.find("virtio.disk_write_ratio_vs_qemu").unwrap().samples,
            vec![2.0]
        );
        assert_eq!(
            r.find("virtio.net_ratio_vs_qemu").unwrap().samples,
            vec![0.5]
        );
        assert!(analyze(&[], &[]).is_err());
    }
}
