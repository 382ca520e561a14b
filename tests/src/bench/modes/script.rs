//! The modes benchmark's L1 script.

use crate::bench::shell::{prelude, rotated};

/// MiB the workload writes per vCPU: with 2 vCPUs, most of the 1 GiB guest.
pub const WORKLOAD_MIB: u32 = 384;
/// A lazy move's `sweep_after_s`.
pub const SWEEP_S: u32 = 6;
/// Seconds the guest runs undisturbed, its vCPUs already on the target, before the idle
/// window of each move starts.
pub const QUIET_S: u32 = 8;
/// The idle window before each move lasts at least this long, and at least one whole pass of
/// each vCPU's workload; its pass rate is the idle speed.
pub const IDLE_WINDOW_S: u32 = 6;
/// Longest wait for one more pass of each vCPU's workload, in 0.2 s steps (2 minutes).
const PASS_WAIT_STEPS: u32 = 600;

/// A way to move, as the benchmark names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `mode: live`, full speed.
    Live,
    /// `mode: paused`.
    Paused,
    /// `mode: lazy` with `sweep_after_s` [`SWEEP_S`].
    Lazy,
    /// `mode: live` with `pace: guest`.
    Paced,
}

impl Mode {
    /// Every mode, in the order of the first round.
    pub const ALL: [Mode; 4] = [Mode::Live, Mode::Paused, Mode::Lazy, Mode::Paced];

    /// Its name in records and keys.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Live => "live",
            Mode::Paused => "paused",
            Mode::Lazy => "lazy",
            Mode::Paced => "paced",
        }
    }

    /// Its `ternctl rebalance` options.
    fn args(self) -> String {
        match self {
            Mode::Live => String::new(),
            Mode::Paused => "--mode paused".into(),
            Mode::Lazy => format!("--mode lazy --sweep-after-s {SWEEP_S}"),
            Mode::Paced => "--pace guest".into(),
        }
    }

    /// Reads a name back.
    pub fn from_name(name: &str) -> Option<Self> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The moves of one page size: `rounds` rounds, each mode once per round, rotated.
fn moves(rounds: usize, kind: &str) -> String {
    let mut s = String::new();
    for round in 0..rounds {
        for mode in rotated(&Mode::ALL, round) {
            s.push_str(&format!(
                "ensure_vm; measure {} {kind} \"{}\"\n",
                mode.name(),
                mode.args()
            ));
        }
    }
    s
}

/// The script: `facts`, then per page size (THP, then 4 KiB) a VM and `rounds` rounds of
/// moves; for each move, once the pass in progress after the quiet spell has ended, `REC
/// steady` (the idle window starts: every pass after it runs undisturbed, not in the wake of
/// the previous move), `REC cpu` before and after, `REC place` about every 0.5 s while it
/// runs (`ternctl placement`), `REC move` with its status, and `REC settled` once each vCPU
/// has ended the pass in progress and one more (the move's wake is over: a paused move's
/// refaults come after the resume); each VM's heartbeats at the end.
pub fn script(rounds: usize) -> String {
    let mut s = prelude();
    s.push_str(&format!(
        r#"facts
echo 1 > /proc/sys/kernel/numa_balancing
n=1
launch() {{
    start_tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 1G \
        --host-node 0 --host-cpus any --api-sock $sock \
        --cmdline "$GUEST_CMDLINE tern_task=fill tern_mib={WORKLOAD_MIB} tern_seconds=100000"
    await_ready "cpu1: HB pass=2" || {{ ensure_vm; return; }}
    now t; echo "REC ready epoch=$vm_epoch at=$t"
    cur=0
}}
hb_count() {{ grep -c "cpu$1: HB pass" /tmp/tern.out; }}
await_passes() {{ c0=$(hb_count 0); c1=$(hb_count 1); k=0
    while [ $(hb_count 0) -lt $((c0 + $1)) ] || [ $(hb_count 1) -lt $((c1 + $1)) ]; do
        k=$((k + 1)); [ $k -gt {PASS_WAIT_STEPS} ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.2
    done; }}
measure() {{
    mode=$1; kind=$2; target=$((1 - cur))
    ternctl --sock $sock pin 0 --node $target >/dev/null 2>&1
    ternctl --sock $sock pin 1 --node $target >/dev/null 2>&1
    sleep {QUIET_S}; await_passes 1
    now t; echo "REC steady n=$n at=$t"
    sleep {IDLE_WINDOW_S}; await_passes 1
    now t; echo "REC cpu n=$n when=before at=$t $(cpu_snap)"
    rm -f /tmp/stop_place
    ( while [ ! -e /tmp/stop_place ]; do now t0; p=$(ctl placement); echo "REC place n=$n at=$t0 :: $p"; sleep 0.5; done ) >/tmp/place.out &
    sampler=$!
    now a; out=$(ternctl --sock $sock --json rebalance --policy to-node --node $target $3 2>&1 | tr -d '\n'); now b
    touch /tmp/stop_place; wait $sampler; cat /tmp/place.out
    now t; echo "REC cpu n=$n when=after at=$t $(cpu_snap)"
    echo "REC move n=$n mode=$mode kind=$kind target=$target epoch=$vm_epoch start=$a end=$b :: $out"
    await_passes 2
    now t; echo "REC settled n=$n at=$t"
    cur=$target; n=$((n + 1))
}}
echo "REC fact thp_phase=$(tr ' ' _ </sys/kernel/mm/transparent_hugepage/enabled)"
launch
{thp}sleep 3
finish_vm
echo never > /sys/kernel/mm/transparent_hugepage/enabled
vm_epoch=$((vm_epoch + 1))
launch
{base}sleep 3
finish_vm
exit 0
"#,
        thp = moves(rounds, "thp"),
        base = moves(rounds, "4k"),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_moves_each_round_on_both_page_sizes() {
        let s = script(5);
        for mode in Mode::ALL {
            for kind in ["thp", "4k"] {
                let call = format!("measure {} {kind} ", mode.name());
                assert_eq!(s.matches(&call).count(), 5, "{call}");
            }
            assert_eq!(Mode::from_name(mode.name()), Some(mode));
        }
        assert!(s.contains("measure lazy thp \"--mode lazy --sweep-after-s 6\""));
        assert!(s.contains("measure paced 4k \"--pace guest\""));
        assert!(s.contains("echo never > /sys/kernel/mm/transparent_hugepage/enabled"));
        // The second round starts with the second mode.
        let first_two: Vec<&str> = s
            .lines()
            .filter(|l| l.starts_with("ensure_vm; measure"))
            .skip(4)
            .take(1)
            .collect();
        assert_eq!(
            first_two,
            ["ensure_vm; measure paused thp \"--mode paused\""]
        );
        assert!(s.contains("await_passes 2\n    now t; echo \"REC settled n=$n at=$t\""));
        assert!(s.trim_end().ends_with("finish_vm\nexit 0"));
    }
}
