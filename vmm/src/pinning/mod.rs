//! Where tern's threads run. Each vCPU is pinned from its start to its guest node's host CPUs
//! (`host-cpus=`, else the CPUs of the node's host node, which tern may use), so that it runs
//! next to its memory from its first guest instruction; `host-cpus=any` leaves it unpinned.
//! Tern's own threads run on `--vmm-cpus`. Worked out and checked against the host before
//! anything is built.

pub mod host;

use std::fmt;

use balancer::idlist::format_id_list;
use balancer::vcpu_placement::set_affinity;

use self::host::HostCpuFacts;
use crate::config::{GuestNode, HostCpus};

/// Where a CPU list was given, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuListOrigin {
    /// `host-cpus=` of a guest node (`--numa`, or `numa` in the config file).
    GuestNode(u32),
    /// `--host-cpus` (without `--numa`).
    HostCpus,
    /// `--vmm-cpus`.
    VmmCpus,
}

impl fmt::Display for CpuListOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GuestNode(node) => write!(f, "guest node {node}'s host-cpus"),
            Self::HostCpus => f.write_str("--host-cpus"),
            Self::VmmCpus => f.write_str("--vmm-cpus"),
        }
    }
}

/// Why tern's threads cannot be placed as asked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinningError {
    /// A CPU the host does not have.
    #[error("host CPU {cpu} in {origin} does not exist (this host has CPUs {present})")]
    NoSuchCpu {
        /// The CPU.
        cpu: u32,
        /// Where it was given.
        origin: CpuListOrigin,
        /// The CPUs the host has.
        present: String,
    },
    /// A CPU that is offline.
    #[error("host CPU {cpu} in {origin} is offline (online CPUs: {online})")]
    OfflineCpu {
        /// The CPU.
        cpu: u32,
        /// Where it was given.
        origin: CpuListOrigin,
        /// The online CPUs.
        online: String,
    },
    /// A CPU outside tern's own affinity.
    #[error("host CPU {cpu} in {origin} is not one tern may use (tern's CPU affinity, which taskset or its cpuset set, is {usable})")]
    UnusableCpu {
        /// The CPU.
        cpu: u32,
        /// Where it was given.
        origin: CpuListOrigin,
        /// The CPUs tern may use.
        usable: String,
    },
    /// A host node none of whose CPUs tern may use.
    #[error("guest node {guest_node}'s vCPUs cannot be pinned to host node {host_node}: it has no CPU tern may use (its CPUs: {node_cpus}; tern may use {usable}); give {hint}")]
    NodeWithoutUsableCpus {
        /// The guest node.
        guest_node: u32,
        /// Its host node.
        host_node: u32,
        /// The host node's CPUs.
        node_cpus: String,
        /// The CPUs tern may use.
        usable: String,
        /// What to give instead.
        hint: &'static str,
    },
    /// The host's CPU lists or tern's affinity could not be read.
    #[error("cannot read {what}: {reason}")]
    Read {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
    /// Tern's own threads could not be placed on `--vmm-cpus`.
    #[error("cannot run tern's threads on host CPUs {cpus} (--vmm-cpus): {reason}")]
    VmmAffinity {
        /// The CPUs.
        cpus: String,
        /// Why.
        reason: String,
    },
}

/// Where each of tern's threads runs, as worked out at launch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadPlacement {
    /// Per vCPU, the host CPUs it is pinned to from its start; `None` for an unpinned vCPU.
    pub vcpus: Vec<Option<Vec<u32>>>,
    /// The host CPUs of tern's own threads (`--vmm-cpus`), if given.
    pub vmm: Option<Vec<u32>>,
    /// The CPUs tern may use (its affinity at start): the bound for pins made at launch and
    /// through the API.
    pub usable: Vec<u32>,
}

/// What the VM asks of its threads' placement.
#[derive(Clone, Copy, Debug)]
pub struct PinningRequest<'a> {
    /// The guest nodes, with their host nodes and `host-cpus`.
    pub nodes: &'a [GuestNode],
    /// Number of vCPUs.
    pub vcpus: usize,
    /// `--vmm-cpus`.
    pub vmm_cpus: Option<&'a [u32]>,
    /// Whether the nodes come from `--numa` (for the names in messages).
    pub numa: bool,
}

impl PinningRequest<'_> {
    /// Whether anything is to be pinned (and the host's CPUs must be read).
    pub fn pins_anything(&self) -> bool {
        self.vmm_cpus.is_some()
            || self.nodes.iter().any(|n| {
                !n.vcpus.is_empty()
                    && match &n.host_cpus {
                        Some(HostCpus::List(_)) => true,
                        Some(HostCpus::Any) => false,
                        None => n.policy.node().is_some(),
                    }
            })
    }
}

/// Checks that every CPU of `cpus` exists, is online, and is one tern may use.
fn check_list(
    cpus: &[u32],
    origin: CpuListOrigin,
    facts: &HostCpuFacts,
) -> Result<(), PinningError> {
    for &cpu in cpus {
        if !facts.present.contains(&cpu) {
            return Err(PinningError::NoSuchCpu {
                cpu,
                origin,
                present: format_id_list(&facts.present),
            });
        }
        if !facts.online.contains(&cpu) {
            return Err(PinningError::OfflineCpu {
                cpu,
                origin,
                online: format_id_list(&facts.online),
            });
        }
        if !facts.usable.contains(&cpu) {
            return Err(PinningError::UnusableCpu {
                cpu,
                origin,
                usable: format_id_list(&facts.usable),
            });
        }
    }
    Ok(())
}

/// Works out where the threads of `request` run. `node_cpus(h)` lists host node `h`'s CPUs;
/// `facts` is read in every case: the CPUs tern may use also bound the API's pins.
pub fn plan_threads(
    request: &PinningRequest<'_>,
    node_cpus: impl Fn(u32) -> Vec<u32>,
    facts: impl FnOnce() -> Result<HostCpuFacts, PinningError>,
) -> Result<ThreadPlacement, PinningError> {
    let facts = facts()?;
    if !request.pins_anything() {
        return Ok(ThreadPlacement {
            vcpus: vec![None; request.vcpus],
            vmm: None,
            usable: facts.usable,
        });
    }
    let mut vcpus = vec![None; request.vcpus];
    for node in request.nodes {
        let origin = if request.numa {
            CpuListOrigin::GuestNode(node.id)
        } else {
            CpuListOrigin::HostCpus
        };
        let pin = match (&node.host_cpus, node.policy.node()) {
            (Some(HostCpus::List(cpus)), _) => {
                check_list(cpus, origin, &facts)?;
                Some(cpus.clone())
            }
            (Some(HostCpus::Any), _) | (None, None) => None,
            (None, Some(_)) if node.vcpus.is_empty() => None,
            (None, Some(host_node)) => {
                let all = node_cpus(host_node);
                let cpus: Vec<u32> = all
                    .iter()
                    .copied()
                    .filter(|c| facts.usable.contains(c))
                    .collect();
                if cpus.is_empty() {
                    return Err(PinningError::NodeWithoutUsableCpus {
                        guest_node: node.id,
                        host_node,
                        node_cpus: format_id_list(&all),
                        usable: format_id_list(&facts.usable),
                        hint: if request.numa {
                            "host-cpus=LIST or host-cpus=any"
                        } else {
                            "--host-cpus LIST or --host-cpus any"
                        },
                    });
                }
                Some(cpus)
            }
        };
        for &vcpu in &node.vcpus {
            if let Some(slot) = vcpus.get_mut(vcpu as usize) {
                slot.clone_from(&pin);
            }
        }
    }
    if let Some(cpus) = request.vmm_cpus {
        check_list(cpus, CpuListOrigin::VmmCpus, &facts)?;
    }
    Ok(ThreadPlacement {
        vcpus,
        vmm: request.vmm_cpus.map(<[u32]>::to_vec),
        usable: facts.usable,
    })
}

impl ThreadPlacement {
    /// Whether vCPU `vcpu` was pinned at launch.
    pub fn pinned_at_launch(&self, vcpu: u32) -> bool {
        matches!(self.vcpus.get(vcpu as usize), Some(Some(_)))
    }

    /// The affinity vCPU `vcpu`'s thread gives itself before it first enters the guest: its
    /// pin, or, when tern's own threads are on `--vmm-cpus` (which a new thread inherits),
    /// every CPU tern may use. `None`: the thread keeps the affinity it was born with.
    pub fn vcpu_start_affinity(&self, vcpu: u32) -> Option<Vec<u32>> {
        match self.vcpus.get(vcpu as usize) {
            Some(Some(cpus)) => Some(cpus.clone()),
            _ => self.vmm.as_ref().map(|_| self.usable.clone()),
        }
    }

    /// Puts the calling thread on `--vmm-cpus`, if given. Call it on tern's main thread before
    /// it starts any other: every thread tern starts later (devices, API, balancer, heat,
    /// auto-balance) descends from it and inherits its affinity.
    pub fn apply_vmm_cpus(&self) -> Result<(), PinningError> {
        let Some(cpus) = &self.vmm else {
            return Ok(());
        };
        set_affinity(0, cpus).map_err(|e| PinningError::VmmAffinity {
            cpus: format_id_list(cpus),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MemSize;
    use balancer::mempolicy::MemPolicy;

    fn facts() -> HostCpuFacts {
        HostCpuFacts {
            present: (0..8).collect(),
            online: vec![0, 1, 2, 3, 4, 5, 7],
            usable: vec![0, 1, 2, 3, 5],
        }
    }

    /// Host node `h` has CPUs 4h..4h+3.
    fn node_cpus(h: u32) -> Vec<u32> {
        (4 * h..4 * h + 4).collect()
    }

    fn node(id: u32, vcpus: Vec<u32>, host: Option<u32>, host_cpus: Option<&str>) -> GuestNode {
        GuestNode {
            id,
            vcpus,
            memory: MemSize::from_mib(64),
            policy: host.map_or(MemPolicy::Default, MemPolicy::Bind),
            host_cpus: host_cpus.map(|c| c.parse().unwrap()),
        }
    }

    fn plan(nodes: &[GuestNode], vmm: Option<&[u32]>) -> Result<ThreadPlacement, PinningError> {
        let vcpus = nodes.iter().map(|n| n.vcpus.len()).sum();
        let request = PinningRequest {
            nodes,
            vcpus,
            vmm_cpus: vmm,
            numa: nodes.len() > 1,
        };
        plan_threads(&request, node_cpus, || Ok(facts()))
    }

    #[test]
    fn vcpus_follow_their_host_node_within_what_tern_may_use() {
        let nodes = [
            node(0, vec![0, 2], Some(0), None),
            node(1, vec![1], Some(1), None),
        ];
        let p = plan(&nodes, None).unwrap();
        // Host node 1 has CPUs 4-7, of which tern may use 5.
        assert_eq!(
            p.vcpus,
            vec![
                Some(vec![0, 1, 2, 3]),
                Some(vec![5]),
                Some(vec![0, 1, 2, 3])
            ]
        );
        assert!(p.pinned_at_launch(1));
        assert_eq!(p.vcpu_start_affinity(1), Some(vec![5]));
        assert_eq!(p.vmm, None);
    }

    #[test]
    fn host_cpus_choose_the_cpus_or_leave_vcpus_unpinned() {
        let nodes = [
            node(0, vec![0], Some(0), Some("5")),
            node(1, vec![1], Some(1), Some("any")),
            node(2, vec![2], None, None),
            node(3, vec![3], None, Some("2-3")),
        ];
        let p = plan(&nodes, None).unwrap();
        assert_eq!(p.vcpus, vec![Some(vec![5]), None, None, Some(vec![2, 3])]);
        assert!(!p.pinned_at_launch(1) && !p.pinned_at_launch(2));
        assert_eq!(p.vcpu_start_affinity(1), None);
    }

    #[test]
    fn nothing_pinned_still_knows_the_usable_cpus_for_later_pins() {
        let nodes = [node(0, vec![0, 1], None, None)];
        let request = PinningRequest {
            nodes: &nodes,
            vcpus: 2,
            vmm_cpus: None,
            numa: false,
        };
        let p = plan_threads(&request, node_cpus, || Ok(facts())).unwrap();
        assert_eq!(p.vcpus, vec![None, None]);
        assert_eq!(p.usable, facts().usable);
        assert!(!p.usable.is_empty());
        // A memory-only guest node bound to a host node pins nothing either.
        let nodes = [
            node(0, vec![0], None, Some("any")),
            node(1, vec![], Some(1), None),
        ];
        let request = PinningRequest {
            nodes: &nodes,
            vcpus: 1,
            vmm_cpus: None,
            numa: true,
        };
        let p = plan_threads(&request, node_cpus, || Ok(facts())).unwrap();
        assert_eq!(p.vcpus, vec![None]);
    }

    #[test]
    fn vmm_cpus_leave_unpinned_vcpus_on_every_usable_cpu() {
        let nodes = [
            node(0, vec![0], Some(0), None),
            node(1, vec![1], Some(1), Some("any")),
        ];
        let p = plan(&nodes, Some(&[3])).unwrap();
        assert_eq!(p.vmm, Some(vec![3]));
        assert_eq!(p.vcpu_start_affinity(0), Some(vec![0, 1, 2, 3]));
        assert_eq!(p.vcpu_start_affinity(1), Some(vec![0, 1, 2, 3, 5]));
    }

    #[test]
    fn bad_cpus_are_named_with_where_they_were_given() {
        let err =
            |nodes: &[GuestNode], vmm: Option<&[u32]>| plan(nodes, vmm).unwrap_err().to_string();
        assert_eq!(
            err(&[node(0, vec![0], None, Some("9"))], None),
            "host CPU 9 in --host-cpus does not exist (this host has CPUs 0-7)"
        );
        assert_eq!(
            err(
                &[
                    node(0, vec![0], None, None),
                    node(1, vec![1], None, Some("1,6"))
                ],
                None
            ),
            "host CPU 6 in guest node 1's host-cpus is offline (online CPUs: 0-5,7)"
        );
        assert_eq!(
            err(&[node(0, vec![0], None, None)], Some(&[0, 4])),
            "host CPU 4 in --vmm-cpus is not one tern may use (tern's CPU affinity, which taskset or its cpuset set, is 0-3,5)"
        );
        assert_eq!(
            err(&[node(0, vec![0], Some(3), None)], None),
            "guest node 0's vCPUs cannot be pinned to host node 3: it has no CPU tern may use (its CPUs: 12-15; tern may use 0-3,5); give --host-cpus LIST or --host-cpus any"
        );
        let numa = [
            node(0, vec![0], Some(3), None),
            node(1, vec![1], None, None),
        ];
        assert!(err(&numa, None).ends_with("give host-cpus=LIST or host-cpus=any"));
    }

    #[test]
    fn vmm_cpus_apply_to_the_calling_thread() {
        std::thread::spawn(|| {
            let usable = balancer::vcpu_placement::affinity(0).unwrap();
            let placement = ThreadPlacement {
                vcpus: Vec::new(),
                vmm: Some(vec![usable[0]]),
                usable: usable.clone(),
            };
            placement.apply_vmm_cpus().unwrap();
            assert_eq!(
                balancer::vcpu_placement::affinity(0).unwrap(),
                vec![usable[0]]
            );
            let child = std::thread::spawn(|| balancer::vcpu_placement::affinity(0).unwrap());
            assert_eq!(child.join().unwrap(), vec![usable[0]], "inherited");
        })
        .join()
        .unwrap();
    }
}
