//! `GET /v1/vcpus` and `PUT /v1/vcpus/{id}/affinity`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A vCPU and its thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VcpuInfo {
    /// The vCPU.
    pub id: u32,
    /// Its guest NUMA node.
    pub guest_node: u32,
    /// The host thread id of its thread (`vcpu<N>`).
    pub thread_id: i32,
    /// The host CPU it last ran on.
    pub host_cpu: Option<u32>,
    /// That CPU's host node.
    pub host_node: Option<u32>,
    /// The host CPUs it may run on.
    pub affinity: Vec<u32>,
    /// Where that affinity came from.
    pub affinity_source: AffinitySource,
    /// VM exits it has taken.
    pub exits: u64,
}

/// Where a vCPU's affinity came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AffinitySource {
    /// Pinned at launch, to its guest node's `host-cpus` or its host node's CPUs.
    Launch,
    /// Pinned by an operator (`PUT /v1/vcpus/{id}/affinity`) since.
    Pin,
    /// Never pinned: every CPU tern may use.
    None,
}

impl AffinitySource {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::Pin => "pin",
            Self::None => "none",
        }
    }
}

/// Where a vCPU may run: either host CPUs or every CPU of a host node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AffinityRequest {
    /// Host CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Vec<u32>>,
    /// A host node, meaning all its CPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_node: Option<u32>,
}
