//! The one error type of the vmm crate. Each variant prints as one sentence that tells the
//! user what failed and with what.

use std::io;
use std::path::PathBuf;

use crate::arch::acpi::AcpiError;
use crate::arch::bootparams::BootParamsError;
use crate::arch::mptable::MpTableError;
use crate::config::nodes::NodesError;
use crate::config::validate::HostFitError;
use crate::config::MemSize;

/// Everything that can stop tern from starting or running a VM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The VM was given no vCPU or more than the host's KVM (or the MP table) allows.
    #[error("{requested} vCPUs requested; this host allows 1 to {max}")]
    VcpuCount {
        /// vCPUs asked for.
        requested: usize,
        /// The most this host allows.
        max: usize,
    },
    /// The guest NUMA configuration contradicts itself.
    #[error(transparent)]
    Nodes(#[from] NodesError),
    /// The host cannot give what the guest nodes ask for.
    #[error(transparent)]
    HostFit(#[from] HostFitError),
    /// The vCPUs or tern's threads cannot be placed on the host CPUs asked for.
    #[error(transparent)]
    Pinning(#[from] crate::pinning::PinningError),
    /// The host's NUMA topology could not be read.
    #[error("cannot read the host's NUMA topology: {0}")]
    HostTopology(#[source] balancer::Error),
    /// A memory policy could not be set on guest memory.
    #[error("cannot set the {} memory policy{} on guest node {guest_node}'s memory: {source}", policy.name(), policy.node().map(|n| format!(" for host node {n}")).unwrap_or_default())]
    MemoryPolicy {
        /// The guest node.
        guest_node: u32,
        /// The policy.
        policy: balancer::mempolicy::MemPolicy,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Guest memory could not be populated up front.
    #[error("cannot prefault guest node {guest_node}'s memory: {source}")]
    Prefault {
        /// The guest node.
        guest_node: u32,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The placement of guest memory could not be read.
    #[error("cannot read where guest memory sits: {0}")]
    Placement(#[source] io::Error),
    /// The VM was given no memory.
    #[error("guest memory must be at least 1 MiB")]
    MemoryZero,
    /// The VM asks for more memory than the host has available.
    #[error("{requested} of guest memory requested, but the host has only {available_mib} MiB available")]
    MemoryTooLarge {
        /// Memory asked for.
        requested: MemSize,
        /// MemAvailable of the host, in MiB.
        available_mib: u64,
    },
    /// A guest memory size does not fit this host's address space.
    #[error("a guest memory region of {0} bytes is too large for this host")]
    GuestMemoryTooLarge(u64),
    /// Host memory for the guest could not be mapped.
    #[error("cannot map {0} bytes of host memory for the guest: {1}")]
    MapGuestMemory(u64, #[source] io::Error),
    /// Guest memory regions overlap or are malformed (a Tern bug).
    #[error("the guest memory layout is inconsistent")]
    GuestMemoryLayout,
    /// A KVM call failed.
    #[error("KVM: {0}: {1}")]
    Kvm(&'static str, #[source] io::Error),
    /// The host's KVM lacks a capability Tern needs.
    #[error("this host's KVM lacks {0}, which Tern needs")]
    KvmMissing(&'static str),
    /// The kernel image could not be opened.
    #[error("cannot open the kernel {0}: {1}")]
    KernelOpen(PathBuf, #[source] io::Error),
    /// The kernel image is neither format Tern boots.
    #[error("the kernel {0} is neither an ELF vmlinux nor a bzImage")]
    KernelFormat(PathBuf),
    /// The kernel image could not be loaded into guest memory.
    #[error("cannot load the kernel {0}: {1}")]
    KernelLoad(PathBuf, String),
    /// The bzImage's setup header rules it out.
    #[error("the kernel {0} is a bzImage Tern cannot boot: {1}")]
    KernelHeader(PathBuf, #[source] crate::boot::bzimage_header::HeaderError),
    /// An ELF kernel's loadable segment rules it out.
    #[error("the kernel {0} cannot be loaded: {1}")]
    KernelSegment(PathBuf, #[source] crate::boot::elf_segments::SegmentError),
    /// The initramfs could not be opened.
    #[error("cannot open the initramfs {0}: {1}")]
    InitramfsOpen(PathBuf, #[source] io::Error),
    /// The initramfs is an empty file.
    #[error("the initramfs {0} is empty")]
    InitramfsEmpty(PathBuf),
    /// The initramfs does not fit in guest memory next to the kernel.
    #[error("the initramfs {path} ({size} bytes) does not fit in the {room} bytes of guest memory left beside the kernel; give the guest more memory")]
    InitramfsTooLarge {
        /// The initramfs.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// Room between the kernel and the top of low memory.
        room: u64,
    },
    /// The initramfs could not be read into guest memory.
    #[error("cannot read the initramfs {0} into guest memory: {1}")]
    InitramfsRead(PathBuf, String),
    /// The kernel command line is invalid or too long.
    #[error("invalid kernel command line: {0}")]
    Cmdline(String),
    /// A boot structure could not be written into guest memory.
    #[error("cannot write the {0} into guest memory: {1}")]
    GuestWrite(&'static str, String),
    /// The zero page could not be built.
    #[error(transparent)]
    BootParams(#[from] BootParamsError),
    /// The ACPI tables could not be laid out.
    #[error(transparent)]
    Acpi(#[from] AcpiError),
    /// The MP table could not be built.
    #[error(transparent)]
    MpTable(#[from] MpTableError),
    /// A vCPU could not be created or configured.
    #[error("cannot {what} of vCPU {index}: {source}")]
    VcpuSetup {
        /// The vCPU.
        index: u8,
        /// The step that failed.
        what: &'static str,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A signal handler could not be installed.
    #[error("cannot install a signal handler: {0}")]
    Signal(#[source] io::Error),
    /// A thread could not be started.
    #[error("cannot start thread {0}: {1}")]
    Thread(String, #[source] io::Error),
    /// A device could not be created.
    #[error("cannot create the {0}: {1}")]
    Device(&'static str, #[source] io::Error),
    /// A device could not be created (device crate).
    #[error(transparent)]
    Devices(#[from] devices::Error),
    /// A device could not be placed on the I/O bus.
    #[error("cannot place the {0} on the I/O bus: {1}")]
    DeviceBus(&'static str, String),
    /// The API socket could not be created.
    #[error(transparent)]
    ApiSocket(#[from] api::server::socket::SocketError),
    /// The API server could not start.
    #[error("cannot start the API server: {0}")]
    ApiStart(#[source] io::Error),
    /// The balancer could not start.
    #[error("cannot start the balancer: {0}")]
    Balancer(#[source] io::Error),
    /// A virtio device could not be set up.
    #[error(transparent)]
    Virtio(#[from] crate::virtio_mmio::VirtioSetupError),
    /// The event loop failed.
    #[error("the event loop failed: {0}")]
    EventLoop(String),
}
