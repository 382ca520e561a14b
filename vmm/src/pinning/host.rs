//! The host CPUs a pin may name: those that exist (`/sys/devices/system/cpu/present`), are
//! online (`.../online`), and that tern may use (its own affinity at start, which taskset and
//! its cpuset narrow).

use std::path::{Path, PathBuf};

use balancer::idlist::parse_id_list;
use balancer::vcpu_placement::affinity;

use super::PinningError;

/// Where the kernel lists CPUs.
const SYSFS_CPUS: &str = "/sys/devices/system/cpu";

/// The host's CPUs as far as pinning cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCpuFacts {
    /// CPUs that exist.
    pub present: Vec<u32>,
    /// CPUs that are online.
    pub online: Vec<u32>,
    /// CPUs the calling thread may run on.
    pub usable: Vec<u32>,
}

fn read_list(path: PathBuf) -> Result<Vec<u32>, PinningError> {
    let text = std::fs::read_to_string(&path).map_err(|e| PinningError::Read {
        what: path.display().to_string(),
        reason: e.to_string(),
    })?;
    parse_id_list(&text).map_err(|e| PinningError::Read {
        what: path.display().to_string(),
        reason: e.to_string(),
    })
}

impl HostCpuFacts {
    /// Reads them for the calling thread (tern's main thread, before it changes its own
    /// affinity).
    pub fn read() -> Result<Self, PinningError> {
        let root = Path::new(SYSFS_CPUS);
        let usable = affinity(0).map_err(|e| PinningError::Read {
            what: "tern's CPU affinity".to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            present: read_list(root.join("present"))?,
            online: read_list(root.join("online"))?,
            usable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_host() {
        let facts = HostCpuFacts::read().unwrap();
        assert!(!facts.usable.is_empty());
        assert!(facts.usable.iter().all(|c| facts.online.contains(c)));
        assert!(facts.online.iter().all(|c| facts.present.contains(c)));
    }
}
