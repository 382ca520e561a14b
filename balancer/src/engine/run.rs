//! The body of a rebalance: look at where every chunk is and where the vCPUs run, plan, point
//! new faults at the targets, move, then settle the regions' policies (or put them back if
//! the move stopped early).

use std::time::Duration;

use super::job::{Job, JobState};
use super::{BalancerInner, RebalanceParams};
use crate::chunk::{query_region, RegionChunks};
use crate::mempolicy::MemPolicy;
use crate::mover::{run_move, MoveSpec, MoveTask, StopReason};
use crate::page_nodes::PageNodes;
use crate::placement::PAGE_SIZE;
use crate::policy::{move_ranges, plan, PlanInput, PolicyRequest, RegionTarget};
use crate::topology::HostTopology;
use crate::vcpu_placement::locate_vcpus;

/// Heat samples a hot-first plan waits for when heat was not being sampled.
const WARMUP_SAMPLES: u64 = 3;
/// Sampling interval used for that warm-up.
const WARMUP_INTERVAL: Duration = Duration::from_millis(500);

fn needs_heat(request: &PolicyRequest) -> bool {
    matches!(request, PolicyRequest::HotFirst { .. })
}

/// The policy a region has while its pages move: new faults land on the target, and a full
/// target never fails an allocation.
fn interim_policy(target: &RegionTarget) -> MemPolicy {
    match target {
        RegionTarget::Node(n) => MemPolicy::Preferred(*n),
        RegionTarget::Interleave(nodes) => MemPolicy::Interleave(nodes.clone()),
    }
}

/// The policy a region keeps after a complete move: bound stays bound (to the new node),
/// anything else prefers the new node.
fn final_policy(target: &RegionTarget, original: &MemPolicy) -> MemPolicy {
    match (target, original) {
        (RegionTarget::Node(n), MemPolicy::Bind(_)) => MemPolicy::Bind(*n),
        (RegionTarget::Node(n), _) => MemPolicy::Preferred(*n),
        (RegionTarget::Interleave(nodes), _) => MemPolicy::Interleave(nodes.clone()),
    }
}

fn mib(pages: u64) -> String {
    format!("{:.1} MiB", (pages * PAGE_SIZE) as f64 / f64::from(1 << 20))
}

type Ended = (JobState, String);

/// A plan, the chunks it was made from, and where every page was then.
type Planned = (crate::policy::Plan, Vec<RegionChunks>, Vec<PageNodes>);

fn plan_moves(inner: &BalancerInner, request: &PolicyRequest) -> Result<Planned, Ended> {
    let failed = |m: String| (JobState::Failed, m);
    let host =
        HostTopology::read().map_err(|e| failed(format!("cannot read the host topology: {e}")))?;
    let regions = inner.view.regions();
    let (chunks, known): (Vec<_>, Vec<_>) = regions
        .iter()
        .enumerate()
        .map(|(i, r)| query_region(inner.mover.as_ref(), i, r))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failed(format!("cannot read where guest memory sits: {e}")))?
        .into_iter()
        .unzip();
    let known = known.into_iter().flatten().collect();
    let vcpus = locate_vcpus(&inner.view.vcpu_threads(), &host);
    let heat = inner.heat.map();
    let input = PlanInput {
        regions: &chunks,
        heat: heat.as_ref().and_then(|g| g.as_ref()),
        vcpus: &vcpus,
        host: &host,
    };
    let plan = plan(request, &input).map_err(|e| failed(e.to_string()))?;
    Ok((plan, chunks, known))
}

fn execute(
    inner: &BalancerInner,
    job: &Job,
    params: &RebalanceParams,
) -> Result<Option<String>, Ended> {
    let warmed = if needs_heat(&params.policy) && !inner.heat.is_running() {
        inner
            .heat
            .start(inner.view.clone(), WARMUP_INTERVAL)
            .map_err(|e| {
                (
                    JobState::Failed,
                    format!("cannot start dirty logging for heat: {e}"),
                )
            })?;
        inner.heat.wait_for_samples(WARMUP_SAMPLES, &job.progress);
        true
    } else {
        false
    };
    let planned = plan_moves(inner, &params.policy);
    if warmed {
        if let Err(e) = inner.heat.stop(inner.view.as_ref()) {
            log::warn!("cannot stop dirty logging: {e}");
        }
    }
    let (plan, chunks, known) = planned?;
    if job.progress.is_cancelled() {
        return Err((
            JobState::Cancelled,
            "cancelled before any page moved".into(),
        ));
    }
    let regions = inner.view.regions();
    let originals: Vec<(usize, MemPolicy)> = plan
        .targets
        .iter()
        .filter_map(|(r, _)| regions.get(*r).map(|reg| (*r, reg.policy.clone())))
        .collect();
    for (region, target) in &plan.targets {
        inner
            .view
            .set_region_policy(*region, interim_policy(target))
            .map_err(|e| {
                (
                    JobState::Failed,
                    format!("cannot set the memory policy of region {region}: {e}"),
                )
            })?;
    }
    // Huge pages first whatever the backing: with the host's THP mode "always", plain
    // anonymous guest memory is made of huge pages too, and for base pages the first pass
    // simply moves one page per block.
    let tasks = move_ranges(&plan, &chunks)
        .into_iter()
        .map(|r| MoveTask {
            addr: r.addr,
            len: r.len,
            target: r.target,
        })
        .collect();
    let spec = MoveSpec {
        tasks,
        method: params.method,
        huge_first: true,
        rate_limit: params.rate_limit,
        known,
    };
    let outcome = run_move(inner.mover.as_ref(), &spec, &job.progress);
    let moved = job.progress.snapshot().pages_moved;
    let settle = |final_too: bool| {
        for ((region, target), (_, original)) in plan.targets.iter().zip(&originals) {
            let policy = if final_too {
                final_policy(target, original)
            } else {
                original.clone()
            };
            if let Err(e) = inner.view.set_region_policy(*region, policy) {
                log::warn!("cannot set the memory policy of region {region}: {e}");
            }
        }
    };
    match outcome.stopped {
        None => {
            settle(true);
            Ok((outcome.left_behind > 0).then(|| {
                format!(
                    "{} stayed behind (busy or shared pages)",
                    mib(outcome.left_behind)
                )
            }))
        }
        Some(StopReason::Cancelled) => {
            settle(false);
            Err((
                JobState::Cancelled,
                format!("cancelled after moving {}", mib(moved)),
            ))
        }
        Some(StopReason::TargetFull(node)) => {
            settle(false);
            Err((
                JobState::Failed,
                format!(
                    "host node {node} ran out of free memory (ENOMEM) after {} moved; {} stayed where it was",
                    mib(moved),
                    mib(outcome.left_behind)
                ),
            ))
        }
        Some(StopReason::Failed(message)) => {
            settle(false);
            Err((JobState::Failed, message))
        }
    }
}

/// Runs `job` to its end.
pub(crate) fn run_job(inner: &BalancerInner, job: &Job, params: &RebalanceParams) {
    job.set_state(JobState::Running, None);
    match execute(inner, job, params) {
        Ok(note) => job.set_state(JobState::Done, note),
        Err((state, message)) => job.set_state(state, Some(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_while_moving_and_after() {
        let node = RegionTarget::Node(1);
        assert_eq!(interim_policy(&node), MemPolicy::Preferred(1));
        assert_eq!(final_policy(&node, &MemPolicy::Bind(0)), MemPolicy::Bind(1));
        assert_eq!(
            final_policy(&node, &MemPolicy::Local),
            MemPolicy::Preferred(1)
        );
        let spread = RegionTarget::Interleave(vec![0, 1]);
        assert_eq!(interim_policy(&spread), MemPolicy::Interleave(vec![0, 1]));
        assert_eq!(
            final_policy(&spread, &MemPolicy::Bind(0)),
            MemPolicy::Interleave(vec![0, 1])
        );
    }
}
