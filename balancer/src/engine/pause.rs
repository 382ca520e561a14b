//! The vCPUs paused for a paused-mode move: resumed when the guard is dropped, on every way
//! out of the move (done, cancelled, failed, a shutdown), and the time they stood still
//! added to the job.

use std::io;
use std::time::Instant;

use super::job::Job;
use crate::guest::GuestView;

/// vCPUs a move paused, until dropped.
pub struct PausedVcpus<'a> {
    view: &'a dyn GuestView,
    job: &'a Job,
    /// When Tern paused them; `None` when the operator had paused the VM already.
    since: Option<Instant>,
}

impl<'a> PausedVcpus<'a> {
    /// Pauses the vCPUs of `view` for `job`.
    pub fn pause(view: &'a dyn GuestView, job: &'a Job) -> io::Result<Self> {
        let since = Instant::now();
        let paused = view.pause_vcpus()?;
        Ok(Self {
            view,
            job,
            since: paused.then_some(since),
        })
    }
}

impl Drop for PausedVcpus<'_> {
    fn drop(&mut self) {
        if let Some(since) = self.since.take() {
            self.view.resume_vcpus();
            self.job.add_paused(since.elapsed());
        }
    }
}
