//! The guest NUMA nodes a configuration stands for: the `--numa` nodes, or one node that owns
//! every vCPU and all memory. Checks what needs no knowledge of the host.

use balancer::idlist::format_id_list;
use balancer::mempolicy::MemPolicy;

use super::{HostCpus, HostPolicy, MemSize, VmConfig, DEFAULT_MEMORY, DEFAULT_VCPUS};

/// One guest NUMA node, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestNode {
    /// Its number (also its ACPI proximity domain).
    pub id: u32,
    /// Its vCPUs.
    pub vcpus: Vec<u32>,
    /// Its memory.
    pub memory: MemSize,
    /// The host memory policy of its RAM.
    pub policy: MemPolicy,
    /// The host CPUs asked for its vCPUs (`None`: its host node's, if it has one).
    pub host_cpus: Option<HostCpus>,
}

/// A configuration that contradicts itself.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NodesError {
    /// Two `--numa` describe the same guest node.
    #[error("guest node {0} is described twice")]
    DuplicateNode(u32),
    /// Guest node numbers leave a gap.
    #[error("guest nodes must be numbered from 0 without gaps, but node {0} is missing")]
    MissingNode(u32),
    /// A vCPU is listed by two guest nodes.
    #[error("vCPU {vcpu} is in guest nodes {first} and {second}")]
    VcpuInTwoNodes {
        /// The vCPU.
        vcpu: u32,
        /// One node.
        first: u32,
        /// The other.
        second: u32,
    },
    /// The nodes' vCPUs are not 0..n-1.
    #[error("vCPU {missing} is in no guest node (the nodes list vCPUs {listed})")]
    VcpuInNoNode {
        /// The first vCPU number missing.
        missing: u32,
        /// The vCPUs the nodes list.
        listed: String,
    },
    /// No guest node has a vCPU.
    #[error("no guest node has a vCPU")]
    NoVcpus,
    /// A guest node without memory.
    #[error("guest node {0} has no memory")]
    NodeWithoutMemory(u32),
    /// `--vcpus` disagrees with the nodes.
    #[error("--vcpus {given} disagrees with the {listed} vCPUs of the --numa nodes")]
    VcpusDisagree {
        /// --vcpus.
        given: usize,
        /// What the nodes add up to.
        listed: usize,
    },
    /// `--memory` disagrees with the nodes.
    #[error("--memory {given} disagrees with the {total} of the --numa nodes")]
    MemoryDisagrees {
        /// --memory.
        given: MemSize,
        /// What the nodes add up to.
        total: MemSize,
    },
    /// `--host-node` together with `--numa`.
    #[error("--host-node applies without --numa; with --numa give host-node= in each node")]
    HostNodeWithNuma,
    /// `--host-cpus` together with `--numa`.
    #[error("--host-cpus applies without --numa; with --numa give host-cpus= in each node")]
    HostCpusWithNuma,
}

fn policy_of(host_node: Option<u32>, policy: HostPolicy) -> MemPolicy {
    match (host_node, policy) {
        (None, _) => MemPolicy::Default,
        (Some(n), HostPolicy::Bind) => MemPolicy::Bind(n),
        (Some(n), HostPolicy::Preferred) => MemPolicy::Preferred(n),
    }
}

/// The guest nodes of `config`, in node order.
pub fn guest_nodes(config: &VmConfig) -> Result<Vec<GuestNode>, NodesError> {
    if config.numa.is_empty() {
        let vcpus = config.vcpus.unwrap_or(DEFAULT_VCPUS) as u32;
        return Ok(vec![GuestNode {
            id: 0,
            vcpus: (0..vcpus).collect(),
            memory: config.memory.unwrap_or(DEFAULT_MEMORY),
            policy: policy_of(config.host_node, HostPolicy::Bind),
            host_cpus: config.host_cpus.clone(),
        }]);
    }
    if config.host_node.is_some() {
        return Err(NodesError::HostNodeWithNuma);
    }
    if config.host_cpus.is_some() {
        return Err(NodesError::HostCpusWithNuma);
    }
    let mut specs: Vec<_> = config.numa.iter().collect();
    specs.sort_by_key(|s| s.node);
    if let Some(pair) = specs.windows(2).find(|pair| pair[0].node == pair[1].node) {
        return Err(NodesError::DuplicateNode(pair[0].node));
    }
    if let Some(missing) =
        (0..specs.len() as u32).find(|id| specs.get(*id as usize).map(|s| s.node) != Some(*id))
    {
        return Err(NodesError::MissingNode(missing));
    }

    let mut owner: Vec<(u32, u32)> = Vec::new();
    for spec in &specs {
        if spec.memory.mib() == 0 {
            return Err(NodesError::NodeWithoutMemory(spec.node));
        }
        for &vcpu in &spec.vcpus {
            if let Some((_, first)) = owner.iter().find(|(v, _)| *v == vcpu) {
                return Err(NodesError::VcpuInTwoNodes {
                    vcpu,
                    first: *first,
                    second: spec.node,
                });
            }
            owner.push((vcpu, spec.node));
        }
    }
    let mut vcpus: Vec<u32> = owner.iter().map(|(v, _)| *v).collect();
    vcpus.sort_unstable();
    if vcpus.is_empty() {
        return Err(NodesError::NoVcpus);
    }
    if let Some(missing) = (0..vcpus.len() as u32).find(|i| vcpus[*i as usize] != *i) {
        return Err(NodesError::VcpuInNoNode {
            missing,
            listed: format_id_list(&vcpus),
        });
    }
    if let Some(given) = config.vcpus.filter(|g| *g != vcpus.len()) {
        return Err(NodesError::VcpusDisagree {
            given,
            listed: vcpus.len(),
        });
    }
    let total = MemSize::from_mib(specs.iter().map(|s| s.memory.mib()).sum());
    if let Some(given) = config.memory.filter(|g| *g != total) {
        return Err(NodesError::MemoryDisagrees { given, total });
    }
    Ok(specs
        .into_iter()
        .map(|s| GuestNode {
            id: s.node,
            vcpus: s.vcpus.clone(),
            memory: s.memory,
            policy: policy_of(s.host_node, s.policy),
            host_cpus: s.host_cpus.clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(numa: &[&str]) -> VmConfig {
        let mut c = VmConfig::new("/k");
        c.numa = numa.iter().map(|s| s.parse().unwrap()).collect();
        c
    }

    #[test]
    fn one_node_without_numa() {
        let mut c = VmConfig::new("/k");
        c.vcpus = Some(3);
        c.host_node = Some(1);
        c.host_cpus = Some(HostCpus::List(vec![2]));
        let nodes = guest_nodes(&c).unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].host_cpus, Some(HostCpus::List(vec![2])));
        assert_eq!(nodes[0].vcpus, vec![0, 1, 2]);
        assert_eq!(nodes[0].memory, DEFAULT_MEMORY);
        assert_eq!(nodes[0].policy, MemPolicy::Bind(1));
        assert_eq!(
            guest_nodes(&VmConfig::new("/k")).unwrap()[0].policy,
            MemPolicy::Default
        );
    }

    #[test]
    fn numa_nodes_in_order() {
        let c = config(&[
            "node=1,vcpus=1,memory=512M,host-node=1,policy=preferred",
            "node=0,vcpus=0,memory=256M,host-node=0",
        ]);
        let nodes = guest_nodes(&c).unwrap();
        assert_eq!(nodes.iter().map(|n| n.id).collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(nodes[0].policy, MemPolicy::Bind(0));
        assert_eq!(nodes[1].policy, MemPolicy::Preferred(1));
    }

    #[test]
    fn agrees_with_vcpus_and_memory_when_given() {
        let mut c = config(&["node=0,vcpus=0-1,memory=1G", "node=1,vcpus=2,memory=1G"]);
        c.vcpus = Some(3);
        c.memory = Some(MemSize::from_mib(2048));
        assert!(guest_nodes(&c).is_ok());
        c.vcpus = Some(4);
        assert_eq!(
            guest_nodes(&c).unwrap_err(),
            NodesError::VcpusDisagree {
                given: 4,
                listed: 3
            }
        );
        c.vcpus = None;
        c.memory = Some(MemSize::from_mib(1024));
        assert!(matches!(
            guest_nodes(&c).unwrap_err(),
            NodesError::MemoryDisagrees { .. }
        ));
    }

    #[test]
    fn refuses_contradictions() {
        let err = |numa: &[&str]| guest_nodes(&config(numa)).unwrap_err();
        assert_eq!(
            err(&["node=0,vcpus=0,memory=1G", "node=0,vcpus=1,memory=1G"]),
            NodesError::DuplicateNode(0)
        );
        assert_eq!(
            err(&["node=0,vcpus=0,memory=1G", "node=2,vcpus=1,memory=1G"]),
            NodesError::MissingNode(1)
        );
        assert_eq!(
            err(&["node=0,vcpus=0-1,memory=1G", "node=1,vcpus=1,memory=1G"]),
            NodesError::VcpuInTwoNodes {
                vcpu: 1,
                first: 0,
                second: 1
            }
        );
        assert_eq!(
            err(&["node=0,vcpus=0,memory=1G", "node=1,vcpus=2,memory=1G"]),
            NodesError::VcpuInNoNode {
                missing: 1,
                listed: "0,2".into()
            }
        );
        assert_eq!(
            err(&["node=0,vcpus=0,memory=0"]),
            NodesError::NodeWithoutMemory(0)
        );
        assert_eq!(err(&["node=0,memory=1G"]), NodesError::NoVcpus);
        let mut c = config(&["node=0,vcpus=0,memory=1G"]);
        c.host_node = Some(0);
        assert_eq!(guest_nodes(&c).unwrap_err(), NodesError::HostNodeWithNuma);
        c.host_node = None;
        c.host_cpus = Some(HostCpus::Any);
        assert_eq!(guest_nodes(&c).unwrap_err(), NodesError::HostCpusWithNuma);
    }

    #[test]
    fn memory_only_nodes_are_allowed() {
        let nodes = guest_nodes(&config(&[
            "node=0,vcpus=0-1,memory=1G",
            "node=1,memory=1G,host-node=0",
        ]))
        .unwrap();
        assert!(nodes[1].vcpus.is_empty());
    }
}
