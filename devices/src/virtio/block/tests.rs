use std::io::{Read, Seek, SeekFrom};

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::tempfile::TempFile;

use super::*;
use crate::virtio::hostile::{
    block_guest, disk, fuzz_settings, request, Rng, DATA, HEADER, STATUS,
};
use crate::virtio::status::NEEDS_RESET;

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;

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

#[test]
fn a_hostile_guest_cannot_break_the_block_device() {
    let (seed, iterations) = fuzz_settings(400);
    let snap = block_guest(&mut Rng::new(seed), iterations);
    eprintln!("hostile block guest, seed {seed}, {iterations} rounds: {snap:?}");
    assert!(
        snap.errors > 0 && snap.resets_needed > 0,
        "the run hit both error paths"
    );
}
