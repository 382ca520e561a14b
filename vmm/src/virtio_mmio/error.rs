//! Why a virtio device could not be set up.

use devices::virtio::block::image::ImageError;
use devices::virtio::net::tap::TapError;

/// Why a virtio device could not be set up; one sentence each.
#[derive(Debug, thiserror::Error)]
pub enum VirtioSetupError {
    /// A disk image cannot be used.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A tap cannot be used.
    #[error(transparent)]
    Tap(#[from] TapError),
    /// More devices than interrupts.
    #[error("{0} virtio devices asked for; tern supports at most {max}", max = super::layout::MAX_DEVICES)]
    TooMany(usize),
    /// A device names a guest node the VM does not have.
    #[error("{what} names guest node {node}, which the VM does not have")]
    NoSuchGuestNode {
        /// The device, as the user named it.
        what: String,
        /// The guest node.
        node: u32,
    },
    /// A KVM registration (irqfd, ioeventfd) failed.
    #[error("cannot register the {what} of virtio device {index} with KVM: {source}")]
    Kvm {
        /// irqfd or ioeventfd.
        what: &'static str,
        /// The device's index.
        index: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An eventfd or the worker thread could not be created.
    #[error("cannot create virtio device {index}'s {what}: {source}")]
    Create {
        /// What.
        what: &'static str,
        /// The device's index.
        index: usize,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The device does not fit on the MMIO bus.
    #[error("cannot place virtio device {0} on the MMIO bus: {1}")]
    Bus(usize, String),
}
