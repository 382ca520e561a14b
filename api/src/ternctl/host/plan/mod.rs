//! The host balancer's planning core: a pure function from the host's state (nodes, VMs,
//! guest nodes, vCPUs) to the steps that bring every guest node's memory to its vCPUs where
//! it fits, with the reason for each, and notes on what it leaves alone.
//!
//! Rules:
//! - Only VMs that run automatic balancing take part, and none of their guest nodes that
//!   automatic balancing holds (an operator placed it): those are left alone with a note.
//! - A guest node's vCPU node is the host node a strict majority of its vCPUs is confined to,
//!   else the one a strict majority runs on; vCPUs spread over nodes leave it alone.
//! - It is misplaced when less than [`PlanConfig::settled_share`] of its populated memory is
//!   on its vCPU node, by at least [`PlanConfig::min_misplaced`] bytes. The most misplaced
//!   memory goes first.
//! - For each, the cheapest of (in bytes to move; on a tie in this order): pin its vCPUs to
//!   the node holding most of its memory (only vCPUs nobody else confined, and only while
//!   that node has a CPU per confined vCPU); move its memory to its vCPU node, only if that
//!   node has room for the whole guest node plus the margin ([`room`]); or, when it has not,
//!   move another guest node off that node first (vCPUs and memory, to a node with room and
//!   CPUs for it), when that frees enough.
//! - Each step moves at most one guest node's memory: the host balancer carries out the
//!   first step, waits for its move to end and plans again from what the host is then.
//!   The later steps are what it expects to do next (what `--dry-run` prints); a guest node
//!   moves at most once in a plan.

pub mod room;
pub mod state;

#[cfg(test)]
mod tests;

use serde::Serialize;

use self::room::room;
use self::state::{At, HostState};
use crate::ternctl::units::format_bytes;

/// The planner's knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanConfig {
    /// At least this share of a guest node's populated memory on its vCPU node: settled (the
    /// share automatic balancing uses).
    pub settled_share: f64,
    /// Less misplaced memory than this is left where it is.
    pub min_misplaced: u64,
    /// vCPUs the host balancer lets be confined to a node, per CPU of the node.
    pub vcpus_per_cpu: usize,
    /// Steps planned ahead at most.
    pub max_steps: usize,
}

impl Default for PlanConfig {
    /// 90% settled, 16 MiB at least, one confined vCPU per CPU, 16 steps.
    fn default() -> Self {
        Self {
            settled_share: 0.9,
            min_misplaced: 16 << 20,
            vcpus_per_cpu: 1,
            max_steps: 16,
        }
    }
}

/// One thing to do to one VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Pin these vCPUs to every CPU of a host node.
    Pin {
        /// The VM.
        vm: String,
        /// Where it is in the host's state.
        #[serde(skip)]
        at: At,
        /// The guest node.
        guest_node: u32,
        /// Its vCPUs.
        vcpus: Vec<u32>,
        /// The host node.
        host_node: u32,
    },
    /// Move all of a guest node's memory to a host node.
    Move {
        /// The VM.
        vm: String,
        /// Where it is in the host's state.
        #[serde(skip)]
        at: At,
        /// The guest node.
        guest_node: u32,
        /// The host node.
        host_node: u32,
        /// Bytes expected to move.
        bytes: u64,
    },
}

/// A step: its actions, in order, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// What to do.
    pub actions: Vec<Action>,
    /// Why, as a sentence.
    pub reason: String,
}

/// Something the plan leaves as it is, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The VM.
    pub vm: String,
    /// The guest node, when the note is about one.
    pub guest_node: Option<u32>,
    /// Why it is left, as a sentence.
    pub reason: String,
}

/// The plan for the host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HostPlan {
    /// What to do, first step first.
    pub steps: Vec<Step>,
    /// What is left alone.
    pub notes: Vec<Note>,
}

/// The name of the VM of the guest node at `at`.
fn vm_name(state: &HostState, at: At) -> String {
    state
        .vms
        .get(at.vm)
        .map_or_else(String::new, |v| v.name.clone())
}

fn note(state: &HostState, at: At, reason: String) -> Note {
    Note {
        vm: vm_name(state, at),
        guest_node: state.guest(at).map(|g| g.id),
        reason,
    }
}

/// Whether the guest node at `at` may be planned for: its VM runs automatic balancing and it
/// is not held.
fn takes_part(state: &HostState, at: At) -> bool {
    state.vms.get(at.vm).is_some_and(|v| v.opted_in)
        && state.guest(at).is_some_and(|g| g.held.is_none())
}

/// Notes for what the plan leaves alone whatever the memory does.
fn left_alone(state: &HostState) -> Vec<Note> {
    let mut notes = Vec::new();
    for vm in &state.vms {
        if !vm.opted_in {
            notes.push(Note {
                vm: vm.name.clone(),
                guest_node: None,
                reason: "automatic balancing is off in this VM, so the host balancer leaves it \
                         alone"
                    .into(),
            });
        }
    }
    for (at, g) in state.guests() {
        if !state.vms.get(at.vm).is_some_and(|v| v.opted_in) {
            continue;
        }
        let reason = if let Some(hold) = &g.held {
            format!("held: {hold}")
        } else if g.vcpus.is_empty() {
            "it has no vCPUs (memory only)".into()
        } else if g.vcpu_node().is_none() {
            "its vCPUs are spread over host nodes (or not located)".into()
        } else {
            continue;
        };
        notes.push(note(state, at, reason));
    }
    notes
}

/// A misplaced guest node: where it is, its vCPU node, and its bytes elsewhere.
#[derive(Clone, Copy, Debug)]
struct Misplaced {
    at: At,
    target: u32,
    bytes: u64,
}

/// Misplaced guest nodes not yet moved in this plan, most misplaced first.
fn misplaced(state: &HostState, config: &PlanConfig, moved: &[At]) -> Vec<Misplaced> {
    let mut found: Vec<Misplaced> = state
        .guests()
        .filter(|(at, g)| takes_part(state, *at) && !moved.contains(at) && !g.vcpus.is_empty())
        .filter_map(|(at, g)| {
            let target = g.vcpu_node()?;
            let populated = g.populated();
            let there = g.on_node(target);
            let bytes = populated - there.min(populated);
            let settled = there as f64 >= config.settled_share * populated as f64;
            (!settled && bytes >= config.min_misplaced).then_some(Misplaced { at, target, bytes })
        })
        .collect();
    found.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.at.cmp(&b.at)));
    found
}

/// Whether `node` has CPUs for the vCPUs of the guest node at `at` not already confined to it.
fn cpu_room(state: &HostState, node: u32, at: At, config: &PlanConfig) -> bool {
    let Some(g) = state.guest(at) else {
        return false;
    };
    let Some(cpus) = state.node(node).map(|n| n.cpus) else {
        return false;
    };
    let extra = g
        .vcpus
        .iter()
        .filter(|v| v.pin.node() != Some(node))
        .count();
    cpus > 0 && state.vcpus_confined_to(node) + extra <= cpus * config.vcpus_per_cpu
}

fn pin(state: &HostState, at: At, node: u32) -> Action {
    let g = state.guest(at);
    Action::Pin {
        vm: vm_name(state, at),
        at,
        guest_node: g.map_or(0, |g| g.id),
        vcpus: g.map_or_else(Vec::new, |g| g.vcpus.iter().map(|v| v.id).collect()),
        host_node: node,
    }
}

fn move_to(state: &HostState, at: At, node: u32) -> Action {
    let g = state.guest(at);
    Action::Move {
        vm: vm_name(state, at),
        at,
        guest_node: g.map_or(0, |g| g.id),
        host_node: node,
        bytes: g.map_or(0, |g| g.populated() - g.on_node(node).min(g.populated())),
    }
}

/// A possible step: what it costs in bytes moved, its rank on a tie, the step, and the guest
/// nodes whose memory it moves.
struct Candidate {
    cost: u64,
    rank: u8,
    step: Step,
    moves: Vec<At>,
}

/// Pin the vCPUs where most of the memory is.
fn pin_option(state: &HostState, m: &Misplaced, config: &PlanConfig) -> Option<Candidate> {
    let g = state.guest(m.at)?;
    let home = g.memory_node()?;
    if home == m.target || !g.vcpus_movable() || !cpu_room(state, home, m.at, config) {
        return None;
    }
    let populated = g.populated();
    let rest = populated - g.on_node(home).min(populated);
    let settles = g.on_node(home) as f64 >= config.settled_share * populated as f64;
    if !settles && !room(state, home, m.at, &[]).fits() {
        return None;
    }
    let after = if rest > 0 {
        format!(" and leaves {} to bring over", format_bytes(rest))
    } else {
        String::new()
    };
    Some(Candidate {
        cost: rest,
        rank: 0,
        step: Step {
            actions: vec![pin(state, m.at, home)],
            reason: format!(
                "{}: its vCPUs run on host node {} but {} of its memory sits on host node {home}; \
                 pinning its vCPUs to host node {home} moves {}{after}, less than the {} a move \
                 to host node {} would",
                state.describe(m.at),
                m.target,
                format_bytes(g.on_node(home)),
                format_bytes(rest.min(m.bytes)),
                format_bytes(m.bytes),
                m.target
            ),
        },
        moves: Vec::new(),
    })
}

/// Move the memory to the vCPUs, where it fits.
fn move_option(state: &HostState, m: &Misplaced) -> Option<Candidate> {
    let there = room(state, m.target, m.at, &[]);
    there.fits().then(|| Candidate {
        cost: m.bytes,
        rank: 1,
        step: Step {
            actions: vec![move_to(state, m.at, m.target)],
            reason: format!(
                "{}: its vCPUs run on host node {} and {} of its memory is elsewhere; {}",
                state.describe(m.at),
                m.target,
                format_bytes(m.bytes),
                there.sentence()
            ),
        },
        moves: vec![m.at],
    })
}

/// Move another guest node off the vCPU node first, vCPUs and memory, when that makes room.
fn make_room_option(
    state: &HostState,
    m: &Misplaced,
    config: &PlanConfig,
    moved: &[At],
) -> Option<Candidate> {
    let mut best: Option<(u64, u64, At, u32)> = None;
    for (other, h) in state.guests() {
        let eligible = other != m.at
            && !moved.contains(&other)
            && takes_part(state, other)
            && !h.vcpus.is_empty()
            && h.vcpus_movable()
            && h.memory_node() == Some(m.target);
        if !eligible || !room(state, m.target, m.at, &[other]).fits() {
            continue;
        }
        for node in &state.nodes {
            if node.id == m.target || !cpu_room(state, node.id, other, config) {
                continue;
            }
            let there = room(state, node.id, other, &[]);
            if !there.fits() {
                continue;
            }
            let cost = h.populated() - h.on_node(node.id).min(h.populated());
            let spare = there.free - there.need - there.reserved - there.margin;
            let better = best.is_none_or(|(c, s, _, _)| cost < c || (cost == c && spare > s));
            if better {
                best = Some((cost, spare, other, node.id));
            }
        }
    }
    let (cost, _, other, node) = best?;
    let before = room(state, m.target, m.at, &[]);
    Some(Candidate {
        cost: cost + m.bytes,
        rank: 2,
        step: Step {
            actions: vec![pin(state, other, node), move_to(state, other, node)],
            reason: format!(
                "makes room for {} on host node {}, where its vCPUs run: {}; moving {} and its \
                 vCPUs to host node {node} frees {}",
                state.describe(m.at),
                m.target,
                before.sentence(),
                state.describe(other),
                format_bytes(state.guest(other).map_or(0, |h| h.on_node(m.target)))
            ),
        },
        moves: vec![other],
    })
}

/// The cheapest step for `m`, or why there is none.
fn choose(
    state: &HostState,
    m: &Misplaced,
    config: &PlanConfig,
    moved: &[At],
) -> Result<Candidate, String> {
    let fits = move_option(state, m);
    let options = [
        pin_option(state, m, config),
        fits.is_none()
            .then(|| make_room_option(state, m, config, moved))
            .flatten(),
    ];
    options
        .into_iter()
        .chain([fits])
        .flatten()
        .min_by_key(|o| (o.cost, o.rank))
        .ok_or_else(|| {
            format!(
                "stays with {} away from its vCPUs: {}, and no other guest node can make way \
                 there",
                format_bytes(m.bytes),
                room(state, m.target, m.at, &[]).sentence()
            )
        })
}

/// Applies `step` to `state`, as if the host had carried it out.
fn apply(state: &mut HostState, step: &Step) {
    for action in &step.actions {
        match action {
            Action::Pin { at, host_node, .. } => state.apply_pin(*at, *host_node),
            Action::Move { at, host_node, .. } => state.apply_move(*at, *host_node),
        }
    }
}

/// The plan for `state`.
pub fn plan(state: &HostState, config: &PlanConfig) -> HostPlan {
    let mut notes = left_alone(state);
    let mut sim = state.clone();
    let mut moved: Vec<At> = Vec::new();
    let mut steps = Vec::new();
    for round in 0..config.max_steps {
        let mut chosen = None;
        for m in misplaced(&sim, config, &moved) {
            match choose(&sim, &m, config, &moved) {
                Ok(option) => {
                    chosen = Some(option);
                    break;
                }
                Err(why) if round == 0 => notes.push(note(&sim, m.at, why)),
                Err(_) => {}
            }
        }
        let Some(option) = chosen else {
            break;
        };
        apply(&mut sim, &option.step);
        moved.extend(option.moves);
        steps.push(option.step);
    }
    HostPlan { steps, notes }
}
