//! The body of a rebalance: look at where every chunk is and where the vCPUs run, plan, point
//! new faults at the targets (through the policy guard, which puts every policy back on any
//! way out), move, then settle the regions' policies.

use super::job::{Job, JobOrigin, JobState};
use super::mode::MoveMode;
use super::pause::PausedVcpus;
use super::settle::{cancelled_early, mib, settle, Ended};
use super::{lazy, pacer, BalancerInner, RebalanceParams};
use crate::chunk::{query_region, RegionChunks};
use crate::mempolicy::guard::PolicyGuard;
use crate::mempolicy::MemPolicy;
use crate::mover::{MoveIo, MoveSpec, MoveTask, StopReason};
use crate::page_nodes::PageNodes;
use crate::policy::{move_ranges, plan, Plan, PlanInput, PolicyRequest, RegionTarget};
use crate::vcpu_placement::locate_vcpus;

/// Heat samples a hot-first plan waits for when fewer were taken.
const WARMUP_SAMPLES: u64 = 3;

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

/// A plan, the chunks it was made from, and where every page was then.
type Planned = (Plan, Vec<RegionChunks>, Vec<PageNodes>);

fn plan_moves(inner: &BalancerInner, job: &Job, request: &PolicyRequest) -> Result<Planned, Ended> {
    let failed = |m: String| (JobState::Failed, m);
    let host = inner
        .host
        .topology()
        .map_err(|e| failed(format!("cannot read the host topology: {e}")))?;
    let regions = inner.view.regions();
    let stop = || job.progress.is_cancelled();
    let mut chunks = Vec::with_capacity(regions.len());
    let mut known = Vec::with_capacity(regions.len());
    for (i, r) in regions.iter().enumerate() {
        match query_region(inner.mover.as_ref(), i, r, &stop) {
            Ok((c, k)) => {
                chunks.push(c);
                known.extend(k);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Err(cancelled_early()),
            Err(e) => return Err(failed(format!("cannot read where guest memory sits: {e}"))),
        }
    }
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

/// Plans, warming the heat map up first for a hot-first plan (the warm-up's claim on
/// sampling ends with the plan).
fn warm_and_plan(
    inner: &BalancerInner,
    job: &Job,
    params: &RebalanceParams,
) -> Result<Planned, Ended> {
    if !needs_heat(&params.policy) {
        return plan_moves(inner, job, &params.policy);
    }
    let _claim = inner.heat.warm_up().map_err(|e| {
        (
            JobState::Failed,
            format!("cannot start dirty logging for heat: {e}"),
        )
    })?;
    inner.heat.wait_for_samples(WARMUP_SAMPLES, &job.progress);
    if job.progress.is_cancelled() {
        return Err(cancelled_early());
    }
    plan_moves(inner, job, &params.policy)
}

/// Holds the guest nodes an operator's plan places, so automatic balancing leaves them alone.
fn hold_placed_guest_nodes(inner: &BalancerInner, job: &Job, plan: &Plan) {
    if job.origin != JobOrigin::Operator {
        return;
    }
    let regions = inner.view.regions();
    let mut guest_nodes: Vec<(u32, String)> = Vec::new();
    for (index, target) in &plan.targets {
        let Some(region) = regions.get(*index) else {
            continue;
        };
        if guest_nodes.iter().any(|(g, _)| *g == region.guest_node) {
            continue;
        }
        let whereto = match target {
            RegionTarget::Node(n) => format!("host node {n}"),
            RegionTarget::Interleave(nodes) => {
                format!("host nodes {}", crate::idlist::format_id_list(nodes))
            }
        };
        guest_nodes.push((
            region.guest_node,
            format!(
                "rebalance {} ({}) placed its memory on {whereto}",
                job.id, job.policy
            ),
        ));
    }
    let looks = inner
        .host
        .topology()
        .map(|host| super::auto_loop::observe(inner, &host))
        .unwrap_or_default();
    for (guest_node, reason) in guest_nodes {
        let look = looks.iter().find(|l| l.guest_node == guest_node);
        inner.auto.hold(
            guest_node,
            reason,
            look.map_or(0, |l| l.pins),
            look.and_then(|l| l.vcpu_majority(0.5)),
        );
    }
}

fn execute(
    inner: &BalancerInner,
    job: &Job,
    params: &RebalanceParams,
) -> Result<Option<String>, Ended> {
    let (plan, chunks, known) = warm_and_plan(inner, job, params)?;
    if job.progress.is_cancelled() {
        return Err(cancelled_early());
    }
    hold_placed_guest_nodes(inner, job, &plan);
    if let MoveMode::Lazy { sweep_after } = params.mode {
        return lazy::execute(inner, job, params, &plan, &chunks, &known, sweep_after);
    }
    let interim: Vec<(usize, MemPolicy)> = plan
        .targets
        .iter()
        .map(|(r, t)| (*r, interim_policy(t)))
        .collect();
    let guard = PolicyGuard::point(inner.view.as_ref(), inner.host.as_ref(), &interim)
        .map_err(|e| (JobState::Failed, format!("{e}; nothing moved")))?;
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
    let io = MoveIo {
        pages: inner.mover.as_ref(),
        ranges: &guard,
    };
    let paused = match params.mode {
        MoveMode::Paused => Some(PausedVcpus::pause(inner.view.as_ref(), job).map_err(|e| {
            (
                JobState::Failed,
                format!("cannot pause the vCPUs: {e}; nothing moved"),
            )
        })?),
        MoveMode::Live | MoveMode::Lazy { .. } => None,
    };
    let outcome = pacer::run_paced(inner, job, io, &spec);
    // The vCPUs run again as soon as the pages have moved, before the policies settle.
    drop(paused);
    let progress = job.progress.snapshot();
    let how_far = format!(
        "{} of {}",
        mib(progress.pages_moved),
        mib(progress.pages_total)
    );
    let Some(stopped) = outcome.stopped else {
        return settle(inner, &plan, guard, outcome.left_behind);
    };
    let restored = match guard.restore() {
        Ok(()) => "the memory policies were put back".to_string(),
        Err(e) => format!("putting the memory policies back failed: {e}"),
    };
    Err(match stopped {
        StopReason::Cancelled => (
            JobState::Cancelled,
            format!("cancelled after moving {how_far}; {restored}"),
        ),
        StopReason::TargetFull(node) => (
            JobState::Failed,
            format!(
                "host node {node} ran out of free memory (ENOMEM) after {how_far} moved; {} \
                 stayed where it was; {restored}",
                mib(outcome.left_behind)
            ),
        ),
        StopReason::Failed(message) => (
            JobState::Failed,
            format!("{message}, after {how_far} moved; {restored}"),
        ),
    })
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
    fn new_faults_prefer_the_target_while_pages_move() {
        assert_eq!(
            interim_policy(&RegionTarget::Node(1)),
            MemPolicy::Preferred(1)
        );
        let spread = RegionTarget::Interleave(vec![0, 1]);
        assert_eq!(interim_policy(&spread), MemPolicy::Interleave(vec![0, 1]));
    }
}
