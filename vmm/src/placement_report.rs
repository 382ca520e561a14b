//! `--print-placement-on-exit`: where each guest memory region's pages sit on the host, one
//! line per region and one per guest node, in numa_maps style (`N0=pages N1=pages`).

use std::fmt::Write as _;

use balancer::guest::{guest_placement, per_guest_node, RegionPlacement};
use balancer::pages::SystemPages;
use balancer::placement::{Placement, DEFAULT_MAX_SAMPLES};

use crate::error::Error;

fn counts(p: &Placement) -> String {
    let mut text = format!("pages={} sampled={}", p.pages, p.sampled);
    for (node, count) in &p.on_node {
        let _ = write!(text, " N{node}={count}");
    }
    let _ = write!(text, " absent={}", p.absent);
    if p.unknown > 0 {
        let _ = write!(text, " unknown={}", p.unknown);
    }
    text
}

fn region_line(r: &RegionPlacement) -> String {
    let region = &r.region;
    let target = region
        .policy
        .node()
        .map(|n| format!(":{n}"))
        .unwrap_or_default();
    format!(
        "placement region guest_node={} gpa={:#x}-{:#x} host={:#x} policy={}{target} {}",
        region.guest_node,
        region.guest_addr,
        region.guest_addr + region.len,
        region.host_addr,
        region.policy.name(),
        counts(&r.placement)
    )
}

/// The report's lines for guest RAM.
pub fn placement_lines(ram: &crate::memory::GuestRam) -> Result<Vec<String>, Error> {
    let regions = guest_placement(&ram.memory_regions(), &SystemPages, DEFAULT_MAX_SAMPLES)
        .map_err(Error::Placement)?;
    let mut lines: Vec<String> = regions.iter().map(region_line).collect();
    for (node, placement) in per_guest_node(&regions) {
        lines.push(format!(
            "placement guest_node={node} {}",
            counts(&placement)
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use balancer::guest::MemoryRegion;
    use balancer::mempolicy::MemPolicy;
    use std::collections::BTreeMap;

    #[test]
    fn lines_read_like_numa_maps() {
        let r = RegionPlacement {
            region: MemoryRegion {
                guest_node: 1,
                guest_addr: 0x1000_0000,
                len: 0x1000_0000,
                host_addr: 0x7f00_0000_0000,
                policy: MemPolicy::Bind(1),
                hugetlb: false,
            },
            placement: Placement {
                pages: 65536,
                sampled: 65536,
                on_node: BTreeMap::from([(1, 60000), (0, 2)]),
                absent: 5534,
                unknown: 0,
            },
        };
        assert_eq!(
            region_line(&r),
            "placement region guest_node=1 gpa=0x10000000-0x20000000 host=0x7f0000000000 policy=bind:1 pages=65536 sampled=65536 N0=2 N1=60000 absent=5534"
        );
    }
}
