//! The event-loop subscriber that takes API requests off their channel and answers them.

use std::sync::Arc;

use api::request::VmRequests;
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};

use super::worker::{is_slow, SlowQueue};
use super::VmControl;

/// Answers API requests on the main thread, handing the slow ones to the worker.
#[derive(Debug)]
pub struct ApiRequestHandler {
    requests: VmRequests,
    control: Arc<VmControl>,
    slow: SlowQueue,
}

impl ApiRequestHandler {
    /// A handler for `requests`, answering from `control`, slow requests through `slow`.
    pub fn new(requests: VmRequests, control: Arc<VmControl>, slow: SlowQueue) -> Self {
        Self {
            requests,
            control,
            slow,
        }
    }
}

impl MutEventSubscriber for ApiRequestHandler {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        for pending in self.requests.drain() {
            if is_slow(&pending.request) {
                self.slow.submit(pending);
                continue;
            }
            let reply = self.control.handle(pending.request);
            // The API side may have given up (timeout): nothing to do then.
            let _ = pending.reply.send(reply);
        }
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(self.requests.event(), EventSet::IN)) {
            log::error!("cannot watch API requests: {err:?}");
        }
    }
}
