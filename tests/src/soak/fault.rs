//! Faults injected while a move runs: a cancel, a pause (and the resume after it), a pin,
//! and a target node that fills up (2 MiB huge pages reserved on it through sysfs, given
//! back when the move ends). Each fires once, when its time comes, and says what it did.

use std::path::PathBuf;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::case::{Fault, MoveCase};
use super::vm_api::VmApi;

/// Free memory a filled node keeps at least, MiB.
pub const FILL_LEAVE_MIN_MIB: u64 = 24;
/// A move needs at least this much room on the filled node for the fill to be able to stop it.
pub const FILL_NEEDS_MIN_MIB: u64 = 64;

/// Huge pages reserved on a node, given back on drop.
#[derive(Debug)]
pub struct Reservation {
    node: u32,
    /// Huge pages asked for.
    pub asked: u64,
    /// Huge pages the kernel reserved.
    pub got: u64,
    /// The node's free memory before, MiB.
    pub free_before_mib: u64,
    /// The node's free memory right after, MiB.
    pub free_after_mib: u64,
    released: bool,
}

fn node_dir(node: u32) -> PathBuf {
    PathBuf::from(format!("/sys/devices/system/node/node{node}"))
}

fn nr_hugepages_path(node: u32) -> PathBuf {
    node_dir(node).join("hugepages/hugepages-2048kB/nr_hugepages")
}

/// Free memory of host node `node`, MiB (its sysfs meminfo's MemFree).
pub fn node_free_mib(node: u32) -> std::io::Result<u64> {
    let meminfo = std::fs::read_to_string(node_dir(node).join("meminfo"))?;
    parse_mem_free_kb(&meminfo)
        .map(|kb| kb / 1024)
        .ok_or_else(|| std::io::Error::other(format!("no MemFree in node{node}'s meminfo")))
}

/// MemFree in kB from a node's meminfo (`Node 0 MemFree:   885084 kB`).
pub fn parse_mem_free_kb(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| {
        let (_, rest) = l.split_once("MemFree:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

impl Reservation {
    /// Reserves huge pages on `node` until about `leave_mib` MiB stay free.
    pub fn take(node: u32, leave_mib: u64) -> std::io::Result<Self> {
        let free_before_mib = node_free_mib(node)?;
        let asked = free_before_mib.saturating_sub(leave_mib) / 2;
        let path = nr_hugepages_path(node);
        std::fs::write(&path, asked.to_string())?;
        let mut reservation = Self {
            node,
            asked,
            got: 0,
            free_before_mib,
            free_after_mib: 0,
            released: false,
        };
        reservation.got = std::fs::read_to_string(&path)?.trim().parse().unwrap_or(0);
        reservation.free_after_mib = node_free_mib(node)?;
        Ok(reservation)
    }

    /// Gives the huge pages back.
    pub fn release(&mut self) -> std::io::Result<()> {
        if !self.released {
            self.released = true;
            std::fs::write(nr_hugepages_path(self.node), "0")?;
        }
        Ok(())
    }

    /// What it did, in words.
    pub fn describe(&self) -> String {
        format!(
            "reserved {} of {} huge pages on host node {}: free {} -> {} MiB",
            self.got, self.asked, self.node, self.free_before_mib, self.free_after_mib
        )
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            println!(
                "SOAK-WARN cannot give back the huge pages of node {}: {e}",
                self.node
            );
        }
    }
}

/// How a target-full fault is to be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillPlan {
    /// The node to fill.
    pub node: u32,
    /// Room the move needs there, MiB.
    pub needed_mib: u64,
    /// Free memory to leave, MiB.
    pub leave_mib: u64,
}

impl FillPlan {
    /// Fills `node` for a move that needs `needed_mib` there: leaves a third of that free
    /// (at least [`FILL_LEAVE_MIN_MIB`]); `Err` when the move needs too little for a fill to
    /// stop it.
    pub fn new(node: u32, needed_mib: u64) -> Result<Self, String> {
        if needed_mib < FILL_NEEDS_MIN_MIB {
            return Err(format!(
                "the move needs only about {needed_mib} MiB on host node {node}"
            ));
        }
        Ok(Self {
            node,
            needed_mib,
            leave_mib: (needed_mib / 3).max(FILL_LEAVE_MIN_MIB),
        })
    }
}

/// What the fault of one move did.
#[derive(Debug, Default)]
pub struct FaultOutcome {
    /// When it fired, ms after the move was asked for.
    pub fired_at_ms: Option<u64>,
    /// The DELETE's HTTP status, for a cancel.
    pub cancel_status: Option<u16>,
    /// The reservation, for a target-full fault that fired.
    pub reservation: Option<Reservation>,
    /// What it did, in words.
    pub effect: Vec<String>,
    /// A request of the fault's that failed.
    pub api_error: Option<String>,
}

impl FaultOutcome {
    /// Whether the DELETE was accepted.
    pub fn cancel_accepted(&self) -> bool {
        self.cancel_status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A fill made on a thread of its own (reserving huge pages compacts memory, which takes
/// seconds), so that the move goes on being watched meanwhile.
type Filling = JoinHandle<std::io::Result<Reservation>>;

/// One move's fault, fired when its time comes.
#[derive(Debug)]
pub struct FaultRun {
    case: MoveCase,
    fire_at: Duration,
    resume_at: Option<Instant>,
    paused: bool,
    fill: Result<FillPlan, String>,
    filling: Option<(u64, FillPlan, Filling)>,
    fired: bool,
    /// What it did.
    pub outcome: FaultOutcome,
}

impl FaultRun {
    /// The fault of `case`, firing `case.fault_at` times `estimate` after the start; `fill` is
    /// how to fill the target for a target-full fault, or why it is not filled.
    pub fn new(case: MoveCase, estimate: Duration, fill: Result<FillPlan, String>) -> Self {
        Self {
            case,
            fire_at: estimate.mul_f64(case.fault_at),
            resume_at: None,
            paused: false,
            fill,
            filling: None,
            fired: case.fault == Fault::None,
            outcome: FaultOutcome::default(),
        }
    }

    /// Fills the target now, and waits for it, if this fault fills it before the move starts.
    pub fn before_start(&mut self) {
        if self.case.fault == Fault::TargetFull && self.case.fill_before {
            self.fill_target(0);
            self.filled();
        }
    }

    fn fill_target(&mut self, at_ms: u64) {
        self.fired = true;
        let plan = match &self.fill {
            Ok(plan) => *plan,
            Err(why) => {
                self.outcome.effect.push(format!("not filled: {why}"));
                return;
            }
        };
        self.outcome.fired_at_ms = Some(at_ms);
        let spawned = thread::Builder::new()
            .name("soak-fill".into())
            .spawn(move || Reservation::take(plan.node, plan.leave_mib));
        match spawned {
            Ok(handle) => self.filling = Some((at_ms, plan, handle)),
            Err(e) => self
                .outcome
                .effect
                .push(format!("cannot start the fill: {e}")),
        }
    }

    /// Waits for a fill under way and notes what it did.
    fn filled(&mut self) {
        let Some((at_ms, plan, handle)) = self.filling.take() else {
            return;
        };
        match handle.join() {
            Ok(Ok(r)) => {
                self.outcome.effect.push(format!(
                    "from {at_ms} ms {} (the move needs about {} MiB there)",
                    r.describe(),
                    plan.needed_mib
                ));
                self.outcome.reservation = Some(r);
            }
            Ok(Err(e)) => self.outcome.effect.push(format!(
                "cannot reserve huge pages on node {}: {e}",
                plan.node
            )),
            Err(_) => self
                .outcome
                .effect
                .push("the fill's thread panicked".into()),
        }
    }

    /// Fires the fault if its time has come (`elapsed` since the move was asked for, rebalance
    /// `id`; `planned` tells whether the move has made its plan), and resumes a pause that
    /// has lasted long enough.
    pub fn step(&mut self, api: &VmApi, id: &str, elapsed: Duration, planned: bool, cpus: &[u32]) {
        let at_ms = elapsed.as_millis() as u64;
        if self.paused && self.resume_at.is_some_and(|r| Instant::now() >= r) {
            self.resume(api, at_ms);
        }
        if self.fired || elapsed < self.fire_at {
            return;
        }
        match self.case.fault {
            Fault::None => {}
            Fault::Cancel => {
                self.fired = true;
                self.outcome.fired_at_ms = Some(at_ms);
                match api.cancel(id) {
                    Ok(status) => {
                        self.outcome.cancel_status = Some(status);
                        self.outcome
                            .effect
                            .push(format!("DELETE at {at_ms} ms answered {status}"));
                    }
                    Err(e) => self.outcome.api_error = Some(e.to_string()),
                }
            }
            Fault::Pause => {
                self.fired = true;
                self.outcome.fired_at_ms = Some(at_ms);
                match api.action("pause") {
                    Ok(()) => {
                        self.paused = true;
                        self.resume_at =
                            Some(Instant::now() + Duration::from_millis(self.case.pause_ms));
                        self.outcome.effect.push(format!("paused at {at_ms} ms"));
                    }
                    Err(e) => self.outcome.api_error = Some(e.to_string()),
                }
            }
            Fault::Pin => {
                // Memory that follows the vCPUs goes where they were when the plan was made:
                // move them only once it is made.
                if self.case.policy == super::case::Policy::FollowVcpus && !planned {
                    return;
                }
                self.fired = true;
                self.outcome.fired_at_ms = Some(at_ms);
                let (vcpu, place) = self.case.pin;
                match api.pin(vcpu, place, cpus) {
                    Ok(()) => self
                        .outcome
                        .effect
                        .push(format!("pinned vCPU {vcpu} to {place:?} at {at_ms} ms")),
                    Err(e) => self.outcome.api_error = Some(e.to_string()),
                }
            }
            Fault::TargetFull => self.fill_target(at_ms),
        }
    }

    /// Whether the VM is paused by this fault now.
    pub fn paused(&self) -> bool {
        self.paused
    }

    fn resume(&mut self, api: &VmApi, at_ms: u64) {
        self.paused = false;
        match api.action("resume") {
            Ok(()) => self.outcome.effect.push(format!("resumed at {at_ms} ms")),
            Err(e) => self.outcome.api_error = Some(e.to_string()),
        }
    }

    /// The move has ended: resumes a paused VM, gives reserved memory back, and notes a
    /// fault that never fired. Returns what it did.
    pub fn finish(mut self, api: &VmApi, elapsed: Duration) -> FaultOutcome {
        let at_ms = elapsed.as_millis() as u64;
        if self.paused {
            self.resume(api, at_ms);
        }
        self.filled();
        if let Some(r) = self.outcome.reservation.as_mut() {
            if let Err(e) = r.release() {
                self.outcome
                    .effect
                    .push(format!("cannot give the huge pages back: {e}"));
            }
        }
        if !self.fired {
            self.outcome.effect.push(format!(
                "the move ended before the fault was due at {} ms",
                self.fire_at.as_millis()
            ));
        }
        self.outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_nodes_free_memory() {
        let meminfo = "Node 1 MemTotal:         999200 kB\nNode 1 MemFree:          938032 kB\n";
        assert_eq!(parse_mem_free_kb(meminfo), Some(938032));
        assert_eq!(parse_mem_free_kb("nothing"), None);
    }

    #[test]
    fn a_fill_leaves_a_third_of_what_the_move_needs() {
        assert!(FillPlan::new(1, 32)
            .unwrap_err()
            .contains("only about 32 MiB"));
        let plan = FillPlan::new(1, 300).unwrap();
        assert_eq!((plan.node, plan.leave_mib), (1, 100));
        assert_eq!(FillPlan::new(0, 64).unwrap().leave_mib, FILL_LEAVE_MIN_MIB);
    }
}
