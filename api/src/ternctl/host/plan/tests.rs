//! The planner on small hosts: two nodes of 1 GiB with two CPUs each unless a test says
//! otherwise; margins are 64 MiB (1/16 of 1 GiB).

use std::collections::BTreeMap;

use super::state::{GuestNodeState, HostState, NodeState, Pin, VcpuState, VmState};
use super::*;

const MIB: u64 = 1 << 20;

fn host(free0: u64, free1: u64, vms: Vec<VmState>) -> HostState {
    let node = |id, free: u64| NodeState {
        id,
        cpus: 2,
        total: 1024 * MIB,
        free: free * MIB,
    };
    HostState {
        nodes: vec![node(0, free0), node(1, free1)],
        vms,
    }
}

/// A guest node of `size` MiB with `on` (node, MiB) populated and one vCPU per `vcpus` entry
/// (where it runs, who pinned it).
fn guest(size: u64, on: &[(u32, u64)], vcpus: &[(u32, Pin)]) -> GuestNodeState {
    GuestNodeState {
        id: 0,
        size: size * MIB,
        on: on
            .iter()
            .map(|(n, mib)| (*n, mib * MIB))
            .collect::<BTreeMap<_, _>>(),
        home: None,
        vcpus: vcpus
            .iter()
            .enumerate()
            .map(|(id, (runs_on, pin))| VcpuState {
                id: id as u32,
                runs_on: Some(*runs_on),
                pin: *pin,
            })
            .collect(),
        held: None,
    }
}

fn vm(name: &str, guest_nodes: Vec<GuestNodeState>) -> VmState {
    VmState {
        name: name.into(),
        opted_in: true,
        guest_nodes,
    }
}

fn plan_of(state: &HostState) -> HostPlan {
    plan(state, &PlanConfig::default())
}

fn moves(step: &Step) -> Vec<(String, u32)> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Move { vm, host_node, .. } => Some((vm.clone(), *host_node)),
            Action::Pin { .. } => None,
        })
        .collect()
}

fn pins(step: &Step) -> Vec<(String, u32)> {
    step.actions
        .iter()
        .filter_map(|a| match a {
            Action::Pin { vm, host_node, .. } => Some((vm.clone(), *host_node)),
            Action::Move { .. } => None,
        })
        .collect()
}

/// A VM pinned by an operator to node 1 whose 320 MiB sit on node 0.
fn pinned_away() -> VmState {
    vm("a", vec![guest(320, &[(0, 320)], &[(1, Pin::Node(1))])])
}

#[test]
fn a_move_needs_room_for_the_whole_guest_node_plus_the_margin() {
    // 320 + 64 = 384 MiB.
    let p = plan_of(&host(500, 384, vec![pinned_away()]));
    assert_eq!(p.steps.len(), 1, "{p:?}");
    assert_eq!(moves(&p.steps[0]), [("a".into(), 1)]);
    let Action::Move { bytes, .. } = &p.steps[0].actions[0] else {
        panic!("{p:?}")
    };
    assert_eq!(*bytes, 320 * MIB);
    assert!(
        p.steps[0].reason.contains(
            "host node 1 has 384 MiB free, room for the 320 MiB it needs plus a 64 MiB margin"
        ),
        "{}",
        p.steps[0].reason
    );
    // One MiB less and it does not fit: nothing moves, and the note says why.
    let p = plan_of(&host(500, 383, vec![pinned_away()]));
    assert!(p.steps.is_empty(), "{p:?}");
    assert_eq!(p.notes.len(), 1, "{p:?}");
    assert!(
        p.notes[0]
            .reason
            .contains("host node 1 has 383 MiB free, less than the 320 MiB it needs"),
        "{}",
        p.notes[0].reason
    );
}

#[test]
fn the_need_is_the_guest_nodes_size_less_what_is_there_plus_what_others_may_fault_in() {
    // 512 MiB guest node, 200 populated on node 0 and 100 on node 1: it needs 412 MiB on node
    // 1 (not its 200 populated bytes elsewhere), plus the margin.
    let a = || {
        vm(
            "a",
            vec![guest(512, &[(0, 200), (1, 100)], &[(1, Pin::Node(1))])],
        )
    };
    assert!(plan_of(&host(500, 475, vec![a()])).steps.is_empty());
    assert_eq!(plan_of(&host(500, 476, vec![a()])).steps.len(), 1);
    // A guest node of another VM tied to node 1 with 50 MiB not yet faulted in takes its share.
    let mut b = guest(150, &[(1, 100)], &[(1, Pin::Node(1))]);
    b.home = Some(1);
    let p = plan_of(&host(500, 476, vec![a(), vm("b", vec![b.clone()])]));
    assert!(p.steps.is_empty(), "{p:?}");
    assert!(
        p.notes[0].reason.contains("50 MiB of it promised"),
        "{}",
        p.notes[0].reason
    );
    assert_eq!(
        plan_of(&host(500, 526, vec![a(), vm("b", vec![b])]))
            .steps
            .len(),
        1
    );
}

#[test]
fn another_vm_is_moved_out_first_when_that_makes_room() {
    // Node 0 has 100 MiB free and holds b (300 MiB, vCPUs the scheduler placed); a's vCPUs
    // were pinned to node 0 by an operator but its memory is on node 1.
    let a = vm("a", vec![guest(300, &[(1, 300)], &[(0, Pin::Node(0))])]);
    let b = vm("b", vec![guest(300, &[(0, 300)], &[(0, Pin::Free)])]);
    let p = plan_of(&host(100, 600, vec![a, b]));
    assert_eq!(p.steps.len(), 2, "{p:?}");
    assert_eq!(pins(&p.steps[0]), [("b".into(), 1)]);
    assert_eq!(moves(&p.steps[0]), [("b".into(), 1)]);
    assert!(
        p.steps[0]
            .reason
            .starts_with("makes room for a guest node 0 on host node 0"),
        "{}",
        p.steps[0].reason
    );
    assert_eq!(moves(&p.steps[1]), [("a".into(), 0)]);
    assert!(pins(&p.steps[1]).is_empty());
}

#[test]
fn a_vm_an_operator_pinned_or_that_is_held_is_never_moved_out() {
    let a = || vm("a", vec![guest(300, &[(1, 300)], &[(0, Pin::Node(0))])]);
    let b_pinned = vm("b", vec![guest(300, &[(0, 300)], &[(0, Pin::Node(0))])]);
    let p = plan_of(&host(100, 600, vec![a(), b_pinned]));
    assert!(p.steps.is_empty(), "{p:?}");
    assert!(
        p.notes[0]
            .reason
            .contains("no other guest node can make way"),
        "{p:?}"
    );
    let mut held = guest(300, &[(0, 300)], &[(0, Pin::Free)]);
    held.held = Some("rebalance rb-1 (to-node) placed its memory on host node 0".into());
    let p = plan_of(&host(100, 600, vec![a(), vm("b", vec![held])]));
    assert!(p.steps.is_empty(), "{p:?}");
}

#[test]
fn vcpus_are_pinned_where_the_memory_is_when_that_is_cheaper() {
    // The scheduler runs a's vCPU on node 1; its memory is on node 0. Pinning moves nothing.
    let floating = || vm("a", vec![guest(300, &[(0, 300)], &[(1, Pin::Free)])]);
    let p = plan_of(&host(500, 900, vec![floating()]));
    assert_eq!(p.steps.len(), 1, "{p:?}");
    assert_eq!(pins(&p.steps[0]), [("a".into(), 0)]);
    assert!(moves(&p.steps[0]).is_empty());
    assert!(
        p.steps[0]
            .reason
            .contains("moves 0 B, less than the 300 MiB"),
        "{}",
        p.steps[0].reason
    );
    // An operator's pin is never undone: the memory follows instead.
    let pinned = vm("a", vec![guest(300, &[(0, 300)], &[(1, Pin::Node(1))])]);
    let p = plan_of(&host(500, 900, vec![pinned]));
    assert_eq!(moves(&p.steps[0]), [("a".into(), 1)]);
    assert!(pins(&p.steps[0]).is_empty());
    // Nor are vCPUs crowded onto a node with fewer CPUs than confined vCPUs.
    let mut state = host(500, 900, vec![floating()]);
    state.nodes[0].cpus = 0;
    let p = plan_of(&state);
    assert_eq!(moves(&p.steps[0]), [("a".into(), 1)]);
}

#[test]
fn the_most_misplaced_memory_goes_first_one_move_per_step() {
    let small = vm("small", vec![guest(256, &[(0, 200)], &[(1, Pin::Node(1))])]);
    let large = vm("large", vec![guest(400, &[(0, 300)], &[(1, Pin::Node(1))])]);
    let settled = vm(
        "settled",
        vec![guest(100, &[(1, 95), (0, 5)], &[(1, Pin::Node(1))])],
    );
    let p = plan_of(&host(0, 1000, vec![small, settled, large]));
    assert_eq!(p.steps.len(), 2, "{p:?}");
    assert_eq!(moves(&p.steps[0]), [("large".into(), 1)]);
    assert_eq!(moves(&p.steps[1]), [("small".into(), 1)]);
    for step in &p.steps {
        assert_eq!(moves(step).len(), 1, "one move per step: {step:?}");
    }
    // Room is taken by the steps before: once large moved, small no longer fits.
    let small = vm("small", vec![guest(256, &[(0, 200)], &[(1, Pin::Node(1))])]);
    let large = vm("large", vec![guest(400, &[(0, 300)], &[(1, Pin::Node(1))])]);
    let p = plan_of(&host(0, 700, vec![small, large]));
    assert_eq!(p.steps.len(), 1, "{p:?}");
    assert_eq!(moves(&p.steps[0]), [("large".into(), 1)]);
}

#[test]
fn held_guest_nodes_and_vms_without_automatic_balancing_are_left_alone() {
    let mut held = guest(300, &[(0, 300)], &[(1, Pin::Node(1))]);
    held.held = Some("its memory was bound to host node 0 at launch".into());
    let mut off = vm("off", vec![guest(300, &[(0, 300)], &[(1, Pin::Node(1))])]);
    off.opted_in = false;
    let p = plan_of(&host(500, 900, vec![vm("held", vec![held]), off]));
    assert!(p.steps.is_empty(), "{p:?}");
    let reasons: Vec<(&str, &str)> = p
        .notes
        .iter()
        .map(|n| (n.vm.as_str(), n.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "off",
                "automatic balancing is off in this VM, so the host balancer leaves it alone"
            ),
            (
                "held",
                "held: its memory was bound to host node 0 at launch"
            ),
        ]
    );
}

#[test]
fn spread_vcpus_and_settled_memory_need_nothing() {
    let spread = vm(
        "spread",
        vec![guest(300, &[(0, 300)], &[(0, Pin::Free), (1, Pin::Free)])],
    );
    let settled = vm(
        "ok",
        vec![guest(300, &[(1, 290), (0, 10)], &[(1, Pin::Node(1))])],
    );
    let p = plan_of(&host(500, 900, vec![spread, settled]));
    assert!(p.steps.is_empty(), "{p:?}");
    assert_eq!(p.notes.len(), 1);
    assert!(p.notes[0].reason.contains("spread"), "{p:?}");
}
