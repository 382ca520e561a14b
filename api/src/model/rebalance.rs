//! `POST /v1/rebalance`, `GET`/`DELETE /v1/rebalance/{id}`, `GET`/`PUT /v1/heat` and
//! `GET`/`PUT /v1/auto-balance`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which plan a rebalance follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RebalancePolicy {
    /// All memory of a guest node (or of the VM) to `host_node`.
    ToNode,
    /// Each guest node's memory to the host node where most of its vCPUs run.
    FollowVcpus,
    /// Like to-node (`host_node`), interleave (`host_nodes`) or else follow-vcpus, hottest
    /// chunks first; with `budget_mib` only the hottest that fit.
    HotFirst,
    /// Spread over `host_nodes`, chunk by chunk.
    Interleave,
}

/// How pages are moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MoveMethod {
    /// move_pages(2) in batches.
    MovePages,
    /// mbind(2) with MPOL_MF_MOVE over whole ranges.
    Mbind,
}

/// How a rebalance moves pages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceMode {
    /// The mover moves every page while the guest runs.
    #[default]
    Live,
    /// The vCPUs are paused, every page moves at full speed, the vCPUs run again (on every
    /// way out).
    Paused,
    /// The guest node's memory is bound to the target with migrate-on-touch (MPOL_BIND |
    /// MPOL_F_NUMA_BALANCING): pages move when vCPUs on the target touch them; what is left
    /// after `sweep_after_s` is moved live.
    Lazy,
}

/// How a rebalance's speed is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RebalancePace {
    /// As fast as it can, or at `max_mib_per_s`.
    #[default]
    Fixed,
    /// From what the vCPU threads lose (waiting for a CPU, time in the host kernel): as fast
    /// as keeps that at most 7% of their time more than before the move, at most
    /// `max_mib_per_s`.
    Guest,
}

/// A rebalance request. Fields beyond `policy` as the policy needs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebalanceRequest {
    /// The plan.
    pub policy: Option<RebalancePolicy>,
    /// Target host node (to-node; hot-first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_node: Option<u32>,
    /// Target host nodes (interleave; hot-first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_nodes: Option<Vec<u32>>,
    /// Only this guest node (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest_node: Option<u32>,
    /// Rate limit in MiB/s, a positive number (default: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mib_per_s: Option<f64>,
    /// With hot-first: move at most this much, hottest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_mib: Option<u64>,
    /// How to move (default: the faster one measured, move-pages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MoveMethod>,
    /// move-pages worker threads: 1 to the number of CPUs tern may use, at most 64 (default
    /// 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<u32>,
    /// Pages per move_pages call: 1 to 65536 (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_pages: Option<u32>,
    /// Live (default), paused or lazy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RebalanceMode>,
    /// With lazy: move what is left live after this many seconds, 0 to 86400 (default:
    /// never; the move runs until every page followed or it is cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_after_s: Option<u64>,
    /// With live: fixed (default) or guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<RebalancePace>,
    /// Who asks (default: operator). An operator's rebalance holds the guest nodes it places
    /// (automatic balancing leaves them alone); the host balancer's does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<RequestOrigin>,
}

/// Who asks for a rebalance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RequestOrigin {
    /// An operator: the guest nodes it places are held from automatic balancing.
    Operator,
    /// The host-wide balancer (`ternctl host balance`), acting for a VM that runs automatic
    /// balancing: nothing is held.
    HostBalancer,
}

/// The answer to a started rebalance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RebalanceAccepted {
    /// The rebalance's id, for `GET`/`DELETE /v1/rebalance/{id}`.
    pub id: String,
    /// What may keep it from working as asked (a lazy move whose vCPUs may run off the
    /// target's CPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Where a rebalance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RebalanceState {
    /// Accepted, not started.
    Queued,
    /// Moving pages.
    Running,
    /// Every page it planned to move is on its target.
    Done,
    /// Stopped before the end (see `message`); what moved stays moved.
    Failed,
    /// Cancelled; what moved stays moved.
    Cancelled,
}

/// Who started a rebalance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceOrigin {
    /// An operator, through the API.
    Operator,
    /// Automatic balancing.
    Auto,
    /// The host-wide balancer.
    HostBalancer,
}

/// A rebalance's progress.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RebalanceStatus {
    /// Its id.
    pub id: String,
    /// Its plan.
    pub policy: RebalancePolicy,
    /// Who started it.
    pub origin: RebalanceOrigin,
    /// How it moves.
    pub mode: RebalanceMode,
    /// How its speed is chosen.
    pub pace: RebalancePace,
    /// Where it is.
    pub state: RebalanceState,
    /// Populated pages the plan moves (4 KiB pages).
    pub pages_total: u64,
    /// Pages moved so far.
    pub pages_moved: u64,
    /// Pages that could not be moved.
    pub pages_failed: u64,
    /// Failed pages by reason (EBUSY, EAGAIN, ENOMEM, EACCES, ...).
    pub failed_by_reason: BTreeMap<String, u64>,
    /// Bytes moved so far.
    pub bytes_moved: u64,
    /// Milliseconds since it started.
    pub elapsed_ms: u64,
    /// Paused mode: milliseconds the vCPUs were paused for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_ms: Option<u64>,
    /// Guest pace: the rate the pacer set last, in MiB/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace_mib_per_s: Option<f64>,
    /// Why it failed or stopped short, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A hot chunk of guest memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HotChunk {
    /// Its first guest-physical address.
    pub guest_addr: u64,
    /// The host node most of its pages are on, if known.
    pub host_node: Option<u32>,
    /// Its heat: decayed count of pages written per sample.
    pub heat: f64,
}

/// Write heat of one guest node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GuestNodeHeat {
    /// The guest node.
    pub id: u32,
    /// Memory written per second over the last sample, in MiB/s (estimated from the watched
    /// pages, where only some pages per chunk are watched).
    pub write_mib_per_s: f64,
    /// Its hottest chunks, hottest first.
    pub hottest: Vec<HotChunk>,
}

/// Write heat from KVM dirty logging.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeatInfo {
    /// Whether dirty logging is on now.
    pub sampling: bool,
    /// Sampling interval in milliseconds: how long each observation lasts. One starts every
    /// interval, or every second for a shorter interval.
    pub interval_ms: u64,
    /// Bytes per chunk heat is kept for.
    pub chunk_bytes: u64,
    /// Samples taken since sampling started.
    pub samples: u64,
    /// Per guest node.
    pub guest_nodes: Vec<GuestNodeHeat>,
}

/// Turns heat sampling on or off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeatRequest {
    /// Sample or not.
    pub enabled: bool,
    /// Sampling interval in milliseconds: 10 to 3600000 (default 1000). How long each
    /// observation lasts; one starts every interval, or every second for a shorter interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// Turns automatic balancing on or off.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoBalanceRequest {
    /// Balance automatically or not.
    pub enabled: bool,
    /// How often to look at vCPU placement, in milliseconds: 100 to 3600000 (default 2000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// Rate limit of its moves in MiB/s, a positive number (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_mib_per_s: Option<f64>,
}

/// Automatic balancing: memory follows vCPUs that moved, with hysteresis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AutoBalanceInfo {
    /// Whether it is on.
    pub enabled: bool,
    /// How often it looks, in milliseconds.
    pub interval_ms: u64,
    /// Rate limit of its moves in MiB/s.
    pub max_mib_per_s: f64,
    /// Rebalances it started.
    pub rebalances_started: u64,
    /// Its last decision, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_decision: Option<String>,
    /// Guest nodes it leaves alone because an operator placed their memory (a rebalance
    /// through the API, or a host node given at launch), until their vCPUs move or automatic
    /// balancing is enabled again.
    #[serde(default)]
    pub holds: Vec<AutoBalanceHold>,
}

/// A guest node automatic balancing leaves alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AutoBalanceHold {
    /// The guest node.
    pub guest_node: u32,
    /// What the operator did, in words.
    pub reason: String,
    /// Seconds since the hold began.
    pub held_s: u64,
}
