use vmm_sys_util::tempfile::TempFile;

use super::*;
use crate::virtio::block::Block;
use crate::virtio::status::{ACKNOWLEDGE, DRIVER, DRIVER_OK, FAILED};
use crate::virtio::test_driver::TestDriver;

fn block_driver(readonly: bool) -> (TestDriver, TempFile) {
    let file = TempFile::new().unwrap();
    file.as_file().set_len(1 << 20).unwrap();
    let block = Block::open(file.as_path(), readonly, "disk0").unwrap();
    (TestDriver::new(Box::new(block), 16), file)
}

#[test]
fn identity_registers() {
    let (d, _f) = block_driver(false);
    assert_eq!(d.read_reg(0x000), 0x7472_6976);
    assert_eq!(d.read_reg(0x004), 2);
    assert_eq!(d.read_reg(0x008), 2, "block device ID");
    assert_eq!(d.read_reg(0x070), 0);
    assert_eq!(d.read_reg(0x0b0), u32::MAX, "no shared memory region");
    // Capacity in the configuration space: 1 MiB = 2048 sectors, readable byte by byte.
    let mut cap = [0u8; 8];
    for (i, b) in cap.iter_mut().enumerate() {
        let mut one = [0u8; 1];
        d.transport.read(CONFIG_OFFSET + i as u64, &mut one);
        *b = one[0];
    }
    assert_eq!(u64::from_le_bytes(cap), 2048);
    let mut beyond = [0xaau8; 4];
    d.transport.read(0xffc, &mut beyond);
    assert_eq!(beyond, [0; 4]);
    let mut narrow = [0xaau8; 2];
    d.transport.read(0x000, &mut narrow);
    assert_eq!(narrow, [0, 0], "registers answer only 32-bit reads");
}

#[test]
fn the_handshake_starts_the_device() {
    let (mut d, _f) = block_driver(false);
    let status = d.start(u64::MAX);
    assert_eq!(status, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    assert_eq!(d.read_reg(0x034), 256, "QueueNumMax of queue 0");
    assert_eq!(d.read_reg(0x044), 1, "queue 0 ready");
    d.write_reg(0x030, 1);
    assert_eq!(d.read_reg(0x034), 0, "no queue 1");
}

#[test]
fn features_outside_the_offer_or_without_version_1_are_refused() {
    let (mut d, _f) = block_driver(false);
    d.write_reg(0x70, ACKNOWLEDGE);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER);
    d.write_reg(0x24, 0);
    d.write_reg(0x20, 1 << 31); // not offered
    d.write_reg(0x24, 1);
    d.write_reg(0x20, 1); // VERSION_1
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER | FEATURES_OK);
    assert_eq!(d.read_reg(0x70) & FEATURES_OK, 0);

    let (mut d, _f) = block_driver(false);
    d.write_reg(0x70, ACKNOWLEDGE);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER | FEATURES_OK);
    assert_eq!(d.read_reg(0x70) & FEATURES_OK, 0, "no VERSION_1");
    // DRIVER_OK without FEATURES_OK is out of order.
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER | DRIVER_OK);
    assert_eq!(d.read_reg(0x70), ACKNOWLEDGE | DRIVER);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER | FAILED);
    assert_eq!(d.read_reg(0x70), ACKNOWLEDGE | DRIVER | FAILED);
}

#[test]
fn a_queue_outside_guest_memory_gets_needs_reset_and_a_reset_clears_it() {
    let (mut d, _f) = block_driver(false);
    d.write_reg(0x70, ACKNOWLEDGE);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER);
    d.write_reg(0x24, 1);
    d.write_reg(0x20, 1);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER | FEATURES_OK);
    d.write_reg(0x30, 0);
    d.write_reg(0x38, 16);
    d.write_reg(0x80, 0xffff_f000); // far beyond guest memory
    d.write_reg(0x90, 0x2000);
    d.write_reg(0xa0, 0x3000);
    d.write_reg(0x44, 1);
    d.write_reg(0x70, ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
    assert_ne!(d.read_reg(0x70) & NEEDS_RESET, 0);
    assert_ne!(d.read_reg(0x60) & 2, 0, "configuration change interrupt");
    d.write_reg(0x70, 0);
    assert_eq!((d.read_reg(0x70), d.read_reg(0x60)), (0, 0));
    assert_eq!(d.read_reg(0x44), 0, "queues reset");
    // And the device starts properly afterwards.
    assert_eq!(d.start(u64::MAX) & DRIVER_OK, DRIVER_OK);
}

#[test]
fn queue_registers_are_frozen_once_ready_or_running() {
    let (mut d, _f) = block_driver(false);
    d.start(u64::MAX);
    d.write_reg(0x30, 0);
    d.write_reg(0x38, 4);
    d.write_reg(0x80, 0x5000);
    d.write_reg(0x44, 0);
    assert_eq!(d.read_reg(0x44), 1, "ready stays while DRIVER_OK");
    // Sizes that are not powers of two, or above the maximum, are refused.
    let (mut d, _f) = block_driver(false);
    d.write_reg(0x70, ACKNOWLEDGE);
    d.write_reg(0x30, 0);
    d.write_reg(0x38, 3);
    d.write_reg(0x38, 512);
    d.write_reg(0x38, 0x1_0000);
    assert_eq!(d.transport.queues[0].size(), 256);
}

#[test]
fn interrupt_ack_clears_status_bits() {
    let (d, _f) = block_driver(false);
    d.interrupt.signal_used();
    let mut t = d;
    assert_eq!(t.read_reg(0x60), 1);
    t.write_reg(0x64, 1);
    assert_eq!(t.read_reg(0x60), 0);
}
