//! `GET /v1/topology`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A host NUMA node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostNodeInfo {
    /// The node number.
    pub id: u32,
    /// Its CPUs.
    pub cpus: Vec<u32>,
    /// Its memory in MiB.
    pub total_mib: u64,
    /// Its free memory in MiB, now.
    pub free_mib: u64,
    /// Distance to every host node, in the order of `host_nodes`.
    pub distances: Vec<u32>,
}

impl From<&balancer::topology::HostNode> for HostNodeInfo {
    /// The node as the API shows it: sizes in MiB.
    fn from(n: &balancer::topology::HostNode) -> Self {
        Self {
            id: n.id,
            cpus: n.cpus.clone(),
            total_mib: n.total_bytes >> 20,
            free_mib: n.free_bytes >> 20,
            distances: n.distances.clone(),
        }
    }
}

/// One region of guest memory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegionInfo {
    /// First guest-physical address.
    pub guest_start: u64,
    /// One past the last guest-physical address.
    pub guest_end: u64,
    /// Host virtual address of its first byte, in tern.
    pub host_addr: u64,
}

/// A guest NUMA node and its memory regions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GuestNodeTopology {
    /// The guest node number.
    pub id: u32,
    /// Its vCPUs.
    pub vcpus: Vec<u32>,
    /// Its memory in MiB.
    pub memory_mib: u64,
    /// The host node its memory is tied to, if any.
    pub host_node: Option<u32>,
    /// Its memory policy: default, local, bind, preferred, interleave, or bind-on-touch
    /// while a lazy rebalance moves it.
    pub policy: String,
    /// Why it prefers its host node rather than being bound to it, when a rebalance moved
    /// it to a node without room for all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_note: Option<String>,
    /// Its regions in guest-physical space.
    pub regions: Vec<RegionInfo>,
}

/// Host and guest topology.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopologyInfo {
    /// The host's NUMA nodes.
    pub host_nodes: Vec<HostNodeInfo>,
    /// The guest's NUMA nodes.
    pub guest_nodes: Vec<GuestNodeTopology>,
}
