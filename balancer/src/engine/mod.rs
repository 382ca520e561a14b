//! The balancer engine: runs rebalances (one at a time, each on its own thread), the heat
//! sampler and the automatic balancer, over a [`GuestView`] and a [`PageMover`].

pub mod auto_loop;
pub mod heat_sampler;
pub mod job;
mod run;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use self::auto_loop::{AutoBalancer, AutoReport};
use self::heat_sampler::HeatSampler;
use self::job::{Job, JobReport};
use crate::guest::GuestView;
use crate::mover::Method;
use crate::pages::PageMover;
use crate::policy::PolicyRequest;

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
    jobs: Mutex<JobList>,
    heat: HeatSampler,
    auto: AutoBalancer,
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
    ) -> Result<Arc<Job>, EngineError> {
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| EngineError::Thread("the job list is poisoned".into()))?;
        if let Some(running) = jobs.jobs.iter().find(|j| !j.state().is_final()) {
            return Err(EngineError::Busy(running.id.clone()));
        }
        jobs.next_id += 1;
        let job = Arc::new(Job::new(format!("rb-{}", jobs.next_id), policy));
        let (inner, thread_job) = (self.clone(), job.clone());
        std::thread::Builder::new()
            .name("balancer".into())
            .spawn(move || run::run_job(&inner, &thread_job, &params))
            .map_err(|e| EngineError::Thread(e.to_string()))?;
        jobs.jobs.push(job.clone());
        if jobs.jobs.len() > JOBS_KEPT {
            let old = jobs.jobs.remove(0);
            jobs.evicted.add(&old.report());
        }
        Ok(job)
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
    /// A balancer for the VM `view`, moving pages with `mover`.
    pub fn new(view: Arc<dyn GuestView>, mover: Arc<dyn PageMover>) -> Self {
        let inner = BalancerInner {
            view,
            mover,
            jobs: Mutex::new(JobList::default()),
            heat: HeatSampler::default(),
            auto: AutoBalancer::default(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Starts a rebalance named after `policy` (409 if one runs).
    pub fn start(
        &self,
        params: RebalanceParams,
        policy: &'static str,
    ) -> Result<JobReport, EngineError> {
        self.inner.start(params, policy).map(|j| j.report())
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
        job.progress.cancel();
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

    /// Turns heat sampling on (every `interval`) or off.
    pub fn set_heat(&self, enabled: bool, interval: Option<Duration>) -> std::io::Result<()> {
        if enabled {
            self.inner.heat.start(
                self.inner.view.clone(),
                interval.unwrap_or_else(|| self.inner.heat.interval()),
            )
        } else {
            self.inner.heat.stop(self.inner.view.as_ref())
        }
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

    /// Stops everything: automatic balancing, a running job (cancelled), heat sampling.
    pub fn shut_down(&self) {
        let _ = self.set_auto(false, None, None);
        if let Some(job) = self.inner.running_job() {
            job.progress.cancel();
            while !job.state().is_final() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.set_heat(false, None);
    }
}
