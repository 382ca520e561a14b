//! Where tern's guest memory is, seen from the host and independently of tern: the VMAs of
//! /proc/<pid>/numa_maps that carry an explicit memory policy (guest memory is the only
//! memory tern gives one), and a move_pages(2) query (no target nodes) of every 4 KiB page of
//! them in tern's address space.

use std::collections::BTreeMap;
use std::io;

/// Pages asked about per move_pages call.
const QUERY_BATCH: usize = 16384;
/// Bytes per page.
pub const PAGE_SIZE: u64 = 4096;

/// One guest memory VMA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestVma {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Its policy as numa_maps writes it (`bind:0`, `prefer:1`, `interleave:0-1`, `local`).
    pub policy: String,
    /// numa_maps' pages per node.
    pub numa_maps_on: BTreeMap<u32, u64>,
}

/// Whether a numa_maps policy is one a process chose (not the default).
pub fn is_explicit(policy: &str) -> bool {
    ["bind", "prefer", "local", "interleave"]
        .iter()
        .any(|p| policy.starts_with(p))
}

/// The VMAs with an explicit policy in `numa_maps`, their ends taken from `maps`.
pub fn parse_guest_vmas(numa_maps: &str, maps: &str) -> Vec<GuestVma> {
    let ends: BTreeMap<u64, u64> = maps
        .lines()
        .filter_map(|l| {
            let (start, end) = l.split_whitespace().next()?.split_once('-')?;
            Some((
                u64::from_str_radix(start, 16).ok()?,
                u64::from_str_radix(end, 16).ok()?,
            ))
        })
        .collect();
    numa_maps
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let start = u64::from_str_radix(words.next()?, 16).ok()?;
            let policy = words.next()?;
            if !is_explicit(policy) {
                return None;
            }
            let numa_maps_on = words
                .filter_map(|w| w.strip_prefix('N')?.split_once('='))
                .filter_map(|(n, c)| Some((n.parse().ok()?, c.parse().ok()?)))
                .collect();
            Some(GuestVma {
                start,
                end: *ends.get(&start)?,
                policy: policy.to_string(),
                numa_maps_on,
            })
        })
        .collect()
}

/// The guest memory VMAs of process `pid` now.
pub fn guest_vmas(pid: i32) -> io::Result<Vec<GuestVma>> {
    let numa_maps = std::fs::read_to_string(format!("/proc/{pid}/numa_maps"))?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(parse_guest_vmas(&numa_maps, &maps))
}

/// Where the pages of the guest VMAs were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostPlacement {
    /// The VMAs looked at.
    pub vmas: Vec<GuestVma>,
    /// Populated pages per host node.
    pub pages_on: BTreeMap<u32, u64>,
    /// Pages not populated (-ENOENT, -EFAULT).
    pub absent: u64,
    /// Pages answered with another error.
    pub unreadable: u64,
}

impl HostPlacement {
    /// All populated pages.
    pub fn populated(&self) -> u64 {
        self.pages_on.values().sum()
    }

    /// Populated pages on `node`.
    pub fn on(&self, node: u32) -> u64 {
        self.pages_on.get(&node).copied().unwrap_or(0)
    }

    /// The share of populated pages on `node` (0 when nothing is populated).
    pub fn share_on(&self, node: u32) -> f64 {
        match self.populated() {
            0 => 0.0,
            p => self.on(node) as f64 / p as f64,
        }
    }

    /// numa_maps' pages per node, summed over the VMAs.
    pub fn numa_maps_on(&self) -> BTreeMap<u32, u64> {
        let mut on = BTreeMap::new();
        for (n, c) in self.vmas.iter().flat_map(|v| v.numa_maps_on.iter()) {
            *on.entry(*n).or_default() += c;
        }
        on
    }

    /// Counts one page's query status.
    pub fn count(&mut self, status: i32) {
        match status {
            s if s >= 0 => *self.pages_on.entry(s as u32).or_default() += 1,
            s if s == -libc::ENOENT || s == -libc::EFAULT => self.absent += 1,
            _ => self.unreadable += 1,
        }
    }
}

/// move_pages(2) in query mode on process `pid`: the node (or -errno) of each page of
/// `addrs` into `status`.
fn query_pages(pid: i32, addrs: &[u64], status: &mut [i32]) -> io::Result<()> {
    if addrs.len() != status.len() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: `addrs` and `status` hold `addrs.len()` entries each and live across the call;
    // with `nodes` NULL the kernel only reads the addresses and writes one status per page.
    let result = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            libc::c_long::from(pid),
            addrs.len(),
            addrs.as_ptr(),
            std::ptr::null::<libc::c_int>(),
            status.as_mut_ptr(),
            0 as libc::c_int,
        )
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where every page of process `pid`'s guest memory VMAs is now.
pub fn query(pid: i32) -> io::Result<HostPlacement> {
    let mut placement = HostPlacement {
        vmas: guest_vmas(pid)?,
        ..Default::default()
    };
    let mut addrs = Vec::with_capacity(QUERY_BATCH);
    let mut status = vec![0i32; QUERY_BATCH];
    for vma in placement.vmas.clone() {
        let mut addr = vma.start;
        while addr < vma.end {
            addrs.clear();
            while addr < vma.end && addrs.len() < QUERY_BATCH {
                addrs.push(addr);
                addr += PAGE_SIZE;
            }
            let status = &mut status[..addrs.len()];
            status.fill(i32::MIN);
            query_pages(pid, &addrs, status)?;
            status.iter().for_each(|s| placement.count(*s));
        }
    }
    Ok(placement)
}

/// AnonHugePages (kB) of the VMAs starting at `starts`, from smaps text.
pub fn parse_anon_huge_kb(smaps: &str, starts: &[u64]) -> u64 {
    let mut current = false;
    let mut kb = 0;
    for line in smaps.lines() {
        let head = line.split_whitespace().next().unwrap_or("");
        if let Some((start, _)) = head.split_once('-') {
            if let Ok(start) = u64::from_str_radix(start, 16) {
                current = starts.contains(&start);
                continue;
            }
        }
        if current {
            if let Some(rest) = line.strip_prefix("AnonHugePages:") {
                kb += rest
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    kb
}

/// AnonHugePages (kB) of process `pid`'s guest memory VMAs.
pub fn anon_huge_kb(pid: i32, vmas: &[GuestVma]) -> io::Result<u64> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))?;
    let starts: Vec<u64> = vmas.iter().map(|v| v.start).collect();
    Ok(parse_anon_huge_kb(&smaps, &starts))
}

/// Whether the guest VMAs of `after` carry the policies they had in `before`, range by
/// range (a VMA split or merged meanwhile is fine); `Err` names the first difference.
pub fn same_policies(before: &[GuestVma], after: &[GuestVma]) -> Result<(), String> {
    for b in before {
        let mut covered = b.start;
        for a in after.iter().filter(|a| a.start < b.end && a.end > b.start) {
            if a.policy != b.policy {
                return Err(format!(
                    "{:#x}-{:#x} was {} and is now {} at {:#x}-{:#x}",
                    b.start, b.end, b.policy, a.policy, a.start, a.end
                ));
            }
            if a.start <= covered {
                covered = covered.max(a.end);
            }
        }
        if covered < b.end {
            return Err(format!(
                "{:#x}-{:#x} ({}) is no longer all guest memory with a policy from {covered:#x}",
                b.start, b.end, b.policy
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NUMA_MAPS: &str = "\
55d4c0000000 default file=/usr/local/bin/tern mapped=100 N0=100 kernelpagesize_kB=4
7f1055600000 bind:1 anon=42496 dirty=42496 active=1536 N1=42496 kernelpagesize_kB=4
7f1065800000 prefer:0 anon=31744 dirty=31744 N0=31000 N1=744 kernelpagesize_kB=4
7f1075800000 interleave:0-1 anon=2 N0=1 N1=1 kernelpagesize_kB=4
7f2000000000 default anon=3 N0=3 kernelpagesize_kB=4
";
    const MAPS: &str = "\
55d4c0000000-55d4c0100000 r-xp 00000000 00:02 12 /usr/local/bin/tern
7f1055600000-7f1065800000 rw-p 00000000 00:00 0
7f1065800000-7f1075800000 rw-p 00000000 00:00 0
7f1075800000-7f1075a00000 rw-p 00000000 00:00 0
7f2000000000-7f2000001000 rw-p 00000000 00:00 0
";

    #[test]
    fn finds_the_vmas_with_a_policy_and_their_ends() {
        let vmas = parse_guest_vmas(NUMA_MAPS, MAPS);
        assert_eq!(vmas.len(), 3);
        assert_eq!(
            (vmas[0].start, vmas[0].end, vmas[0].policy.as_str()),
            (0x7f1055600000, 0x7f1065800000, "bind:1")
        );
        assert_eq!(vmas[1].numa_maps_on, [(0, 31000), (1, 744)].into());
        let placement = HostPlacement {
            vmas,
            ..Default::default()
        };
        assert_eq!(placement.numa_maps_on(), [(0, 31001), (1, 43241)].into());
    }

    #[test]
    fn sums_anon_huge_pages_of_the_guest_vmas() {
        let smaps = "\
7f1055600000-7f1065800000 rw-p 00000000 00:00 0
Size:             262144 kB
AnonHugePages:    169984 kB
7f1065800000-7f1075800000 rw-p 00000000 00:00 0
AnonHugePages:      2048 kB
7f2000000000-7f2000001000 rw-p 00000000 00:00 0
AnonHugePages:      4096 kB
";
        assert_eq!(
            parse_anon_huge_kb(smaps, &[0x7f1055600000, 0x7f1065800000]),
            172032
        );
        assert_eq!(parse_anon_huge_kb(smaps, &[]), 0);
    }

    #[test]
    fn counts_statuses() {
        let mut p = HostPlacement::default();
        for s in [0, 1, 1, 1, -libc::ENOENT, -libc::EFAULT, -libc::EACCES] {
            p.count(s);
        }
        assert_eq!((p.on(0), p.on(1), p.absent, p.unreadable), (1, 3, 2, 1));
        assert!((p.share_on(1) - 0.75).abs() < 1e-9);
        assert_eq!(HostPlacement::default().share_on(0), 0.0);
    }

    #[test]
    fn policies_compare_range_by_range() {
        let vma = |start, end, policy: &str| GuestVma {
            start,
            end,
            policy: policy.into(),
            numa_maps_on: BTreeMap::new(),
        };
        let before = [vma(0x1000, 0x9000, "bind:0")];
        assert!(same_policies(&before, &[vma(0x1000, 0x9000, "bind:0")]).is_ok());
        let split = [vma(0x1000, 0x5000, "bind:0"), vma(0x5000, 0x9000, "bind:0")];
        assert!(same_policies(&before, &split).is_ok());
        let changed = [
            vma(0x1000, 0x5000, "bind:0"),
            vma(0x5000, 0x9000, "prefer:1"),
        ];
        let e = same_policies(&before, &changed).unwrap_err();
        assert!(e.contains("was bind:0 and is now prefer:1"), "{e}");
        let gone = [vma(0x1000, 0x5000, "bind:0")];
        assert!(same_policies(&before, &gone).is_err());
    }

    #[test]
    fn queries_this_process_pages() {
        // A page of this process's own memory, touched: the query finds it on some node.
        let page = vec![1u8; PAGE_SIZE as usize * 2];
        let addr = (page.as_ptr() as u64).next_multiple_of(PAGE_SIZE);
        let mut status = [i32::MIN];
        query_pages(std::process::id() as i32, &[addr], &mut status).unwrap();
        assert!(status[0] >= 0, "status {}", status[0]);
    }
}
