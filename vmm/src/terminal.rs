//! The controlling terminal in raw mode while the guest owns it, restored afterwards.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::RawFd;

/// Restores the terminal's original settings when dropped.
#[derive(Debug)]
pub struct RawTerminal {
    fd: RawFd,
    original: libc::termios,
}

impl RawTerminal {
    /// Puts `fd` in raw mode if it is a terminal; `Ok(None)` if it is not one.
    pub fn enter(fd: RawFd) -> io::Result<Option<Self>> {
        // SAFETY: isatty only inspects the descriptor.
        if unsafe { libc::isatty(fd) } != 1 {
            return Ok(None);
        }
        let mut original = MaybeUninit::<libc::termios>::uninit();
        // SAFETY: tcgetattr fills the termios it is given; the result is checked before use.
        if unsafe { libc::tcgetattr(fd, original.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: tcgetattr succeeded, so the struct is initialised.
        let original = unsafe { original.assume_init() };
        let mut raw = original;
        // SAFETY: cfmakeraw only edits the struct it is given.
        unsafe { libc::cfmakeraw(&mut raw) };
        // Keep output post-processing so tern's own messages still start at column 0.
        raw.c_oflag = original.c_oflag;
        // SAFETY: a valid termios for a descriptor that is a terminal.
        if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &raw) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if fd == libc::STDIN_FILENO {
            // A forbidden system call stops tern from a signal handler: it restores these.
            sandbox::restore_terminal_on_stop(original);
        }
        Ok(Some(Self { fd, original }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // SAFETY: restores the settings read from this same terminal.
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.original) };
    }
}
