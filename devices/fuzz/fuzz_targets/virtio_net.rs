//! The fuzzer's bytes choose a hostile guest's receive and transmit chains, available
//! indexes and the host's frames against a virtio-net device; the device must neither panic
//! nor hang, and must work again after each reset (devices::virtio::hostile).
#![no_main]

use devices::virtio::hostile::{net_guest, Rng};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    net_guest(&mut Rng::Bytes(data), 64);
});
