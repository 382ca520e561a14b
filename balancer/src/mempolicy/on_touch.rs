//! Whether this host can let pages follow on touch: the kernel's NUMA balancing must be on
//! (`kernel.numa_balancing` 1 or 3) and mbind(2) must accept MPOL_F_NUMA_BALANCING with
//! MPOL_BIND (Linux 5.15 and later).

use std::io;

use super::{set_policy, MemPolicy};

/// The sysctl that turns the kernel's NUMA balancing on.
const NUMA_BALANCING: &str = "/proc/sys/kernel/numa_balancing";
/// NUMA balancing's mode bit for migrating pages toward the CPUs that touch them (1; 2 is
/// memory tiering only).
const NUMA_BALANCING_NORMAL: u32 = 1;

/// Why pages cannot follow on touch here.
#[derive(Debug, thiserror::Error)]
pub enum OnTouchError {
    /// The kernel has no NUMA balancing (no sysctl).
    #[error(
        "the host kernel has no automatic NUMA balancing ({NUMA_BALANCING} is missing), which \
         lazy mode needs"
    )]
    NoNumaBalancing,
    /// NUMA balancing is off, or only tiers memory.
    #[error(
        "lazy mode needs the kernel's NUMA balancing: kernel.numa_balancing is {0}; set it to 1 \
         (sysctl -w kernel.numa_balancing=1)"
    )]
    Off(u32),
    /// The sysctl could not be read.
    #[error("cannot read kernel.numa_balancing: {0}")]
    Unreadable(io::Error),
    /// mbind refused the flag.
    #[error(
        "the host kernel does not accept MPOL_F_NUMA_BALANCING with mbind(2) (Linux 5.15 or \
         later does), which lazy mode needs: {0}"
    )]
    NoFlag(io::Error),
}

/// Whether kernel.numa_balancing (its text `value`) migrates pages toward the CPUs that
/// touch them.
pub fn balancing_enabled(value: &str) -> Result<(), OnTouchError> {
    let mode: u32 = value
        .trim()
        .parse()
        .map_err(|_| OnTouchError::Unreadable(io::Error::from(io::ErrorKind::InvalidData)))?;
    if mode & NUMA_BALANCING_NORMAL == 0 {
        return Err(OnTouchError::Off(mode));
    }
    Ok(())
}

/// Checks the sysctl, then asks mbind for MPOL_BIND | MPOL_F_NUMA_BALANCING to `node` on a
/// page of its own.
pub fn check(node: u32) -> Result<(), OnTouchError> {
    match std::fs::read_to_string(NUMA_BALANCING) {
        Ok(value) => balancing_enabled(&value)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OnTouchError::NoNumaBalancing),
        Err(e) => return Err(OnTouchError::Unreadable(e)),
    }
    probe_flag(node).map_err(OnTouchError::NoFlag)
}

/// mbind(MPOL_BIND | MPOL_F_NUMA_BALANCING, {node}) on a fresh private page.
fn probe_flag(node: u32) -> io::Result<()> {
    let page = crate::anon_map::AnonMapping::new(4096)?;
    set_policy(
        page.addr(),
        page.len() as u64,
        &MemPolicy::BindOnTouch(node),
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sysctl_must_migrate_toward_touching_cpus() {
        assert!(balancing_enabled("1\n").is_ok());
        assert!(balancing_enabled("3").is_ok());
        for off in ["0", "2"] {
            let err = balancing_enabled(off).unwrap_err();
            assert!(
                err.to_string()
                    .contains("sysctl -w kernel.numa_balancing=1"),
                "{err}"
            );
        }
        assert!(matches!(
            balancing_enabled("x"),
            Err(OnTouchError::Unreadable(_))
        ));
    }

    #[test]
    fn the_probe_answers_on_this_host() {
        // Node 0 exists on every host the tests run on; a kernel before 5.15 says EINVAL.
        match probe_flag(0) {
            Ok(()) => {}
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{e}"),
        }
    }
}
