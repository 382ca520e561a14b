//! Follow-vcpus: each guest node's memory to the host node where most of its vCPUs run.
//!
//! Only vCPUs whose host node is known count. The host node running the most of them wins; a
//! tie goes to the node that already holds the most of the guest node's populated pages (the
//! cheaper move), then to the lower node number. A guest node with no vCPUs (memory only) or
//! none located is left alone when the whole VM is asked for, and an error when named.

use super::scope::{
    check_host_node, chunk_moves, covered_guest_nodes, pages_on, regions_of, sort_plan,
};
use super::{Plan, PlanError, PlanInput, RegionTarget};

/// The host node running the most of `vcpu_nodes` (one entry per located vCPU), with how many
/// run there; a tie goes to the node with more `pages_on(node)`, then to the lower node.
/// `None` when `vcpu_nodes` is empty.
pub fn busiest_host_node(
    vcpu_nodes: &[u32],
    pages_on: impl Fn(u32) -> u64,
) -> Option<(u32, usize)> {
    let mut counts: Vec<(u32, usize)> = Vec::new();
    for node in vcpu_nodes {
        match counts.iter_mut().find(|(n, _)| n == node) {
            Some((_, count)) => *count += 1,
            None => counts.push((*node, 1)),
        }
    }
    counts.into_iter().max_by(|a, b| {
        a.1.cmp(&b.1)
            .then_with(|| pages_on(a.0).cmp(&pages_on(b.0)))
            .then(b.0.cmp(&a.0))
    })
}

/// Plans each covered guest node towards its vCPUs.
pub(super) fn plan_follow_vcpus(
    guest_node: Option<u32>,
    input: &PlanInput<'_>,
) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    for node in covered_guest_nodes(input.regions, guest_node)? {
        let vcpus: Vec<Option<u32>> = input
            .vcpus
            .iter()
            .filter(|v| v.guest_node == node)
            .map(|v| v.host_node)
            .collect();
        let located: Vec<u32> = vcpus.iter().flatten().copied().collect();
        let regions = regions_of(input.regions, node);
        let Some((busiest, _)) = busiest_host_node(&located, |h| pages_on(&regions, h)) else {
            match (guest_node, vcpus.is_empty()) {
                (None, _) => continue,
                (Some(_), true) => return Err(PlanError::NoVcpusInGuestNode(node)),
                (Some(_), false) => return Err(PlanError::GuestNodeVcpusNotLocated(node)),
            }
        };
        let target = check_host_node(input.host, busiest)?;
        for region in regions {
            plan.moves.extend(chunk_moves(region, |_| target));
            plan.targets
                .push((region.region, RegionTarget::Node(target)));
        }
    }
    if plan.targets.is_empty() {
        return Err(PlanError::NoVcpuLocated);
    }
    sort_plan(&mut plan);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{host, on, region, split, vcpu};
    use super::super::{plan, ChunkMove, PolicyRequest, VcpuLocation};
    use super::*;
    use crate::chunk::RegionChunks;

    fn follow(guest_node: Option<u32>) -> PolicyRequest {
        PolicyRequest::FollowVcpus { guest_node }
    }

    fn run(
        regions: &[RegionChunks],
        vcpus: &[VcpuLocation],
        guest_node: Option<u32>,
    ) -> Result<Plan, PlanError> {
        let host = host(4);
        plan(
            &follow(guest_node),
            &PlanInput {
                regions,
                heat: None,
                vcpus,
                host: &host,
            },
        )
    }

    #[test]
    fn each_guest_node_goes_where_most_of_its_vcpus_run() {
        let regions = [
            region(0, 0, vec![on(0), on(0)]),
            region(1, 1, vec![on(1), split(&[(0, 7), (1, 1)])]),
        ];
        let vcpus = [
            vcpu(0, 0, Some(2)),
            vcpu(1, 0, Some(2)),
            vcpu(2, 0, Some(3)),
            vcpu(3, 1, Some(0)),
        ];
        let plan = run(&regions, &vcpus, None).unwrap();
        let targets: Vec<(usize, u32)> = plan.moves.iter().map(|m| (m.region, m.target)).collect();
        assert_eq!(targets, vec![(0, 2), (0, 2), (1, 0), (1, 0)]);
        assert_eq!(
            plan.moves[3],
            ChunkMove {
                region: 1,
                chunk: 1,
                target: 0,
                pages: 1
            }
        );
        assert_eq!(
            plan.targets,
            vec![(0, RegionTarget::Node(2)), (1, RegionTarget::Node(0))]
        );
    }

    #[test]
    fn a_tie_goes_to_the_node_with_more_memory_then_the_lower_node() {
        let regions = [region(0, 0, vec![on(3), split(&[(1, 100), (3, 1)])])];
        let tied = [vcpu(0, 0, Some(1)), vcpu(1, 0, Some(3))];
        let plan = run(&regions, &tied, None).unwrap();
        assert_eq!(plan.targets, vec![(0, RegionTarget::Node(3))]);
        assert_eq!(plan.pages(), 100);

        let even = [region(0, 0, vec![on(1), on(3)])];
        let plan = run(&even, &tied, None).unwrap();
        assert_eq!(plan.targets, vec![(0, RegionTarget::Node(1))]);
        assert_eq!(busiest_host_node(&[2, 0, 2, 0], |_| 0), Some((0, 2)));
        assert_eq!(busiest_host_node(&[], |_| 0), None);
    }

    #[test]
    fn unlocated_vcpus_do_not_count() {
        let regions = [region(0, 0, vec![on(0)])];
        let vcpus = [vcpu(0, 0, None), vcpu(1, 0, None), vcpu(2, 0, Some(1))];
        let plan = run(&regions, &vcpus, None).unwrap();
        assert_eq!(plan.targets, vec![(0, RegionTarget::Node(1))]);
    }

    #[test]
    fn memory_only_and_unlocated_guest_nodes_are_left_alone() {
        let regions = [
            region(0, 0, vec![on(0)]),
            region(1, 1, vec![on(0)]),
            region(2, 2, vec![on(0)]),
        ];
        let vcpus = [vcpu(0, 0, Some(1)), vcpu(1, 2, None)];
        let plan = run(&regions, &vcpus, None).unwrap();
        assert_eq!(plan.targets, vec![(0, RegionTarget::Node(1))]);
        assert_eq!(plan.moves.len(), 1);
    }

    #[test]
    fn nothing_to_follow_is_an_error() {
        let regions = [region(0, 0, vec![on(0)]), region(1, 1, vec![on(0)])];
        let vcpus = [vcpu(0, 0, None)];
        assert_eq!(run(&regions, &vcpus, None), Err(PlanError::NoVcpuLocated));
        assert_eq!(run(&regions, &[], None), Err(PlanError::NoVcpuLocated));
        assert_eq!(
            run(&regions, &vcpus, Some(0)).unwrap_err().to_string(),
            "no vCPU of guest node 0 has a known host node, so its memory has nothing to follow"
        );
        assert_eq!(
            run(&regions, &vcpus, Some(1)).unwrap_err().to_string(),
            "guest node 1 has no vCPUs for its memory to follow"
        );
        assert!(matches!(
            run(&regions, &vcpus, Some(7)),
            Err(PlanError::NoSuchGuestNode { node: 7, .. })
        ));
    }

    #[test]
    fn a_named_guest_node_plans_only_its_memory() {
        let regions = [region(0, 0, vec![on(0)]), region(1, 1, vec![on(0)])];
        let vcpus = [vcpu(0, 0, Some(1)), vcpu(1, 1, Some(2))];
        let plan = run(&regions, &vcpus, Some(1)).unwrap();
        assert_eq!(plan.targets, vec![(1, RegionTarget::Node(2))]);
        assert_eq!(
            plan.moves.iter().map(|m| m.region).collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn a_vcpu_on_a_node_the_host_no_longer_has_is_an_error() {
        let regions = [region(0, 0, vec![on(0)])];
        let vcpus = [vcpu(0, 0, Some(9))];
        assert!(matches!(
            run(&regions, &vcpus, None),
            Err(PlanError::NoSuchHostNode { node: 9, .. })
        ));
    }
}
