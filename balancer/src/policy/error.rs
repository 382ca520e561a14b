//! Why a request cannot be planned.

/// Why a request cannot be planned; each reads as one sentence.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The request names a host node the host lacks.
    #[error("host node {node} does not exist; this host has nodes {available}")]
    NoSuchHostNode {
        /// The node asked for.
        node: u32,
        /// The host's nodes, like `0-1`.
        available: String,
    },
    /// The request names a guest node the VM lacks.
    #[error("guest node {node} does not exist; the VM has guest nodes {available}")]
    NoSuchGuestNode {
        /// The node asked for.
        node: u32,
        /// The VM's guest nodes, like `0-1`.
        available: String,
    },
    /// An interleave request with no host node.
    #[error("interleave needs at least one host node")]
    EmptyHostNodeSet,
    /// An interleave request naming a host node twice.
    #[error("host node {0} is in the interleave set twice")]
    HostNodeTwice(u32),
    /// Hot-first before any heat sample.
    #[error("hot-first needs write heat, and no heat sample has been taken yet")]
    NoHeatSamples,
    /// Follow-vcpus on a guest node that has memory but no vCPUs.
    #[error("guest node {0} has no vCPUs for its memory to follow")]
    NoVcpusInGuestNode(u32),
    /// Follow-vcpus on a guest node none of whose vCPUs has a known host node.
    #[error(
        "no vCPU of guest node {0} has a known host node, so its memory has nothing to follow"
    )]
    GuestNodeVcpusNotLocated(u32),
    /// Follow-vcpus on the whole VM when no guest node has a located vCPU.
    #[error("no vCPU has a known host node, so follow-vcpus has nothing to follow")]
    NoVcpuLocated,
    /// The placement lists one region twice (a caller's bug; planning it could move a chunk
    /// twice).
    #[error("region {0} appears twice in the placement to plan from")]
    RegionListedTwice(usize),
}
