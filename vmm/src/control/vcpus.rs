//! `GET /v1/vcpus` and `PUT /v1/vcpus/{id}/affinity`.

use std::sync::atomic::Ordering;

use api::model::{AffinityRequest, AffinitySource, VcpuInfo, VcpuPlacement};
use api::request::{ApiError, ErrorKind};
use balancer::idlist::format_id_list;
use balancer::topology::HostTopology;

use super::{internal, VmControl};
use balancer::vcpu_placement::{affinity, last_cpu, set_affinity};

fn bad(message: String) -> ApiError {
    ApiError::new(ErrorKind::BadRequest, message)
}

impl VmControl {
    fn guest_node_of(&self, vcpu: u32) -> u32 {
        self.plan
            .nodes
            .iter()
            .find(|n| n.vcpus.contains(&vcpu))
            .map_or(0, |n| n.id)
    }

    /// Where vCPU `id` runs and may run; `host` maps CPUs to nodes.
    pub fn vcpu_placement(&self, id: u32, host: Option<&HostTopology>) -> VcpuPlacement {
        let tid = self
            .vcpus
            .vcpus()
            .get(id as usize)
            .map_or(0, |v| v.tid.load(Ordering::SeqCst));
        let host_cpu = (tid > 0).then(|| last_cpu(tid)).flatten();
        VcpuPlacement {
            id,
            host_cpu,
            host_node: host_cpu.and_then(|cpu| host?.node_of_cpu(cpu)),
            affinity: if tid > 0 {
                affinity(tid).unwrap_or_default()
            } else {
                Vec::new()
            },
        }
    }

    /// Where vCPU `id`'s affinity came from: an operator's pin wins over the launch's.
    fn affinity_source(&self, id: u32) -> AffinitySource {
        let pins = self
            .vcpus
            .vcpus()
            .get(id as usize)
            .map_or(0, |v| v.pins.load(Ordering::SeqCst));
        if pins > 0 {
            AffinitySource::Pin
        } else if self.plan.threads.pinned_at_launch(id) {
            AffinitySource::Launch
        } else {
            AffinitySource::None
        }
    }

    fn vcpu_info(&self, id: u32, host: Option<&HostTopology>) -> VcpuInfo {
        let shared = self.vcpus.vcpus().get(id as usize);
        let placement = self.vcpu_placement(id, host);
        VcpuInfo {
            id,
            guest_node: self.guest_node_of(id),
            thread_id: shared.map_or(0, |v| v.tid.load(Ordering::SeqCst)),
            host_cpu: placement.host_cpu,
            host_node: placement.host_node,
            affinity: placement.affinity,
            affinity_source: self.affinity_source(id),
            exits: shared.map_or(0, |v| v.exits.total()),
        }
    }

    /// Every vCPU.
    pub fn vcpu_list(&self) -> Result<Vec<VcpuInfo>, ApiError> {
        let host = HostTopology::read().ok();
        Ok((0..self.plan.vcpus as u32)
            .map(|id| self.vcpu_info(id, host.as_ref()))
            .collect())
    }

    /// Pins vCPU `id` to host CPUs or to every CPU of a host node.
    pub fn set_affinity(&self, id: u32, request: &AffinityRequest) -> Result<VcpuInfo, ApiError> {
        let shared = self.vcpus.vcpus().get(id as usize).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NotFound,
                format!(
                    "there is no vCPU {id} (this VM has vCPUs 0-{})",
                    self.plan.vcpus - 1
                ),
            )
        })?;
        let host =
            HostTopology::read().map_err(|e| internal("cannot read the host topology", e))?;
        let usable = &self.usable_cpus;
        let cpus = match (&request.cpus, request.host_node) {
            (Some(cpus), None) => {
                if cpus.is_empty() {
                    return Err(bad("\"cpus\" is empty; give at least one host CPU".into()));
                }
                let present = host.cpus();
                if let Some(cpu) = cpus.iter().find(|c| !present.contains(c)) {
                    return Err(bad(format!(
                        "host CPU {cpu} does not exist (this host has CPUs {})",
                        format_id_list(&present)
                    )));
                }
                if let Some(cpu) = cpus.iter().find(|c| !usable.contains(c)) {
                    return Err(bad(format!(
                        "host CPU {cpu} is offline or outside the CPUs tern may use ({})",
                        format_id_list(usable)
                    )));
                }
                cpus.clone()
            }
            (None, Some(node)) => {
                let ids: Vec<u32> = host.nodes.iter().map(|n| n.id).collect();
                let n = host.node(node).ok_or_else(|| {
                    bad(format!(
                        "host node {node} does not exist (this host has nodes {})",
                        format_id_list(&ids)
                    ))
                })?;
                if n.cpus.is_empty() {
                    return Err(bad(format!("host node {node} has no CPUs")));
                }
                let cpus: Vec<u32> = n
                    .cpus
                    .iter()
                    .filter(|c| usable.contains(c))
                    .copied()
                    .collect();
                if cpus.is_empty() {
                    return Err(bad(format!(
                        "none of host node {node}'s CPUs ({}) is one tern may use ({})",
                        format_id_list(&n.cpus),
                        format_id_list(usable)
                    )));
                }
                cpus
            }
            _ => {
                return Err(bad(
                    "give either \"cpus\" or \"host_node\", not both and not neither".into(),
                ))
            }
        };
        let tid = shared.tid.load(Ordering::SeqCst);
        if tid <= 0 {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                format!("vCPU {id} has not started yet"),
            ));
        }
        set_affinity(tid, &cpus)
            .map_err(|e| internal(&format!("cannot set the affinity of vCPU {id}"), e))?;
        shared.pins.fetch_add(1, Ordering::SeqCst);
        Ok(self.vcpu_info(id, Some(&host)))
    }
}
