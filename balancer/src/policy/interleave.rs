//! Interleave: a guest node's memory dealt over a set of host nodes chunk by chunk. Chunks are
//! counted per guest node across its regions in guest-physical address order, so chunk `i`
//! goes to `host_nodes[i % n]` wherever region boundaries fall; each guest node starts at the
//! first node of the set. Regions end with an interleave policy over the set, which deals new
//! pages the same way (page by page).

use super::scope::{check_host_node, chunk_moves, covered_guest_nodes, regions_of, sort_plan};
use super::{Plan, PlanError, PlanInput, RegionTarget};

/// Checks the host node set: not empty, no node twice, every node on the host.
fn check_node_set(input: &PlanInput<'_>, host_nodes: &[u32]) -> Result<(), PlanError> {
    if host_nodes.is_empty() {
        return Err(PlanError::EmptyHostNodeSet);
    }
    for (i, node) in host_nodes.iter().enumerate() {
        if host_nodes[..i].contains(node) {
            return Err(PlanError::HostNodeTwice(*node));
        }
        check_host_node(input.host, *node)?;
    }
    Ok(())
}

/// Deals each covered guest node's chunks over `host_nodes`.
pub(super) fn plan_interleave(
    host_nodes: &[u32],
    guest_node: Option<u32>,
    input: &PlanInput<'_>,
) -> Result<Plan, PlanError> {
    check_node_set(input, host_nodes)?;
    let count = host_nodes.len() as u64;
    let mut plan = Plan::default();
    for node in covered_guest_nodes(input.regions, guest_node)? {
        // Chunks of this guest node before the current region.
        let mut first = 0u64;
        for region in regions_of(input.regions, node) {
            let deal = |chunk: u64| {
                let slot = (first + chunk) % count;
                host_nodes.get(slot as usize).copied().unwrap_or_default()
            };
            plan.moves.extend(chunk_moves(region, deal));
            plan.targets
                .push((region.region, RegionTarget::Interleave(host_nodes.to_vec())));
            first += region.chunks.len() as u64;
        }
    }
    sort_plan(&mut plan);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{empty, host, on, region, region_at};
    use super::super::{plan, PolicyRequest};
    use super::*;
    use crate::chunk::RegionChunks;

    fn run(
        regions: &[RegionChunks],
        host_nodes: &[u32],
        guest_node: Option<u32>,
    ) -> Result<Plan, PlanError> {
        let host = host(3);
        let request = PolicyRequest::Interleave {
            host_nodes: host_nodes.to_vec(),
            guest_node,
        };
        plan(
            &request,
            &PlanInput {
                regions,
                heat: None,
                vcpus: &[],
                host: &host,
            },
        )
    }

    fn chunk_targets(plan: &Plan) -> Vec<(usize, u64, u32)> {
        plan.moves
            .iter()
            .map(|m| (m.region, m.chunk, m.target))
            .collect()
    }

    #[test]
    fn deals_chunks_round_robin_and_skips_those_already_in_place() {
        let regions = [region(0, 0, vec![on(0), on(0), on(0), on(0), on(0)])];
        let plan = run(&regions, &[0, 1], None).unwrap();
        assert_eq!(chunk_targets(&plan), vec![(0, 1, 1), (0, 3, 1)]);
        assert_eq!(
            plan.targets,
            vec![(0, RegionTarget::Interleave(vec![0, 1]))]
        );
        let plan = run(&regions, &[2, 1, 0], None).unwrap();
        assert_eq!(
            chunk_targets(&plan),
            vec![(0, 0, 2), (0, 1, 1), (0, 3, 2), (0, 4, 1)]
        );
    }

    #[test]
    fn counts_chunks_across_a_guest_nodes_regions_in_address_order() {
        // Region 1 comes first in guest-physical memory; region 2 belongs to another node.
        let regions = [
            region_at(0, 0, 1 << 32, vec![on(0), on(0)]),
            region_at(1, 0, 0, vec![on(0), on(0), on(0)]),
            region_at(2, 1, 1 << 33, vec![on(0), on(0)]),
        ];
        let plan = run(&regions, &[0, 1], None).unwrap();
        // Node 0: region 1 holds its chunks 0-2, region 0 its chunks 3-4; node 1 starts over.
        assert_eq!(chunk_targets(&plan), vec![(0, 0, 1), (1, 1, 1), (2, 1, 1)]);
        assert_eq!(plan.targets.len(), 3);
    }

    #[test]
    fn empty_chunks_keep_their_slot_but_do_not_move() {
        let regions = [region(0, 0, vec![on(0), empty(), on(0), on(0)])];
        let plan = run(&regions, &[0, 1], None).unwrap();
        assert_eq!(chunk_targets(&plan), vec![(0, 3, 1)]);
    }

    #[test]
    fn a_guest_node_restricts_the_plan() {
        let regions = [
            region(0, 0, vec![on(2), on(2)]),
            region(1, 1, vec![on(2), on(2)]),
        ];
        let plan = run(&regions, &[0, 1], Some(1)).unwrap();
        assert_eq!(chunk_targets(&plan), vec![(1, 0, 0), (1, 1, 1)]);
        assert_eq!(plan.targets.len(), 1);
    }

    #[test]
    fn refuses_bad_node_sets() {
        let regions = [region(0, 0, vec![on(0)])];
        assert_eq!(
            run(&regions, &[], None).unwrap_err().to_string(),
            "interleave needs at least one host node"
        );
        assert_eq!(
            run(&regions, &[0, 1, 0], None).unwrap_err().to_string(),
            "host node 0 is in the interleave set twice"
        );
        assert_eq!(
            run(&regions, &[0, 5], None).unwrap_err().to_string(),
            "host node 5 does not exist; this host has nodes 0-2"
        );
    }
}
