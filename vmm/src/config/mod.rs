//! What a VM is made of, as the user describes it, and its check against the host.

pub mod cli;
pub mod console;
pub mod devices;
pub mod file;
pub mod host_cpus;
pub mod name;
pub mod nodes;
pub mod numa;
pub mod size;
pub mod validate;

use std::path::PathBuf;

pub use self::console::{ByteCount, ConsoleFilter, ConsoleSettings};
pub use self::devices::{DiskSpec, NetSpec};
pub use self::file::{ConfigFile, ConfigFileError};
pub use self::host_cpus::HostCpus;
pub use self::name::VmName;
pub use self::nodes::GuestNode;
pub use self::numa::{GuestNodeSpec, HostPolicy};
pub use self::size::MemSize;

/// The kernel command line used when none is given: the console on the first serial port,
/// reboot through the keyboard controller, and no probing for hardware a microVM lacks.
pub const DEFAULT_CMDLINE: &str =
    "console=ttyS0 reboot=k panic=1 pci=off nomodules i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd";

/// Default number of vCPUs.
pub const DEFAULT_VCPUS: usize = 1;

/// Default guest memory.
pub const DEFAULT_MEMORY: MemSize = MemSize::from_mib(256);

/// What backs guest RAM on the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MemoryBacking {
    /// Anonymous memory in base pages only (madvise MADV_NOHUGEPAGE, so even where the host's
    /// THP mode is "always").
    Anon,
    /// Anonymous memory advised to transparent huge pages (madvise MADV_HUGEPAGE).
    #[default]
    Thp,
    /// 2 MiB hugetlbfs pages (MAP_HUGETLB), reserved on the host beforehand.
    Hugetlb,
}

/// A VM to launch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmConfig {
    /// The guest kernel: an ELF vmlinux or a bzImage.
    pub kernel: PathBuf,
    /// The initramfs, if any.
    pub initramfs: Option<PathBuf>,
    /// The kernel command line.
    pub cmdline: String,
    /// Number of vCPUs, if given (else the `--numa` nodes' or the default).
    pub vcpus: Option<usize>,
    /// Guest memory, if given (else the `--numa` nodes' sum or the default).
    pub memory: Option<MemSize>,
    /// The guest NUMA nodes; empty means one node.
    pub numa: Vec<GuestNodeSpec>,
    /// Without `--numa`: the host node the guest's memory is bound to.
    pub host_node: Option<u32>,
    /// Without `--numa`: the host CPUs the vCPUs are pinned to (else `host_node`'s, if given).
    pub host_cpus: Option<HostCpus>,
    /// The host CPUs tern's own (non-vCPU) threads run on, if given.
    pub vmm_cpus: Option<Vec<u32>>,
    /// What backs guest RAM.
    pub backing: MemoryBacking,
    /// Touch all guest memory before the guest starts.
    pub prefault: bool,
    /// Print where guest memory sits when the VM ends.
    pub print_placement_on_exit: bool,
    /// Serve the REST API on a Unix socket at this path.
    pub api_sock: Option<PathBuf>,
    /// The VM's name, if given (else from the API socket's file name).
    pub name: Option<VmName>,
    /// Let memory follow vCPUs automatically from the start.
    pub auto_balance: bool,
    /// The guest console's output: escape filter and limits.
    pub console: ConsoleSettings,
    /// What the threads' seccomp filters do with a forbidden call.
    pub seccomp: sandbox::Mode,
    /// virtio-blk devices.
    pub disks: Vec<DiskSpec>,
    /// virtio-net devices.
    pub nets: Vec<NetSpec>,
}

impl VmConfig {
    /// The VM's name: `name`, else its API socket's file name (see [`VmName::from_socket`]).
    pub fn vm_name(&self) -> VmName {
        self.name
            .clone()
            .unwrap_or_else(|| VmName::from_socket(self.api_sock.as_deref()))
    }

    /// A VM booting `kernel` with every other setting at its default.
    pub fn new(kernel: impl Into<PathBuf>) -> Self {
        Self {
            kernel: kernel.into(),
            initramfs: None,
            cmdline: DEFAULT_CMDLINE.to_string(),
            vcpus: None,
            memory: None,
            numa: Vec::new(),
            host_node: None,
            host_cpus: None,
            vmm_cpus: None,
            backing: MemoryBacking::default(),
            prefault: false,
            print_placement_on_exit: false,
            api_sock: None,
            name: None,
            auto_balance: false,
            console: ConsoleSettings::default(),
            seccomp: sandbox::Mode::default(),
            disks: Vec::new(),
            nets: Vec::new(),
        }
    }
}
