//! The bounded buffer between the UART, which the vCPU threads drive, and the thread that
//! writes the guest's console output out. Putting bytes in never blocks and never waits for
//! the output: what does not fit, or goes over the limit, is dropped and counted.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::limit::{LimitSettings, OutputLimit, Refusal};

/// Bytes held for the output by default: a Linux boot log and then some.
pub const DEFAULT_CAPACITY: usize = 256 * 1024;

/// What became of the guest's console output so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsoleStats {
    /// Bytes the guest wrote to the UART.
    pub from_guest: u64,
    /// Bytes written to the output.
    pub written: u64,
    /// Bytes dropped because the output did not keep up (the buffer was full).
    pub dropped_full: u64,
    /// Bytes dropped for going over the rate or total limit.
    pub dropped_limit: u64,
    /// Bytes the escape filter removed.
    pub dropped_filtered: u64,
    /// Bytes dropped because the output failed, or tern exited before it took them.
    pub dropped_unwritten: u64,
}

impl ConsoleStats {
    /// Every byte dropped, for whatever reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_full + self.dropped_limit + self.dropped_filtered + self.dropped_unwritten
    }
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub from_guest: AtomicU64,
    pub written: AtomicU64,
    pub dropped_full: AtomicU64,
    pub dropped_limit: AtomicU64,
    pub dropped_filtered: AtomicU64,
    pub dropped_unwritten: AtomicU64,
    /// Bytes the output thread has taken but not written yet.
    pub in_flight: AtomicU64,
    /// Bytes were refused for the rate.
    pub over_rate: AtomicBool,
    /// Bytes were refused for the total.
    pub over_total: AtomicBool,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct State {
    bytes: VecDeque<u8>,
    limit: OutputLimit,
    closing: bool,
}

/// The buffer, shared by the UART's writer ([`ConsoleSink`]) and the output thread.
#[derive(Debug)]
pub struct OutputBuffer {
    state: Mutex<State>,
    ready: Condvar,
    capacity: usize,
    pub(super) counters: Counters,
    settings: LimitSettings,
}

impl OutputBuffer {
    /// A buffer of `capacity` bytes whose input is held to `limit`.
    pub fn new(capacity: usize, limit: LimitSettings) -> Self {
        Self {
            state: Mutex::new(State {
                bytes: VecDeque::new(),
                limit: OutputLimit::new(limit),
                closing: false,
            }),
            ready: Condvar::new(),
            capacity,
            counters: Counters::default(),
            settings: limit,
        }
    }

    /// The limits the buffer applies.
    pub fn limit_settings(&self) -> LimitSettings {
        self.settings
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the byte queue inconsistent; keep going.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes what fits of `bytes` (the guest's output); never blocks on the output.
    pub fn push(&self, bytes: &[u8]) {
        let c = &self.counters;
        Counters::add(&c.from_guest, bytes.len());
        let mut state = self.lock();
        let (allowed, refusal) = state.limit.admit(bytes.len(), Instant::now());
        match refusal {
            Some(Refusal::Rate) => c.over_rate.store(true, Ordering::Relaxed),
            Some(Refusal::Total) => c.over_total.store(true, Ordering::Relaxed),
            None => {}
        }
        Counters::add(&c.dropped_limit, bytes.len() - allowed);
        let room = self.capacity.saturating_sub(state.bytes.len());
        let taken = allowed.min(room);
        Counters::add(&c.dropped_full, allowed - taken);
        if taken == 0 {
            return;
        }
        let was_empty = state.bytes.is_empty();
        state.bytes.extend(&bytes[..taken]);
        drop(state);
        if was_empty {
            // The output thread sleeps only on an empty buffer.
            self.ready.notify_one();
        }
    }

    /// Waits until there is output or the buffer is closing, then moves all pending bytes
    /// into `batch` (cleared first). Returns whether the buffer is closing.
    pub(super) fn take(&self, batch: &mut Vec<u8>) -> bool {
        batch.clear();
        let mut state = self.lock();
        while state.bytes.is_empty() && !state.closing {
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let (front, back) = state.bytes.as_slices();
        batch.extend_from_slice(front);
        batch.extend_from_slice(back);
        state.bytes.clear();
        state.closing
    }

    /// Bytes waiting for the output.
    pub fn pending(&self) -> usize {
        self.lock().bytes.len()
    }

    /// Tells the output thread to write what is left and stop.
    pub(super) fn close(&self) {
        self.lock().closing = true;
        self.ready.notify_all();
    }

    /// What became of the guest's output so far.
    pub fn stats(&self) -> ConsoleStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConsoleStats {
            from_guest: get(&c.from_guest),
            written: get(&c.written),
            dropped_full: get(&c.dropped_full),
            dropped_limit: get(&c.dropped_limit),
            dropped_filtered: get(&c.dropped_filtered),
            dropped_unwritten: get(&c.dropped_unwritten),
        }
    }
}

/// The UART's writer: every byte goes into the buffer or is dropped and counted, so a write
/// always succeeds at once.
#[derive(Clone, Debug)]
pub struct ConsoleSink(pub Arc<OutputBuffer>);

impl Write for ConsoleSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_does_not_fit_is_dropped_and_counted() {
        let buffer = OutputBuffer::new(8, LimitSettings::default());
        buffer.push(b"hello");
        buffer.push(b"world");
        let mut batch = Vec::new();
        assert!(!buffer.take(&mut batch));
        assert_eq!(batch, b"hellowor");
        let stats = buffer.stats();
        assert_eq!((stats.from_guest, stats.dropped_full), (10, 2));
        // Room again once taken.
        buffer.push(b"!");
        buffer.take(&mut batch);
        assert_eq!(batch, b"!");
    }

    #[test]
    fn the_limit_applies_before_the_buffer() {
        let buffer = OutputBuffer::new(
            100,
            LimitSettings {
                total_bytes: Some(4),
                ..Default::default()
            },
        );
        let mut sink = ConsoleSink(Arc::new(buffer));
        sink.write_all(b"abcdef").unwrap();
        let stats = sink.0.stats();
        assert_eq!((stats.dropped_limit, stats.dropped_full), (2, 0));
        assert!(sink.0.counters.over_total.load(Ordering::Relaxed));
        assert!(!sink.0.counters.over_rate.load(Ordering::Relaxed));
        assert_eq!(sink.0.pending(), 4);
    }

    #[test]
    fn take_waits_for_output_or_a_close() {
        let buffer = Arc::new(OutputBuffer::new(100, LimitSettings::default()));
        let other = buffer.clone();
        let waiter = std::thread::spawn(move || {
            let mut batch = Vec::new();
            let closing = other.take(&mut batch);
            (batch, closing)
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        buffer.push(b"x");
        assert_eq!(waiter.join().unwrap(), (b"x".to_vec(), false));
        buffer.close();
        let mut batch = Vec::new();
        assert!(buffer.take(&mut batch));
        assert!(batch.is_empty());
    }
}
