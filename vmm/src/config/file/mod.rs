//! `tern --config FILE`: the VM described as a JSON file whose keys mirror the flags.
//!
//! Relative paths in the file (`kernel`, `initramfs`, `api_sock`) are relative to the directory
//! that holds the file, so a file and the images beside it can be moved together.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use balancer::idlist::parse_id_list;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::devices::{DeviceSpecError, FileDisk, FileNet};
use super::host_cpus::HostCpus;
use super::{
    ByteCount, ConsoleFilter, ConsoleSettings, DiskSpec, GuestNodeSpec, HostPolicy, MemSize,
    MemoryBacking, NetSpec, VmName,
};

/// What a config file sets; `None` (or `false`) where it says nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigFile {
    /// The guest kernel, resolved against the file's directory.
    pub kernel: Option<PathBuf>,
    /// The initramfs, resolved against the file's directory.
    pub initramfs: Option<PathBuf>,
    /// The kernel command line.
    pub cmdline: Option<String>,
    /// Number of vCPUs.
    pub vcpus: Option<usize>,
    /// Guest memory.
    pub memory: Option<MemSize>,
    /// The guest NUMA nodes, if the file lists them.
    pub numa: Option<Vec<GuestNodeSpec>>,
    /// Without `numa`: the host node all guest memory is bound to.
    pub host_node: Option<u32>,
    /// Without `numa`: the host CPUs the vCPUs are pinned to.
    pub host_cpus: Option<HostCpus>,
    /// The host CPUs of tern's own threads.
    pub vmm_cpus: Option<Vec<u32>>,
    /// What backs guest RAM.
    pub memory_backing: Option<MemoryBacking>,
    /// Touch all guest memory before the guest starts.
    pub prefault: bool,
    /// Print where guest memory sits when the VM ends.
    pub print_placement_on_exit: bool,
    /// The REST API's socket, resolved against the file's directory.
    pub api_sock: Option<PathBuf>,
    /// The VM's name.
    pub name: Option<VmName>,
    /// Let memory follow vCPUs automatically from the start.
    pub auto_balance: bool,
    /// The guest console's output settings.
    pub console: ConsoleSettings,
    /// What the seccomp filters do with a forbidden call.
    pub seccomp: Option<sandbox::Mode>,
    /// virtio-blk devices, paths resolved against the file's directory.
    pub disks: Option<Vec<DiskSpec>>,
    /// virtio-net devices.
    pub nets: Option<Vec<NetSpec>>,
}

/// Why a VM configuration could not be put together from a config file and the flags.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file is not valid JSON, has an unknown key, or a value of the wrong type.
    #[error("config file {}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What serde found, with its line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A numa entry gives a policy but no host node to apply it to.
    #[error("config file {}: numa node {node} has a \"policy\" but no \"host_node\"", path.display())]
    PolicyWithoutHostNode {
        /// The file.
        path: PathBuf,
        /// The guest node.
        node: u32,
    },
    /// A device entry is malformed.
    #[error("config file {}: {source}", path.display())]
    Device {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: DeviceSpecError,
    },
    /// Neither the command line nor the file names a kernel.
    #[error("no kernel given: use --kernel or \"kernel\" in the config file")]
    NoKernel,
}

impl ConfigFile {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Reads `text`, the contents of the config file at `path`.
    fn parse(text: &str, path: &Path) -> Result<Self, ConfigFileError> {
        let file: FileVm = serde_json::from_str(text).map_err(|source| ConfigFileError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        let numa = file
            .numa
            .map(|nodes| {
                nodes
                    .into_iter()
                    .map(|entry| entry.into_spec(path))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let disks = file
            .disks
            .map(|disks| disks.into_iter().map(|d| d.into_spec(dir)).collect());
        let nets = file
            .nets
            .map(|nets| {
                nets.into_iter()
                    .map(FileNet::into_spec)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
            .map_err(|source| ConfigFileError::Device {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Self {
            kernel: file.kernel.map(|p| dir.join(p)),
            initramfs: file.initramfs.map(|p| dir.join(p)),
            cmdline: file.cmdline,
            vcpus: file.vcpus,
            memory: file.memory.map(|size| size.0),
            numa,
            host_node: file.host_node,
            host_cpus: file.host_cpus.map(|cpus| cpus.0),
            vmm_cpus: file.vmm_cpus.map(|cpus| cpus.0),
            memory_backing: file.memory_backing.map(|backing| backing.0),
            prefault: file.prefault.unwrap_or(false),
            print_placement_on_exit: file.print_placement_on_exit.unwrap_or(false),
            api_sock: file.api_sock.map(|p| dir.join(p)),
            name: file.name.map(|n| n.0),
            auto_balance: file.auto_balance.unwrap_or(false),
            console: ConsoleSettings {
                filter: file.console_filter.map(|f| f.0),
                rate: file.console_rate.map(|b| b.0),
                limit: file.console_limit.map(|b| b.0),
            },
            seccomp: file.seccomp.map(|m| m.0),
            disks,
            nets,
        })
    }
}

/// The file as JSON: an object, every key optional, no other key allowed.
///
/// `remote = "Self"` makes the derived code an inherent `FileVm::deserialize`, which the
/// `Deserialize` impl below calls through [`ObjectOnly`].
#[derive(Debug, Deserialize)]
#[serde(
    remote = "Self",
    deny_unknown_fields,
    expecting = "a JSON object of VM settings"
)]
struct FileVm {
    kernel: Option<PathBuf>,
    initramfs: Option<PathBuf>,
    cmdline: Option<String>,
    vcpus: Option<usize>,
    memory: Option<FileSize>,
    numa: Option<Vec<FileNumaNode>>,
    host_node: Option<u32>,
    host_cpus: Option<FileHostCpus>,
    vmm_cpus: Option<FileCpuList>,
    memory_backing: Option<FileBacking>,
    prefault: Option<bool>,
    print_placement_on_exit: Option<bool>,
    api_sock: Option<PathBuf>,
    name: Option<FileName>,
    auto_balance: Option<bool>,
    console_filter: Option<FileConsoleFilter>,
    console_rate: Option<FileBytes>,
    console_limit: Option<FileBytes>,
    seccomp: Option<FileSeccomp>,
    disks: Option<Vec<FileDisk>>,
    nets: Option<Vec<FileNet>>,
}

/// One entry of `numa`: an object (derived like [`FileVm`]).
#[derive(Debug, Deserialize)]
#[serde(
    remote = "Self",
    deny_unknown_fields,
    expecting = "a numa node object like {\"node\": 0, \"vcpus\": \"0-1\", \"memory\": \"1G\"}"
)]
struct FileNumaNode {
    node: u32,
    #[serde(default)]
    vcpus: FileVcpus,
    memory: FileSize,
    host_node: Option<u32>,
    policy: Option<FilePolicy>,
    host_cpus: Option<FileHostCpus>,
}

impl<'de> Deserialize<'de> for FileVm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The inherent (derived) function, not this one.
        FileVm::deserialize(ObjectOnly(deserializer))
    }
}

impl<'de> Deserialize<'de> for FileNumaNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The inherent (derived) function, not this one.
        FileNumaNode::deserialize(ObjectOnly(deserializer))
    }
}

/// A deserializer that reads structs from objects only. Serde's derived structs also accept
/// arrays, by field order, which would take `["/k"]` for `{"kernel": "/k"}`.
struct ObjectOnly<D>(D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

impl FileNumaNode {
    fn into_spec(self, path: &Path) -> Result<GuestNodeSpec, ConfigFileError> {
        if self.policy.is_some() && self.host_node.is_none() {
            return Err(ConfigFileError::PolicyWithoutHostNode {
                path: path.to_path_buf(),
                node: self.node,
            });
        }
        Ok(GuestNodeSpec {
            node: self.node,
            vcpus: self.vcpus.0,
            memory: self.memory.0,
            host_node: self.host_node,
            policy: self.policy.map(|policy| policy.0).unwrap_or_default(),
            host_cpus: self.host_cpus.map(|cpus| cpus.0),
        })
    }
}

/// `"bind"` or `"preferred"`.
#[derive(Clone, Copy, Debug)]
struct FilePolicy(HostPolicy);

impl<'de> Deserialize<'de> for FilePolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "bind" => Ok(Self(HostPolicy::Bind)),
            "preferred" => Ok(Self(HostPolicy::Preferred)),
            other => Err(de::Error::unknown_variant(other, &["bind", "preferred"])),
        }
    }
}

/// `"anon"`, `"thp"` or `"hugetlb"`.
#[derive(Clone, Copy, Debug)]
struct FileBacking(MemoryBacking);

impl<'de> Deserialize<'de> for FileBacking {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "anon" => Ok(Self(MemoryBacking::Anon)),
            "thp" => Ok(Self(MemoryBacking::Thp)),
            "hugetlb" => Ok(Self(MemoryBacking::Hugetlb)),
            other => Err(de::Error::unknown_variant(
                other,
                &["anon", "thp", "hugetlb"],
            )),
        }
    }
}

/// A VM name (see [`VmName`]).
#[derive(Clone, Debug)]
struct FileName(VmName);

impl<'de> Deserialize<'de> for FileName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map(Self)
            .map_err(de::Error::custom)
    }
}

/// `"on"` or `"off"`.
#[derive(Clone, Copy, Debug)]
struct FileConsoleFilter(ConsoleFilter);

impl<'de> Deserialize<'de> for FileConsoleFilter {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "on" => Ok(Self(ConsoleFilter::On)),
            "off" => Ok(Self(ConsoleFilter::Off)),
            other => Err(de::Error::unknown_variant(other, &["on", "off"])),
        }
    }
}

/// `"kill"`, `"log"` or `"off"`.
#[derive(Clone, Copy, Debug)]
struct FileSeccomp(sandbox::Mode);

impl<'de> Deserialize<'de> for FileSeccomp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map(Self)
            .map_err(|_| de::Error::unknown_variant(&text, &["kill", "log", "off"]))
    }
}

/// A number of bytes: a string such as `"64K"` or `"1M"`, or an integer.
#[derive(Debug)]
struct FileBytes(ByteCount);

impl<'de> Deserialize<'de> for FileBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FileBytesVisitor)
    }
}

struct FileBytesVisitor;

impl Visitor<'_> for FileBytesVisitor {
    type Value = FileBytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number of bytes: a string like \"64K\" or \"1M\", or an integer")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FileBytes, E> {
        text.parse().map(FileBytes).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<FileBytes, E> {
        Ok(FileBytes(ByteCount(bytes)))
    }
}

/// A memory size: a string such as `"256M"` or `"1G"`, or an integer number of MiB.
#[derive(Debug)]
struct FileSize(MemSize);

impl<'de> Deserialize<'de> for FileSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FileSizeVisitor)
    }
}

struct FileSizeVisitor;

impl Visitor<'_> for FileSizeVisitor {
    type Value = FileSize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a memory size: a string like \"256M\" or \"1G\", or an integer number of MiB")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FileSize, E> {
        text.parse().map(FileSize).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, mib: u64) -> Result<FileSize, E> {
        // Through the text form, so that sizes too large for 64 bits of bytes are refused alike.
        self.visit_str(&mib.to_string())
    }
}

/// A guest node's vCPUs: a list such as `"0-3,6"`, or an array of integers.
#[derive(Debug, Default)]
struct FileVcpus(Vec<u32>);

impl<'de> Deserialize<'de> for FileVcpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FileVcpusVisitor)
    }
}

struct FileVcpusVisitor;

impl<'de> Visitor<'de> for FileVcpusVisitor {
    type Value = FileVcpus;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a vCPU list: a string like \"0-3,6\" or an array of integers")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<FileVcpus, E> {
        parse_id_list(text).map(FileVcpus).map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FileVcpus, A::Error> {
        let mut ids = Vec::new();
        while let Some(id) = seq.next_element::<u32>()? {
            ids.push(id);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(FileVcpus(ids))
    }
}

/// A non-empty CPU list: a string such as `"0-3,6"`, or an array of integers.
#[derive(Debug)]
struct FileCpuList(Vec<u32>);

impl<'de> Deserialize<'de> for FileCpuList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(FileHostCpusVisitor(
            "a CPU list: a string like \"0-3,6\" or an array of integers",
        ))? {
            HostCpus::List(cpus) => Ok(Self(cpus)),
            HostCpus::Any => Err(de::Error::custom(
                "\"any\" is not a CPU list here; give CPUs like \"0-3,6\"",
            )),
        }
    }
}

/// Host CPUs for vCPUs: `"any"`, a string such as `"0-3,6"`, or an array of integers.
#[derive(Debug)]
struct FileHostCpus(HostCpus);

impl<'de> Deserialize<'de> for FileHostCpus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(FileHostCpusVisitor(
                "host CPUs: \"any\", a string like \"0-3,6\" or an array of integers",
            ))
            .map(Self)
    }
}

struct FileHostCpusVisitor(&'static str);

impl<'de> Visitor<'de> for FileHostCpusVisitor {
    type Value = HostCpus;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<HostCpus, E> {
        text.parse().map_err(E::custom)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HostCpus, A::Error> {
        let mut cpus = Vec::new();
        while let Some(cpu) = seq.next_element::<u32>()? {
            cpus.push(cpu);
        }
        HostCpus::list(cpus).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
