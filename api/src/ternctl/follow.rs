//! `ternctl rebalance` (unless `--no-wait`) and `ternctl wait`: start or pick up a
//! rebalance, follow it to its end with live progress on stderr when that is a terminal, and
//! finish with its final status, failing unless it is done.

use std::io::Write;

use super::call::{parse_answer, pretty_json, send, ApiCall, Finished};
use super::cli::Command;
use super::cli_balance::{BalanceCommand, RebalanceArgs};
use super::commands_balance::{rebalance_path, start_call};
use super::error::CtlError;
use super::progress::Progress;
use super::render::rebalance;
use super::watch::{self, Ended, POLL_INTERVAL};
use crate::client::Client;
use crate::model::RebalanceAccepted;

/// A command that follows a rebalance to its end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Following<'a> {
    /// `ternctl rebalance` without `--no-wait`: start it, then follow it.
    Start(&'a RebalanceArgs),
    /// `ternctl wait ID`.
    Wait(&'a str),
}

/// Whether `command` follows a rebalance to its end, and which.
pub fn following(command: &Command) -> Option<Following<'_>> {
    match command {
        Command::Balance(BalanceCommand::Rebalance(args)) if !args.no_wait => {
            Some(Following::Start(args))
        }
        Command::Balance(BalanceCommand::Wait { id }) => Some(Following::Wait(id)),
        _ => None,
    }
}

/// Prints `text` at once. A reader that went away does not stop the rebalance being
/// followed, so a failed write is not an error.
fn say(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The output of a rebalance that ended (`json`: its last status as the server sent it),
/// failing unless it is done.
pub fn finished(ended: &Ended, json: bool) -> Finished {
    let output = if json {
        pretty_json(&ended.body)
    } else {
        rebalance::render_status(&ended.status)
    };
    Finished {
        output,
        failure: rebalance::failure_sentence(&ended.status),
    }
}

/// Starts (and says so, unless `json`) or picks up a rebalance, follows it with live
/// progress on stderr if that is a terminal, and ends with its final status.
pub fn follow(client: &Client, following: Following<'_>, json: bool) -> Result<Finished, CtlError> {
    let id = match following {
        Following::Start(args) => {
            let call = start_call(args);
            let accepted: RebalanceAccepted = parse_answer(&call, &send(client, &call)?)?;
            if !json {
                say(&rebalance::render_started(&accepted));
            }
            accepted.id
        }
        Following::Wait(id) => id.to_string(),
    };
    let call = ApiCall::get(&rebalance_path(&id));
    let mut progress = Progress::on_stderr();
    let mut fetch = || {
        let body = send(client, &call)?;
        Ok((parse_answer(&call, &body)?, body))
    };
    let mut pause = || std::thread::sleep(POLL_INTERVAL);
    let ended = watch::follow(&mut fetch, &mut progress, &mut pause)?;
    Ok(finished(&ended, json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RebalanceState;
    use crate::ternctl::cli::Cli;
    use crate::ternctl::render::rebalance::tests::status;
    use clap::Parser;

    fn command(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("ternctl").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    #[test]
    fn only_rebalance_and_wait_follow() {
        let args = |c: &Command| match c {
            Command::Balance(BalanceCommand::Rebalance(a)) => a.clone(),
            _ => panic!("not a rebalance"),
        };
        let start = command(&["rebalance", "--policy", "follow-vcpus"]);
        assert_eq!(following(&start), Some(Following::Start(&args(&start))));
        assert_eq!(
            following(&command(&["wait", "rb-2"])),
            Some(Following::Wait("rb-2"))
        );
        let no_wait = command(&["rebalance", "--policy", "follow-vcpus", "--no-wait"]);
        for other in [no_wait, command(&["status", "rb-2"]), command(&["vm"])] {
            assert_eq!(following(&other), None, "{other:?}");
        }
    }

    #[test]
    fn a_rebalance_that_ended_fails_unless_it_is_done() {
        let ended = |state| {
            let status = status(state, 7, 10);
            let body = serde_json::to_string(&status).unwrap();
            Ended { status, body }
        };
        let done = finished(&ended(RebalanceState::Done), false);
        assert!(done
            .output
            .starts_with("rebalance  rb-1 (to-node)\nstate      done\n"));
        assert_eq!(done.failure, None);
        let json = finished(&ended(RebalanceState::Cancelled), true);
        assert!(
            json.output.starts_with("{\n  \"id\": \"rb-1\",\n"),
            "{}",
            json.output
        );
        assert_eq!(
            json.failure.as_deref(),
            Some("rebalance rb-1 was cancelled")
        );
    }
}
