//! One thread per device serves its queues: it waits (epoll) on the queues' notification
//! eventfds (KVM ioeventfds), the device's input (a tap) and a control eventfd, and is told by
//! the transport when the driver is ready and when it resets the device. Each device has its
//! own thread, so a guest that floods one device's queue takes only that thread's time; a pass
//! over a queue stops after a queue's worth of work and comes back after other events.
//!
//! The thread is started with the VM, before any vCPU runs (so it inherits no vCPU's pinning),
//! pins itself to the CPUs it is given (sched_setaffinity), then installs its seccomp filter.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use virtio_queue::QueueT;
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

use super::{ActiveQueues, DeviceBackend, DeviceCounters, GuestError, Progress, VirtioInterrupt};

/// How long a vCPU waits for the worker to let go of the queues at a reset.
const RESET_TIMEOUT: Duration = Duration::from_secs(10);
const TOKEN_CONTROL: u64 = 0;
const TOKEN_INPUT: u64 = 1;
const TOKEN_QUEUE_BASE: u64 = 2;

enum Command {
    Activate(ActiveQueues),
    Reset(SyncSender<()>),
    Stop,
}

/// The transport's handle on a device's worker thread.
#[derive(Debug)]
pub struct WorkerHandle {
    commands: Sender<Command>,
    wake: EventFd,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Activate(_) => "Activate",
            Self::Reset(_) => "Reset",
            Self::Stop => "Stop",
        })
    }
}

/// What a worker thread is made of.
#[derive(Debug)]
pub struct WorkerSetup {
    /// Which worker it is: the thread's name and its seccomp filter.
    pub thread: sandbox::ThreadKind,
    /// One notification eventfd per queue.
    pub queue_events: Vec<EventFd>,
    /// The device's interrupt.
    pub interrupt: Arc<VirtioInterrupt>,
    /// The device's counters.
    pub counters: Arc<DeviceCounters>,
    /// Host CPUs to run on; None: wherever the VMM runs.
    pub cpus: Option<Vec<usize>>,
}

/// Starts the worker thread of `backend`.
pub fn spawn_worker(
    backend: Box<dyn DeviceBackend>,
    setup: WorkerSetup,
) -> std::io::Result<WorkerHandle> {
    let wake = EventFd::new(EFD_NONBLOCK)?;
    let (commands, receiver) = mpsc::channel();
    let mut worker = Worker {
        backend,
        commands: receiver,
        wake: wake.try_clone()?,
        queue_events: setup.queue_events,
        interrupt: setup.interrupt,
        counters: setup.counters,
        active: None,
        epoll: Epoll::new()?,
        input_watched: false,
        warned: false,
    };
    worker.watch()?;
    let cpus = setup.cpus;
    let kind = setup.thread;
    let thread = std::thread::Builder::new()
        .name(kind.to_string())
        .spawn(move || {
            if let Some(cpus) = cpus {
                if let Err(err) = pin_current_thread(&cpus) {
                    log::warn!("cannot pin a virtio worker to CPUs {cpus:?}: {err}");
                }
            }
            // Pinned, and before any guest request: from here on only its filter's calls.
            sandbox::enter(kind);
            worker.run();
        })?;
    Ok(WorkerHandle {
        commands,
        wake,
        thread: Some(thread),
    })
}

impl WorkerHandle {
    fn send(&self, command: Command) -> bool {
        if self.commands.send(command).is_err() {
            return false;
        }
        self.wake.write(1).is_ok()
    }

    /// The driver is ready: serve these queues.
    pub fn activate(&self, active: ActiveQueues) {
        if !self.send(Command::Activate(active)) {
            log::warn!("a virtio worker has stopped; the device stays silent");
        }
    }

    /// The driver reset the device: returns once the worker has let go of the queues.
    pub fn reset(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.send(Command::Reset(done)) && wait.recv_timeout(RESET_TIMEOUT).is_err() {
            log::warn!("a virtio worker did not finish its reset in time");
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        self.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Worker {
    backend: Box<dyn DeviceBackend>,
    commands: Receiver<Command>,
    wake: EventFd,
    queue_events: Vec<EventFd>,
    interrupt: Arc<VirtioInterrupt>,
    counters: Arc<DeviceCounters>,
    active: Option<ActiveQueues>,
    epoll: Epoll,
    input_watched: bool,
    warned: bool,
}

impl Worker {
    fn watch(&self) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let add = |fd, token| {
            self.epoll.ctl(
                ControlOperation::Add,
                fd,
                EpollEvent::new(EventSet::IN, token),
            )
        };
        add(self.wake.as_raw_fd(), TOKEN_CONTROL)?;
        for (index, event) in self.queue_events.iter().enumerate() {
            add(event.as_raw_fd(), TOKEN_QUEUE_BASE + index as u64)?;
        }
        Ok(())
    }

    fn run(&mut self) {
        let mut events = vec![EpollEvent::default(); self.queue_events.len() + 2];
        loop {
            let count = match self.epoll.wait(-1, &mut events) {
                Ok(count) => count,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    log::error!("a virtio worker cannot wait for events: {err}");
                    return;
                }
            };
            for event in events.iter().take(count) {
                match event.data() {
                    TOKEN_CONTROL => {
                        if !self.control() {
                            return;
                        }
                    }
                    TOKEN_INPUT => self.serve(None),
                    token => {
                        let index = (token - TOKEN_QUEUE_BASE) as usize;
                        if let Some(ev) = self.queue_events.get(index) {
                            let _ = ev.read();
                        }
                        self.serve(Some(index));
                    }
                }
            }
            self.update_input_watch();
        }
    }

    /// Handles the transport's commands; false when told to stop.
    fn control(&mut self) -> bool {
        let _ = self.wake.read();
        while let Ok(command) = self.commands.try_recv() {
            match command {
                Command::Activate(mut active) => {
                    let event_idx = active.features & super::FEATURE_EVENT_IDX != 0;
                    for queue in &mut active.queues {
                        queue.set_event_idx(event_idx);
                    }
                    match self.backend.activate(active.features) {
                        Ok(()) => {
                            self.active = Some(active);
                            // Buffers made available before DRIVER_OK are served now.
                            for index in 0..self.queue_events.len() {
                                self.serve(Some(index));
                            }
                        }
                        Err(err) => {
                            log::warn!("a virtio device could not start: {err}");
                            self.fail();
                        }
                    }
                }
                Command::Reset(done) => {
                    self.active = None;
                    self.backend.reset();
                    let _ = done.send(());
                }
                Command::Stop => return false,
            }
        }
        true
    }

    /// Serves queue `index`, or the device's input when None.
    fn serve(&mut self, index: Option<usize>) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let result = match index {
            Some(index) => self.backend.process_queue(index, active, &self.counters),
            None => self.backend.process_input(active, &self.counters),
        };
        match result.and_then(|progress| notify(active, progress, &self.interrupt)) {
            Ok(progress) => {
                if progress.more {
                    // Come back after the other events: a self-kick on the queue's eventfd.
                    let kick = index.and_then(|i| self.queue_events.get(i));
                    if let Some(event) = kick {
                        let _ = event.write(1);
                    }
                }
            }
            Err(err) => {
                // Once per device: a guest that keeps breaking it must not flood the log.
                if !self.warned {
                    self.warned = true;
                    log::warn!(
                        "virtio {} device: {err}; it needs a reset (further ones are counted, not logged)",
                        self.backend.kind().name()
                    );
                }
                self.fail();
            }
        }
    }

    fn fail(&mut self) {
        self.active = None;
        self.counters.reset_needed();
        self.interrupt.signal_needs_reset();
    }

    fn update_input_watch(&mut self) {
        let Some(fd) = self.backend.input_fd() else {
            return;
        };
        let wanted = self.active.is_some() && self.backend.wants_input();
        if wanted == self.input_watched {
            return;
        }
        let op = if wanted {
            ControlOperation::Add
        } else {
            ControlOperation::Delete
        };
        match self
            .epoll
            .ctl(op, fd, EpollEvent::new(EventSet::IN, TOKEN_INPUT))
        {
            Ok(()) => self.input_watched = wanted,
            Err(err) => log::warn!("cannot change the watch on a device's input: {err}"),
        }
    }
}

/// Raises the interrupt for each queue whose used ring changed, if the driver wants one.
fn notify(
    active: &mut ActiveQueues,
    progress: Progress,
    interrupt: &VirtioInterrupt,
) -> Result<Progress, GuestError> {
    let mut raise = false;
    for (index, queue) in active.queues.iter_mut().enumerate() {
        if progress.used & (1 << index) != 0
            && queue
                .needs_notification(&active.mem)
                .map_err(|_| GuestError::UsedRing)?
        {
            raise = true;
        }
    }
    if raise {
        interrupt.signal_used();
    }
    Ok(progress)
}

/// Pins the calling thread to `cpus`.
pub fn pin_current_thread(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is plain data; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        if cpu < libc::CPU_SETSIZE as usize {
            // SAFETY: `cpu` is below CPU_SETSIZE, inside the set.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    // SAFETY: pid 0 is the calling thread; `set` is a valid cpu_set_t of the size given.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
