//! Hostile guests for the devices' tests and for fuzzing: seeded (or fuzzer-driven) random
//! descriptor tables, flags (indirect included), next indexes, request headers, available
//! indexes, register writes and frames from the host, against in-memory guest memory. Each
//! run checks that nothing panics or hangs and that the device works again after a reset.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::should_implement_trait
)]

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::tempfile::TempFile;

use super::block::Block;
use super::counters::CounterSnapshot;
use super::net::tap::Tap;
use super::net::{Net, TX};
use super::status::DRIVER_OK;
use super::test_driver::{TestDriver, DATA_START};

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;
/// Where [`request`] puts its header, status and data.
pub const HEADER: u64 = DATA_START;
/// The status byte of [`request`].
pub const STATUS: u64 = DATA_START + 0x100;
/// The data of [`request`].
pub const DATA: u64 = DATA_START + 0x1000;

/// A block device on a fresh 1 MiB image (sector N filled with N % 251), started.
pub fn disk(readonly: bool) -> (TestDriver, TempFile) {
    let file = TempFile::new().unwrap();
    let mut pattern = Vec::with_capacity(1 << 20);
    for sector in 0..2048u32 {
        pattern.extend(std::iter::repeat_n((sector % 251) as u8, 512));
    }
    file.as_file().write_all(&pattern).unwrap();
    let block = Block::open(file.as_path(), readonly, "tern-disk-0").unwrap();
    let mut d = TestDriver::new(Box::new(block), 16);
    assert_eq!(d.start(u64::MAX) & DRIVER_OK, DRIVER_OK);
    (d, file)
}

/// Posts a three-descriptor request (header, data, status) and returns (status, used len).
pub fn request(
    d: &mut TestDriver,
    kind: u32,
    sector: u64,
    len: u32,
    data_writable: bool,
) -> (u8, u32) {
    d.mem.write_obj(kind, GuestAddress(HEADER)).unwrap();
    d.mem.write_obj(0u32, GuestAddress(HEADER + 4)).unwrap();
    d.mem.write_obj(sector, GuestAddress(HEADER + 8)).unwrap();
    d.mem.write_obj(0xffu8, GuestAddress(STATUS)).unwrap();
    d.set_desc(0, 0, HEADER, 16, NEXT, 1);
    let data_flags = NEXT | if data_writable { WRITE } else { 0 };
    d.set_desc(0, 1, DATA, len, data_flags, 2);
    d.set_desc(0, 2, STATUS, 1, WRITE, 0);
    let before = d.used_idx(0);
    d.post(0, 0);
    assert!(d.wait_used(0, before.wrapping_add(1)), "request not served");
    let (head, used_len) = d.used_elem(0, before);
    assert_eq!(head, 0);
    (d.mem.read_obj(GuestAddress(STATUS)).unwrap(), used_len)
}

/// A device whose "tap" is one end of a SOCK_SEQPACKET pair; the other end is the host side.
pub fn net() -> (TestDriver, File) {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into the array.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_NONBLOCK,
            0,
            fds.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both descriptors were just created and are owned here.
    let (ours, host) = unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) };
    let net = Net::new(Tap::from_file(ours, "test0"), [2, 0, 0, 0, 0, 1]);
    let mut d = TestDriver::new(Box::new(net), 16);
    assert_eq!(d.start(u64::MAX) & DRIVER_OK, DRIVER_OK);
    (d, host)
}

pub fn recv(host: &File) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 70_000];
    for _ in 0..2000 {
        // SAFETY: reads into our own buffer of its length.
        let n = unsafe {
            libc::read(
                std::os::fd::AsRawFd::as_raw_fd(host),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        if n >= 0 {
            buf.truncate(n as usize);
            return Some(buf);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    None
}

/// A frame waiting on the host side, if any (its length).
pub fn recv_now(host: &File) -> Option<usize> {
    let mut buf = [0u8; 16];
    // SAFETY: reads into our own buffer of its length.
    let n = unsafe {
        libc::read(
            std::os::fd::AsRawFd::as_raw_fd(host),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then_some(n as usize)
}

/// Where a hostile guest's choices come from: a seeded xorshift64* generator (a failing run
/// is replayed by its seed), or a fuzzer's input, read 8 bytes at a time (zeros once it runs
/// out).
#[derive(Debug)]
pub enum Rng<'a> {
    /// Seeded.
    Seeded(u64),
    /// A fuzzer's bytes.
    Bytes(&'a [u8]),
}

impl Rng<'_> {
    /// A seeded generator.
    pub fn new(seed: u64) -> Self {
        Self::Seeded(seed.max(1))
    }

    /// The next choice.
    pub fn next(&mut self) -> u64 {
        match self {
            Self::Seeded(state) => {
                *state ^= *state >> 12;
                *state ^= *state << 25;
                *state ^= *state >> 27;
                state.wrapping_mul(0x2545_f491_4f6c_dd1d)
            }
            Self::Bytes(bytes) => {
                let take = bytes.len().min(8);
                let mut word = [0u8; 8];
                word[..take].copy_from_slice(&bytes[..take]);
                *bytes = &bytes[take..];
                u64::from_le_bytes(word)
            }
        }
    }

    /// A choice below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Whether a fuzzer's input is used up.
    pub fn exhausted(&self) -> bool {
        matches!(self, Self::Bytes(bytes) if bytes.is_empty())
    }
}

/// Settings of a hostile-guest run: `TERN_FUZZ_SEED` and `TERN_FUZZ_ITERATIONS` override.
pub fn fuzz_settings(default_iterations: u64) -> (u64, u64) {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    (
        env("TERN_FUZZ_SEED").unwrap_or(0x7e42_2024),
        env("TERN_FUZZ_ITERATIONS").unwrap_or(default_iterations),
    )
}

/// An address that is usually inside guest memory, sometimes at its edge or far outside.
pub fn hostile_addr(rng: &mut Rng<'_>) -> u64 {
    match rng.below(10) {
        0 => rng.next(),
        1 => crate::virtio::test_driver::MEM_SIZE - rng.below(64),
        _ => DATA_START + rng.below(0xf_0000),
    }
}

pub fn hostile_len(rng: &mut Rng<'_>) -> u32 {
    match rng.below(8) {
        0 => rng.next() as u32,
        1 => 0,
        _ => rng.below(4096) as u32,
    }
}

/// Random descriptor tables, flags (indirect included), next indexes, headers, available
/// indexes and register writes, with the invariant that tern neither panics nor hangs and
/// the device always comes back after a reset.
pub fn block_guest(rng: &mut Rng<'_>, iterations: u64) -> CounterSnapshot {
    let (mut d, f) = disk(false);
    let size_before = f.as_file().metadata().unwrap().len();
    for round in 0..iterations {
        if rng.exhausted() {
            break;
        }
        if rng.below(2) == 0 {
            for i in 0..16u16 {
                let flags = rng.below(16) as u16; // NEXT, WRITE, INDIRECT in any mix
                let next = if rng.below(4) == 0 {
                    rng.next() as u16
                } else {
                    rng.below(16) as u16
                };
                d.set_desc(0, i, hostile_addr(rng), hostile_len(rng), flags, next);
            }
        } else {
            // Well-formed chains 0 -> 1 -> .. -> n with hostile headers, lengths and places.
            let n = 1 + rng.below(4) as u16;
            for i in 0..=n {
                let (len, flags) = match i {
                    0 => (16, 0),
                    _ if i == n => (1 + rng.below(2) as u32, WRITE),
                    _ => (
                        512 * rng.below(9) as u32 + rng.below(2) as u32,
                        rng.below(2) as u16 * WRITE,
                    ),
                };
                let next_flag = if i < n { NEXT } else { 0 };
                let addr = DATA_START + rng.below(0xf_0000);
                d.set_desc(0, i, addr, len, flags | next_flag, i + 1);
                if i == 0 {
                    let kind = [0u32, 1, 4, 8, 11, rng.next() as u32][rng.below(6) as usize];
                    let sector = [rng.below(2048), rng.next(), 2047, 2048][rng.below(4) as usize];
                    d.mem.write_obj(kind, GuestAddress(addr)).unwrap();
                    d.mem.write_obj(sector, GuestAddress(addr + 8)).unwrap();
                }
            }
        }
        for _ in 0..rng.below(64) {
            let at = DATA_START + rng.below(0xf_0000);
            d.mem.write_obj(rng.next(), GuestAddress(at)).unwrap();
            // Headers that look like real requests, with hostile sectors.
            let kind = [0u32, 1, 4, 8, 11, rng.next() as u32][rng.below(6) as usize];
            d.mem.write_obj(kind, GuestAddress(at & !0xf)).unwrap();
        }
        match rng.below(12) {
            0 => {
                let idx = rng.next() as u16;
                d.set_avail_idx(0, idx);
                d.notify(0);
            }
            1 => {
                let reg = [
                    0x14u64, 0x20, 0x24, 0x30, 0x38, 0x44, 0x50, 0x64, 0x70, 0x80,
                ][rng.below(10) as usize];
                d.write_reg(reg, rng.next() as u32);
            }
            _ => {
                for _ in 0..=rng.below(8) {
                    let head = if rng.below(2) == 0 {
                        0
                    } else {
                        rng.below(18) as u16
                    };
                    d.post(0, head);
                }
            }
        }
        if round % 8 == 7 {
            // Whatever happened, a reset and a well-formed request must work.
            d.start(u64::MAX);
            assert_eq!(
                request(&mut d, 0, 0, 512, true).0,
                0,
                "round {round}: the device did not recover"
            );
        }
    }
    d.start(u64::MAX);
    assert_eq!(
        request(&mut d, 0, 1, 512, true).0,
        0,
        "the device did not recover"
    );
    assert_eq!(
        f.as_file().metadata().unwrap().len(),
        size_before,
        "the image never grows"
    );
    d.counters.snapshot()
}

/// Random chains on both queues and random frames from the host, with the invariant that
/// the device never panics or hangs and works again after a reset.
pub fn net_guest(rng: &mut Rng<'_>, iterations: u64) -> CounterSnapshot {
    let (mut d, host) = net();
    for round in 0..iterations {
        if rng.exhausted() {
            break;
        }
        let q = rng.below(2) as u16;
        for i in 0..16u16 {
            let flags = rng.below(16) as u16;
            let next = if rng.below(4) == 0 {
                rng.next() as u16
            } else {
                rng.below(16) as u16
            };
            let (addr, len) = if rng.below(2) == 0 {
                (
                    DATA_START + rng.below(0xf_0000),
                    12 + rng.below(2000) as u32,
                )
            } else {
                (hostile_addr(rng), hostile_len(rng))
            };
            let flags = if rng.below(2) == 0 {
                if q == 0 {
                    WRITE
                } else {
                    0
                }
            } else {
                flags
            };
            d.set_desc(q, i, addr, len, flags, next);
        }
        if rng.below(3) == 0 {
            let frame = vec![rng.next() as u8; 12 + rng.below(3000) as usize];
            // SAFETY: writes our own buffer; a full socket just refuses.
            unsafe {
                libc::write(
                    std::os::fd::AsRawFd::as_raw_fd(&host),
                    frame.as_ptr().cast(),
                    frame.len(),
                )
            };
        }
        match rng.below(10) {
            0 => {
                let idx = rng.next() as u16;
                d.set_avail_idx(q, idx);
                d.notify(q);
            }
            _ => {
                for _ in 0..=rng.below(8) {
                    let head = rng.below(18) as u16;
                    d.post(q, head);
                }
            }
        }
        while recv_now(&host).is_some() {}
        if round % 8 == 7 {
            d.start(u64::MAX);
            while recv_now(&host).is_some() {}
            d.mem
                .write_slice(&[0u8; 12], GuestAddress(DATA_START))
                .unwrap();
            d.set_desc(TX as u16, 0, DATA_START, 100, 0, 0);
            d.post(TX as u16, 0);
            assert!(d.wait_used(TX as u16, 1), "round {round}: no recovery");
            assert_eq!(recv(&host).map(|f| f.len()), Some(100));
        }
    }
    d.counters.snapshot()
}
