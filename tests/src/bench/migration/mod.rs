//! Moving all of a running guest's memory (1 GiB, prefaulted on host node 0) to node 1:
//! Tern's mover in each configuration against numactl's `migratepages <tern pid> 0 1`, on
//! the same VM in the same lab run, alternating in rotated order, five rounds or more.
//! Before every timed move the memory goes back to node 0 with a fixed, untimed Tern move.
//!
//! Two memory kinds, each its own lab run: L1's default (THP mode `always`, so guest memory
//! is transparent huge pages) and base 4 KiB pages (THP off in L1 before tern starts).

mod analyze;
mod script;

use std::time::Duration;

use super::error::BenchError;
use super::figure::PartResult;
use super::lab;

pub use analyze::analyze;
pub use script::script;

/// Pages of the guest's memory (1 GiB of 4 KiB pages).
pub const GUEST_PAGES: u64 = 262_144;

/// What backs guest memory in the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Memory {
    /// L1's default: transparent huge pages (THP mode `always`).
    HugePages,
    /// THP off: 4 KiB pages only.
    BasePages,
}

impl Memory {
    /// The part's name, and the prefix of its figure keys.
    pub fn part(self) -> &'static str {
        match self {
            Memory::HugePages => "migration",
            Memory::BasePages => "migration_4k",
        }
    }

    /// In words, for labels.
    pub fn words(self) -> &'static str {
        match self {
            Memory::HugePages => "THP",
            Memory::BasePages => "4 KiB pages",
        }
    }
}

/// A Tern mover configuration: its name, its description, its `ternctl rebalance` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoverConfig {
    /// Short name, used in keys.
    pub name: &'static str,
    /// What it is.
    pub label: &'static str,
    /// Options for `ternctl rebalance`.
    pub args: &'static str,
}

/// Tern's mover configurations measured; the first is Tern's default.
pub const CONFIGS: [MoverConfig; 7] = [
    MoverConfig {
        name: "single",
        label: "move_pages, 1 thread, batch 512 (default)",
        args: "",
    },
    MoverConfig {
        name: "workers_2",
        label: "move_pages, 2 workers, batch 512",
        args: "--workers 2",
    },
    MoverConfig {
        name: "mbind",
        label: "mbind(MPOL_MF_MOVE), 64 MiB per call",
        args: "--method mbind",
    },
    MoverConfig {
        name: "batch_64",
        label: "move_pages, 1 thread, batch 64",
        args: "--batch-pages 64",
    },
    MoverConfig {
        name: "batch_256",
        label: "move_pages, 1 thread, batch 256",
        args: "--batch-pages 256",
    },
    MoverConfig {
        name: "batch_1024",
        label: "move_pages, 1 thread, batch 1024",
        args: "--batch-pages 1024",
    },
    MoverConfig {
        name: "batch_4096",
        label: "move_pages, 1 thread, batch 4096",
        args: "--batch-pages 4096",
    },
];

/// The name of the migratepages "configuration" in the rotation.
pub const MIGRATEPAGES: &str = "migratepages";

/// Runs the part for `memory` with `rounds` rounds.
pub fn run(memory: Memory, rounds: usize) -> Result<PartResult, BenchError> {
    let part = memory.part();
    let timeout = match memory {
        Memory::HugePages => Duration::from_secs(20 * 60),
        Memory::BasePages => Duration::from_secs(28 * 60),
    };
    let spec = lab::spec(&format!("bench-{part}"), script(memory, rounds), timeout)
        .carry_binary("/usr/bin/migratepages");
    let out = lab::run(part, &spec)?;
    let mut result = analyze(memory, &out.script_output)?;
    result.detail("console", out.log.display().to_string().into());
    result.detail("lab_attempts", out.attempts.into());
    lab::note_vm_deaths(&mut result, &out.script_output);
    for d in lab::diagnostics(&out) {
        result.note(format!("guest console: {d}"));
    }
    Ok(result)
}
