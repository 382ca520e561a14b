//! The vCPU thread: KVM_RUN in a loop, port I/O and MMIO dispatched to the device bus, and every other
//! exit turned into either "keep going" or a reason to stop the VM.

use std::sync::Arc;

use balancer::idlist::format_id_list;
use balancer::vcpu_placement::set_affinity;
use kvm_bindings::{
    kvm_run, KVM_INTERNAL_ERROR_DELIVERY_EV, KVM_INTERNAL_ERROR_EMULATION,
    KVM_INTERNAL_ERROR_SIMUL_EX, KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, KVM_SYSTEM_EVENT_CRASH,
    KVM_SYSTEM_EVENT_RESET, KVM_SYSTEM_EVENT_SHUTDOWN,
};
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
        other => Some(failed(
            index,
            format!("made an exit Tern does not handle: {other:?}"),
        )),
    }
}

fn failed(index: u8, reason: String) -> ExitReason {
    ExitReason::VcpuFailed { index, reason }
}

/// Most data words of an internal error that KVM fills in.
const INTERNAL_ERROR_DATA_WORDS: usize = 16;

/// What KVM's internal error `suberror` means.
fn suberror_name(suberror: u32) -> &'static str {
    match suberror {
        KVM_INTERNAL_ERROR_EMULATION => "instruction emulation failed",
        KVM_INTERNAL_ERROR_SIMUL_EX => "simultaneous exceptions",
        KVM_INTERNAL_ERROR_DELIVERY_EV => "an exit while delivering an event",
        KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON => "an exit reason KVM does not handle",
        _ => "unknown",
    }
}

/// The sentence fragment for a KVM internal error: its suberror and the data words KVM gave.
pub fn internal_error_reason(suberror: u32, data: &[u64]) -> String {
    let words: Vec<String> = data.iter().map(|w| format!("{w:#x}")).collect();
    format!(
        "hit a KVM internal error: suberror {suberror} ({}), data [{}]",
        suberror_name(suberror),
        words.join(", ")
    )
}

/// Reads the internal error's details from the vCPU's `kvm_run`.
fn internal_error_of(run: &kvm_run) -> String {
    // SAFETY: KVM filled the `internal` member of the union for the KVM_EXIT_INTERNAL_ERROR
    // exit just returned; every bit pattern is valid for its integer fields.
    let internal = unsafe { run.__bindgen_anon_1.internal };
    let ndata = (internal.ndata as usize).min(INTERNAL_ERROR_DATA_WORDS);
    internal_error_reason(internal.suberror, &internal.data[..ndata])
}

/// Lets KVM do its first-run setup of the vCPU without entering the guest: KVM_RUN with
/// `immediate_exit` set returns EINTR at once. Kernel workers KVM starts in tern's process on
/// a vCPU's first run (Linux 6.13 and later: `kvm-nx-lpage-recovery`) copy the affinity of
/// the thread that ran it; done before the vCPU thread pins itself, they get the CPUs of
/// tern's own threads, not one vCPU's.
fn first_run_outside_the_guest(fd: &mut VcpuFd) {
    fd.set_kvm_immediate_exit(1);
    let _ = fd.run();
    fd.set_kvm_immediate_exit(0);
}

/// Runs vCPU `index` until the VM is asked to stop, on the host CPUs `affinity` (if given) from
/// before its first guest instruction.
pub fn run_vcpu(mut fd: VcpuFd, index: u8, ctx: VcpuContext, affinity: Option<Vec<u32>>) {
    if let Some(cpus) = affinity {
        first_run_outside_the_guest(&mut fd);
        if let Err(err) = set_affinity(0, &cpus) {
            let cpus = format_id_list(&cpus);
            ctx.exit.request(failed(
                index,
                format!("cannot be pinned to host CPUs {cpus}: {err}"),
            ));
            return;
        }
    }
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
            Ok(VcpuExit::InternalError) => {
                shared.exits.count(ExitKind::Other);
                Some(failed(index, internal_error_of(fd.get_kvm_run())))
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_names_its_suberror_and_data() {
        assert_eq!(
            internal_error_reason(1, &[0x80000031, 0x3]),
            "hit a KVM internal error: suberror 1 (instruction emulation failed), data [0x80000031, 0x3]"
        );
        assert_eq!(
            internal_error_reason(9, &[]),
            "hit a KVM internal error: suberror 9 (unknown), data []"
        );
    }

    #[test]
    fn the_data_words_are_read_up_to_ndata_and_never_beyond_the_array() {
        let mut run = kvm_run {
            exit_reason: kvm_bindings::KVM_EXIT_INTERNAL_ERROR,
            ..Default::default()
        };
        let mut internal = kvm_bindings::kvm_run__bindgen_ty_1__bindgen_ty_13 {
            suberror: 3,
            ndata: 2,
            ..Default::default()
        };
        internal.data[..2].copy_from_slice(&[0xdead, 0xbeef]);
        run.__bindgen_anon_1.internal = internal;
        assert!(internal_error_of(&run)
            .ends_with("suberror 3 (an exit while delivering an event), data [0xdead, 0xbeef]"));
        internal.ndata = u32::MAX;
        run.__bindgen_anon_1.internal = internal;
        assert_eq!(internal_error_of(&run).matches("0x").count(), 16);
    }
}
