//! vCPUs: one thread each, named `vcpu<N>`.

pub mod control;
pub mod kick;
pub mod run;
pub mod setup;
pub mod stats;

use std::thread::JoinHandle;

use kvm_ioctls::VcpuFd;
use vmm_sys_util::signal::Killable;

pub use self::run::VcpuContext;
use crate::error::Error;

/// A running vCPU thread.
#[derive(Debug)]
pub struct VcpuThread {
    index: u8,
    handle: JoinHandle<()>,
}

/// Starts vCPU `index` on its own thread, which first moves itself onto `affinity` (if
/// given), before it enters the guest.
pub fn spawn_vcpu(
    fd: VcpuFd,
    index: u8,
    ctx: VcpuContext,
    affinity: Option<Vec<u32>>,
) -> Result<VcpuThread, Error> {
    let handle = std::thread::Builder::new()
        .name(format!("vcpu{index}"))
        .spawn(move || run::run_vcpu(fd, index, ctx, affinity))
        .map_err(|e| Error::Thread(format!("vcpu{index}"), e))?;
    Ok(VcpuThread { index, handle })
}

impl VcpuThread {
    /// The vCPU's index.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// Kicks the thread out of KVM_RUN (it must see the stop request first) and waits for it.
    pub fn stop_and_join(self) {
        if let Err(err) = self.handle.kill(kick::kick_signal()) {
            log::warn!("cannot kick vcpu{}: {err}", self.index);
        }
        if self.handle.join().is_err() {
            log::error!("vcpu{} ended abnormally", self.index);
        }
    }
}

/// Kicks the vCPU thread whose pthread handle `shared` holds out of KVM_RUN (a no-op before
/// the thread has started).
pub fn kick_shared(shared: &control::VcpuShared) {
    let pthread = shared.pthread.load(std::sync::atomic::Ordering::SeqCst);
    if pthread == 0 {
        return;
    }
    // SAFETY: the handle was published by a vCPU thread that is joined only after every kick
    // has been sent (the VMM kicks from its own thread, then joins), so it names a live or
    // not-yet-joined thread; pthread_kill with a valid signal number has no other effect.
    unsafe { libc::pthread_kill(pthread, kick::kick_signal()) };
}
