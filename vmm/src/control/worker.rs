//! The API's slow requests, answered off the main thread: those that query where guest pages
//! sit (move_pages over guest memory) or wait for a balancer thread to stop. The main thread's
//! event loop serves the console and the devices and must never wait on them, so it hands
//! them to one worker thread, started and joined by the VMM, through a bounded queue; the
//! worker answers on the request's own oneshot reply.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use api::request::{ApiError, ErrorKind, PendingRequest, VmRequest};

use super::VmControl;

/// Slow requests that may wait for the worker; one more is answered 503.
pub const QUEUE_DEPTH: usize = 16;

/// Whether a request is slow: it queries guest memory's placement (placement, metrics, heat),
/// reads every host node's files (topology), or switches a balancer thread (heat, automatic
/// balancing), which waits for that thread.
pub fn is_slow(request: &VmRequest) -> bool {
    match request {
        VmRequest::GetTopology
        | VmRequest::GetPlacement
        | VmRequest::Metrics
        | VmRequest::GetHeat
        | VmRequest::SetHeat(_)
        | VmRequest::SetAutoBalance(_) => true,
        VmRequest::GetVm
        | VmRequest::GetVcpus
        | VmRequest::SetAffinity { .. }
        | VmRequest::Action(_)
        | VmRequest::StartRebalance(_)
        | VmRequest::GetRebalance(_)
        | VmRequest::CancelRebalance(_)
        | VmRequest::GetAutoBalance => false,
    }
}

#[derive(Debug)]
enum Job {
    Answer(PendingRequest),
    Stop,
}

/// The worker thread and its queue.
#[derive(Debug)]
pub struct SlowRequests {
    queue: SlowQueue,
    thread: Option<JoinHandle<()>>,
}

/// Where the main thread puts slow requests.
#[derive(Clone, Debug)]
pub struct SlowQueue {
    sender: SyncSender<Job>,
}

fn serve(control: &VmControl, jobs: &Receiver<Job>) {
    while let Ok(Job::Answer(pending)) = jobs.recv() {
        let reply = control.handle(pending.request);
        // The API side may have given up (timeout): nothing to do then.
        let _ = pending.reply.send(reply);
    }
}

impl SlowRequests {
    /// Starts the worker (thread `api-worker`), answering from `control`.
    pub fn start(control: Arc<VmControl>) -> std::io::Result<Self> {
        let (sender, jobs) = mpsc::sync_channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("api-worker".into())
            .spawn(move || serve(&control, &jobs))?;
        Ok(Self {
            queue: SlowQueue { sender },
            thread: Some(thread),
        })
    }

    /// The queue, for the main thread.
    pub fn queue(&self) -> SlowQueue {
        self.queue.clone()
    }

    /// Lets the worker finish the request it is on, then joins it; requests still queued
    /// are dropped, and their clients get 500 (the VMM is shutting down).
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(thread) = self.thread.take() {
            // A full queue: the worker takes the stop after the requests before it.
            let _ = self.queue.sender.send(Job::Stop);
            let _ = thread.join();
        }
    }
}

impl Drop for SlowRequests {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl SlowQueue {
    /// Hands a request to the worker, or answers it 503 when the queue is full (500 once
    /// the worker has stopped). Never blocks.
    pub fn submit(&self, pending: PendingRequest) {
        match self.sender.try_send(Job::Answer(pending)) {
            Ok(()) => {}
            Err(TrySendError::Full(Job::Answer(p))) => {
                let _ = p.reply.send(Err(ApiError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the VMM is busy with {QUEUE_DEPTH} slow requests (placement, metrics, \
                         heat, topology); try again shortly"
                    ),
                )));
            }
            Err(TrySendError::Disconnected(Job::Answer(p))) => {
                let _ = p.reply.send(Err(ApiError::new(
                    ErrorKind::Internal,
                    "the VMM is not answering: it is shutting down",
                )));
            }
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::HeatRequest;

    #[test]
    fn placement_queries_are_slow_and_state_reads_are_not() {
        assert!(is_slow(&VmRequest::GetPlacement));
        assert!(is_slow(&VmRequest::Metrics));
        assert!(is_slow(&VmRequest::GetHeat));
        assert!(is_slow(&VmRequest::SetHeat(HeatRequest {
            enabled: false,
            interval_ms: None
        })));
        assert!(!is_slow(&VmRequest::GetVm));
        assert!(!is_slow(&VmRequest::GetRebalance("rb-1".into())));
    }

    fn answer_of(queue: &SlowQueue) -> ApiError {
        let (pending, answer) = PendingRequest::new(VmRequest::GetPlacement);
        queue.submit(pending);
        answer.blocking_recv().unwrap().unwrap_err()
    }

    #[test]
    fn a_full_queue_answers_503_and_a_stopped_worker_500() {
        let (sender, jobs) = mpsc::sync_channel(0);
        let queue = SlowQueue { sender };
        assert_eq!(answer_of(&queue).kind, ErrorKind::Unavailable);
        drop(jobs);
        assert_eq!(answer_of(&queue).kind, ErrorKind::Internal);
    }
}
