//! The `tern` command line, and how it combines with a `--config` file: each flag given wins
//! over the file's value, `--numa` replaces the file's nodes, and a boolean flag sets true.

use std::path::PathBuf;

use clap::Parser;

use super::file::{ConfigFile, ConfigFileError};
use super::host_cpus::{CpuList, HostCpus};
use super::{
    ByteCount, ConsoleFilter, ConsoleSettings, DiskSpec, GuestNodeSpec, MemSize, MemoryBacking,
    NetSpec, VmConfig, VmName, DEFAULT_CMDLINE,
};

/// Tern: a NUMA-aware microVM monitor. Boots a Linux guest with KVM; the guest's first serial
/// port is this terminal.
#[derive(Debug, Parser)]
#[command(name = "tern", version)]
pub struct Cli {
    /// A JSON file describing the VM, its keys named like the flags (memory_backing for
    /// --memory-backing). Flags given here override it; relative paths in it are relative to its
    /// directory.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Guest kernel: an uncompressed ELF vmlinux or a bzImage [required, here or in --config].
    #[arg(long, value_name = "PATH")]
    pub kernel: Option<PathBuf>,
    /// Initramfs (cpio archive, optionally compressed) for the guest.
    #[arg(long, value_name = "PATH")]
    pub initramfs: Option<PathBuf>,
    /// Kernel command line [default: a serial console setup for microVMs].
    #[arg(long, value_name = "STR")]
    pub cmdline: Option<String>,
    /// Number of vCPUs [default: 1, or the vCPUs of the --numa nodes].
    #[arg(long, value_name = "N")]
    pub vcpus: Option<usize>,
    /// Guest memory: 256M, 1G, or a number of MiB [default: 256M, or the sum of the --numa
    /// nodes].
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<MemSize>,
    /// A guest NUMA node:
    /// node=G,vcpus=LIST,memory=SIZE,host-node=H[,policy=bind|preferred][,host-cpus=LIST|any].
    /// Repeat for each node; LIST is like 0-3,6. Without host-node the node's memory follows
    /// the host's default policy. Its vCPUs are pinned to host-cpus, else to host-node's CPUs;
    /// host-cpus=any leaves them unpinned. Replaces the nodes of --config.
    #[arg(long, value_name = "SPEC")]
    pub numa: Vec<GuestNodeSpec>,
    /// Without --numa: bind all guest memory to this host node (and pin the vCPUs to its
    /// CPUs, unless --host-cpus says otherwise).
    #[arg(long, value_name = "H")]
    pub host_node: Option<u32>,
    /// Without --numa: pin the vCPUs to these host CPUs (LIST like 0-3,6), or leave them
    /// unpinned (any) [default: --host-node's CPUs, else unpinned].
    #[arg(long, value_name = "LIST|any")]
    pub host_cpus: Option<HostCpus>,
    /// Run tern's own threads (event loop, devices, API, balancer, heat, console) on these
    /// host CPUs [default: every CPU tern may use].
    #[arg(long, value_name = "LIST")]
    pub vmm_cpus: Option<CpuList>,
    /// What backs guest memory on the host: thp (transparent huge pages, MADV_HUGEPAGE), anon
    /// (base pages only, MADV_NOHUGEPAGE) or hugetlb (reserved 2 MiB pages) [default: thp].
    #[arg(long, value_enum, value_name = "KIND")]
    pub memory_backing: Option<MemoryBacking>,
    /// Populate all guest memory (on its host nodes) before the guest starts.
    #[arg(long)]
    pub prefault: bool,
    /// When the VM ends, print on stderr on which host nodes each guest memory region sits.
    #[arg(long)]
    pub print_placement_on_exit: bool,
    /// Serve the REST API (HTTP/1.1, JSON) on a Unix socket at PATH, mode 0600.
    #[arg(long, value_name = "PATH")]
    pub api_sock: Option<PathBuf>,
    /// The VM's name (letters, digits, '.', '_', '-'), shown by GET /v1/vm, as the vm label
    /// of its metrics and by ternctl [default: the API socket's file name without its
    /// extension].
    #[arg(long, value_name = "NAME")]
    pub name: Option<VmName>,
    /// Let memory follow vCPUs automatically: when the vCPUs of a guest node settle on
    /// another host node, its memory moves there (rate-limited, with hysteresis).
    #[arg(long)]
    pub auto_balance: bool,
    /// Filter the guest's terminal escape sequences: on passes text, colours and cursor
    /// movement, and drops title changes, screen switches and queries a terminal would answer
    /// [default: on when stdout is a terminal].
    #[arg(long, value_enum, value_name = "on|off")]
    pub console_filter: Option<ConsoleFilter>,
    /// Most bytes per second of guest console output (4096, 64K, 1M; bursts of one second's
    /// worth); the excess is dropped [default: no limit].
    #[arg(long, value_name = "SIZE")]
    pub console_rate: Option<ByteCount>,
    /// Most bytes of guest console output over the VM's life; the rest is dropped [default:
    /// no limit].
    #[arg(long, value_name = "SIZE")]
    pub console_limit: Option<ByteCount>,
    /// What each thread's seccomp filter does with a system call it does not allow: kill
    /// stops tern with a line naming the thread and the call, log lets it through and has the
    /// kernel log it, off installs no filters (for debugging only) [default: kill].
    #[arg(long, value_name = "kill|log|off")]
    pub seccomp: Option<sandbox::Mode>,
    /// A virtio-blk disk on a raw image: path=FILE[,readonly=on][,guest-node=G]. Repeat for
    /// each disk (the first is /dev/vda). guest-node runs its I/O on that guest node's host
    /// node. Replaces the disks of --config.
    #[arg(long, value_name = "SPEC")]
    pub disk: Vec<DiskSpec>,
    /// A virtio-net device on a tap: tap=NAME[,mac=MAC][,guest-node=G]. Repeat for each. The
    /// tap is attached to, or created if tern may. Replaces the nets of --config.
    #[arg(long, value_name = "SPEC")]
    pub net: Vec<NetSpec>,
}

impl Cli {
    /// The VM this command line describes, together with its `--config` file if it names one.
    pub fn into_config(self) -> Result<VmConfig, ConfigFileError> {
        let file = match &self.config {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        self.over(file)
    }

    /// The VM this command line describes, its flags winning over `file`.
    fn over(self, file: ConfigFile) -> Result<VmConfig, ConfigFileError> {
        let numa = match (self.numa.is_empty(), file.numa) {
            (true, Some(file_numa)) => file_numa,
            _ => self.numa,
        };
        let disks = match (self.disk.is_empty(), file.disks) {
            (true, Some(file_disks)) => file_disks,
            _ => self.disk,
        };
        let nets = match (self.net.is_empty(), file.nets) {
            (true, Some(file_nets)) => file_nets,
            _ => self.net,
        };
        Ok(VmConfig {
            kernel: self
                .kernel
                .or(file.kernel)
                .ok_or(ConfigFileError::NoKernel)?,
            initramfs: self.initramfs.or(file.initramfs),
            cmdline: self
                .cmdline
                .or(file.cmdline)
                .unwrap_or_else(|| DEFAULT_CMDLINE.to_string()),
            vcpus: self.vcpus.or(file.vcpus),
            memory: self.memory.or(file.memory),
            numa,
            host_node: self.host_node.or(file.host_node),
            host_cpus: self.host_cpus.or(file.host_cpus),
            vmm_cpus: self.vmm_cpus.map(|list| list.0).or(file.vmm_cpus),
            backing: self
                .memory_backing
                .or(file.memory_backing)
                .unwrap_or_default(),
            prefault: self.prefault || file.prefault,
            print_placement_on_exit: self.print_placement_on_exit || file.print_placement_on_exit,
            api_sock: self.api_sock.or(file.api_sock),
            name: self.name.or(file.name),
            auto_balance: self.auto_balance || file.auto_balance,
            console: ConsoleSettings {
                filter: self.console_filter.or(file.console.filter),
                rate: self.console_rate.or(file.console.rate),
                limit: self.console_limit.or(file.console.limit),
            },
            seccomp: self.seccomp.or(file.seccomp).unwrap_or_default(),
            disks,
            nets,
        })
    }
}

pub use api::cli_error::one_line;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostPolicy;
    use vmm_sys_util::tempdir::TempDir;

    fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("tern").chain(args.iter().copied()))
    }

    fn parse(args: &[&str]) -> Result<VmConfig, clap::Error> {
        cli(args).map(|cli| cli.into_config().unwrap())
    }

    /// A config file holding `json` in a fresh directory, and the directory.
    fn config_file(json: &str) -> (TempDir, String) {
        let dir = TempDir::new_with_prefix("/tmp/tern-cli").unwrap();
        let path = dir.as_path().join("vm.json");
        std::fs::write(&path, json).unwrap();
        (dir, path.to_str().unwrap().to_string())
    }

    /// What `args` and the config file holding `json` describe together.
    fn with_file(json: &str, args: &[&str]) -> Result<VmConfig, ConfigFileError> {
        let (_dir, path) = config_file(json);
        let args: Vec<&str> = ["--config", path.as_str()]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        cli(&args).unwrap().into_config()
    }

    const FILE: &str = r#"{
        "kernel": "/images/bzImage",
        "initramfs": "guest.cpio",
        "cmdline": "console=ttyS0 quiet",
        "vcpus": 2,
        "memory": 1024,
        "numa": [
            {"node": 0, "vcpus": [0], "memory": "512M", "host_node": 0},
            {"node": 1, "vcpus": "1", "memory": 512, "host_node": 1, "policy": "preferred", "host_cpus": "3"}
        ],
        "vmm_cpus": "0-1",
        "memory_backing": "thp",
        "prefault": true,
        "print_placement_on_exit": true,
        "api_sock": "/run/tern.sock",
        "name": "web-1",
        "console_filter": "on",
        "console_rate": "1M",
        "console_limit": 4096,
        "seccomp": "log"
    }"#;

    #[test]
    fn defaults() {
        let config = parse(&["--kernel", "/k"]).unwrap();
        assert_eq!(config, VmConfig::new("/k"));
        assert_eq!(config.backing, MemoryBacking::Thp);
        assert_eq!((config.host_cpus, config.vmm_cpus), (None, None));
    }

    #[test]
    fn every_flag() {
        let config = parse(&[
            "--kernel",
            "/k",
            "--initramfs",
            "/i",
            "--cmdline",
            "console=ttyS0 quiet",
            "--vcpus",
            "2",
            "--memory",
            "1G",
            "--numa",
            "node=0,vcpus=0,memory=512M,host-node=0",
            "--numa",
            "node=1,vcpus=1,memory=512M,host-node=1,host-cpus=2-3,5",
            "--vmm-cpus",
            "0,4",
            "--memory-backing",
            "anon",
            "--prefault",
            "--print-placement-on-exit",
            "--api-sock",
            "/run/t.sock",
            "--console-filter",
            "off",
            "--console-rate",
            "64K",
            "--console-limit",
            "1000000",
            "--seccomp",
            "off",
        ])
        .unwrap();
        assert_eq!(config.seccomp, sandbox::Mode::Off);
        assert_eq!(
            config.console,
            ConsoleSettings {
                filter: Some(ConsoleFilter::Off),
                rate: Some(ByteCount(65536)),
                limit: Some(ByteCount(1_000_000)),
            }
        );
        assert_eq!(config.initramfs, Some(PathBuf::from("/i")));
        assert_eq!(config.cmdline, "console=ttyS0 quiet");
        assert_eq!(
            (config.vcpus, config.memory.map(MemSize::mib)),
            (Some(2), Some(1024))
        );
        assert_eq!(config.numa.len(), 2);
        assert_eq!(config.numa[1].host_node, Some(1));
        assert_eq!(
            config.numa[1].host_cpus,
            Some(HostCpus::List(vec![2, 3, 5]))
        );
        assert_eq!(config.vmm_cpus, Some(vec![0, 4]));
        assert_eq!(config.backing, MemoryBacking::Anon);
        assert!(config.prefault && config.print_placement_on_exit);
        assert_eq!(config.api_sock, Some(PathBuf::from("/run/t.sock")));
        let config = parse(&[
            "--kernel",
            "/k",
            "--host-node",
            "1",
            "--host-cpus",
            "any",
            "--memory-backing",
            "hugetlb",
        ])
        .unwrap();
        assert_eq!(
            (config.host_node, config.host_cpus, config.backing),
            (Some(1), Some(HostCpus::Any), MemoryBacking::Hugetlb)
        );
    }

    #[test]
    fn errors_are_one_sentence() {
        let err = parse(&["--kernel", "/k", "--memory", "lots"]).unwrap_err();
        assert!(
            one_line(&err).contains("'lots' is not a memory size"),
            "{}",
            one_line(&err)
        );
        let err = parse(&["--kernel", "/k", "--numa", "node=0,memory=1G,color=red"]).unwrap_err();
        assert!(
            one_line(&err).contains("unknown key 'color'"),
            "{}",
            one_line(&err)
        );
        let err = parse(&["--kernel", "/k", "--console-rate", "fast"]).unwrap_err();
        assert!(
            one_line(&err).contains("'fast' is not a number of bytes"),
            "{}",
            one_line(&err)
        );
        let err = parse(&["--kernel", "/k", "--console-filter", "maybe"]).unwrap_err();
        assert!(one_line(&err).contains("maybe"), "{}", one_line(&err));
        let err = parse(&["--kernel", "/k", "--host-cpus", "all"]).unwrap_err();
        assert!(
            one_line(&err).contains("'all' is not a list of numbers like 0-3,6"),
            "{}",
            one_line(&err)
        );
        let err = parse(&["--kernel", "/k", "--vmm-cpus", "any"]).unwrap_err();
        assert!(one_line(&err).contains("'any'"), "{}", one_line(&err));
        let err = parse(&["--kernel", "/k", "--memory-backing", "gold"]).unwrap_err();
        assert!(one_line(&err).contains("gold"), "{}", one_line(&err));
        let err = parse(&["--kernel", "/k", "--seccomp", "trap"]).unwrap_err();
        assert!(
            one_line(&err).contains("unknown seccomp mode \"trap\": expected kill, log or off"),
            "{}",
            one_line(&err)
        );
        let err = parse(&["--kernel", "/k", "--name", "a b"]).unwrap_err();
        assert!(
            one_line(&err).contains("may only hold letters, digits"),
            "{}",
            one_line(&err)
        );
    }

    #[test]
    fn a_kernel_comes_from_the_flags_or_the_file() {
        let err = cli(&[]).unwrap().into_config().unwrap_err();
        assert_eq!(
            err.to_string(),
            "no kernel given: use --kernel or \"kernel\" in the config file"
        );
        let err = with_file(r#"{"vcpus": 2}"#, &[]).unwrap_err();
        assert!(matches!(err, ConfigFileError::NoKernel), "{err}");
        let config = with_file(r#"{"vcpus": 2}"#, &["--kernel", "k"]).unwrap();
        assert_eq!(config.kernel, PathBuf::from("k"));
    }

    #[test]
    fn a_full_file_is_the_vm() {
        let (dir, path) = config_file(FILE);
        let config = cli(&["--config", &path]).unwrap().into_config().unwrap();
        let node = |node, vcpu, policy, host_cpus| GuestNodeSpec {
            node,
            vcpus: vec![vcpu],
            memory: MemSize::from_mib(512),
            host_node: Some(node),
            policy,
            host_cpus,
        };
        let expected = VmConfig {
            kernel: "/images/bzImage".into(),
            initramfs: Some(dir.as_path().join("guest.cpio")),
            cmdline: "console=ttyS0 quiet".into(),
            vcpus: Some(2),
            memory: Some(MemSize::from_mib(1024)),
            numa: vec![
                node(0, 0, HostPolicy::Bind, None),
                node(1, 1, HostPolicy::Preferred, Some(HostCpus::List(vec![3]))),
            ],
            host_node: None,
            host_cpus: None,
            vmm_cpus: Some(vec![0, 1]),
            backing: MemoryBacking::Thp,
            prefault: true,
            print_placement_on_exit: true,
            api_sock: Some("/run/tern.sock".into()),
            name: Some("web-1".parse().unwrap()),
            auto_balance: false,
            console: ConsoleSettings {
                filter: Some(ConsoleFilter::On),
                rate: Some(ByteCount(1 << 20)),
                limit: Some(ByteCount(4096)),
            },
            seccomp: sandbox::Mode::Log,
            disks: Vec::new(),
            nets: Vec::new(),
        };
        assert_eq!(config, expected);
    }

    #[test]
    fn disk_and_net_flags_repeat_and_replace_the_files() {
        let config = with_file(
            r#"{"kernel": "k", "disks": [{"path": "root.img"}], "nets": [{"tap": "tap9"}]}"#,
            &[
                "--disk",
                "path=/a.img",
                "--disk",
                "path=/b.img,readonly=on,guest-node=1",
            ],
        )
        .unwrap();
        assert_eq!(config.disks.len(), 2);
        assert!(config.disks[1].readonly);
        assert_eq!(config.disks[1].guest_node, Some(1));
        assert_eq!(config.nets.len(), 1, "the file's nets stay without --net");
        assert_eq!(config.nets[0].tap, "tap9");
        let err = cli(&["--kernel", "/k", "--disk", "readonly=on"]).unwrap_err();
        assert!(err.to_string().contains("'path=' is missing"), "{err}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let config = with_file(
            FILE,
            &[
                "--kernel",
                "vmlinux",
                "--initramfs",
                "other.cpio",
                "--cmdline",
                "console=ttyS0",
                "--vcpus",
                "4",
                "--memory",
                "2G",
                "--memory-backing",
                "hugetlb",
                "--api-sock",
                "t.sock",
                "--name",
                "db",
                "--console-filter",
                "off",
                "--console-limit",
                "1K",
                "--seccomp",
                "kill",
            ],
        )
        .unwrap();
        assert_eq!(config.seccomp, sandbox::Mode::Kill, "the file said log");
        assert_eq!(config.console.filter, Some(ConsoleFilter::Off));
        assert_eq!(config.console.limit, Some(ByteCount(1024)));
        assert_eq!(
            config.console.rate,
            Some(ByteCount(1 << 20)),
            "the file's rate stays"
        );
        // Relative paths on the command line stay relative to the current directory.
        assert_eq!(config.kernel, PathBuf::from("vmlinux"));
        assert_eq!(config.initramfs, Some(PathBuf::from("other.cpio")));
        assert_eq!(config.cmdline, "console=ttyS0");
        assert_eq!(config.vcpus, Some(4));
        assert_eq!(config.memory, Some(MemSize::from_mib(2048)));
        assert_eq!(config.backing, MemoryBacking::Hugetlb);
        assert_eq!(config.api_sock, Some(PathBuf::from("t.sock")));
        assert_eq!(config.vm_name().as_str(), "db");
        assert_eq!(config.numa.len(), 2, "the file's nodes stay without --numa");
        let config =
            with_file(r#"{"kernel": "/k", "host_node": 0}"#, &["--host-node", "1"]).unwrap();
        assert_eq!(config.host_node, Some(1));
        let config = with_file(
            r#"{"kernel": "/k", "host_cpus": "1", "vmm_cpus": "0"}"#,
            &["--host-cpus", "any", "--vmm-cpus", "2-3"],
        )
        .unwrap();
        assert_eq!(
            (config.host_cpus, config.vmm_cpus),
            (Some(HostCpus::Any), Some(vec![2, 3]))
        );
    }

    #[test]
    fn boolean_flags_set_true_and_the_file_can_too() {
        let config = with_file(r#"{"kernel": "/k"}"#, &["--prefault"]).unwrap();
        assert!(config.prefault && !config.print_placement_on_exit);
        let config = with_file(
            r#"{"kernel": "/k", "prefault": false, "print_placement_on_exit": true}"#,
            &["--prefault"],
        )
        .unwrap();
        assert!(config.prefault && config.print_placement_on_exit);
    }

    #[test]
    fn numa_flags_replace_the_files_nodes() {
        let config = with_file(
            FILE,
            &[
                "--vcpus",
                "4",
                "--numa",
                "node=0,vcpus=0-3,memory=1G,host-node=1",
            ],
        )
        .unwrap();
        assert_eq!(config.numa.len(), 1);
        assert_eq!(config.numa[0].vcpus, vec![0, 1, 2, 3]);
        assert_eq!(config.numa[0].host_node, Some(1));
    }

    #[test]
    fn file_errors_reach_into_config() {
        let err = with_file(r#"{"kernel": "/k", "vcpu": 2}"#, &[]).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("config file /tmp/tern-cli"), "{text}");
        assert!(
            text.contains("vm.json: unknown field `vcpu`, expected one of"),
            "{text}"
        );
        let err = cli(&["--config", "/nonexistent/tern/vm.json"])
            .unwrap()
            .into_config()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot read config file /nonexistent/tern/vm.json: No such file or directory (os error 2)"
        );
    }
}
