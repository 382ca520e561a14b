//! One rebalance: its id, what it does, its state and progress, and why it ended.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mover::progress::{MoveProgress, ProgressSnapshot};

/// Where a rebalance is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Accepted, not started.
    Queued,
    /// Planning or moving.
    Running,
    /// Went through every page it planned to move.
    Done,
    /// Stopped early: a full target, a failed call, a plan that could not be made.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// Who started a rebalance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobOrigin {
    /// An operator, through the API.
    Operator,
    /// Automatic balancing.
    Auto,
    /// The host-wide balancer, through the API: like an operator's, but holds nothing.
    HostBalancer,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

#[derive(Debug)]
struct JobInner {
    state: JobState,
    message: Option<String>,
    ended: Option<Duration>,
}

/// A rebalance, shared between the thread that runs it and the API.
#[derive(Debug)]
pub struct Job {
    /// Its id, `rb-<n>`.
    pub id: String,
    /// The policy's name (to-node, follow-vcpus, hot-first, interleave).
    pub policy: &'static str,
    /// Who started it.
    pub origin: JobOrigin,
    /// Its counters and cancel flag.
    pub progress: Arc<MoveProgress>,
    started: Instant,
    inner: Mutex<JobInner>,
}

/// A job's state and counters at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobReport {
    /// Its id.
    pub id: String,
    /// The policy's name.
    pub policy: &'static str,
    /// Who started it.
    pub origin: JobOrigin,
    /// Its state.
    pub state: JobState,
    /// Its counters (elapsed frozen once it ended).
    pub progress: ProgressSnapshot,
    /// Why it failed, or what it left behind.
    pub message: Option<String>,
}

impl Job {
    /// A queued job.
    pub fn new(id: String, policy: &'static str, origin: JobOrigin) -> Self {
        Self {
            id,
            policy,
            origin,
            progress: Arc::new(MoveProgress::new()),
            started: Instant::now(),
            inner: Mutex::new(JobInner {
                state: JobState::Queued,
                message: None,
                ended: None,
            }),
        }
    }

    /// Its state.
    pub fn state(&self) -> JobState {
        self.inner
            .lock()
            .map(|i| i.state)
            .unwrap_or(JobState::Failed)
    }

    /// Moves it to `state` (with an optional message), ending the clock for a final state.
    pub fn set_state(&self, state: JobState, message: Option<String>) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.state = state;
            if message.is_some() {
                inner.message = message;
            }
            if state.is_final() && inner.ended.is_none() {
                inner.ended = Some(self.started.elapsed());
            }
        }
    }

    /// Its report now.
    pub fn report(&self) -> JobReport {
        let mut progress = self.progress.snapshot();
        let (state, message) = match self.inner.lock() {
            Ok(inner) => {
                if let Some(ended) = inner.ended {
                    progress.elapsed = ended;
                }
                (inner.state, inner.message.clone())
            }
            Err(_) => (JobState::Failed, None),
        };
        JobReport {
            id: self.id.clone(),
            policy: self.policy,
            origin: self.origin,
            state,
            progress,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_freeze_the_clock_and_keep_the_message() {
        let job = Job::new("rb-1".into(), "to-node", JobOrigin::Operator);
        assert_eq!(job.state(), JobState::Queued);
        job.set_state(JobState::Running, None);
        job.set_state(JobState::Failed, Some("host node 1 is full".into()));
        let first = job.report();
        std::thread::sleep(Duration::from_millis(20));
        let second = job.report();
        assert_eq!(first.progress.elapsed, second.progress.elapsed);
        assert_eq!(second.message.as_deref(), Some("host node 1 is full"));
        assert!(second.state.is_final());
    }
}
