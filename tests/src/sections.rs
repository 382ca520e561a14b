//! Sections of a lab script's output: `BEGIN <name>` ... `END <name> status=<n>`, as the
//! shell function [`SECTION_FN`] prints them around a command, and the guest workload's
//! heartbeats passed through with an `HBLINE ` prefix.

use crate::LabOutput;

/// A shell function for lab scripts: `section NAME COMMAND...` runs the command (stderr into
/// stdout) between `BEGIN NAME` and `END NAME status=N`. If tern (`$pid`, its output in
/// /tmp/tern.out) is gone, it prints `TERN-GONE before NAME` and tern's own messages (`TERNMSG
/// <line>`, where the lab runner sees a guest's triple fault, after `TERN-GUEST-WAS-READY` if
/// the guest had reached its init) and ends the script with status 1.
pub const SECTION_FN: &str = r#"section() { name=$1; shift
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
        echo "TERN-GONE before $name"; grep -q "TERN-GUEST: hello" /tmp/tern.out && echo TERN-GUEST-WAS-READY; grep "tern: " /tmp/tern.out | sed 's/^/TERNMSG /'; exit 1
    fi
    echo "BEGIN $name"; "$@" 2>&1; echo "END $name status=$?"; }"#;

/// The lines and exit status of section `name`; `None` if the script never printed it.
pub fn section<'a>(out: &'a LabOutput, name: &str) -> Option<(Vec<&'a str>, i32)> {
    let lines: Vec<&str> = out.script_lines().collect();
    let begin = lines.iter().position(|l| *l == format!("BEGIN {name}"))?;
    let end_prefix = format!("END {name} status=");
    let end = lines[begin..]
        .iter()
        .position(|l| l.starts_with(&end_prefix))?
        + begin;
    let status = lines[end].strip_prefix(&end_prefix)?.trim().parse().ok()?;
    Some((lines[begin + 1..end].to_vec(), status))
}

/// The JSON document printed in section `name` (whatever its exit status: ternctl prints a
/// failed rebalance's status and then its error line), if there is one.
pub fn json_section(out: &LabOutput, name: &str) -> Option<serde_json::Value> {
    let (lines, _) = section(out, name)?;
    let start = lines
        .iter()
        .position(|l| l.starts_with('{') || l.starts_with('['))?;
    let end = lines[start..]
        .iter()
        .position(|l| *l == "}" || *l == "]")
        .map_or(lines.len() - 1, |e| e + start);
    serde_json::from_str(&lines[start..=end].join("\n")).ok()
}

/// Script lines that tell how tern ended ([`SECTION_FN`]'s and [`WAIT_FNS`]' reports) and L1
/// kernel lines about a killed or crashed process.
const FATE_MARKERS: [&str; 6] = [
    "TERN-GONE",
    "TERNMSG ",
    "TERN-GUEST-WAS-READY",
    "TERN-STUCK ",
    "NEVER-SAW ",
    "TAIL ",
];
const KERNEL_MARKERS: [&str; 7] = [
    "Out of memory",
    "Killed process",
    "segfault",
    "traps:",
    "audit:",
    "triple-faulted",
    "BUG:",
];

/// What the run says about tern's end, for the message of a test that lacks a section: the
/// script's reports of tern being gone or stuck, and L1's lines about killed or crashed
/// processes (at most 40 lines), then where the whole console is.
pub fn tern_fate(out: &LabOutput) -> String {
    let script = out
        .script_lines()
        .filter(|l| FATE_MARKERS.iter().any(|m| l.starts_with(m)));
    let kernel = out
        .console
        .lines()
        .filter(|l| KERNEL_MARKERS.iter().any(|m| l.contains(m)));
    let mut lines: Vec<&str> = script.chain(kernel).take(40).collect();
    lines.dedup();
    format!(
        "{}\n(the whole console: {})",
        lines.join("\n"),
        out.log.display()
    )
}

/// The JSON document of section `name`, or a message naming the section's lines and exit
/// status and [`tern_fate`].
pub fn expect_json_section(out: &LabOutput, name: &str) -> Result<serde_json::Value, String> {
    json_section(out, name).ok_or_else(|| {
        format!(
            "section {name} missing or failed: {:?}\n{}",
            section(out, name),
            tern_fate(out)
        )
    })
}

/// Shell functions for scripts that run tern in the background as `$pid` with its output in
/// /tmp/tern.out: `stuck` prints the state and kernel wait channel of each of tern's threads
/// and the end of its output (after `TERN-GUEST-WAS-READY` if the guest had reached its init);
/// `wait_for TEXT` waits (up to 120 s) for TEXT in the output and,
/// if it never comes, calls `stuck`, kills tern and ends the script with status 1.
pub const WAIT_FNS: &str = r#"stuck() { for t in /proc/$pid/task/*; do echo "TERN-STUCK $(cat $t/comm) wchan=$(cat $t/wchan) state=$(cut -d' ' -f3 $t/stat)"; done; grep -q "TERN-GUEST: hello" /tmp/tern.out && echo TERN-GUEST-WAS-READY; tail -n 30 /tmp/tern.out | sed 's/^/TAIL /'; }
wait_for() { n=0; while ! grep -q "$1" /tmp/tern.out; do n=$((n+1)); if [ $n -gt 600 ] || ! kill -0 $pid 2>/dev/null; then echo "NEVER-SAW $1"; stuck; kill -9 $pid; exit 1; fi; sleep 0.2; done; }"#;

/// One heartbeat of the guest workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The guest CPU the workload ran on.
    pub cpu: usize,
    /// Its pass number.
    pub pass: u64,
    /// Guest uptime in ms.
    pub uptime_ms: u64,
    /// Wrong words found in this pass.
    pub errors: u64,
}

/// Parses a heartbeat line `cpuN: HB pass=P uptime_ms=U pass_ms=D errors=E`; `None` for
/// anything else, a torn line included.
pub fn heartbeat(line: &str) -> Option<Heartbeat> {
    let (cpu, rest) = line.strip_prefix("cpu")?.split_once(": HB ")?;
    let field = |key: &str| -> Option<u64> {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(key))?
            .parse()
            .ok()
    };
    Some(Heartbeat {
        cpu: cpu.parse().ok()?,
        pass: field("pass=")?,
        uptime_ms: field("uptime_ms=")?,
        errors: field("errors=")?,
    })
}

/// The heartbeats printed as `HBLINE cpuN: HB pass=P uptime_ms=U pass_ms=.. errors=E`. Two
/// workloads share the console, so a torn line is skipped.
pub fn heartbeats(out: &LabOutput) -> Vec<Heartbeat> {
    out.script_lines()
        .filter_map(|l| heartbeat(l.strip_prefix("HBLINE ")?))
        .collect()
}

/// The largest gap between two heartbeats of the same CPU, in ms of guest time.
pub fn largest_gap_ms(beats: &[Heartbeat]) -> u64 {
    let mut last: Vec<Option<u64>> = Vec::new();
    let mut gap = 0;
    for b in beats {
        if last.len() <= b.cpu {
            last.resize(b.cpu + 1, None);
        }
        if let Some(prev) = last[b.cpu] {
            gap = gap.max(b.uptime_ms.saturating_sub(prev));
        }
        last[b.cpu] = Some(b.uptime_ms);
    }
    gap
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn out(text: &str) -> LabOutput {
        LabOutput {
            status: 0,
            console: String::new(),
            script_output: text.into(),
            wall: Duration::ZERO,
            boot: Duration::ZERO,
            initramfs_time: Duration::ZERO,
            attempts: 1,
            log: PathBuf::new(),
        }
    }

    #[test]
    fn reads_sections_and_heartbeats() {
        let o = out(
            "BEGIN vm\n{\"a\": 1}\nEND vm status=0\nBEGIN bad\nternctl: no\nEND bad status=1\n\
             HBLINE cpu0: HB pass=1 uptime_ms=1000 pass_ms=5 errors=0\nHBLINE cpu1: HB pass=1 uptime_ms=1100 pass_ms=5 errors=0\n\
             HBLINE cpu0: HB pass=2 uptime_ms=1600 pass_ms=5 errors=0\nHBLINE cpu0: cpu1: HB pa\n",
        );
        assert_eq!(json_section(&o, "vm").unwrap()["a"], 1);
        assert_eq!(section(&o, "bad"), Some((vec!["ternctl: no"], 1)));
        assert!(json_section(&o, "bad").is_none() && section(&o, "none").is_none());
        let failed =
            out("BEGIN rb\n{\n  \"state\": \"failed\"\n}\nternctl: failed\nEND rb status=1\n");
        assert_eq!(json_section(&failed, "rb").unwrap()["state"], "failed");
        let beats = heartbeats(&o);
        assert_eq!(beats.len(), 3);
        assert_eq!(largest_gap_ms(&beats), 600);
    }
}
