//! Launching a VM: plan it against the host, build it, boot it, and run it until it stops.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use api::server::socket::bind_api_socket;
use balancer::mempolicy::MemPolicy;
use devices::serial::ConsoleInput;
use kvm_bindings::KVM_MAX_CPUID_ENTRIES;
use kvm_ioctls::{Cap, Kvm, VcpuFd, VmFd};

use balancer::engine::job::JobReport;
use balancer::engine::Balancer;
use balancer::host::SysfsHost;
use balancer::pages::SystemPages;

use crate::arch::cpuid::CpuTopology;
use crate::balance_view::VmView;
use crate::boot::{prepare_boot, BootSource};
use crate::config::VmConfig;
use crate::console::ConsoleOutput;
use crate::control::subscriber::ApiRequestHandler;
use crate::control::worker::SlowRequests;
use crate::control::VmControl;
use crate::device_manager::create_legacy_devices;
use crate::dirty_log::enable_manual_protect;
use crate::error::Error;
use crate::event_loop::EventLoop;
use crate::exit::{ExitReason, ExitSignal};
use crate::memory::{Backing, GuestRam};
use crate::pinning::ThreadPlacement;
use crate::placement_report::placement_lines;
use crate::plan::{plan, VmPlan};
use crate::terminal::RawTerminal;
use crate::vcpu::control::VcpuControl;
use crate::vcpu::{kick, setup, spawn_vcpu, VcpuContext, VcpuThread};
use crate::virtio_mmio::{create_virtio_devices, planned_slots};
use crate::{signals, vm};

fn build_ram(plan: &VmPlan, config: &VmConfig) -> Result<GuestRam, Error> {
    let policy_of = |guest_node: u32| {
        plan.nodes
            .iter()
            .find(|n| n.id == guest_node)
            .map_or(MemPolicy::Default, |n| n.policy.clone())
    };
    let backing = Backing {
        kind: config.backing,
        prefault: config.prefault,
    };
    GuestRam::new(&plan.ram, policy_of, backing)
}

fn create_vcpus(kvm: &Kvm, vm_fd: &VmFd, vcpus: usize, entry: u64) -> Result<Vec<VcpuFd>, Error> {
    let supported = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(|e| Error::Kvm("cannot read the supported CPUID", e.into()))?;
    let topology = CpuTopology {
        vcpus: vcpus as u8,
        tsc_deadline: kvm.check_extension(Cap::TscDeadlineTimer),
    };
    (0..vcpus as u8)
        .map(|index| setup::create_vcpu(vm_fd, index, supported.as_slice(), topology, entry))
        .collect()
}

fn spawn_all(
    fds: Vec<VcpuFd>,
    ctx: &VcpuContext,
    placement: &ThreadPlacement,
    threads: &mut Vec<VcpuThread>,
) -> Result<(), Error> {
    for (index, fd) in fds.into_iter().enumerate() {
        let affinity = placement.vcpu_start_affinity(index as u32);
        threads.push(spawn_vcpu(fd, index as u8, ctx.clone(), affinity)?);
    }
    Ok(())
}

/// The line tern prints when it stops during a rebalance: how far the move got and what
/// became of the memory policies.
fn interrupted_rebalance(job: &JobReport) -> String {
    format!(
        "rebalance {} stopped by the shutdown: {} ({} of {} pages moved)",
        job.id,
        job.message.as_deref().unwrap_or("cancelled"),
        job.progress.pages_moved,
        job.progress.pages_total
    )
}

/// Boots the VM `config` describes, with its console on stdin/stdout, and runs it until the
/// guest powers off or reboots, a vCPU fails, the API asks for a shutdown, or tern is told
/// to stop.
pub fn launch(config: &VmConfig) -> Result<ExitReason, Error> {
    // The filters are built before any thread starts: each thread installs its own.
    sandbox::configure(config.seccomp, kick::kick_signal())?;
    if config.seccomp == sandbox::Mode::Off {
        log::warn!(
            "--seccomp off: tern's threads run without seccomp filters; use it only for debugging"
        );
    }
    // The socket first: it is created under a narrowed umask, before any other thread exists.
    let api_listener = match &config.api_sock {
        Some(path) => Some((bind_api_socket(path)?, path.clone())),
        None => None,
    };
    let kvm = vm::open_kvm()?;
    let plan = plan(config, kvm.get_max_vcpus())?;
    let vcpus = plan.vcpus;
    // The CPUs tern may use (they bound pins and rebalance workers): the plan read them if
    // something is pinned; otherwise they are tern's affinity, read here before it changes.
    let usable_cpus = match plan.threads.usable.as_slice() {
        [] => balancer::vcpu_placement::affinity(0).unwrap_or_default(),
        cpus => cpus.to_vec(),
    };
    // Before any other thread starts: they all inherit the main thread's CPUs.
    plan.threads.apply_vmm_cpus()?;
    let placement = plan.threads.clone();

    let vm_fd = Arc::new(vm::create_vm(&kvm)?);
    let manual_protect = enable_manual_protect(&kvm, &vm_fd);
    let ram = Arc::new(build_ram(&plan, config)?);
    vm::register_ram(&vm_fd, &ram)?;
    let source = BootSource {
        kernel: &config.kernel,
        initramfs: config.initramfs.as_deref(),
        cmdline: &config.cmdline,
    };
    let virtio_slots = planned_slots(config.disks.len(), config.nets.len())?;
    let kernel = prepare_boot(&ram, &source, vcpus, plan.numa.as_ref(), &virtio_slots)?;

    let exit = Arc::new(ExitSignal::new().map_err(|e| Error::Device("exit event", e))?);
    let reset = exit
        .event()
        .try_clone()
        .map_err(|e| Error::Device("i8042 reset line", e))?;
    let console = ConsoleOutput::start(&config.console);
    let mut devices = create_legacy_devices(&vm_fd, console.sink(), reset, exit.clone())?;
    let virtio = create_virtio_devices(
        &vm_fd,
        &mut devices.io,
        ram.memory(),
        &config.disks,
        &config.nets,
        &plan.nodes,
    )?;
    let io = Arc::new(devices.io);
    let vcpu_fds = create_vcpus(&kvm, &vm_fd, vcpus, kernel.entry)?;

    kick::install_kick_handler()?;
    signals::install_termination_handlers(&exit)?;
    let mut event_loop = EventLoop::new(exit.clone())?;
    match ConsoleInput::new(
        devices.console.clone(),
        libc::STDIN_FILENO,
        devices.console_drained,
    ) {
        Ok(input) => event_loop.add(Arc::new(Mutex::new(input))),
        Err(err) => log::info!("no console input: {err}"),
    }
    let vcpu_control = Arc::new(VcpuControl::new(vcpus));
    let vcpu_guest_nodes = (0..vcpus as u32)
        .map(|v| {
            plan.nodes
                .iter()
                .find(|n| n.vcpus.contains(&v))
                .map_or(0, |n| n.id)
        })
        .collect();
    let view = VmView::new(
        ram.clone(),
        vm_fd.clone(),
        manual_protect,
        vcpu_control.clone(),
        vcpu_guest_nodes,
    );
    let balancer = Arc::new(Balancer::new(
        Arc::new(view),
        Arc::new(SystemPages),
        Arc::new(SysfsHost),
    ));
    if config.auto_balance {
        balancer
            .set_auto(true, None, None)
            .map_err(Error::Balancer)?;
    }
    for node in &plan.nodes {
        if let Some(host_node) = node.policy.node() {
            balancer.hold_at_launch(node.id, host_node);
        }
    }
    let control = Arc::new(VmControl {
        name: config.vm_name().to_string(),
        plan,
        ram: ram.clone(),
        vcpus: vcpu_control.clone(),
        exit: exit.clone(),
        started: Instant::now(),
        balancer: balancer.clone(),
        console: console.buffer(),
        usable_cpus,
        devices: virtio,
    });
    let (api_server, slow_requests) = match api_listener {
        Some((listener, path)) => {
            let (handle, requests) = api::request::channel().map_err(Error::ApiStart)?;
            let slow = SlowRequests::start(control.clone()).map_err(Error::ApiStart)?;
            event_loop.add(Arc::new(Mutex::new(ApiRequestHandler::new(
                requests,
                control.clone(),
                slow.queue(),
            ))));
            let server = api::server::start(listener, path, handle).map_err(Error::ApiStart)?;
            (Some(server), Some(slow))
        }
        None => (None, None),
    };
    let terminal = RawTerminal::enter(libc::STDIN_FILENO).unwrap_or_else(|err| {
        log::warn!("cannot put the terminal in raw mode: {err}");
        None
    });

    let ctx = VcpuContext {
        io: io.clone(),
        exit: exit.clone(),
        control: vcpu_control.clone(),
    };
    let mut threads: Vec<VcpuThread> = Vec::with_capacity(vcpus);
    let mut result = spawn_all(vcpu_fds, &ctx, &placement, &mut threads);
    if result.is_ok() {
        // Every thread that starts from here on is one this filter allows (see sandbox).
        sandbox::enter(sandbox::ThreadKind::Main);
        result = event_loop.run();
    }

    exit.mark_requested();
    if let Some(job) = balancer.shut_down() {
        eprintln!("tern: {}", interrupted_rebalance(&job));
    }
    vcpu_control.resume();
    for thread in threads {
        thread.stop_and_join();
    }
    if let Some(server) = api_server {
        server.stop();
    }
    if let Some(slow) = slow_requests {
        slow.stop();
    }
    console.close();
    drop(terminal);
    if config.print_placement_on_exit {
        match placement_lines(ram.as_ref()) {
            Ok(lines) => lines.iter().for_each(|line| eprintln!("tern: {line}")),
            Err(err) => eprintln!("tern: {err}"),
        }
    }
    // The virtio workers (owned by the bus) stop before guest memory goes.
    drop(ctx);
    drop(io);
    drop(control);
    drop(balancer);
    drop(vm_fd);
    drop(ram);
    result.map(|()| exit.reason())
}
