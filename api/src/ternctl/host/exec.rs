//! Carrying out one step of the plan through the VMs' APIs: pins with `PUT
//! /v1/vcpus/{id}/affinity`, a move with `POST /v1/rebalance` (to-node, one guest node, the
//! host's rate limit, origin `host-balancer`, so the VM holds nothing) followed to its end.
//! A stop request during a move cancels it (`DELETE /v1/rebalance/{id}`) and waits for the
//! VM to say it ended: the VM's engine puts the memory policies back, what moved stays moved,
//! and no move is left running without the balancer that started it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::plan::Action;
use super::snapshot::{OwnPins, Snapshot};
use super::stop::Stop;
use super::survey::get;
use crate::client::exchange;
use crate::model::{RebalanceAccepted, RebalanceState, RebalanceStatus};
use crate::ternctl::commands_balance::rebalance_path;
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::render::rebalance::{has_ended, PAGE_BYTES};
use crate::ternctl::units::format_bytes;
use crate::ternctl::watch::POLL_INTERVAL;

/// How long a cancelled move may take to say it ended.
const CANCEL_WAIT: Duration = Duration::from_secs(15);

/// How an action ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Done, with a line saying so.
    Done(String),
    /// Refused or failed: the step goes no further this pass.
    Failed(String),
    /// A stop request came; what became of the move.
    Stopped(String),
}

/// What one action did: its outcome, and the move's final status if it started one.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// How it ended.
    pub outcome: Outcome,
    /// The rebalance's last status, for a move.
    pub status: Option<RebalanceStatus>,
}

impl Report {
    fn of(outcome: Outcome) -> Self {
        Self {
            outcome,
            status: None,
        }
    }
}

/// `method path` with a JSON body on `socket`: the answer's body, or its error sentence.
async fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<String, String> {
    let bytes = body.map(|b| b.to_string());
    let response = exchange(socket, method, path, bytes.as_deref().map(str::as_bytes))
        .await
        .map_err(|e| e.to_string())?;
    if response.is_success() {
        Ok(response.body)
    } else {
        Err(response.error_sentence())
    }
}

async fn pin(socket: &Path, vm: &str, vcpus: &[u32], node: u32, own: &mut OwnPins) -> Outcome {
    for vcpu in vcpus {
        let path = format!("/v1/vcpus/{vcpu}/affinity");
        if let Err(why) = call(socket, "PUT", &path, Some(json!({ "host_node": node }))).await {
            return Outcome::Failed(format!(
                "pinning {vm} vCPU {vcpu} to host node {node} was refused: {why}"
            ));
        }
        own.insert((socket.to_path_buf(), *vcpu, node));
    }
    Outcome::Done(format!(
        "pinned {vm} vCPUs {} to host node {node}",
        format_id_list(vcpus)
    ))
}

fn moved(status: &RebalanceStatus) -> String {
    format!(
        "{} moved {} in {:.1} s",
        status.id,
        format_bytes(status.bytes_moved),
        status.elapsed_ms as f64 / 1000.0
    )
}

/// Follows rebalance `id` to its end; a stop request cancels it first.
async fn follow(socket: &Path, vm: &str, id: &str, stop: &mut Stop) -> Report {
    let path = rebalance_path(id);
    let mut last: Option<RebalanceStatus> = None;
    loop {
        tokio::select! {
            _ = stop.wait() => break,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        match get::<RebalanceStatus>(socket, &path).await {
            Ok(status) if has_ended(status.state) => {
                let line = format!("{vm}: {}", moved(&status));
                let outcome = match status.state {
                    RebalanceState::Done => Outcome::Done(line),
                    _ => Outcome::Failed(format!(
                        "{line}, then {}: {}",
                        if status.state == RebalanceState::Cancelled {
                            "was cancelled"
                        } else {
                            "failed"
                        },
                        status.message.clone().unwrap_or_default()
                    )),
                };
                return Report {
                    outcome,
                    status: Some(status),
                };
            }
            Ok(status) => last = Some(status),
            Err(why) => {
                return Report {
                    outcome: Outcome::Failed(format!("lost track of {vm}'s rebalance {id}: {why}")),
                    status: last,
                }
            }
        }
    }
    cancel(socket, vm, id, stop.by.unwrap_or("a signal")).await
}

/// Cancels rebalance `id` and waits for the VM to report its end.
async fn cancel(socket: &Path, vm: &str, id: &str, by: &str) -> Report {
    let path = rebalance_path(id);
    let _ = call(socket, "DELETE", &path, None).await;
    let deadline = Instant::now() + CANCEL_WAIT;
    let mut status = None;
    while Instant::now() < deadline {
        match get::<RebalanceStatus>(socket, &path).await {
            Ok(s) if has_ended(s.state) => {
                let line = format!(
                    "stopped by {by}: cancelled {vm}'s {} after it moved {} of {}; the VM put \
                     its memory policies back",
                    s.id,
                    format_bytes(s.bytes_moved),
                    format_bytes(s.pages_total.saturating_mul(PAGE_BYTES))
                );
                return Report {
                    outcome: Outcome::Stopped(line),
                    status: Some(s),
                };
            }
            Ok(s) => status = Some(s),
            Err(_) => break,
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    Report {
        outcome: Outcome::Stopped(format!(
            "stopped by {by}: asked {vm} to cancel rebalance {id}, which did not report its end \
             within {} s",
            CANCEL_WAIT.as_secs()
        )),
        status,
    }
}

async fn move_memory(
    socket: &Path,
    vm: &str,
    guest_node: u32,
    node: u32,
    rate: f64,
    stop: &mut Stop,
) -> Report {
    let body = json!({
        "policy": "to-node",
        "host_node": node,
        "guest_node": guest_node,
        "max_mib_per_s": rate,
        "origin": "host-balancer",
    });
    let accepted = match call(socket, "POST", "/v1/rebalance", Some(body)).await {
        Ok(text) => serde_json::from_str::<RebalanceAccepted>(&text)
            .map_err(|e| format!("its answer does not read ({e})")),
        Err(why) => Err(why),
    };
    match accepted {
        Ok(a) => follow(socket, vm, &a.id, stop).await,
        Err(why) => Report::of(Outcome::Failed(format!(
            "moving {vm} guest node {guest_node} to host node {node} was refused: {why}"
        ))),
    }
}

/// Carries out `actions` in order, on the VMs of `snapshot`; stops at the first that does
/// not succeed. Moves run at `rate` MiB/s at most.
pub async fn execute(
    actions: &[Action],
    snapshot: &Snapshot,
    rate: f64,
    stop: &mut Stop,
    own: &mut OwnPins,
) -> Vec<Report> {
    let mut reports = Vec::new();
    for action in actions {
        let at = match action {
            Action::Pin { at, .. } | Action::Move { at, .. } => *at,
        };
        let Some(vm) = snapshot.answered.get(at.vm) else {
            break;
        };
        let report = match action {
            Action::Pin {
                vcpus, host_node, ..
            } => Report::of(pin(&vm.socket, &vm.name, vcpus, *host_node, own).await),
            Action::Move {
                guest_node,
                host_node,
                ..
            } => move_memory(&vm.socket, &vm.name, *guest_node, *host_node, rate, stop).await,
        };
        let go_on = matches!(report.outcome, Outcome::Done(_));
        reports.push(report);
        if !go_on {
            break;
        }
    }
    reports
}
