//! Judging one move from what the host shows, independently of tern's own placement report.
//!
//! - Every move: pages_moved + pages_failed <= pages_total, and bytes_moved is pages_moved
//!   pages.
//! - A completed move (done): at least 99% of the populated guest pages on the target (for
//!   interleave: 99% on the two nodes and each holding 40-60%; for a hot-first move its budget
//!   cut short: the target gained at least 99% of the pages it reported moved), and every
//!   guest VMA left with a policy for its target.
//! - A move that stopped early: the state the fault explains (a cancel that was accepted:
//!   cancelled; a target that was filled: failed for want of memory), and every guest node's
//!   policy as it was before, in tern's topology and in numa_maps.

use api::model::{RebalanceState, RebalanceStatus, TopologyInfo};

use super::case::{Fault, MoveCase, Policy};
use super::fault::FaultOutcome;
use super::records::{Failure, FailureKind, SeenPlacement};
use super::seen::{same_policies, HostPlacement, PAGE_SIZE};

/// The least share of populated pages a completed move leaves on its target.
pub const MIN_ON_TARGET: f64 = 0.99;
/// The range each node's share of an interleaved guest must fall in.
pub const INTERLEAVE_SHARE: (f64, f64) = (0.40, 0.60);
/// Pages a hot-first budget must exceed what was off the target by to count as covering it.
const BUDGET_SLACK_PAGES: u64 = 2048;

/// What was seen around one move.
#[derive(Debug)]
pub struct Observed<'a> {
    /// The move.
    pub case: &'a MoveCase,
    /// Its last status.
    pub status: &'a RebalanceStatus,
    /// What its fault did.
    pub fault: &'a FaultOutcome,
    /// Placement before it (the last move's check).
    pub before: &'a HostPlacement,
    /// Placement after it.
    pub after: &'a HostPlacement,
    /// tern's topology before it.
    pub topology_before: &'a TopologyInfo,
    /// tern's topology after it.
    pub topology_after: &'a TopologyInfo,
    /// The other host node of a two-node host (the second interleave node).
    pub other: u32,
}

/// The judgement.
#[derive(Debug, Default)]
pub struct Verdict {
    /// What went wrong, if anything.
    pub failure: Option<Failure>,
    /// What the placement check saw.
    pub placement: SeenPlacement,
    /// Worth knowing.
    pub notes: Vec<String>,
}

fn status_json(status: &RebalanceStatus) -> String {
    serde_json::to_string(status).unwrap_or_default()
}

fn accounting(status: &RebalanceStatus) -> Result<(), String> {
    if status.pages_moved + status.pages_failed > status.pages_total {
        return Err(format!(
            "pages_moved {} + pages_failed {} > pages_total {}",
            status.pages_moved, status.pages_failed, status.pages_total
        ));
    }
    if status.bytes_moved != status.pages_moved * PAGE_SIZE {
        return Err(format!(
            "bytes_moved {} is not pages_moved {} pages",
            status.bytes_moved, status.pages_moved
        ));
    }
    Ok(())
}

/// Whether a hot-first move's budget left part of what was off the target behind.
fn budget_cuts(case: &MoveCase, before: &HostPlacement) -> bool {
    let Some(budget) = case.budget_mib else {
        return false;
    };
    let off = before.populated().saturating_sub(before.on(case.target));
    budget * (1 << 20) / PAGE_SIZE < off + BUDGET_SLACK_PAGES
}

/// The placement check of a completed move: the share it looked at, and a sentence if it
/// failed.
fn placement_check(o: &Observed<'_>) -> (f64, Option<String>) {
    let (after, target) = (o.after, o.case.target);
    match o.case.policy {
        Policy::Interleave => {
            let (a, b) = (after.share_on(target), after.share_on(o.other));
            let ok = a + b >= MIN_ON_TARGET
                && [a, b]
                    .iter()
                    .all(|s| (INTERLEAVE_SHARE.0..=INTERLEAVE_SHARE.1).contains(s));
            let miss = format!(
                "interleave: {:.4} on node {target}, {:.4} on node {} of {} populated pages",
                a,
                b,
                o.other,
                after.populated()
            );
            (a.min(b), (!ok).then_some(miss))
        }
        Policy::HotFirst if budget_cuts(o.case, o.before) => {
            let arrived = after.on(target).saturating_sub(o.before.on(target));
            let moved = o.status.pages_moved;
            let share = if moved == 0 {
                1.0
            } else {
                arrived as f64 / moved as f64
            };
            let miss = format!(
                "hot-first within {} MiB: node {target} gained {arrived} pages ({} -> {}) for \
                 {moved} reported moved",
                o.case.budget_mib.unwrap_or(0),
                o.before.on(target),
                after.on(target)
            );
            (share, (share < MIN_ON_TARGET).then_some(miss))
        }
        _ => {
            let share = after.share_on(target);
            let miss = format!(
                "{:.4} of {} populated pages on node {target}: {:?}",
                share,
                after.populated(),
                after.pages_on
            );
            (share, (share < MIN_ON_TARGET).then_some(miss))
        }
    }
}

/// Whether every guest VMA's policy after a completed move names its target.
fn settled_policies(o: &Observed<'_>) -> Result<(), String> {
    let t = o.case.target;
    let fits = |p: &str| match o.case.policy {
        Policy::Interleave => p.starts_with("interleave:"),
        _ => p == format!("bind:{t}") || p == format!("prefer:{t}"),
    };
    match o.after.vmas.iter().find(|v| !fits(&v.policy)) {
        Some(v) => Err(format!(
            "guest memory at {:#x} has policy {} after a completed {} move to node {t}",
            v.start,
            v.policy,
            o.case.policy.name()
        )),
        None => Ok(()),
    }
}

/// Whether tern's topology and numa_maps show the policies of before the move.
fn policies_put_back(o: &Observed<'_>) -> Result<(), String> {
    for before in &o.topology_before.guest_nodes {
        let after = o
            .topology_after
            .guest_nodes
            .iter()
            .find(|g| g.id == before.id);
        let same =
            after.is_some_and(|a| a.policy == before.policy && a.host_node == before.host_node);
        if !same {
            return Err(format!(
                "guest node {}: {} on {:?} before the move, {} after (tern's topology)",
                before.id,
                before.policy,
                before.host_node,
                after.map_or_else(
                    || "missing".into(),
                    |a| format!("{} on {:?}", a.policy, a.host_node)
                )
            ));
        }
    }
    same_policies(&o.before.vmas, &o.after.vmas).map_err(|e| format!("numa_maps: {e}"))
}

/// Judges one move.
pub fn judge(o: &Observed<'_>) -> Verdict {
    let mut v = Verdict {
        placement: SeenPlacement {
            pages_on: o.after.pages_on.clone(),
            absent: o.after.absent,
            unreadable: o.after.unreadable,
            numa_maps_on: o.after.numa_maps_on(),
            share: 0.0,
        },
        ..Default::default()
    };
    let s = o.status;
    let fail = |kind, what: String| {
        Some(Failure::new(
            kind,
            format!("{what}; status {}", status_json(s)),
        ))
    };
    if let Err(e) = accounting(s) {
        v.failure = fail(FailureKind::Inconsistent, e);
        return v;
    }
    if o.after.unreadable > 0 {
        v.notes.push(format!(
            "{} pages answered the placement query with an error",
            o.after.unreadable
        ));
    }
    let cancel_accepted = o.case.fault == Fault::Cancel && o.fault.cancel_accepted();
    let filled = o.case.fault == Fault::TargetFull && o.fault.reservation.is_some();
    match s.state {
        RebalanceState::Done => {
            if cancel_accepted {
                v.notes
                    .push("the cancel was accepted but the move completed".into());
            }
            if filled {
                let late = o.fault.fired_at_ms.is_some_and(|at| at >= s.elapsed_ms);
                v.notes.push(if late {
                    "the fill came after the move had ended".into()
                } else {
                    "the target had room enough despite the fill".into()
                });
            }
            if s.pages_moved + s.pages_failed != s.pages_total {
                v.notes.push(format!(
                    "done with pages_moved {} + pages_failed {} != pages_total {}",
                    s.pages_moved, s.pages_failed, s.pages_total
                ));
            }
            let (share, miss) = placement_check(o);
            v.placement.share = share;
            if let Some(miss) = miss {
                v.failure = fail(FailureKind::PlacementMiss, miss);
            } else if let Err(e) = settled_policies(o) {
                v.failure = fail(FailureKind::Inconsistent, e);
            }
        }
        RebalanceState::Cancelled | RebalanceState::Failed => {
            let explained = match s.state {
                RebalanceState::Cancelled => cancel_accepted,
                _ => {
                    filled
                        && (s.failed_by_reason.contains_key("ENOMEM")
                            || s.message
                                .as_deref()
                                .is_some_and(|m| m.contains("ran out of free memory")))
                }
            };
            if !explained {
                v.failure = fail(
                    FailureKind::MoveFailedUnexpectedly,
                    format!(
                        "ended {:?} under fault {} ({})",
                        s.state,
                        o.case.fault.name(),
                        o.fault.effect.join("; ")
                    ),
                );
            } else if let Err(e) = policies_put_back(o) {
                v.failure = fail(FailureKind::Inconsistent, e);
            }
        }
        RebalanceState::Queued | RebalanceState::Running => {
            v.failure = fail(FailureKind::MoveStuck, "it never ended".into());
        }
    }
    v
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::soak::case::{Method, PinPlace};
    use crate::soak::fault::FaultOutcome;
    use crate::soak::seen::GuestVma;
    use api::model::{GuestNodeTopology, RebalanceOrigin, RebalancePolicy};
    use std::collections::BTreeMap;

    fn case(policy: Policy, fault: Fault, budget_mib: Option<u64>) -> MoveCase {
        MoveCase {
            index: 0,
            method: Method::MovePages,
            policy,
            fault,
            target: 1,
            budget_mib,
            fault_at: 0.5,
            fill_before: true,
            pause_ms: 100,
            pin: (0, PinPlace::Anywhere),
        }
    }

    fn status(state: RebalanceState, total: u64, moved: u64, failed: u64) -> RebalanceStatus {
        RebalanceStatus {
            id: "rb-1".into(),
            policy: RebalancePolicy::ToNode,
            origin: RebalanceOrigin::Operator,
            mode: api::model::RebalanceMode::Live,
            pace: api::model::RebalancePace::Fixed,
            state,
            pages_total: total,
            pages_moved: moved,
            pages_failed: failed,
            failed_by_reason: BTreeMap::new(),
            bytes_moved: moved * PAGE_SIZE,
            elapsed_ms: 100,
            paused_ms: None,
            pace_mib_per_s: None,
            message: None,
        }
    }

    fn placement(on0: u64, on1: u64, policy: &str) -> HostPlacement {
        HostPlacement {
            vmas: vec![GuestVma {
                start: 0x1000_0000,
                end: 0x2000_0000,
                policy: policy.into(),
                numa_maps_on: BTreeMap::new(),
            }],
            pages_on: [(0, on0), (1, on1)].into(),
            absent: 0,
            unreadable: 0,
        }
    }

    /// One guest node of 256 MiB with policy `policy` on host node `host`.
    pub(crate) fn topology(policy: &str, host: u32) -> TopologyInfo {
        TopologyInfo {
            host_nodes: vec![],
            guest_nodes: vec![GuestNodeTopology {
                id: 0,
                vcpus: vec![0],
                memory_mib: 256,
                host_node: Some(host),
                policy: policy.into(),
                policy_note: None,
                regions: vec![],
            }],
        }
    }

    fn judge_with(
        case: &MoveCase,
        status: &RebalanceStatus,
        fault: &FaultOutcome,
        before: &HostPlacement,
        after: &HostPlacement,
        topo_after: &TopologyInfo,
    ) -> Verdict {
        judge(&Observed {
            case,
            status,
            fault,
            before,
            after,
            topology_before: &topology("bind", 0),
            topology_after: topo_after,
            other: 0,
        })
    }

    #[test]
    fn a_completed_move_needs_99_percent_on_its_target() {
        let c = case(Policy::ToNode, Fault::None, None);
        let s = status(RebalanceState::Done, 1000, 1000, 0);
        let before = placement(1000, 0, "bind:0");
        let topo = topology("bind", 1);
        let none = FaultOutcome::default();
        let ok = judge_with(&c, &s, &none, &before, &placement(5, 995, "bind:1"), &topo);
        assert!(ok.failure.is_none(), "{:?}", ok.failure);
        assert!((ok.placement.share - 0.995).abs() < 1e-9);
        let miss = judge_with(&c, &s, &none, &before, &placement(20, 980, "bind:1"), &topo);
        assert_eq!(miss.failure.unwrap().kind, FailureKind::PlacementMiss);
        let unsettled = judge_with(&c, &s, &none, &before, &placement(0, 1000, "bind:0"), &topo);
        assert_eq!(unsettled.failure.unwrap().kind, FailureKind::Inconsistent);
    }

    #[test]
    fn interleave_wants_both_nodes_near_half() {
        let c = case(Policy::Interleave, Fault::None, None);
        let s = status(RebalanceState::Done, 500, 500, 0);
        let before = placement(1000, 0, "bind:0");
        let topo = topology("interleave", 0);
        let none = FaultOutcome::default();
        let even = judge_with(
            &c,
            &s,
            &none,
            &before,
            &placement(480, 520, "interleave:0-1"),
            &topo,
        );
        assert!(even.failure.is_none(), "{:?}", even.failure);
        let skewed = judge_with(
            &c,
            &s,
            &none,
            &before,
            &placement(300, 700, "interleave:0-1"),
            &topo,
        );
        assert_eq!(skewed.failure.unwrap().kind, FailureKind::PlacementMiss);
    }

    #[test]
    fn a_hot_first_budget_counts_what_arrived() {
        let c = case(Policy::HotFirst, Fault::None, Some(16));
        let before = placement(100_000, 0, "bind:0");
        let topo = topology("bind", 1);
        let none = FaultOutcome::default();
        let s = status(RebalanceState::Done, 4096, 4096, 0);
        let ok = judge_with(
            &c,
            &s,
            &none,
            &before,
            &placement(95_904, 4096, "bind:1"),
            &topo,
        );
        assert!(ok.failure.is_none(), "{:?}", ok.failure);
        let lost = judge_with(
            &c,
            &s,
            &none,
            &before,
            &placement(98_000, 2000, "bind:1"),
            &topo,
        );
        assert_eq!(lost.failure.unwrap().kind, FailureKind::PlacementMiss);
    }

    #[test]
    fn a_stop_must_be_the_faults_and_put_policies_back() {
        let before = placement(1000, 0, "bind:0");
        let s = status(RebalanceState::Cancelled, 1000, 400, 0);
        let accepted = FaultOutcome {
            cancel_status: Some(204),
            ..Default::default()
        };
        let c = case(Policy::ToNode, Fault::Cancel, None);
        let restored = judge_with(
            &c,
            &s,
            &accepted,
            &before,
            &placement(600, 400, "bind:0"),
            &topology("bind", 0),
        );
        assert!(restored.failure.is_none(), "{:?}", restored.failure);
        let kept = judge_with(
            &c,
            &s,
            &accepted,
            &before,
            &placement(600, 400, "prefer:1"),
            &topology("bind", 0),
        );
        assert_eq!(kept.failure.unwrap().kind, FailureKind::Inconsistent);
        let topo_changed = judge_with(
            &c,
            &s,
            &accepted,
            &before,
            &placement(600, 400, "bind:0"),
            &topology("preferred", 1),
        );
        assert_eq!(
            topo_changed.failure.unwrap().kind,
            FailureKind::Inconsistent
        );
        let unasked = case(Policy::ToNode, Fault::Pause, None);
        let v = judge_with(
            &unasked,
            &s,
            &accepted,
            &before,
            &placement(600, 400, "bind:0"),
            &topology("bind", 0),
        );
        assert_eq!(v.failure.unwrap().kind, FailureKind::MoveFailedUnexpectedly);
    }

    #[test]
    fn accounting_must_add_up() {
        let c = case(Policy::ToNode, Fault::None, None);
        let s = status(RebalanceState::Done, 100, 90, 20);
        let v = judge_with(
            &c,
            &s,
            &FaultOutcome::default(),
            &placement(100, 0, "bind:0"),
            &placement(0, 100, "bind:1"),
            &topology("bind", 1),
        );
        assert_eq!(v.failure.unwrap().kind, FailureKind::Inconsistent);
    }
}
