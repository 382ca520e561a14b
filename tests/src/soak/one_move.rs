//! One move of the soak: prepare it (pin the vCPUs for follow-vcpus), ask for it, fire its
//! fault while polling its status, undo the fault, look at the host's placement and judge.

use std::thread;
use std::time::{Duration, Instant};

use api::model::{RebalanceState, RebalanceStatus, TopologyInfo};
use serde_json::{json, Value};

use super::case::{Fault, Method, MoveCase, PinPlace, Policy};
use super::fault::{FaultRun, FillPlan};
use super::records::{Failure, FailureKind, MoveRecord};
use super::seen::{self, HostPlacement, PAGE_SIZE};
use super::tern::Tern;
use super::verdict::{judge, Observed};
use super::vm_api::VmApi;

/// How often a move's status is read.
const POLL: Duration = Duration::from_millis(100);
/// How long a move may take before it counts as stuck.
pub const MOVE_LIMIT: Duration = Duration::from_secs(240);
/// How long the vCPUs get to reach the node they were pinned to.
const PIN_SETTLE: Duration = Duration::from_secs(5);
/// Consecutive failed status reads tolerated (tern may be briefly busy).
const STATUS_TRIES: u32 = 3;
/// How long a tern that removed its API socket gets to end.
const ENDING_LIMIT: Duration = Duration::from_secs(30);
/// How long a failed API request waits to see whether tern is ending.
const API_ERROR_GRACE: Duration = Duration::from_secs(3);
/// A guest CPU silent this long while the VM runs has stalled.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// The host as the driver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    /// Its NUMA nodes.
    pub nodes: u32,
    /// All its CPUs.
    pub cpus: Vec<u32>,
}

/// What one move left behind for the run.
#[derive(Debug)]
pub struct MoveEnd {
    /// The record to print.
    pub record: MoveRecord,
    /// Whether the run cannot go on (tern or the guest is gone).
    pub fatal: bool,
}

/// State kept across the moves of a run.
#[derive(Debug)]
pub struct Mover<'a> {
    /// The API.
    pub api: &'a VmApi,
    /// Its socket.
    pub socket: std::path::PathBuf,
    /// tern.
    pub tern: &'a mut Tern,
    /// The host.
    pub host: Host,
    /// The VM's vCPUs.
    pub vcpus: u32,
    /// The lab run, for the records.
    pub run: u32,
    /// How guest memory is backed, for the records.
    pub backing: super::case::Backing,
    /// Where the guest's pages were after the last move.
    pub placement: HostPlacement,
    /// How long moves take.
    pub estimate: Estimate,
}

fn method_slot(method: Method) -> usize {
    match method {
        Method::MovePages => 0,
        Method::Mbind => 1,
    }
}

/// The rebalance request of `case`.
pub fn request(case: &MoveCase, other: u32) -> Value {
    let mut body = json!({ "policy": case.policy.name(), "method": case.method.name() });
    match case.policy {
        Policy::ToNode => body["host_node"] = json!(case.target),
        Policy::FollowVcpus => {}
        Policy::Interleave => body["host_nodes"] = json!([case.target, other]),
        Policy::HotFirst => {
            body["host_node"] = json!(case.target);
            body["budget_mib"] = json!(case.budget_mib);
        }
    }
    body
}

fn mib(pages: u64) -> u64 {
    (pages * PAGE_SIZE) >> 20
}

/// About how many pages `case` moves, from where they are (`before`).
pub fn expected_pages(case: &MoveCase, before: &HostPlacement) -> u64 {
    let populated = before.populated();
    let off = populated.saturating_sub(before.on(case.target));
    match case.policy {
        // Chunks alternate between the nodes in an order the host cannot see: about half.
        Policy::Interleave => populated / 2,
        Policy::HotFirst => off.min(case.budget_mib.unwrap_or(0) * (1 << 20) / PAGE_SIZE),
        Policy::ToNode | Policy::FollowVcpus => off,
    }
}

/// The fill of a target-full fault for `case`, or why none is made: the move needs too
/// little room, or a guest node is bound to the node (a guest fault there could then meet the
/// OOM killer).
fn fill_plan(
    case: &MoveCase,
    other: u32,
    before: &HostPlacement,
    topology: &TopologyInfo,
) -> Result<FillPlan, String> {
    if case.fault != Fault::TargetFull {
        return Err("no fill asked for".into());
    }
    let (node, needed) = match case.policy {
        Policy::Interleave => {
            // Both nodes receive chunks: fill the one that holds less now.
            let node = if before.on(case.target) <= before.on(other) {
                case.target
            } else {
                other
            };
            (
                node,
                (before.populated() / 2).saturating_sub(before.on(node)),
            )
        }
        _ => (case.target, expected_pages(case, before)),
    };
    if let Some(g) = topology
        .guest_nodes
        .iter()
        .find(|g| g.policy == "bind" && g.host_node == Some(node))
    {
        return Err(format!("guest node {} is bound to host node {node}", g.id));
    }
    FillPlan::new(node, mib(needed))
}

/// How long moves take: a fixed part and a time per page, per method, learnt from the moves
/// made.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    ms_per_page: [f64; 2],
}

impl Default for Estimate {
    fn default() -> Self {
        Self {
            ms_per_page: [0.08; 2],
        }
    }
}

impl Estimate {
    /// The fixed part of a move (planning, settling), ms.
    const FIXED_MS: f64 = 300.0;

    /// How long `pages` pages take with `method`.
    pub fn of(&self, method: Method, pages: u64) -> Duration {
        let ms = Self::FIXED_MS + pages as f64 * self.ms_per_page[method_slot(method)];
        Duration::from_millis(ms as u64)
    }

    /// Learns from a move of `pages` pages with `method` that took `ms`.
    pub fn learn(&mut self, method: Method, pages: u64, ms: u64) {
        if pages < 1000 {
            return;
        }
        let rate = (ms as f64 - Self::FIXED_MS).max(0.0) / pages as f64;
        let slot = &mut self.ms_per_page[method_slot(method)];
        *slot = 0.7 * *slot + 0.3 * rate;
    }
}

impl Mover<'_> {
    fn other(&self, target: u32) -> u32 {
        (target + 1) % self.host.nodes.max(1)
    }

    fn record(&self, case: &MoveCase) -> MoveRecord {
        MoveRecord {
            run: self.run,
            index: case.index,
            backing: self.backing,
            method: case.method,
            policy: case.policy,
            fault: case.fault,
            target: case.target,
            budget_mib: case.budget_mib,
            fault_effect: None,
            fault_fired_at_ms: None,
            status: None,
            wall_ms: 0,
            step_ms: 0,
            placement: None,
            failure: None,
            notes: Vec::new(),
        }
    }

    /// Ends the move as a failure; fatal if tern or the guest is gone.
    /// A tern that removed its API socket is on its way out (a guest crash or power-off
    /// shuts it down): it is given time to end, so that the move's failure says why.
    fn failed(&mut self, mut record: MoveRecord, failure: Failure, what: &str) -> MoveEnd {
        let mut death = self.tern.death(what);
        if death.is_none() && failure.kind == FailureKind::ApiError {
            // A failed request may come from a tern on its way out (a vCPU whose guest
            // crashed has already ended): give it a moment, so that the failure says why
            // and later moves are not charged with it.
            self.tern.wait_for_exit(API_ERROR_GRACE);
            death = self.tern.death(what);
        }
        if death.is_none() && !self.socket.exists() {
            self.tern.wait_for_exit(ENDING_LIMIT);
            death = Some(self.tern.death(what).unwrap_or_else(|| {
                Failure::new(
                    FailureKind::TernDied,
                    format!(
                        "tern removed its API socket while {what} and had not ended {} s later",
                        ENDING_LIMIT.as_secs()
                    ),
                )
            }));
        }
        let fatal = death.is_some();
        record.failure = Some(death.unwrap_or(failure));
        MoveEnd { record, fatal }
    }

    /// Pins every vCPU to `place`.
    fn pin_all(&self, place: PinPlace) -> Result<(), String> {
        for vcpu in 0..self.vcpus {
            self.api
                .pin(vcpu, place, &self.host.cpus)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Pins every vCPU back where tern pinned it at launch: vCPU N to the host node of guest
    /// node N.
    fn pin_as_launched(&self) -> Result<(), String> {
        for vcpu in 0..self.vcpus {
            let node = PinPlace::Node(vcpu % self.host.nodes.max(1));
            self.api
                .pin(vcpu, node, &self.host.cpus)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Pins every vCPU to `node` and waits until each has run there.
    fn gather_vcpus(&self, node: u32) -> Result<(), String> {
        self.pin_all(PinPlace::Node(node))?;
        let deadline = Instant::now() + PIN_SETTLE;
        loop {
            let vcpus = self.api.vcpus().map_err(|e| e.to_string())?;
            if vcpus.iter().all(|v| v.host_node == Some(node)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "vCPUs pinned to host node {node} still ran elsewhere after {} s: {:?}",
                    PIN_SETTLE.as_secs(),
                    vcpus
                        .iter()
                        .map(|v| (v.id, v.host_node))
                        .collect::<Vec<_>>()
                ));
            }
            thread::sleep(POLL);
        }
    }

    /// A guest CPU silent for [`STALL_LIMIT`], if one is (never while `paused`).
    pub fn stalled(&self, paused: bool) -> Option<Failure> {
        if paused {
            return None;
        }
        let console = self.tern.console();
        let (cpu, seen) = console.most_silent(self.vcpus as usize)?;
        (seen.elapsed() > STALL_LIMIT).then(|| {
            Failure::new(
                FailureKind::GuestStalled,
                format!(
                    "guest CPU {cpu}'s workload has been silent for {} s (pass {})",
                    seen.elapsed().as_secs(),
                    console.cpus.get(&cpu).map_or(0, |b| b.pass)
                ),
            )
        })
    }

    /// Makes one move and judges it.
    pub fn make(&mut self, case: &MoveCase) -> MoveEnd {
        let began = Instant::now();
        let mut end = self.make_and_judge(case);
        end.record.step_ms = began.elapsed().as_millis() as u64;
        end
    }

    fn make_and_judge(&mut self, case: &MoveCase) -> MoveEnd {
        let mut record = self.record(case);
        let other = self.other(case.target);
        let topology_before = match self.api.topology() {
            Ok(t) => t,
            Err(e) => {
                let f = Failure::new(FailureKind::ApiError, e.to_string());
                return self.failed(record, f, "reading the topology before a move");
            }
        };
        if case.policy == Policy::FollowVcpus {
            if let Err(e) = self.gather_vcpus(case.target) {
                let f = Failure::new(FailureKind::ApiError, e);
                return self.failed(record, f, "pinning the vCPUs for follow-vcpus");
            }
        }
        let estimate = self
            .estimate
            .of(case.method, expected_pages(case, &self.placement));
        let fill = fill_plan(case, other, &self.placement, &topology_before);
        let mut fault = FaultRun::new(*case, estimate, fill);
        fault.before_start();
        let started = Instant::now();
        let id = match self.api.rebalance(&request(case, other)) {
            Ok(id) => id,
            Err(e) => {
                drop(fault.finish(self.api, started.elapsed()));
                let f = Failure::new(FailureKind::ApiError, e.to_string());
                return self.failed(record, f, "asking for a move");
            }
        };
        let (status, trouble) = self.follow(&id, &mut fault, started);
        let elapsed = started.elapsed();
        let outcome = fault.finish(self.api, elapsed);
        record.wall_ms = elapsed.as_millis() as u64;
        record.fault_effect = (!outcome.effect.is_empty()).then(|| outcome.effect.join("; "));
        record.fault_fired_at_ms = outcome.fired_at_ms;
        record.status = status.clone();
        if let Some((failure, what)) = trouble {
            return self.failed(record, failure, what);
        }
        if let Some(e) = &outcome.api_error {
            let f = Failure::new(FailureKind::ApiError, format!("the fault's request: {e}"));
            return self.failed(record, f, "injecting a fault");
        }
        let Some(status) = status else {
            let f = Failure::new(FailureKind::ApiError, "no status was ever read");
            return self.failed(record, f, "moving");
        };
        let unpin = case.policy == Policy::FollowVcpus || case.fault == Fault::Pin;
        if unpin {
            if let Err(e) = self.pin_as_launched() {
                let f = Failure::new(FailureKind::ApiError, e);
                return self.failed(record, f, "unpinning the vCPUs");
            }
        }
        let after = match seen::query(self.tern.pid()) {
            Ok(p) => p,
            Err(e) => {
                let f = Failure::new(
                    FailureKind::DriverError,
                    format!("cannot query placement: {e}"),
                );
                return self.failed(record, f, "querying placement");
            }
        };
        let topology_after = match self.api.topology() {
            Ok(t) => t,
            Err(e) => {
                let f = Failure::new(FailureKind::ApiError, e.to_string());
                return self.failed(record, f, "reading the topology after a move");
            }
        };
        let verdict = judge(&Observed {
            case,
            status: &status,
            fault: &outcome,
            before: &self.placement,
            after: &after,
            topology_before: &topology_before,
            topology_after: &topology_after,
            other,
        });
        let undisturbed = matches!(case.fault, Fault::None | Fault::Pin | Fault::Cancel);
        if status.state == RebalanceState::Done && undisturbed && case.policy != Policy::HotFirst {
            self.estimate
                .learn(case.method, status.pages_total, record.wall_ms);
        }
        record.placement = Some(verdict.placement);
        record.failure = verdict.failure;
        record.notes = verdict.notes;
        if let Some(note) = topology_after
            .guest_nodes
            .iter()
            .find_map(|g| g.policy_note.clone())
        {
            record.notes.push(format!("policy note: {note}"));
        }
        drop(outcome);
        self.placement = after;
        let fatal = self.tern.exited().is_some();
        MoveEnd { record, fatal }
    }

    /// Polls rebalance `id` to its end, firing the fault on the way. Returns its last status
    /// and, if it went wrong, the failure and what was being done.
    fn follow(
        &mut self,
        id: &str,
        fault: &mut FaultRun,
        started: Instant,
    ) -> (Option<RebalanceStatus>, Option<(Failure, &'static str)>) {
        let mut last: Option<RebalanceStatus> = None;
        let mut misses = 0;
        loop {
            let doing = match (fault.paused(), fault.outcome.fired_at_ms.is_some()) {
                (true, _) => "moving while paused",
                (false, true) => "moving after the fault",
                (false, false) => "moving",
            };
            if self.tern.exited().is_some() {
                let f = Failure::new(FailureKind::TernDied, "tern ended");
                return (last, Some((f, doing)));
            }
            if let Some(f) = self.stalled(fault.paused()) {
                return (last, Some((f, doing)));
            }
            let planned = last.as_ref().is_some_and(|s| s.pages_total > 0);
            fault.step(self.api, id, started.elapsed(), planned, &self.host.cpus);
            match self.api.status(id) {
                Ok(s) => {
                    misses = 0;
                    let ended =
                        !matches!(s.state, RebalanceState::Queued | RebalanceState::Running);
                    last = Some(s);
                    if ended {
                        return (last, None);
                    }
                }
                Err(e) => {
                    misses += 1;
                    if misses >= STATUS_TRIES {
                        let f = Failure::new(FailureKind::ApiError, e.to_string());
                        return (last, Some((f, doing)));
                    }
                }
            }
            if started.elapsed() > MOVE_LIMIT {
                let _ = self.api.cancel(id);
                let f = Failure::new(
                    FailureKind::MoveStuck,
                    format!(
                        "not ended after {} s; last status {}",
                        MOVE_LIMIT.as_secs(),
                        last.as_ref()
                            .and_then(|s| serde_json::to_string(s).ok())
                            .unwrap_or_default()
                    ),
                );
                return (last, Some((f, doing)));
            }
            thread::sleep(POLL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soak::seen::GuestVma;
    use crate::soak::verdict::tests::topology;
    use std::collections::BTreeMap;

    fn case(policy: Policy, fault: Fault) -> MoveCase {
        MoveCase {
            index: 0,
            method: Method::Mbind,
            policy,
            fault,
            target: 1,
            budget_mib: (policy == Policy::HotFirst).then_some(64),
            fault_at: 0.5,
            fill_before: true,
            pause_ms: 100,
            pin: (0, PinPlace::Anywhere),
        }
    }

    #[test]
    fn requests_say_what_each_policy_needs() {
        let r = request(&case(Policy::Interleave, Fault::None), 0);
        assert_eq!(
            r,
            json!({"policy": "interleave", "method": "mbind", "host_nodes": [1, 0]})
        );
        let r = request(&case(Policy::HotFirst, Fault::None), 0);
        assert_eq!(r["budget_mib"], 64);
        assert_eq!(r["host_node"], 1);
        let r = request(&case(Policy::FollowVcpus, Fault::None), 0);
        assert_eq!(r, json!({"policy": "follow-vcpus", "method": "mbind"}));
    }

    #[test]
    fn a_fill_goes_where_memory_is_coming_unless_a_guest_node_is_bound_there() {
        let before = HostPlacement {
            vmas: vec![GuestVma {
                start: 0,
                end: 1 << 30,
                policy: "bind:0".into(),
                numa_maps_on: BTreeMap::new(),
            }],
            pages_on: [(0, 60_000), (1, 10_000)].into(),
            absent: 0,
            unreadable: 0,
        };
        let to_node = case(Policy::ToNode, Fault::TargetFull);
        let plan = fill_plan(&to_node, 0, &before, &topology("bind", 0)).unwrap();
        assert_eq!((plan.node, plan.needed_mib), (1, 234));
        let bound = fill_plan(&to_node, 0, &before, &topology("bind", 1)).unwrap_err();
        assert_eq!(bound, "guest node 0 is bound to host node 1");
        assert!(fill_plan(&to_node, 0, &before, &topology("preferred", 1)).is_ok());
        let spread = fill_plan(
            &case(Policy::Interleave, Fault::TargetFull),
            0,
            &before,
            &topology("bind", 0),
        )
        .unwrap();
        assert_eq!((spread.node, spread.needed_mib), (1, 97));
        // A 64 MiB budget needs 64 MiB: just enough to be worth a fill.
        let hot = fill_plan(
            &case(Policy::HotFirst, Fault::TargetFull),
            0,
            &before,
            &topology("bind", 0),
        )
        .unwrap();
        assert_eq!(hot.needed_mib, 64);
        assert!(fill_plan(
            &case(Policy::ToNode, Fault::Cancel),
            0,
            &before,
            &topology("bind", 0)
        )
        .is_err());
    }

    #[test]
    fn estimates_learn_the_time_per_page() {
        let mut e = Estimate::default();
        let first = e.of(Method::MovePages, 10_000);
        assert_eq!(first, Duration::from_millis(1100));
        for _ in 0..30 {
            e.learn(Method::MovePages, 10_000, 3300);
        }
        let learnt = e.of(Method::MovePages, 10_000).as_millis();
        assert!((3250..=3300).contains(&learnt), "{learnt}");
        assert_eq!(
            e.of(Method::Mbind, 10_000),
            first,
            "each method learns its own"
        );
        e.learn(Method::Mbind, 10, 100_000);
        assert_eq!(
            e.of(Method::Mbind, 10_000),
            first,
            "tiny moves teach nothing"
        );
    }
}
