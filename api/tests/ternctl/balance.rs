//! `ternctl rebalance`, `wait`, `status`, `cancel`, `heat` and `auto` against the fake VMM,
//! whose rebalances advance on each read: running 0%, running 50%, then done (an interleave
//! fails instead).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::FromRawFd;
use std::process::{Command, Stdio};

use api::model::*;
use api::request::{ApiError, ErrorKind, VmRequest, VmResponse};

use super::{result, succeeds, Served};

const GIB_PAGES: u64 = 262_144;

/// A rebalance of the fake: its reads so far decide its progress.
#[derive(Debug)]
struct FakeRebalance {
    id: String,
    policy: RebalancePolicy,
    reads: u64,
    state: RebalanceState,
}

impl FakeRebalance {
    fn status(&self) -> RebalanceStatus {
        let moved = GIB_PAGES / 2 * self.reads.saturating_sub(1).min(2);
        let failed = self.state == RebalanceState::Failed;
        RebalanceStatus {
            id: self.id.clone(),
            policy: self.policy,
            origin: RebalanceOrigin::Operator,
            mode: RebalanceMode::Live,
            pace: RebalancePace::Fixed,
            state: self.state,
            pages_total: GIB_PAGES,
            pages_moved: if failed { GIB_PAGES / 2 } else { moved },
            pages_failed: if failed { 12 } else { 0 },
            failed_by_reason: if failed {
                BTreeMap::from([("EBUSY".into(), 10), ("ENOMEM".into(), 2)])
            } else {
                BTreeMap::new()
            },
            bytes_moved: if failed { GIB_PAGES / 2 } else { moved } * 4096,
            elapsed_ms: 500 * self.reads,
            paused_ms: None,
            pace_mib_per_s: None,
            message: failed.then(|| "host node 1 has no free memory left".into()),
        }
    }

    /// One read: the state advances, and ends on the third.
    fn read(&mut self) -> RebalanceStatus {
        if self.state == RebalanceState::Running {
            self.reads += 1;
            if self.reads == 3 {
                self.state = match self.policy {
                    RebalancePolicy::Interleave => RebalanceState::Failed,
                    _ => RebalanceState::Done,
                };
            }
        }
        self.status()
    }
}

/// The balancing side of the fake VMM.
#[derive(Debug, Default)]
pub struct FakeBalancer {
    rebalances: Vec<FakeRebalance>,
    heat: Option<u64>,
    auto: Option<(u64, f64)>,
}

fn refuse(kind: ErrorKind, message: &str) -> Result<VmResponse, ApiError> {
    Err(ApiError::new(kind, message))
}

impl FakeBalancer {
    fn start(&mut self, req: &RebalanceRequest) -> Result<VmResponse, ApiError> {
        let policy = req
            .policy
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "no policy"))?;
        match (policy, req.host_node) {
            (RebalancePolicy::ToNode, None) => {
                return refuse(ErrorKind::BadRequest, "to-node needs \"host_node\"")
            }
            (_, Some(node)) if node > 1 => {
                let message = format!("host node {node} does not exist or has no memory (this host has memory on nodes 0-1)");
                return refuse(ErrorKind::BadRequest, &message);
            }
            _ => {}
        }
        if let Some(running) = self
            .rebalances
            .iter()
            .find(|r| r.state == RebalanceState::Running)
        {
            let message = format!(
                "rebalance {} is still running; cancel it or wait for it to end",
                running.id
            );
            return refuse(ErrorKind::Conflict, &message);
        }
        let id = format!("rb-{}", self.rebalances.len() + 1);
        self.rebalances.push(FakeRebalance {
            id: id.clone(),
            policy,
            reads: 0,
            state: RebalanceState::Running,
        });
        Ok(VmResponse::RebalanceAccepted(RebalanceAccepted {
            id,
            warning: None,
        }))
    }

    fn find(&mut self, id: &str) -> Result<&mut FakeRebalance, ApiError> {
        let missing = || ApiError::new(ErrorKind::NotFound, format!("there is no rebalance {id}"));
        self.rebalances
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or_else(missing)
    }

    fn heat_info(&self) -> HeatInfo {
        let node = |id: u32, rate: f64, hottest: Vec<HotChunk>| GuestNodeHeat {
            id,
            write_mib_per_s: rate,
            hottest,
        };
        let chunk = |guest_addr: u64, host_node: u32, heat: f64| HotChunk {
            guest_addr,
            host_node: Some(host_node),
            heat,
        };
        HeatInfo {
            sampling: self.heat.is_some(),
            interval_ms: self.heat.unwrap_or(1000),
            chunk_bytes: 2 << 20,
            samples: if self.heat.is_some() { 12 } else { 0 },
            guest_nodes: match self.heat {
                Some(_) => vec![
                    node(
                        0,
                        48.25,
                        vec![chunk(0x20_0000, 0, 310.5), chunk(0x1000_0000, 1, 97.0)],
                    ),
                    node(1, 0.0, vec![]),
                ],
                None => vec![],
            },
        }
    }

    fn auto_info(&self) -> AutoBalanceInfo {
        let (interval_ms, max_mib_per_s) = self.auto.unwrap_or((2000, 256.0));
        AutoBalanceInfo {
            enabled: self.auto.is_some(),
            interval_ms,
            max_mib_per_s,
            rebalances_started: 1,
            last_decision: Some("guest node 1 stays: its vCPUs run on host node 1".into()),
            holds: vec![AutoBalanceHold {
                guest_node: 0,
                reason: "rebalance rb-1 (to-node) placed its memory on host node 1".into(),
                held_s: 12,
            }],
        }
    }

    /// The answer to a balancing request, None for the others.
    pub fn answer(&mut self, request: &VmRequest) -> Option<Result<VmResponse, ApiError>> {
        Some(match request {
            VmRequest::StartRebalance(req) => self.start(req),
            VmRequest::GetRebalance(id) => self.find(id).map(|r| VmResponse::Rebalance(r.read())),
            VmRequest::CancelRebalance(id) => self.find(id).and_then(|r| {
                if r.state != RebalanceState::Running {
                    let message = format!("rebalance {id} has already ended");
                    return Err(ApiError::new(ErrorKind::Conflict, message));
                }
                r.state = RebalanceState::Cancelled;
                Ok(VmResponse::Rebalance(r.status()))
            }),
            VmRequest::GetHeat => Ok(VmResponse::Heat(self.heat_info())),
            VmRequest::SetHeat(req) => {
                self.heat = req.enabled.then(|| req.interval_ms.unwrap_or(1000));
                Ok(VmResponse::Heat(self.heat_info()))
            }
            VmRequest::GetAutoBalance => Ok(VmResponse::AutoBalance(self.auto_info())),
            VmRequest::SetAutoBalance(req) => {
                let settings = (
                    req.interval_ms.unwrap_or(2000),
                    req.max_mib_per_s.unwrap_or(256.0),
                );
                self.auto = req.enabled.then_some(settings);
                Ok(VmResponse::AutoBalance(self.auto_info()))
            }
            _ => return None,
        })
    }
}

fn fails(served: &Served, args: &[&str]) -> (String, String) {
    let (code, stdout, stderr) = result(&served.ternctl(args));
    assert_eq!(code, Some(1), "{args:?}: {stdout}{stderr}");
    (stdout, stderr)
}

#[test]
fn rebalance_follows_the_rebalance_until_it_is_done() {
    let served = Served::start();
    let text = succeeds(&served.ternctl(&["rebalance", "--policy", "to-node", "--node", "1"]));
    assert_eq!(
        text,
        "\
rebalance rb-1 started
rebalance  rb-1 (to-node)
state      done
pages      262144/262144 moved (100.0%), 0 failed
bytes      1 GiB
elapsed    1.5s (683 MiB/s)
"
    );
}

/// A pseudo-terminal of 100 columns: its master and slave ends.
fn pty() -> (File, File) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: 24,
        ws_col: 100,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty stores two new descriptors in `master` and `slave`; the name and
    // termios pointers may be null and `size` outlives the call.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened here and nothing else owns them.
    unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) }
}

#[test]
fn a_terminal_on_stderr_gets_a_progress_bar() {
    let served = Served::start();
    let (mut master, slave) = pty();
    let socket = served.socket();
    let output = Command::new(env!("CARGO_BIN_EXE_ternctl"))
        .args(["--sock", socket.to_str().unwrap()])
        .args(["rebalance", "--policy", "to-node", "--node", "1"])
        .env("TERM", "xterm")
        .stderr(Stdio::from(slave))
        .output()
        .unwrap();
    let mut drawn = Vec::new();
    // Once ternctl has exited and no slave end is open, the master reads EIO: the end.
    let _ = master.read_to_end(&mut drawn);
    let drawn = String::from_utf8_lossy(&drawn);
    assert_eq!(output.status.code(), Some(0), "{drawn}");
    assert!(
        drawn.contains("[##########----------]  50%  512 MiB/1 GiB  "),
        "{drawn:?}"
    );
    assert!(
        drawn.contains("[####################] 100%  1 GiB/1 GiB  683 MiB/s  failed 0"),
        "{drawn:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("rebalance rb-1 started\nrebalance  rb-1 (to-node)\nstate      done\n"),
        "{stdout}"
    );
}

#[test]
fn a_rebalance_that_fails_exits_1_with_its_message() {
    let served = Served::start();
    let (stdout, stderr) = fails(
        &served,
        &["rebalance", "--policy", "interleave", "--nodes", "0-1"],
    );
    assert_eq!(
        stdout,
        "\
rebalance rb-1 started
rebalance  rb-1 (interleave)
state      failed
pages      131072/262144 moved (50.0%), 12 failed (EBUSY 10, ENOMEM 2)
bytes      512 MiB
elapsed    1.5s (341 MiB/s)
message    host node 1 has no free memory left
"
    );
    assert_eq!(
        stderr,
        "ternctl: rebalance rb-1 failed: host node 1 has no free memory left\n"
    );
}

#[test]
fn no_wait_status_cancel_and_wait() {
    let served = Served::start();
    let run = |args: &[&str]| succeeds(&served.ternctl(args));
    assert_eq!(
        run(&["rebalance", "--policy", "follow-vcpus", "--no-wait"]),
        "rebalance rb-1 started\n"
    );
    let (stdout, stderr) = fails(&served, &["rebalance", "--policy", "hot-first"]);
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        (
            "",
            "ternctl: rebalance rb-1 is still running; cancel it or wait for it to end\n"
        )
    );
    let status = run(&["status", "rb-1"]);
    assert!(
        status.starts_with("rebalance  rb-1 (follow-vcpus)\nstate      running\n"),
        "{status}"
    );
    assert!(
        status.contains("pages      0/262144 moved (0.0%), 0 failed\n"),
        "{status}"
    );
    let cancelled = run(&["cancel", "rb-1"]);
    assert!(cancelled.contains("state      cancelled\n"), "{cancelled}");
    let (_, stderr) = fails(&served, &["cancel", "rb-1"]);
    assert_eq!(stderr, "ternctl: rebalance rb-1 has already ended\n");
    let (stdout, stderr) = fails(&served, &["wait", "rb-1"]);
    assert!(stdout.contains("state      cancelled\n"), "{stdout}");
    assert_eq!(stderr, "ternctl: rebalance rb-1 was cancelled\n");
    for command in ["status", "wait", "cancel"] {
        let (stdout, stderr) = fails(&served, &[command, "rb-9"]);
        assert_eq!(
            (stdout.as_str(), stderr.as_str()),
            ("", "ternctl: there is no rebalance rb-9\n")
        );
    }
}

#[test]
fn json_prints_the_final_status_only() {
    let served = Served::start();
    let json = succeeds(&served.ternctl(&["--json", "rebalance", "--policy", "follow-vcpus"]));
    let status: RebalanceStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (status.id.as_str(), status.state),
        ("rb-1", RebalanceState::Done)
    );
    assert!(json.starts_with("{\n  \"id\": \"rb-1\",\n"), "{json}");
    let json = succeeds(&served.ternctl(&[
        "rebalance",
        "--policy",
        "to-node",
        "--node",
        "0",
        "--no-wait",
        "--json",
    ]));
    assert_eq!(json, "{\n  \"id\": \"rb-2\"\n}\n");
    let json = succeeds(&served.ternctl(&["--json", "wait", "rb-2"]));
    assert_eq!(
        serde_json::from_str::<RebalanceStatus>(&json)
            .unwrap()
            .state,
        RebalanceState::Done
    );
}

#[test]
fn bad_rebalances_are_refused_with_the_servers_sentence() {
    let served = Served::start();
    let (_, stderr) = fails(&served, &["rebalance", "--policy", "to-node"]);
    assert_eq!(stderr, "ternctl: to-node needs \"host_node\"\n");
    let (_, stderr) = fails(
        &served,
        &["rebalance", "--policy", "to-node", "--node", "9"],
    );
    assert!(
        stderr.starts_with("ternctl: host node 9 does not exist"),
        "{stderr}"
    );
    let sock = served.socket();
    let (code, stdout, stderr) = result(&super::ternctl(
        &["--sock", sock.to_str().unwrap(), "rebalance"],
        None,
    ));
    assert_eq!((code, stdout.as_str()), (Some(2), ""));
    assert!(
        stderr.contains("required arguments were not provided: --policy <POLICY>"),
        "{stderr}"
    );
}

#[test]
fn heat_is_read_and_switched() {
    let served = Served::start();
    let run = |args: &[&str]| succeeds(&served.ternctl(args));
    assert_eq!(
        run(&["heat"]),
        "sampling  off\ninterval  1000 ms\nsamples   0\nchunk     2 MiB\n\n\
         no heat measured: turn sampling on with `ternctl heat --enable`\n"
    );
    assert_eq!(
        run(&["heat", "--enable", "--interval-ms", "250"]),
        "\
sampling  on
interval  250 ms
samples   12
chunk     2 MiB

GUEST NODE  WRITE MiB/s   HOT CHUNK  HOST NODE   HEAT
0                  48.2    0x200000  0          310.5
                         0x10000000  1           97.0
1                   0.0           -  -              -
"
    );
    let json = run(&["--json", "heat"]);
    assert!(
        serde_json::from_str::<HeatInfo>(&json).unwrap().sampling,
        "{json}"
    );
    assert!(run(&["heat", "--disable"]).starts_with("sampling  off\n"));
}

#[test]
fn auto_balance_is_read_and_switched() {
    let served = Served::start();
    let run = |args: &[&str]| succeeds(&served.ternctl(args));
    let off = "\
auto-balance        off
interval            2000 ms
rate limit          256 MiB/s
rebalances started  1
last decision       guest node 1 stays: its vCPUs run on host node 1
holds guest node 0  rebalance rb-1 (to-node) placed its memory on host node 1 (12 s)
";
    assert_eq!(run(&["auto"]), off);
    let on = run(&[
        "auto",
        "on",
        "--interval-ms",
        "500",
        "--max-mib-per-s",
        "64",
    ]);
    assert!(
        on.starts_with(
            "auto-balance        on\ninterval            500 ms\nrate limit          64 MiB/s\n"
        ),
        "{on}"
    );
    assert_eq!(run(&["auto", "off"]), off);
    let json = run(&["auto", "--json"]);
    assert!(
        !serde_json::from_str::<AutoBalanceInfo>(&json)
            .unwrap()
            .enabled,
        "{json}"
    );
}
