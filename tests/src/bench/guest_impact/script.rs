//! The guest-impact benchmark's L1 script.

use crate::bench::shell::prelude;

/// MiB the workload writes per vCPU.
pub const WORKLOAD_MIB: u32 = 256;
/// The rate cap (`max_mib_per_s`) of the capped moves.
pub const CAPPED_MIB_S: u32 = 128;

/// The script: boot the guest with its workload, `rounds` timed full-speed moves and as many
/// capped at [`CAPPED_MIB_S`], alternating (each after a quiet spell 1.5 times the last move of
/// its kind plus 3 s, each followed by an untimed move back), then a move watched with
/// `ternctl placement` about every 200 ms, then the heartbeats.
pub fn script(rounds: usize) -> String {
    let total = 2 * rounds;
    let mut s = prelude();
    s.push_str(&format!(
        r#"facts
d_full=1200
d_capped=1200
round=1
launch() {{
    start_tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 1G \
        --host-node 0 --host-cpus any --prefault --api-sock $sock \
        --cmdline "$GUEST_CMDLINE tern_task=fill tern_mib={WORKLOAD_MIB} tern_seconds=100000"
    await_ready "cpu1: HB pass=2" || {{ ensure_vm; return; }}
    now t; echo "REC ready epoch=$vm_epoch at=$t"
    echo "REC cpu round=$round when=quiet at=$t $(cpu_snap)"
}}
launch
while [ $round -le {total} ]; do
    if [ $((round % 2)) -eq 1 ]; then kind=full; cap=""; d=$d_full
    else kind=capped; cap="--max-mib-per-s {CAPPED_MIB_S}"; d=$d_capped; fi
    ensure_vm
    sleep $(( d * 3 / 200 + 3 ))
    now t; echo "REC cpu round=$round when=before at=$t $(cpu_snap)"
    now a; out=$(ternctl --sock $sock --json rebalance --policy to-node --node 1 $cap 2>&1 | tr -d '\n'); now b
    now t; echo "REC cpu round=$round when=after at=$t $(cpu_snap)"
    echo "REC move round=$round kind=$kind epoch=$vm_epoch start=$a end=$b :: $out"
    d=$(( $(cs $b) - $(cs $a) ))
    if [ $kind = full ]; then d_full=$d; else d_capped=$d; fi
    now c; out=$(ctl rebalance --policy to-node --node 0); now e
    echo "REC back round=$round start=$c end=$e :: $out"
    now t; echo "REC cpu round=$((round + 1)) when=quiet at=$t $(cpu_snap)"
    round=$((round + 1))
done
ensure_vm
sleep 5
now t0; p=$(ctl placement); now t1; echo "REC plot_place t0=$t0 t1=$t1 :: $p"
( ternctl --sock $sock --json rebalance --policy to-node --node 1 2>&1 | tr -d '\n' >/tmp/plot.json ) &
mv=$!
now a
while kill -0 $mv 2>/dev/null; do
    now t0; p=$(ctl placement); now t1; echo "REC plot_place t0=$t0 t1=$t1 :: $p"
    sleep 0.2
done
wait $mv; now b
echo "REC plot_move start=$a end=$b :: $(cat /tmp/plot.json)"
now t0; p=$(ctl placement); now t1; echo "REC plot_place t0=$t0 t1=$t1 :: $p"
finish_vm
exit 0
"#
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_workload_and_the_rounds() {
        let s = script(5);
        assert!(s.contains("tern_task=fill tern_mib=256"));
        assert!(s.contains("[ $round -le 10 ]"));
        assert!(s.contains("cap=\"--max-mib-per-s 128\""));
        assert!(s.contains("REC plot_move"));
        assert!(s.trim_end().ends_with("finish_vm\nexit 0"));
        assert_eq!(s.matches("ensure_vm\n").count(), 2);
    }
}
