//! The ledger of lab runs: one line per run (its name, the attempts it took, how it ended),
//! appended by every process that runs a lab, so that `make test` can say at its end how
//! many runs the lab's own failures cost, and fail when they were too many. The retries are
//! also printed as they happen, on tern-tests' stderr, past the test harness's capture.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::paths;

/// More than one run in this many needing a retry fails `make test`.
pub const RUNS_PER_ALLOWED_RETRY: usize = 5;

/// The ledger file (`$TERN_LAB_LEDGER`, default `target/lab-logs/ledger.tsv`).
pub fn path() -> PathBuf {
    std::env::var_os("TERN_LAB_LEDGER")
        .map(PathBuf::from)
        .unwrap_or_else(|| paths::log_dir().join("ledger.tsv"))
}

/// Appends a run: its name, the attempts it took, and its outcome in a few words.
pub fn record(name: &str, attempts: u32, outcome: &str) {
    let path = path();
    if let Some(dir) = path.parent() {
        let _ = fs::create_dir_all(dir);
    }
    let line = format!(
        "{}\t{attempts}\t{}\n",
        name.replace(['\t', '\n'], " "),
        outcome.replace(['\t', '\n'], " ")
    );
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        say(&format!(
            "lab: cannot record the run in {}: {e}",
            path.display()
        ));
    }
}

/// Prints a line on stderr directly, past the test harness's output capture.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Forgets every run recorded so far.
pub fn reset() -> std::io::Result<()> {
    match fs::remove_file(path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// What the ledger says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lab runs.
    pub runs: usize,
    /// The runs that needed a retry: (name, attempts, outcome).
    pub retried: Vec<(String, u32, String)>,
}

impl Summary {
    /// Reads the ledger's text.
    pub fn parse(text: &str) -> Self {
        let mut summary = Self::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut fields = line.splitn(3, '\t');
            let name = fields.next().unwrap_or_default().to_string();
            let attempts: u32 = fields.next().and_then(|a| a.parse().ok()).unwrap_or(1);
            let outcome = fields.next().unwrap_or_default().to_string();
            summary.runs += 1;
            if attempts > 1 {
                summary.retried.push((name, attempts, outcome));
            }
        }
        summary
    }

    /// Reads the ledger file (an absent ledger has no runs).
    pub fn read() -> Self {
        Self::parse(&fs::read_to_string(path()).unwrap_or_default())
    }

    /// Whether the lab failed more often than allowed: more than one run in
    /// [`RUNS_PER_ALLOWED_RETRY`] needed a retry.
    pub fn too_many(&self) -> bool {
        self.retried.len() * RUNS_PER_ALLOWED_RETRY > self.runs
    }

    /// The lines `make test` ends with: one per retried run, then the count.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .retried
            .iter()
            .map(|(name, attempts, outcome)| {
                format!("lab: {name} took {attempts} attempts ({outcome})")
            })
            .collect();
        lines.push(format!(
            "lab retries: {} of {} lab runs",
            self.retried.len(),
            self.runs
        ));
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_runs_and_those_that_needed_a_retry() {
        let text = "lab_boot_a\t1\tscript exit status 0\n\
                    lab_numa_b\t2\tscript exit status 0 after: L1 froze\n\
                    lab_api\t1\tscript exit status 1\n\
                    lab_x\t1\tok\nlab_y\t1\tok\n";
        let s = Summary::parse(text);
        assert_eq!(s.runs, 5);
        assert_eq!(s.retried.len(), 1);
        assert!(!s.too_many(), "one in five is allowed");
        assert_eq!(
            s.lines(),
            vec![
                "lab: lab_numa_b took 2 attempts (script exit status 0 after: L1 froze)"
                    .to_string(),
                "lab retries: 1 of 5 lab runs".to_string()
            ]
        );
        let s = Summary::parse(&format!("{text}lab_z\t3\tlab failure: L1 froze\n"));
        assert!(s.too_many(), "two in six is too many");
        assert_eq!(Summary::parse(""), Summary::default());
        assert!(!Summary::default().too_many());
    }
}
