//! The migration benchmark's L1 script.

use super::{Memory, CONFIGS, MIGRATEPAGES};
use crate::bench::shell::{prelude, rotated};

/// The script: boot a 1 GiB guest bound to node 0 and prefaulted, then `rounds` rounds of
/// every configuration in rotated order, each timed move preceded by an untimed move back.
pub fn script(memory: Memory, rounds: usize) -> String {
    let mut s = prelude();
    if memory == Memory::BasePages {
        s.push_str("echo never > /sys/kernel/mm/transparent_hugepage/enabled\n");
    }
    s.push_str(
        r#"facts
launch() {
    start_tern --kernel /images/bzImage --initramfs /images/guest.cpio --vcpus 2 --memory 1G \
        --host-node 0 --host-cpus any --prefault --api-sock $sock --cmdline "$GUEST_CMDLINE tern_hold=100000"
    wait_for "TERN-GUEST holding"
    echo "REC fact guest_anon_huge_kb=$(guest_smaps AnonHugePages) guest_rss_kb=$(guest_smaps Rss)"
}
launch
timed() {
    name=$1; round=$2; shift 2
    now a; out=$(ternctl --sock $sock --json rebalance --policy to-node --node 1 "$@" 2>&1 | tr -d '\n'); now b
    echo "REC move round=$round config=$name start=$a end=$b :: $out"
}
back() {
    now a; out=$(ctl rebalance --policy to-node --node 0); now b
    echo "REC back round=$1 config=$2 start=$a end=$b :: $out"
}
mp() {
    now q0; before=$(ctl placement); now q1
    now a; migratepages $pid 0 1; st=$?; now b
    now q2; after=$(ctl placement); now q3
    echo "REC mp round=$1 start=$a end=$b status=$st query0_start=$q0 query0_end=$q1 query1_start=$q2 query1_end=$q3"
    echo "REC place round=$1 when=before :: $before"
    echo "REC place round=$1 when=after :: $after"
}
"#,
    );
    let mut names: Vec<&str> = CONFIGS.iter().map(|c| c.name).collect();
    names.push(MIGRATEPAGES);
    for round in 1..=rounds {
        s.push_str(&format!("echo \"REC round n={round}\"\n"));
        for name in rotated(&names, round - 1) {
            s.push_str(&format!("ensure_vm\nback {round} {name}\n"));
            match CONFIGS.iter().find(|c| c.name == name) {
                Some(c) => s.push_str(&format!("timed {name} {round} {}\n", c.args)),
                None => s.push_str(&format!("mp {round}\n")),
            }
        }
    }
    s.push_str("back end none\nfinish_vm\nexit 0\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_times_every_configuration_after_a_move_back() {
        let s = script(Memory::HugePages, 5);
        assert!(!s.contains("echo never"));
        assert_eq!(s.matches("\ntimed ").count(), 5 * CONFIGS.len());
        assert_eq!(s.matches("\nmp ").count(), 5);
        assert_eq!(s.matches("\nback ").count(), 5 * (CONFIGS.len() + 1) + 1);
        assert!(s.contains("timed workers_2 1 --workers 2\n"));
        // Round 2 starts with the second configuration.
        let round2 = s.split("REC round n=2").nth(1).unwrap();
        assert!(round2
            .trim_start_matches("\"\n")
            .starts_with("ensure_vm\nback 2 workers_2\n"));
        assert!(script(Memory::BasePages, 1)
            .contains("echo never > /sys/kernel/mm/transparent_hugepage/enabled"));
    }
}
