//! The lab's errors. A [`LabFailure`] is the lab's own fault (L1 did not boot, QEMU died,
//! L1 locked up or panicked, time ran out, the L2 guest triple-faulted before it was done) and
//! may be retried; every other [`LabError`] is a setup problem that a retry would not fix.
//! A script's non-zero exit status is no error at all: it comes back in
//! [`crate::LabOutput::status`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Why a lab run failed for the lab's own reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// L1 did not print its ready marker within the allowed time.
    NotReady(Duration),
    /// The whole run took longer than the spec's timeout.
    Timeout(Duration),
    /// L1's console fell silent (not even its periodic sign of life) for this long: L1 froze.
    Frozen(Duration),
    /// QEMU exited (or closed its console) before L1 printed the exit marker.
    QemuExited {
        /// QEMU's exit status, as text.
        status: String,
        /// The last lines QEMU wrote to stderr, if any.
        stderr: String,
    },
    /// L1's kernel reported a soft lockup (the line is kept).
    SoftLockup(String),
    /// L1's kernel panicked (the line is kept).
    KernelPanic(String),
    /// L1's kernel printed an Oops or BUG (the line is kept).
    KernelOops(String),
    /// L1's init could not set up the lab (e.g. the kvm modules did not load).
    InitBroken(String),
    /// The L2 guest triple-faulted before it finished its work (see [`crate::guest_fault`];
    /// the line is kept).
    GuestTripleFault(String),
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::NotReady(t) => {
                write!(f, "L1 did not reach its ready marker in {} s", t.as_secs())
            }
            FailureReason::Timeout(t) => write!(f, "the run timed out after {} s", t.as_secs()),
            FailureReason::Frozen(t) => {
                write!(f, "L1 froze: its console was silent for {} s", t.as_secs())
            }
            FailureReason::QemuExited { status, stderr } if stderr.is_empty() => {
                write!(f, "QEMU exited ({status}) before the exit marker")
            }
            FailureReason::QemuExited { status, stderr } => {
                write!(f, "QEMU exited ({status}) before the exit marker: {stderr}")
            }
            FailureReason::SoftLockup(line) => write!(f, "L1 soft lockup: {line}"),
            FailureReason::KernelPanic(line) => write!(f, "L1 kernel panic: {line}"),
            FailureReason::KernelOops(line) => write!(f, "L1 kernel oops: {line}"),
            FailureReason::InitBroken(what) => write!(f, "L1 init could not set up: {what}"),
            FailureReason::GuestTripleFault(line) => {
                write!(f, "the L2 guest triple-faulted: {line}")
            }
        }
    }
}

/// A run that failed for the lab's own reasons, with where its console was saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lab failure on attempt {attempt}: {reason} (console: {})", log.display())]
pub struct LabFailure {
    /// What went wrong.
    pub reason: FailureReason,
    /// Which attempt this was (1-based).
    pub attempt: u32,
    /// The console log of this attempt.
    pub log: PathBuf,
}

/// Everything that can stop a lab run from producing a result.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The spec asks for something the lab cannot do.
    #[error("invalid lab spec: {0}")]
    Spec(String),
    /// A file the lab needs is missing; `hint` says how to make it.
    #[error("{} is missing; {hint}", path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
        /// The command or step that makes it.
        hint: String,
    },
    /// An I/O step of the setup failed.
    #[error("cannot {what}: {source}")]
    Io {
        /// What was being done, as a verb phrase ("read /x", "start QEMU").
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A helper command (ldd, a resources/ script) failed.
    #[error("{command} failed: {detail}")]
    Command {
        /// The command, as it would be typed.
        command: String,
        /// Its exit status and stderr.
        detail: String,
    },
    /// The lab itself failed (retryable).
    #[error(transparent)]
    Lab(#[from] LabFailure),
}

impl LabError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
        let what = what.into();
        move |source| LabError::Io { what, source }
    }

    /// The lab failure inside, if this is one.
    pub fn lab_failure(&self) -> Option<&LabFailure> {
        match self {
            LabError::Lab(f) => Some(f),
            _ => None,
        }
    }
}
