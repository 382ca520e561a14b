//! SIGTERM, SIGINT and SIGHUP stop the VM cleanly: the handler notes the signal and wakes the
//! event loop through the exit eventfd, and tern then stops the vCPUs and exits 128+signal.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use vmm_sys_util::signal::register_signal_handler;

use crate::error::Error;
use crate::exit::ExitSignal;

static EXIT_FD: AtomicI32 = AtomicI32::new(-1);
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_terminate(num: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    RECEIVED.store(num, Ordering::SeqCst);
    let fd = EXIT_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: write(2) on an eventfd is async-signal-safe; the buffer is a live u64.
        unsafe { libc::write(fd, std::ptr::addr_of!(one).cast(), 8) };
    }
}

/// Routes the terminating signals to `exit`'s eventfd. `exit` must live until the process
/// ends (tern keeps it in an `Arc` for the whole run).
pub fn install_termination_handlers(exit: &ExitSignal) -> Result<(), Error> {
    EXIT_FD.store(exit.event().as_raw_fd(), Ordering::SeqCst);
    for num in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        register_signal_handler(num, on_terminate).map_err(|e| Error::Signal(e.into()))?;
    }
    Ok(())
}

/// The terminating signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        num => Some(num),
    }
}
