//! The host benchmark's L1 script.

use crate::bench::shell::{prelude, rotated};

/// VMs, their first host node (each vCPU pinned there, memory bound there at launch).
pub const VMS: [(&str, u32); 3] = [("vm-a", 0), ("vm-b", 1), ("vm-c", 0)];
/// Guest memory per VM, MiB.
pub const VM_MIB: u32 = 320;
/// MiB the workload writes (and checks) in each VM.
pub const WORKLOAD_MIB: u32 = 192;
/// Seconds each measured window lasts after its vCPU move.
pub const WINDOW_S: u32 = 30;
/// Seconds between two samples of the host's state (one sample itself takes a while in L1).
pub const SAMPLE_GAP_S: f64 = 0.5;
/// Passes of `ternctl host balance --once` that bring every guest node home before a window.
pub const SETTLE_PASSES: u32 = 6;
/// Tern's own automatic balancing's default look interval, in ms (given explicitly: `auto on`
/// keeps the interval set before, here an hour).
pub const TERN_AUTO_INTERVAL_MS: u64 = 2000;

/// What looks after the memory during a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keeper {
    /// Nobody: the memory stays where it is.
    Nobody,
    /// `ternctl host balance` with its defaults.
    HostBalancer,
    /// Each Tern's own automatic balancing, with its defaults.
    TernAuto,
}

impl Keeper {
    /// Every keeper, in the order of the first round.
    pub const ALL: [Keeper; 3] = [Keeper::Nobody, Keeper::HostBalancer, Keeper::TernAuto];

    /// Its name in records.
    pub fn name(self) -> &'static str {
        match self {
            Keeper::Nobody => "without",
            Keeper::HostBalancer => "host_balancer",
            Keeper::TernAuto => "tern_auto",
        }
    }

    /// Reads a name back.
    pub fn from_name(name: &str) -> Option<Self> {
        Keeper::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The script: three VMs, then `rounds` rounds of one window per keeper (rotated). Each
/// window starts with every guest node's memory with its vCPUs (settled by the host
/// balancer, untimed), then an operator pins the next VM's vCPU (round-robin) to the other
/// node, and for [`WINDOW_S`] seconds `REC view` samples `ternctl host --json` while the
/// keeper works; the host balancer's lines come back as `BAL`. A VM that died is reported
/// (`REC vm_died` with the window it died in, if any) and started again on its node. At the
/// end each VM's workload passes and wrong words (`REC vmend`).
pub fn script(rounds: usize) -> String {
    let mut s = prelude();
    let starts: String = VMS
        .iter()
        .map(|(vm, node)| format!("start {vm} {node}\n"))
        .collect();
    let names: Vec<&str> = VMS.iter().map(|(vm, _)| *vm).collect();
    let names = names.join(" ");
    s.push_str(&format!(
        r#"facts
mkdir -p /run/tern
vms="{names}"
deaths=0
start() {{
    ( tern --name $1 --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 1 \
        --memory {VM_MIB}M --host-node $2 --host-cpus any --api-sock /run/tern/$1.sock \
        --cmdline "$GUEST_CMDLINE tern_task=fill tern_mib={WORKLOAD_MIB} tern_seconds=100000" </dev/null 2>&1
      echo "TERN-EXIT status=$?" ) >>/tmp/$1.out 2>&1 &
    echo "$2" >/tmp/$1.node
}}
cleanup() {{ for v in $vms; do ternctl --sock /run/tern/$v.sock shutdown >/dev/null 2>&1; done; sleep 2; kill -9 $(pidof tern) 2>/dev/null; }}
seen() {{
    n=0
    while [ "$(grep -c "$2" /tmp/$1.out)" -le "${{3:-0}}" ]; do
        n=$((n+1))
        if [ $n -gt 900 ] || [ "$(grep -c TERN-EXIT /tmp/$1.out)" -gt "${{4:-0}}" ]; then
            echo "REC error what=never_saw vm=$1"; grep -E "tern: |BUG|triple|[Pp]anic" /tmp/$1.out | head -n 20 | sed 's/^/DIAG /'; cleanup; exit 1
        fi
        sleep 0.2
    done
}}
settled_in() {{
    ternctl --sock /run/tern/$1.sock pin 0 --node $(cat /tmp/$1.node) >/dev/null
    ternctl --sock /run/tern/$1.sock auto on --interval-ms 3600000 >/dev/null
}}
alive() {{
    for v in $vms; do
        ended=$(grep -c TERN-EXIT /tmp/$v.out)
        [ "$ended" -gt "$(cat /tmp/$v.ended)" ] || continue
        echo $ended >/tmp/$v.ended
        now t; echo "REC vm_died vm=$v round=$1 keeper=$2 at=$t"
        grep -q "TERN-GUEST: hello" /tmp/$v.out && echo "DIAG $v TERN-GUEST-WAS-READY"
        grep -E "tern: |BUG|Oops|triple|[Pp]anic" /tmp/$v.out | tail -n 5 | sed "s/^/DIAG $v /"
        deaths=$((deaths + 1))
        [ $deaths -le 4 ] || {{ echo "REC error what=the_VMs_died_too_often"; cleanup; exit 1; }}
        hellos=$(grep -c "TERN-GUEST: hello" /tmp/$v.out); beats=$(grep -c "cpu0: HB pass=1 " /tmp/$v.out)
        start $v $(cat /tmp/$v.node); seen $v "TERN-GUEST: hello" $hellos $ended; seen $v "cpu0: HB pass=1 " $beats $ended
        settled_in $v
    done
}}
settle() {{
    k=0
    while [ $k -lt {SETTLE_PASSES} ]; do
        k=$((k+1))
        ternctl host balance --once >/tmp/settle.out 2>&1
        sed "s/^/SETTLE round=$1 /" /tmp/settle.out
        grep -q "nothing to do" /tmp/settle.out && return 0
    done
    echo "REC unsettled round=$1"
}}
window() {{
    round=$1; keeper=$2; vm=$3
    alive $round between; settle $round
    target=$((1 - $(cat /tmp/$vm.node)))
    now a
    ternctl --sock /run/tern/$vm.sock pin 0 --node $target >/dev/null
    echo $target >/tmp/$vm.node
    case $keeper in
        host_balancer) ternctl host balance >/tmp/bal.out 2>&1 & bal=$! ;;
        tern_auto) for v in $vms; do ternctl --sock /run/tern/$v.sock auto on --interval-ms {TERN_AUTO_INTERVAL_MS} >/dev/null; done ;;
    esac
    now t
    end=$(( $(cs $a) + {WINDOW_S} * 100 ))
    while [ $(cs $t) -lt $end ]; do
        view=$(ternctl host --json 2>/dev/null | tr -d '\n')
        echo "REC view round=$round keeper=$keeper at=$t :: $view"
        sleep {SAMPLE_GAP_S}
        now t
    done
    now b
    case $keeper in
        host_balancer) kill -TERM $bal; wait $bal; sed "s/^/BAL round=$round /" /tmp/bal.out ;;
        tern_auto)
            echo "REC auto round=$round vm=$vm :: $(ternctl --sock /run/tern/$vm.sock --json auto 2>&1 | tr -d '\n')"
            for v in $vms; do ternctl --sock /run/tern/$v.sock auto on --interval-ms 3600000 >/dev/null; done ;;
    esac
    echo "REC window round=$round keeper=$keeper vm=$vm target=$target start=$a end=$b"
    alive $round $keeper
}}
for v in $vms; do : >/tmp/$v.out; echo 0 >/tmp/$v.ended; done
{starts}for v in $vms; do seen $v "TERN-GUEST: hello"; done
for v in $vms; do seen $v "cpu0: HB pass=1 "; done
for v in $vms; do settled_in $v; done
"#
    ));
    let mut turn = 0;
    for round in 1..=rounds {
        for keeper in rotated(&Keeper::ALL, round - 1) {
            let vm = VMS[turn % VMS.len()].0;
            turn += 1;
            s.push_str(&format!("window {round} {} {vm}\n", keeper.name()));
        }
    }
    s.push_str(
        r#"alive end end
sleep 2
for v in $vms; do
    passes=$(grep -c "HB pass" /tmp/$v.out)
    errors=$(grep -E "ERR |fill result=fail" /tmp/$v.out | wc -l)
    echo "REC vmend vm=$v passes=$passes errors=$errors"
    grep -E "ERR |fill result=fail" /tmp/$v.out | head -n 3 | sed "s/^/DIAG $v /"
done
cleanup
dmesg | grep -iE "out of memory|oom-kill" | sed 's/^/DIAG OOM /'
exit 0
"#,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keeper_has_a_window_each_round_and_the_vcpu_moves_go_round() {
        let s = script(5);
        for keeper in Keeper::ALL {
            assert_eq!(
                s.matches(&format!(" {} vm-", keeper.name())).count(),
                5,
                "{keeper:?}"
            );
            assert_eq!(Keeper::from_name(keeper.name()), Some(keeper));
        }
        let windows: Vec<&str> = s.lines().filter(|l| l.starts_with("window ")).collect();
        assert_eq!(windows.len(), 15);
        assert_eq!(windows[0], "window 1 without vm-a");
        assert_eq!(windows[1], "window 1 host_balancer vm-b");
        assert_eq!(windows[3], "window 2 host_balancer vm-a");
        for (vm, node) in VMS {
            assert!(s.contains(&format!("start {vm} {node}\n")), "{vm}");
        }
        assert!(s.contains("auto on --interval-ms 2000 "));
        assert!(s.trim_end().ends_with("exit 0"));
    }
}
