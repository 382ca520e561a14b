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
mod tests {
    use super::*;
    use vmm_sys_util::tempdir::TempDir;

    const FULL: &str = r#"{
        "kernel": "/images/bzImage",
        "initramfs": "/images/guest.cpio",
        "cmdline": "console=ttyS0 quiet",
        "vcpus": 4,
        "memory": "2G",
        "numa": [
            {"node": 0, "vcpus": "0-1", "memory": "1G", "host_node": 0, "host_cpus": "0-1,4"},
            {"node": 1, "vcpus": [3, 2], "memory": 1024, "host_node": 1, "policy": "preferred", "host_cpus": "any"}
        ],
        "vmm_cpus": [7, 6],
        "memory_backing": "thp",
        "prefault": true,
        "print_placement_on_exit": true,
        "api_sock": "/run/tern.sock",
        "name": "db-2",
        "console_filter": "off",
        "console_rate": "64K",
        "console_limit": 1000000,
        "seccomp": "log"
    }"#;

    fn parse(text: &str) -> Result<ConfigFile, ConfigFileError> {
        ConfigFile::parse(text, Path::new("/etc/tern/vm.json"))
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(file) => format!("parsed: {file:?}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn reads_every_key() {
        let file = parse(FULL).unwrap();
        let node = |node, vcpus: &[u32], host_node, policy, host_cpus| GuestNodeSpec {
            node,
            vcpus: vcpus.to_vec(),
            memory: MemSize::from_mib(1024),
            host_node: Some(host_node),
            policy,
            host_cpus: Some(host_cpus),
        };
        let expected = ConfigFile {
            kernel: Some("/images/bzImage".into()),
            initramfs: Some("/images/guest.cpio".into()),
            cmdline: Some("console=ttyS0 quiet".into()),
            vcpus: Some(4),
            memory: Some(MemSize::from_mib(2048)),
            numa: Some(vec![
                node(
                    0,
                    &[0, 1],
                    0,
                    HostPolicy::Bind,
                    HostCpus::List(vec![0, 1, 4]),
                ),
                node(1, &[2, 3], 1, HostPolicy::Preferred, HostCpus::Any),
            ]),
            host_node: None,
            host_cpus: None,
            vmm_cpus: Some(vec![6, 7]),
            memory_backing: Some(MemoryBacking::Thp),
            prefault: true,
            print_placement_on_exit: true,
            api_sock: Some("/run/tern.sock".into()),
            name: Some("db-2".parse().unwrap()),
            auto_balance: false,
            console: ConsoleSettings {
                filter: Some(ConsoleFilter::Off),
                rate: Some(ByteCount(65536)),
                limit: Some(ByteCount(1_000_000)),
            },
            seccomp: Some(sandbox::Mode::Log),
            disks: None,
            nets: None,
        };
        assert_eq!(file, expected);
        let file = parse(r#"{"host_node": 1, "memory_backing": "hugetlb"}"#).unwrap();
        assert_eq!(file.host_node, Some(1));
        assert_eq!(file.memory_backing, Some(MemoryBacking::Hugetlb));
        assert_eq!(parse("{}").unwrap(), ConfigFile::default());
        let file = parse(r#"{"host_node": 1, "host_cpus": [3, 2, 3], "vmm_cpus": "0"}"#).unwrap();
        assert_eq!(file.host_cpus, Some(HostCpus::List(vec![2, 3])));
        assert_eq!(file.vmm_cpus, Some(vec![0]));
        let file = parse(r#"{"host_node": 1, "host_cpus": "any"}"#).unwrap();
        assert_eq!(file.host_cpus, Some(HostCpus::Any));
    }

    #[test]
    fn disks_and_nets_are_lists_of_objects() {
        let file = parse(
            r#"{"disks": [{"path": "root.img", "readonly": true, "guest_node": 1}],
                "nets": [{"tap": "tap0", "mac": "52:54:00:00:00:01"}]}"#,
        )
        .unwrap();
        let disks = file.disks.unwrap();
        assert_eq!(disks[0].path, Path::new("/etc/tern/root.img"));
        assert!(disks[0].readonly);
        assert_eq!(disks[0].guest_node, Some(1));
        let nets = file.nets.unwrap();
        assert_eq!(nets[0].mac, Some([0x52, 0x54, 0, 0, 0, 1]));
        assert!(parse_err(r#"{"disks": [{"path": "a", "cache": "none"}]}"#)
            .contains("unknown field `cache`"));
        assert!(parse_err(r#"{"nets": [{"tap": "t", "mac": "nope"}]}"#).contains("bad mac 'nope'"));
    }

    #[test]
    fn sizes_are_strings_or_mib() {
        let mib = |json: &str| parse(json).unwrap().memory.map(MemSize::mib);
        assert_eq!(mib(r#"{"memory": "256M"}"#), Some(256));
        assert_eq!(mib(r#"{"memory": "1G"}"#), Some(1024));
        assert_eq!(mib(r#"{"memory": "512"}"#), Some(512));
        assert_eq!(mib(r#"{"memory": 512}"#), Some(512));
        let err = parse_err(r#"{"memory": "lots"}"#);
        assert!(err.contains("'lots' is not a memory size"), "{err}");
        let err = parse_err(r#"{"memory": 1.5}"#);
        assert!(err.contains("expected a memory size"), "{err}");
        let err = parse_err(r#"{"memory": 18446744073709551615}"#);
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn relative_paths_are_relative_to_the_file() {
        let file =
            parse(r#"{"kernel": "bzImage", "initramfs": "../guest.cpio", "api_sock": "t.sock"}"#)
                .unwrap();
        assert_eq!(file.kernel, Some("/etc/tern/bzImage".into()));
        assert_eq!(file.initramfs, Some("/etc/tern/../guest.cpio".into()));
        assert_eq!(file.api_sock, Some("/etc/tern/t.sock".into()));
        let file = ConfigFile::parse(r#"{"kernel": "bzImage"}"#, Path::new("vm.json")).unwrap();
        assert_eq!(file.kernel, Some("bzImage".into()));
        let file = ConfigFile::parse(r#"{"kernel": "bzImage"}"#, Path::new("vms/a.json")).unwrap();
        assert_eq!(file.kernel, Some("vms/bzImage".into()));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse_err(r#"{"kernel": "/k", "vcpu": 2}"#);
        assert!(
            err.starts_with("config file /etc/tern/vm.json: unknown field `vcpu`, expected one of"),
            "{err}"
        );
        let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "cpus": "0"}]}"#);
        assert!(
            err.starts_with("config file /etc/tern/vm.json: unknown field `cpus`, expected one of"),
            "{err}"
        );
        assert!(err.contains("`host_node`"), "{err}");
    }

    #[test]
    fn wrong_types_and_values_give_the_position() {
        let err = parse_err("{\n  \"vcpus\": \"two\"\n}");
        assert!(
            err.starts_with("config file /etc/tern/vm.json: invalid type"),
            "{err}"
        );
        assert!(err.ends_with("at line 2 column 16"), "{err}");
        let err = parse_err(r#"{"prefault": "yes"}"#);
        assert!(err.contains("expected a boolean"), "{err}");
        let err = parse_err(r#"{"memory_backing": "gold"}"#);
        assert!(err.contains("unknown variant `gold`"), "{err}");
        let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "vcpus": "3-1"}]}"#);
        assert!(err.contains("the range 3-1 ends before it starts"), "{err}");
        let err = parse_err(r#"{"numa": [{"node": 0, "vcpus": [-1], "memory": 64}]}"#);
        assert!(err.contains("invalid value: integer `-1`"), "{err}");
        let err = parse_err(r#"{"numa": [{"node": 0, "vcpus": "0"}]}"#);
        assert!(err.contains("missing field `memory`"), "{err}");
        let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "policy": "strict"}]}"#);
        assert!(err.contains("unknown variant `strict`"), "{err}");
        let err = parse_err(r#"{"numa": [{"node": 2, "memory": 64, "policy": "bind"}]}"#);
        assert_eq!(
            err,
            "config file /etc/tern/vm.json: numa node 2 has a \"policy\" but no \"host_node\""
        );
        let err = parse_err(r#"["/k"]"#);
        assert!(
            err.contains("invalid type: sequence, expected a JSON object of VM settings"),
            "{err}"
        );
        let err = parse_err(r#"{"numa": [[0, "0", 64]]}"#);
        assert!(err.contains("expected a numa node object"), "{err}");
        let err = parse_err(r#"{"numa": {"node": 0}}"#);
        assert!(
            err.contains("invalid type: map, expected a sequence"),
            "{err}"
        );
        let err = parse_err(r#"{"console_filter": "auto"}"#);
        assert!(
            err.contains("unknown variant `auto`, expected `on` or `off`"),
            "{err}"
        );
        let err = parse_err(r#"{"seccomp": "trap"}"#);
        assert!(
            err.contains("unknown variant `trap`, expected one of `kill`, `log`, `off`"),
            "{err}"
        );
        let err = parse_err(r#"{"console_rate": "fast"}"#);
        assert!(err.contains("'fast' is not a number of bytes"), "{err}");
        let err = parse_err(r#"{"console_limit": -5}"#);
        assert!(err.contains("expected a number of bytes"), "{err}");
        let err = parse_err("{\n  \"name\": \"web 1\"\n}");
        assert!(err.contains("the VM name 'web 1' may only hold"), "{err}");
        assert!(err.contains(" at line "), "{err}");
        let err = parse_err(r#"{"host_cpus": "all"}"#);
        assert!(
            err.contains(
                "'all' is not a list of numbers like 0-3,6; use a CPU list like 0-3,6 or any"
            ),
            "{err}"
        );
        let err = parse_err(r#"{"host_cpus": []}"#);
        assert!(err.contains("the list is empty"), "{err}");
        let err = parse_err(r#"{"numa": [{"node": 0, "memory": 64, "host_cpus": 3}]}"#);
        assert!(
            err.contains("invalid type: integer `3`, expected host CPUs: \"any\", a string like"),
            "{err}"
        );
        let err = parse_err(r#"{"vmm_cpus": "any"}"#);
        assert!(err.contains("\"any\" is not a CPU list here"), "{err}");
        let err = parse_err(r#"{"vmm_cpus": true}"#);
        assert!(err.contains("expected a CPU list"), "{err}");
        let err = parse_err(r#"{"memory_backing": 2}"#);
        assert!(
            err.contains("invalid type: integer `2`, expected a string"),
            "{err}"
        );
    }

    #[test]
    fn malformed_json_gives_the_position() {
        let err = parse_err("{\n  \"kernel\": \"/k\",\n}");
        assert!(
            err.starts_with("config file /etc/tern/vm.json: trailing comma"),
            "{err}"
        );
        assert!(err.ends_with("at line 3 column 1"), "{err}");
        let err = parse_err("");
        assert!(err.contains("EOF while parsing"), "{err}");
    }

    #[test]
    fn loads_a_file_and_resolves_against_its_directory() {
        let dir = TempDir::new_with_prefix("/tmp/tern-config").unwrap();
        let path = dir.as_path().join("vm.json");
        std::fs::write(&path, r#"{"kernel": "bzImage", "memory": 512}"#).unwrap();
        let file = ConfigFile::load(&path).unwrap();
        assert_eq!(file.kernel, Some(dir.as_path().join("bzImage")));
        assert_eq!(file.memory, Some(MemSize::from_mib(512)));
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = TempDir::new_with_prefix("/tmp/tern-config").unwrap();
        let path = dir.as_path().join("absent.json");
        let err = ConfigFile::load(&path).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "cannot read config file {}: No such file or directory (os error 2)",
                path.display()
            )
        );
    }
}
