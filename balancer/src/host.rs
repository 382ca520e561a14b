//! The host as the engine sees it: its NUMA topology now (nodes, CPUs, free memory), behind
//! a trait so the engine's logic is tested against any host.

use crate::topology::HostTopology;
use crate::Error;

/// Where the engine learns about the host.
pub trait HostInfo: Send + Sync {
    /// The host's NUMA topology, with free memory as of now.
    fn topology(&self) -> Result<HostTopology, Error>;
}

/// This host, from sysfs.
#[derive(Clone, Copy, Debug, Default)]
pub struct SysfsHost;

impl HostInfo for SysfsHost {
    fn topology(&self) -> Result<HostTopology, Error> {
        HostTopology::read()
    }
}

/// A host whose topology is fixed, for tests.
#[derive(Clone, Debug)]
pub struct FixedHost(pub HostTopology);

impl HostInfo for FixedHost {
    fn topology(&self) -> Result<HostTopology, Error> {
        Ok(self.0.clone())
    }
}
