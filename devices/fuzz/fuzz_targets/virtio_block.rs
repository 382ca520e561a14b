//! The fuzzer's bytes choose a hostile guest's descriptor tables, chains, request headers,
//! available indexes and register writes against a virtio-blk device; the device must neither
//! panic nor hang, and must work again after each reset (devices::virtio::hostile).
#![no_main]

use devices::virtio::hostile::{block_guest, Rng};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    block_guest(&mut Rng::Bytes(data), 64);
});
