//! `GET /v1/placement`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Pages on one host node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HostNodePages {
    /// The host node.
    pub host_node: u32,
    /// Pages there (of the sampled ones).
    pub pages: u64,
}

/// Where one guest node's memory sits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GuestNodePlacement {
    /// The guest node.
    pub id: u32,
    /// Its pages.
    pub pages: u64,
    /// Pages queried (all of them up to 1 GiB per region; an even sample beyond).
    pub sampled: u64,
    /// `sampled / pages`.
    pub sampled_fraction: f64,
    /// Populated pages per host node, of the sampled ones.
    pub host_nodes: Vec<HostNodePages>,
    /// Sampled pages never touched.
    pub absent: u64,
    /// Sampled pages in memory whose node the kernel would not tell.
    pub unknown: u64,
}

/// Where one vCPU runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VcpuPlacement {
    /// The vCPU.
    pub id: u32,
    /// The host CPU it last ran on.
    pub host_cpu: Option<u32>,
    /// That CPU's host node.
    pub host_node: Option<u32>,
    /// The host CPUs it may run on.
    pub affinity: Vec<u32>,
}

/// Guest memory and vCPU placement.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlacementInfo {
    /// Bytes per page in the counts.
    pub page_size: u64,
    /// Per guest node.
    pub guest_nodes: Vec<GuestNodePlacement>,
    /// Per vCPU.
    pub vcpus: Vec<VcpuPlacement>,
}
