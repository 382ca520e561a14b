use std::fs::File;
use std::os::fd::FromRawFd;

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use vm_memory::{Bytes, GuestAddress};

use super::tap::Tap;
use super::*;
use crate::virtio::block::tests::{fuzz_settings, hostile_addr, hostile_len, Rng};
use crate::virtio::status::DRIVER_OK;
use crate::virtio::test_driver::{TestDriver, DATA_START};

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;

/// A device whose "tap" is one end of a SOCK_SEQPACKET pair; the other end is the host side.
fn net() -> (TestDriver, File) {
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

fn recv(host: &File) -> Option<Vec<u8>> {
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

#[test]
fn config_space_holds_the_mac() {
    let (d, _host) = net();
    let mut mac = [0u8; 6];
    d.transport.read(0x100, &mut mac);
    assert_eq!(mac, [2, 0, 0, 0, 0, 1]);
    assert_eq!(d.read_reg(0x008), 1, "net device ID");
    assert_eq!(
        parse_mac("52:54:00:ab:cd:ef"),
        Some([0x52, 0x54, 0, 0xab, 0xcd, 0xef])
    );
    assert_eq!(parse_mac("52:54:00:ab:cd"), None);
    assert_eq!(parse_mac("52:54:00:ab:cd:ef:00"), None);
    assert_eq!(parse_mac("5g:54:00:ab:cd:ef"), None);
}

#[test]
fn a_frame_the_guest_sends_reaches_the_tap_whole() {
    let (mut d, host) = net();
    let frame: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    d.mem
        .write_slice(&[0u8; 12], GuestAddress(DATA_START))
        .unwrap();
    d.mem
        .write_slice(&frame, GuestAddress(DATA_START + 0x100))
        .unwrap();
    d.set_desc(TX as u16, 0, DATA_START, 12, NEXT, 1);
    d.set_desc(TX as u16, 1, DATA_START + 0x100, 1000, 0, 0);
    d.post(TX as u16, 0);
    assert!(d.wait_used(TX as u16, 1));
    let got = recv(&host).expect("a frame on the tap");
    assert_eq!(got.len(), 1012);
    assert_eq!(&got[12..], &frame[..]);
    assert_eq!(d.counters.snapshot().bytes_written, 1000);
}

#[test]
fn a_frame_from_the_tap_lands_in_a_receive_buffer() {
    let (mut d, host) = net();
    d.set_desc(RX as u16, 0, DATA_START, 2048, WRITE, 0);
    d.post(RX as u16, 0);
    let mut frame = vec![0u8; 12];
    frame.extend((0..500u32).map(|i| (i * 7) as u8));
    // SAFETY: writes our own buffer.
    let n = unsafe {
        libc::write(
            std::os::fd::AsRawFd::as_raw_fd(&host),
            frame.as_ptr().cast(),
            frame.len(),
        )
    };
    assert_eq!(n, 512);
    assert!(d.wait_used(RX as u16, 1));
    assert_eq!(d.used_elem(RX as u16, 0), (0, 512));
    let mut got = vec![0u8; 512];
    d.mem
        .read_slice(&mut got, GuestAddress(DATA_START))
        .unwrap();
    assert_eq!(&got[12..], &frame[12..]);
    assert_eq!(&got[10..12], &[1, 0], "num_buffers");
}

#[test]
fn oversized_or_empty_frames_are_dropped_not_fatal() {
    let (mut d, host) = net();
    d.set_desc(TX as u16, 0, DATA_START, 12, 0, 0);
    d.post(TX as u16, 0);
    d.set_desc(TX as u16, 1, DATA_START, 0x10_0000 - 1, 0, 0);
    d.post(TX as u16, 1);
    assert!(d.wait_used(TX as u16, 2));
    assert_eq!(d.counters.snapshot().errors, 2);
    assert!(recv_now(&host).is_none());
}

fn recv_now(host: &File) -> Option<usize> {
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

/// Random chains on both queues and random frames from the host, with the invariant that
/// the device never panics or hangs and works again after a reset.
#[test]
fn a_hostile_guest_cannot_break_the_net_device() {
    let (seed, iterations) = fuzz_settings(300);
    let (mut d, host) = net();
    let mut rng = Rng::new(seed ^ 0x6e65_7400);
    for round in 0..iterations {
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
                (hostile_addr(&mut rng), hostile_len(&mut rng))
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
            assert!(
                d.wait_used(TX as u16, 1),
                "seed {seed} round {round}: no recovery"
            );
            assert_eq!(recv(&host).map(|f| f.len()), Some(100));
        }
    }
    let snap = d.counters.snapshot();
    eprintln!("hostile net guest, seed {seed}, {iterations} rounds: {snap:?}");
    assert!(snap.resets_needed > 0 && snap.requests > 0);
}
