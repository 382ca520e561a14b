//! Shell snippets that run tern inside L1, and the parsing of what they print.
//!
//! [`tern_command`] runs tern under `timeout`, stamps every line of its output with L1's
//! uptime (`@<seconds> <line>`), and ends with `TERN-EXIT status=N`. [`TernRun`] reads that
//! back: tern's exit status, its output, and how long the guest took to reach init.

use crate::LabOutput;

/// A pipeline stage that stamps every line with L1's uptime (`@<seconds> <line>`) in one
/// process: a shell loop that forks a command per line keeps L1 busy enough to make the lab's
/// emulated nested SVM crash L2 guests (see `guest_fault.rs`).
pub const STAMP_LINES: &str = r#"awk '{ getline up < "/proc/uptime"; close("/proc/uptime"); split(up, t, " "); print "@" t[1] " " $0; fflush() }'"#;

/// A line stamped by [`STAMP_LINES`], split into its L1 uptime and its text; `None` for a
/// line without a stamp.
pub fn unstamp(line: &str) -> Option<(&str, &str)> {
    line.strip_prefix('@')?.split_once(' ')
}

/// Seconds a single tern run may take in L1 before `timeout` kills it.
pub const TERN_TIMEOUT_S: u32 = 120;

/// A script fragment that runs `tern <args>` and reports as described above. A tern still
/// running after [`TERN_TIMEOUT_S`] has its threads' kernel wait channels printed
/// (`TERN-STUCK <thread> wchan=<symbol> state=<S>`) and is killed (status 137).
pub fn tern_command(args: &str) -> String {
    format!(
        r#"echo "TERN-START at=$(cut -d' ' -f1 /proc/uptime)"
{{ tern {args} </dev/null 2>&1 &
  tpid=$!
  ( sleep {TERN_TIMEOUT_S} >/dev/null 2>&1
    if kill -0 $tpid 2>/dev/null; then
      for t in /proc/$tpid/task/*; do echo "TERN-STUCK $(cat $t/comm) wchan=$(cat $t/wchan) state=$(cut -d' ' -f3 $t/stat)"; done
      kill -9 $tpid
    fi ) &
  wd=$!
  wait $tpid; st=$?
  kill $wd 2>/dev/null
  echo "TERN-EXIT status=$st"; }} | {STAMP_LINES}
"#
    )
}

/// A guest node's placement as tern reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlacementLine {
    /// Pages of the guest node.
    pub pages: u64,
    /// Populated pages per host node.
    pub on_node: std::collections::BTreeMap<u32, u64>,
    /// Pages not populated.
    pub absent: u64,
}

impl PlacementLine {
    /// The share of populated pages on `node`.
    pub fn share_on(&self, node: u32) -> f64 {
        let populated: u64 = self.on_node.values().sum();
        match populated {
            0 => 0.0,
            p => self.on_node.get(&node).copied().unwrap_or(0) as f64 / p as f64,
        }
    }
}

/// What one [`tern_command`] printed.
#[derive(Debug, Clone, PartialEq)]
pub struct TernRun {
    /// tern's exit status (137 when `timeout` killed it).
    pub status: i32,
    /// tern's output lines (console and stderr), without the time stamps.
    pub lines: Vec<String>,
    /// L1 uptime when tern started.
    pub started_at: f64,
    /// L1 uptime when the guest's init printed its first line, if it did.
    pub init_at: Option<f64>,
    /// The guest's own uptime at init, from `TERN-GUEST uptime=`.
    pub guest_uptime_at_init: Option<f64>,
}

impl TernRun {
    /// Reads the first tern run in `out`; `None` if it never reported an exit.
    pub fn parse(out: &LabOutput) -> Option<Self> {
        let started_at = out.script_value("TERN-START at=")?.trim().parse().ok()?;
        let mut lines = Vec::new();
        let mut status = None;
        let mut init_at = None;
        for line in out.script_lines() {
            let Some((stamp, text)) = unstamp(line) else {
                continue;
            };
            let text = text.trim_end_matches('\r');
            if let Some(code) = text.strip_prefix("TERN-EXIT status=") {
                status = code.trim().parse().ok();
                break;
            }
            if init_at.is_none() && text.starts_with("TERN-GUEST") {
                init_at = stamp.parse().ok();
            }
            lines.push(text.to_string());
        }
        let guest_uptime_at_init = lines
            .iter()
            .find_map(|l| l.strip_prefix("TERN-GUEST uptime="))
            .and_then(|v| v.trim().parse().ok());
        Some(Self {
            status: status?,
            lines,
            started_at,
            init_at,
            guest_uptime_at_init,
        })
    }

    /// The value of the guest line `TERN-GUEST <key>=<value>`.
    pub fn guest_value(&self, key: &str) -> Option<&str> {
        let prefix = format!("TERN-GUEST {key}=");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
    }

    /// Seconds from tern's start to the guest's init.
    pub fn boot_to_init_s(&self) -> Option<f64> {
        self.init_at.map(|at| at - self.started_at)
    }

    /// The placement tern printed for guest node `node` at exit (`--print-placement-on-exit`):
    /// pages per host node and absent pages.
    pub fn placement_of_guest_node(&self, node: u32) -> Option<PlacementLine> {
        let prefix = format!("tern: placement guest_node={node} ");
        let rest = self
            .lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix.as_str()))?;
        let mut line = PlacementLine::default();
        for (key, value) in rest.split_whitespace().filter_map(|w| w.split_once('=')) {
            let Ok(value) = value.parse::<u64>() else {
                continue;
            };
            match key {
                "pages" => line.pages = value,
                "absent" => line.absent = value,
                _ => {
                    if let Some(n) = key.strip_prefix('N').and_then(|n| n.parse().ok()) {
                        line.on_node.insert(n, value);
                    }
                }
            }
        }
        Some(line)
    }

    /// Lines tern itself wrote (its `tern: ...` messages).
    pub fn tern_messages(&self) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|l| l.starts_with("tern: "))
            .map(String::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn output(script_output: &str) -> LabOutput {
        LabOutput {
            status: 0,
            console: String::new(),
            script_output: script_output.into(),
            wall: Duration::ZERO,
            boot: Duration::ZERO,
            initramfs_time: Duration::ZERO,
            attempts: 1,
            log: PathBuf::new(),
        }
    }

    #[test]
    fn reads_status_lines_and_boot_time() {
        let out = output(
            "TERN-START at=5.00\n@5.10 [    0.1] Linux\r\n@7.50 TERN-GUEST: hello from the guest\r\n\
             @7.51 TERN-GUEST uptime=1.80\r\n@7.52 TERN-GUEST nproc=2\n@8.00 TERN-EXIT status=0\n",
        );
        let run = TernRun::parse(&out).unwrap();
        assert_eq!(run.status, 0);
        assert_eq!(run.guest_value("nproc"), Some("2"));
        assert_eq!(run.guest_uptime_at_init, Some(1.8));
        assert!((run.boot_to_init_s().unwrap() - 2.5).abs() < 1e-9);
        assert_eq!(run.lines.len(), 4);
    }

    #[test]
    fn a_run_without_an_exit_line_is_none() {
        assert!(TernRun::parse(&output("TERN-START at=1.0\n@1.1 tern: oops\n")).is_none());
        let run = TernRun::parse(&output(
            "TERN-START at=1.0\n@1.1 tern: bad\n@1.2 TERN-EXIT status=1\n",
        ))
        .unwrap();
        assert_eq!(run.tern_messages(), vec!["tern: bad"]);
        let run = TernRun::parse(&output(
            "TERN-START at=1.0\n@2 tern: placement guest_node=1 pages=100 sampled=100 N0=1 N1=90 absent=9\n@3 TERN-EXIT status=0\n",
        ))
        .unwrap();
        let p = run.placement_of_guest_node(1).unwrap();
        assert_eq!((p.pages, p.absent, p.on_node.get(&1)), (100, 9, Some(&90)));
        assert!((p.share_on(1) - 90.0 / 91.0).abs() < 1e-9);
        assert!(run.placement_of_guest_node(0).is_none());
        assert_eq!(run.init_at, None);
    }
}
