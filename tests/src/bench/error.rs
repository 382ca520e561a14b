//! What can go wrong while benchmarking.

use crate::LabError;

/// A benchmark part that could not produce its figures.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The lab could not run (after its retries), or was set up wrong.
    #[error("{part}: the lab run failed: {source}")]
    Lab {
        /// The part (and lab run) that failed.
        part: String,
        /// Why.
        source: LabError,
    },
    /// The lab script ended with a non-zero status: the benchmark itself went wrong in L1.
    #[error("{part}: the lab script failed with status {status} (console: {log})")]
    Script {
        /// The part.
        part: String,
        /// The script's exit status.
        status: i32,
        /// Where the console was kept.
        log: String,
    },
    /// The lab ran but its output lacks what the part needs.
    #[error("{part}: {what}")]
    Output {
        /// The part.
        part: String,
        /// What was missing or malformed.
        what: String,
    },
    /// A file could not be read or written, or a process not started.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The system's error.
        source: std::io::Error,
    },
}

impl BenchError {
    /// An [`BenchError::Output`] for `part`.
    pub fn output(part: &str, what: impl Into<String>) -> Self {
        Self::Output {
            part: part.into(),
            what: what.into(),
        }
    }

    /// A closure turning an I/O error into [`BenchError::Io`] saying `what` was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let what = what.into();
        move |source| Self::Io { what, source }
    }
}
