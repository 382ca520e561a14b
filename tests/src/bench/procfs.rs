//! Reading a process's /proc files: which VMAs are guest memory, their resident size, and
//! the CPU time of its threads.

use std::path::Path;

/// Whether a numa_maps policy word marks a guest memory VMA: tern gives every guest region
/// an explicit policy (bind, preferred, interleave, or local), everything else in tern has
/// the default one.
fn is_guest_policy(policy: &str) -> bool {
    ["bind", "prefer", "interleave", "local"]
        .iter()
        .any(|p| policy.starts_with(p))
}

/// The start addresses (hex, as /proc writes them) of the guest memory VMAs in `numa_maps`.
pub fn guest_vma_starts(numa_maps: &str) -> Vec<String> {
    numa_maps
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let start = words.next()?;
            is_guest_policy(words.next()?).then(|| start.to_string())
        })
        .collect()
}

/// The sum of `field` (kB) in `smaps` over the VMAs starting at `starts`.
pub fn smaps_sum_kb(smaps: &str, starts: &[String], field: &str) -> u64 {
    let key = format!("{field}:");
    let mut inside = false;
    let mut sum = 0;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((start, _)) = first.split_once('-') {
            if start.chars().all(|c| c.is_ascii_hexdigit()) && !start.is_empty() {
                inside = starts.iter().any(|s| s == start);
                continue;
            }
        }
        if inside && first == key {
            sum += words
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    sum
}

/// A `kB` field of /proc/<pid>/status, e.g. `VmRSS`.
pub fn status_kb(status: &str, field: &str) -> Option<u64> {
    let key = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// CPU time (ns, the first field of schedstat) of every thread of `pid`: (name, ns).
pub fn thread_cpu_ns(pid: u32) -> std::io::Result<Vec<(String, u64)>> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let dir = entry?.path();
        let read = |f: &str| std::fs::read_to_string(Path::new(&dir).join(f));
        let (Ok(comm), Ok(stat)) = (read("comm"), read("schedstat")) else {
            continue; // the thread ended meanwhile
        };
        let ns = stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        threads.push((comm.trim().to_string(), ns));
    }
    Ok(threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMA_MAPS: &str = "55d0c0000000 default file=/usr/local/bin/tern mapped=10 N0=10\n\
        7f3a40000000 bind:1 anon=100 dirty=100 N1=100 kernelpagesize_kB=4\n\
        7f3a80000000 local anon=5 N0=5\n\
        7ffd00000000 default stack anon=3 N0=3\n";

    const SMAPS: &str = "55d0c0000000-55d0c0100000 r-xp 00000000 00:02 5 /usr/local/bin/tern\n\
        Size:               1024 kB\nRss:                 400 kB\n\
        7f3a40000000-7f3a50000000 rw-p 00000000 00:00 0\nSize:             262144 kB\nRss:              131072 kB\nAnonHugePages:    131072 kB\n\
        7f3a80000000-7f3a80100000 rw-p 00000000 00:00 0\nRss:                  20 kB\n\
        7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\nRss:                  12 kB\n";

    #[test]
    fn sums_guest_vmas_only() {
        let starts = guest_vma_starts(NUMA_MAPS);
        assert_eq!(starts, ["7f3a40000000", "7f3a80000000"]);
        assert_eq!(smaps_sum_kb(SMAPS, &starts, "Rss"), 131_092);
        assert_eq!(smaps_sum_kb(SMAPS, &starts, "AnonHugePages"), 131_072);
        assert_eq!(smaps_sum_kb(SMAPS, &[], "Rss"), 0);
    }

    #[test]
    fn reads_status_fields_and_this_process_threads() {
        let status = "Name:\ttern\nVmHWM:\t   9000 kB\nVmRSS:\t   8192 kB\n";
        assert_eq!(status_kb(status, "VmRSS"), Some(8192));
        assert_eq!(status_kb(status, "RssFile"), None);
        let threads = thread_cpu_ns(std::process::id()).unwrap();
        assert!(!threads.is_empty());
    }
}
