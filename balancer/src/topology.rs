//! The host's NUMA topology from sysfs: nodes, their CPUs, total and free memory, free huge
//! pages, and the distance table.

use std::fs;
use std::path::{Path, PathBuf};

use crate::idlist::parse_id_list;
use crate::Error;

/// Where the kernel describes NUMA nodes.
pub const SYSFS_NODES: &str = "/sys/devices/system/node";

/// One host NUMA node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostNode {
    /// The node number.
    pub id: u32,
    /// Its CPUs.
    pub cpus: Vec<u32>,
    /// Its memory, in bytes.
    pub total_bytes: u64,
    /// Its free memory, in bytes, when read.
    pub free_bytes: u64,
    /// Its free 2 MiB huge pages.
    pub free_huge_pages_2m: u64,
    /// Distance to each node, indexed like [`HostTopology::nodes`].
    pub distances: Vec<u32>,
}

/// All host nodes, in ascending id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostTopology {
    /// The online nodes with memory or CPUs.
    pub nodes: Vec<HostNode>,
}

fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::Sysfs(path.to_path_buf(), e))
}

fn meminfo_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find(|line| line.split_whitespace().nth(2) == Some(key))
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
}

impl HostTopology {
    /// Reads the topology of this host.
    pub fn read() -> Result<Self, Error> {
        Self::read_from(Path::new(SYSFS_NODES))
    }

    /// Reads a topology from a sysfs-like tree rooted at `root` (for tests).
    pub fn read_from(root: &Path) -> Result<Self, Error> {
        let online = root.join("online");
        let ids = parse_id_list(&read(&online)?).map_err(|_| Error::SysfsFormat(online))?;
        let mut nodes = Vec::with_capacity(ids.len());
        for id in ids {
            let dir = root.join(format!("node{id}"));
            let cpus_path = dir.join("cpulist");
            let cpus =
                parse_id_list(&read(&cpus_path)?).map_err(|_| Error::SysfsFormat(cpus_path))?;
            let meminfo_path = dir.join("meminfo");
            let meminfo = read(&meminfo_path)?;
            let total = meminfo_kib(&meminfo, "MemTotal:")
                .ok_or_else(|| Error::SysfsFormat(meminfo_path.clone()))?;
            let free = meminfo_kib(&meminfo, "MemFree:").ok_or(Error::SysfsFormat(meminfo_path))?;
            let distance_path = dir.join("distance");
            let distances = read(&distance_path)?
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .map_err(|_| Error::SysfsFormat(distance_path))?;
            let huge: PathBuf = dir.join("hugepages/hugepages-2048kB/free_hugepages");
            let free_huge_pages_2m = fs::read_to_string(huge)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            nodes.push(HostNode {
                id,
                cpus,
                total_bytes: total * 1024,
                free_bytes: free * 1024,
                free_huge_pages_2m,
                distances,
            });
        }
        Ok(Self { nodes })
    }

    /// The node with number `id`.
    pub fn node(&self, id: u32) -> Option<&HostNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The distance from node `from` to node `to` (10 means local), if both exist.
    pub fn distance(&self, from: u32, to: u32) -> Option<u32> {
        let index = self.nodes.iter().position(|n| n.id == to)?;
        self.node(from)?.distances.get(index).copied()
    }

    /// The node a CPU belongs to.
    pub fn node_of_cpu(&self, cpu: u32) -> Option<u32> {
        self.nodes
            .iter()
            .find(|n| n.cpus.contains(&cpu))
            .map(|n| n.id)
    }

    /// Every CPU of the host.
    pub fn cpus(&self) -> Vec<u32> {
        let mut cpus: Vec<u32> = self
            .nodes
            .iter()
            .flat_map(|n| n.cpus.iter().copied())
            .collect();
        cpus.sort_unstable();
        cpus
    }
}

/// Builds fake sysfs trees for tests, here and in the crates that use the topology.
pub mod fake {
    use std::fs;
    use std::path::Path;

    /// Writes node `id` with `cpus` (a cpulist), `total_mib`/`free_mib` of memory and a
    /// distance row, plus the `online` list of all `ids`.
    pub fn write_node(
        root: &Path,
        id: u32,
        cpus: &str,
        total_mib: u64,
        free_mib: u64,
        distances: &[u32],
    ) -> std::io::Result<()> {
        let dir = root.join(format!("node{id}"));
        fs::create_dir_all(dir.join("hugepages/hugepages-2048kB"))?;
        fs::write(dir.join("cpulist"), format!("{cpus}\n"))?;
        fs::write(
            dir.join("meminfo"),
            format!(
                "Node {id} MemTotal:       {} kB\nNode {id} MemFree:        {} kB\nNode {id} MemUsed:  1 kB\n",
                total_mib * 1024,
                free_mib * 1024
            ),
        )?;
        let row: Vec<String> = distances.iter().map(u32::to_string).collect();
        fs::write(dir.join("distance"), format!("{}\n", row.join(" ")))?;
        fs::write(dir.join("hugepages/hugepages-2048kB/free_hugepages"), "0\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_sys_util::tempdir::TempDir;

    fn two_nodes() -> (TempDir, HostTopology) {
        let dir = TempDir::new().unwrap();
        fs::write(dir.as_path().join("online"), "0-1\n").unwrap();
        fake::write_node(dir.as_path(), 0, "0-1", 1024, 900, &[10, 21]).unwrap();
        fake::write_node(dir.as_path(), 1, "2-3", 2048, 2000, &[21, 10]).unwrap();
        let topo = HostTopology::read_from(dir.as_path()).unwrap();
        (dir, topo)
    }

    #[test]
    fn reads_nodes_cpus_memory_and_distances() {
        let (_dir, topo) = two_nodes();
        assert_eq!(topo.nodes.len(), 2);
        let n1 = topo.node(1).unwrap();
        assert_eq!(n1.cpus, vec![2, 3]);
        assert_eq!((n1.total_bytes, n1.free_bytes), (2048 << 20, 2000 << 20));
        assert_eq!(topo.distance(0, 1), Some(21));
        assert_eq!(topo.distance(1, 1), Some(10));
        assert_eq!(topo.distance(0, 7), None);
        assert_eq!(topo.node_of_cpu(3), Some(1));
        assert_eq!(topo.cpus(), vec![0, 1, 2, 3]);
    }

    #[test]
    fn reports_the_file_that_is_wrong() {
        let dir = TempDir::new().unwrap();
        fs::write(dir.as_path().join("online"), "0\n").unwrap();
        fake::write_node(dir.as_path(), 0, "0", 1, 1, &[10]).unwrap();
        fs::write(dir.as_path().join("node0/distance"), "ten\n").unwrap();
        let err = HostTopology::read_from(dir.as_path()).unwrap_err();
        assert!(err.to_string().contains("node0/distance"), "{err}");
    }

    #[test]
    fn reads_this_host() {
        let topo = HostTopology::read().unwrap();
        assert!(!topo.nodes.is_empty());
        assert!(topo.nodes.iter().any(|n| !n.cpus.is_empty()));
        assert_eq!(topo.distance(topo.nodes[0].id, topo.nodes[0].id), Some(10));
    }
}
