//! tern-bench: runs Tern's benchmark suite (all of it, or the parts named with `--only`) and
//! writes bench/results/latest.json, latest.md and placement.svg. Parts run with `--only`
//! replace their own results in the report and keep the others'. Exit status 1 if a part
//! failed (the report still holds what was measured).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use tern_tests::bench::{self, report, Part};

/// Runs Tern's benchmarks in the NUMA lab and writes the report.
#[derive(Debug, Parser)]
#[command(name = "tern-bench")]
struct Cli {
    /// Run only these parts (repeatable or comma-separated) [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
    /// Runs per figure (at least 5).
    #[arg(long, default_value_t = bench::MIN_ROUNDS)]
    rounds: usize,
    /// Where the results go [default: bench/results in the workspace].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure nothing: rewrite latest.json and latest.md from the last latest.json.
    #[arg(long)]
    report_only: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = cli.out.clone().unwrap_or_else(bench::default_out_dir);
    let parts: Vec<Part> = if cli.only.is_empty() {
        Part::ALL.to_vec()
    } else {
        Part::ALL
            .iter()
            .copied()
            .filter(|p| cli.only.contains(p))
            .collect()
    };
    let latest = out.join("latest.json");
    let order = bench::part_order();
    let mut results = report::load_parts(&latest);
    let meta = bench::meta();
    let started = Instant::now();
    let mut failed = Vec::new();
    if !cli.report_only {
        for (i, part) in parts.iter().enumerate() {
            println!(
                "bench: [{}/{}] {} ({}), {} rounds",
                i + 1,
                parts.len(),
                part.name(),
                part.estimate(),
                cli.rounds.max(bench::MIN_ROUNDS)
            );
            match bench::run_part(*part, cli.rounds, &out) {
                Ok(result) => {
                    for f in &result.figures {
                        if let Some(s) = f.summary() {
                            println!(
                                "bench:   {:<40} {:>10} {:<6} ({}–{}, n={})",
                                f.key,
                                report::number(s.median),
                                f.unit,
                                report::number(s.min),
                                report::number(s.max),
                                s.n
                            );
                        }
                    }
                    for n in &result.notes {
                        println!("bench:   note: {n}");
                    }
                    results = report::merge(results, result, &order);
                }
                Err(e) => {
                    eprintln!("bench: {} failed: {e}", part.name());
                    failed.push(part.name());
                }
            }
            if let Err(e) = report::write(&out, &results, &bench::clock::utc_now(), &meta) {
                eprintln!("bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else if let Err(e) = report::write(&out, &results, &bench::clock::utc_now(), &meta) {
        eprintln!("bench: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "bench: wrote {} and latest.md in {:.1} min",
        latest.display(),
        started.elapsed().as_secs_f64() / 60.0
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("bench: failed parts: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}
