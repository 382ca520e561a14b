//! Getting a vCPU thread out of KVM_RUN: a real-time signal whose handler sets the thread's
//! `immediate_exit` flag, so a kick that lands just before KVM_RUN is not lost.

use std::cell::Cell;
use std::sync::Once;

use kvm_bindings::kvm_run;
use vmm_sys_util::signal::{register_signal_handler, SIGRTMIN};

use crate::error::Error;

thread_local! {
    /// The `kvm_run` area of the vCPU this thread runs, if any.
    static KVM_RUN: Cell<*mut kvm_run> = const { Cell::new(std::ptr::null_mut()) };
}

/// The signal used to kick vCPU threads.
pub fn kick_signal() -> libc::c_int {
    SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let run = KVM_RUN.with(Cell::get);
    if !run.is_null() {
        // SAFETY: the pointer was published by this very thread for the vCPU it runs and is
        // cleared before that vCPU's mapping goes away; a volatile byte store is
        // async-signal-safe.
        unsafe { std::ptr::addr_of_mut!((*run).immediate_exit).write_volatile(1) };
    }
}

/// Installs the kick handler once per process.
pub fn install_kick_handler() -> Result<(), Error> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result =
            register_signal_handler(kick_signal(), on_kick).map_err(|e| Error::Signal(e.into()));
    });
    result
}

/// Publishes (or with null, withdraws) the current thread's `kvm_run` area for the handler.
pub fn publish_kvm_run(run: *mut kvm_run) {
    KVM_RUN.with(|cell| cell.set(run));
}
