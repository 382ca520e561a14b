//! `GET /v1/vm`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The VM's run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VmState {
    /// vCPUs are running the guest.
    Running,
    /// Every vCPU is held outside KVM_RUN.
    Paused,
    /// The VM is stopping.
    ShuttingDown,
}

/// A guest NUMA node in brief.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GuestNodeSummary {
    /// The guest node number.
    pub id: u32,
    /// Its vCPUs.
    pub vcpus: Vec<u32>,
    /// Its memory in MiB.
    pub memory_mib: u64,
    /// The host node its memory is tied to, if any.
    pub host_node: Option<u32>,
    /// Its memory policy: default, bind, preferred or interleave.
    pub policy: String,
}

/// The VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VmInfo {
    /// Run state.
    pub state: VmState,
    /// Number of vCPUs.
    pub vcpus: u32,
    /// Guest memory in MiB.
    pub memory_mib: u64,
    /// Its guest NUMA nodes.
    pub guest_nodes: Vec<GuestNodeSummary>,
    /// Milliseconds since the VM started.
    pub uptime_ms: u64,
}
