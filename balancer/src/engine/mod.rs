//! The balancer engine: runs rebalances (one at a time, each on its own thread), the heat
//! sampler and the automatic balancer, over a [`GuestView`], a [`PageMover`] and a
//! [`HostInfo`]. It is the one owner of their threads: each is started here, stopped by a
//! flag or a cancel that wakes it, and joined here; none is left detached.

pub mod auto_loop;
pub mod binding;
pub mod heat_sampler;
pub mod job;
mod lazy;
pub mod mode;
mod pacer;
mod pause;
mod run;
mod settle;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use self::auto_loop::{AutoBalancer, AutoReport};
use self::binding::BindingNote;
use self::heat_sampler::HeatSampler;
use self::job::{Job, JobOrigin, JobReport};
use self::mode::{MoveMode, Pace};
use crate::guest::{GuestView, MemoryRegion};
use crate::host::HostInfo;
use crate::mover::Method;
use crate::pages::PageMover;
use crate::policy::{Plan, PolicyRequest};

/// Jobs kept for `GET /v1/rebalance/{id}` after they end.
const JOBS_KEPT: usize = 32;

/// What a rebalance does and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalanceParams {
    /// The plan.
    pub policy: PolicyRequest,
    /// How pages move.
    pub method: Method,
    /// Bytes per second at most.
    pub rate_limit: Option<u64>,
    /// Live, paused or lazy.
    pub mode: MoveMode,
    /// Fixed speed or paced by the guest.
    pub pace: Pace,
}

/// Why a rebalance could not start, or a job not be cancelled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Another rebalance is running.
    #[error("rebalance {0} is still running; cancel it or wait for it to end")]
    Busy(String),
    /// No job has that id.
    #[error("there is no rebalance {0}")]
    NoSuchJob(String),
    /// The job already ended.
    #[error("rebalance {0} has already ended")]
    Ended(String),
    /// A thread could not be started.
    #[error("cannot start the rebalance thread: {0}")]
    Thread(String),
}

#[derive(Debug, Default)]
struct JobList {
    next_id: u64,
    jobs: Vec<Arc<Job>>,
    /// Counters of jobs no longer kept.
    evicted: Totals,
    /// The thread of the latest job (joined before the next starts, and at shutdown).
    thread: Option<JoinHandle<()>>,
}

/// Counters over every rebalance since the VM started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Rebalances started.
    pub started: u64,
    /// Pages moved.
    pub pages_moved: u64,
    /// Bytes moved.
    pub bytes_moved: u64,
    /// Pages that failed, by reason.
    pub failed_by_reason: std::collections::BTreeMap<String, u64>,
}

impl Totals {
    fn add(&mut self, report: &JobReport) {
        self.pages_moved += report.progress.pages_moved;
        self.bytes_moved += report.progress.bytes_moved;
        for (reason, count) in &report.progress.failed_by_reason {
            *self.failed_by_reason.entry(reason.clone()).or_default() += count;
        }
    }
}

/// Shared by the engine's threads.
pub(crate) struct BalancerInner {
    view: Arc<dyn GuestView>,
    mover: Arc<dyn PageMover>,
    host: Arc<dyn HostInfo>,
    jobs: Mutex<JobList>,
    heat: HeatSampler,
    auto: AutoBalancer,
    /// Per guest node, why it prefers a host node rather than being bound to it, as the last
    /// rebalance that placed it decided.
    binding_notes: Mutex<BTreeMap<u32, String>>,
}

impl BalancerInner {
    fn running_job(&self) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().ok()?;
        jobs.jobs.iter().find(|j| !j.state().is_final()).cloned()
    }

    fn start(
        self: &Arc<Self>,
        params: RebalanceParams,
        policy: &'static str,
        origin: JobOrigin,
    ) -> Result<Arc<Job>, EngineError> {
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| EngineError::Thread("the job list is poisoned".into()))?;
        if let Some(running) = jobs.jobs.iter().find(|j| !j.state().is_final()) {
            return Err(EngineError::Busy(running.id.clone()));
        }
        // The previous job has ended (its state is final): its thread only has to return.
        if let Some(previous) = jobs.thread.take() {
            let _ = previous.join();
        }
        jobs.next_id += 1;
        let job = Arc::new(Job::new(
            format!("rb-{}", jobs.next_id),
            policy,
            origin,
            params.mode,
            params.pace,
        ));
        let (inner, thread_job) = (self.clone(), job.clone());
        let handle = std::thread::Builder::new()
            .name("balancer".into())
            .spawn(move || {
                sandbox::enter(sandbox::ThreadKind::Balancer);
                run::run_job(&inner, &thread_job, &params)
            })
            .map_err(|e| EngineError::Thread(e.to_string()))?;
        jobs.thread = Some(handle);
        jobs.jobs.push(job.clone());
        if jobs.jobs.len() > JOBS_KEPT {
            let old = jobs.jobs.remove(0);
            jobs.evicted.add(&old.report());
        }
        Ok(job)
    }

    /// Asks `job` to stop, waking it wherever it waits.
    fn cancel_job(&self, job: &Job) {
        job.progress.cancel();
        self.heat.wake_waiters();
    }

    /// Records what settling decided for the guest nodes `plan` placed: a note for each one
    /// left preferring a node it was not bound to, none for the others.
    fn record_binding_notes(&self, plan: &Plan, regions: &[MemoryRegion], notes: &[BindingNote]) {
        let Ok(mut recorded) = self.binding_notes.lock() else {
            return;
        };
        for (index, _) in &plan.targets {
            if let Some(region) = regions.get(*index) {
                recorded.remove(&region.guest_node);
            }
        }
        for note in notes {
            recorded.insert(note.guest_node, note.sentence.clone());
        }
    }
}

/// The balancer of one VM.
pub struct Balancer {
    inner: Arc<BalancerInner>,
}

impl std::fmt::Debug for Balancer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancer").finish_non_exhaustive()
    }
}

/// Heat sampling's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeatState {
    /// On or off.
    pub running: bool,
    /// Its interval.
    pub interval: Duration,
    /// Samples taken.
    pub samples: u64,
}

impl Balancer {
    /// A balancer for the VM `view`, moving pages with `mover`, on the host `host`.
    pub fn new(
        view: Arc<dyn GuestView>,
        mover: Arc<dyn PageMover>,
        host: Arc<dyn HostInfo>,
    ) -> Self {
        let inner = BalancerInner {
            heat: HeatSampler::new(view.clone()),
            view,
            mover,
            host,
            jobs: Mutex::new(JobList::default()),
            auto: AutoBalancer::default(),
            binding_notes: Mutex::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Starts an operator's rebalance named after `policy` (409 if one runs).
    pub fn start(
        &self,
        params: RebalanceParams,
        policy: &'static str,
    ) -> Result<JobReport, EngineError> {
        self.start_as(params, policy, JobOrigin::Operator)
    }

    /// Starts a rebalance for `origin` (an operator's holds the guest nodes it places).
    pub fn start_as(
        &self,
        params: RebalanceParams,
        policy: &'static str,
        origin: JobOrigin,
    ) -> Result<JobReport, EngineError> {
        self.inner.start(params, policy, origin).map(|j| j.report())
    }

    /// Records that the operator bound `guest_node`'s memory to `host_node` at launch:
    /// automatic balancing leaves it there until its vCPUs move.
    pub fn hold_at_launch(&self, guest_node: u32, host_node: u32) {
        self.inner.auto.hold(
            guest_node,
            format!("its memory was bound to host node {host_node} at launch"),
            0,
            None,
        );
    }

    /// Why `guest_node` prefers a host node rather than being bound to it, if a rebalance
    /// left it so.
    pub fn binding_note(&self, guest_node: u32) -> Option<String> {
        self.inner
            .binding_notes
            .lock()
            .ok()
            .and_then(|n| n.get(&guest_node).cloned())
    }

    fn find(&self, id: &str) -> Result<Arc<Job>, EngineError> {
        let jobs = self
            .inner
            .jobs
            .lock()
            .map_err(|_| EngineError::NoSuchJob(id.into()))?;
        jobs.jobs
            .iter()
            .find(|j| j.id == id)
            .cloned()
            .ok_or_else(|| EngineError::NoSuchJob(id.into()))
    }

    /// A job's report.
    pub fn report(&self, id: &str) -> Result<JobReport, EngineError> {
        self.find(id).map(|j| j.report())
    }

    /// Every job kept, oldest first.
    pub fn reports(&self) -> Vec<JobReport> {
        self.inner
            .jobs
            .lock()
            .map(|jobs| jobs.jobs.iter().map(|j| j.report()).collect())
            .unwrap_or_default()
    }

    /// Counters over every rebalance so far.
    pub fn totals(&self) -> Totals {
        let Ok(jobs) = self.inner.jobs.lock() else {
            return Totals::default();
        };
        let mut totals = jobs.evicted.clone();
        totals.started = jobs.next_id;
        for job in &jobs.jobs {
            totals.add(&job.report());
        }
        totals
    }

    /// Asks a running job to stop.
    pub fn cancel(&self, id: &str) -> Result<JobReport, EngineError> {
        let job = self.find(id)?;
        if job.state().is_final() {
            return Err(EngineError::Ended(id.into()));
        }
        self.inner.cancel_job(&job);
        Ok(job.report())
    }

    /// The heat sampler.
    pub fn heat(&self) -> &HeatSampler {
        &self.inner.heat
    }

    /// Heat sampling's state.
    pub fn heat_state(&self) -> HeatState {
        HeatState {
            running: self.inner.heat.is_running(),
            interval: self.inner.heat.interval(),
            samples: self.inner.heat.samples(),
        }
    }

    /// The operator turns heat sampling on (every `interval`) or off; sampling a hot-first
    /// warm-up started goes on until the warm-up ends.
    pub fn set_heat(&self, enabled: bool, interval: Option<Duration>) -> std::io::Result<()> {
        self.inner.heat.set_operator(enabled, interval)
    }

    /// The automatic balancer's state.
    pub fn auto(&self) -> AutoReport {
        self.inner.auto.report()
    }

    /// Turns automatic balancing on or off.
    pub fn set_auto(
        &self,
        enabled: bool,
        interval: Option<Duration>,
        rate: Option<u64>,
    ) -> std::io::Result<()> {
        self.inner.auto.set(&self.inner, enabled, interval, rate)
    }

    /// Stops everything and joins every thread: automatic balancing, a running job
    /// (cancelled: its memory policies are put back), heat sampling. Returns the report of
    /// the job it interrupted, if one was running.
    pub fn shut_down(&self) -> Option<JobReport> {
        if let Err(e) = self.set_auto(false, None, None) {
            log::warn!("cannot stop automatic balancing: {e}");
        }
        let (running, thread) = match self.inner.jobs.lock() {
            Ok(mut jobs) => (
                jobs.jobs.iter().find(|j| !j.state().is_final()).cloned(),
                jobs.thread.take(),
            ),
            Err(_) => (None, None),
        };
        if let Some(job) = &running {
            self.inner.cancel_job(job);
        }
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        if let Err(e) = self.inner.heat.stop_all() {
            log::warn!("cannot stop heat sampling: {e}");
        }
        running.map(|job| job.report())
    }
}

#[cfg(test)]
mod tests;
