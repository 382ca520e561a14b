use std::io::{Read, Seek, SeekFrom, Write};

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::tempfile::TempFile;

use super::*;
use crate::virtio::status::{DRIVER_OK, NEEDS_RESET};
use crate::virtio::test_driver::{TestDriver, DATA_START};

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;
const HEADER: u64 = DATA_START;
const STATUS: u64 = DATA_START + 0x100;
const DATA: u64 = DATA_START + 0x1000;

fn disk(readonly: bool) -> (TestDriver, TempFile) {
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
fn request(d: &mut TestDriver, kind: u32, sector: u64, len: u32, data_writable: bool) -> (u8, u32) {
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

#[test]
fn reads_come_from_the_image() {
    let (mut d, _f) = disk(false);
    let (status, len) = request(&mut d, VIRTIO_BLK_T_IN_, 3, 1024, true);
    assert_eq!((status, len), (0, 1025));
    let mut buf = [0u8; 1024];
    d.mem.read_slice(&mut buf, GuestAddress(DATA)).unwrap();
    assert!(buf[..512].iter().all(|&b| b == 3) && buf[512..].iter().all(|&b| b == 4));
    assert_eq!(d.counters.snapshot().bytes_read, 1024);
}

#[test]
fn writes_reach_the_image_and_flush_succeeds() {
    let (mut d, f) = disk(false);
    d.mem.write_slice(&[0x5a; 512], GuestAddress(DATA)).unwrap();
    assert_eq!(request(&mut d, 1, 7, 512, false), (0, 1));
    assert_eq!(request(&mut d, 4, 0, 0, false).0, 0, "flush");
    let mut file = f.as_file();
    file.seek(SeekFrom::Start(7 * 512)).unwrap();
    let mut back = [0u8; 512];
    file.read_exact(&mut back).unwrap();
    assert_eq!(back, [0x5a; 512]);
    let snap = d.counters.snapshot();
    assert_eq!(
        (snap.requests, snap.bytes_written, snap.errors),
        (2, 512, 0)
    );
}

#[test]
fn get_id_returns_the_disk_id() {
    let (mut d, _f) = disk(false);
    let (status, len) = request(&mut d, 8, 0, 20, true);
    assert_eq!((status, len), (0, 21));
    let mut id = [0u8; 20];
    d.mem.read_slice(&mut id, GuestAddress(DATA)).unwrap();
    assert_eq!(&id[..11], b"tern-disk-0");
    assert_eq!(id[11..], [0; 9]);
}

#[test]
fn a_read_only_disk_says_so_and_refuses_writes() {
    let (mut d, f) = disk(true);
    d.write_reg(0x14, 0);
    assert_ne!(d.read_reg(0x10) & (1 << VIRTIO_BLK_F_RO), 0);
    d.mem.write_slice(&[0x5a; 512], GuestAddress(DATA)).unwrap();
    assert_eq!(request(&mut d, 1, 0, 512, false).0, 1, "IOERR");
    let mut first = [0u8; 1];
    std::os::unix::fs::FileExt::read_exact_at(f.as_file(), &mut first, 0).unwrap();
    assert_eq!(first, [0]);
    assert_eq!(request(&mut d, 0, 0, 512, true).0, 0, "reads still work");
}

#[test]
fn out_of_range_misaligned_and_unknown_requests_get_an_error_status() {
    let (mut d, _f) = disk(false);
    assert_eq!(request(&mut d, 0, 2047, 1024, true).0, 1, "past the end");
    assert_eq!(
        request(&mut d, 0, u64::MAX / 256, 512, true).0,
        1,
        "overflowing sector"
    );
    assert_eq!(request(&mut d, 0, 0, 100, true).0, 1, "not whole sectors");
    assert_eq!(
        request(&mut d, 11, 0, 512, false).0,
        2,
        "discard is unsupported"
    );
    assert_eq!(d.counters.snapshot().errors, 4);
    assert_eq!(d.read_reg(0x70) & NEEDS_RESET, 0, "errors, not resets");
}

#[test]
fn a_missing_image_is_one_clear_error() {
    let err = Block::open(std::path::Path::new("/nonexistent/disk.img"), false, "x").unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot open disk image /nonexistent/disk.img"),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[test]
fn a_second_writer_of_one_image_is_refused() {
    let file = TempFile::new().unwrap();
    let _first = Block::open(file.as_path(), false, "a").unwrap();
    let err = Block::open(file.as_path(), false, "b").unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
}

#[test]
fn broken_chains_get_needs_reset() {
    // A chain that loops: 0 -> 1 -> 0.
    let (mut d, _f) = disk(false);
    d.set_desc(0, 0, HEADER, 16, NEXT, 1);
    d.set_desc(0, 1, DATA, 512, NEXT | WRITE, 0);
    d.post(0, 0);
    assert!(d.wait_needs_reset());
    // Data outside guest memory.
    let (mut d, _f) = disk(false);
    d.set_desc(0, 0, HEADER, 16, NEXT, 1);
    d.set_desc(0, 1, 1 << 40, 512, NEXT | WRITE, 2);
    d.set_desc(0, 2, STATUS, 1, WRITE, 0);
    d.post(0, 0);
    assert!(d.wait_needs_reset());
    // An available index far ahead of the device.
    let (mut d, _f) = disk(false);
    d.set_avail_idx(0, 1000);
    d.notify(0);
    assert!(d.wait_needs_reset());
    // No status byte.
    let (mut d, _f) = disk(false);
    d.set_desc(0, 0, HEADER, 16, 0, 0);
    d.post(0, 0);
    assert!(d.wait_needs_reset());
    assert_eq!(d.counters.snapshot().resets_needed, 1);
    // After a reset the device works again.
    d.start(u64::MAX);
    assert_eq!(request(&mut d, 0, 0, 512, true).0, 0);
}

#[test]
fn a_notification_flood_neither_stalls_nor_breaks_the_device() {
    let (mut d, _f) = disk(false);
    // Notifications with nothing new, and for queues that do not exist, by the thousand.
    for i in 0..100_000u32 {
        d.write_reg(0x50, i % 3);
    }
    assert_eq!(request(&mut d, 0, 5, 512, true).0, 0);
    assert_eq!(d.read_reg(0x70) & NEEDS_RESET, 0);
}

const VIRTIO_BLK_T_IN_: u32 = 0;

/// xorshift64*: a small seeded generator, so a failing run can be replayed by its seed.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Settings of a hostile-guest run: `TERN_FUZZ_SEED` and `TERN_FUZZ_ITERATIONS` override.
pub(crate) fn fuzz_settings(default_iterations: u64) -> (u64, u64) {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse().ok());
    (
        env("TERN_FUZZ_SEED").unwrap_or(0x7e42_2024),
        env("TERN_FUZZ_ITERATIONS").unwrap_or(default_iterations),
    )
}

/// An address that is usually inside guest memory, sometimes at its edge or far outside.
pub(crate) fn hostile_addr(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0 => rng.next(),
        1 => crate::virtio::test_driver::MEM_SIZE - rng.below(64),
        _ => DATA_START + rng.below(0xf_0000),
    }
}

pub(crate) fn hostile_len(rng: &mut Rng) -> u32 {
    match rng.below(8) {
        0 => rng.next() as u32,
        1 => 0,
        _ => rng.below(4096) as u32,
    }
}

/// Random descriptor tables, flags (indirect included), next indexes, headers, available
/// indexes and register writes, with the invariant that tern neither panics nor hangs and
/// the device always comes back after a reset.
fn hostile_block_guest(iterations: u64, seed: u64) {
    let (mut d, f) = disk(false);
    let size_before = f.as_file().metadata().unwrap().len();
    let mut rng = Rng::new(seed);
    for round in 0..iterations {
        if rng.below(2) == 0 {
            for i in 0..16u16 {
                let flags = rng.below(16) as u16; // NEXT, WRITE, INDIRECT in any mix
                let next = if rng.below(4) == 0 {
                    rng.next() as u16
                } else {
                    rng.below(16) as u16
                };
                d.set_desc(
                    0,
                    i,
                    hostile_addr(&mut rng),
                    hostile_len(&mut rng),
                    flags,
                    next,
                );
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
                "seed {seed} round {round}: the device did not recover"
            );
        }
    }
    d.start(u64::MAX);
    assert_eq!(request(&mut d, 0, 1, 512, true).0, 0, "seed {seed}");
    assert_eq!(
        f.as_file().metadata().unwrap().len(),
        size_before,
        "the image never grows"
    );
    let snap = d.counters.snapshot();
    eprintln!("hostile block guest, seed {seed}, {iterations} rounds: {snap:?}");
    assert!(
        snap.errors > 0 && snap.resets_needed > 0,
        "the run hit both error paths"
    );
}

#[test]
fn a_hostile_guest_cannot_break_the_block_device() {
    let (seed, iterations) = fuzz_settings(400);
    hostile_block_guest(iterations, seed);
}
