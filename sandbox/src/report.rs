//! Reporting a forbidden call: the SIGSYS handler puts the terminal back as tern found it
//! (if tern made it raw), names the thread and the call on stderr in one line, and ends tern
//! with [`STATUS_FORBIDDEN_CALL`].

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::OnceLock;

use syscalls::Sysno;

use crate::kind::ThreadKind;

/// Tern's exit status when a thread made a system call its filter does not allow.
pub const STATUS_FORBIDDEN_CALL: i32 = 3;

/// `si_code` of a SIGSYS raised by a seccomp filter.
const SYS_SECCOMP: libc::c_int = 1;

/// The terminal settings to restore on stdin before tern stops.
static TERMINAL: OnceLock<libc::termios> = OnceLock::new();

/// Has the SIGSYS handler restore `original` on stdin (the terminal tern put in raw mode).
pub fn restore_terminal_on_stop(original: libc::termios) {
    let _ = TERMINAL.set(original);
}

thread_local! {
    /// The kind of the current thread, once it entered its filter.
    static CURRENT: Cell<Option<ThreadKind>> = const { Cell::new(None) };
}

/// Notes the current thread's kind for the report.
pub fn set_current(kind: ThreadKind) {
    CURRENT.with(|cell| cell.set(Some(kind)));
}

/// The first fields of a `siginfo_t` for SIGSYS on x86_64 (`_sigsys` in the kernel's union).
#[repr(C)]
struct SigsysInfo {
    signo: libc::c_int,
    errno: libc::c_int,
    code: libc::c_int,
    pad: libc::c_int,
    call_addr: *mut libc::c_void,
    syscall: libc::c_int,
    arch: libc::c_uint,
}

/// A line built on the stack: the handler must not allocate.
struct Line {
    bytes: [u8; 192],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The report's line, without its newline.
pub fn message(thread: Option<ThreadKind>, syscall: Option<i32>, out: &mut impl std::fmt::Write) {
    let _ = match thread {
        Some(kind) => write!(out, "tern: seccomp: thread {kind} "),
        None => write!(out, "tern: seccomp: a thread "),
    };
    let _ = match syscall {
        Some(number) => {
            let name = usize::try_from(number)
                .ok()
                .and_then(Sysno::new)
                .map_or("unknown", |s| s.name());
            write!(
                out,
                "made a forbidden system call {number} ({name}); stopping"
            )
        }
        None => write!(out, "received SIGSYS from outside its filter; stopping"),
    };
}

extern "C" fn on_sigsys(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a full siginfo_t (128 bytes), of which SigsysInfo reads the
    // first 32; its `syscall` field is what the kernel filled for a seccomp SIGSYS.
    let syscall = unsafe {
        let sigsys = &*(info as *const SigsysInfo);
        (sigsys.code == SYS_SECCOMP).then_some(sigsys.syscall)
    };
    let mut line = Line {
        bytes: [0; 192],
        len: 0,
    };
    message(CURRENT.with(Cell::get), syscall, &mut line);
    let _ = line.write_str("\n");
    if let Some(original) = TERMINAL.get() {
        // SAFETY: ioctl(TCSETS) is async-signal-safe and allowed on stdin by every filter
        // (tcsetattr would read the settings back with TCGETS, which is not); the kernel reads
        // its termios, a prefix of glibc's, from `original`, read from that terminal.
        unsafe { libc::ioctl(libc::STDIN_FILENO, libc::TCSETS, original) };
    }
    // SAFETY: write(2) and _exit(2) are async-signal-safe and allowed by every filter; the
    // buffer holds `len` initialised bytes.
    unsafe {
        libc::write(libc::STDERR_FILENO, line.bytes.as_ptr().cast(), line.len);
        libc::_exit(STATUS_FORBIDDEN_CALL);
    }
}

/// Installs the SIGSYS handler.
pub fn install_handler() -> std::io::Result<()> {
    vmm_sys_util::signal::register_signal_handler(libc::SIGSYS, on_sigsys)
        .map_err(|e| std::io::Error::from_raw_os_error(e.errno()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_thread_and_the_call() {
        let mut line = String::new();
        message(Some(ThreadKind::Vcpu(0)), Some(41), &mut line);
        assert_eq!(
            line,
            "tern: seccomp: thread vcpu0 made a forbidden system call 41 (socket); stopping"
        );
        let mut line = String::new();
        message(None, Some(100_000), &mut line);
        assert_eq!(
            line,
            "tern: seccomp: a thread made a forbidden system call 100000 (unknown); stopping"
        );
    }

    #[test]
    fn the_longest_line_fits_the_handlers_buffer() {
        let mut line = Line {
            bytes: [0; 192],
            len: 0,
        };
        message(Some(ThreadKind::AutoBalance), Some(i32::MIN), &mut line);
        assert!(line.write_str("\n").is_ok());
    }
}
