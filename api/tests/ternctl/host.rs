//! `ternctl host` and `ternctl host balance` against several fake VMMs behind real API
//! servers in one directory, sharing one fake host, next to sockets that refuse, do not speak
//! Tern's API, or never answer.
//!
//! The host: node 0 (CPUs 0-1) with 100 MiB free, node 1 (CPUs 2-3) with 600 MiB free, 1 GiB
//! each. VM `a` (300 MiB) has its vCPU pinned to node 0 by an operator and its memory on node
//! 1; VM `b` (300 MiB) has its memory on node 0 and a vCPU the scheduler runs there; VM `c`
//! has automatic balancing off. The balancer should move `b` to node 1 (pin and memory) to
//! make room for `a` on node 0.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use api::model::*;
use api::request::{channel, ApiError, ErrorKind, VmRequest, VmRequests, VmResponse};
use api::server::{socket::bind_api_socket, ApiServer};
use vmm_sys_util::tempdir::TempDir;

use super::{result, succeeds, ternctl};

const PAGE: u64 = 4096;
const MIB_PAGES: u64 = 256;

/// The host all fakes share: free MiB per node.
#[derive(Debug)]
struct FakeHost {
    free: [u64; 2],
}

/// What a fake VM was asked to do.
#[derive(Clone, Debug, PartialEq)]
enum Asked {
    Pin(u32, u32),
    Rebalance(RebalanceRequest),
    Cancel(String),
}

/// A fake VM: one guest node with one vCPU.
#[derive(Debug)]
struct FakeVm {
    name: &'static str,
    size_mib: u64,
    /// MiB per host node.
    on: [u64; 2],
    affinity: Vec<u32>,
    runs_on: u32,
    auto: bool,
    /// A rebalance: its request, reads so far, state; moves finish on the second read unless
    /// `slow`.
    rebalance: Option<(RebalanceRequest, u64, RebalanceState)>,
    slow: bool,
    asked: Vec<Asked>,
}

impl FakeVm {
    fn new(name: &'static str, on: [u64; 2], affinity: Vec<u32>, runs_on: u32) -> Self {
        Self {
            name,
            size_mib: 300,
            on,
            affinity,
            runs_on,
            auto: true,
            rebalance: None,
            slow: false,
            asked: Vec::new(),
        }
    }

    fn status(&self) -> Option<RebalanceStatus> {
        let (req, reads, state) = self.rebalance.as_ref()?;
        let total = self.size_mib * MIB_PAGES;
        let moved = if *state == RebalanceState::Done {
            total
        } else {
            total / 4 * (*reads).min(3)
        };
        Some(RebalanceStatus {
            id: "rb-1".into(),
            policy: req.policy.unwrap_or(RebalancePolicy::ToNode),
            origin: RebalanceOrigin::HostBalancer,
            mode: RebalanceMode::Live,
            pace: RebalancePace::Fixed,
            state: *state,
            pages_total: total,
            pages_moved: moved,
            pages_failed: 0,
            failed_by_reason: BTreeMap::new(),
            bytes_moved: moved * PAGE,
            elapsed_ms: 100 * reads,
            paused_ms: None,
            pace_mib_per_s: None,
            message: None,
        })
    }

    fn answer(
        &mut self,
        request: VmRequest,
        host: &Mutex<FakeHost>,
    ) -> Result<VmResponse, ApiError> {
        let free = host.lock().unwrap().free;
        match request {
            VmRequest::GetVm => Ok(VmResponse::Vm(VmInfo {
                name: self.name.into(),
                state: VmState::Running,
                vcpus: 1,
                memory_mib: self.size_mib,
                guest_nodes: vec![GuestNodeSummary {
                    id: 0,
                    vcpus: vec![0],
                    memory_mib: self.size_mib,
                    host_node: None,
                    policy: "local".into(),
                }],
                uptime_ms: 1000,
                devices: Vec::new(),
            })),
            VmRequest::GetTopology => Ok(VmResponse::Topology(TopologyInfo {
                host_nodes: (0..2)
                    .map(|id| HostNodeInfo {
                        id,
                        cpus: vec![2 * id, 2 * id + 1],
                        total_mib: 1024,
                        free_mib: free[id as usize],
                        distances: vec![10, 20],
                    })
                    .collect(),
                guest_nodes: Vec::new(),
            })),
            VmRequest::GetPlacement => Ok(VmResponse::Placement(PlacementInfo {
                page_size: PAGE,
                guest_nodes: vec![GuestNodePlacement {
                    id: 0,
                    pages: self.size_mib * MIB_PAGES,
                    sampled: self.size_mib * MIB_PAGES,
                    sampled_fraction: 1.0,
                    host_nodes: (0..2)
                        .filter(|n| self.on[*n as usize] > 0)
                        .map(|n| HostNodePages {
                            host_node: n,
                            pages: self.on[n as usize] * MIB_PAGES,
                        })
                        .collect(),
                    absent: 0,
                    unknown: 0,
                }],
                vcpus: vec![VcpuPlacement {
                    id: 0,
                    host_cpu: Some(2 * self.runs_on),
                    host_node: Some(self.runs_on),
                    affinity: self.affinity.clone(),
                }],
            })),
            VmRequest::GetAutoBalance => Ok(VmResponse::AutoBalance(AutoBalanceInfo {
                enabled: self.auto,
                interval_ms: 2000,
                max_mib_per_s: 256.0,
                rebalances_started: 0,
                last_decision: None,
                holds: Vec::new(),
            })),
            VmRequest::SetAffinity { vcpu, affinity } => {
                let node = affinity.host_node.unwrap_or(0);
                self.asked.push(Asked::Pin(vcpu, node));
                self.affinity = vec![2 * node, 2 * node + 1];
                self.runs_on = node;
                Ok(VmResponse::Vcpu(VcpuInfo {
                    id: vcpu,
                    guest_node: 0,
                    thread_id: 1,
                    host_cpu: Some(2 * node),
                    host_node: Some(node),
                    affinity: self.affinity.clone(),
                    affinity_source: AffinitySource::Pin,
                    exits: 0,
                }))
            }
            VmRequest::StartRebalance(req) => {
                self.asked.push(Asked::Rebalance(req.clone()));
                self.rebalance = Some((req, 0, RebalanceState::Running));
                Ok(VmResponse::RebalanceAccepted(RebalanceAccepted {
                    id: "rb-1".into(),
                    warning: None,
                }))
            }
            VmRequest::GetRebalance(_) => {
                if let Some((req, reads, state)) = self.rebalance.as_mut() {
                    *reads += 1;
                    if *reads >= 2 && !self.slow && *state == RebalanceState::Running {
                        *state = RebalanceState::Done;
                        let to = req.host_node.unwrap_or(0) as usize;
                        let mut host = host.lock().unwrap();
                        host.free[1 - to] += self.on[1 - to];
                        host.free[to] -= self.on[1 - to];
                        self.on = [0, 0];
                        self.on[to] = self.size_mib;
                    }
                }
                self.status()
                    .map(VmResponse::Rebalance)
                    .ok_or_else(|| ApiError::new(ErrorKind::NotFound, "there is no rebalance"))
            }
            VmRequest::CancelRebalance(id) => {
                self.asked.push(Asked::Cancel(id));
                if let Some((_, _, state)) = self.rebalance.as_mut() {
                    *state = RebalanceState::Cancelled;
                }
                Ok(VmResponse::Rebalance(self.status().unwrap()))
            }
            other => Err(ApiError::new(
                ErrorKind::Internal,
                format!("not in the fake: {other:?}"),
            )),
        }
    }
}

/// A fake VM behind a real API server on `dir/<name>.sock`.
struct Served {
    vm: Arc<Mutex<FakeVm>>,
    server: Option<ApiServer>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn serve(dir: &Path, vm: FakeVm, host: &Arc<Mutex<FakeHost>>) -> Served {
    let path = dir.join(format!("{}.sock", vm.name));
    let vm = Arc::new(Mutex::new(vm));
    let (handle, requests) = channel().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (vm, host, stop) = (vm.clone(), host.clone(), stop.clone());
        std::thread::spawn(move || answer_all(&requests, &vm, &host, &stop))
    };
    let server = api::server::start(bind_api_socket(&path).unwrap(), path, handle).unwrap();
    Served {
        vm,
        server: Some(server),
        stop,
        thread: Some(thread),
    }
}

fn answer_all(
    requests: &VmRequests,
    vm: &Mutex<FakeVm>,
    host: &Mutex<FakeHost>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        for pending in requests.drain() {
            let reply = vm.lock().unwrap().answer(pending.request, host);
            let _ = pending.reply.send(reply);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The host of the module's scenario, with three sockets that give no answer: one nobody
/// listens on any more, one that speaks something else, one that never answers.
struct Scenario {
    dir: TempDir,
    vms: Vec<Served>,
    _silent: UnixListener,
    talker: Option<JoinHandle<()>>,
    talker_done: Arc<AtomicBool>,
}

impl Scenario {
    fn new() -> Self {
        let dir = TempDir::new_with_prefix("/tmp/ternctl-host-").unwrap();
        let d = dir.as_path();
        let host = Arc::new(Mutex::new(FakeHost { free: [100, 600] }));
        let a = FakeVm::new("a", [0, 300], vec![0, 1], 0);
        let b = FakeVm::new("b", [300, 0], vec![0, 1, 2, 3], 0);
        let mut c = FakeVm::new("c", [0, 200], vec![0, 1, 2, 3], 0);
        c.auto = false;
        let vms = vec![serve(d, a, &host), serve(d, b, &host), serve(d, c, &host)];
        drop(UnixListener::bind(d.join("gone.sock")).unwrap());
        let silent = UnixListener::bind(d.join("silent.sock")).unwrap();
        let other = UnixListener::bind(d.join("other.sock")).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let talker = {
            let done = done.clone();
            std::thread::spawn(move || {
                while let Ok((mut stream, _)) = other.accept() {
                    if done.load(Ordering::SeqCst) {
                        return;
                    }
                    let _ = stream.write_all(b"220 welcome to something else\r\n");
                }
            })
        };
        std::fs::write(d.join("notes.txt"), "not a socket").unwrap();
        Self {
            dir,
            vms,
            _silent: silent,
            talker: Some(talker),
            talker_done: done,
        }
    }

    fn dir(&self) -> &str {
        self.dir.as_path().to_str().unwrap()
    }

    fn asked(&self, vm: usize) -> Vec<Asked> {
        self.vms[vm].vm.lock().unwrap().asked.clone()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        // The talker waits for a connection; one more ends it.
        self.talker_done.store(true, Ordering::SeqCst);
        let _ = std::os::unix::net::UnixStream::connect(self.dir.as_path().join("other.sock"));
        if let Some(t) = self.talker.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn the_host_view_shows_nodes_vms_and_every_socket_that_did_not_answer() {
    let s = Scenario::new();
    let started = Instant::now();
    let text = succeeds(&ternctl(
        &["host", "--dir", s.dir(), "--timeout", "1"],
        None,
    ));
    let took = started.elapsed();
    println!("{text}");
    assert!(
        took < Duration::from_secs(5),
        "asked one after another? {took:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "HOST NODE  CPUS  MEMORY     FREE  GUEST MEMORY",
            "0          0-1    1 GiB  100 MiB  b 300 MiB",
            "1          2-3    1 GiB  600 MiB  a 300 MiB, c 200 MiB",
        ]
    );
    let row = |vm: &str| {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{vm} ")))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap()
    };
    assert_eq!(
        row("a"),
        "a running on 0 300 MiB N1 300 MiB N0 0 pinned 0.0% -"
    );
    assert_eq!(row("b"), "b running on 0 300 MiB N0 300 MiB N0 0 100.0% -");
    assert_eq!(row("c"), "c running off 0 300 MiB N1 200 MiB N0 0 0.0% -");
    let why = |socket: &str| {
        lines
            .iter()
            .find(|l| l.contains(&format!("/{socket}.sock ")))
            .copied()
            .unwrap_or_default()
    };
    assert!(why("gone").contains("refuses connections"), "{text}");
    assert!(why("other").contains("does not speak Tern's API"), "{text}");
    assert!(
        why("silent").contains("does not answer within 1 s"),
        "{text}"
    );
    assert!(!text.contains("notes"), "{text}");
}

#[test]
fn the_host_view_as_json() {
    let s = Scenario::new();
    let json = succeeds(&ternctl(
        &["--json", "host", "--dir", s.dir(), "--timeout", "1"],
        None,
    ));
    let view: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(view["host_nodes"][1]["free_mib"], 600);
    assert_eq!(view["host_nodes"][1]["vms"][0]["vm"], "a");
    assert_eq!(view["vms"].as_array().unwrap().len(), 3);
    let a = &view["vms"][0];
    assert_eq!(
        (a["name"].as_str(), a["auto_balance"].as_bool()),
        (Some("a"), Some(true))
    );
    assert_eq!(
        a["guest_nodes"][0]["memory_on"][0],
        serde_json::json!({"host_node": 1, "mib": 300})
    );
    assert_eq!(a["guest_nodes"][0]["vcpus"][0]["pinned_to"], 0);
    assert_eq!(a["guest_nodes"][0]["vcpu_node"], 0);
    assert_eq!(a["guest_nodes"][0]["local_share"], 0.0);
    assert_eq!(view["unanswered"].as_array().unwrap().len(), 3);
}

#[test]
fn a_dry_run_prints_the_whole_plan_and_asks_nothing() {
    let s = Scenario::new();
    let text = succeeds(&ternctl(
        &[
            "host",
            "balance",
            "--dir",
            s.dir(),
            "--once",
            "--dry-run",
            "--timeout",
            "1",
        ],
        None,
    ));
    println!("{text}");
    assert!(text.starts_with("pass 1: 3 VMs answered, 3 did not; host node 0 100 MiB free, host node 1 600 MiB free\n"), "{text}");
    assert!(
        text.contains("  leave c: automatic balancing is off"),
        "{text}"
    );
    assert!(text.contains("  step 1: makes room for a guest node 0 on host node 0, where its vCPUs run: host node 0 has 100 MiB free, less than the 300 MiB it needs plus a 64 MiB margin; moving b guest node 0 and its vCPUs to host node 1 frees 300 MiB\n    pin b guest node 0 vCPUs 0 to host node 1\n    move b guest node 0 to host node 1 (300 MiB)\n"), "{text}");
    assert!(text.contains("  step 2: a guest node 0: its vCPUs run on host node 0 and 300 MiB of its memory is elsewhere; host node 0 has 400 MiB free, room for the 300 MiB it needs plus a 64 MiB margin\n    move a guest node 0 to host node 0 (300 MiB)\n"), "{text}");
    for vm in 0..3 {
        assert!(s.asked(vm).is_empty(), "a dry run asked {:?}", s.asked(vm));
    }
}

#[test]
fn a_pass_carries_out_the_first_step_only_through_the_api() {
    let s = Scenario::new();
    let text = succeeds(&ternctl(
        &[
            "host",
            "balance",
            "--dir",
            s.dir(),
            "--once",
            "--max-mib-per-s",
            "64",
            "--timeout",
            "1",
        ],
        None,
    ));
    println!("{text}");
    assert!(
        text.contains("  now: makes room for a guest node 0"),
        "{text}"
    );
    assert!(!text.contains("step 2"), "{text}");
    assert!(
        text.contains("  done: pinned b vCPUs 0 to host node 1\n"),
        "{text}"
    );
    assert!(text.contains("  done: b: rb-1 moved 300 MiB in "), "{text}");
    let asked = s.asked(1);
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0], Asked::Pin(0, 1));
    let Asked::Rebalance(req) = &asked[1] else {
        panic!("{asked:?}")
    };
    assert_eq!(
        (
            req.policy,
            req.host_node,
            req.guest_node,
            req.max_mib_per_s,
            req.origin
        ),
        (
            Some(RebalancePolicy::ToNode),
            Some(1),
            Some(0),
            Some(64.0),
            Some(RequestOrigin::HostBalancer)
        )
    );
    assert!(s.asked(0).is_empty() && s.asked(2).is_empty());
    // The next pass brings a's memory to its vCPUs, into the room b left.
    let pass = || {
        let args = [
            "host",
            "balance",
            "--dir",
            s.dir(),
            "--once",
            "--timeout",
            "1",
        ];
        succeeds(&ternctl(&args, None))
    };
    let text = pass();
    assert!(text.contains("  done: a: rb-1 moved 300 MiB"), "{text}");
    let text = pass();
    assert!(text.contains("  nothing to do\n"), "{text}");
}

#[test]
fn sigterm_during_a_move_cancels_it_and_exits_cleanly() {
    let s = Scenario::new();
    s.vms[1].vm.lock().unwrap().slow = true;
    let child = Command::new(env!("CARGO_BIN_EXE_ternctl"))
        .args([
            "host",
            "balance",
            "--dir",
            s.dir(),
            "--interval",
            "60",
            "--timeout",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.asked(1).iter().any(|a| matches!(a, Asked::Rebalance(_))) {
        assert!(Instant::now() < deadline, "no move started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill(2) on the child's pid, which is still ours to signal (not yet waited for).
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let output = child.wait_with_output().unwrap();
    let (code, stdout, stderr) = result(&output);
    println!("{stdout}");
    assert_eq!((code, stderr.as_str()), (Some(0), ""), "{stdout}");
    assert!(
        stdout.contains("  stopped by SIGTERM: cancelled b's rb-1 after it moved "),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("host balancer stopped by SIGTERM\n"),
        "{stdout}"
    );
    assert_eq!(s.asked(1).last(), Some(&Asked::Cancel("rb-1".into())));
}
