//! `ternctl`: Tern's command-line client (see `api::ternctl`).

use std::process::ExitCode;

fn main() -> ExitCode {
    api::ternctl::main()
}
