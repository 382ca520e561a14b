//! The guest console's output path: the UART writes into a bounded buffer, and a thread of its
//! own writes the buffer to stdout (see `devices::console`), so nothing the guest prints can
//! block a vCPU, the event loop or tern's exit.

use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use devices::console::{
    ConsoleSink, ConsoleWriter, LimitSettings, OutputBuffer, WriterOptions, DEFAULT_CAPACITY,
};

use crate::config::ConsoleSettings;

/// How long tern, when it stops, lets stdout take what the guest printed last.
pub const EXIT_GRACE: Duration = Duration::from_millis(500);

/// The console output: its buffer and the thread writing it.
#[derive(Debug)]
pub struct ConsoleOutput {
    buffer: Arc<OutputBuffer>,
    writer: Option<ConsoleWriter>,
}

fn is_terminal(fd: libc::c_int) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

fn dup_stdout() -> std::io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads the descriptor number; failure is checked.
    let fd = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl ConsoleOutput {
    /// Starts the output thread on stdout, with the filter and limits `settings` give.
    pub fn start(settings: &ConsoleSettings) -> Self {
        let terminal = is_terminal(libc::STDOUT_FILENO);
        let buffer = Arc::new(OutputBuffer::new(
            DEFAULT_CAPACITY,
            LimitSettings {
                bytes_per_s: settings.rate.map(|r| r.0),
                total_bytes: settings.limit.map(|l| l.0),
            },
        ));
        let options = WriterOptions {
            filter: settings.filters(terminal),
            reset_terminal: terminal,
        };
        let writer =
            match dup_stdout().and_then(|fd| ConsoleWriter::spawn(buffer.clone(), fd, options)) {
                Ok(writer) => Some(writer),
                Err(err) => {
                    log::warn!("cannot write the guest's console output to stdout: {err}");
                    None
                }
            };
        Self { buffer, writer }
    }

    /// The writer the UART gets.
    pub fn sink(&self) -> Box<dyn Write + Send> {
        Box::new(ConsoleSink(self.buffer.clone()))
    }

    /// The buffer, whose `stats()` count every byte the guest printed by what became of it.
    pub fn buffer(&self) -> Arc<OutputBuffer> {
        self.buffer.clone()
    }

    /// Writes out what is left, waiting at most [`EXIT_GRACE`] for stdout.
    pub fn close(self) {
        let Some(writer) = self.writer else {
            return;
        };
        if !writer.close(EXIT_GRACE) {
            log::warn!(
                "stdout did not take the last of the guest's console output within {} ms; \
                 {} bytes were dropped",
                EXIT_GRACE.as_millis(),
                self.buffer.stats().dropped_unwritten
            );
        }
    }
}
