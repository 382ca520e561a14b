//! The vCPU thread: KVM_RUN in a loop, port I/O and MMIO dispatched to the device bus, and every other
//! exit turned into either "keep going" or a reason to stop the VM.

use std::sync::Arc;

use kvm_bindings::{KVM_SYSTEM_EVENT_CRASH, KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN};
use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_device::bus::{MmioAddress, PioAddress};
use vm_device::device_manager::{IoManager, MmioManager, PioManager};

use super::control::VcpuControl;
use super::kick::publish_kvm_run;
use super::stats::{ExitCounters, ExitKind};
use crate::exit::{ExitReason, ExitSignal};

/// What the vCPU threads share.
#[derive(Clone)]
pub struct VcpuContext {
    /// The port I/O bus.
    pub io: Arc<IoManager>,
    /// The VM's exit request.
    pub exit: Arc<ExitSignal>,
    /// Pause handshake, thread ids and counters.
    pub control: Arc<VcpuControl>,
}

impl std::fmt::Debug for VcpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VcpuContext")
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

fn kind_of(exit: &VcpuExit<'_>) -> ExitKind {
    match exit {
        VcpuExit::IoIn(..) => ExitKind::IoIn,
        VcpuExit::IoOut(..) => ExitKind::IoOut,
        VcpuExit::MmioRead(..) => ExitKind::MmioRead,
        VcpuExit::MmioWrite(..) => ExitKind::MmioWrite,
        VcpuExit::Hlt => ExitKind::Hlt,
        VcpuExit::Shutdown => ExitKind::Shutdown,
        VcpuExit::SystemEvent(..) => ExitKind::SystemEvent,
        VcpuExit::Intr => ExitKind::Interrupted,
        _ => ExitKind::Other,
    }
}

/// Handles one exit; `Some` means the VM must stop.
fn handle_exit(
    exit: VcpuExit<'_>,
    index: u8,
    io: &IoManager,
    counters: &ExitCounters,
) -> Option<ExitReason> {
    counters.count(kind_of(&exit));
    match exit {
        VcpuExit::IoIn(port, data) => {
            if io.pio_read(PioAddress(port), data).is_err() {
                data.fill(0xff);
            }
            None
        }
        VcpuExit::IoOut(port, data) => {
            let _ = io.pio_write(PioAddress(port), data);
            None
        }
        VcpuExit::MmioRead(addr, data) => {
            if io.mmio_read(MmioAddress(addr), data).is_err() {
                data.fill(0xff);
            }
            None
        }
        VcpuExit::MmioWrite(addr, data) => {
            let _ = io.mmio_write(MmioAddress(addr), data);
            None
        }
        VcpuExit::Intr => None,
        VcpuExit::Hlt => Some(ExitReason::GuestPowerOff),
        VcpuExit::Shutdown => Some(ExitReason::TripleFault(index)),
        VcpuExit::SystemEvent(kind, _) => match kind {
            KVM_SYSTEM_EVENT_SHUTDOWN => Some(ExitReason::GuestPowerOff),
            KVM_SYSTEM_EVENT_RESET => Some(ExitReason::GuestReset),
            KVM_SYSTEM_EVENT_CRASH => Some(ExitReason::GuestCrash(index)),
            other => Some(failed(
                index,
                format!("sent an unknown system event {other}"),
            )),
        },
        VcpuExit::FailEntry(reason, _) => Some(failed(
            index,
            format!("could not be entered (hardware entry failure reason {reason:#x})"),
        )),
        VcpuExit::InternalError => Some(failed(index, "hit a KVM internal error".to_string())),
        other => Some(failed(
            index,
            format!("made an exit Tern does not handle: {other:?}"),
        )),
    }
}

fn failed(index: u8, reason: String) -> ExitReason {
    ExitReason::VcpuFailed { index, reason }
}

/// Runs vCPU `index` until the VM is asked to stop.
pub fn run_vcpu(mut fd: VcpuFd, index: u8, ctx: VcpuContext) {
    publish_kvm_run(fd.get_kvm_run());
    let Some(shared) = ctx.control.vcpus().get(usize::from(index)) else {
        ctx.exit
            .request(failed(index, "has no control slot".to_string()));
        return;
    };
    // SAFETY: gettid and pthread_self only return the calling thread's ids.
    let (tid, pthread) = unsafe { (libc::gettid(), libc::pthread_self()) };
    shared
        .pthread
        .store(pthread, std::sync::atomic::Ordering::SeqCst);
    shared.tid.store(tid, std::sync::atomic::Ordering::SeqCst);
    while !ctx.exit.is_requested() {
        ctx.control.park_if_paused(&ctx.exit);
        if ctx.exit.is_requested() {
            break;
        }
        let stop = match fd.run() {
            Ok(exit) => handle_exit(exit, index, &ctx.io, &shared.exits),
            Err(err) if err.errno() == libc::EINTR || err.errno() == libc::EAGAIN => {
                shared.exits.count(ExitKind::Interrupted);
                None
            }
            Err(err) => Some(failed(index, format!("failed to run: {err}"))),
        };
        fd.set_kvm_immediate_exit(0);
        if let Some(reason) = stop {
            ctx.exit.request(reason);
        }
    }
    publish_kvm_run(std::ptr::null_mut());
}
