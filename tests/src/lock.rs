//! One lab at a time: a process-wide mutex, plus an flock(2) on one file for the whole
//! machine (`$TERN_LAB_LOCK`, default `tern-lab.lock` in the system's temporary directory)
//! so that lab runs of different processes and of different checkouts (test binaries,
//! tern-lab, the bench) also wait for each other. The machine has 2 cores; two labs at once
//! would both crawl.

use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::error::LabError;

/// The machine-wide lock file.
fn lock_path() -> PathBuf {
    std::env::var_os("TERN_LAB_LOCK")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("tern-lab.lock"))
}

static LAB_LOCK: Mutex<()> = Mutex::new(());

/// Holds the lab until dropped.
#[derive(Debug)]
pub struct LabLock {
    _file: File,
    _guard: MutexGuard<'static, ()>,
}

/// Waits until no other lab runs in this process or another, then holds the lab.
pub fn acquire() -> Result<LabLock, LabError> {
    // A test that panicked while holding the lock leaves nothing inconsistent behind.
    let guard = LAB_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let path = lock_path();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(LabError::io(format!("create {}", dir.display())))?;
    }
    let file = File::create(&path).map_err(LabError::io(format!("open {}", path.display())))?;
    // SAFETY: flock on a file descriptor that `file` owns and keeps open; the lock goes
    // away when the descriptor is closed (when the LabLock is dropped).
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        return Err(LabError::io(format!("lock {}", path.display()))(e));
    }
    Ok(LabLock {
        _file: file,
        _guard: guard,
    })
}
