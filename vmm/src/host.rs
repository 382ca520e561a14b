//! What the host can give a VM: available memory, from /proc/meminfo.

use std::fs;

/// MemAvailable in /proc/meminfo, in MiB, or `None` where it cannot be read.
pub fn available_memory_mib() -> Option<u64> {
    let text = fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available_mib(&text)
}

fn parse_mem_available_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2097152 kB\n";
        assert_eq!(parse_mem_available_mib(text), Some(2048));
        assert_eq!(parse_mem_available_mib("MemTotal: 1 kB\n"), None);
        assert!(available_memory_mib().is_some_and(|mib| mib > 0));
    }
}
