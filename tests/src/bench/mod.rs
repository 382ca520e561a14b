//! Tern's benchmark suite (`make bench`, the `tern-bench` binary): throughput of moving a
//! running guest's memory between NUMA nodes against numactl's migratepages, what a move
//! and heat sampling cost the guest, boot time against QEMU's microvm, tern's own memory
//! and start-up CPU time. Every part but `startup` runs in the NUMA lab; every figure is a
//! median of repeated runs, each comparison measured side by side in one lab run,
//! alternating. Results: `bench/results/latest.{json,md}` and `placement.svg`.
//! See `bench/README.md`.

pub mod boot;
pub mod clock;
pub mod cpu;
pub mod error;
pub mod figure;
pub mod footprint;
pub mod guest_impact;
pub mod heartbeat;
pub mod host;
pub mod lab;
pub mod migration;
pub mod modes;
pub mod placement;
pub mod procfs;
pub mod records;
pub mod report;
pub mod sampling;
pub mod shell;
pub mod startup;
pub mod stats;
pub mod svg;
pub mod virtio_io;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

pub use error::BenchError;
pub use figure::{Figure, PartResult};

/// The smallest number of runs behind any figure.
pub const MIN_ROUNDS: usize = 5;

/// A part of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Part {
    /// tern's start-up CPU time and memory on this host (no lab; seconds).
    Startup,
    /// tern's resident memory and start-up CPU time in L1 (one lab run).
    Footprint,
    /// Boot to init, Tern against QEMU microvm (three short lab runs).
    Boot,
    /// Heat sampling's cost to a writing guest (one lab run).
    Sampling,
    /// The guest's workload during a move, and the placement plot (one lab run).
    #[value(name = "guest_impact")]
    GuestImpact,
    /// Moving 1 GiB of THP-backed guest memory: Tern's movers against migratepages.
    Migration,
    /// The same with 4 KiB pages (THP off in L1).
    #[value(name = "migration_4k")]
    Migration4k,
    /// Virtio block and network throughput (one lab run).
    Virtio,
    /// The move modes side by side: live, paused, lazy, paced (one lab run).
    Modes,
    /// Three VMs, vCPUs moved by an operator: locality with and without the host balancer.
    Host,
}

impl Part {
    /// Every part, in the order `make bench` runs them.
    pub const ALL: [Part; 10] = [
        Part::Startup,
        Part::Footprint,
        Part::Boot,
        Part::Sampling,
        Part::GuestImpact,
        Part::Migration,
        Part::Migration4k,
        Part::Virtio,
        Part::Modes,
        Part::Host,
    ];

    /// The name its results carry.
    pub fn name(self) -> &'static str {
        match self {
            Part::Startup => startup::PART,
            Part::Footprint => footprint::PART,
            Part::Boot => boot::PART,
            Part::Sampling => sampling::PART,
            Part::GuestImpact => guest_impact::PART,
            Part::Migration => migration::Memory::HugePages.part(),
            Part::Migration4k => migration::Memory::BasePages.part(),
            Part::Virtio => virtio_io::PART,
            Part::Modes => modes::PART,
            Part::Host => host::PART,
        }
    }

    /// About how long it takes, for the progress lines.
    pub fn estimate(self) -> &'static str {
        match self {
            Part::Startup => "under a minute",
            Part::Footprint => "about 2 minutes",
            Part::Boot => "about 6 minutes",
            Part::Sampling => "about 18 minutes",
            Part::GuestImpact => "about 5 minutes",
            Part::Migration => "about 3 minutes",
            Part::Migration4k => "about 8 minutes",
            Part::Virtio => "about 10 minutes",
            Part::Modes => "about 30 minutes",
            Part::Host => "about 15 minutes",
        }
    }
}

/// The names of all parts, in report order.
pub fn part_order() -> Vec<&'static str> {
    Part::ALL.iter().map(|p| p.name()).collect()
}

/// Runs `part` with `rounds` runs per figure (at least [`MIN_ROUNDS`]); the guest-impact
/// part also writes `placement.svg` into `out_dir`.
pub fn run_part(part: Part, rounds: usize, out_dir: &Path) -> Result<PartResult, BenchError> {
    let rounds = rounds.max(MIN_ROUNDS);
    match part {
        Part::Startup => startup::run(rounds),
        Part::Footprint => footprint::run(rounds),
        Part::Boot => boot::run(rounds),
        Part::Sampling => sampling::run(rounds),
        Part::GuestImpact => {
            let (result, plot) = guest_impact::run(rounds)?;
            if let Some(plot) = plot.filter(|p| !p.points.is_empty()) {
                std::fs::create_dir_all(out_dir)
                    .map_err(BenchError::io(format!("create {}", out_dir.display())))?;
                let path = out_dir.join("placement.svg");
                std::fs::write(&path, svg::render(&plot))
                    .map_err(BenchError::io(format!("write {}", path.display())))?;
                println!("bench: wrote {}", path.display());
            }
            Ok(result)
        }
        Part::Migration => migration::run(migration::Memory::HugePages, rounds),
        Part::Migration4k => migration::run(migration::Memory::BasePages, rounds),
        Part::Virtio => virtio_io::run(rounds),
        Part::Modes => modes::run(rounds),
        Part::Host => host::run(rounds),
    }
}

/// `bench/results` in the workspace.
pub fn default_out_dir() -> PathBuf {
    crate::paths::workspace_root().join("bench/results")
}

fn command_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Facts about this run: the tern commit, the host, the guest kernel, QEMU.
pub fn meta() -> Value {
    let root = crate::paths::workspace_root();
    let root = root.to_string_lossy();
    let commit = command_line("git", &["-C", &root, "describe", "--always", "--dirty"]);
    let kernel = std::fs::read_to_string(crate::paths::kernel_dir().join("VERSION"))
        .ok()
        .map(|v| v.trim().to_string());
    json!({
        "commit": commit,
        "host": startup::host_facts(),
        "guest_kernel": kernel,
        "lab_qemu": command_line(&crate::qemu::qemu_binary(), &["--version"])
            .and_then(|v| v.lines().next().map(String::from)),
        "lab_node_mib": lab::NODE_MIB,
        "lab_nodes": 2,
        "min_rounds": MIN_ROUNDS,
    })
}
