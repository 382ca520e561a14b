//! Keeping each run's console: `target/lab-logs/<name>-<attempt>.log`. A failed attempt's
//! log is also kept as `<name>-<attempt>-<unix seconds>.log`, so that a later run of the same
//! test does not overwrite the evidence.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::LabError;
use crate::paths;

/// The log file of attempt `attempt` of the run named `name`.
pub fn log_path(name: &str, attempt: u32) -> PathBuf {
    paths::log_dir().join(format!("{name}-{attempt}.log"))
}

/// Writes the QEMU command, the console, QEMU's stderr and the outcome to `path`.
pub fn write(
    path: &Path,
    args: &[String],
    console: &[String],
    stderr: &str,
    outcome: &str,
    wall: Duration,
) -> Result<(), LabError> {
    let mut text = String::new();
    let _ = writeln!(text, "# {} {}", crate::qemu::qemu_binary(), args.join(" "));
    for line in console {
        text.push_str(line);
        text.push('\n');
    }
    if !stderr.trim().is_empty() {
        let _ = writeln!(text, "# qemu stderr:\n{}", stderr.trim_end());
    }
    let _ = writeln!(text, "# {outcome} after {:.1} s", wall.as_secs_f64());
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(LabError::io(format!("create {}", dir.display())))?;
    }
    if !outcome.contains("script exit status 0") {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let kept = path.with_extension(format!("{stamp}.log"));
        let _ = fs::write(&kept, &text);
    }
    fs::write(path, text).map_err(LabError::io(format!("write {}", path.display())))
}
