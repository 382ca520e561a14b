//! What a finished lab run gives back.

use std::path::PathBuf;
use std::time::Duration;

/// The result of a lab run whose script ran to its end (whatever its exit status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabOutput {
    /// The script's exit status (0 means the test passed).
    pub status: i32,
    /// The whole console, cleaned of terminal escapes, one line per line.
    pub console: String,
    /// Only the script's lines (and so any L2 console it passed on), prefix removed.
    pub script_output: String,
    /// From starting QEMU to QEMU's end.
    pub wall: Duration,
    /// From starting QEMU to L1's ready marker.
    pub boot: Duration,
    /// Time spent building the initramfs.
    pub initramfs_time: Duration,
    /// Which attempt produced this result (1 = the first try).
    pub attempts: u32,
    /// The console log kept for this run.
    pub log: PathBuf,
}

impl LabOutput {
    /// Whether the script exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// The script's lines.
    pub fn script_lines(&self) -> impl Iterator<Item = &str> {
        self.script_output.lines()
    }

    /// The first script line that starts with `prefix`, with the prefix removed.
    pub fn script_value(&self, prefix: &str) -> Option<&str> {
        self.script_lines().find_map(|l| l.strip_prefix(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_in_script_lines() {
        let out = LabOutput {
            status: 0,
            console: String::new(),
            script_output: "nproc=2\nkvm=yes\n".into(),
            wall: Duration::ZERO,
            boot: Duration::ZERO,
            initramfs_time: Duration::ZERO,
            attempts: 1,
            log: PathBuf::new(),
        };
        assert!(out.success());
        assert_eq!(out.script_value("nproc="), Some("2"));
        assert_eq!(out.script_value("nodes="), None);
    }
}
