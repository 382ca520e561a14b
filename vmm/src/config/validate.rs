//! The guest nodes checked against the host: host nodes that exist, room for bound memory,
//! huge pages for hugetlb backing, and sizes the backing can map. All before anything is
//! mapped.
//!
//! Transparent huge pages take any size, but only whole, aligned 2 MiB blocks become huge
//! pages: a guest node whose size is not a multiple of 2 MiB leaves its last MiB in base
//! pages and starts the guest nodes after it off a 2 MiB boundary in guest-physical space,
//! where KVM cannot map them with huge pages either. That costs a warning, not an error,
//! since `thp` is the default backing.

use balancer::idlist::format_id_list;
use balancer::mempolicy::MemPolicy;
use balancer::topology::HostTopology;

use super::{GuestNode, MemSize, MemoryBacking};

const HUGE_PAGE_MIB: u64 = 2;

/// Why the host cannot give what the guest nodes ask for.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostFitError {
    /// A host node that does not exist.
    #[error("host node {node} does not exist (this host has nodes {present})")]
    NoSuchHostNode {
        /// The node asked for.
        node: u32,
        /// The nodes the host has.
        present: String,
    },
    /// Bound memory beyond a host node's free memory.
    #[error("the guest memory bound to host node {node} is {needed}, but that node has only {free_mib} MiB free")]
    HostNodeFull {
        /// The host node.
        node: u32,
        /// Memory bound to it.
        needed: MemSize,
        /// Its free memory.
        free_mib: u64,
    },
    /// A size that the backing's page size does not divide.
    #[error(
        "guest node {node} has {memory} of memory; {backing} backing needs a multiple of 2 MiB"
    )]
    NotHugePageMultiple {
        /// The guest node.
        node: u32,
        /// Its memory.
        memory: MemSize,
        /// The backing.
        backing: &'static str,
    },
    /// Not enough free huge pages.
    #[error("hugetlb backing needs {needed} free 2 MiB huge pages {place}, but there are only {free}; reserve more in /sys/kernel/mm/hugepages or /sys/devices/system/node/node*/hugepages")]
    NoHugePages {
        /// Pages needed.
        needed: u64,
        /// Pages free.
        free: u64,
        /// Where ("on host node N" or "on the host").
        place: String,
    },
}

/// The first guest node whose memory is not a whole number of 2 MiB pages.
fn first_partial_huge_page(nodes: &[GuestNode]) -> Option<&GuestNode> {
    nodes.iter().find(|n| n.memory.mib() % HUGE_PAGE_MIB != 0)
}

/// Checks that every guest node's memory is a whole number of the backing's pages.
pub fn check_backing(nodes: &[GuestNode], backing: MemoryBacking) -> Result<(), HostFitError> {
    if backing != MemoryBacking::Hugetlb {
        return Ok(());
    }
    match first_partial_huge_page(nodes) {
        Some(n) => Err(HostFitError::NotHugePageMultiple {
            node: n.id,
            memory: n.memory,
            backing: "hugetlb",
        }),
        None => Ok(()),
    }
}

/// For `thp` backing, the warning for a guest node that huge pages cannot cover whole.
pub fn partial_huge_pages(nodes: &[GuestNode], backing: MemoryBacking) -> Option<String> {
    if backing != MemoryBacking::Thp {
        return None;
    }
    let n = first_partial_huge_page(nodes)?;
    Some(format!(
        "guest node {} has {} of memory, not a multiple of 2 MiB: its last MiB{} cannot be in \
         huge pages",
        n.id,
        n.memory,
        if nodes.last().is_some_and(|last| last.id != n.id) {
            " and the guest nodes after it"
        } else {
            ""
        }
    ))
}

/// Checks `nodes` against `host`.
pub fn check_against_host(
    nodes: &[GuestNode],
    backing: MemoryBacking,
    host: &HostTopology,
) -> Result<(), HostFitError> {
    check_backing(nodes, backing)?;
    let present = || format_id_list(&host.nodes.iter().map(|n| n.id).collect::<Vec<_>>());
    for node in nodes {
        if let Some(h) = node.policy.node().filter(|h| host.node(*h).is_none()) {
            return Err(HostFitError::NoSuchHostNode {
                node: h,
                present: present(),
            });
        }
        if let MemPolicy::Interleave(list) = &node.policy {
            if let Some(h) = list.iter().find(|h| host.node(**h).is_none()) {
                return Err(HostFitError::NoSuchHostNode {
                    node: *h,
                    present: present(),
                });
            }
        }
    }
    for host_node in &host.nodes {
        let bound_mib: u64 = nodes
            .iter()
            .filter(|n| n.policy == MemPolicy::Bind(host_node.id))
            .map(|n| n.memory.mib())
            .sum();
        if backing == MemoryBacking::Hugetlb {
            let pinned: u64 = nodes
                .iter()
                .filter(|n| n.policy.node() == Some(host_node.id))
                .map(|n| n.memory.mib())
                .sum();
            let needed = pinned / HUGE_PAGE_MIB;
            if needed > host_node.free_huge_pages_2m {
                return Err(HostFitError::NoHugePages {
                    needed,
                    free: host_node.free_huge_pages_2m,
                    place: format!("on host node {}", host_node.id),
                });
            }
        } else if bound_mib > host_node.free_bytes >> 20 {
            return Err(HostFitError::HostNodeFull {
                node: host_node.id,
                needed: MemSize::from_mib(bound_mib),
                free_mib: host_node.free_bytes >> 20,
            });
        }
    }
    if backing == MemoryBacking::Hugetlb {
        let needed: u64 = nodes.iter().map(|n| n.memory.mib() / HUGE_PAGE_MIB).sum();
        let free: u64 = host.nodes.iter().map(|n| n.free_huge_pages_2m).sum();
        if needed > free {
            return Err(HostFitError::NoHugePages {
                needed,
                free,
                place: "on the host".to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use balancer::topology::HostNode;

    fn host(free_huge: [u64; 2]) -> HostTopology {
        let node = |id: u32, free_mib: u64| HostNode {
            id,
            cpus: vec![id],
            total_bytes: 2048 << 20,
            free_bytes: free_mib << 20,
            free_huge_pages_2m: free_huge[id as usize],
            distances: vec![10, 21],
        };
        HostTopology {
            nodes: vec![node(0, 1500), node(1, 1000)],
        }
    }

    fn node(id: u32, mib: u64, policy: MemPolicy) -> GuestNode {
        GuestNode {
            id,
            vcpus: vec![id],
            memory: MemSize::from_mib(mib),
            policy,
            host_cpus: None,
        }
    }

    #[test]
    fn bound_nodes_that_fit_pass() {
        let nodes = [
            node(0, 1024, MemPolicy::Bind(0)),
            node(1, 512, MemPolicy::Bind(1)),
        ];
        assert_eq!(
            check_against_host(&nodes, MemoryBacking::Thp, &host([0, 0])),
            Ok(())
        );
    }

    #[test]
    fn a_missing_host_node_is_named() {
        let nodes = [node(0, 64, MemPolicy::Preferred(3))];
        let err = check_against_host(&nodes, MemoryBacking::Anon, &host([0, 0])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host node 3 does not exist (this host has nodes 0-1)"
        );
    }

    #[test]
    fn bound_memory_beyond_free_memory_is_refused_but_preferred_is_not() {
        let nodes = [
            node(0, 600, MemPolicy::Bind(1)),
            node(1, 600, MemPolicy::Bind(1)),
        ];
        let err = check_against_host(&nodes, MemoryBacking::Anon, &host([0, 0])).unwrap_err();
        assert_eq!(
            err,
            HostFitError::HostNodeFull {
                node: 1,
                needed: MemSize::from_mib(1200),
                free_mib: 1000
            }
        );
        let nodes = [node(0, 1200, MemPolicy::Preferred(1))];
        assert!(check_against_host(&nodes, MemoryBacking::Anon, &host([0, 0])).is_ok());
    }

    #[test]
    fn thp_takes_any_size_with_a_warning_for_partial_huge_pages() {
        let odd = [
            node(0, 3, MemPolicy::Default),
            node(1, 4, MemPolicy::Default),
        ];
        assert!(check_backing(&odd, MemoryBacking::Thp).is_ok());
        assert_eq!(
            partial_huge_pages(&odd, MemoryBacking::Thp).unwrap(),
            "guest node 0 has 3 MiB of memory, not a multiple of 2 MiB: its last MiB and the \
             guest nodes after it cannot be in huge pages"
        );
        assert!(partial_huge_pages(&odd[1..], MemoryBacking::Thp).is_none());
        assert!(partial_huge_pages(&odd, MemoryBacking::Anon).is_none());
        let last = [node(0, 5, MemPolicy::Default)];
        assert!(partial_huge_pages(&last, MemoryBacking::Thp)
            .unwrap()
            .ends_with("its last MiB cannot be in huge pages"));
    }

    #[test]
    fn huge_page_backings_need_2m_multiples_and_free_huge_pages() {
        let odd = [node(0, 3, MemPolicy::Default)];
        assert!(matches!(
            check_against_host(&odd, MemoryBacking::Hugetlb, &host([10, 10])),
            Err(HostFitError::NotHugePageMultiple { .. })
        ));
        let nodes = [node(0, 64, MemPolicy::Bind(1))];
        let err = check_against_host(&nodes, MemoryBacking::Hugetlb, &host([100, 4])).unwrap_err();
        assert_eq!(
            err,
            HostFitError::NoHugePages {
                needed: 32,
                free: 4,
                place: "on host node 1".into()
            }
        );
        assert!(check_against_host(&nodes, MemoryBacking::Hugetlb, &host([0, 32])).is_ok());
        let unbound = [node(0, 64, MemPolicy::Default)];
        let err =
            check_against_host(&unbound, MemoryBacking::Hugetlb, &host([10, 10])).unwrap_err();
        assert!(err.to_string().contains("on the host"), "{err}");
    }
}
