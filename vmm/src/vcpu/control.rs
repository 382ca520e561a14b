//! What the VMM knows of each vCPU thread (thread ids, exit counters) and the pause/resume
//! handshake: a paused vCPU waits outside KVM_RUN until it is resumed or the VM stops.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::stats::ExitCounters;
use crate::exit::ExitSignal;

/// One vCPU as other threads see it.
#[derive(Debug, Default)]
pub struct VcpuShared {
    /// Its thread's id (gettid), 0 until the thread has started.
    pub tid: AtomicI32,
    /// Its thread's pthread handle, for kicking.
    pub pthread: AtomicU64,
    /// How many times an operator pinned it (`PUT /v1/vcpus/{id}/affinity`).
    pub pins: AtomicU64,
    /// Its exits.
    pub exits: ExitCounters,
}

#[derive(Debug, Default)]
struct PauseState {
    requested: bool,
    parked: usize,
}

/// All vCPUs' shared state and the pause handshake.
#[derive(Debug)]
pub struct VcpuControl {
    vcpus: Vec<VcpuShared>,
    pause_flag: AtomicBool,
    state: Mutex<PauseState>,
    changed: Condvar,
}

impl VcpuControl {
    /// Control for `count` vCPUs.
    pub fn new(count: usize) -> Self {
        Self {
            vcpus: (0..count).map(|_| VcpuShared::default()).collect(),
            pause_flag: AtomicBool::new(false),
            state: Mutex::new(PauseState::default()),
            changed: Condvar::new(),
        }
    }

    /// The vCPUs.
    pub fn vcpus(&self) -> &[VcpuShared] {
        &self.vcpus
    }

    /// Whether a pause is in force.
    pub fn is_paused(&self) -> bool {
        self.pause_flag.load(Ordering::SeqCst)
    }

    /// Called by a vCPU thread between KVM_RUN calls: parks it while a pause is in force and
    /// the VM is not stopping.
    pub fn park_if_paused(&self, exit: &ExitSignal) {
        if !self.pause_flag.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.parked += 1;
        self.changed.notify_all();
        while state.requested && !exit.is_requested() {
            state = match self.changed.wait_timeout(state, Duration::from_millis(200)) {
                Ok((guard, _)) => guard,
                Err(_) => return,
            };
        }
        state.parked -= 1;
        self.changed.notify_all();
    }

    /// Asks every vCPU to park, kicks them with `kick`, and waits up to `timeout` until all
    /// are parked. Returns whether they all did.
    pub fn pause(&self, kick: impl Fn(&VcpuShared), timeout: Duration) -> bool {
        if let Ok(mut state) = self.state.lock() {
            state.requested = true;
        }
        self.pause_flag.store(true, Ordering::SeqCst);
        self.vcpus.iter().for_each(&kick);
        let deadline = Instant::now() + timeout;
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        while state.parked < self.vcpus.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self
                .changed
                .wait_timeout(state, left.min(Duration::from_millis(50)))
            {
                Ok((guard, _)) => guard,
                Err(_) => return false,
            };
            // A vCPU may have entered KVM_RUN just before seeing the flag: kick again.
            if state.parked < self.vcpus.len() {
                self.vcpus.iter().for_each(&kick);
            }
        }
        true
    }

    /// Lets every parked vCPU run again.
    pub fn resume(&self) {
        self.pause_flag.store(false, Ordering::SeqCst);
        if let Ok(mut state) = self.state.lock() {
            state.requested = false;
        }
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn pause_parks_every_vcpu_until_resume() {
        let control = Arc::new(VcpuControl::new(2));
        let exit = Arc::new(ExitSignal::new().unwrap());
        let runs = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (control, exit, runs) = (control.clone(), exit.clone(), runs.clone());
                std::thread::spawn(move || {
                    while !exit.is_requested() {
                        control.park_if_paused(&exit);
                        runs.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        assert!(control.pause(|_| {}, Duration::from_secs(5)));
        assert!(control.is_paused());
        let frozen = runs.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(runs.load(Ordering::SeqCst), frozen, "a parked vCPU ran");
        control.resume();
        std::thread::sleep(Duration::from_millis(50));
        assert!(runs.load(Ordering::SeqCst) > frozen);
        // A stop releases parked vCPUs too.
        assert!(control.pause(|_| {}, Duration::from_secs(5)));
        exit.request(crate::exit::ExitReason::GuestPowerOff);
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn pause_gives_up_when_a_vcpu_never_parks() {
        let control = VcpuControl::new(1);
        assert!(!control.pause(|_| {}, Duration::from_millis(100)));
    }
}
