//! What a filter does with a system call it does not allow.

use std::fmt;
use std::str::FromStr;

/// How tern's seccomp filters treat a call outside them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Stop tern: the call raises SIGSYS (SECCOMP_RET_TRAP), whose handler names the thread
    /// and the call on stderr and exits with [`STATUS_FORBIDDEN_CALL`](crate::STATUS_FORBIDDEN_CALL).
    #[default]
    Kill,
    /// Let the call through and have the kernel log it (SECCOMP_RET_LOG: the audit log, or
    /// the kernel log as `audit: type=1326 ... syscall=N`).
    Log,
    /// No filters (for debugging only).
    Off,
}

/// A mode name that is not `kill`, `log` or `off`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown seccomp mode {0:?}: expected kill, log or off")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kill" => Ok(Self::Kill),
            "log" => Ok(Self::Log),
            "off" => Ok(Self::Off),
            other => Err(UnknownMode(other.to_string())),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kill => "kill",
            Self::Log => "log",
            Self::Off => "off",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_back_as_written() {
        for mode in [Mode::Kill, Mode::Log, Mode::Off] {
            assert_eq!(mode.to_string().parse::<Mode>(), Ok(mode));
        }
        assert_eq!(Mode::default(), Mode::Kill);
        assert_eq!(
            "trap".parse::<Mode>().unwrap_err().to_string(),
            "unknown seccomp mode \"trap\": expected kill, log or off"
        );
    }
}
