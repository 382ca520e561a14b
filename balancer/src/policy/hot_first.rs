//! Hot-first: the moves of a base request, hottest chunks first, optionally within a budget.
//!
//! Moves are ordered by descending heat; equal heat keeps the base's order (region then
//! chunk), so cold chunks move last in address order. With a budget, moves are taken in that
//! order while their bytes fit, and taking stops at the first that does not fit: what moves
//! is always the hottest part of the base plan, never a colder chunk while a hotter one stays
//! behind. The plan's region targets are the base's, so new pages land on the targets even
//! when the budget leaves chunks behind.

use super::{plan, Plan, PlanError, PlanInput, PolicyRequest};
use crate::placement::PAGE_SIZE;

/// Plans `base`, then orders (and with a budget, cuts) its moves by heat.
pub(super) fn plan_hot_first(
    base: &PolicyRequest,
    budget_bytes: Option<u64>,
    input: &PlanInput<'_>,
) -> Result<Plan, PlanError> {
    let heat = match input.heat {
        Some(heat) if heat.samples() > 0 => heat,
        _ => return Err(PlanError::NoHeatSamples),
    };
    let mut plan = plan(base, input)?;
    // A stable sort: equal heat keeps the base's order.
    plan.moves.sort_by(|a, b| {
        heat.heat(b.region, b.chunk)
            .total_cmp(&heat.heat(a.region, a.chunk))
    });
    if let Some(budget) = budget_bytes {
        let mut spent = 0u64;
        let fitting = plan
            .moves
            .iter()
            .take_while(|m| {
                spent = spent.saturating_add(m.pages.saturating_mul(PAGE_SIZE));
                spent <= budget
            })
            .count();
        plan.moves.truncate(fitting);
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{host, on, region, split, vcpu};
    use super::super::{RegionTarget, VcpuLocation};
    use super::*;
    use crate::chunk::RegionChunks;
    use crate::heat::HeatMap;
    use std::time::Duration;

    /// Two regions of four chunks on node 0; chunk heat from `dirty` (region, chunk, pages).
    fn setup(dirty: &[(usize, u64, u64)]) -> (Vec<RegionChunks>, HeatMap) {
        let regions = vec![
            region(0, 0, vec![on(0), on(0), split(&[(0, 100)]), on(1)]),
            region(1, 1, vec![on(0), on(0), on(0), on(0)]),
        ];
        let mut heat = HeatMap::new(&[4 << 21, 4 << 21], 0.5);
        for r in 0..2 {
            let mut bits = vec![0u64; 32];
            for (_, chunk, pages) in dirty.iter().filter(|d| d.0 == r) {
                for p in 0..*pages {
                    let page = chunk * 512 + p;
                    bits[(page / 64) as usize] |= 1 << (page % 64);
                }
            }
            heat.record(r, &bits);
        }
        heat.end_sample(Duration::from_secs(1));
        (regions, heat)
    }

    fn run(
        regions: &[RegionChunks],
        heat: Option<&HeatMap>,
        vcpus: &[VcpuLocation],
        request: &PolicyRequest,
    ) -> Result<Plan, PlanError> {
        let host = host(2);
        plan(
            request,
            &PlanInput {
                regions,
                heat,
                vcpus,
                host: &host,
            },
        )
    }

    fn hot(budget_bytes: Option<u64>) -> PolicyRequest {
        PolicyRequest::HotFirst {
            base: Box::new(PolicyRequest::ToNode {
                host_node: 1,
                guest_node: None,
            }),
            budget_bytes,
        }
    }

    fn order(plan: &Plan) -> Vec<(usize, u64)> {
        plan.moves.iter().map(|m| (m.region, m.chunk)).collect()
    }

    #[test]
    fn hottest_chunks_move_first_and_equal_heat_keeps_address_order() {
        let (regions, heat) = setup(&[(1, 2, 50), (0, 1, 10), (1, 0, 10), (0, 2, 80)]);
        let plan = run(&regions, Some(&heat), &[], &hot(None)).unwrap();
        assert_eq!(
            order(&plan),
            vec![(0, 2), (1, 2), (0, 1), (1, 0), (0, 0), (1, 1), (1, 3)]
        );
        assert_eq!(
            plan.targets,
            vec![(0, RegionTarget::Node(1)), (1, RegionTarget::Node(1))]
        );
    }

    #[test]
    fn a_budget_takes_the_hottest_moves_and_stops_at_the_first_that_does_not_fit() {
        // In heat order: (1, 2) with 512 pages to move, (0, 2) with 100, (0, 1) with 512.
        let (regions, heat) = setup(&[(1, 2, 50), (0, 2, 10), (0, 1, 5)]);
        let chunk = 512 * PAGE_SIZE;
        let small = 100 * PAGE_SIZE;
        let plan = run(&regions, Some(&heat), &[], &hot(Some(chunk + small))).unwrap();
        assert_eq!(order(&plan), vec![(1, 2), (0, 2)]);
        let plan = run(
            &regions,
            Some(&heat),
            &[],
            &hot(Some(2 * chunk + small - 1)),
        )
        .unwrap();
        assert_eq!(order(&plan), vec![(1, 2), (0, 2)]);
        // The hottest does not fit: nothing moves, though the colder (0, 2) would fit.
        let plan = run(&regions, Some(&heat), &[], &hot(Some(small))).unwrap();
        assert!(plan.moves.is_empty());
        assert_eq!(plan.targets.len(), 2, "targets stay the base's");
        let plan = run(&regions, Some(&heat), &[], &hot(Some(u64::MAX))).unwrap();
        assert_eq!(plan.moves.len(), 7);
    }

    #[test]
    fn the_base_decides_targets_and_scope() {
        let (regions, heat) = setup(&[(1, 3, 9), (0, 0, 1)]);
        let request = PolicyRequest::HotFirst {
            base: Box::new(PolicyRequest::FollowVcpus {
                guest_node: Some(1),
            }),
            budget_bytes: None,
        };
        let vcpus = [vcpu(0, 1, Some(1))];
        let plan = run(&regions, Some(&heat), &vcpus, &request).unwrap();
        assert_eq!(order(&plan), vec![(1, 3), (1, 0), (1, 1), (1, 2)]);
        assert_eq!(plan.targets, vec![(1, RegionTarget::Node(1))]);
        let bad = PolicyRequest::HotFirst {
            base: Box::new(PolicyRequest::ToNode {
                host_node: 3,
                guest_node: None,
            }),
            budget_bytes: None,
        };
        assert!(matches!(
            run(&regions, Some(&heat), &[], &bad),
            Err(PlanError::NoSuchHostNode { node: 3, .. })
        ));
    }

    #[test]
    fn no_heat_samples_is_an_error() {
        let (regions, _) = setup(&[]);
        let fresh = HeatMap::new(&[4 << 21, 4 << 21], 0.5);
        for heat in [None, Some(&fresh)] {
            assert_eq!(
                run(&regions, heat, &[], &hot(None))
                    .unwrap_err()
                    .to_string(),
                "hot-first needs write heat, and no heat sample has been taken yet"
            );
        }
    }

    #[test]
    fn each_chunk_moves_at_most_once() {
        let (regions, heat) = setup(&[(0, 0, 5), (1, 1, 7)]);
        let nested = PolicyRequest::HotFirst {
            base: Box::new(hot(None)),
            budget_bytes: None,
        };
        let plan = run(&regions, Some(&heat), &[], &nested).unwrap();
        let mut chunks = order(&plan);
        let count = chunks.len();
        chunks.sort_unstable();
        chunks.dedup();
        assert_eq!(chunks.len(), count);
        assert_eq!(count, 7);
    }
}
