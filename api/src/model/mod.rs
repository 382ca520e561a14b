//! The API's JSON bodies. Field names are snake_case; requests refuse unknown fields.

pub mod actions;
pub mod error;
pub mod placement;
pub mod rebalance;
pub mod topology;
pub mod vcpus;
pub mod vm;

pub use actions::{Action, ActionRequest};
pub use error::ErrorBody;
pub use placement::{GuestNodePlacement, HostNodePages, PlacementInfo, VcpuPlacement};
pub use rebalance::{
    AutoBalanceHold, AutoBalanceInfo, AutoBalanceRequest, GuestNodeHeat, HeatInfo, HeatRequest,
    HotChunk, MoveMethod, RebalanceAccepted, RebalanceMode, RebalanceOrigin, RebalancePace,
    RebalancePolicy, RebalanceRequest, RebalanceState, RebalanceStatus, RequestOrigin,
};
pub use topology::{GuestNodeTopology, HostNodeInfo, RegionInfo, TopologyInfo};
pub use vcpus::{AffinityRequest, AffinitySource, VcpuInfo};
pub use vm::{DeviceKind, DeviceSummary, GuestNodeSummary, VmInfo, VmState};
