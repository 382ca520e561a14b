//! tern-lab: runs one NUMA lab with a script, echoing L1's console, and exits with the
//! script's status (3 for a lab failure, 4 for a setup error, each with a one-line reason).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use tern_tests::ledger::{self, Summary};
use tern_tests::{run, run_with_retries, LabError, LabSpec};

/// What to do with the ledger of lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LedgerAction {
    /// Forget the runs recorded so far.
    Reset,
    /// Print each run that needed a retry and `lab retries: N of M lab runs`; exit 1 when
    /// more than one run in five needed one.
    Summary,
}

/// Runs a shell script in L1, a QEMU-emulated Linux with NUMA nodes and nested KVM.
#[derive(Debug, Parser)]
#[command(name = "tern-lab")]
struct Cli {
    /// L1's NUMA nodes (1-4).
    #[arg(long, default_value_t = 2)]
    nodes: u32,
    /// Memory per node, in MiB.
    #[arg(long, default_value_t = 1024)]
    node_mib: u32,
    /// CPUs per node.
    #[arg(long, default_value_t = 1)]
    cpus_per_node: u32,
    /// Limit for the whole run, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Echo L1's console to stdout as it arrives.
    #[arg(long)]
    echo: bool,
    /// Do not retry a lab failure.
    #[arg(long)]
    no_retry: bool,
    /// Names the console logs (target/lab-logs/NAME-N.log); default: the script's name.
    #[arg(long)]
    name: Option<String>,
    /// Appended to L1's kernel command line.
    #[arg(long, default_value = "")]
    l1_cmdline: String,
    /// Carry a host file into L1, as HOST:L1PATH (repeatable).
    #[arg(long = "file", value_name = "HOST:L1PATH")]
    files: Vec<String>,
    /// Carry a host binary and its libraries into L1's /usr/local/bin (repeatable).
    #[arg(long = "binary", value_name = "PATH")]
    binaries: Vec<PathBuf>,
    /// The shell script L1 runs.
    #[arg(long, required_unless_present = "ledger")]
    script: Option<PathBuf>,
    /// Instead of running a lab: reset or summarize the ledger of lab runs (make test).
    #[arg(long, value_enum, conflicts_with = "script")]
    ledger: Option<LedgerAction>,
}

fn spec(cli: &Cli, path: &std::path::Path) -> Result<LabSpec, String> {
    let script = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let name = cli.name.clone().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "lab".into())
    });
    let mut spec = LabSpec::new(name, script)
        .with_nodes(cli.nodes)
        .with_node_mib(cli.node_mib)
        .with_cpus_per_node(cli.cpus_per_node)
        .with_timeout(Duration::from_secs(cli.timeout))
        .with_echo(cli.echo)
        .with_l1_cmdline(&cli.l1_cmdline);
    for f in &cli.files {
        let (host, l1) = f
            .split_once(':')
            .ok_or_else(|| format!("--file {f:?} is not HOST:L1PATH"))?;
        spec = spec.carry_file(host, l1);
    }
    for b in &cli.binaries {
        spec = spec.carry_binary(b);
    }
    Ok(spec)
}

fn ledger_action(action: LedgerAction) -> ExitCode {
    match action {
        LedgerAction::Reset => match ledger::reset() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("tern-lab: cannot reset {}: {e}", ledger::path().display());
                ExitCode::from(4)
            }
        },
        LedgerAction::Summary => {
            let summary = Summary::read();
            summary.lines().iter().for_each(|l| println!("{l}"));
            if summary.too_many() {
                println!(
                    "lab: more than one lab run in {} needed a retry: the lab is failing too often \
                     to trust this run",
                    ledger::RUNS_PER_ALLOWED_RETRY
                );
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(action) = cli.ledger {
        return ledger_action(action);
    }
    let Some(path) = cli.script.clone() else {
        eprintln!("tern-lab: give --script FILE");
        return ExitCode::from(4);
    };
    let spec = match spec(&cli, &path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tern-lab: {e}");
            return ExitCode::from(4);
        }
    };
    let result = if cli.no_retry {
        run(&spec)
    } else {
        run_with_retries(&spec)
    };
    match result {
        Ok(out) => {
            eprintln!(
                "tern-lab: script exit status {} (initramfs {:.2} s, boot {:.1} s, wall {:.1} s, \
                 attempt {}, console {})",
                out.status,
                out.initramfs_time.as_secs_f64(),
                out.boot.as_secs_f64(),
                out.wall.as_secs_f64(),
                out.attempts,
                out.log.display()
            );
            ExitCode::from(u8::try_from(out.status).unwrap_or(1))
        }
        Err(LabError::Lab(f)) => {
            eprintln!("tern-lab: {f}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("tern-lab: {e}");
            ExitCode::from(4)
        }
    }
}
