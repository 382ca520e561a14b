//! The engine against a fake VM: every way out of a rebalance (done, cancelled, target full,
//! a failed call, a failed policy change, a shutdown) leaves every region's memory policy as
//! it should be.

use std::collections::HashMap;
use std::io;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::job::JobState;
use super::mode::{MoveMode, Pace};
use super::*;
use crate::chunk::CHUNK_BYTES;
use crate::guest::{MemoryRegion, VcpuThread};
use crate::host::FixedHost;
use crate::mempolicy::MemPolicy;
use crate::mover::DEFAULT_BATCH_PAGES;
use crate::placement::PAGE_SIZE;
use crate::topology::{HostNode, HostTopology};

const MIB: u64 = 1 << 20;
/// Each region: 4 chunks.
const REGION_LEN: u64 = 4 * CHUNK_BYTES;

/// Two regions (guest nodes 0 and 1) bound to host node 0, every page on node 0.
struct FakeVm {
    policies: Mutex<Vec<MemPolicy>>,
    nodes: Mutex<HashMap<u64, i32>>,
    /// A set_region_policy call that fails: (region, policy).
    refuse: Mutex<Option<(usize, MemPolicy)>>,
    /// Every move call fails with this errno.
    move_errno: Mutex<Option<i32>>,
    /// Pages node 1 can still take.
    room: Mutex<Option<u64>>,
    /// While true, move calls wait (after saying they entered).
    gate: Mutex<(bool, bool)>,
    gate_changed: Condvar,
    /// Pause calls and resume calls, and whether the VM is paused now.
    pauses: Mutex<(u32, u32, bool)>,
    /// Pages a query finds arrived on a region's migrate-on-touch node since the last one
    /// (the guest touching them).
    touched_per_query: Mutex<usize>,
}

fn host_addr(region: usize) -> u64 {
    0x7f00_0000_0000 + region as u64 * 0x1000_0000
}

impl FakeVm {
    fn new() -> Self {
        let mut nodes = HashMap::new();
        for region in 0..2 {
            for page in 0..REGION_LEN / PAGE_SIZE {
                nodes.insert(host_addr(region) + page * PAGE_SIZE, 0);
            }
        }
        Self {
            policies: Mutex::new(vec![MemPolicy::Bind(0); 2]),
            nodes: Mutex::new(nodes),
            refuse: Mutex::default(),
            move_errno: Mutex::default(),
            room: Mutex::default(),
            gate: Mutex::new((false, false)),
            gate_changed: Condvar::new(),
            pauses: Mutex::default(),
            touched_per_query: Mutex::default(),
        }
    }

    /// Moves up to `touched_per_query` pages of regions bound with migrate-on-touch to
    /// their node, as the guest's touches would.
    fn touch_some(&self) {
        let count = *self.touched_per_query.lock().unwrap();
        let policies = self.policies();
        let mut map = self.nodes.lock().unwrap();
        let mut left = count;
        for (region, policy) in policies.iter().enumerate() {
            let MemPolicy::BindOnTouch(node) = policy else {
                continue;
            };
            for page in 0..REGION_LEN / PAGE_SIZE {
                if left == 0 {
                    return;
                }
                let addr = host_addr(region) + page * PAGE_SIZE;
                if let Some(n) = map.get_mut(&addr) {
                    if *n != *node as i32 {
                        *n = *node as i32;
                        left -= 1;
                    }
                }
            }
        }
    }

    fn policies(&self) -> Vec<MemPolicy> {
        self.policies.lock().unwrap().clone()
    }

    fn on(&self, node: i32) -> usize {
        self.nodes
            .lock()
            .unwrap()
            .values()
            .filter(|n| **n == node)
            .count()
    }

    fn close_gate(&self) {
        *self.gate.lock().unwrap() = (true, false);
    }

    fn wait_until_a_move_waits(&self) {
        let mut gate = self.gate.lock().unwrap();
        while !gate.1 {
            gate = self.gate_changed.wait(gate).unwrap();
        }
    }

    fn open_gate(&self) {
        self.gate.lock().unwrap().0 = false;
        self.gate_changed.notify_all();
    }
}

impl GuestView for FakeVm {
    fn regions(&self) -> Vec<MemoryRegion> {
        let policies = self.policies();
        (0..2)
            .map(|i| MemoryRegion {
                guest_node: i as u32,
                guest_addr: i as u64 * REGION_LEN,
                len: REGION_LEN,
                host_addr: host_addr(i),
                policy: policies[i].clone(),
                hugetlb: false,
            })
            .collect()
    }

    fn set_region_policy(&self, index: usize, policy: MemPolicy) -> io::Result<()> {
        if *self.refuse.lock().unwrap() == Some((index, policy.clone())) {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.policies.lock().unwrap()[index] = policy;
        Ok(())
    }

    fn move_range(&self, addr: u64, len: u64, policy: &MemPolicy) -> io::Result<()> {
        let node = policy
            .node()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOSYS))?;
        let mut map = self.nodes.lock().unwrap();
        for (a, n) in map.iter_mut() {
            if *a >= addr && *a < addr + len {
                *n = node as i32;
            }
        }
        Ok(())
    }

    fn set_dirty_logging(&self, _: bool) -> io::Result<()> {
        Ok(())
    }

    fn take_dirty_bitmap(&self, _: usize, _: Option<&[u64]>) -> io::Result<Vec<u64>> {
        Ok(vec![0; (REGION_LEN / PAGE_SIZE / 64) as usize])
    }

    fn rearms_selectively(&self) -> bool {
        false
    }

    fn vcpu_threads(&self) -> Vec<VcpuThread> {
        Vec::new()
    }

    fn pause_vcpus(&self) -> io::Result<bool> {
        let mut p = self.pauses.lock().unwrap();
        if p.2 {
            return Ok(false);
        }
        p.0 += 1;
        p.2 = true;
        Ok(true)
    }

    fn resume_vcpus(&self) {
        let mut p = self.pauses.lock().unwrap();
        p.1 += 1;
        p.2 = false;
    }

    fn touch(&self, _: u64) {}
}

impl PageMover for FakeVm {
    fn move_pages(
        &self,
        pages: &[u64],
        nodes: Option<&[i32]>,
        status: &mut [i32],
    ) -> io::Result<usize> {
        let Some(nodes) = nodes else {
            self.touch_some();
            let map = self.nodes.lock().unwrap();
            for (p, s) in pages.iter().zip(status.iter_mut()) {
                *s = map.get(p).copied().unwrap_or(-libc::ENOENT);
            }
            return Ok(0);
        };
        {
            let mut gate = self.gate.lock().unwrap();
            if gate.0 {
                gate.1 = true;
                self.gate_changed.notify_all();
            }
            while gate.0 {
                gate = self.gate_changed.wait(gate).unwrap();
            }
        }
        if let Some(errno) = *self.move_errno.lock().unwrap() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let mut map = self.nodes.lock().unwrap();
        let mut room = self.room.lock().unwrap();
        for ((p, n), s) in pages.iter().zip(nodes).zip(status.iter_mut()) {
            if room.is_some_and(|left| left == 0) {
                *s = -libc::ENOMEM;
                continue;
            }
            map.insert(*p, *n);
            if let Some(left) = room.as_mut() {
                *left -= 1;
            }
            *s = *n;
        }
        Ok(0)
    }

    fn resident(&self, addr: u64, resident: &mut [u8]) -> io::Result<()> {
        let map = self.nodes.lock().unwrap();
        for (i, r) in resident.iter_mut().enumerate() {
            *r = u8::from(map.contains_key(&(addr + i as u64 * PAGE_SIZE)));
        }
        Ok(())
    }
}

fn host(free1_mib: u64) -> HostTopology {
    let node = |id: u32, free: u64| HostNode {
        id,
        cpus: vec![id],
        total_bytes: 1024 * MIB,
        free_bytes: free * MIB,
        free_huge_pages_2m: 0,
        distances: vec![10, 20],
    };
    HostTopology {
        nodes: vec![node(0, 900), node(1, free1_mib)],
    }
}

fn balancer(vm: &Arc<FakeVm>, free1_mib: u64) -> Balancer {
    Balancer::new(vm.clone(), vm.clone(), Arc::new(FixedHost(host(free1_mib))))
}

fn to_node_1(guest_node: Option<u32>) -> RebalanceParams {
    RebalanceParams {
        policy: PolicyRequest::ToNode {
            host_node: 1,
            guest_node,
        },
        method: Method::MovePages {
            batch_pages: DEFAULT_BATCH_PAGES,
            workers: 1,
        },
        rate_limit: None,
        mode: MoveMode::Live,
        pace: Pace::Fixed,
    }
}

fn with_mode(mode: MoveMode, guest_node: Option<u32>) -> RebalanceParams {
    RebalanceParams {
        mode,
        ..to_node_1(guest_node)
    }
}

fn wait_for_end(b: &Balancer, id: &str) -> JobReport {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let report = b.report(id).unwrap();
        if report.state.is_final() {
            return report;
        }
        assert!(Instant::now() < deadline, "the job never ended: {report:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn done_binds_the_moved_guest_node_to_the_target_when_it_fits_whole() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    let id = b.start(to_node_1(Some(0)), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(1), MemPolicy::Bind(0)]);
    assert_eq!(vm.on(1), 2048);
    assert_eq!(report.progress.pages_moved, 2048);
    assert_eq!(b.binding_note(0), None);
}

#[test]
fn done_leaves_a_guest_node_preferring_a_target_without_room_for_all_of_it() {
    let vm = Arc::new(FakeVm::new());
    // 8 MiB moves; node 1 has 40 MiB free, less than the 64 MiB margin.
    let b = balancer(&vm, 40);
    let id = b.start(to_node_1(Some(1)), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(
        vm.policies(),
        vec![MemPolicy::Bind(0), MemPolicy::Preferred(1)]
    );
    let note = b.binding_note(1).expect("a note for guest node 1");
    assert!(note.contains("prefers host node 1"), "{note}");
    assert_eq!(report.message.as_deref(), Some(note.as_str()));
}

#[test]
fn cancelled_puts_every_policy_back() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    vm.close_gate();
    let id = b.start(to_node_1(None), "to-node").unwrap().id;
    vm.wait_until_a_move_waits();
    assert_eq!(
        vm.policies(),
        vec![MemPolicy::Preferred(1); 2],
        "while moving"
    );
    b.cancel(&id).unwrap();
    vm.open_gate();
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Cancelled, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert!(
        report.message.unwrap().contains("policies were put back"),
        "the message says so"
    );
}

#[test]
fn a_full_target_puts_every_policy_back_and_counts_what_stayed() {
    let vm = Arc::new(FakeVm::new());
    *vm.room.lock().unwrap() = Some(100);
    let b = balancer(&vm, 800);
    let id = b.start(to_node_1(None), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Failed, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert_eq!(report.progress.pages_moved, vm.on(1) as u64);
    assert_eq!(
        report.progress.pages_moved + report.progress.pages_failed,
        report.progress.pages_total
    );
    assert!(report.message.unwrap().contains("ENOMEM"));
}

#[test]
fn a_failed_call_puts_every_policy_back() {
    let vm = Arc::new(FakeVm::new());
    *vm.move_errno.lock().unwrap() = Some(libc::EPERM);
    let b = balancer(&vm, 800);
    let id = b.start(to_node_1(None), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Failed, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert_eq!(vm.on(0), 4096, "nothing moved");
}

#[test]
fn a_failed_policy_change_puts_back_the_regions_already_changed() {
    let vm = Arc::new(FakeVm::new());
    *vm.refuse.lock().unwrap() = Some((1, MemPolicy::Preferred(1)));
    let b = balancer(&vm, 800);
    let id = b.start(to_node_1(None), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Failed, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert_eq!(vm.on(0), 4096, "nothing moved");
    assert!(report.message.unwrap().contains("nothing moved"));
}

#[test]
fn a_failed_final_policy_puts_that_region_back() {
    let vm = Arc::new(FakeVm::new());
    *vm.refuse.lock().unwrap() = Some((0, MemPolicy::Bind(1)));
    let b = balancer(&vm, 800);
    let id = b.start(to_node_1(Some(0)), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Failed, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert_eq!(vm.on(1), 2048, "what moved stays moved");
}

#[test]
fn a_shutdown_during_a_move_cancels_it_puts_every_policy_back_and_joins() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    vm.close_gate();
    let id = b.start(to_node_1(None), "to-node").unwrap().id;
    vm.wait_until_a_move_waits();
    let opener = {
        let vm = vm.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            vm.open_gate();
        })
    };
    let interrupted = b.shut_down().expect("the running job is reported");
    opener.join().unwrap();
    assert_eq!(interrupted.id, id);
    assert_eq!(interrupted.state, JobState::Cancelled, "{interrupted:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert!(b.shut_down().is_none(), "nothing runs any more");
}

#[test]
fn an_operators_move_is_held_from_automatic_balancing() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    b.hold_at_launch(1, 0);
    let id = b.start(to_node_1(Some(0)), "to-node").unwrap().id;
    wait_for_end(&b, &id);
    let holds = b.auto().holds;
    assert_eq!(holds.len(), 2, "{holds:?}");
    assert!(holds[0].reason.contains(&format!("rebalance {id}")));
    assert!(holds[1].reason.contains("at launch"));
    // Enabling automatic balancing again releases them.
    b.set_auto(true, Some(Duration::from_secs(60)), None)
        .unwrap();
    assert!(b.auto().holds.is_empty());
    b.shut_down();
}

#[test]
fn the_host_balancers_move_holds_nothing() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    let report = b
        .start_as(to_node_1(Some(0)), "to-node", JobOrigin::HostBalancer)
        .unwrap();
    assert_eq!(report.origin, JobOrigin::HostBalancer);
    let ended = wait_for_end(&b, &report.id);
    assert_eq!(ended.state, JobState::Done, "{ended:?}");
    assert!(b.auto().holds.is_empty(), "{:?}", b.auto().holds);
    b.shut_down();
}

#[test]
fn automatic_moves_are_live_and_paced_by_the_guest_under_their_rate() {
    let params = auto_loop::automatic_move(1, 64 << 20);
    assert_eq!((params.mode, params.pace), (MoveMode::Live, Pace::Guest));
    assert_eq!(params.rate_limit, Some(64 << 20));
    assert!(matches!(
        params.policy,
        PolicyRequest::FollowVcpus {
            guest_node: Some(1)
        }
    ));
}

#[test]
fn automatic_balancing_needs_room_for_the_whole_guest_node_less_what_is_there() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 0);
    let region = REGION_LEN;
    // Every page of guest node 0 is on host node 0: it needs all of itself on node 1.
    let room = auto_loop::room_for(&b.inner, &host(100), 0, 1);
    assert_eq!((room.need, room.margin), (region, 64 * MIB));
    assert_eq!(room.fits(), region + 64 * MIB <= 100 * MIB);
    assert!(!auto_loop::room_for(&b.inner, &host(0), 0, 1).fits());
    let room = auto_loop::room_for(&b.inner, &host(0), 0, 0);
    assert_eq!(room.need, 0, "it is all there already");
    assert!(room.fits());
    assert!(room
        .shortfall("it may need there")
        .starts_with("host node 0 has 900 MiB free, less than the 0 MiB it may need there"));
}

#[test]
fn heat_sampling_the_operator_turned_on_survives_a_warm_up() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    {
        let _warmup = b.inner.heat.warm_up().unwrap();
        assert!(b.heat_state().running);
        b.set_heat(true, Some(Duration::from_millis(100))).unwrap();
    }
    assert!(b.heat_state().running, "the operator's sampling goes on");
    let warmup = b.inner.heat.warm_up().unwrap();
    b.set_heat(false, None).unwrap();
    assert!(b.heat_state().running, "the warm-up's sampling goes on");
    drop(warmup);
    assert!(!b.heat_state().running);
    b.shut_down();
}

#[test]
fn a_paused_move_resumes_the_vcpus_when_done_and_reports_the_pause() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    let id = b
        .start(with_mode(MoveMode::Paused, Some(0)), "to-node")
        .unwrap()
        .id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(*vm.pauses.lock().unwrap(), (1, 1, false));
    assert!(report.paused.is_some(), "{report:?}");
    assert_eq!(vm.on(1), 2048);
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(1), MemPolicy::Bind(0)]);
}

#[test]
fn a_paused_move_resumes_the_vcpus_when_cancelled_or_failed() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    vm.close_gate();
    let id = b
        .start(with_mode(MoveMode::Paused, None), "to-node")
        .unwrap()
        .id;
    vm.wait_until_a_move_waits();
    assert_eq!(
        *vm.pauses.lock().unwrap(),
        (1, 0, true),
        "paused while moving"
    );
    b.cancel(&id).unwrap();
    vm.open_gate();
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Cancelled, "{report:?}");
    assert_eq!(*vm.pauses.lock().unwrap(), (1, 1, false));
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);

    *vm.move_errno.lock().unwrap() = Some(libc::EPERM);
    let id = b
        .start(with_mode(MoveMode::Paused, None), "to-node")
        .unwrap()
        .id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Failed, "{report:?}");
    assert_eq!(*vm.pauses.lock().unwrap(), (2, 2, false));
}

#[test]
fn a_paused_move_leaves_a_vm_the_operator_paused_paused() {
    let vm = Arc::new(FakeVm::new());
    vm.pauses.lock().unwrap().2 = true;
    let b = balancer(&vm, 800);
    let id = b
        .start(with_mode(MoveMode::Paused, Some(0)), "to-node")
        .unwrap()
        .id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(*vm.pauses.lock().unwrap(), (0, 0, true));
    assert_eq!(report.paused, Some(Duration::ZERO));
}

#[test]
fn a_lazy_move_counts_pages_as_they_arrive_and_settles_without_the_flag() {
    let vm = Arc::new(FakeVm::new());
    *vm.touched_per_query.lock().unwrap() = 700;
    let b = balancer(&vm, 800);
    let lazy = MoveMode::Lazy { sweep_after: None };
    let id = b.start(with_mode(lazy, Some(0)), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(report.progress.pages_moved, 2048);
    assert_eq!(report.progress.pages_total, 2048);
    assert_eq!(vm.on(1), 2048);
    assert_eq!(
        vm.policies(),
        vec![MemPolicy::Bind(1), MemPolicy::Bind(0)],
        "the flag is gone, the binding rules decided"
    );
    assert!(report.message.unwrap().contains("moved on touch"));
}

#[test]
fn a_lazy_move_sweeps_what_the_guest_never_touched() {
    let vm = Arc::new(FakeVm::new());
    *vm.touched_per_query.lock().unwrap() = 100;
    let b = balancer(&vm, 800);
    let lazy = MoveMode::Lazy {
        sweep_after: Some(Duration::from_millis(200)),
    };
    let id = b.start(with_mode(lazy, Some(0)), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(report.progress.pages_moved, 2048, "{report:?}");
    assert_eq!(vm.on(1), 2048);
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(1), MemPolicy::Bind(0)]);
    assert!(report.message.unwrap().contains("by the sweep"));
}

#[test]
fn a_cancelled_lazy_move_puts_the_policies_back_and_keeps_what_arrived() {
    let vm = Arc::new(FakeVm::new());
    *vm.touched_per_query.lock().unwrap() = 10;
    let b = balancer(&vm, 800);
    let lazy = MoveMode::Lazy { sweep_after: None };
    let id = b.start(with_mode(lazy, None), "to-node").unwrap().id;
    let deadline = Instant::now() + Duration::from_secs(10);
    while vm.policies() != vec![MemPolicy::BindOnTouch(1); 2] {
        assert!(Instant::now() < deadline, "never pointed at the target");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(1200));
    b.cancel(&id).unwrap();
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Cancelled, "{report:?}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert!(report.progress.pages_moved > 0, "{report:?}");
    assert!(report.progress.pages_moved <= vm.on(1) as u64, "{report:?}");
}

#[test]
fn a_lazy_move_is_refused_where_the_target_cannot_hold_the_guest_node() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 40);
    let lazy = MoveMode::Lazy { sweep_after: None };
    let id = b.start(with_mode(lazy, Some(0)), "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Failed, "{report:?}");
    let message = report.message.unwrap();
    assert!(message.contains("the live mode moves it"), "{message}");
    assert_eq!(vm.policies(), vec![MemPolicy::Bind(0); 2]);
    assert_eq!(vm.on(0), 4096, "nothing moved");
}

#[test]
fn a_guest_paced_move_reports_its_rate_and_completes() {
    let vm = Arc::new(FakeVm::new());
    let b = balancer(&vm, 800);
    let params = RebalanceParams {
        pace: Pace::Guest,
        ..to_node_1(Some(0))
    };
    let id = b.start(params, "to-node").unwrap().id;
    let report = wait_for_end(&b, &id);
    assert_eq!(report.state, JobState::Done, "{report:?}");
    assert_eq!(report.pace_rate, Some(crate::mover::pace::START_RATE));
    assert_eq!(vm.on(1), 2048);
}
