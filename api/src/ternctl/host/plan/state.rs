//! The host as the planner sees it: host nodes with their CPUs and free memory, and every VM's
//! guest nodes with their memory per host node, their vCPUs and who may move them.

use std::collections::BTreeMap;

/// A host NUMA node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    /// The node.
    pub id: u32,
    /// How many CPUs it has.
    pub cpus: usize,
    /// Its memory, in bytes.
    pub total: u64,
    /// Its free memory now, in bytes.
    pub free: u64,
}

/// Who confined a vCPU's thread to one host node's CPUs, if anyone did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pin {
    /// It may run on CPUs of more than one host node: the scheduler places it.
    Free,
    /// Someone else (an operator, a launch setting) confined it to this node: the host
    /// balancer never moves it.
    Node(u32),
    /// This host balancer confined it to this node, and may move it again.
    ByBalancer(u32),
}

impl Pin {
    /// The node it is confined to, if any.
    pub fn node(self) -> Option<u32> {
        match self {
            Self::Free => None,
            Self::Node(n) | Self::ByBalancer(n) => Some(n),
        }
    }

    /// Whether the host balancer may pin it elsewhere.
    pub fn movable(self) -> bool {
        !matches!(self, Self::Node(_))
    }
}

/// A vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuState {
    /// The vCPU.
    pub id: u32,
    /// The host node it last ran on, if known.
    pub runs_on: Option<u32>,
    /// Who confined it.
    pub pin: Pin,
}

/// A guest NUMA node of a VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestNodeState {
    /// The guest node.
    pub id: u32,
    /// Its memory, in bytes: what it may fault in at most.
    pub size: u64,
    /// Its populated memory per host node, in bytes.
    pub on: BTreeMap<u32, u64>,
    /// The host node its memory policy ties it to (bind or preferred), if any: what it has
    /// not faulted in yet will come from there.
    pub home: Option<u32>,
    /// Its vCPUs.
    pub vcpus: Vec<VcpuState>,
    /// Why its VM's automatic balancing leaves it alone (an operator placed it), if it does.
    pub held: Option<String>,
}

impl GuestNodeState {
    /// Its populated bytes.
    pub fn populated(&self) -> u64 {
        self.on.values().sum()
    }

    /// Its populated bytes on `node`.
    pub fn on_node(&self, node: u32) -> u64 {
        self.on.get(&node).copied().unwrap_or(0)
    }

    /// The host node holding most of its memory (the lower one on a tie), if any is populated.
    pub fn memory_node(&self) -> Option<u32> {
        self.on
            .iter()
            .filter(|(_, bytes)| **bytes > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(node, _)| *node)
    }

    /// Whether every vCPU may be pinned elsewhere by the host balancer.
    pub fn vcpus_movable(&self) -> bool {
        self.vcpus.iter().all(|v| v.pin.movable())
    }

    /// Where its vCPUs are: the node a strict majority is confined to, else the node a strict
    /// majority runs on; `None` when they are spread or not located.
    pub fn vcpu_node(&self) -> Option<u32> {
        let majority = |nodes: Vec<u32>| -> Option<u32> {
            let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
            for n in nodes {
                *counts.entry(n).or_default() += 1;
            }
            counts
                .into_iter()
                .find(|(_, count)| 2 * count > self.vcpus.len())
                .map(|(node, _)| node)
        };
        majority(self.vcpus.iter().filter_map(|v| v.pin.node()).collect())
            .or_else(|| majority(self.vcpus.iter().filter_map(|v| v.runs_on).collect()))
    }

    /// Moves all of its memory to `node` (what the engine does), which then becomes its home.
    pub fn move_to(&mut self, node: u32) {
        let populated = self.populated();
        self.on.clear();
        self.on.insert(node, populated);
        self.home = Some(node);
    }
}

/// A VM on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmState {
    /// Its name.
    pub name: String,
    /// Whether it runs automatic balancing: the host balancer acts only for those that do.
    pub opted_in: bool,
    /// Its guest nodes.
    pub guest_nodes: Vec<GuestNodeState>,
}

/// The whole host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostState {
    /// Its NUMA nodes.
    pub nodes: Vec<NodeState>,
    /// Its VMs.
    pub vms: Vec<VmState>,
}

/// A guest node by position: `vms[vm].guest_nodes[node]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct At {
    /// Index of the VM.
    pub vm: usize,
    /// Index of the guest node in it.
    pub node: usize,
}

impl HostState {
    /// The node with this id.
    pub fn node(&self, id: u32) -> Option<&NodeState> {
        self.nodes.iter().find(|n| n.id == id)
    }

    fn node_mut(&mut self, id: u32) -> Option<&mut NodeState> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// The guest node at `at`.
    pub fn guest(&self, at: At) -> Option<&GuestNodeState> {
        self.vms.get(at.vm)?.guest_nodes.get(at.node)
    }

    /// `vm-name guest node G`, for sentences.
    pub fn describe(&self, at: At) -> String {
        match (self.vms.get(at.vm), self.guest(at)) {
            (Some(vm), Some(g)) => format!("{} guest node {}", vm.name, g.id),
            _ => "an unknown guest node".into(),
        }
    }

    /// Every guest node, with its position.
    pub fn guests(&self) -> impl Iterator<Item = (At, &GuestNodeState)> {
        self.vms.iter().enumerate().flat_map(|(vm, v)| {
            v.guest_nodes
                .iter()
                .enumerate()
                .map(move |(node, g)| (At { vm, node }, g))
        })
    }

    /// vCPUs confined to `node`, every VM's.
    pub fn vcpus_confined_to(&self, node: u32) -> usize {
        self.guests()
            .flat_map(|(_, g)| &g.vcpus)
            .filter(|v| v.pin.node() == Some(node))
            .count()
    }

    /// Moves the guest node at `at` to `node`, keeping the host's free memory in step.
    pub fn apply_move(&mut self, at: At, node: u32) {
        let Some(g) = self.guest(at).cloned() else {
            return;
        };
        for (from, bytes) in &g.on {
            if *from != node {
                if let Some(n) = self.node_mut(*from) {
                    n.free += bytes;
                }
                if let Some(n) = self.node_mut(node) {
                    n.free = n.free.saturating_sub(*bytes);
                }
            }
        }
        if let Some(g) = self
            .vms
            .get_mut(at.vm)
            .and_then(|v| v.guest_nodes.get_mut(at.node))
        {
            g.move_to(node);
        }
    }

    /// Pins every vCPU of the guest node at `at` to `node` on the host balancer's behalf.
    pub fn apply_pin(&mut self, at: At, node: u32) {
        if let Some(g) = self
            .vms
            .get_mut(at.vm)
            .and_then(|v| v.guest_nodes.get_mut(at.node))
        {
            for v in &mut g.vcpus {
                v.pin = Pin::ByBalancer(node);
                v.runs_on = Some(node);
            }
        }
    }
}
