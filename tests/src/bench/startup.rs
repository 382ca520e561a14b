//! tern's start-up cost on this host, outside the lab: the CPU time (all threads' schedstat)
//! from its start until its API socket answers `GET /v1/vm`, and its resident memory just
//! after. The guest is a few instructions that halt at once (tern_tests::tiny_guest), so the
//! vCPU threads sleep in KVM and the figure is tern's own host code, which runs natively
//! here (the lab's L1 is emulated, so its CPU times are tens of times too long).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::client::Client;
use serde_json::json;

use super::error::BenchError;
use super::figure::{Figure, PartResult};
use super::procfs::{guest_vma_starts, smaps_sum_kb, status_kb, thread_cpu_ns};
use super::stats::median;
use crate::paths;
use crate::tiny_guest::elf_with_code;

/// The part's name.
pub const PART: &str = "startup";
/// Firecracker's specified limit for its start-up CPU time, ms.
pub const FIRECRACKER_CPU_MS: f64 = 8.0;
/// Launches measured (cheap, so more than the lab parts).
pub const LAUNCHES: usize = 15;

/// `cli; hlt; jmp hlt`: a guest that stops at once.
fn halting_guest() -> Vec<u8> {
    elf_with_code(&[0xfa, 0xf4, 0xeb, 0xfd])
}

/// One launch's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Launch {
    cpu_ms: f64,
    own_cpu_ms: f64,
    wall_ms: f64,
    vmm_rss_mib: Option<f64>,
    threads: usize,
}

/// Ends tern with SIGTERM (it stops cleanly), or SIGKILL after 5 s.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a pid we started and have not reaped; no memory is involved.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn launch(tern: &Path, kernel: &Path, dir: &Path, i: usize) -> Result<Launch, BenchError> {
    let sock = dir.join(format!("api-{i}.sock"));
    let started = Instant::now();
    let mut child = Command::new(tern)
        .arg("--kernel")
        .arg(kernel)
        .args(["--vcpus", "2", "--memory", "256M", "--api-sock"])
        .arg(&sock)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(BenchError::io(format!("start {}", tern.display())))?;
    let result = measure(&mut child, &sock, started);
    stop(&mut child);
    result
}

fn measure(child: &mut Child, sock: &Path, started: Instant) -> Result<Launch, BenchError> {
    let client =
        Client::new(sock).map_err(|e| BenchError::output(PART, format!("API client: {e}")))?;
    loop {
        if matches!(client.get("/v1/vm"), Ok(r) if r.status == 200) {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(BenchError::output(
                PART,
                format!("tern exited ({status}) before its API answered"),
            ));
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(BenchError::output(
                PART,
                "tern's API did not answer in 10 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let pid = child.id();
    let threads = thread_cpu_ns(pid).map_err(BenchError::io(format!("read /proc/{pid}/task")))?;
    let total: u64 = threads.iter().map(|t| t.1).sum();
    let vcpu: u64 = threads
        .iter()
        .filter(|t| t.0.starts_with("vcpu"))
        .map(|t| t.1)
        .sum();
    std::thread::sleep(Duration::from_millis(300));
    let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/{f}")).ok();
    let vmm_rss_mib = (|| -> Option<f64> {
        let (status, maps, smaps) = (read("status")?, read("numa_maps")?, read("smaps")?);
        let starts = guest_vma_starts(&maps);
        if starts.is_empty() {
            return None;
        }
        let guest = smaps_sum_kb(&smaps, &starts, "Rss");
        Some((status_kb(&status, "VmRSS")? as f64 - guest as f64) / 1024.0)
    })();
    Ok(Launch {
        cpu_ms: total as f64 / 1e6,
        own_cpu_ms: (total - vcpu) as f64 / 1e6,
        wall_ms,
        vmm_rss_mib,
        threads: threads.len(),
    })
}

/// Runs the part: [`LAUNCHES`] launches (at least `rounds`).
pub fn run(rounds: usize) -> Result<PartResult, BenchError> {
    let (tern, _) = paths::tern_bin();
    if !tern.exists() {
        return Err(BenchError::output(
            PART,
            format!("{} is missing: run cargo build --release", tern.display()),
        ));
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("tern-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(BenchError::io(format!("create {}", dir.display())))?;
    let kernel = dir.join("halt.elf");
    std::fs::write(&kernel, halting_guest())
        .map_err(BenchError::io(format!("write {}", kernel.display())))?;
    println!(
        "bench: {PART}: {} launches of tern on this host",
        LAUNCHES.max(rounds)
    );
    let launches: Result<Vec<Launch>, BenchError> = (0..LAUNCHES.max(rounds))
        .map(|i| launch(&tern, &kernel, &dir, i))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let launches = launches?;
    let of = |f: fn(&Launch) -> Option<f64>| launches.iter().filter_map(f).collect::<Vec<_>>();
    let mut result = PartResult::new(PART);
    let key = |k: &str| format!("{PART}.{k}");
    let cpu = of(|l| Some(l.cpu_ms));
    result.figure(Figure::new(
        &key("api_ready_cpu_ms"),
        "CPU time, tern start → API answers, all threads, this host (guest halts at once)",
        "ms",
        cpu.clone(),
    ));
    result.figure(Figure::new(
        &key("api_ready_cpu_ms_own"),
        "the same without the vCPU threads, this host",
        "ms",
        of(|l| Some(l.own_cpu_ms)),
    ));
    result.figure(Figure::new(
        &key("api_ready_wall_ms"),
        "wall time, tern start → API answers (polled every 1 ms), this host",
        "ms",
        of(|l| Some(l.wall_ms)),
    ));
    result.figure(Figure::new(
        &key("vmm_rss_mib"),
        "tern's resident memory beyond guest memory, just after start, this host",
        "MiB",
        of(|l| l.vmm_rss_mib),
    ));
    let m = median(&cpu);
    result.headline("api_ready_cpu_ms", m);
    if let Some(m) = m.filter(|m| *m > FIRECRACKER_CPU_MS) {
        result.note(format!("tern needs {m:.1} ms of CPU to answer its API, above the {FIRECRACKER_CPU_MS} ms Firecracker specifies."));
    }
    result.detail("launches", launches.iter().map(|l| json!({"cpu_ms": l.cpu_ms, "own_cpu_ms": l.own_cpu_ms, "wall_ms": l.wall_ms, "vmm_rss_mib": l.vmm_rss_mib, "threads": l.threads})).collect());
    result.detail("host", host_facts());
    Ok(result)
}

/// This host's CPU model and count.
pub fn host_facts() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    let cpus = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    json!({"cpu_model": model, "cpus": cpus})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halting_guest_is_an_elf_that_halts() {
        let elf = halting_guest();
        assert_eq!(&elf[..4], b"\x7fELF");
        assert_eq!(&elf[0x1000..], &[0xfa, 0xf4, 0xeb, 0xfd]);
        assert!(host_facts()["cpus"].as_u64().unwrap() >= 1);
    }
}
