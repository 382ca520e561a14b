//! `ternctl topology`: host nodes, then guest nodes with their guest-physical regions.

use super::join_sections;
use crate::model::{GuestNodeTopology, HostNodeInfo, RegionInfo, TopologyInfo};
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::table::Table;
use crate::ternctl::units::{format_bytes, format_mib, or_dash};

/// A row of distances, each number as wide as the widest in the matrix, so columns line up.
fn distances_cell(distances: &[u32], width: usize) -> String {
    let cells: Vec<String> = distances.iter().map(|d| format!("{d:>width$}")).collect();
    cells.join(" ")
}

/// Host nodes: CPUs, total and free memory, and distances to every node in table order.
pub fn host_nodes_table(nodes: &[HostNodeInfo]) -> Table {
    let width = nodes
        .iter()
        .flat_map(|n| &n.distances)
        .map(|d| d.to_string().len())
        .max()
        .unwrap_or(0);
    let mut table = Table::new(&["HOST NODE", "CPUS", "TOTAL MiB", "FREE MiB", "DISTANCES"])
        .align_right(&[2, 3]);
    for node in nodes {
        table.row(vec![
            node.id.to_string(),
            format_id_list(&node.cpus),
            node.total_mib.to_string(),
            node.free_mib.to_string(),
            distances_cell(&node.distances, width),
        ]);
    }
    table
}

/// A region's cells: `0x0-0x40000000` (end exclusive), its size, its address in tern.
fn region_cells(region: &RegionInfo) -> [String; 3] {
    [
        format!("{:#x}-{:#x}", region.guest_start, region.guest_end),
        format_bytes(region.guest_end.saturating_sub(region.guest_start)),
        format!("{:#x}", region.host_addr),
    ]
}

/// Guest nodes, one row per region (the node's own cells on its first).
pub fn guest_nodes_table(nodes: &[GuestNodeTopology]) -> Table {
    let mut table = Table::new(&[
        "GUEST NODE",
        "VCPUS",
        "MEMORY",
        "HOST NODE",
        "POLICY",
        "GUEST-PHYSICAL",
        "SIZE",
        "HOST ADDRESS",
    ])
    .align_right(&[6]);
    for node in nodes {
        let mut cells = vec![
            node.id.to_string(),
            format_id_list(&node.vcpus),
            format_mib(node.memory_mib),
            or_dash(node.host_node),
            node.policy.clone(),
        ];
        let blank = vec![String::new(); cells.len()];
        let mut regions = node.regions.iter().map(region_cells);
        cells.extend(
            regions
                .next()
                .unwrap_or_else(|| ["-".into(), "".into(), "".into()]),
        );
        table.row(cells);
        for region in regions {
            let mut row = blank.clone();
            row.extend(region);
            table.row(row);
        }
    }
    table
}

/// Host nodes, then guest nodes.
pub fn render_topology(topology: &TopologyInfo) -> String {
    join_sections(&[
        host_nodes_table(&topology.host_nodes).render(),
        guest_nodes_table(&topology.guest_nodes).render(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: u32, cpus: Vec<u32>, distances: Vec<u32>) -> HostNodeInfo {
        HostNodeInfo {
            id,
            cpus,
            total_mib: 15_992,
            free_mib: 12_040 + u64::from(id),
            distances,
        }
    }

    fn region(start: u64, end: u64, host_addr: u64) -> RegionInfo {
        RegionInfo {
            guest_start: start,
            guest_end: end,
            host_addr,
        }
    }

    fn guest(id: u32, memory_mib: u64, regions: Vec<RegionInfo>) -> GuestNodeTopology {
        GuestNodeTopology {
            id,
            vcpus: vec![id * 2, id * 2 + 1],
            memory_mib,
            host_node: Some(id),
            policy: "bind".into(),
            policy_note: None,
            regions,
        }
    }

    #[test]
    fn host_then_guest_nodes_with_one_row_per_region() {
        let topology = TopologyInfo {
            host_nodes: vec![
                host(0, vec![0, 1, 2, 3], vec![10, 21]),
                host(1, vec![4, 5, 6, 7, 9], vec![21, 10]),
            ],
            guest_nodes: vec![
                guest(0, 1024, vec![region(0, 0x4000_0000, 0x7f3a_0000_0000)]),
                guest(
                    1,
                    3072,
                    vec![
                        region(0x4000_0000, 0xc000_0000, 0x7f3b_0000_0000),
                        region(0x1_0000_0000, 0x1_4000_0000, 0x7f3d_0000_0000),
                    ],
                ),
            ],
        };
        assert_eq!(
            render_topology(&topology),
            "\
HOST NODE  CPUS   TOTAL MiB  FREE MiB  DISTANCES
0          0-3        15992     12040  10 21
1          4-7,9      15992     12041  21 10

GUEST NODE  VCPUS  MEMORY  HOST NODE  POLICY  GUEST-PHYSICAL            SIZE  HOST ADDRESS
0           0-1    1 GiB   0          bind    0x0-0x40000000           1 GiB  0x7f3a00000000
1           2-3    3 GiB   1          bind    0x40000000-0xc0000000    2 GiB  0x7f3b00000000
                                              0x100000000-0x140000000  1 GiB  0x7f3d00000000
"
        );
    }

    #[test]
    fn distances_line_up_and_a_node_without_regions_shows_a_dash() {
        let hosts = [
            host(0, vec![0], vec![10, 21, 255]),
            host(1, vec![], vec![21, 10, 21]),
        ];
        let text = host_nodes_table(&hosts).render();
        assert!(
            text.contains("0          0")
                && text.contains(" 10  21 255\n")
                && text.contains("1          -")
                && text.contains(" 21  10  21\n"),
            "{text}"
        );
        let text = guest_nodes_table(&[guest(0, 0, vec![])]).render();
        assert!(
            text.ends_with("0           0-1    0 B     0          bind    -\n"),
            "{text}"
        );
    }
}
