//! To-node: all memory of a guest node, or of the whole VM, to one host node.

use super::scope::{check_host_node, chunk_moves, covered_guest_nodes, sort_plan};
use super::{Plan, PlanError, PlanInput, RegionTarget};

/// Every covered chunk not entirely on `host_node` moves there.
pub(super) fn plan_to_node(
    host_node: u32,
    guest_node: Option<u32>,
    input: &PlanInput<'_>,
) -> Result<Plan, PlanError> {
    let target = check_host_node(input.host, host_node)?;
    let covered = covered_guest_nodes(input.regions, guest_node)?;
    let mut plan = Plan::default();
    for region in input
        .regions
        .iter()
        .filter(|r| covered.contains(&r.info.guest_node))
    {
        plan.moves.extend(chunk_moves(region, |_| target));
        plan.targets
            .push((region.region, RegionTarget::Node(target)));
    }
    sort_plan(&mut plan);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{empty, host, on, region, split};
    use super::super::{plan, ChunkMove, PolicyRequest};
    use super::*;

    fn to_node(host_node: u32, guest_node: Option<u32>) -> PolicyRequest {
        PolicyRequest::ToNode {
            host_node,
            guest_node,
        }
    }

    fn mv(region: usize, chunk: u64, target: u32, pages: u64) -> ChunkMove {
        ChunkMove {
            region,
            chunk,
            target,
            pages,
        }
    }

    #[test]
    fn moves_every_chunk_not_already_on_the_node() {
        let regions = [
            region(
                0,
                0,
                vec![on(0), on(1), split(&[(0, 10), (1, 20)]), empty()],
            ),
            region(1, 1, vec![on(1), split(&[(2, 5)])]),
        ];
        let host = host(3);
        let input = PlanInput {
            regions: &regions,
            heat: None,
            vcpus: &[],
            host: &host,
        };
        let plan = plan(&to_node(1, None), &input).unwrap();
        assert_eq!(
            plan.moves,
            vec![mv(0, 0, 1, 512), mv(0, 2, 1, 10), mv(1, 1, 1, 5)]
        );
        assert_eq!(
            plan.targets,
            vec![(0, RegionTarget::Node(1)), (1, RegionTarget::Node(1))]
        );
        assert_eq!(plan.pages(), 527);
        assert_eq!(plan.bytes(), 527 * 4096);
    }

    #[test]
    fn a_guest_node_restricts_the_plan_to_its_regions() {
        let regions = [
            region(0, 0, vec![on(0)]),
            region(1, 1, vec![on(0), on(1)]),
            region(2, 1, vec![on(0)]),
        ];
        let host = host(2);
        let input = PlanInput {
            regions: &regions,
            heat: None,
            vcpus: &[],
            host: &host,
        };
        let plan = plan(&to_node(1, Some(1)), &input).unwrap();
        assert_eq!(plan.moves, vec![mv(1, 0, 1, 512), mv(2, 0, 1, 512)]);
        assert_eq!(
            plan.targets,
            vec![(1, RegionTarget::Node(1)), (2, RegionTarget::Node(1))]
        );
    }

    #[test]
    fn memory_already_there_gives_targets_and_no_moves() {
        let regions = [region(0, 0, vec![on(1), empty(), on(1)])];
        let host = host(2);
        let input = PlanInput {
            regions: &regions,
            heat: None,
            vcpus: &[],
            host: &host,
        };
        let plan = plan(&to_node(1, None), &input).unwrap();
        assert!(plan.moves.is_empty());
        assert_eq!(plan.targets, vec![(0, RegionTarget::Node(1))]);
    }

    #[test]
    fn refuses_nodes_that_do_not_exist() {
        let regions = [region(0, 0, vec![on(0)])];
        let host = host(2);
        let input = PlanInput {
            regions: &regions,
            heat: None,
            vcpus: &[],
            host: &host,
        };
        assert_eq!(
            plan(&to_node(4, None), &input).unwrap_err().to_string(),
            "host node 4 does not exist; this host has nodes 0-1"
        );
        assert_eq!(
            plan(&to_node(1, Some(3)), &input).unwrap_err().to_string(),
            "guest node 3 does not exist; the VM has guest nodes 0"
        );
    }
}
