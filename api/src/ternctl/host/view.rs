//! `ternctl host`: per host node its CPUs, total and free memory and each VM's memory there;
//! per VM and guest node where its memory and its vCPUs are; and the sockets that did not
//! answer. As tables, or as JSON (`--json`) for scripts.

use std::path::PathBuf;

use serde::Serialize;

use super::plan::state::{GuestNodeState, Pin};
use super::snapshot::Snapshot;
use crate::model::VmState as RunState;
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::render::vm::state_name;
use crate::ternctl::table::Table;
use crate::ternctl::units::{format_bytes, format_mib, format_percent};

const MIB: u64 = 1 << 20;

/// Memory of one VM (or guest node) on one host node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VmMemory {
    /// The VM.
    pub vm: String,
    /// MiB it has there.
    pub mib: u64,
}

/// A host node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HostNodeView {
    /// The node.
    pub id: u32,
    /// Its CPUs.
    pub cpus: Vec<u32>,
    /// Its memory in MiB.
    pub total_mib: u64,
    /// Its free memory in MiB.
    pub free_mib: u64,
    /// Each VM's populated memory there, in MiB.
    pub vms: Vec<VmMemory>,
}

/// Memory on one host node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NodeMemory {
    /// The host node.
    pub host_node: u32,
    /// MiB there.
    pub mib: u64,
}

/// A vCPU: where it runs and the host node it is confined to, if any.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VcpuView {
    /// The vCPU.
    pub id: u32,
    /// The host node it last ran on.
    pub runs_on: Option<u32>,
    /// The host node its affinity confines it to.
    pub pinned_to: Option<u32>,
}

/// A guest node.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuestNodeView {
    /// The guest node.
    pub id: u32,
    /// Its size in MiB.
    pub memory_mib: u64,
    /// Its populated memory per host node, in MiB.
    pub memory_on: Vec<NodeMemory>,
    /// Its vCPUs.
    pub vcpus: Vec<VcpuView>,
    /// The host node its vCPUs are on (confined, else running), if they are on one.
    pub vcpu_node: Option<u32>,
    /// The share of its populated memory on that node (0 to 1).
    pub local_share: Option<f64>,
    /// Why automatic balancing leaves it alone, if it does.
    pub held: Option<String>,
}

/// A VM that answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct VmView {
    /// Its name.
    pub name: String,
    /// Its API socket.
    pub socket: PathBuf,
    /// Its run state.
    pub state: RunState,
    /// Whether automatic balancing is on (the host balancer acts only for those).
    pub auto_balance: bool,
    /// Its guest nodes.
    pub guest_nodes: Vec<GuestNodeView>,
}

/// A socket that did not answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnansweredView {
    /// The socket.
    pub socket: PathBuf,
    /// Why.
    pub reason: String,
}

/// The host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostView {
    /// Its NUMA nodes.
    pub host_nodes: Vec<HostNodeView>,
    /// The VMs that answered.
    pub vms: Vec<VmView>,
    /// The sockets that did not.
    pub unanswered: Vec<UnansweredView>,
}

fn guest_view(g: &GuestNodeState) -> GuestNodeView {
    let vcpu_node = g.vcpu_node();
    let populated = g.populated();
    GuestNodeView {
        id: g.id,
        memory_mib: g.size / MIB,
        memory_on: g
            .on
            .iter()
            .map(|(n, bytes)| NodeMemory {
                host_node: *n,
                mib: bytes / MIB,
            })
            .collect(),
        vcpus: g
            .vcpus
            .iter()
            .map(|v| VcpuView {
                id: v.id,
                runs_on: v.runs_on,
                pinned_to: match v.pin {
                    Pin::Free => None,
                    Pin::Node(n) | Pin::ByBalancer(n) => Some(n),
                },
            })
            .collect(),
        vcpu_node,
        local_share: vcpu_node
            .filter(|_| populated > 0)
            .map(|n| g.on_node(n) as f64 / populated as f64),
        held: g.held.clone(),
    }
}

/// The view of `snapshot`.
pub fn host_view(snapshot: &Snapshot) -> HostView {
    let host_nodes = snapshot
        .host_nodes
        .iter()
        .map(|n| HostNodeView {
            id: n.id,
            cpus: n.cpus.clone(),
            total_mib: n.total_mib,
            free_mib: n.free_mib,
            vms: snapshot
                .state
                .vms
                .iter()
                .map(|vm| VmMemory {
                    vm: vm.name.clone(),
                    mib: vm.guest_nodes.iter().map(|g| g.on_node(n.id)).sum::<u64>() / MIB,
                })
                .filter(|m| m.mib > 0)
                .collect(),
        })
        .collect();
    let vms = snapshot
        .answered
        .iter()
        .zip(&snapshot.state.vms)
        .map(|(a, vm)| VmView {
            name: a.name.clone(),
            socket: a.socket.clone(),
            state: a.answers.vm.state,
            auto_balance: a.answers.auto.enabled,
            guest_nodes: vm.guest_nodes.iter().map(guest_view).collect(),
        })
        .collect();
    HostView {
        host_nodes,
        vms,
        unanswered: snapshot
            .unanswered
            .iter()
            .map(|u| UnansweredView {
                socket: u.socket.clone(),
                reason: u.reason.clone(),
            })
            .collect(),
    }
}

/// `N0 300 MiB, N1 2 MiB`.
fn memory_list(on: &[NodeMemory]) -> String {
    let parts: Vec<String> = on
        .iter()
        .filter(|m| m.mib > 0)
        .map(|m| format!("N{} {}", m.host_node, format_mib(m.mib)))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// `N0 0-1 pinned, N1 2`: vCPUs by the node they run on, `pinned` when all of them there
/// are confined to it.
fn vcpu_list(vcpus: &[VcpuView]) -> String {
    let mut nodes: Vec<Option<u32>> = vcpus.iter().map(|v| v.runs_on).collect();
    nodes.sort_unstable();
    nodes.dedup();
    let parts: Vec<String> = nodes
        .into_iter()
        .map(|node| {
            let here: Vec<&VcpuView> = vcpus.iter().filter(|v| v.runs_on == node).collect();
            let ids: Vec<u32> = here.iter().map(|v| v.id).collect();
            let pinned = node.is_some() && here.iter().all(|v| v.pinned_to == node);
            let at = node.map_or_else(|| "N?".to_string(), |n| format!("N{n}"));
            format!(
                "{at} {}{}",
                format_id_list(&ids),
                if pinned { " pinned" } else { "" }
            )
        })
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// The view as tables.
pub fn render_host(view: &HostView) -> String {
    let mut nodes =
        Table::new(&["HOST NODE", "CPUS", "MEMORY", "FREE", "GUEST MEMORY"]).align_right(&[2, 3]);
    for n in &view.host_nodes {
        let vms: Vec<String> = n
            .vms
            .iter()
            .map(|m| format!("{} {}", m.vm, format_mib(m.mib)))
            .collect();
        nodes.row(vec![
            n.id.to_string(),
            format_id_list(&n.cpus),
            format_mib(n.total_mib),
            format_mib(n.free_mib),
            if vms.is_empty() {
                "-".into()
            } else {
                vms.join(", ")
            },
        ]);
    }
    let mut sections = vec![nodes.render()];
    if view.vms.is_empty() {
        sections.push("no VM answered\n".into());
    } else {
        let mut vms = Table::new(&[
            "VM",
            "STATE",
            "AUTO",
            "GUEST NODE",
            "SIZE",
            "MEMORY ON",
            "VCPUS ON",
            "LOCAL",
            "HELD",
        ])
        .align_right(&[4, 7]);
        for vm in &view.vms {
            for g in &vm.guest_nodes {
                vms.row(vec![
                    vm.name.clone(),
                    state_name(vm.state).to_string(),
                    if vm.auto_balance { "on" } else { "off" }.into(),
                    g.id.to_string(),
                    format_bytes(g.memory_mib * MIB),
                    memory_list(&g.memory_on),
                    vcpu_list(&g.vcpus),
                    g.local_share.map_or_else(|| "-".into(), format_percent),
                    if g.held.is_some() { "yes" } else { "-" }.into(),
                ]);
            }
        }
        sections.push(vms.render());
    }
    if !view.unanswered.is_empty() {
        let mut table = Table::new(&["NOT ANSWERING", "WHY"]);
        for u in &view.unanswered {
            table.row(vec![u.socket.display().to_string(), u.reason.clone()]);
        }
        sections.push(table.render());
    }
    sections.join("\n")
}
