//! What a device did, counted by its worker and read by the API and the metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one device. Bytes "read" went from the host to the guest (a disk read, a
/// packet received); bytes "written" went from the guest to the host.
#[derive(Debug, Default)]
pub struct DeviceCounters {
    requests: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    errors: AtomicU64,
    resets_needed: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Requests (disk requests, packets) served.
    pub requests: u64,
    /// Bytes from the host to the guest.
    pub bytes_read: u64,
    /// Bytes from the guest to the host.
    pub bytes_written: u64,
    /// Requests answered with an error or dropped.
    pub errors: u64,
    /// Times the device set NEEDS_RESET.
    pub resets_needed: u64,
}

impl DeviceCounters {
    /// One request served.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// `bytes` went to the guest.
    pub fn read(&self, bytes: u64) {
        self.bytes_read.fetch_add(bytes, Ordering::Relaxed);
    }

    /// `bytes` came from the guest.
    pub fn written(&self, bytes: u64) {
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A request failed or was dropped.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The device asked for a reset.
    pub fn reset_needed(&self) {
        self.resets_needed.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            resets_needed: self.resets_needed.load(Ordering::Relaxed),
        }
    }
}
