//! `GET /v1/vm` and `GET /v1/topology` from the VM's plan, guest RAM and the host's topology.

use api::model::{
    DeviceKind, DeviceSummary, GuestNodeSummary, GuestNodeTopology, HostNodeInfo, RegionInfo,
    TopologyInfo, VmInfo,
};
use api::request::ApiError;
use balancer::topology::HostTopology;

use super::{internal, VmControl};
use crate::config::GuestNode;
use crate::memory::GuestRam;
use crate::virtio_mmio::{Backing, DeviceInfo};

/// A guest node with the memory policy its memory has now (that of its first region; the
/// balancer sets all regions of a node alike).
fn summary(node: &GuestNode, ram: &GuestRam) -> GuestNodeSummary {
    let policy = ram
        .regions()
        .iter()
        .position(|r| r.range.guest_node == node.id)
        .map_or_else(|| node.policy.clone(), |i| ram.policy(i));
    GuestNodeSummary {
        id: node.id,
        vcpus: node.vcpus.clone(),
        memory_mib: node.memory.mib(),
        host_node: policy.node(),
        policy: policy.name().to_string(),
    }
}

/// A virtio device with its counters now.
fn device_summary(device: &DeviceInfo) -> DeviceSummary {
    let counters = device.counters.snapshot();
    let (path, tap, mac, read_only) = match &device.backing {
        Backing::Disk { path, readonly } => {
            (Some(path.display().to_string()), None, None, *readonly)
        }
        Backing::Tap { name, mac } => {
            let mac = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            (None, Some(name.clone()), Some(mac), false)
        }
    };
    DeviceSummary {
        name: device.name.clone(),
        kind: match device.kind {
            devices::virtio::DeviceKind::Block => DeviceKind::Block,
            devices::virtio::DeviceKind::Net => DeviceKind::Net,
        },
        path,
        tap,
        mac,
        read_only,
        guest_node: device.guest_node,
        mmio_base: device.slot.base,
        irq: device.slot.irq,
        requests: counters.requests,
        bytes_read: counters.bytes_read,
        bytes_written: counters.bytes_written,
        errors: counters.errors,
        resets_needed: counters.resets_needed,
    }
}

/// The VM summary.
pub fn vm_info(control: &VmControl) -> VmInfo {
    VmInfo {
        name: control.name.clone(),
        state: control.state(),
        vcpus: control.plan.vcpus as u32,
        memory_mib: control.ram.size() >> 20,
        guest_nodes: control
            .plan
            .nodes
            .iter()
            .map(|n| summary(n, &control.ram))
            .collect(),
        uptime_ms: control.started.elapsed().as_millis() as u64,
        devices: control.devices.iter().map(device_summary).collect(),
    }
}

/// Host nodes as the API shows them.
pub fn host_nodes(host: &HostTopology) -> Vec<HostNodeInfo> {
    host.nodes.iter().map(HostNodeInfo::from).collect()
}

impl VmControl {
    /// Host and guest topology, with the host's free memory as of now.
    pub fn topology(&self) -> Result<TopologyInfo, ApiError> {
        let host =
            HostTopology::read().map_err(|e| internal("cannot read the host topology", e))?;
        let guest_nodes = self
            .plan
            .nodes
            .iter()
            .map(|node| {
                let s = summary(node, &self.ram);
                GuestNodeTopology {
                    id: s.id,
                    vcpus: s.vcpus,
                    memory_mib: s.memory_mib,
                    host_node: s.host_node,
                    policy: s.policy,
                    policy_note: self.balancer.binding_note(node.id),
                    regions: self
                        .ram
                        .regions()
                        .iter()
                        .filter(|r| r.range.guest_node == node.id)
                        .map(|r| RegionInfo {
                            guest_start: r.range.start,
                            guest_end: r.range.end(),
                            host_addr: r.host_addr,
                        })
                        .collect(),
                }
            })
            .collect();
        Ok(TopologyInfo {
            host_nodes: host_nodes(&host),
            guest_nodes,
        })
    }
}
