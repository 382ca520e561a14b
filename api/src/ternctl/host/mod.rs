//! `ternctl host`: every Tern whose API socket is in a directory (default `/run/tern`), at
//! once. Without a subcommand it shows the host ([`view`]); `host balance` runs the
//! host-wide balancer ([`balance`]).
//!
//! - [`discover`]: the sockets; [`survey`]: asking them all concurrently, each within a
//!   time limit; [`snapshot`]: what they said as the host's state.
//! - [`plan`]: the planning core, a pure function from the host's state to steps.
//! - [`exec`]: carrying out a step through the VMs' APIs; [`stop`]: SIGINT and SIGTERM.

pub mod balance;
pub mod cli;
pub mod discover;
pub mod exec;
pub mod plan;
pub mod snapshot;
pub mod stop;
pub mod survey;
pub mod view;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use self::cli::{HostAction, HostArgs};
use self::discover::sockets_in;
use self::snapshot::{snapshot, OwnPins};
use self::survey::survey;
use self::view::{host_view, render_host};

/// Clears a terminal and puts the cursor home, before each refresh of `--watch`.
const CLEAR: &str = "\x1b[H\x1b[2J";

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "ternctl: {message}");
    ExitCode::from(super::EXIT_FAILED)
}

/// Shows the host once, or every `--watch` seconds until interrupted.
async fn show(args: &HostArgs, json: bool) -> ExitCode {
    let limit = Duration::from_secs_f64(args.timeout);
    let terminal = std::io::stdout().is_terminal();
    let mut first = true;
    loop {
        let sockets = match sockets_in(&args.dir) {
            Ok(sockets) => sockets,
            Err(e) => return fail(&e.to_string()),
        };
        let view = host_view(&snapshot(survey(&sockets, limit).await, &OwnPins::new()));
        let text = match (json, args.watch.is_some()) {
            (true, false) => serde_json::to_string_pretty(&view).map(|t| t + "\n"),
            (true, true) => serde_json::to_string(&view).map(|t| t + "\n"),
            (false, _) => Ok(render_host(&view)),
        };
        let text = match text {
            Ok(text) => text,
            Err(e) => return fail(&format!("cannot write the view as JSON: {e}")),
        };
        let framed = match (args.watch.is_some(), terminal, json, first) {
            (true, true, false, _) => format!("{CLEAR}{text}"),
            (true, false, false, false) => format!("\n{text}"),
            _ => text,
        };
        let status = super::print(&framed);
        let Some(every) = args.watch else {
            return status;
        };
        if status != ExitCode::SUCCESS {
            return status;
        }
        first = false;
        tokio::time::sleep(Duration::from_secs_f64(every)).await;
    }
}

/// Runs `ternctl host` with its arguments; `json` for JSON output.
pub fn main(args: &HostArgs, json: bool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the client runtime: {e}")),
    };
    match &args.action {
        None => runtime.block_on(show(args, json)),
        Some(HostAction::Balance(balance)) => runtime.block_on(balance::run(args, balance, json)),
    }
}
