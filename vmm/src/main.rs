//! `tern`: boots a Linux microVM with KVM and runs it until the guest powers off or reboots.

use std::process::ExitCode;

use clap::Parser;
use vmm::config::cli::{one_line, Cli};
use vmm::exit::ExitReason;

fn main() -> ExitCode {
    vmm::logger::init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("tern: {}", one_line(&err));
            return ExitCode::from(1);
        }
    };
    let config = match cli.into_config() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("tern: {err}");
            return ExitCode::from(1);
        }
    };
    match vmm::launch(&config) {
        Ok(reason) => {
            match &reason {
                ExitReason::VcpuFailed { index, reason } => {
                    eprintln!("tern: vCPU {index} {reason}")
                }
                ExitReason::GuestCrash(index) => {
                    eprintln!("tern: the guest crashed: vCPU {index} reported a crash")
                }
                ExitReason::TripleFault(index) => {
                    eprintln!("tern: the guest crashed: vCPU {index} triple-faulted")
                }
                ExitReason::Signal(num) => log::info!("stopped by signal {num}"),
                ExitReason::GuestReset | ExitReason::GuestPowerOff | ExitReason::ApiShutdown => {}
            }
            ExitCode::from(u8::try_from(reason.status()).unwrap_or(1))
        }
        Err(err) => {
            eprintln!("tern: {err}");
            ExitCode::from(1)
        }
    }
}
