//! The sampling benchmark's L1 script.

use crate::bench::shell::{prelude, rotated};
use crate::tern_script::STAMP_LINES;

/// The two VMs: name and the L1 node (and so CPU) each runs on, with tern's own threads.
pub const VMS: [(&str, u32); 2] = [("a", 0), ("b", 1)];
/// Guest memory per VM, MiB.
pub const VM_MIB: u32 = 768;
/// MiB the workload writes (and checks) in each VM.
pub const WORKLOAD_MIB: u32 = 256;
/// Seconds per measured window.
pub const WINDOW_S: u32 = 5;
/// Seconds between switching the modes and opening the window.
pub const SETTLE_S: u32 = 1;

/// How the sampling VM of a window samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Once a second.
    OneHz,
    /// Ten times a second.
    TenHz,
    /// Not at all: a null window, the measurement's own spread.
    Null,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 3] = [Mode::OneHz, Mode::TenHz, Mode::Null];

    /// Its name in records.
    pub fn name(self) -> &'static str {
        match self {
            Mode::OneHz => "1hz",
            Mode::TenHz => "10hz",
            Mode::Null => "null",
        }
    }

    /// Reads a name back.
    pub fn from_name(name: &str) -> Option<Self> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The sampling interval it asks for, in ms (`None`: sampling off).
    pub fn interval_ms(self) -> Option<u64> {
        match self {
            Mode::OneHz => Some(1000),
            Mode::TenHz => Some(100),
            Mode::Null => None,
        }
    }
}

/// The script: both VMs, then `rounds` rounds; each round has, per mode, a window with VM a
/// sampling and one with VM b sampling, the order rotating by one each round. Per window:
/// `REC window` (L1 times), `REC cpu` of the sampling VM's tern before and after, and `REC
/// heat` of both VMs after. A VM that dies ends the measuring (`REC vm_died`). At the end each
/// VM's heartbeats, VM a's after `REC epoch n=1`, VM b's after `REC epoch n=2`.
pub fn script(rounds: usize) -> String {
    let mut s = prelude();
    let starts: String = VMS
        .iter()
        .map(|(vm, node)| format!("start {vm} {node}\n"))
        .collect();
    s.push_str(&format!(
        r#"facts
vms="a b"
start() {{
    ( tern --name $1 --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 1 \
        --memory {VM_MIB}M --host-node $2 --vmm-cpus $2 --prefault --api-sock /tmp/$1.sock \
        --cmdline "$GUEST_CMDLINE tern_task=fill tern_mib={WORKLOAD_MIB} tern_seconds=100000" </dev/null 2>&1
      echo "TERN-EXIT status=$?" ) | {STAMP_LINES} >/tmp/$1.out &
}}
seen() {{
    n=0
    while ! grep -q "$2" /tmp/$1.out; do
        n=$((n+1))
        if [ $n -gt 900 ] || grep -q TERN-EXIT /tmp/$1.out; then
            echo "REC error what=never_saw vm=$1"; grep -E "tern: |BUG|triple|[Pp]anic" /tmp/$1.out | head -n 20 | sed 's/^/DIAG /'; exit 1
        fi
        [ $((n % 50)) -eq 0 ] && echo "waiting for VM $1 ($n)"
        sleep 0.2
    done
}}
pid_of() {{ for p in $(pidof tern); do tr '\0' ' ' </proc/$p/cmdline | grep -q "/tmp/$1.sock" && echo $p; done; }}
alive() {{
    for v in $vms; do
        grep -q TERN-EXIT /tmp/$v.out || continue
        now t; echo "REC vm_died vm=$v at=$t"
        grep -E "tern: |BUG|Oops|triple|[Pp]anic" /tmp/$v.out | tail -n 5 | sed "s/^/DIAG $v /"
        return 1
    done
}}
window() {{
    round=$1; mode=$2; on=$3
    for v in $vms; do ternctl --sock /tmp/$v.sock heat --disable >/dev/null 2>&1; done
    case $mode in
        1hz) ternctl --sock /tmp/$on.sock heat --enable --interval-ms 1000 >/dev/null 2>&1 ;;
        10hz) ternctl --sock /tmp/$on.sock heat --enable --interval-ms 100 >/dev/null 2>&1 ;;
    esac
    sleep {SETTLE_S}
    pid=$(cat /tmp/$on.pid); c0=$(cpu_snap); now a
    sleep {WINDOW_S}
    now b; c1=$(cpu_snap)
    echo "REC window round=$round mode=$mode on=$on start=$a end=$b"
    echo "REC cpu round=$round mode=$mode on=$on when=before $c0"
    echo "REC cpu round=$round mode=$mode on=$on when=after $c1"
    for v in $vms; do echo "REC heat round=$round mode=$mode on=$on vm=$v :: $(ternctl --sock /tmp/$v.sock --json heat 2>&1 | tr -d '\n')"; done
}}
{starts}for v in $vms; do seen $v "cpu0: HB pass=3 "; done
for v in $vms; do pid_of $v >/tmp/$v.pid; done
now t; echo "REC ready at=$t"
measure() {{
"#
    ));
    for round in 1..=rounds {
        for mode in rotated(&Mode::ALL, round - 1) {
            for (vm, _) in VMS {
                s.push_str(&format!(
                    "    alive || return; window {round} {} {vm}\n",
                    mode.name()
                ));
            }
        }
    }
    s.push_str(
        r#"}
measure
for v in $vms; do ternctl --sock /tmp/$v.sock heat --disable >/dev/null 2>&1; done
sleep 2
for v in $vms; do ternctl --sock /tmp/$v.sock shutdown >/dev/null 2>&1; done
sleep 3
kill -9 $(pidof tern) 2>/dev/null
n=1
for v in $vms; do
    echo "REC epoch n=$n"; grep "HB pass" /tmp/$v.out | sed 's/^/HB /'
    grep -E "ERR |fill result=fail" /tmp/$v.out | head -n 3 | sed "s/^/DIAG $v /"
    n=$((n + 1))
done
exit 0
"#,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_round_has_a_window_per_mode_and_vm_rotating() {
        let s = script(20);
        for mode in Mode::ALL {
            for (vm, _) in VMS {
                assert_eq!(
                    s.matches(&format!(" {} {vm}\n", mode.name())).count(),
                    20,
                    "{mode:?} {vm}"
                );
            }
            assert_eq!(Mode::from_name(mode.name()), Some(mode));
        }
        let windows: Vec<&str> = s
            .lines()
            .filter(|l| l.starts_with("    alive || return; window "))
            .collect();
        assert_eq!(windows.len(), 120);
        assert!(windows[0].ends_with("window 1 1hz a"));
        assert!(windows[6].ends_with("window 2 10hz a"));
        assert!(s.contains("--host-node $2 --vmm-cpus $2"));
        assert!(s.trim_end().ends_with("exit 0"));
    }
}
