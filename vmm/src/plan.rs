//! The VM to build, worked out from the configuration and checked against this host before
//! anything is mapped: guest nodes, vCPUs, the RAM layout, and the topology ACPI shows the
//! guest.

use balancer::topology::HostTopology;

use crate::arch::acpi::numa::LOCAL_DISTANCE;
use crate::arch::acpi::GuestNumaTopology;
use crate::config::nodes::guest_nodes;
use crate::config::validate::{check_against_host, check_backing, partial_huge_pages};
use crate::config::{GuestNode, MemSize, MemoryBacking, VmConfig};
use crate::error::Error;
use crate::host;
use crate::memory::layout::{ram_layout, RamRange};
use crate::pinning::host::HostCpuFacts;
use crate::pinning::{plan_threads, PinningRequest, ThreadPlacement};

/// vCPUs an MP table (8-bit APIC IDs, one kept for the IOAPIC) can describe.
pub const MAX_VCPUS_MPTABLE: usize = 254;
/// Distance between guest nodes whose host distance is unknown.
const DEFAULT_REMOTE_DISTANCE: u8 = 20;

/// A VM ready to be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmPlan {
    /// The guest NUMA nodes.
    pub nodes: Vec<GuestNode>,
    /// Number of vCPUs.
    pub vcpus: usize,
    /// Guest RAM in guest-physical space.
    pub ram: Vec<RamRange>,
    /// What ACPI tells the guest about its NUMA topology (for `--numa` VMs).
    pub numa: Option<GuestNumaTopology>,
    /// Where the vCPU threads and tern's own threads run.
    pub threads: ThreadPlacement,
}

/// Works out the plan; `max_vcpus` is what KVM allows.
pub fn plan(config: &VmConfig, max_vcpus: usize) -> Result<VmPlan, Error> {
    let nodes = guest_nodes(config)?;
    let vcpus: usize = nodes.iter().map(|n| n.vcpus.len()).sum();
    let max = max_vcpus.min(MAX_VCPUS_MPTABLE);
    if vcpus == 0 || vcpus > max {
        return Err(Error::VcpuCount {
            requested: vcpus,
            max,
        });
    }
    let total = MemSize::from_mib(nodes.iter().map(|n| n.memory.mib()).sum());
    if total.mib() == 0 {
        return Err(Error::MemoryZero);
    }
    if let Some(available_mib) = host::available_memory_mib() {
        if total.mib() > available_mib {
            return Err(Error::MemoryTooLarge {
                requested: total,
                available_mib,
            });
        }
    }
    check_backing(&nodes, config.backing)?;
    let needs_topology =
        config.backing == MemoryBacking::Hugetlb || nodes.iter().any(|n| n.policy.node().is_some());
    let topology = if needs_topology || !config.numa.is_empty() {
        let topology = HostTopology::read().map_err(Error::HostTopology)?;
        check_against_host(&nodes, config.backing, &topology)?;
        Some(topology)
    } else {
        None
    };
    let ram = ram_layout(&nodes.iter().map(|n| n.memory.bytes()).collect::<Vec<_>>());
    let numa =
        (!config.numa.is_empty()).then(|| guest_numa(&nodes, &ram, topology.as_ref(), vcpus));
    let pinning = PinningRequest {
        nodes: &nodes,
        vcpus,
        vmm_cpus: config.vmm_cpus.as_deref(),
        numa: !config.numa.is_empty(),
    };
    let node_cpus = |h: u32| {
        topology
            .as_ref()
            .and_then(|t| t.node(h))
            .map(|n| n.cpus.clone())
            .unwrap_or_default()
    };
    let threads = plan_threads(&pinning, node_cpus, HostCpuFacts::read)?;
    // Only for a plan that holds: a refused VM gets its one error line.
    if let Some(warning) = partial_huge_pages(&nodes, config.backing) {
        log::warn!("{warning}");
    }
    Ok(VmPlan {
        nodes,
        vcpus,
        ram,
        numa,
        threads,
    })
}

fn guest_numa(
    nodes: &[GuestNode],
    ram: &[RamRange],
    host: Option<&HostTopology>,
    vcpus: usize,
) -> GuestNumaTopology {
    let mut vcpu_domains = vec![0u32; vcpus];
    for node in nodes {
        for &vcpu in &node.vcpus {
            if let Some(slot) = vcpu_domains.get_mut(vcpu as usize) {
                *slot = node.id;
            }
        }
    }
    let memory = ram
        .iter()
        .map(|r| (r.start, r.size, r.guest_node))
        .collect();
    let distance = |a: &GuestNode, b: &GuestNode| -> u8 {
        if a.id == b.id {
            return LOCAL_DISTANCE;
        }
        match (a.policy.node(), b.policy.node(), host) {
            (Some(ha), Some(hb), Some(host)) => {
                host.distance(ha, hb).map_or(DEFAULT_REMOTE_DISTANCE, |d| {
                    u8::try_from(d).unwrap_or(u8::MAX)
                })
            }
            _ => DEFAULT_REMOTE_DISTANCE,
        }
    };
    let distances = nodes
        .iter()
        .map(|a| nodes.iter().map(|b| distance(a, b)).collect())
        .collect();
    GuestNumaTopology {
        vcpu_domains,
        memory,
        distances,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use balancer::mempolicy::MemPolicy;
    use balancer::topology::HostNode;

    fn host3() -> HostTopology {
        let node = |id: u32, distances: Vec<u32>| HostNode {
            id,
            cpus: vec![id],
            total_bytes: 1 << 30,
            free_bytes: 1 << 30,
            free_huge_pages_2m: 0,
            distances,
        };
        HostTopology {
            nodes: vec![
                node(0, vec![10, 21, 31]),
                node(1, vec![21, 10, 21]),
                node(2, vec![31, 21, 10]),
            ],
        }
    }

    fn gnode(id: u32, vcpus: Vec<u32>, host: Option<u32>) -> GuestNode {
        GuestNode {
            id,
            vcpus,
            memory: MemSize::from_mib(256),
            policy: host.map_or(MemPolicy::Default, MemPolicy::Bind),
            host_cpus: None,
        }
    }

    #[test]
    fn guest_distances_follow_the_bound_host_nodes() {
        let nodes = [gnode(0, vec![0], Some(0)), gnode(1, vec![1, 2], Some(2))];
        let ram = ram_layout(&[256 << 20, 256 << 20]);
        let topo = guest_numa(&nodes, &ram, Some(&host3()), 3);
        assert_eq!(topo.distances, vec![vec![10, 31], vec![31, 10]]);
        assert_eq!(topo.vcpu_domains, vec![0, 1, 1]);
        assert_eq!(
            topo.memory,
            vec![(0, 256 << 20, 0), (256 << 20, 256 << 20, 1)]
        );
    }

    #[test]
    fn unbound_nodes_get_the_default_remote_distance() {
        let nodes = [gnode(0, vec![0], None), gnode(1, vec![1], Some(1))];
        let topo = guest_numa(&nodes, &ram_layout(&[1 << 20, 1 << 20]), Some(&host3()), 2);
        assert_eq!(topo.distances, vec![vec![10, 20], vec![20, 10]]);
    }

    #[test]
    fn vcpu_limits() {
        let mut config = VmConfig::new("/k");
        config.vcpus = Some(0);
        assert!(matches!(
            plan(&config, 8),
            Err(Error::VcpuCount {
                requested: 0,
                max: 8
            })
        ));
        config.vcpus = Some(9);
        assert!(matches!(
            plan(&config, 8),
            Err(Error::VcpuCount {
                requested: 9,
                max: 8
            })
        ));
        config.vcpus = Some(2);
        let p = plan(&config, 8).unwrap();
        assert_eq!((p.vcpus, p.nodes.len(), p.numa), (2, 1, None));
        assert_eq!(p.threads.vcpus, vec![None, None], "nothing pinned");
    }
}
