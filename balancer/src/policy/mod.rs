//! Policies: pure functions from where guest memory is (per 2 MiB chunk), how hot it is, where
//! the vCPUs run and what the host has, to a [`Plan`]: which chunks move to which host node,
//! in which order, and the memory policy each covered region ends with. Nothing here makes a
//! system call; the mover executes plans.
//!
//! Rules every policy keeps:
//! - a chunk already entirely on its target (no populated page elsewhere, empty chunks
//!   included) does not move;
//! - a chunk appears at most once in a plan, so nothing moves back and forth;
//! - a request naming a guest node touches only that guest node's regions;
//! - moves are in region then chunk order, except for [`PolicyRequest::HotFirst`], which
//!   orders them by heat.

mod error;
mod follow_vcpus;
mod hot_first;
mod interleave;
mod ranges;
mod scope;
mod to_node;

#[cfg(test)]
mod fixtures;

pub use self::error::PlanError;
pub use self::follow_vcpus::busiest_host_node;
pub use self::ranges::{move_ranges, MoveRange};

use crate::chunk::RegionChunks;
use crate::heat::HeatMap;
use crate::placement::PAGE_SIZE;
use crate::topology::HostTopology;

/// Where a vCPU runs now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuLocation {
    /// The vCPU.
    pub vcpu: u32,
    /// Its guest NUMA node.
    pub guest_node: u32,
    /// The host node of the CPU it last ran on, if known.
    pub host_node: Option<u32>,
}

/// Everything a policy looks at.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    /// The placement of every guest memory region, chunk by chunk.
    pub regions: &'a [RegionChunks],
    /// Write heat, if it has been sampled.
    pub heat: Option<&'a HeatMap>,
    /// Where each vCPU runs.
    pub vcpus: &'a [VcpuLocation],
    /// The host's NUMA nodes.
    pub host: &'a HostTopology,
}

/// What a rebalance should achieve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyRequest {
    /// All memory of a guest node (or of the whole VM) to one host node.
    ToNode {
        /// The target host node.
        host_node: u32,
        /// Only this guest node's memory; all of it when `None`.
        guest_node: Option<u32>,
    },
    /// Each guest node's memory to the host node where most of its vCPUs run.
    FollowVcpus {
        /// Only this guest node; every guest node with located vCPUs when `None`.
        guest_node: Option<u32>,
    },
    /// Spread over a set of host nodes: chunk `i` of a guest node (counted across its regions
    /// in address order) goes to `host_nodes[i % host_nodes.len()]`.
    Interleave {
        /// The host nodes, in the order chunks are dealt to them.
        host_nodes: Vec<u32>,
        /// Only this guest node's memory; all of it when `None`.
        guest_node: Option<u32>,
    },
    /// The moves of `base`, hottest chunks first; with a budget, only the hottest that fit.
    HotFirst {
        /// The request that decides targets.
        base: Box<PolicyRequest>,
        /// Bytes to move at most: the hottest moves are taken while they fit, and taking
        /// stops at the first that does not.
        budget_bytes: Option<u64>,
    },
}

/// One chunk to move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMove {
    /// The region ([`RegionChunks::region`]).
    pub region: usize,
    /// The chunk's index in the region.
    pub chunk: u64,
    /// The host node it goes to.
    pub target: u32,
    /// Its populated pages not on the target: what moves.
    pub pages: u64,
}

/// The memory policy a region should end with, so that new pages land where moved ones went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionTarget {
    /// One host node.
    Node(u32),
    /// Interleaved over these host nodes.
    Interleave(Vec<u32>),
}

/// What a rebalance does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// The chunks to move, in execution order.
    pub moves: Vec<ChunkMove>,
    /// Every region the request covers, in region order, with the policy it should end
    /// with, even if none of its chunks moves.
    pub targets: Vec<(usize, RegionTarget)>,
}

impl Plan {
    /// Pages the plan moves.
    pub fn pages(&self) -> u64 {
        self.moves.iter().map(|m| m.pages).sum()
    }

    /// Bytes the plan moves.
    pub fn bytes(&self) -> u64 {
        self.pages() * PAGE_SIZE
    }
}

/// Plans `request` over `input`, or says in one sentence why it cannot.
pub fn plan(request: &PolicyRequest, input: &PlanInput<'_>) -> Result<Plan, PlanError> {
    scope::check_regions_unique(input.regions)?;
    match request {
        PolicyRequest::ToNode {
            host_node,
            guest_node,
        } => to_node::plan_to_node(*host_node, *guest_node, input),
        PolicyRequest::FollowVcpus { guest_node } => {
            follow_vcpus::plan_follow_vcpus(*guest_node, input)
        }
        PolicyRequest::Interleave {
            host_nodes,
            guest_node,
        } => interleave::plan_interleave(host_nodes, *guest_node, input),
        PolicyRequest::HotFirst { base, budget_bytes } => {
            hot_first::plan_hot_first(base, *budget_bytes, input)
        }
    }
}
