//! What one lab run looks like: L1's NUMA shape, what it carries, the script to run.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::LabError;

/// A file carried from the host into L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarriedFile {
    /// The file on the host.
    pub host: PathBuf,
    /// Its absolute path in L1.
    pub l1_path: String,
}

/// One lab run. Build it with [`LabSpec::new`] and the `with_*`/`carry_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabSpec {
    /// Names the run's logs: `target/lab-logs/<name>-<attempt>.log`.
    pub name: String,
    /// The shell script L1 runs (with `sh`, as root, in `/lab`).
    pub script: String,
    /// L1's NUMA nodes, 1 to 4.
    pub nodes: u32,
    /// Memory per node, in MiB.
    pub node_mib: u32,
    /// CPUs per node.
    pub cpus_per_node: u32,
    /// Limit for the whole run, boot included.
    pub timeout: Duration,
    /// Limit for L1 to reach its ready marker.
    pub ready_timeout: Duration,
    /// How long L1's console may stay silent while the script runs (L1 prints a sign of life
    /// every [`crate::l1init::ALIVE_EVERY_S`] s) before L1 counts as frozen.
    pub silence_limit: Duration,
    /// Extra host files for L1.
    pub files: Vec<CarriedFile>,
    /// Extra host binaries for L1's /usr/local/bin, each with its shared libraries.
    pub binaries: Vec<PathBuf>,
    /// Fail (instead of going on without it) if the tern binary is missing.
    pub require_tern: bool,
    /// Print the console to stdout as it arrives.
    pub echo: bool,
    /// Appended to L1's kernel command line.
    pub l1_cmdline: String,
    /// NUMA distances between L1's nodes, as (from, to, distance); QEMU's defaults (10/20)
    /// for pairs not given. QEMU mirrors a pair given in one direction only.
    pub distances: Vec<(u32, u32, u32)>,
}

impl LabSpec {
    /// The most CPUs or nodes a lab may have.
    pub const MAX_NODES: u32 = 4;

    /// A 2-node lab (1 CPU and 1024 MiB each) running `script`, with a 300 s timeout.
    pub fn new(name: impl Into<String>, script: impl Into<String>) -> Self {
        LabSpec {
            name: name.into(),
            script: script.into(),
            nodes: 2,
            node_mib: 1024,
            cpus_per_node: 1,
            timeout: Duration::from_secs(300),
            ready_timeout: Duration::from_secs(120),
            silence_limit: Duration::from_secs(6 * crate::l1init::ALIVE_EVERY_S),
            files: Vec::new(),
            binaries: Vec::new(),
            require_tern: false,
            echo: false,
            l1_cmdline: String::new(),
            distances: Vec::new(),
        }
    }

    /// Sets the NUMA distance from node `from` to node `to` (and back).
    pub fn with_distance(mut self, from: u32, to: u32, distance: u32) -> Self {
        self.distances.push((from, to, distance));
        self
    }

    /// Sets the number of nodes (1-4).
    pub fn with_nodes(mut self, nodes: u32) -> Self {
        self.nodes = nodes;
        self
    }

    /// Sets the memory per node, in MiB.
    pub fn with_node_mib(mut self, mib: u32) -> Self {
        self.node_mib = mib;
        self
    }

    /// Sets the CPUs per node.
    pub fn with_cpus_per_node(mut self, cpus: u32) -> Self {
        self.cpus_per_node = cpus;
        self
    }

    /// Sets the limit for the whole run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the limit for L1 to reach its ready marker.
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Sets how long L1's console may stay silent while the script runs.
    pub fn with_silence_limit(mut self, limit: Duration) -> Self {
        self.silence_limit = limit;
        self
    }

    /// Echoes the console live to stdout (or not).
    pub fn with_echo(mut self, echo: bool) -> Self {
        self.echo = echo;
        self
    }

    /// Appends `extra` to L1's kernel command line.
    pub fn with_l1_cmdline(mut self, extra: &str) -> Self {
        if !self.l1_cmdline.is_empty() {
            self.l1_cmdline.push(' ');
        }
        self.l1_cmdline.push_str(extra);
        self
    }

    /// Makes a missing tern binary an error.
    pub fn requiring_tern(mut self) -> Self {
        self.require_tern = true;
        self
    }

    /// Carries host file `host` to `l1_path` (absolute) in L1.
    pub fn carry_file(mut self, host: impl Into<PathBuf>, l1_path: impl Into<String>) -> Self {
        self.files.push(CarriedFile {
            host: host.into(),
            l1_path: l1_path.into(),
        });
        self
    }

    /// Carries host binary `host` to L1's /usr/local/bin, with its shared libraries.
    pub fn carry_binary(mut self, host: impl Into<PathBuf>) -> Self {
        self.binaries.push(host.into());
        self
    }

    /// All of L1's CPUs.
    pub fn total_cpus(&self) -> u32 {
        self.nodes * self.cpus_per_node
    }

    /// All of L1's memory, in MiB.
    pub fn total_mib(&self) -> u64 {
        u64::from(self.nodes) * u64::from(self.node_mib)
    }

    /// Checks the spec's numbers and names.
    pub fn validate(&self) -> Result<(), LabError> {
        let bad = |why: String| Err(LabError::Spec(why));
        if !(1..=Self::MAX_NODES).contains(&self.nodes) {
            return bad(format!(
                "{} nodes asked for, the lab has 1 to 4",
                self.nodes
            ));
        }
        if !(1..=8).contains(&self.cpus_per_node) {
            return bad(format!(
                "{} CPUs per node, allowed 1 to 8",
                self.cpus_per_node
            ));
        }
        if !(128..=8192).contains(&self.node_mib) {
            return bad(format!(
                "{} MiB per node, allowed 128 to 8192",
                self.node_mib
            ));
        }
        if self.timeout.is_zero() || self.ready_timeout.is_zero() || self.silence_limit.is_zero() {
            return bad("a timeout of zero".into());
        }
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return bad(format!("name {:?} is not a plain file name", self.name));
        }
        if let Some(f) = self.files.iter().find(|f| !f.l1_path.starts_with('/')) {
            return bad(format!("L1 path {:?} is not absolute", f.l1_path));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_builders() {
        let s = LabSpec::new("t", "true");
        assert_eq!((s.nodes, s.node_mib, s.cpus_per_node), (2, 1024, 1));
        s.validate().unwrap();
        let s = s.with_nodes(3).with_cpus_per_node(2).with_node_mib(512);
        assert_eq!(s.total_cpus(), 6);
        assert_eq!(s.total_mib(), 1536);
        let s = s.with_l1_cmdline("a=1").with_l1_cmdline("b=2");
        assert_eq!(s.l1_cmdline, "a=1 b=2");
    }

    #[test]
    fn refuses_bad_shapes() {
        assert!(LabSpec::new("t", "").with_nodes(0).validate().is_err());
        assert!(LabSpec::new("t", "").with_nodes(5).validate().is_err());
        assert!(LabSpec::new("t", "").with_node_mib(16).validate().is_err());
        assert!(LabSpec::new("a/b", "").validate().is_err());
        assert!(LabSpec::new("t", "")
            .carry_file("/x", "rel")
            .validate()
            .is_err());
        let e = LabSpec::new("t", "").with_nodes(9).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid lab spec: 9 nodes asked for, the lab has 1 to 4"
        );
    }
}
