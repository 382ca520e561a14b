//! `ternctl heat`: whether write heat is sampled, then per guest node its write rate and its
//! hottest chunks.

use super::join_sections;
use crate::model::{GuestNodeHeat, HeatInfo};
use crate::ternctl::table::Table;
use crate::ternctl::units::{format_bytes, or_dash};

/// Sampling: on or off, its interval, samples taken and the chunk size.
fn summary(heat: &HeatInfo) -> String {
    let mut table = Table::untitled();
    for (key, value) in [
        (
            "sampling",
            if heat.sampling { "on" } else { "off" }.to_string(),
        ),
        ("interval", format!("{} ms", heat.interval_ms)),
        ("samples", heat.samples.to_string()),
        ("chunk", format_bytes(heat.chunk_bytes)),
    ] {
        table.row(vec![key.to_string(), value]);
    }
    table.render()
}

/// One row per hot chunk, the guest node and its rate on the first; a node without hot
/// chunks gets one row of dashes.
fn node_rows(table: &mut Table, node: &GuestNodeHeat) {
    let mut first = vec![node.id.to_string(), format!("{:.1}", node.write_mib_per_s)];
    if node.hottest.is_empty() {
        first.extend(["-", "-", "-"].map(String::from));
        table.row(first);
        return;
    }
    for (i, chunk) in node.hottest.iter().enumerate() {
        let mut row = if i == 0 {
            std::mem::take(&mut first)
        } else {
            vec![String::new(), String::new()]
        };
        row.extend([
            format!("{:#x}", chunk.guest_addr),
            or_dash(chunk.host_node),
            format!("{:.1}", chunk.heat),
        ]);
        table.row(row);
    }
}

/// The heat: the summary, then a table of guest nodes and their hottest chunks (guest
/// address, the host node its pages are on, its heat), or why there is none yet.
pub fn render_heat(heat: &HeatInfo) -> String {
    let nodes = if heat.guest_nodes.is_empty() && heat.sampling {
        "no heat measured yet\n".to_string()
    } else if heat.guest_nodes.is_empty() {
        "no heat measured: turn sampling on with `ternctl heat --enable`\n".to_string()
    } else {
        let mut table = Table::new(&[
            "GUEST NODE",
            "WRITE MiB/s",
            "HOT CHUNK",
            "HOST NODE",
            "HEAT",
        ])
        .align_right(&[1, 2, 4]);
        for node in &heat.guest_nodes {
            node_rows(&mut table, node);
        }
        table.render()
    };
    join_sections(&[summary(heat), nodes])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::HotChunk;

    fn chunk(guest_addr: u64, host_node: Option<u32>, heat: f64) -> HotChunk {
        HotChunk {
            guest_addr,
            host_node,
            heat,
        }
    }

    fn heat() -> HeatInfo {
        HeatInfo {
            sampling: true,
            interval_ms: 1000,
            chunk_bytes: 2 << 20,
            samples: 42,
            guest_nodes: vec![
                GuestNodeHeat {
                    id: 0,
                    write_mib_per_s: 12.46,
                    hottest: vec![
                        chunk(0x4020_0000, Some(1), 512.0),
                        chunk(0x0060_0000, None, 12.25),
                    ],
                },
                GuestNodeHeat {
                    id: 1,
                    write_mib_per_s: 0.0,
                    hottest: vec![],
                },
            ],
        }
    }

    #[test]
    fn guest_nodes_list_their_hottest_chunks() {
        assert_eq!(
            render_heat(&heat()),
            "\
sampling  on
interval  1000 ms
samples   42
chunk     2 MiB

GUEST NODE  WRITE MiB/s   HOT CHUNK  HOST NODE   HEAT
0                  12.5  0x40200000  1          512.0
                           0x600000  -           12.2
1                   0.0           -  -              -
"
        );
    }

    #[test]
    fn without_heat_it_says_why() {
        let mut off = heat();
        off.sampling = false;
        off.samples = 0;
        off.guest_nodes.clear();
        assert!(render_heat(&off).ends_with(
            "chunk     2 MiB\n\nno heat measured: turn sampling on with `ternctl heat --enable`\n"
        ));
        off.sampling = true;
        assert!(render_heat(&off).ends_with("\n\nno heat measured yet\n"));
    }
}
