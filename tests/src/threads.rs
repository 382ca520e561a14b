//! The threads of a running process as /proc shows them: name and seccomp mode. The lab's
//! scripts print the same facts as `thread NAME seccomp=N` lines ([`SCRIPT_FUNCTION`]).
//! Test support: it panics with a message on anything unexpected, as a test should.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// The threads of a tern with two vCPUs, a disk, a network device and its API while
/// automatic balancing, heat sampling and a rebalance run: one of every kind but the movers.
pub const RUNNING_THREADS: [&str; 11] = [
    "tern",
    "vcpu0",
    "vcpu1",
    "console-out",
    "api",
    "api-worker",
    "virtio-disk0",
    "virtio-net0",
    "auto-balance",
    "balancer",
    "heat",
];

/// One thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Its name (`comm`).
    pub name: String,
    /// Its seccomp mode: 0 none, 1 strict, 2 filter.
    pub seccomp: u32,
}

/// The `Seccomp:` field of a /proc/PID/task/TID/status text.
pub fn seccomp_field(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .and_then(|value| value.trim().parse().ok())
}

/// Every thread of process `pid` (threads that end while they are read are left out).
pub fn threads_of(pid: u32) -> Vec<ThreadInfo> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|entry| {
            let dir = entry.ok()?.path();
            let name = std::fs::read_to_string(dir.join("comm")).ok()?;
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            Some(ThreadInfo {
                name: name.trim().to_string(),
                seccomp: seccomp_field(&status)?,
            })
        })
        .collect()
}

/// A shell function for lab scripts: `threads PID` prints `thread NAME seccomp=N` per thread,
/// with shell builtins only, so a short-lived thread (a mover) is read before it ends.
pub const SCRIPT_FUNCTION: &str = r#"threads() {
  for t in /proc/$1/task/*; do
    n=; s=
    { read -r n < $t/comm; } 2>/dev/null
    { while read -r k v; do [ "$k" = "Seccomp:" ] && s=$v; done < $t/status; } 2>/dev/null
    echo "thread $n seccomp=$s"
  done
}
"#;

/// The threads a lab script listed with [`SCRIPT_FUNCTION`] (lines of `console`).
pub fn parse_script_lines(console: &str) -> Vec<ThreadInfo> {
    console
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find("thread ")? + "thread ".len()..];
            let (name, seccomp) = rest.rsplit_once(" seccomp=")?;
            Some(ThreadInfo {
                name: name.to_string(),
                seccomp: seccomp.trim().parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seccomp_field_is_read_from_a_status_text() {
        let status = "Name:\tvcpu0\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t4\n";
        assert_eq!(seccomp_field(status), Some(2));
        assert_eq!(seccomp_field("Name:\tx\n"), None);
    }

    #[test]
    fn the_threads_of_this_test_are_listed_without_filters() {
        let threads = threads_of(std::process::id());
        assert!(!threads.is_empty());
        assert!(threads.iter().all(|t| t.seccomp == 0));
    }

    #[test]
    fn script_lines_are_parsed() {
        let console = "| thread vcpu0 seccomp=2\n| thread auto-balance seccomp=2\n| other\n";
        assert_eq!(
            parse_script_lines(console),
            vec![
                ThreadInfo {
                    name: "vcpu0".into(),
                    seccomp: 2
                },
                ThreadInfo {
                    name: "auto-balance".into(),
                    seccomp: 2
                }
            ]
        );
    }
}
