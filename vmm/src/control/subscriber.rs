//! The event-loop subscriber that takes API requests off their channel and answers them.

use std::sync::Arc;

use api::request::VmRequests;
use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};

use super::VmControl;

/// Answers API requests on the main thread.
#[derive(Debug)]
pub struct ApiRequestHandler {
    requests: VmRequests,
    control: Arc<VmControl>,
}

impl ApiRequestHandler {
    /// A handler for `requests`, answering from `control`.
    pub fn new(requests: VmRequests, control: Arc<VmControl>) -> Self {
        Self { requests, control }
    }
}

impl MutEventSubscriber for ApiRequestHandler {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        for pending in self.requests.drain() {
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
