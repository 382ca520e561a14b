//! The decisions of automatic balancing: a guest node's memory follows its vCPUs when a
//! scheduler or an operator has moved them to another host node, and only then.
//!
//! Each look, the caller observes every guest node (where its vCPUs run, where its memory
//! is) and [`AutoState::observe`] decides. A guest node's candidate is the host node running
//! the most of its located vCPUs (a tie goes to the node with more of its memory, then the
//! lower node), and only if that is more than [`AutoConfig::min_vcpu_share`] of them. Its
//! memory moves when:
//! - less than [`AutoConfig::settled_share`] of its populated memory is on the candidate;
//! - the same candidate won [`AutoConfig::stable_samples`] looks in a row (a new candidate, or
//!   a look without one, starts the count again);
//! - its last move started at least [`AutoConfig::cooldown`] ago.
//!
//! Hysteresis and cooldown are what prevent ping-pong: vCPUs that flip between nodes faster
//! than `stable_samples` looks never move anything, and memory that just moved stays put for
//! the cooldown whatever the vCPUs do. Guest nodes without vCPUs (memory only) are ignored.
//!
//! The operator wins: a guest node whose memory an operator placed (a rebalance through the
//! API, or a host node given at launch) is held ([`AutoState::hold`]) and left alone until its
//! vCPUs move: a new pin of one of them, or most of them running on another host node for
//! `stable_samples` looks in a row (the scheduler moving vCPUs nobody pinned). Enabling
//! automatic balancing again releases every hold ([`AutoState::release_all`]).
//! Nothing here reads a clock or starts a thread: the caller passes the time in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::policy::busiest_host_node;

/// When automatic balancing moves a guest node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AutoConfig {
    /// Consecutive looks a candidate must win before memory moves (0 counts as 1).
    pub stable_samples: u32,
    /// No new move of a guest node for this long after its last one started.
    pub cooldown: Duration,
    /// The candidate must run more than this share of the guest node's located vCPUs.
    pub min_vcpu_share: f64,
    /// At least this share of the guest node's populated memory on the candidate: settled.
    pub settled_share: f64,
}

impl Default for AutoConfig {
    /// Three looks in a row, 30 s of cooldown, a strict majority of vCPUs, 90% settled.
    fn default() -> Self {
        Self {
            stable_samples: 3,
            cooldown: Duration::from_secs(30),
            min_vcpu_share: 0.5,
            settled_share: 0.9,
        }
    }
}

/// One look at a guest node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestNodeObservation {
    /// The guest node.
    pub guest_node: u32,
    /// The host node each of its vCPUs runs on, if known.
    pub vcpu_nodes: Vec<Option<u32>>,
    /// Its populated pages per host node.
    pub memory_on: Vec<(u32, u64)>,
    /// How many times its vCPUs have been pinned by an operator, all together.
    pub pins: u64,
}

impl GuestNodeObservation {
    fn pages_on(&self, node: u32) -> u64 {
        self.memory_on
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, pages)| pages)
            .sum()
    }

    /// The host node running more than `share` of its located vCPUs, if one does.
    pub fn vcpu_majority(&self, share: f64) -> Option<u32> {
        let located: Vec<u32> = self.vcpu_nodes.iter().flatten().copied().collect();
        let (node, count) = busiest_host_node(&located, |n| self.pages_on(n))?;
        (count as f64 / located.len() as f64 > share).then_some(node)
    }
}

/// Why automatic balancing leaves a guest node alone: an operator placed its memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    /// The guest node.
    pub guest_node: u32,
    /// What the operator did, as a sentence fragment ("rebalance rb-3 moved it to host
    /// node 1").
    pub reason: String,
    /// When the hold began.
    pub since: Instant,
    /// Its vCPUs' pins when the hold began.
    pins: u64,
    /// The host node most of its vCPUs ran on when the hold began (or at the first look that
    /// located them).
    vcpu_node: Option<u32>,
    /// Looks in a row on which most of its vCPUs ran on another host node.
    moved_looks: u32,
}

/// A guest node whose memory should now follow its vCPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoMove {
    /// The guest node.
    pub guest_node: u32,
    /// The host node its memory should move to.
    pub target: u32,
}

/// What automatic balancing remembers of one guest node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct NodeState {
    /// The host node that won the last look, if one did.
    candidate: Option<u32>,
    /// Consecutive looks it has won.
    streak: u32,
    /// When its last move started.
    last_move: Option<Instant>,
}

impl NodeState {
    fn forget_candidate(&mut self) {
        self.candidate = None;
        self.streak = 0;
    }
}

/// The memory of automatic balancing between looks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoState {
    nodes: BTreeMap<u32, NodeState>,
    holds: BTreeMap<u32, Hold>,
}

fn percent(part: u64, whole: u64) -> String {
    format!("{:.0}%", part as f64 * 100.0 / whole.max(1) as f64)
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// A host node a guest node's memory could move to.
struct Candidate {
    node: u32,
    /// The guest node's located vCPUs, and how many of them run on `node`.
    vcpus_there: usize,
    vcpus_located: usize,
    /// The guest node's populated pages, and how many of them are on `node`.
    pages_there: u64,
    pages: u64,
}

/// The host node a guest node with vCPUs should move to this look, or the sentence saying
/// why it stays where it is.
fn candidate(look: &GuestNodeObservation, config: &AutoConfig) -> Result<Candidate, String> {
    let g = look.guest_node;
    let located: Vec<u32> = look.vcpu_nodes.iter().flatten().copied().collect();
    let Some((node, count)) = busiest_host_node(&located, |n| look.pages_on(n)) else {
        return Err(format!(
            "guest node {g} stays: where its vCPUs run is not known"
        ));
    };
    let total = located.len();
    let majority = count as f64 / total as f64 > config.min_vcpu_share;
    if !majority {
        return Err(format!(
            "guest node {g} stays: its vCPUs are spread over host nodes \
             (host node {node} runs {count} of {total})"
        ));
    }
    let pages: u64 = look.memory_on.iter().map(|(_, p)| p).sum();
    let there = look.pages_on(node);
    if pages == 0 {
        return Err(format!(
            "guest node {g} stays: it has no populated memory to move"
        ));
    }
    if there as f64 >= config.settled_share * pages as f64 {
        return Err(format!(
            "guest node {g} stays: {} of its memory is already on host node {node}, \
             where its vCPUs run",
            percent(there, pages)
        ));
    }
    Ok(Candidate {
        node,
        vcpus_there: count,
        vcpus_located: total,
        pages_there: there,
        pages,
    })
}

/// Why a guest node whose candidate won this look does not move yet, if it does not.
fn wait_reason(state: &NodeState, now: Instant, config: &AutoConfig, g: u32) -> Option<String> {
    let needed = config.stable_samples.max(1);
    if state.streak < needed {
        let node = state.candidate?;
        return Some(format!(
            "guest node {g} waits: its vCPUs have run on host node {node} for {} of {needed} looks",
            state.streak
        ));
    }
    let since = now.saturating_duration_since(state.last_move?);
    (since < config.cooldown).then(|| {
        format!(
            "guest node {g} waits: its last move started {} ago, within the {} cooldown",
            seconds(since),
            seconds(config.cooldown)
        )
    })
}

/// Whether a held guest node stays held at this look: `Ok` with the sentence saying so, or
/// `Err` with the sentence saying why it is released.
fn still_held(
    hold: &mut Hold,
    look: &GuestNodeObservation,
    config: &AutoConfig,
) -> Result<String, String> {
    let g = look.guest_node;
    if look.pins != hold.pins {
        return Err(format!(
            "guest node {g} is followed again: its vCPUs were pinned since the operator placed \
             its memory"
        ));
    }
    match (look.vcpu_majority(config.min_vcpu_share), hold.vcpu_node) {
        (Some(now), None) => hold.vcpu_node = Some(now),
        (Some(now), Some(then)) if now != then => {
            hold.moved_looks += 1;
            if hold.moved_looks >= config.stable_samples.max(1) {
                return Err(format!(
                    "guest node {g} is followed again: its vCPUs moved from host node {then} \
                     to host node {now}"
                ));
            }
        }
        _ => hold.moved_looks = 0,
    }
    Ok(format!(
        "guest node {g} is held: {}; automatic balancing leaves it until its vCPUs move",
        hold.reason
    ))
}

/// Decides one guest node: a move, and the sentence saying why (none for a memory-only node).
fn decide(
    state: &mut NodeState,
    look: &GuestNodeObservation,
    now: Instant,
    config: &AutoConfig,
) -> (Option<AutoMove>, Option<String>) {
    let g = look.guest_node;
    if look.vcpu_nodes.is_empty() {
        state.forget_candidate();
        return (None, None);
    }
    let c = match candidate(look, config) {
        Ok(c) => c,
        Err(reason) => {
            state.forget_candidate();
            return (None, Some(reason));
        }
    };
    if state.candidate == Some(c.node) {
        state.streak = state.streak.saturating_add(1);
    } else {
        state.candidate = Some(c.node);
        state.streak = 1;
    }
    if let Some(reason) = wait_reason(state, now, config, g) {
        return (None, Some(reason));
    }
    let note = format!(
        "guest node {g} moves to host node {}: {} of its {} located vCPUs run there and {} of \
         its memory is there",
        c.node,
        c.vcpus_there,
        c.vcpus_located,
        percent(c.pages_there, c.pages)
    );
    let target = c.node;
    (
        Some(AutoMove {
            guest_node: g,
            target,
        }),
        Some(note),
    )
}

impl AutoState {
    /// Nothing observed yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one look at every guest node at time `now`: the moves to start (at most one per
    /// guest node), and one sentence per guest node with vCPUs saying what was decided or
    /// why it holds back. A move not reported back through [`AutoState::moved`] (because it
    /// could not start) is proposed again at the next look.
    pub fn observe(
        &mut self,
        now: Instant,
        observations: &[GuestNodeObservation],
        config: &AutoConfig,
    ) -> (Vec<AutoMove>, Vec<String>) {
        let mut moves = Vec::new();
        let mut notes = Vec::new();
        for look in observations {
            let state = self.nodes.entry(look.guest_node).or_default();
            if let Some(hold) = self.holds.get_mut(&look.guest_node) {
                match still_held(hold, look, config) {
                    Ok(note) => {
                        state.forget_candidate();
                        notes.push(note);
                        continue;
                    }
                    Err(note) => {
                        self.holds.remove(&look.guest_node);
                        notes.push(note);
                    }
                }
            }
            let (decided, note) = decide(state, look, now, config);
            moves.extend(decided);
            notes.extend(note);
        }
        (moves, notes)
    }

    /// Holds `guest_node` because an operator placed its memory (`reason`), its vCPUs pinned
    /// `pins` times so far and most of them on `vcpu_node` now, if known.
    pub fn hold(
        &mut self,
        guest_node: u32,
        reason: String,
        now: Instant,
        pins: u64,
        vcpu_node: Option<u32>,
    ) {
        self.holds.insert(
            guest_node,
            Hold {
                guest_node,
                reason,
                since: now,
                pins,
                vcpu_node,
                moved_looks: 0,
            },
        );
        if let Some(state) = self.nodes.get_mut(&guest_node) {
            state.forget_candidate();
        }
    }

    /// Releases every hold (the operator enabled automatic balancing again).
    pub fn release_all(&mut self) {
        self.holds.clear();
    }

    /// The guest nodes held, in order.
    pub fn holds(&self) -> Vec<Hold> {
        self.holds.values().cloned().collect()
    }

    /// Records that a move of `guest_node` started at `now`: its cooldown starts, and its
    /// candidate must win `stable_samples` looks again before another move.
    pub fn moved(&mut self, guest_node: u32, now: Instant) {
        let state = self.nodes.entry(guest_node).or_default();
        state.last_move = Some(now);
        state.streak = 0;
    }

    /// A guest node's current candidate host node and the looks in a row it has won.
    pub fn candidate(&self, guest_node: u32) -> Option<(u32, u32)> {
        let state = self.nodes.get(&guest_node)?;
        Some((state.candidate?, state.streak))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    /// Guest node `guest_node` with vCPUs on these host nodes and its memory per host node.
    fn look(
        guest_node: u32,
        vcpus: &[Option<u32>],
        memory_on: &[(u32, u64)],
    ) -> GuestNodeObservation {
        GuestNodeObservation {
            guest_node,
            vcpu_nodes: vcpus.to_vec(),
            memory_on: memory_on.to_vec(),
            pins: 0,
        }
    }

    /// Looks once a second from `start`, the same observation each time; returns the moves
    /// per look.
    fn looks(
        state: &mut AutoState,
        start: Instant,
        observations: &[Vec<GuestNodeObservation>],
    ) -> Vec<Vec<AutoMove>> {
        let config = AutoConfig::default();
        observations
            .iter()
            .enumerate()
            .map(|(i, obs)| state.observe(start + SECOND * i as u32, obs, &config).0)
            .collect()
    }

    fn to(guest_node: u32, target: u32) -> AutoMove {
        AutoMove { guest_node, target }
    }

    #[test]
    fn a_stable_majority_moves_after_enough_looks() {
        let mut state = AutoState::new();
        let obs = vec![look(0, &[Some(1), Some(1), Some(0)], &[(0, 1000)])];
        let t0 = Instant::now();
        let moves = looks(&mut state, t0, &[obs.clone(), obs.clone(), obs.clone()]);
        assert_eq!(moves, vec![vec![], vec![], vec![to(0, 1)]]);
        assert_eq!(state.candidate(0), Some((1, 3)));
        let (_, notes) = state.observe(t0 + 3 * SECOND, &obs, &AutoConfig::default());
        assert_eq!(
            notes,
            vec!["guest node 0 moves to host node 1: 2 of its 3 located vCPUs run there and 0% of its memory is there"]
        );
    }

    #[test]
    fn the_first_looks_say_what_they_wait_for() {
        let mut state = AutoState::new();
        let obs = [look(0, &[Some(1)], &[(0, 10)])];
        let (moves, notes) = state.observe(Instant::now(), &obs, &AutoConfig::default());
        assert!(moves.is_empty());
        assert_eq!(
            notes,
            vec!["guest node 0 waits: its vCPUs have run on host node 1 for 1 of 3 looks"]
        );
    }

    #[test]
    fn flapping_vcpus_never_move_memory() {
        let mut state = AutoState::new();
        let on = |node| vec![look(0, &[Some(node), Some(node)], &[(2, 1000)])];
        // Every look, and every two looks: never three in a row.
        let every: Vec<_> = (0..20).map(|i| on(i % 2)).collect();
        let pairs: Vec<_> = (0..20).map(|i| on((i / 2) % 2)).collect();
        let t0 = Instant::now();
        for sequence in [every, pairs] {
            let moves = looks(&mut state, t0, &sequence);
            assert!(moves.iter().all(Vec::is_empty), "{moves:?}");
        }
    }

    #[test]
    fn a_new_candidate_starts_the_count_again() {
        let mut state = AutoState::new();
        let on = |node| vec![look(0, &[Some(node)], &[(0, 1000)])];
        let moves = looks(
            &mut state,
            Instant::now(),
            &[on(1), on(1), on(2), on(2), on(2)],
        );
        assert_eq!(moves, vec![vec![], vec![], vec![], vec![], vec![to(0, 2)]]);
    }

    #[test]
    fn a_look_without_a_majority_starts_the_count_again() {
        let mut state = AutoState::new();
        let majority = vec![look(0, &[Some(1), Some(1)], &[(0, 1000)])];
        let split = vec![look(0, &[Some(1), Some(0)], &[(0, 1000)])];
        let seq = [
            majority.clone(),
            majority.clone(),
            split,
            majority.clone(),
            majority.clone(),
        ];
        let moves = looks(&mut state, Instant::now(), &seq);
        assert!(moves.iter().all(Vec::is_empty), "{moves:?}");
    }

    #[test]
    fn half_of_the_vcpus_is_not_a_majority() {
        let mut state = AutoState::new();
        let obs = vec![look(0, &[Some(1), Some(1), Some(0), Some(0)], &[(2, 1000)])];
        let moves = looks(&mut state, Instant::now(), &vec![obs.clone(); 5]);
        assert!(moves.iter().all(Vec::is_empty));
        let (_, notes) = state.observe(Instant::now(), &obs, &AutoConfig::default());
        assert_eq!(
            notes,
            vec!["guest node 0 stays: its vCPUs are spread over host nodes (host node 0 runs 2 of 4)"]
        );
    }

    #[test]
    fn unlocated_vcpus_do_not_count_and_none_located_holds() {
        let mut state = AutoState::new();
        let obs = vec![look(0, &[Some(1), None, None], &[(0, 1000)])];
        let moves = looks(&mut state, Instant::now(), &vec![obs; 3]);
        assert_eq!(moves[2], vec![to(0, 1)]);
        let (moves, notes) = AutoState::new().observe(
            Instant::now(),
            &[look(0, &[None, None], &[(0, 1000)])],
            &AutoConfig::default(),
        );
        assert!(moves.is_empty());
        assert_eq!(
            notes,
            vec!["guest node 0 stays: where its vCPUs run is not known"]
        );
    }

    #[test]
    fn the_cooldown_holds_back_the_next_move() {
        let mut state = AutoState::new();
        let config = AutoConfig::default();
        let on = |node| vec![look(0, &[Some(node)], &[(0, 1000)])];
        let t0 = Instant::now();
        assert_eq!(looks(&mut state, t0, &vec![on(1); 3])[2], vec![to(0, 1)]);
        let started = t0 + 2 * SECOND;
        state.moved(0, started);
        // The vCPUs go on to node 2 and stay there: nothing moves until the cooldown is over.
        for s in 1..30 {
            let (moves, notes) = state.observe(started + SECOND * s, &on(2), &config);
            assert!(moves.is_empty(), "{s} s after the move");
            if s >= 3 {
                assert!(notes[0].contains("within the 30.0 s cooldown"), "{notes:?}");
            }
        }
        let (moves, _) = state.observe(started + 30 * SECOND, &on(2), &config);
        assert_eq!(moves, vec![to(0, 2)]);
    }

    #[test]
    fn a_move_that_did_not_start_is_proposed_again() {
        let mut state = AutoState::new();
        let obs = vec![look(0, &[Some(1)], &[(0, 1000)])];
        let moves = looks(&mut state, Instant::now(), &vec![obs; 5]);
        assert_eq!(moves[2..], [vec![to(0, 1)], vec![to(0, 1)], vec![to(0, 1)]]);
    }

    #[test]
    fn settled_memory_stays() {
        let mut state = AutoState::new();
        let obs = vec![look(0, &[Some(1), Some(1)], &[(0, 50), (1, 950)])];
        let moves = looks(&mut state, Instant::now(), &vec![obs.clone(); 5]);
        assert!(moves.iter().all(Vec::is_empty));
        let (_, notes) = state.observe(Instant::now(), &obs, &AutoConfig::default());
        assert_eq!(
            notes,
            vec!["guest node 0 stays: 95% of its memory is already on host node 1, where its vCPUs run"]
        );
        assert_eq!(state.candidate(0), None);
        let untouched = vec![look(0, &[Some(1)], &[])];
        let moves = looks(&mut state, Instant::now(), &vec![untouched; 5]);
        assert!(moves.iter().all(Vec::is_empty));
    }

    #[test]
    fn memory_only_guest_nodes_are_ignored() {
        let mut state = AutoState::new();
        let obs = vec![look(1, &[], &[(0, 1000)])];
        let config = AutoConfig::default();
        for s in 0..5 {
            let (moves, notes) = state.observe(Instant::now() + SECOND * s, &obs, &config);
            assert!(moves.is_empty() && notes.is_empty());
        }
        assert_eq!(state.candidate(1), None);
    }

    #[test]
    fn guest_nodes_are_decided_independently() {
        let mut state = AutoState::new();
        let obs = vec![
            look(0, &[Some(1)], &[(0, 1000)]),
            look(1, &[Some(1)], &[(1, 1000)]),
            look(2, &[Some(0)], &[(1, 1000)]),
        ];
        let moves = looks(&mut state, Instant::now(), &vec![obs; 3]);
        assert_eq!(moves[2], vec![to(0, 1), to(2, 0)]);
    }

    #[test]
    fn a_tie_between_host_nodes_goes_to_the_one_with_more_memory() {
        let mut state = AutoState::new();
        let config = AutoConfig {
            min_vcpu_share: 0.4,
            stable_samples: 1,
            ..AutoConfig::default()
        };
        let obs = [look(0, &[Some(1), Some(2)], &[(0, 800), (2, 100), (1, 50)])];
        let (moves, _) = state.observe(Instant::now(), &obs, &config);
        assert_eq!(moves, vec![to(0, 2)]);
    }

    #[test]
    fn an_operators_move_is_held_until_a_pin() {
        let mut state = AutoState::new();
        let t0 = Instant::now();
        // vCPUs pinned to node 0 (twice so far), memory moved to node 1 by the operator.
        let mut obs = look(0, &[Some(0), Some(0)], &[(1, 1000)]);
        obs.pins = 2;
        state.hold(
            0,
            "rebalance rb-1 moved it to host node 1".into(),
            t0,
            2,
            Some(0),
        );
        let moves = looks(&mut state, t0, &vec![vec![obs.clone()]; 10]);
        assert!(moves.iter().all(Vec::is_empty), "held: {moves:?}");
        let (_, notes) = state.observe(t0, &[obs.clone()], &AutoConfig::default());
        assert!(notes[0].contains("is held: rebalance rb-1"), "{notes:?}");
        assert_eq!(state.holds().len(), 1);
        // A pin (even back to the same node) releases it; then memory follows as usual.
        obs.pins = 3;
        let moves = looks(&mut state, t0, &vec![vec![obs.clone()]; 3]);
        assert_eq!(moves, vec![vec![], vec![], vec![to(0, 0)]]);
        assert!(state.holds().is_empty());
    }

    #[test]
    fn a_hold_ends_when_the_scheduler_moves_the_vcpus_for_good() {
        let mut state = AutoState::new();
        let t0 = Instant::now();
        state.hold(0, "bound to host node 1 at launch".into(), t0, 0, None);
        let on = |n| look(0, &[Some(n), Some(n)], &[(1, 1000)]);
        // The first look that locates the vCPUs sets where they were; a brief move does not
        // count, a move that lasts three looks does.
        let seq = vec![
            vec![on(0)],
            vec![on(1)],
            vec![on(0)],
            vec![on(1)],
            vec![on(1)],
        ];
        let moves = looks(&mut state, t0, &seq);
        assert!(moves.iter().all(Vec::is_empty));
        assert_eq!(state.holds().len(), 1);
        let (_, notes) = state.observe(t0, &[on(1)], &AutoConfig::default());
        assert!(
            notes[0].contains("moved from host node 0 to host node 1"),
            "{notes:?}"
        );
        assert!(state.holds().is_empty());
    }

    #[test]
    fn enabling_auto_mode_again_releases_every_hold() {
        let mut state = AutoState::new();
        let t0 = Instant::now();
        state.hold(0, "x".into(), t0, 0, Some(0));
        state.hold(1, "y".into(), t0, 0, Some(0));
        state.release_all();
        let obs = vec![look(0, &[Some(0)], &[(1, 1000)])];
        let moves = looks(&mut state, t0, &vec![obs; 3]);
        assert_eq!(moves[2], vec![to(0, 0)]);
    }
}
