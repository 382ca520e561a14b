use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use vm_memory::{Bytes, GuestAddress};

use super::*;
use crate::virtio::hostile::{fuzz_settings, net, net_guest, recv, recv_now, Rng};
use crate::virtio::test_driver::DATA_START;

const NEXT: u16 = VRING_DESC_F_NEXT as u16;
const WRITE: u16 = VRING_DESC_F_WRITE as u16;

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

#[test]
fn a_hostile_guest_cannot_break_the_net_device() {
    let (seed, iterations) = fuzz_settings(300);
    let snap = net_guest(&mut Rng::new(seed ^ 0x6e65_7400), iterations);
    eprintln!("hostile net guest, seed {seed}, {iterations} rounds: {snap:?}");
    assert!(snap.resets_needed > 0 && snap.requests > 0);
}
