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

/// What a virtio device is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceKind {
    /// virtio-blk on a disk image.
    Block,
    /// virtio-net on a tap device.
    Net,
}

/// A virtio device and what it has done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceSummary {
    /// Its name: disk0, disk1, net0, ...
    pub name: String,
    /// Block or net.
    pub kind: DeviceKind,
    /// The disk image (block devices).
    pub path: Option<String>,
    /// The tap device (net devices).
    pub tap: Option<String>,
    /// The guest's MAC address (net devices).
    pub mac: Option<String>,
    /// Whether the guest may only read the disk.
    pub read_only: bool,
    /// The guest node it belongs to (its worker runs on that node's host node).
    pub guest_node: Option<u32>,
    /// Guest-physical address of its registers.
    pub mmio_base: u64,
    /// Its interrupt (IOAPIC pin).
    pub irq: u32,
    /// Requests served (disk requests, frames).
    pub requests: u64,
    /// Bytes from the host to the guest (disk reads, frames received).
    pub bytes_read: u64,
    /// Bytes from the guest to the host (disk writes, frames sent).
    pub bytes_written: u64,
    /// Requests answered with an error, or frames dropped.
    pub errors: u64,
    /// Times the device asked the guest for a reset after a malformed request.
    pub resets_needed: u64,
}

/// The VM.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VmInfo {
    /// Its name (`tern --name`, or the API socket's file name): the `vm` label of its metrics.
    #[serde(default)]
    pub name: String,
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
    /// Its virtio devices.
    #[serde(default)]
    pub devices: Vec<DeviceSummary>,
}
