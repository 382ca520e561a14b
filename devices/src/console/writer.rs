//! The thread that writes the guest's console output to tern's stdout.
//!
//! It alone waits on the output: a terminal that is slow, a pipe nobody reads or a stdout
//! left non-blocking stalls this thread and nothing else (the vCPUs only fill the buffer).
//! It writes to its own duplicate of the descriptor, through no lock that another thread
//! takes, so when tern stops it gives the output a grace period and then leaves the thread
//! behind instead of waiting for it. Each kind of loss is reported once, from this thread.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::buffer::{Counters, OutputBuffer};
use super::filter::{EscapeFilter, TERMINAL_RESET};

/// After a small write the thread waits this long before the next one, so a guest writing a
/// byte at a time costs one write(2) per interval, not one per byte.
const GATHER: Duration = Duration::from_millis(2);
/// A batch at least this large is followed at once by the next.
const LARGE_BATCH: usize = 16 * 1024;
/// How long a write waits for the output to take bytes before it looks at the losses again.
const POLL_MS: libc::c_int = 200;
/// Most bytes per write(2): a pipe with room for any takes this many without blocking.
const CHUNK: usize = libc::PIPE_BUF;

/// How the output is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterOptions {
    /// Pass the output through the [`EscapeFilter`].
    pub filter: bool,
    /// The output is a terminal: reset its state ([`TERMINAL_RESET`]) at the end.
    pub reset_terminal: bool,
}

/// The running output thread.
#[derive(Debug)]
pub struct ConsoleWriter {
    buffer: Arc<OutputBuffer>,
    done: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl ConsoleWriter {
    /// Starts the thread `console-out`, writing what `buffer` receives to `out`.
    pub fn spawn(
        buffer: Arc<OutputBuffer>,
        out: OwnedFd,
        options: WriterOptions,
    ) -> io::Result<Self> {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = Output {
            buffer: buffer.clone(),
            out,
            filter: options.filter.then(EscapeFilter::new),
            reset_terminal: options.reset_terminal,
            warned: Warned::default(),
        };
        let signal = done.clone();
        let handle = std::thread::Builder::new()
            .name("console-out".into())
            .spawn(move || {
                sandbox::enter(sandbox::ThreadKind::ConsoleOut);
                thread.run();
                let (lock, cvar) = &*signal;
                *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
                cvar.notify_all();
            })?;
        Ok(Self {
            buffer,
            done,
            handle: Some(handle),
        })
    }

    /// Lets the thread write what is left (and the terminal reset), waiting at most `grace`.
    /// Returns whether it finished; if not, what it had not written is counted as dropped
    /// and the thread is left to end with the process.
    pub fn close(mut self, grace: Duration) -> bool {
        self.buffer.close();
        let (lock, cvar) = &*self.done;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cvar
            .wait_timeout_while(guard, grace, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        let finished = *guard;
        drop(guard);
        if finished {
            if let Some(handle) = self.handle.take() {
                let _ = handle.join();
            }
        } else {
            let counters = &self.buffer.counters;
            let unwritten =
                self.buffer.pending() as u64 + counters.in_flight.swap(0, Ordering::Relaxed);
            counters
                .dropped_unwritten
                .fetch_add(unwritten, Ordering::Relaxed);
        }
        finished
    }
}

/// Which losses have been reported.
#[derive(Debug, Default)]
struct Warned {
    full: bool,
    rate: bool,
    total: bool,
}

struct Output {
    buffer: Arc<OutputBuffer>,
    out: OwnedFd,
    filter: Option<EscapeFilter>,
    reset_terminal: bool,
    warned: Warned,
}

impl Output {
    fn run(mut self) {
        let mut batch = Vec::new();
        let mut filtered = Vec::new();
        let mut broken = false;
        let mut filter = self.filter.take();
        loop {
            let closing = self.buffer.take(&mut batch);
            if batch.is_empty() && closing {
                break;
            }
            let bytes = match filter.as_mut() {
                Some(filter) => {
                    let before = filter.dropped();
                    filtered.clear();
                    filter.feed(&batch, &mut filtered);
                    let removed = filter.dropped() - before;
                    self.buffer
                        .counters
                        .dropped_filtered
                        .fetch_add(removed, Ordering::Relaxed);
                    &filtered
                }
                None => &batch,
            };
            if broken {
                Counters::add(&self.buffer.counters.dropped_unwritten, bytes.len());
            } else if let Err(err) = self.write_all(bytes) {
                broken = true;
                log::warn!(
                    "cannot write the guest's console output: {err}; the rest of it is dropped"
                );
            }
            self.warn_about_losses();
            if batch.len() < LARGE_BATCH && !closing {
                std::thread::sleep(GATHER);
            }
        }
        if self.reset_terminal && !broken {
            let _ = self.write_some(TERMINAL_RESET);
        }
    }

    /// Writes all of `bytes`, counting what was written and, on failure, what was not.
    /// While the output takes nothing, reports any loss that meanwhile happened.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let counters = &self.buffer.counters;
        counters
            .in_flight
            .store(bytes.len() as u64, Ordering::Relaxed);
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.write_some(rest) {
                Ok(Some(n)) => {
                    let counters = &self.buffer.counters;
                    Counters::add(&counters.written, n);
                    let _ = counters.in_flight.fetch_update(
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                        |left| Some(left.saturating_sub(n as u64)),
                    );
                    rest = &rest[n..];
                }
                Ok(None) => self.warn_about_losses(),
                Err(err) => {
                    let counters = &self.buffer.counters;
                    counters.in_flight.store(0, Ordering::Relaxed);
                    Counters::add(&counters.dropped_unwritten, rest.len());
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Waits up to [`POLL_MS`] for the output to take bytes, then writes at most [`CHUNK`] of
    /// `bytes`: how many it took, or `None` if it took nothing in that time. A pipe that has
    /// room for any takes a chunk without blocking, so the thread keeps noticing losses.
    fn write_some(&self, bytes: &[u8]) -> io::Result<Option<usize>> {
        let fd = self.out.as_raw_fd();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: poll on one live pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        if ready == 0 {
            return Ok(None);
        }
        if ready < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(None),
                _ => Err(err),
            };
        }
        let len = bytes.len().min(CHUNK);
        // SAFETY: writes from a live slice to a descriptor this thread owns.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), len) };
        match n {
            n if n > 0 => Ok(Some(n as usize)),
            0 => Err(io::Error::from(io::ErrorKind::WriteZero)),
            _ => {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock => Ok(None),
                    _ => Err(err),
                }
            }
        }
    }

    fn warn_about_losses(&mut self) {
        let c = &self.buffer.counters;
        let limits = self.buffer.limit_settings();
        if !self.warned.full && c.dropped_full.load(Ordering::Relaxed) > 0 {
            self.warned.full = true;
            log::warn!(
                "stdout does not keep up with the guest's console output; what does not fit in \
                 the console buffer is dropped"
            );
        }
        if !self.warned.rate && c.over_rate.load(Ordering::Relaxed) {
            self.warned.rate = true;
            log::warn!(
                "the guest's console output goes over --console-rate ({} bytes/s); the excess \
                 is dropped",
                limits.bytes_per_s.unwrap_or(0)
            );
        }
        if !self.warned.total && c.over_total.load(Ordering::Relaxed) {
            self.warned.total = true;
            log::warn!(
                "the guest's console output reached --console-limit ({} bytes); the rest is \
                 dropped",
                limits.total_bytes.unwrap_or(0)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::limit::LimitSettings;
    use std::io::Read;
    use std::os::fd::FromRawFd;
    use std::time::Instant;

    fn pipe() -> (std::fs::File, OwnedFd) {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the array it is given.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both descriptors were just created and are owned here only.
        unsafe {
            (
                std::fs::File::from_raw_fd(fds[0]),
                OwnedFd::from_raw_fd(fds[1]),
            )
        }
    }

    #[test]
    fn output_reaches_the_descriptor_filtered_and_the_reset_follows() {
        let (mut read, write) = pipe();
        let buffer = Arc::new(OutputBuffer::new(1024, LimitSettings::default()));
        let writer = ConsoleWriter::spawn(
            buffer.clone(),
            write,
            WriterOptions {
                filter: true,
                reset_terminal: true,
            },
        )
        .unwrap();
        buffer.push(b"hi \x1b]0;title\x07");
        buffer.push(b"\x1b[1mthere\x1b[6n\n");
        assert!(writer.close(Duration::from_secs(5)));
        let mut text = Vec::new();
        read.read_to_end(&mut text).unwrap();
        let mut expected = b"hi \x1b[1mthere\n".to_vec();
        expected.extend_from_slice(TERMINAL_RESET);
        assert_eq!(text, expected);
        let stats = buffer.stats();
        assert_eq!((stats.written, stats.dropped_filtered), (13, 14));
    }

    #[test]
    fn a_pipe_nobody_reads_costs_only_the_grace_period() {
        let (_read, write) = pipe();
        let buffer = Arc::new(OutputBuffer::new(1 << 20, LimitSettings::default()));
        let writer = ConsoleWriter::spawn(buffer.clone(), write, WriterOptions::default()).unwrap();
        // More than a pipe holds (64 KiB by default), pushed without ever blocking.
        let start = Instant::now();
        for _ in 0..256 {
            buffer.push(&[b'x'; 1024]);
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        let start = Instant::now();
        assert!(!writer.close(Duration::from_millis(200)));
        assert!(start.elapsed() < Duration::from_secs(2));
        let stats = buffer.stats();
        assert_eq!(stats.from_guest, 256 * 1024);
        assert!(stats.written < 256 * 1024, "{stats:?}");
        assert!(stats.dropped_unwritten > 0, "{stats:?}");
    }

    #[test]
    fn a_closed_reader_stops_the_writing_and_the_rest_is_counted() {
        let (read, write) = pipe();
        drop(read);
        let buffer = Arc::new(OutputBuffer::new(1024, LimitSettings::default()));
        let writer = ConsoleWriter::spawn(buffer.clone(), write, WriterOptions::default()).unwrap();
        buffer.push(b"lost");
        std::thread::sleep(Duration::from_millis(50));
        buffer.push(b"also lost");
        assert!(writer.close(Duration::from_secs(5)));
        let stats = buffer.stats();
        assert_eq!((stats.written, stats.dropped_unwritten), (0, 13));
    }
}
