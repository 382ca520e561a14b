//! `ternctl host balance`: every pass asks every VM (concurrently, each within the time
//! limit), plans for the whole host ([`super::plan`]), prints each decision with its reason,
//! and carries out the first step (at most one move on the host at a time, at the host's
//! rate limit), waiting for its move to end before the next pass. `--dry-run` prints the
//! plan and does nothing; `--once` makes one pass. SIGINT or SIGTERM end it after cancelling
//! the move it started, if one runs.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::cli::{BalanceArgs, HostArgs};
use super::discover::sockets_in;
use super::exec::{execute, Outcome, Report};
use super::plan::{plan, Action, HostPlan, PlanConfig, Step};
use super::snapshot::{snapshot, OwnPins, Snapshot};
use super::stop::Stop;
use super::survey::survey;
use crate::ternctl::idlist::format_id_list;
use crate::ternctl::units::{format_bytes, format_mib};

/// Writes `text` to stdout at once (a pass's lines reach a log as they happen).
fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// One action in words.
pub fn action_line(action: &Action) -> String {
    match action {
        Action::Pin {
            vm,
            guest_node,
            vcpus,
            host_node,
            ..
        } => format!(
            "pin {vm} guest node {guest_node} vCPUs {} to host node {host_node}",
            format_id_list(vcpus)
        ),
        Action::Move {
            vm,
            guest_node,
            host_node,
            bytes,
            ..
        } => format!(
            "move {vm} guest node {guest_node} to host node {host_node} ({})",
            format_bytes(*bytes)
        ),
    }
}

/// The pass's heading: VMs, free memory per host node.
fn heading(pass: u64, snap: &Snapshot) -> String {
    let free: Vec<String> = snap
        .host_nodes
        .iter()
        .map(|n| format!("host node {} {} free", n.id, format_mib(n.free_mib)))
        .collect();
    format!(
        "pass {pass}: {} VMs answered, {} did not; {}\n",
        snap.answered.len(),
        snap.unanswered.len(),
        free.join(", ")
    )
}

fn step_lines(label: &str, step: &Step) -> String {
    let mut text = format!("  {label}: {}\n", step.reason);
    for action in &step.actions {
        text.push_str(&format!("    {}\n", action_line(action)));
    }
    text
}

/// A pass in words: who did not answer, what is left alone, and the steps (all of them for a
/// dry run, else the one it now carries out).
pub fn render_pass(pass: u64, snap: &Snapshot, plan: &HostPlan, dry_run: bool) -> String {
    let mut text = heading(pass, snap);
    for u in &snap.unanswered {
        text.push_str(&format!(
            "  unreachable: {} {}\n",
            u.socket.display(),
            u.reason
        ));
    }
    for note in &plan.notes {
        let what = match note.guest_node {
            Some(g) => format!("{} guest node {g}", note.vm),
            None => note.vm.clone(),
        };
        text.push_str(&format!("  leave {what}: {}\n", note.reason));
    }
    match (plan.steps.first(), dry_run) {
        (None, _) => text.push_str("  nothing to do\n"),
        (Some(first), false) => text.push_str(&step_lines("now", first)),
        (Some(_), true) => {
            for (i, step) in plan.steps.iter().enumerate() {
                text.push_str(&step_lines(&format!("step {}", i + 1), step));
            }
        }
    }
    text
}

fn report_line(report: &Report) -> String {
    match &report.outcome {
        Outcome::Done(line) => format!("  done: {line}\n"),
        Outcome::Failed(line) => format!("  failed: {line}\n"),
        Outcome::Stopped(line) => format!("  {line}\n"),
    }
}

/// Runs the host balancer until `--once` is done or a signal comes.
pub async fn run(args: &HostArgs, balance: &BalanceArgs, json: bool) -> ExitCode {
    let mut stop = match Stop::install() {
        Ok(stop) => stop,
        Err(e) => return super::fail(&format!("cannot catch SIGINT and SIGTERM: {e}")),
    };
    if let Err(e) = sockets_in(&args.dir) {
        return super::fail(&e.to_string());
    }
    let limit = Duration::from_secs_f64(args.timeout);
    let config = PlanConfig::default();
    let mut own = OwnPins::new();
    let mut pass = 0u64;
    loop {
        pass += 1;
        let sockets = match sockets_in(&args.dir) {
            Ok(sockets) => sockets,
            Err(e) => {
                emit(&format!("pass {pass}: {e}\n"));
                Vec::new()
            }
        };
        let surveyed = tokio::select! {
            s = survey(&sockets, limit) => s,
            _ = stop.wait() => break,
        };
        let snap = snapshot(surveyed, &own);
        let planned = plan(&snap.state, &config);
        if json {
            emit(&format!(
                "{}\n",
                json!({"pass": pass, "unanswered": snap.unanswered.iter().map(|u| json!({"socket": u.socket, "reason": u.reason})).collect::<Vec<_>>(), "plan": planned})
            ));
        } else {
            emit(&render_pass(pass, &snap, &planned, balance.dry_run));
        }
        if let (false, Some(step)) = (balance.dry_run, planned.steps.first()) {
            let reports = execute(
                &step.actions,
                &snap,
                balance.max_mib_per_s,
                &mut stop,
                &mut own,
            )
            .await;
            for report in &reports {
                if json {
                    emit(&format!(
                        "{}\n",
                        json!({"pass": pass, "outcome": match &report.outcome {
                            Outcome::Done(l) => json!({"done": l}),
                            Outcome::Failed(l) => json!({"failed": l}),
                            Outcome::Stopped(l) => json!({"stopped": l}),
                        }, "rebalance": report.status})
                    ));
                } else {
                    emit(&report_line(report));
                }
            }
        }
        if stop.requested() || balance.once {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs_f64(balance.interval)) => {}
            _ = stop.wait() => break,
        }
    }
    if let Some(by) = stop.by {
        if json {
            emit(&format!("{}\n", json!({"stopped_by": by})));
        } else {
            emit(&format!("host balancer stopped by {by}\n"));
        }
    }
    ExitCode::SUCCESS
}
