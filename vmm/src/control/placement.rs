//! `GET /v1/placement`: guest memory per host node (move_pages) and vCPU placement.

use api::model::{GuestNodePlacement, HostNodePages, PlacementInfo};
use api::request::ApiError;
use balancer::guest::{guest_placement, per_guest_node};
use balancer::pages::SystemPages;
use balancer::placement::{Placement, DEFAULT_MAX_SAMPLES, PAGE_SIZE};
use balancer::topology::HostTopology;

use super::{internal, VmControl};

/// The API form of one guest node's placement, listing every host node in `host_nodes` (with
/// 0 pages where none sit) and any other node pages were found on.
pub fn guest_node_placement(id: u32, p: &Placement, host_nodes: &[u32]) -> GuestNodePlacement {
    let mut nodes: Vec<u32> = host_nodes.iter().chain(p.on_node.keys()).copied().collect();
    nodes.sort_unstable();
    nodes.dedup();
    GuestNodePlacement {
        id,
        pages: p.pages,
        sampled: p.sampled,
        sampled_fraction: p.sampled_fraction(),
        host_nodes: nodes
            .into_iter()
            .map(|n| HostNodePages {
                host_node: n,
                pages: p.on_node.get(&n).copied().unwrap_or(0),
            })
            .collect(),
        absent: p.absent,
        unknown: p.unknown,
    }
}

impl VmControl {
    /// Per guest node placement, per guest node in order.
    pub fn guest_placement(&self) -> Result<Vec<(u32, Placement)>, ApiError> {
        let regions = guest_placement(
            &self.ram.memory_regions(),
            &SystemPages,
            DEFAULT_MAX_SAMPLES,
        )
        .map_err(|e| internal("cannot read where guest memory sits", e))?;
        Ok(per_guest_node(&regions))
    }

    /// Guest memory and vCPU placement.
    pub fn placement(&self) -> Result<PlacementInfo, ApiError> {
        let host = HostTopology::read().ok();
        let host_ids: Vec<u32> = host
            .iter()
            .flat_map(|h| h.nodes.iter().map(|n| n.id))
            .collect();
        Ok(PlacementInfo {
            page_size: PAGE_SIZE,
            guest_nodes: self
                .guest_placement()?
                .iter()
                .map(|(id, p)| guest_node_placement(*id, p, &host_ids))
                .collect(),
            vcpus: (0..self.plan.vcpus as u32)
                .map(|id| self.vcpu_placement(id, host.as_ref()))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn every_host_node_is_listed() {
        let p = Placement {
            pages: 10,
            sampled: 10,
            on_node: BTreeMap::from([(1, 4)]),
            absent: 6,
            unknown: 0,
        };
        let g = guest_node_placement(0, &p, &[0, 1, 2]);
        let pages: Vec<(u32, u64)> = g
            .host_nodes
            .iter()
            .map(|h| (h.host_node, h.pages))
            .collect();
        assert_eq!(pages, vec![(0, 0), (1, 4), (2, 0)]);
        assert_eq!(g.absent, 6);
    }
}
