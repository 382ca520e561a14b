//! What one move of the soak does: how the guest's memory is backed (per lab run), how its
//! pages move, which policy plans the move, which fault hits it, and the seeded deck that
//! deals these so that every combination comes up evenly.

use serde::{Deserialize, Serialize};

use crate::api_fuzz::rng::Rng;

/// How guest memory is backed in a lab run.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
pub enum Backing {
    /// Transparent huge pages: `--memory-backing thp`.
    #[serde(rename = "thp")]
    #[value(name = "thp")]
    Thp,
    /// 4 KiB pages: `--memory-backing anon` (tern refuses huge pages for it, even with L1's
    /// THP mode at "always").
    #[serde(rename = "4k")]
    #[value(name = "4k")]
    Base,
}

impl Backing {
    /// The backing of lab run `run`: THP and 4 KiB pages take turns.
    pub fn of_run(run: u32) -> Self {
        if run.is_multiple_of(2) {
            Backing::Thp
        } else {
            Backing::Base
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backing::Thp => "thp",
            Backing::Base => "4k",
        }
    }

    /// tern's `--memory-backing` value.
    pub fn tern_backing(self) -> &'static str {
        match self {
            Backing::Thp => "thp",
            Backing::Base => "anon",
        }
    }
}

/// How the pages move (the rebalance's `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// move_pages(2) in batches.
    MovePages,
    /// mbind(2) with MPOL_MF_MOVE.
    Mbind,
}

impl Method {
    /// Both methods.
    pub const ALL: [Method; 2] = [Method::MovePages, Method::Mbind];

    /// The API's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Method::MovePages => "move-pages",
            Method::Mbind => "mbind",
        }
    }
}

/// Which plan the move follows (the rebalance's `policy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Everything to the target node.
    ToNode,
    /// Every vCPU pinned to the target node first, then memory follows them.
    FollowVcpus,
    /// Chunk by chunk over both host nodes, the target first.
    Interleave,
    /// The hottest chunks to the target node, within a budget.
    HotFirst,
}

impl Policy {
    /// Every policy.
    pub const ALL: [Policy; 4] = [
        Policy::ToNode,
        Policy::FollowVcpus,
        Policy::Interleave,
        Policy::HotFirst,
    ];

    /// The API's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::ToNode => "to-node",
            Policy::FollowVcpus => "follow-vcpus",
            Policy::Interleave => "interleave",
            Policy::HotFirst => "hot-first",
        }
    }
}

/// What is done to the VM while the move runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Nothing.
    None,
    /// `DELETE /v1/rebalance/{id}` after a random delay.
    Cancel,
    /// Pause the VM after a random delay, resume it a random time later.
    Pause,
    /// Pin a vCPU somewhere else after a random delay.
    Pin,
    /// Take most of the target node's free memory (2 MiB huge pages reserved on it), before
    /// the move or while it runs, and give it back when the move ends.
    TargetFull,
}

impl Fault {
    /// Every fault.
    pub const ALL: [Fault; 5] = [
        Fault::None,
        Fault::Cancel,
        Fault::Pause,
        Fault::Pin,
        Fault::TargetFull,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Cancel => "cancel",
            Fault::Pause => "pause",
            Fault::Pin => "pin",
            Fault::TargetFull => "target-full",
        }
    }
}

/// Where a pin fault puts a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinPlace {
    /// Every CPU of a host node.
    Node(u32),
    /// Every CPU of the host.
    Anywhere,
}

/// Budgets a hot-first move gets, in MiB: from a few chunks to more than the guest has.
pub const HOT_FIRST_BUDGETS_MIB: [u64; 4] = [16, 64, 256, 4096];

/// One move, as dealt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MoveCase {
    /// Its number in the lab run, from 0.
    pub index: u32,
    /// How pages move.
    pub method: Method,
    /// The plan.
    pub policy: Policy,
    /// What hits it.
    pub fault: Fault,
    /// The host node it moves memory to (the first of the two for interleave).
    pub target: u32,
    /// For hot-first: the budget in MiB.
    pub budget_mib: Option<u64>,
    /// When the fault fires, as a share of how long a move has been taking (0 to 1.2).
    pub fault_at: f64,
    /// For a target-full fault: take the memory before the move starts (else while it runs).
    pub fill_before: bool,
    /// For a pause: how long the VM stays paused, in ms.
    pub pause_ms: u64,
    /// For a pin: which vCPU, and where to.
    pub pin: (u32, PinPlace),
}

/// Deals [`MoveCase`]s from a seeded generator (the API fuzzer's, so that a seed replays the
/// same moves in every build): each (method, policy, fault) combination once per round, in a
/// shuffled order, and the fault's details drawn at random.
#[derive(Debug)]
pub struct Deck {
    rng: Rng,
    vcpus: u32,
    host_nodes: u32,
    round: Vec<(Method, Policy, Fault)>,
}

impl Deck {
    /// A deck for a VM of `vcpus` vCPUs on a host of `host_nodes` nodes.
    pub fn new(seed: u64, vcpus: u32, host_nodes: u32) -> Self {
        Self {
            rng: Rng::new(seed),
            vcpus: vcpus.max(1),
            host_nodes: host_nodes.max(1),
            round: Vec::new(),
        }
    }

    fn refill(&mut self) {
        for method in Method::ALL {
            for policy in Policy::ALL {
                for fault in Fault::ALL {
                    self.round.push((method, policy, fault));
                }
            }
        }
        // Fisher-Yates.
        for i in (1..self.round.len()).rev() {
            let j = self.rng.below(i + 1);
            self.round.swap(i, j);
        }
    }

    /// The move numbered `index`: targets take turns, node 1 first.
    pub fn deal(&mut self, index: u32) -> MoveCase {
        if self.round.is_empty() {
            self.refill();
        }
        let (method, policy, fault) =
            self.round
                .pop()
                .unwrap_or((Method::MovePages, Policy::ToNode, Fault::None));
        let target = (index + 1) % self.host_nodes;
        let budget_mib =
            (policy == Policy::HotFirst).then(|| self.rng.pick(&HOT_FIRST_BUDGETS_MIB));
        let place = match self.rng.below(self.host_nodes as usize + 1) as u32 {
            n if n == self.host_nodes => PinPlace::Anywhere,
            n => PinPlace::Node(n),
        };
        MoveCase {
            index,
            method,
            policy,
            fault,
            target,
            budget_mib,
            fault_at: self.rng.below(1200) as f64 / 1000.0,
            fill_before: self.rng.chance(50),
            pause_ms: self.rng.range(100, 1500) as u64,
            pin: (self.rng.below(self.vcpus as usize) as u32, place),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn a_round_deals_every_combination_once() {
        let mut deck = Deck::new(7, 2, 2);
        let per_round = Method::ALL.len() * Policy::ALL.len() * Fault::ALL.len();
        let dealt: BTreeSet<_> = (0..per_round as u32)
            .map(|i| {
                let c = deck.deal(i);
                (c.method, c.policy, c.fault)
            })
            .collect();
        assert_eq!(dealt.len(), per_round);
    }

    #[test]
    fn targets_alternate_and_details_stay_in_range() {
        let mut deck = Deck::new(42, 2, 2);
        for i in 0..200 {
            let c = deck.deal(i);
            assert_eq!(c.target, (i + 1) % 2);
            assert!((0.0..1.2).contains(&c.fault_at));
            assert!((100..=1500).contains(&c.pause_ms));
            assert!(c.pin.0 < 2);
            if let PinPlace::Node(n) = c.pin.1 {
                assert!(n < 2);
            }
            assert_eq!(c.budget_mib.is_some(), c.policy == Policy::HotFirst);
        }
    }

    #[test]
    fn the_same_seed_deals_the_same_moves() {
        let deal = |seed| {
            let mut deck = Deck::new(seed, 2, 2);
            (0..50).map(|i| deck.deal(i)).collect::<Vec<_>>()
        };
        assert_eq!(deal(5), deal(5));
        assert_ne!(deal(5), deal(6));
    }

    #[test]
    fn backings_take_turns_by_run() {
        assert_eq!(Backing::of_run(0), Backing::Thp);
        assert_eq!(Backing::of_run(1), Backing::Base);
        assert_eq!(Backing::Base.tern_backing(), "anon");
    }
}
