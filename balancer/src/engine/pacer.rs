//! A move paced by the guest: the vCPU threads' run-queue delay is measured over
//! [`BASELINE`] before anything moves; then, while the mover runs, a pacer thread looks at it
//! every [`PACE_INTERVAL`] and sets the mover's rate ([`GuestPace`]) against that baseline. The thread is scoped to the move: it ends and is joined when the move
//! ends, however it ends.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use super::job::Job;
use super::mode::Pace;
use super::BalancerInner;
use crate::guest::GuestView;
use crate::mover::pace::{
    thread_kernel_time, thread_wait, GuestPace, PaceSample, BASELINE, PACE_INTERVAL,
};
use crate::mover::rate::RateLimit;
use crate::mover::{run_move_at, MoveIo, MoveOutcome, MoveSpec};

/// What the pacer saw at one moment.
struct Look {
    at: Instant,
    /// Run-queue delay of the vCPU threads so far, summed.
    wait: Duration,
    /// Time the vCPU threads ran in the host kernel so far, summed.
    kernel: Duration,
    /// Thread ids it summed.
    tids: Vec<i32>,
    /// Bytes moved so far.
    moved: u64,
}

fn look(view: &dyn GuestView, job: &Job) -> Look {
    let mut wait = Duration::ZERO;
    let mut kernel = Duration::ZERO;
    let mut tids = Vec::new();
    for thread in view.vcpu_threads() {
        if thread.tid <= 0 {
            continue;
        }
        if let (Some(w), Some(k)) = (thread_wait(thread.tid), thread_kernel_time(thread.tid)) {
            wait += w;
            kernel += k;
            tids.push(thread.tid);
        }
    }
    Look {
        at: Instant::now(),
        wait,
        kernel,
        tids,
        moved: job.progress.bytes_moved(),
    }
}

impl Look {
    /// What happened between `earlier` and this look, or `None` when a vCPU thread came or
    /// went in between (the sums are then not comparable).
    fn since(&self, earlier: &Look) -> Option<PaceSample> {
        (self.tids == earlier.tids).then(|| PaceSample {
            wall: self.at.saturating_duration_since(earlier.at),
            vcpu_wait: self.wait.saturating_sub(earlier.wait),
            vcpu_kernel: self.kernel.saturating_sub(earlier.kernel),
            vcpus: self.tids.len() as u32,
            moved: self.moved.saturating_sub(earlier.moved),
        })
    }
}

/// The vCPUs' wait over [`BASELINE`] before anything moves (a cancel cuts it short); an
/// empty sample when the vCPU threads changed meanwhile.
fn baseline(view: &dyn GuestView, job: &Job) -> PaceSample {
    let before = look(view, job);
    job.progress.sleep(BASELINE);
    let sample = look(view, job).since(&before);
    sample.map_or(
        PaceSample {
            wall: Duration::ZERO,
            vcpu_wait: Duration::ZERO,
            vcpu_kernel: Duration::ZERO,
            vcpus: 0,
            moved: 0,
        },
        |s| PaceSample { moved: 0, ..s },
    )
}

/// Adjusts `rate` every interval until `stop` says the move ended.
fn pace_loop(
    view: &dyn GuestView,
    job: &Job,
    rate: &RateLimit,
    mut pace: GuestPace,
    stop: Receiver<()>,
) {
    let mut last = look(view, job);
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(PACE_INTERVAL) {
        let now = look(view, job);
        // A vCPU thread that came or went makes the sums incomparable: start again.
        if let Some(sample) = now.since(&last) {
            let bytes_per_s = pace.update(&sample);
            rate.set_rate(bytes_per_s, now.moved, now.at);
            job.set_pace_rate(bytes_per_s);
        }
        last = now;
    }
}

/// Runs the move of `spec` at the job's pace.
pub(super) fn run_paced(
    inner: &BalancerInner,
    job: &Job,
    io: MoveIo<'_>,
    spec: &MoveSpec,
) -> MoveOutcome {
    if job.pace == Pace::Fixed {
        return run_move_at(io, spec, &job.progress, &RateLimit::new(spec.rate_limit));
    }
    let pace = GuestPace::new(spec.rate_limit).with_baseline(&baseline(inner.view.as_ref(), job));
    let rate = RateLimit::new(Some(pace.rate()));
    job.set_pace_rate(pace.rate());
    let (done, stop) = channel::<()>();
    std::thread::scope(|scope| {
        let view = inner.view.as_ref();
        let rate_ref = &rate;
        let pacer = std::thread::Builder::new()
            .name("pacer".into())
            .spawn_scoped(scope, move || pace_loop(view, job, rate_ref, pace, stop));
        if let Err(e) = &pacer {
            log::warn!(
                "cannot start the pacer thread, moving at {} B/s: {e}",
                pace.rate()
            );
        }
        let outcome = run_move_at(io, spec, &job.progress, &rate);
        drop(done);
        outcome
    })
}
