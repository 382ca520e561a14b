//! tern-soak: many live moves of a running guest's memory in the NUMA lab, with faults, each
//! checked from the host's side; writes bench/results/soak.json (`make soak`). Exit status 1
//! if any move or run failed or the guest found a corrupted word.
//!
//! `tern-soak l1 ...` is the driver of one lab run, inside L1 (the host side carries this
//! same binary there).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use tern_tests::bench;
use tern_tests::soak::case::Backing;
use tern_tests::soak::driver::{self, DriverConfig};
use tern_tests::soak::lab::{run_soak, GuestShape, RunSizes, SoakPlan};
use tern_tests::soak::report;

/// Moves a running guest's memory between the lab's nodes many times, with faults, and
/// checks every move from the host's side.
#[derive(Debug, Parser)]
#[command(name = "tern-soak")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    soak: SoakArgs,
}

#[derive(Debug, Args)]
struct SoakArgs {
    /// Live moves in all.
    #[arg(long, default_value_t = 1000)]
    moves: u32,
    /// Moves per THP-backed lab run (each a fresh L1 and tern).
    #[arg(long, default_value_t = RunSizes::default().thp)]
    thp_per_run: u32,
    /// Moves per lab run of 4 KiB pages.
    #[arg(long, default_value_t = RunSizes::default().base)]
    base_per_run: u32,
    /// The seed the moves are dealt from [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Memory per guest node (two nodes, one vCPU each), MiB.
    #[arg(long, default_value_t = GuestShape::default().node_mib)]
    node_mib: u64,
    /// Memory the guest's workload checks on each vCPU, MiB.
    #[arg(long, default_value_t = GuestShape::default().workload_mib)]
    workload_mib: u64,
    /// Where the figures go [default: bench/results/soak.json in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Echo L1's console.
    #[arg(long)]
    echo: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inside L1: the driver of one lab run.
    L1(L1Args),
}

#[derive(Debug, Args)]
struct L1Args {
    /// The run's number.
    #[arg(long)]
    run: u32,
    /// Moves to make.
    #[arg(long)]
    moves: u32,
    /// The seed.
    #[arg(long)]
    seed: u64,
    /// How guest memory is backed.
    #[arg(long, value_enum)]
    backing: Backing,
    /// No move starts after this many seconds.
    #[arg(long)]
    deadline_s: u64,
    /// Memory per guest node, MiB.
    #[arg(long)]
    node_mib: u64,
    /// Memory the workload checks per vCPU, MiB.
    #[arg(long)]
    workload_mib: u64,
}

fn drive_in_l1(args: &L1Args) -> ExitCode {
    let cfg = DriverConfig {
        run: args.run,
        moves: args.moves,
        seed: args.seed,
        backing: args.backing,
        deadline: Duration::from_secs(args.deadline_s),
        node_mib: args.node_mib,
        workload_mib: args.workload_mib,
        tern: "/usr/local/bin/tern".into(),
        kernel: "/images/vmlinux".into(),
        initramfs: "/images/guest.cpio".into(),
    };
    let record = driver::drive(&cfg);
    driver::report(&record);
    ExitCode::SUCCESS
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() ^ u64::from(d.subsec_nanos()))
}

fn soak(args: &SoakArgs) -> ExitCode {
    let driver = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tern-soak: cannot find its own binary to carry into L1: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = SoakPlan {
        moves: args.moves,
        per_run: RunSizes {
            thp: args.thp_per_run,
            base: args.base_per_run,
        },
        seed: args.seed.unwrap_or_else(seed_from_clock),
        shape: GuestShape {
            node_mib: args.node_mib,
            workload_mib: args.workload_mib,
        },
        driver,
        name: "soak".into(),
        echo: args.echo,
    };
    println!(
        "soak: seed {} (SOAK_SEED={} replays the same moves): {} moves, {} per THP lab run, {} per \
         lab run of 4 KiB pages",
        plan.seed, plan.seed, plan.moves, plan.per_run.thp, plan.per_run.base
    );
    let result = run_soak(&plan, |line| println!("{line}"));
    let meta = json!({
        "commit": bench::meta()["commit"],
        "finished_at": bench::clock::utc_now(),
        "guest_kernel": bench::meta()["guest_kernel"],
    });
    let doc = report::report(&result, &meta);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| bench::default_out_dir().join("soak.json"));
    if let Err(e) = report::write(&out, &doc) {
        eprintln!("tern-soak: cannot write {}: {e}", out.display());
        return ExitCode::from(2);
    }
    println!("{}", report::summary(&doc));
    println!("soak: wrote {}", out.display());
    let clean = result.failures().is_empty() && result.bad_words() == 0;
    if clean && doc["moves"].as_u64() == Some(u64::from(plan.moves)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::L1(args)) => drive_in_l1(args),
        None => soak(&cli.soak),
    }
}
