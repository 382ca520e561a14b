//! The main thread's event loop (event-manager): console input, and the VM's exit request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use event_manager::{EventManager, EventOps, EventSet, Events, MutEventSubscriber, SubscriberOps};

use crate::error::Error;
use crate::exit::{ExitReason, ExitSignal};
use crate::signals;

/// The subscribers the loop serves.
pub type Subscriber = Arc<Mutex<dyn MutEventSubscriber + Send>>;

/// Watches the exit eventfd.
#[derive(Debug)]
struct ExitWatcher {
    exit: Arc<ExitSignal>,
    done: Arc<AtomicBool>,
}

impl MutEventSubscriber for ExitWatcher {
    fn process(&mut self, _events: Events, _ops: &mut EventOps) {
        let _ = self.exit.event().read();
        if let Some(num) = signals::received() {
            self.exit.request(ExitReason::Signal(num));
        }
        self.exit.mark_requested();
        self.done.store(true, Ordering::SeqCst);
    }

    fn init(&mut self, ops: &mut EventOps) {
        if let Err(err) = ops.add(Events::new(&**self.exit.event(), EventSet::IN)) {
            log::error!("cannot watch the VM's exit event: {err:?}");
        }
    }
}

/// The loop, with its subscribers registered.
pub struct EventLoop {
    manager: EventManager<Subscriber>,
    done: Arc<AtomicBool>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop").finish_non_exhaustive()
    }
}

impl EventLoop {
    /// A loop that ends when `exit` is requested.
    pub fn new(exit: Arc<ExitSignal>) -> Result<Self, Error> {
        let mut manager =
            EventManager::<Subscriber>::new().map_err(|e| Error::EventLoop(format!("{e:?}")))?;
        let done = Arc::new(AtomicBool::new(false));
        manager.add_subscriber(Arc::new(Mutex::new(ExitWatcher {
            exit,
            done: done.clone(),
        })));
        Ok(Self { manager, done })
    }

    /// Adds a subscriber.
    pub fn add(&mut self, subscriber: Subscriber) {
        self.manager.add_subscriber(subscriber);
    }

    /// Dispatches events until the VM is asked to stop.
    pub fn run(&mut self) -> Result<(), Error> {
        while !self.done.load(Ordering::SeqCst) {
            self.manager
                .run()
                .map_err(|e| Error::EventLoop(format!("{e:?}")))?;
        }
        Ok(())
    }
}
