//! What L1 sees of a running tern: its guest memory VMAs in /proc/<pid>/numa_maps (those with
//! a bind or preferred policy), their AnonHugePages in /proc/<pid>/smaps, and the CPUs each of
//! its threads may run on.
//!
//! [`tern_inspect_command`] runs tern in the background, waits until its output shows a given
//! text, prints `NUMAMAPS <line>` and `SMAPS <start> <AnonHugePages kB>` for those VMAs and
//! `THREAD <name> <Cpus_allowed_list>` for each thread, lets tern finish, and prints tern's
//! output the way [`crate::TernRun`] reads it.

use std::collections::BTreeMap;

use crate::tern_script::{STAMP_LINES, TERN_TIMEOUT_S};
use crate::LabOutput;

/// A script fragment as described above. `wait_for` is a text of tern's output (e.g. a guest
/// line) after which the memory is looked at.
pub fn tern_inspect_command(args: &str, wait_for: &str) -> String {
    let ticks = TERN_TIMEOUT_S * 5;
    format!(
        r#"echo "TERN-START at=$(cut -d' ' -f1 /proc/uptime)"
( tern {args} </dev/null 2>&1; echo "TERN-EXIT status=$?" ) | {STAMP_LINES} > /tmp/tern.out &
n=0; pid=""
while [ -z "$pid" ] && [ $n -lt 50 ]; do pid=$(pidof tern); n=$((n+1)); sleep 0.1; done
n=0
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && ! grep -q "{wait_for}" /tmp/tern.out; do
    n=$((n+1)); [ $n -gt {ticks} ] && break; sleep 0.2
done
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    grep -E ' (bind|prefer)' /proc/$pid/numa_maps | sed 's/^/NUMAMAPS /'
    addrs=$(grep -E ' (bind|prefer)' /proc/$pid/numa_maps | cut -d' ' -f1 | tr '\n' ' ')
    awk -v addrs="$addrs" 'BEGIN {{ n = split(addrs, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }}
        /^[0-9a-f]+-[0-9a-f]+ / {{ split($1, r, "-"); cur = (r[1] in want) ? r[1] : "" }}
        cur != "" && /^AnonHugePages:/ {{ print "SMAPS " cur " " $2 }}' /proc/$pid/smaps
    for t in /proc/$pid/task/*; do
        echo "THREAD $(cat $t/comm) $(awk '/^Cpus_allowed_list:/ {{ print $2 }}' $t/status)"
    done
fi
n=0
while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do
    n=$((n+1)); [ $n -gt {ticks} ] && kill -9 "$pid"; sleep 0.2
done
wait
cat /tmp/tern.out
"#
    )
}

/// One guest memory VMA as numa_maps and smaps describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestVma {
    /// Its start address.
    pub start: u64,
    /// Its policy as numa_maps writes it, e.g. `bind:0`.
    pub policy: String,
    /// Pages per host node (numa_maps `N<node>=`).
    pub pages_on: BTreeMap<u32, u64>,
    /// AnonHugePages from smaps, in kB.
    pub anon_huge_kb: Option<u64>,
}

impl GuestVma {
    /// All pages numa_maps counts.
    pub fn pages(&self) -> u64 {
        self.pages_on.values().sum()
    }

    /// The share of those on `node`.
    pub fn share_on(&self, node: u32) -> f64 {
        match self.pages() {
            0 => 0.0,
            total => self.pages_on.get(&node).copied().unwrap_or(0) as f64 / total as f64,
        }
    }
}

/// The guest VMAs the inspect command printed, in address order.
pub fn guest_vmas(out: &LabOutput) -> Vec<GuestVma> {
    let mut vmas: Vec<GuestVma> = out
        .script_lines()
        .filter_map(|l| l.strip_prefix("NUMAMAPS "))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let start = u64::from_str_radix(words.next()?, 16).ok()?;
            let policy = words.next()?.to_string();
            let pages_on = words
                .filter_map(|w| w.strip_prefix('N')?.split_once('='))
                .filter_map(|(n, c)| Some((n.parse().ok()?, c.parse().ok()?)))
                .collect();
            Some(GuestVma {
                start,
                policy,
                pages_on,
                anon_huge_kb: None,
            })
        })
        .collect();
    for line in out.script_lines().filter_map(|l| l.strip_prefix("SMAPS ")) {
        let mut words = line.split_whitespace();
        let (Some(start), Some(kb)) = (words.next(), words.next()) else {
            continue;
        };
        let (Ok(start), Ok(kb)) = (u64::from_str_radix(start, 16), kb.parse()) else {
            continue;
        };
        if let Some(vma) = vmas.iter_mut().find(|v| v.start == start) {
            vma.anon_huge_kb = Some(kb);
        }
    }
    vmas.sort_by_key(|v| v.start);
    vmas
}

/// Every thread the inspect command saw: its name and the CPUs it may run on
/// (`Cpus_allowed_list`, e.g. `0-1`), in the order printed.
pub fn thread_cpus(out: &LabOutput) -> Vec<(String, String)> {
    out.script_lines()
        .filter_map(|l| l.strip_prefix("THREAD "))
        .filter_map(|l| {
            let (name, cpus) = l.trim_end().rsplit_once(' ')?;
            Some((name.to_string(), cpus.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn reads_numa_maps_and_smaps_lines() {
        let out = LabOutput {
            status: 0,
            console: String::new(),
            script_output:
                "NUMAMAPS 7f0000200000 bind:1 anon=100 dirty=100 N0=1 N1=99 kernelpagesize_kB=4\n\
                            NUMAMAPS 7f0000000000 bind:0 anon=10 N0=10 kernelpagesize_kB=4\n\
                            SMAPS 7f0000200000 4096\n\
                            THREAD tern 0\n\
                            THREAD vcpu1 0-1\n"
                    .into(),
            wall: Duration::ZERO,
            boot: Duration::ZERO,
            initramfs_time: Duration::ZERO,
            attempts: 1,
            log: PathBuf::new(),
        };
        let vmas = guest_vmas(&out);
        assert_eq!(vmas.len(), 2);
        assert_eq!(
            (vmas[0].policy.as_str(), vmas[0].anon_huge_kb),
            ("bind:0", None)
        );
        assert_eq!(vmas[1].pages_on, BTreeMap::from([(0, 1), (1, 99)]));
        assert_eq!(vmas[1].anon_huge_kb, Some(4096));
        assert!((vmas[1].share_on(1) - 0.99).abs() < 1e-9);
        assert_eq!(
            thread_cpus(&out),
            vec![("tern".into(), "0".into()), ("vcpu1".into(), "0-1".into())]
        );
    }
}
