//! What a request covers and the checks every policy shares: which regions, whether the
//! nodes it names exist, and the move a chunk needs to reach its target.

use super::{ChunkMove, PlanError};
use crate::chunk::RegionChunks;
use crate::idlist::format_id_list;
use crate::topology::HostTopology;

/// `ids` in the compact notation, or `none`.
fn id_list_or_none(ids: &[u32]) -> String {
    if ids.is_empty() {
        "none".to_string()
    } else {
        format_id_list(ids)
    }
}

/// Fails if two entries describe the same region.
pub(super) fn check_regions_unique(regions: &[RegionChunks]) -> Result<(), PlanError> {
    let mut seen: Vec<usize> = regions.iter().map(|r| r.region).collect();
    seen.sort_unstable();
    match seen.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(PlanError::RegionListedTwice(pair[0])),
        None => Ok(()),
    }
}

/// `node`, if the host has it.
pub(super) fn check_host_node(host: &HostTopology, node: u32) -> Result<u32, PlanError> {
    match host.node(node) {
        Some(_) => Ok(node),
        None => {
            let ids: Vec<u32> = host.nodes.iter().map(|n| n.id).collect();
            Err(PlanError::NoSuchHostNode {
                node,
                available: id_list_or_none(&ids),
            })
        }
    }
}

/// The VM's guest nodes (those with memory), ascending.
pub(super) fn guest_nodes(regions: &[RegionChunks]) -> Vec<u32> {
    let mut nodes: Vec<u32> = regions.iter().map(|r| r.info.guest_node).collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// The guest nodes a request covers: `guest_node` if the VM has it, else all of them.
pub(super) fn covered_guest_nodes(
    regions: &[RegionChunks],
    guest_node: Option<u32>,
) -> Result<Vec<u32>, PlanError> {
    let all = guest_nodes(regions);
    match guest_node {
        None => Ok(all),
        Some(node) if all.contains(&node) => Ok(vec![node]),
        Some(node) => Err(PlanError::NoSuchGuestNode {
            node,
            available: id_list_or_none(&all),
        }),
    }
}

/// The regions of guest node `node`, in guest-physical address order.
pub(super) fn regions_of(regions: &[RegionChunks], node: u32) -> Vec<&RegionChunks> {
    let mut of_node: Vec<&RegionChunks> = regions
        .iter()
        .filter(|r| r.info.guest_node == node)
        .collect();
    of_node.sort_by_key(|r| r.info.guest_addr);
    of_node
}

/// Populated pages of `regions` on host node `node`.
pub(super) fn pages_on(regions: &[&RegionChunks], node: u32) -> u64 {
    regions
        .iter()
        .flat_map(|r| &r.chunks)
        .map(|c| c.pages_on(node))
        .sum()
}

/// The moves that bring each chunk of `region` to `target_of(chunk index)`; chunks already
/// there (or empty) are left out.
pub(super) fn chunk_moves<'a>(
    region: &'a RegionChunks,
    target_of: impl Fn(u64) -> u32 + 'a,
) -> impl Iterator<Item = ChunkMove> + 'a {
    region
        .chunks
        .iter()
        .enumerate()
        .filter_map(move |(index, placement)| {
            let chunk = index as u64;
            let target = target_of(chunk);
            let pages = placement.pages_off(target);
            (pages > 0).then_some(ChunkMove {
                region: region.region,
                chunk,
                target,
                pages,
            })
        })
}

/// Puts moves in region then chunk order, and targets in region order.
pub(super) fn sort_plan(plan: &mut super::Plan) {
    plan.moves.sort_by_key(|m| (m.region, m.chunk));
    plan.targets.sort_by_key(|(region, _)| *region);
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{host, on, region};
    use super::*;

    #[test]
    fn names_what_exists_when_a_node_does_not() {
        let err = check_host_node(&host(2), 5).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host node 5 does not exist; this host has nodes 0-1"
        );
        let regions = [region(0, 0, vec![on(0)]), region(1, 2, vec![on(0)])];
        let err = covered_guest_nodes(&regions, Some(1)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "guest node 1 does not exist; the VM has guest nodes 0,2"
        );
        assert_eq!(covered_guest_nodes(&regions, None).unwrap(), vec![0, 2]);
        assert_eq!(
            covered_guest_nodes(&[], Some(0)).unwrap_err().to_string(),
            "guest node 0 does not exist; the VM has guest nodes none"
        );
    }

    #[test]
    fn a_region_listed_twice_is_refused() {
        let regions = [
            region(3, 0, vec![]),
            region(1, 0, vec![]),
            region(3, 1, vec![]),
        ];
        assert_eq!(
            check_regions_unique(&regions),
            Err(PlanError::RegionListedTwice(3))
        );
        assert_eq!(check_regions_unique(&regions[..2]), Ok(()));
    }
}
