//! `ternctl placement`: a bar per guest node showing on which host nodes its resident pages
//! sit, with the shares in figures, then where each vCPU runs.

use super::join_sections;
use super::placement_bar::{bar, node_symbol, Segment, BAR_WIDTH, EMPTY_SYMBOL, UNKNOWN_SYMBOL};
use crate::model::{GuestNodePlacement, PlacementInfo, VcpuPlacement};
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::table::Table;
use crate::ternctl::units::{format_bytes, format_percent, format_share, or_dash};

const TITLE: &str = "Resident pages by host node (ABSENT: sampled pages never touched; \
                     SAMPLED: share of pages queried)";

/// Every host node any guest node has pages on, in order.
fn host_nodes_seen(nodes: &[GuestNodePlacement]) -> Vec<u32> {
    let mut hosts: Vec<u32> = nodes
        .iter()
        .flat_map(|n| n.host_nodes.iter().map(|h| h.host_node))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    hosts
}

/// Pages of `node` on host node `host`.
fn pages_on(node: &GuestNodePlacement, host: u32) -> u64 {
    node.host_nodes
        .iter()
        .filter(|h| h.host_node == host)
        .map(|h| h.pages)
        .sum()
}

/// Sampled pages in memory: on a known host node or not.
fn resident(node: &GuestNodePlacement) -> u64 {
    node.host_nodes.iter().map(|h| h.pages).sum::<u64>() + node.unknown
}

/// What each character of the bars means, for the characters in use.
fn legend(hosts: &[u32], nodes: &[GuestNodePlacement]) -> String {
    let mut entries: Vec<String> = hosts
        .iter()
        .map(|&h| format!("{} = host node {h}", node_symbol(h)))
        .collect();
    if nodes.iter().any(|n| n.unknown > 0) {
        entries.push(format!("{UNKNOWN_SYMBOL} = node unknown"));
    }
    if nodes.iter().any(|n| resident(n) == 0) {
        entries.push(format!("{EMPTY_SYMBOL} = nothing resident"));
    }
    format!("bar: {}", entries.join("   "))
}

/// The table's header: the bar, then a share column per host node seen.
fn header(hosts: &[u32], show_unknown: bool) -> Vec<String> {
    let mut header: Vec<String> = vec!["GUEST NODE".into(), "MEMORY".into(), "RESIDENT ON".into()];
    header.extend(hosts.iter().map(|h| format!("N{h}")));
    if show_unknown {
        header.push("UNKNOWN".into());
    }
    header.extend(["ABSENT".into(), "SAMPLED".into()]);
    header
}

fn guest_node_row(
    node: &GuestNodePlacement,
    hosts: &[u32],
    show_unknown: bool,
    page_size: u64,
) -> Vec<String> {
    let resident = resident(node);
    let mut segments: Vec<Segment> = hosts
        .iter()
        .map(|&h| Segment {
            symbol: node_symbol(h),
            pages: pages_on(node, h),
        })
        .collect();
    segments.push(Segment {
        symbol: UNKNOWN_SYMBOL,
        pages: node.unknown,
    });
    let mut row = vec![
        node.id.to_string(),
        format_bytes(node.pages.saturating_mul(page_size)),
        bar(&segments, BAR_WIDTH),
    ];
    let shown = hosts.len() + usize::from(show_unknown);
    row.extend(
        segments
            .iter()
            .take(shown)
            .map(|s| format_share(s.pages, resident)),
    );
    row.push(format_share(node.absent, node.sampled));
    row.push(format_percent(node.sampled_fraction));
    row
}

/// The guest nodes' bars and shares; an UNKNOWN column only when some pages are unknown.
fn memory_section(placement: &PlacementInfo) -> String {
    let nodes = &placement.guest_nodes;
    let hosts = host_nodes_seen(nodes);
    let show_unknown = nodes.iter().any(|n| n.unknown > 0);
    let header = header(&hosts, show_unknown);
    let numbers: Vec<usize> = (3..header.len()).collect();
    let mut table = Table::new(&header).align_right(&numbers);
    for node in nodes {
        table.row(guest_node_row(
            node,
            &hosts,
            show_unknown,
            placement.page_size,
        ));
    }
    format!("{TITLE}\n{}\n\n{}", legend(&hosts, nodes), table.render())
}

/// Where each vCPU runs and may run.
fn vcpus_table(vcpus: &[VcpuPlacement]) -> Table {
    let mut table = Table::new(&["VCPU", "HOST CPU", "HOST NODE", "AFFINITY"]);
    for vcpu in vcpus {
        table.row(vec![
            vcpu.id.to_string(),
            or_dash(vcpu.host_cpu),
            or_dash(vcpu.host_node),
            format_id_list(&vcpu.affinity),
        ]);
    }
    table
}

/// Guest memory by host node, then the vCPUs.
pub fn render_placement(placement: &PlacementInfo) -> String {
    join_sections(&[
        memory_section(placement),
        vcpus_table(&placement.vcpus).render(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HostNodePages;

    fn guest(id: u32, on: &[(u32, u64)], absent: u64, unknown: u64) -> GuestNodePlacement {
        let host_nodes: Vec<HostNodePages> = on
            .iter()
            .map(|&(host_node, pages)| HostNodePages { host_node, pages })
            .collect();
        let sampled = host_nodes.iter().map(|h| h.pages).sum::<u64>() + absent + unknown;
        GuestNodePlacement {
            id,
            pages: 2 * sampled,
            sampled,
            sampled_fraction: 0.5,
            host_nodes,
            absent,
            unknown,
        }
    }

    fn vcpu(id: u32, host_cpu: Option<u32>) -> VcpuPlacement {
        VcpuPlacement {
            id,
            host_cpu,
            host_node: host_cpu.map(|c| c / 2),
            affinity: vec![0, 1, 2, 3],
        }
    }

    #[test]
    fn two_host_nodes_then_the_vcpus() {
        let placement = PlacementInfo {
            page_size: 4096,
            guest_nodes: vec![
                guest(0, &[(0, 500), (1, 100)], 400, 0),
                guest(1, &[(1, 1024)], 0, 0),
            ],
            vcpus: vec![vcpu(0, Some(1)), vcpu(1, None)],
        };
        assert_eq!(
            render_placement(&placement),
            format!(
                "{TITLE}
bar: 0 = host node 0   1 = host node 1

GUEST NODE  MEMORY   RESIDENT ON                N0      N1  ABSENT  SAMPLED
0           7.8 MiB  [00000000000000000111]  83.3%   16.7%   40.0%    50.0%
1           8 MiB    [11111111111111111111]   0.0%  100.0%    0.0%    50.0%

VCPU  HOST CPU  HOST NODE  AFFINITY
0     1         0          0-3
1     -         -          0-3
"
            )
        );
    }

    #[test]
    fn four_host_nodes_unknown_pages_and_an_untouched_node() {
        let placement = PlacementInfo {
            page_size: 4096,
            guest_nodes: vec![
                guest(0, &[(0, 10), (1, 10), (2, 10), (3, 5)], 0, 5),
                guest(1, &[], 256, 0),
            ],
            vcpus: vec![],
        };
        let text = render_placement(&placement);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "bar: 0 = host node 0   1 = host node 1   2 = host node 2   3 = host node 3   \
             ? = node unknown   . = nothing resident"
        );
        assert_eq!(
            lines[3..6],
            [
                "GUEST NODE  MEMORY   RESIDENT ON                N0     N1     N2     N3  UNKNOWN  ABSENT  SAMPLED",
                "0           320 KiB  [000001111122222333??]  25.0%  25.0%  25.0%  12.5%    12.5%    0.0%    50.0%",
                "1           2 MiB    [....................]      -      -      -      -        -  100.0%    50.0%",
            ]
        );
    }
}
