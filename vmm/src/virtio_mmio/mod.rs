//! The VM's virtio-mmio devices: each disk and network device gets a window on the MMIO bus
//! the vCPUs dispatch to, an IOAPIC pin driven through an irqfd, an ioeventfd per queue so a
//! notification wakes the device's worker without leaving the kernel, and a worker thread
//! pinned to the host node of the guest node it belongs to.

pub mod error;
pub mod layout;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use balancer::topology::HostTopology;
use devices::trigger::EventFdTrigger;
use devices::virtio::block::Block;
use devices::virtio::mmio::{MmioTransport, TransportParts, QUEUE_NOTIFY_OFFSET};
use devices::virtio::net::tap::Tap;
use devices::virtio::net::{Mac, Net};
use devices::virtio::worker::{spawn_worker, WorkerSetup};
use devices::virtio::{DeviceBackend, DeviceCounters, DeviceKind, VirtioInterrupt};
use kvm_ioctls::{IoEventAddress, VmFd};
use vm_device::bus::{MmioAddress, MmioRange};
use vm_device::device_manager::{IoManager, MmioManager};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

pub use self::error::VirtioSetupError;
use self::layout::{slots, MmioSlot};
use crate::config::{DiskSpec, GuestNode, NetSpec};

/// What a device is attached to on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backing {
    /// A disk image.
    Disk {
        /// The image.
        path: PathBuf,
        /// Whether the guest may only read it.
        readonly: bool,
    },
    /// A tap device.
    Tap {
        /// Its name.
        name: String,
        /// The guest's MAC address.
        mac: Mac,
    },
}

/// One virtio device as the API and the metrics show it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Its name: `disk0`, `net0`, ...
    pub name: String,
    /// Block or net.
    pub kind: DeviceKind,
    /// What it is attached to.
    pub backing: Backing,
    /// The guest node it belongs to.
    pub guest_node: Option<u32>,
    /// The host CPUs its worker runs on (None: not pinned).
    pub host_cpus: Option<Vec<usize>>,
    /// Its window and interrupt.
    pub slot: MmioSlot,
    /// Its counters.
    pub counters: Arc<DeviceCounters>,
}

/// A device ready to be wired: its backend and what describes it.
struct Pending {
    backend: Box<dyn DeviceBackend>,
    info: DeviceInfo,
    /// Its worker thread (name and seccomp filter).
    thread: sandbox::ThreadKind,
}

/// The device places the VM's configuration asks for, known before anything is opened (for
/// the ACPI tables).
pub fn planned_slots(disks: usize, nets: usize) -> Result<Vec<MmioSlot>, VirtioSetupError> {
    slots(disks + nets).ok_or(VirtioSetupError::TooMany(disks + nets))
}

/// The default MAC of network device `index`: locally administered, unicast.
fn default_mac(index: usize) -> Mac {
    [0x52, 0x54, 0x00, 0x7e, 0x00, index as u8]
}

/// The host CPUs of the host node that guest node `node` is bound to, if any.
fn worker_cpus(
    node: Option<u32>,
    nodes: &[GuestNode],
    host: &mut Option<HostTopology>,
    what: &str,
) -> Result<Option<Vec<usize>>, VirtioSetupError> {
    let Some(node) = node else {
        return Ok(None);
    };
    let guest =
        nodes
            .iter()
            .find(|n| n.id == node)
            .ok_or_else(|| VirtioSetupError::NoSuchGuestNode {
                what: what.to_string(),
                node,
            })?;
    let Some(host_node) = guest.policy.node() else {
        return Ok(None);
    };
    if host.is_none() {
        *host = HostTopology::read().ok();
    }
    Ok(host
        .as_ref()
        .and_then(|t| t.node(host_node))
        .map(|n| n.cpus.iter().map(|&c| c as usize).collect()))
}

/// A device's number among those of its kind (fewer than MAX_DEVICES, so it fits).
fn device_number(index: usize) -> u8 {
    u8::try_from(index).unwrap_or(u8::MAX)
}

/// Opens every disk and tap (one clear error for the first that fails).
fn open_all(
    disks: &[DiskSpec],
    nets: &[NetSpec],
    nodes: &[GuestNode],
) -> Result<Vec<Pending>, VirtioSetupError> {
    let places = planned_slots(disks.len(), nets.len())?;
    let mut host = None;
    let mut pending = Vec::with_capacity(places.len());
    for (index, disk) in disks.iter().enumerate() {
        let name = format!("disk{index}");
        let what = format!("--disk path={}", disk.path.display());
        let host_cpus = worker_cpus(disk.guest_node, nodes, &mut host, &what)?;
        let id = disk
            .path
            .file_name()
            .map_or_else(|| name.clone(), |f| f.to_string_lossy().into_owned());
        let block = Block::open(&disk.path, disk.readonly, &id)?;
        pending.push(Pending {
            thread: DeviceKind::Block.worker_thread(device_number(index)),
            backend: Box::new(block),
            info: DeviceInfo {
                name,
                kind: DeviceKind::Block,
                backing: Backing::Disk {
                    path: disk.path.clone(),
                    readonly: disk.readonly,
                },
                guest_node: disk.guest_node,
                host_cpus,
                slot: places[index],
                counters: Arc::new(DeviceCounters::default()),
            },
        });
    }
    for (index, net) in nets.iter().enumerate() {
        let what = format!("--net tap={}", net.tap);
        let host_cpus = worker_cpus(net.guest_node, nodes, &mut host, &what)?;
        let mac = net.mac.unwrap_or_else(|| default_mac(index));
        let tap = Tap::open(&net.tap)?;
        pending.push(Pending {
            thread: DeviceKind::Net.worker_thread(device_number(index)),
            backend: Box::new(Net::new(tap, mac)),
            info: DeviceInfo {
                name: format!("net{index}"),
                kind: DeviceKind::Net,
                backing: Backing::Tap {
                    name: net.tap.clone(),
                    mac,
                },
                guest_node: net.guest_node,
                host_cpus,
                slot: places[disks.len() + index],
                counters: Arc::new(DeviceCounters::default()),
            },
        });
    }
    Ok(pending)
}

/// Opens the devices of `disks` and `nets`, starts their workers, wires them to KVM and puts
/// them on `io`'s MMIO bus. Their workers stop when `io` is dropped, which must happen
/// before guest memory goes.
pub fn create_virtio_devices(
    vm: &VmFd,
    io: &mut IoManager,
    mem: &GuestMemoryMmap,
    disks: &[DiskSpec],
    nets: &[NetSpec],
    nodes: &[GuestNode],
) -> Result<Vec<DeviceInfo>, VirtioSetupError> {
    let mut infos = Vec::new();
    for (index, pending) in open_all(disks, nets, nodes)?.into_iter().enumerate() {
        let Pending {
            backend,
            info,
            thread,
        } = pending;
        wire(vm, io, mem, index, backend, &info, thread)?;
        infos.push(info);
    }
    Ok(infos)
}

fn wire(
    vm: &VmFd,
    io: &mut IoManager,
    mem: &GuestMemoryMmap,
    index: usize,
    backend: Box<dyn DeviceBackend>,
    info: &DeviceInfo,
    thread: sandbox::ThreadKind,
) -> Result<(), VirtioSetupError> {
    let create = |what| {
        move |source| VirtioSetupError::Create {
            what,
            index,
            source,
        }
    };
    let kvm = |what| {
        move |e: kvm_ioctls::Error| VirtioSetupError::Kvm {
            what,
            index,
            source: e.into(),
        }
    };
    let trigger = EventFdTrigger::new().map_err(create("interrupt eventfd"))?;
    vm.register_irqfd(&trigger, info.slot.irq)
        .map_err(kvm("interrupt (irqfd)"))?;
    let interrupt = Arc::new(VirtioInterrupt::new(trigger));
    let queues = backend.queue_max_sizes().len();
    let mut queue_events = Vec::with_capacity(queues);
    let mut transport_events = Vec::with_capacity(queues);
    for queue in 0..queues {
        let event = EventFd::new(EFD_NONBLOCK).map_err(create("queue eventfd"))?;
        let notify = IoEventAddress::Mmio(info.slot.base + QUEUE_NOTIFY_OFFSET);
        vm.register_ioevent(&event, &notify, queue as u32)
            .map_err(kvm("queue notification (ioeventfd)"))?;
        transport_events.push(event.try_clone().map_err(create("queue eventfd"))?);
        queue_events.push(event);
    }
    let parts = TransportParts {
        kind: backend.kind(),
        features: backend.features(),
        config: backend.config_space(),
        queue_max_sizes: backend.queue_max_sizes(),
        queue_events: transport_events,
    };
    let worker = spawn_worker(
        backend,
        WorkerSetup {
            thread,
            queue_events,
            interrupt: interrupt.clone(),
            counters: info.counters.clone(),
            cpus: info.host_cpus.clone(),
        },
    )
    .map_err(create("worker thread"))?;
    let transport = MmioTransport::new(parts, mem.clone(), interrupt, worker)
        .map_err(|e| VirtioSetupError::Bus(index, e.to_string()))?;
    let range = MmioRange::new(MmioAddress(info.slot.base), info.slot.size)
        .map_err(|e| VirtioSetupError::Bus(index, format!("{e:?}")))?;
    io.register_mmio(range, Arc::new(Mutex::new(transport)))
        .map_err(|e| VirtioSetupError::Bus(index, format!("{e:?}")))
}
