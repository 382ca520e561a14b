//! `tern-api-fuzz [--requests N] [--seed S] [--case I]`: the API fuzzer (`make fuzz`) against a
//! tern it starts with a heartbeat guest on this host's KVM. Prints the seed first and a
//! summary last; exits 1 when it found anything, with each finding's case number for
//! `--seed S --case I` to replay it alone.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tern_tests::api_fuzz::rng::fresh_seed;
use tern_tests::api_fuzz::{replay_hint, run, start_target, FuzzConfig};

#[derive(Debug, Parser)]
#[command(about = "Fuzz tern's REST API with raw hostile requests")]
struct Args {
    /// Requests to send.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// The seed (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Replay only this case of the seed.
    #[arg(long)]
    case: Option<u64>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(fresh_seed);
    eprintln!("api fuzz: seed {seed} ({})", replay_hint(seed));
    let mut tern = start_target("api-fuzz-cli");
    let mut config = FuzzConfig::new(seed, args.requests);
    config.only_case = args.case;
    let report = run(&mut tern, &config);
    let before = tern.heartbeats();
    std::thread::sleep(Duration::from_secs(2));
    let alive = tern.child.try_wait().ok().flatten().is_none() && tern.heartbeats() > before;
    println!("{}", report.summary());
    println!(
        "api fuzz: after the run tern is {} and its guest {}",
        if tern.child.try_wait().ok().flatten().is_none() {
            "alive"
        } else {
            "gone"
        },
        if alive {
            "still writing heartbeats"
        } else {
            "SILENT"
        }
    );
    if report.findings.is_empty() && alive {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
