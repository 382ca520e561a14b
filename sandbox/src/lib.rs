//! Tern's sandbox: one seccomp filter per kind of thread, installed by each thread when it
//! starts, before it handles any guest or client input.
//!
//! `tern` calls [`configure`] once, before it starts any thread; every thread then calls
//! [`enter`] with its kind as the first thing it does (the main thread when its event loop
//! starts). Without [`configure`] (unit tests, other programs), [`enter`] only notes the
//! thread's kind. The filters allow what each kind of thread calls (see [`rules`]); a call
//! outside them stops tern with one line naming the thread and the call (mode `kill`), or is
//! logged by the kernel and let through (mode `log`).

mod filter;
pub mod ioctls;
mod kind;
mod mode;
mod report;
pub mod rules;
mod selftest;
pub mod table;

use std::sync::OnceLock;

pub use self::kind::{FilterKind, ThreadKind};
pub use self::mode::{Mode, UnknownMode};
pub use self::report::{restore_terminal_on_stop, STATUS_FORBIDDEN_CALL};
pub use self::selftest::VARIABLE as SELFTEST_VARIABLE;

use self::filter::Programs;
use self::rules::Context;

/// Why the filters cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel has no seccomp filters, or not the action the mode needs.
    #[error(
        "this kernel cannot run seccomp filters that {action} ({source}); run tern with \
         --seccomp off to go without them"
    )]
    Unsupported {
        /// What the filters would do with a forbidden call.
        action: &'static str,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// A filter did not compile.
    #[error("the seccomp filters do not compile: {0}")]
    Build(String),
    /// A filter could not be installed.
    #[error("cannot install a seccomp filter: {0}")]
    Install(String),
    /// The SIGSYS handler could not be installed.
    #[error("cannot install the handler that reports forbidden system calls: {0}")]
    Handler(#[source] std::io::Error),
    /// [`configure`] was called twice.
    #[error("the seccomp filters were configured twice")]
    AlreadyConfigured,
}

#[derive(Debug)]
struct Sandbox {
    programs: Option<Programs>,
    selftest: Option<FilterKind>,
}

static SANDBOX: OnceLock<Sandbox> = OnceLock::new();

/// Checks that the kernel takes filters whose mismatch action is `action`.
fn check_kernel(mode: Mode) -> Result<(), SandboxError> {
    let (action, what) = match mode {
        Mode::Log => (libc::SECCOMP_RET_LOG, "log forbidden calls"),
        Mode::Kill | Mode::Off => (libc::SECCOMP_RET_TRAP, "trap forbidden calls"),
    };
    // SAFETY: SECCOMP_GET_ACTION_AVAIL only reads the u32 it is given.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_GET_ACTION_AVAIL,
            0,
            std::ptr::addr_of!(action),
        )
    };
    if rc != 0 {
        return Err(SandboxError::Unsupported {
            action: what,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Makes every thread allocate from glibc's main arena. A thread with an arena of its own
/// opens /proc/sys/vm/overcommit_memory the first time that arena shrinks, which would need
/// every filter to allow opening files; with one arena none does.
fn one_malloc_arena() {
    // SAFETY: mallopt only changes a malloc parameter; no other thread runs yet.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
}

/// Prepares the filters for `mode`. Call it once, on the main thread, before any other thread
/// starts. `kick_signal` is the only signal the main thread may send to its own threads.
pub fn configure(mode: Mode, kick_signal: libc::c_int) -> Result<(), SandboxError> {
    let programs = match mode {
        Mode::Off => None,
        Mode::Kill | Mode::Log => {
            check_kernel(mode)?;
            let ctx = Context {
                // SAFETY: getpid has no preconditions.
                pid: unsafe { libc::getpid() },
                kick_signal,
            };
            let programs = filter::build(mode, &ctx)?;
            if mode == Mode::Kill {
                report::install_handler().map_err(SandboxError::Handler)?;
            }
            one_malloc_arena();
            Some(programs)
        }
    };
    SANDBOX
        .set(Sandbox {
            programs,
            selftest: selftest::target(),
        })
        .map_err(|_| SandboxError::AlreadyConfigured)
}

/// Installs the filter of `kind` on the calling thread. If the filters are on and it cannot
/// be installed, tern stops: no thread runs unfiltered when filters were asked for.
pub fn enter(kind: ThreadKind) {
    report::set_current(kind);
    let Some(sandbox) = SANDBOX.get() else {
        return;
    };
    if let Some(programs) = &sandbox.programs {
        if let Err(err) = programs.install(kind.filter()) {
            eprintln!("tern: seccomp: thread {kind}: {err}; stopping");
            // SAFETY: _exit ends the process at once; nothing is left half-done that a
            // clean exit would have to finish.
            unsafe { libc::_exit(1) };
        }
    }
    selftest::run_if_target(kind, sandbox.selftest);
}
