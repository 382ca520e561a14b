//! Shell pieces shared by the benchmark scripts that run in L1 (busybox sh).
//!
//! Times come from /proc/uptime (centiseconds) read with the shell's own `read`, so taking
//! a time stamp forks nothing. tern's output (its guest's console) goes through a loop that
//! stamps every line with L1's uptime into /tmp/tern.out, so guest heartbeats can be placed
//! on L1's clock.

use crate::sections::WAIT_FNS;
use crate::tern_script::STAMP_LINES;

/// The most VMs a script starts (one, and restarts after the guest died).
pub const MAX_EPOCHS: u32 = 4;

/// The guest kernel command line every benchmark boots with (Tern and QEMU alike).
pub const GUEST_CMDLINE: &str = "console=ttyS0 reboot=k panic=1 pci=off quiet";

/// Functions every benchmark script starts with:
/// - `now VAR`: L1 uptime in seconds (two decimals) into VAR;
/// - `cs TIME`: a `now` value in centiseconds (`$(cs $a)`);
/// - `facts`: `REC fact` lines about L1 (kernel, CPUs, THP mode, NUMA balancing, nodes);
/// - `start_tern ARGS...`: runs tern in the background with stamped output, sets `$pid`;
/// - `wait_for TEXT` (and `stuck`): waits for TEXT in tern's output, else ends the script;
/// - `await_ready TEXT`: the same, but returns 1 when tern ended first (a `launch` then
///   calls `ensure_vm`, which reports the death and starts the next VM);
/// - `ctl ARGS...`: `ternctl --json ARGS` on `$sock`, squeezed onto one line;
/// - `stop_tern`: shuts the VM down through the API, waits, prints `REC tern_exit` and
///   any alarming guest line as `DIAG`;
/// - `heartbeats`: prints the stamped heartbeats as `HB @<time> cpuN: HB ...`;
/// - `alarms`: alarming lines of tern's output (guest oops, panic, tern's warnings such as a
///   triple fault) as `DIAG`;
/// - `ensure_vm`: if tern died, reports it (`REC vm_died`, its last lines, `REC epoch n=K`
///   and that VM's heartbeats) and starts the next VM with the script's own `launch`
///   function (`$vm_epoch` counts VMs; at most [`MAX_EPOCHS`]);
/// - `finish_vm`: `stop_tern`, then `REC epoch n=K` and the last VM's heartbeats;
/// - `cpu_snap`: `total_ticks=N vcpu_ticks=M`, CPU time (clock ticks) of the whole tern
///   process (exited threads included) and of its vCPU threads;
/// - `guest_vmas`: tern's guest memory VMAs in numa_maps (those with an explicit policy);
/// - `guest_smaps FIELD`: FIELD of /proc/$pid/smaps (kB) summed over those VMAs.
pub fn prelude() -> String {
    format!(
        r#"sock=/tmp/api.sock
GUEST_CMDLINE="{GUEST_CMDLINE}"
now() {{ read "$1" _rest </proc/uptime; }}
cs() {{ echo $(( ${{1%.*}} * 100 + 1${{1#*.}} - 100 )); }}
facts() {{
    echo "REC fact kernel=$(uname -r) cpus=$(nproc) numa_balancing=$(cat /proc/sys/kernel/numa_balancing) thp=$(tr ' ' _ </sys/kernel/mm/transparent_hugepage/enabled)"
    for n in /sys/devices/system/node/node[0-9]*; do
        echo "REC fact ${{n##*/}}_total_kb=$(awk '/MemTotal/ {{print $4}}' $n/meminfo) ${{n##*/}}_free_kb=$(awk '/MemFree/ {{print $4}}' $n/meminfo)"
    done
}}
start_tern() {{
    rm -f /tmp/tern.out $sock
    ( tern "$@" </dev/null 2>&1; echo "TERN-EXIT status=$?" ) | {STAMP_LINES} >/tmp/tern.out &
    pid=""; n=0
    while [ -z "$pid" ] && [ $n -lt 100 ]; do pid=$(pidof tern); n=$((n+1)); sleep 0.1; done
    if [ -z "$pid" ]; then echo "REC error what=tern_did_not_start"; sed 's/^/DIAG /' /tmp/tern.out; exit 1; fi
}}
{WAIT_FNS}
await_ready() {{ n=0; while ! grep -q "$1" /tmp/tern.out; do kill -0 $pid 2>/dev/null || return 1; n=$((n+1)); if [ $n -gt 600 ]; then echo "NEVER-SAW $1"; stuck; kill -9 $pid; exit 1; fi; sleep 0.2; done; }}
ctl() {{ ternctl --sock $sock --json "$@" 2>&1 | tr -d '\n'; }}
stop_tern() {{
    ternctl --sock $sock shutdown >/dev/null 2>&1
    n=0; while kill -0 $pid 2>/dev/null; do n=$((n+1)); [ $n -gt 150 ] && kill -9 $pid; sleep 0.2; done
    wait
    st=$(grep -o "TERN-EXIT status=[0-9]*" /tmp/tern.out | tail -n 1 | cut -d= -f2)
    echo "REC tern_exit status=${{st:-none}}"
    alarms
}}
alarms() {{ grep -q "TERN-GUEST: hello" /tmp/tern.out && echo "DIAG TERN-GUEST-WAS-READY"; grep -E "BUG|Oops|RIP:|[Pp]anic|lockup|Call Trace|ERR pass|fill result=fail|triple|tern: " /tmp/tern.out | head -n 40 | sed 's/^/DIAG /'; }}
heartbeats() {{ grep "HB pass" /tmp/tern.out | sed 's/^/HB /'; }}
vm_epoch=1
ensure_vm() {{
    kill -0 $pid 2>/dev/null && return 0
    now t; echo "REC vm_died epoch=$vm_epoch at=$t"
    alarms; grep -v "HB pass" /tmp/tern.out | tail -n 8 | sed 's/^/DIAG-TAIL /'
    echo "REC epoch n=$vm_epoch"; heartbeats
    wait
    vm_epoch=$((vm_epoch + 1))
    [ $vm_epoch -le {MAX_EPOCHS} ] || {{ echo "REC error what=the_VM_died_too_often"; exit 1; }}
    launch
}}
finish_vm() {{ stop_tern; echo "REC epoch n=$vm_epoch"; heartbeats; }}
cpu_snap() {{
    read -r st </proc/$pid/stat; set -- $st; total=$(( ${{14}} + ${{15}} ))
    vcpu=0
    for t in /proc/$pid/task/*; do
        read -r c <$t/comm
        case $c in vcpu*) read -r st <$t/stat; set -- $st; vcpu=$(( vcpu + ${{14}} + ${{15}} ));; esac
    done
    echo "total_ticks=$total vcpu_ticks=$vcpu"
}}
guest_vmas() {{ grep -E ' (bind|prefer|local|interleave)' /proc/$pid/numa_maps; }}
guest_smaps() {{
    addrs=$(guest_vmas | cut -d' ' -f1 | tr '\n' ' ')
    awk -v addrs="$addrs" -v field="$1:" 'BEGIN {{ n = split(addrs, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }}
        /^[0-9a-f]+-[0-9a-f]+ / {{ split($1, r, "-"); cur = (r[1] in want) }}
        cur && $1 == field {{ s += $2 }} END {{ print s + 0 }}' /proc/$pid/smaps
}}
"#
    )
}

/// `n` items starting at index `round % n` of `items`: each round visits every item, in an
/// order shifted by one from the last round, so no item always goes first.
pub fn rotated<T: Clone>(items: &[T], round: usize) -> Vec<T> {
    if items.is_empty() {
        return Vec::new();
    }
    let start = round % items.len();
    items[start..]
        .iter()
        .chain(&items[..start])
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_visit_every_item() {
        assert_eq!(rotated(&[1, 2, 3], 0), [1, 2, 3]);
        assert_eq!(rotated(&[1, 2, 3], 1), [2, 3, 1]);
        assert_eq!(rotated(&[1, 2, 3], 5), [3, 1, 2]);
        assert!(rotated::<u8>(&[], 3).is_empty());
    }

    #[test]
    fn the_prelude_defines_its_functions() {
        let p = prelude();
        for f in [
            "now()",
            "cs()",
            "facts()",
            "start_tern()",
            "wait_for()",
            "await_ready()",
            "ctl()",
            "stop_tern()",
            "ensure_vm()",
            "finish_vm()",
            "heartbeats()",
            "guest_smaps()",
            "cpu_snap()",
        ] {
            assert!(p.contains(f), "{f}");
        }
        assert!(p.contains(GUEST_CMDLINE));
    }
}
