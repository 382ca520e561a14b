//! `ternctl`, Tern's command-line client: parses the command line ([`cli`],
//! [`cli_balance`]), sends the request over the API socket ([`call`]) and renders the answer
//! ([`commands`], [`commands_balance`], [`render`]); a rebalance is followed to its end
//! ([`follow`], [`watch`]) with live progress on a terminal ([`progress`]). `ternctl host`
//! asks every Tern whose socket is in a directory, and balances the host ([`host`]).
//!
//! Exit status: 0 on success, 1 when the server refuses the request or cannot be reached, or
//! a rebalance followed to its end fails or is cancelled (`ternctl: <sentence>` on stderr),
//! 2 for bad usage (one line on stderr).

pub mod call;
pub mod cli;
pub mod cli_balance;
pub mod commands;
pub mod commands_balance;
pub mod error;
pub mod follow;
pub mod host;
pub mod idlist;
pub mod progress;
pub mod render;
pub mod table;
pub mod units;
pub mod watch;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use self::call::Finished;
use self::cli::{no_socket_message, one_line, socket_path, Cli, Command, SOCK_ENV};
use self::error::CtlError;
use crate::client::Client;

/// The server refused the request, or could not be reached.
pub const EXIT_FAILED: u8 = 1;
/// The command line is wrong.
pub const EXIT_USAGE: u8 = 2;

fn fail(message: &str, status: u8) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "ternctl: {message}");
    ExitCode::from(status)
}

/// Prints `text`; a reader that went away (`ternctl vcpus | head -1`) is not an error.
pub(crate) fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&format!("cannot write the output: {e}"), EXIT_FAILED),
    }
}

/// Runs ternctl with the process's arguments and environment.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => return fail(&one_line(&err), EXIT_USAGE),
    };
    if let Command::Host(args) = &cli.command {
        return host::main(args, cli.json);
    }
    let Some(socket) = socket_path(cli.sock, std::env::var_os(SOCK_ENV)) else {
        return fail(&no_socket_message(), EXIT_USAGE);
    };
    let output = Client::new(&socket)
        .map_err(CtlError::from)
        .and_then(|client| commands::run(&client, &cli.command, cli.json));
    match output {
        Ok(Finished {
            output,
            failure: None,
        }) => print(&output),
        Ok(Finished {
            output,
            failure: Some(why),
        }) => {
            let _ = print(&output);
            fail(&why, EXIT_FAILED)
        }
        Err(err) => fail(&err.to_string(), EXIT_FAILED),
    }
}
