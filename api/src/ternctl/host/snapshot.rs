//! What a survey found, read into the host's state: host nodes (from the VMs' own view of the
//! host, or this host's sysfs when none answered), each VM's guest nodes with their memory
//! per host node in bytes, their vCPUs with who confined them, and the VMs that did not
//! answer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use balancer::topology::HostTopology;

use super::discover::name_from_socket;
use super::plan::state::{GuestNodeState, HostState, NodeState, Pin, VcpuState, VmState};
use super::survey::{Surveyed, VmAnswers};
use crate::model::{HostNodeInfo, VmState as RunState};

const MIB: u64 = 1 << 20;

/// A VM that answered: its socket and answers.
#[derive(Clone, Debug, PartialEq)]
pub struct Answered {
    /// The VM's name (its own, else its socket's file name).
    pub name: String,
    /// Its API socket.
    pub socket: PathBuf,
    /// What it said.
    pub answers: VmAnswers,
}

/// A socket that gave no usable answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unanswered {
    /// The name its socket suggests.
    pub name: String,
    /// The socket.
    pub socket: PathBuf,
    /// Why, as a fragment after the socket ("refuses connections (...)").
    pub reason: String,
}

/// The vCPUs the host balancer pinned itself: (socket, vCPU, host node).
pub type OwnPins = BTreeSet<(PathBuf, u32, u32)>;

/// The host at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Host nodes.
    pub host_nodes: Vec<HostNodeInfo>,
    /// The VMs that answered, in socket order; `state.vms` is in the same order.
    pub answered: Vec<Answered>,
    /// Those that did not.
    pub unanswered: Vec<Unanswered>,
    /// The host as the planner sees it.
    pub state: HostState,
}

/// Host nodes as this host's sysfs has them (when no VM answered).
fn local_host_nodes() -> Vec<HostNodeInfo> {
    HostTopology::read()
        .map(|host| host.nodes.iter().map(HostNodeInfo::from).collect())
        .unwrap_or_default()
}

/// The host node all of `cpus` belong to, if they all belong to one.
pub fn node_of_cpus(cpus: &[u32], nodes: &[HostNodeInfo]) -> Option<u32> {
    let mut found: Option<u32> = None;
    for cpu in cpus {
        let node = nodes.iter().find(|n| n.cpus.contains(cpu))?.id;
        match found {
            Some(f) if f != node => return None,
            _ => found = Some(node),
        }
    }
    found
}

/// Populated bytes of each guest node per host node, scaled up from the sample.
fn memory_on(answers: &VmAnswers) -> BTreeMap<u32, BTreeMap<u32, u64>> {
    let page = answers.placement.page_size;
    answers
        .placement
        .guest_nodes
        .iter()
        .map(|g| {
            let scale = if g.sampled == 0 {
                0.0
            } else {
                g.pages as f64 / g.sampled as f64
            };
            let on = g
                .host_nodes
                .iter()
                .map(|h| (h.host_node, (h.pages as f64 * scale) as u64 * page))
                .collect();
            (g.id, on)
        })
        .collect()
}

/// The planner's view of one VM.
fn vm_state(a: &Answered, nodes: &[HostNodeInfo], own: &OwnPins) -> VmState {
    let vm = &a.answers.vm;
    let mut on = memory_on(&a.answers);
    let guest_nodes = vm
        .guest_nodes
        .iter()
        .map(|g| {
            let vcpus = a
                .answers
                .placement
                .vcpus
                .iter()
                .filter(|v| g.vcpus.contains(&v.id))
                .map(|v| {
                    let pin = match node_of_cpus(&v.affinity, nodes) {
                        Some(n) if own.contains(&(a.socket.clone(), v.id, n)) => Pin::ByBalancer(n),
                        Some(n) if !v.affinity.is_empty() && nodes.len() > 1 => Pin::Node(n),
                        _ => Pin::Free,
                    };
                    VcpuState {
                        id: v.id,
                        runs_on: v.host_node,
                        pin,
                    }
                })
                .collect();
            GuestNodeState {
                id: g.id,
                size: g.memory_mib * MIB,
                on: on.remove(&g.id).unwrap_or_default(),
                home: g.host_node,
                vcpus,
                held: a
                    .answers
                    .auto
                    .holds
                    .iter()
                    .find(|h| h.guest_node == g.id)
                    .map(|h| h.reason.clone()),
            }
        })
        .collect();
    VmState {
        name: a.name.clone(),
        opted_in: a.answers.auto.enabled && vm.state != RunState::ShuttingDown,
        guest_nodes,
    }
}

/// Reads a survey; `own` are the pins the host balancer made.
pub fn snapshot(surveyed: Vec<Surveyed>, own: &OwnPins) -> Snapshot {
    let mut answered = Vec::new();
    let mut unanswered = Vec::new();
    for s in surveyed {
        match s.outcome {
            Ok(answers) => answered.push(Answered {
                name: if answers.vm.name.is_empty() {
                    name_from_socket(&s.socket)
                } else {
                    answers.vm.name.clone()
                },
                socket: s.socket,
                answers,
            }),
            Err(reason) => unanswered.push(Unanswered {
                name: name_from_socket(&s.socket),
                socket: s.socket,
                reason,
            }),
        }
    }
    let host_nodes = answered
        .first()
        .map(|a| a.answers.topology.host_nodes.clone())
        .unwrap_or_else(local_host_nodes);
    let state = HostState {
        nodes: host_nodes
            .iter()
            .map(|n| NodeState {
                id: n.id,
                cpus: n.cpus.len(),
                total: n.total_mib * MIB,
                free: n.free_mib * MIB,
            })
            .collect(),
        vms: answered
            .iter()
            .map(|a| vm_state(a, &host_nodes, own))
            .collect(),
    };
    Snapshot {
        host_nodes,
        answered,
        unanswered,
        state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: u32, cpus: Vec<u32>) -> HostNodeInfo {
        HostNodeInfo {
            id,
            cpus,
            total_mib: 1024,
            free_mib: 512,
            distances: vec![10, 20],
        }
    }

    #[test]
    fn cpus_belong_to_one_node_or_to_none() {
        let nodes = [node(0, vec![0, 1]), node(1, vec![2, 3])];
        assert_eq!(node_of_cpus(&[0, 1], &nodes), Some(0));
        assert_eq!(node_of_cpus(&[3], &nodes), Some(1));
        assert_eq!(node_of_cpus(&[1, 2], &nodes), None);
        assert_eq!(node_of_cpus(&[9], &nodes), None);
        assert_eq!(node_of_cpus(&[], &nodes), None);
    }
}
