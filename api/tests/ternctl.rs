#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `ternctl` against the real API server on a temporary Unix socket, with a fake VMM thread
//! answering the requests: every command's output and exit status, and the error paths.
//! Rebalances, heat and automatic balancing: [`balance`]. Many VMs and the host balancer:
//! [`host`].

#[path = "ternctl/balance.rs"]
mod balance;
#[path = "ternctl/host.rs"]
mod host;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use api::model::*;
use api::request::{channel, ApiError, ErrorKind, MetricsText, VmRequest, VmRequests, VmResponse};
use api::server::{socket::bind_api_socket, ApiServer};
use vmm_sys_util::tempdir::TempDir;

const GIB_PAGES: u64 = 262_144;

fn vm(state: VmState) -> VmInfo {
    let node = |id: u32| GuestNodeSummary {
        id,
        vcpus: vec![2 * id, 2 * id + 1],
        memory_mib: 1024,
        host_node: Some(id),
        policy: "bind".into(),
    };
    VmInfo {
        name: "web-1".into(),
        state,
        vcpus: 4,
        memory_mib: 2048,
        guest_nodes: vec![node(0), node(1)],
        uptime_ms: 3_723_000,
        devices: Vec::new(),
    }
}

fn topology() -> TopologyInfo {
    let host = |id: u32, distances: Vec<u32>| HostNodeInfo {
        id,
        cpus: (4 * id..4 * id + 4).collect(),
        total_mib: 8_000,
        free_mib: 6_000 + u64::from(id),
        distances,
    };
    let guest = |id: u32| GuestNodeTopology {
        id,
        vcpus: vec![2 * id, 2 * id + 1],
        memory_mib: 1024,
        host_node: Some(id),
        policy: "bind".into(),
        policy_note: None,
        regions: vec![RegionInfo {
            guest_start: u64::from(id) << 30,
            guest_end: u64::from(id + 1) << 30,
            host_addr: 0x7f00_0000_0000 + (u64::from(id) << 32),
        }],
    };
    TopologyInfo {
        host_nodes: vec![host(0, vec![10, 21]), host(1, vec![21, 10])],
        guest_nodes: vec![guest(0), guest(1)],
    }
}

fn placement() -> PlacementInfo {
    let guest = |id: u32, on: Vec<(u32, u64)>, absent: u64| GuestNodePlacement {
        id,
        pages: GIB_PAGES,
        sampled: GIB_PAGES,
        sampled_fraction: 1.0,
        host_nodes: on
            .into_iter()
            .map(|(host_node, pages)| HostNodePages { host_node, pages })
            .collect(),
        absent,
        unknown: 0,
    };
    PlacementInfo {
        page_size: 4096,
        guest_nodes: vec![
            guest(0, vec![(0, 131_070), (1, 26_214)], 104_860),
            guest(1, vec![(1, GIB_PAGES / 2)], GIB_PAGES / 2),
        ],
        vcpus: vcpus()
            .into_iter()
            .map(|v| VcpuPlacement {
                id: v.id,
                host_cpu: v.host_cpu,
                host_node: v.host_node,
                affinity: v.affinity,
            })
            .collect(),
    }
}

fn vcpu(id: u32, affinity: Vec<u32>) -> VcpuInfo {
    VcpuInfo {
        id,
        guest_node: id / 2,
        thread_id: 4000 + id as i32,
        host_cpu: Some(id * 2),
        host_node: Some(id / 2),
        affinity,
        affinity_source: AffinitySource::Launch,
        exits: 1000 * u64::from(id + 1),
    }
}

fn vcpus() -> Vec<VcpuInfo> {
    (0..4).map(|id| vcpu(id, (0..8).collect())).collect()
}

/// The fake VMM's answer to one request; `state` is the VM's run state.
fn answer(request: VmRequest, state: &mut VmState) -> Result<VmResponse, ApiError> {
    let conflict = |m: &str| Err(ApiError::new(ErrorKind::Conflict, m));
    match request {
        VmRequest::GetVm => Ok(VmResponse::Vm(vm(*state))),
        VmRequest::GetTopology => Ok(VmResponse::Topology(topology())),
        VmRequest::GetPlacement => Ok(VmResponse::Placement(placement())),
        VmRequest::GetVcpus => Ok(VmResponse::Vcpus(vcpus())),
        VmRequest::SetAffinity { vcpu: id, affinity } if id < 4 => {
            let cpus = match (affinity.cpus, affinity.host_node) {
                (Some(cpus), None) => cpus,
                (None, Some(node)) => (4 * node..4 * node + 4).collect(),
                _ => return Err(ApiError::new(ErrorKind::BadRequest, "cpus or host_node")),
            };
            Ok(VmResponse::Vcpu(VcpuInfo {
                affinity_source: AffinitySource::Pin,
                ..vcpu(id, cpus)
            }))
        }
        VmRequest::SetAffinity { vcpu, .. } => Err(ApiError::new(
            ErrorKind::NotFound,
            format!("there is no vCPU {vcpu} (this VM has vCPUs 0-3)"),
        )),
        VmRequest::Action(action) => {
            *state = match (action, *state) {
                (Action::Pause, VmState::Running) => VmState::Paused,
                (Action::Pause, _) => return conflict("the VM is already paused"),
                (Action::Resume, VmState::Paused) => VmState::Running,
                (Action::Resume, _) => return conflict("the VM is not paused"),
                (Action::Shutdown, _) => VmState::ShuttingDown,
            };
            Ok(VmResponse::Vm(vm(*state)))
        }
        VmRequest::Metrics => Ok(VmResponse::Metrics(MetricsText {
            vm: "web-1".into(),
            text: "tern_vcpus 4\n".into(),
        })),
        other => Err(ApiError::new(
            ErrorKind::Internal,
            format!("not in the fake: {other:?}"),
        )),
    }
}

/// The API server on a socket in its own directory, and the fake VMM behind it.
struct Served {
    dir: TempDir,
    server: Option<ApiServer>,
    stop: Arc<AtomicBool>,
    vmm: Option<JoinHandle<()>>,
}

fn fake_vmm(requests: VmRequests, stop: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut state = VmState::Running;
        let mut balancer = balance::FakeBalancer::default();
        while !stop.load(Ordering::SeqCst) {
            for pending in requests.drain() {
                let reply = match balancer.answer(&pending.request) {
                    Some(reply) => reply,
                    None => answer(pending.request, &mut state),
                };
                let _ = pending.reply.send(reply);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    })
}

impl Served {
    fn start() -> Self {
        let dir = TempDir::new_with_prefix("/tmp/ternctl-test-").unwrap();
        let path = dir.as_path().join("api.sock");
        let (handle, requests) = channel().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let vmm = Some(fake_vmm(requests, stop.clone()));
        let listener = bind_api_socket(&path).unwrap();
        let server = Some(api::server::start(listener, path, handle).unwrap());
        Self {
            dir,
            server,
            stop,
            vmm,
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.as_path().join("api.sock")
    }

    /// `ternctl --sock <socket> args...`.
    fn ternctl(&self, args: &[&str]) -> Output {
        let socket = self.socket();
        let mut full = vec!["--sock", socket.to_str().unwrap()];
        full.extend_from_slice(args);
        ternctl(&full, None)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(vmm) = self.vmm.take() {
            let _ = vmm.join();
        }
    }
}

/// Runs the built ternctl with `args`, and `TERN_API_SOCK` set to `env_sock` (or unset).
fn ternctl(args: &[&str], env_sock: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ternctl"));
    command.args(args).env_remove("TERN_API_SOCK");
    if let Some(sock) = env_sock {
        command.env("TERN_API_SOCK", sock);
    }
    command.output().unwrap()
}

/// Exit status, stdout and stderr.
fn result(output: &Output) -> (Option<i32>, String, String) {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

fn succeeds(output: &Output) -> String {
    let (code, stdout, stderr) = result(output);
    assert_eq!((code, stderr.as_str()), (Some(0), ""), "stdout: {stdout}");
    stdout
}

#[test]
fn vm_topology_and_vcpus_are_tables() {
    let served = Served::start();
    let vm = succeeds(&served.ternctl(&["vm"]));
    assert_eq!(
        vm,
        "name    web-1\nstate   running\nvCPUs   4\nmemory  2 GiB\nuptime  1h 02m 03s\n\n\
         GUEST NODE  VCPUS  MEMORY  HOST NODE  POLICY\n\
         0           0-1    1 GiB   0          bind\n\
         1           2-3    1 GiB   1          bind\n"
    );
    let topology = succeeds(&served.ternctl(&["topology"]));
    assert!(
        topology.starts_with(
            "HOST NODE  CPUS  TOTAL MiB  FREE MiB  DISTANCES\n\
         0          0-3        8000      6000  10 21\n\
         1          4-7        8000      6001  21 10\n\n"
        ),
        "{topology}"
    );
    assert!(topology.contains("1           2-3    1 GiB   1          bind    0x40000000-0x80000000  1 GiB  0x7f0100000000\n"), "{topology}");
    let vcpus = succeeds(&served.ternctl(&["vcpus"]));
    assert!(
        vcpus.starts_with(
            "VCPU  GUEST NODE  THREAD  HOST CPU  HOST NODE  AFFINITY  FROM    EXITS\n"
        ),
        "{vcpus}"
    );
    assert!(
        vcpus.ends_with("3     1           4003    6         1          0-7       launch   4000\n"),
        "{vcpus}"
    );
}

#[test]
fn placement_draws_a_bar_per_guest_node() {
    let served = Served::start();
    let text = succeeds(&served.ternctl(&["placement"]));
    assert!(
        text.contains("bar: 0 = host node 0   1 = host node 1\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "GUEST NODE  MEMORY  RESIDENT ON                N0      N1  ABSENT  SAMPLED\n\
         0           1 GiB   [00000000000000000111]  83.3%   16.7%   40.0%   100.0%\n\
         1           1 GiB   [11111111111111111111]   0.0%  100.0%   50.0%   100.0%\n"
        ),
        "{text}"
    );
    assert!(text.ends_with("VCPU  HOST CPU  HOST NODE  AFFINITY\n0     0         0          0-7\n1     2         0          0-7\n2     4         1          0-7\n3     6         1          0-7\n"), "{text}");
}

#[test]
fn pin_pause_resume_shutdown_answer_in_one_line() {
    let served = Served::start();
    let run = |args: &[&str]| succeeds(&served.ternctl(args));
    assert_eq!(
        run(&["pin", "1", "--cpus", "0-1,3"]),
        "vCPU 1 pinned to host CPUs 0-1,3\n"
    );
    assert_eq!(
        run(&["pin", "2", "--node", "1"]),
        "vCPU 2 pinned to host CPUs 4-7 (host node 1)\n"
    );
    assert_eq!(run(&["pause"]), "VM paused\n");
    assert_eq!(
        result(&served.ternctl(&["pause"])),
        (
            Some(1),
            String::new(),
            "ternctl: the VM is already paused\n".into()
        )
    );
    assert_eq!(run(&["resume"]), "VM resumed\n");
    assert_eq!(run(&["shutdown"]), "VM shutting down\n");
}

#[test]
fn metrics_and_json_are_printed_as_the_server_sent_them() {
    let served = Served::start();
    let metrics = succeeds(&served.ternctl(&["metrics"]));
    assert!(
        metrics.starts_with("tern_vcpus{vm=\"web-1\"} 4\n")
            && metrics.contains("# TYPE tern_api_requests_total counter"),
        "{metrics}"
    );
    let json = succeeds(&served.ternctl(&["--json", "vm"]));
    assert!(
        json.starts_with("{\n  \"name\": \"web-1\",\n  \"state\": \"running\",\n  \"vcpus\": 4,\n"),
        "{json}"
    );
    assert_eq!(
        serde_json::from_str::<VmInfo>(&json).unwrap(),
        vm(VmState::Running)
    );
    let json = succeeds(&served.ternctl(&["placement", "--json"]));
    assert_eq!(
        serde_json::from_str::<PlacementInfo>(&json).unwrap(),
        placement()
    );
    let json = succeeds(&served.ternctl(&["--json", "pin", "0", "--node", "0"]));
    assert_eq!(
        serde_json::from_str::<VcpuInfo>(&json).unwrap(),
        VcpuInfo {
            affinity_source: AffinitySource::Pin,
            ..vcpu(0, vec![0, 1, 2, 3])
        }
    );
    let metrics = succeeds(&served.ternctl(&["--json", "metrics"]));
    assert!(
        metrics.starts_with("tern_vcpus{vm=\"web-1\"} 4\n"),
        "{metrics}"
    );
}

#[test]
fn the_socket_can_come_from_the_environment() {
    let served = Served::start();
    let text = succeeds(&ternctl(&["vm"], Some(&served.socket())));
    assert!(
        text.starts_with("name    web-1\nstate   running\n"),
        "{text}"
    );
}

#[test]
fn refusals_and_unreachable_servers_exit_1_with_one_sentence() {
    let served = Served::start();
    assert_eq!(
        result(&served.ternctl(&["pin", "9", "--cpus", "0"])),
        (
            Some(1),
            String::new(),
            "ternctl: there is no vCPU 9 (this VM has vCPUs 0-3)\n".into()
        )
    );
    let nobody = served.dir.as_path().join("nobody.sock");
    let (code, stdout, stderr) =
        result(&ternctl(&["--sock", nobody.to_str().unwrap(), "vm"], None));
    assert_eq!((code, stdout.as_str()), (Some(1), ""));
    let want = format!(
        "ternctl: cannot connect to {} (is tern running with --api-sock?): ",
        nobody.display()
    );
    assert!(stderr.starts_with(&want), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn bad_usage_exits_2_with_one_line() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--sock", "/s"],
            "no command given: use one of vm, topology, placement,",
        ),
        (
            &["vm"],
            "no API socket given: use --sock PATH or set TERN_API_SOCK",
        ),
        (
            &["--sock", "/s", "pin", "1"],
            "the following required arguments were not provided",
        ),
        (
            &["--sock", "/s", "pin", "1", "--cpus", "0", "--node", "0"],
            "cannot be used with",
        ),
        (
            &["--sock", "/s", "pin", "1", "--cpus", "2-x"],
            "'2-x' is not a list of numbers like 0-3,6",
        ),
        (
            &["--sock", "/s", "reboot"],
            "unrecognized subcommand 'reboot'",
        ),
    ];
    for (args, want) in cases {
        let (code, stdout, stderr) = result(&ternctl(args, None));
        assert_eq!((code, stdout.as_str()), (Some(2), ""), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("ternctl: ") && stderr.contains(want),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    let help = succeeds(&ternctl(&["--help"], None));
    assert!(
        help.contains("Usage: ternctl [OPTIONS] <COMMAND>"),
        "{help}"
    );
}
