//! One rebalance: its id, what it does, its state and progress, and why it ended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::mode::{MoveMode, Pace};
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
    /// How it moves.
    pub mode: MoveMode,
    /// How its speed is chosen.
    pub pace: Pace,
    /// Its counters and cancel flag.
    pub progress: Arc<MoveProgress>,
    /// Milliseconds the vCPUs were paused for it (paused mode).
    paused_ms: AtomicU64,
    /// The paced rate now, in bytes per second (0 until pacing sets one).
    pace_rate: AtomicU64,
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
    /// How it moves.
    pub mode: MoveMode,
    /// How its speed is chosen.
    pub pace: Pace,
    /// How long the vCPUs were paused for it (paused mode only).
    pub paused: Option<Duration>,
    /// The paced rate now, in bytes per second (guest pacing only, once set).
    pub pace_rate: Option<u64>,
    /// Its state.
    pub state: JobState,
    /// Its counters (elapsed frozen once it ended).
    pub progress: ProgressSnapshot,
    /// Why it failed, or what it left behind.
    pub message: Option<String>,
}

impl Job {
    /// A queued job.
    pub fn new(
        id: String,
        policy: &'static str,
        origin: JobOrigin,
        mode: MoveMode,
        pace: Pace,
    ) -> Self {
        Self {
            id,
            policy,
            origin,
            mode,
            pace,
            progress: Arc::new(MoveProgress::new()),
            paused_ms: AtomicU64::new(0),
            pace_rate: AtomicU64::new(0),
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

    /// Adds `paused` to the time the vCPUs were paused for it.
    pub fn add_paused(&self, paused: Duration) {
        self.paused_ms
            .fetch_add(paused.as_millis() as u64, Ordering::Relaxed);
    }

    /// Records the paced rate now.
    pub fn set_pace_rate(&self, bytes_per_s: u64) {
        self.pace_rate.store(bytes_per_s, Ordering::Relaxed);
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
            mode: self.mode,
            pace: self.pace,
            paused: (self.mode == MoveMode::Paused)
                .then(|| Duration::from_millis(self.paused_ms.load(Ordering::Relaxed))),
            pace_rate: Some(self.pace_rate.load(Ordering::Relaxed)).filter(|r| *r > 0),
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
        let job = Job::new(
            "rb-1".into(),
            "to-node",
            JobOrigin::Operator,
            MoveMode::Paused,
            Pace::Fixed,
        );
        job.add_paused(Duration::from_millis(30));
        assert_eq!(job.report().paused, Some(Duration::from_millis(30)));
        assert_eq!(job.report().pace_rate, None);
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
