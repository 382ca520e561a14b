//! The balancer's one error type.

use std::io;
use std::path::PathBuf;

/// What can go wrong in the balancer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A sysfs file could not be read.
    #[error("cannot read {0}: {1}")]
    Sysfs(PathBuf, #[source] io::Error),
    /// A sysfs file has unexpected contents.
    #[error("unexpected contents in {0}")]
    SysfsFormat(PathBuf),
}
