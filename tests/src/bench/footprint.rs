//! tern's own memory and start-up cost in L1: resident memory beyond guest memory with the
//! guest idle at its prompt (2 vCPUs, 256 MiB), and the CPU time tern used from its start
//! until its API socket answered (`ternctl vm` polled every 10 ms), five launches or more.

use std::time::Duration;

use serde_json::json;

use super::error::BenchError;
use super::figure::{Figure, PartResult};
use super::lab;
use super::records::{facts, records};
use super::shell::prelude;
use super::stats::median;

/// The part's name.
pub const PART: &str = "footprint";
/// Firecracker's specified limit for its own memory (1 vCPU, 128 MiB guest), MiB.
pub const FIRECRACKER_RSS_MIB: f64 = 5.0;

/// The script: `rounds` launches, each measured at API-ready and at the guest's prompt.
pub fn script(rounds: usize) -> String {
    let mut s = prelude();
    s.push_str(&format!(
        r#"facts
i=1
while [ $i -le {rounds} ]; do
    rm -f $sock /tmp/tern.out
    now s
    tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 256M --api-sock $sock \
        --cmdline "$GUEST_CMDLINE tern_hold=30" </dev/null >/tmp/tern.out 2>&1 &
    pid=$!
    n=0; until ternctl --sock $sock vm >/dev/null 2>&1; do n=$((n+1)); [ $n -gt 3000 ] && break; sleep 0.01; done
    now r
    all=0; vcpu=0; names=""
    for t in /proc/$pid/task/*; do
        read -r c <$t/comm; read -r ns _x <$t/schedstat
        all=$((all + ns)); names="$names,$c"
        case $c in vcpu*) vcpu=$((vcpu + ns));; esac
    done
    echo "REC ready i=$i start=$s at=$r polls=$n all_ns=$all vcpu_ns=$vcpu threads=${{names#,}}"
    wait_for "TERN-GUEST holding"
    sleep 2
    st=/proc/$pid/status
    echo "REC rss i=$i vmrss_kb=$(awk '/^VmRSS/ {{print $2}}' $st) anon_kb=$(awk '/^RssAnon/ {{print $2}}' $st) file_kb=$(awk '/^RssFile/ {{print $2}}' $st) shmem_kb=$(awk '/^RssShmem/ {{print $2}}' $st) guest_rss_kb=$(guest_smaps Rss) guest_vmas=$(guest_vmas | wc -l) threads=$(ls /proc/$pid/task | wc -l)"
    ternctl --sock $sock shutdown >/dev/null 2>&1
    n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 150 ] && kill -9 $pid; sleep 0.2; done
    wait $pid; echo "REC exit i=$i status=$?"
    i=$((i + 1))
done
exit 0
"#
    ));
    s
}

/// The figures of one footprint run's output.
pub fn analyze(output: &str) -> Result<PartResult, BenchError> {
    let rss = records(output.lines(), "rss");
    let vmm_mib: Vec<f64> = rss
        .iter()
        .filter(|r| r.int("guest_vmas").unwrap_or(0) > 0)
        .filter_map(|r| Some((r.num("vmrss_kb")? - r.num("guest_rss_kb")?) / 1024.0))
        .collect();
    if vmm_mib.is_empty() {
        return Err(BenchError::output(
            PART,
            "no launch reported its memory with guest VMAs found",
        ));
    }
    let ready = records(output.lines(), "ready");
    let ready_ok: Vec<_> = ready
        .iter()
        .filter(|r| r.int("polls").unwrap_or(9999) <= 3000)
        .collect();
    let ms = |f: &dyn Fn(&crate::bench::records::Record) -> Option<f64>| -> Vec<f64> {
        ready_ok.iter().filter_map(|r| f(r)).collect()
    };
    let all = ms(&|r| Some(r.num("all_ns")? / 1e6));
    let own = ms(&|r| Some((r.num("all_ns")? - r.num("vcpu_ns")?) / 1e6));
    let wall = ms(&|r| Some((r.num("at")? - r.num("start")?) * 1000.0));
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    result.figure(Figure::new(
        &key("vmm_rss_mib"),
        "tern's resident memory beyond guest memory, guest idle (2 vCPUs, 256 MiB), L1",
        "MiB",
        vmm_mib.clone(),
    ));
    result.figure(Figure::new(
        &key("vmrss_mib"),
        "tern's whole VmRSS at the same moment, L1",
        "MiB",
        rss.iter()
            .filter_map(|r| Some(r.num("vmrss_kb")? / 1024.0))
            .collect(),
    ));
    result.figure(Figure::new(
        &key("own_anon_mib"),
        "of tern's own: anonymous memory (RssAnon − guest memory), L1",
        "MiB",
        rss.iter()
            .filter(|r| r.int("guest_vmas").unwrap_or(0) > 0)
            .filter_map(|r| Some((r.num("anon_kb")? - r.num("guest_rss_kb")?) / 1024.0))
            .collect(),
    ));
    result.figure(Figure::new(
        &key("binary_mib"),
        "of tern's own: its binary's pages (RssFile + RssShmem; L1's files live in RAM), L1",
        "MiB",
        rss.iter()
            .filter_map(|r| Some((r.num("file_kb")? + r.num("shmem_kb")?) / 1024.0))
            .collect(),
    ));
    result.figure(Figure::new(
        &key("api_ready_cpu_ms_l1"),
        "CPU time, start → API answers, all threads, L1 (vCPUs boot the guest meanwhile)",
        "ms",
        all.clone(),
    ));
    result.figure(Figure::new(
        &key("api_ready_cpu_ms_l1_own"),
        "the same without the vCPU threads, L1",
        "ms",
        own.clone(),
    ));
    result.figure(Figure::new(
        &key("api_ready_wall_ms_l1"),
        "wall time, start → API answers (polled every 10 ms), L1",
        "ms",
        wall,
    ));
    let rss_median = median(&vmm_mib);
    result.headline("vmm_rss_mib", rss_median);
    result.headline("api_ready_cpu_ms_l1", median(&all));
    result.headline("api_ready_cpu_ms_l1_own_threads", median(&own));
    if let Some(m) = rss_median.filter(|m| *m > FIRECRACKER_RSS_MIB) {
        result.note(format!(
            "tern's own resident memory is {m:.1} MiB, above the {FIRECRACKER_RSS_MIB} MiB Firecracker specifies (its figure is for 1 vCPU and 128 MiB; ours is 2 vCPUs and 256 MiB)."
        ));
    }
    let statuses: Vec<i64> = records(output.lines(), "exit")
        .iter()
        .filter_map(|r| r.int("status"))
        .collect();
    if statuses.iter().any(|s| *s != 0) {
        result.note(format!("tern exit statuses: {statuses:?}"));
    }
    result.detail("launches", rss.iter().map(|r| json!(r.fields)).collect());
    result.detail("ready", ready.iter().map(|r| json!(r.fields)).collect());
    result.detail("lab", facts(output.lines()));
    Ok(result)
}

/// Runs the part.
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let spec = lab::spec(
        "bench-footprint",
        script(rounds),
        Duration::from_secs(5 * 60),
    );
    let out = lab::run(PART, &spec)?;
    let mut result = analyze(&out.script_output)?;
    result.detail("console", out.log.display().to_string().into());
    result.detail("lab_attempts", out.attempts.into());
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtracts_guest_memory_and_reads_cpu_time() {
        let out = "REC ready i=1 start=10.00 at=10.25 polls=20 all_ns=30000000 vcpu_ns=10000000 threads=tern,api,vcpu0,vcpu1\n\
                   REC rss i=1 vmrss_kb=40960 anon_kb=34816 file_kb=1024 shmem_kb=2048 guest_rss_kb=32768 guest_vmas=1 threads=4\n\
                   REC ready i=2 start=20.00 at=20.35 polls=30 all_ns=50000000 vcpu_ns=20000000 threads=tern\n\
                   REC rss i=2 vmrss_kb=45056 anon_kb=1 file_kb=2 guest_rss_kb=32768 guest_vmas=1 threads=4\n\
                   REC rss i=3 vmrss_kb=45056 anon_kb=1 file_kb=2 guest_rss_kb=0 guest_vmas=0 threads=4\n\
                   REC exit i=1 status=0\nREC exit i=2 status=0\n";
        let r = analyze(out).unwrap();
        assert_eq!(
            r.find("footprint.vmm_rss_mib").unwrap().samples,
            vec![8.0, 12.0]
        );
        assert_eq!(r.headline[0], ("vmm_rss_mib".into(), 10.0));
        assert_eq!(r.find("footprint.own_anon_mib").unwrap().samples[0], 2.0);
        assert_eq!(r.find("footprint.binary_mib").unwrap().samples, vec![3.0]);
        assert_eq!(
            r.find("footprint.api_ready_cpu_ms_l1").unwrap().median(),
            Some(40.0)
        );
        assert_eq!(
            r.find("footprint.api_ready_cpu_ms_l1_own")
                .unwrap()
                .median(),
            Some(25.0)
        );
        let wall = r
            .find("footprint.api_ready_wall_ms_l1")
            .unwrap()
            .median()
            .unwrap();
        assert!((wall - 300.0).abs() < 1e-6);
        assert!(r.notes.iter().any(|n| n.contains("above the 5 MiB")));
        assert!(analyze("REC rss i=1 vmrss_kb=1 guest_rss_kb=0 guest_vmas=0\n").is_err());
        assert!(script(5).contains("[ $i -le 5 ]"));
    }
}
