//! virtio-blk on a raw image: one request queue; reads, writes, flush and the device ID;
//! a read-only disk is announced (VIRTIO_BLK_F_RO) and answers writes with an I/O error.

pub mod image;
pub mod request;

use std::path::Path;

use virtio_bindings::virtio_blk::{VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_SEG_MAX};

use self::image::DiskImage;
use self::request::{serve, DiskId};
use super::chain::check_chain;
use super::pop::drain;
use super::{
    ActiveQueues, DeviceBackend, DeviceCounters, DeviceKind, GuestError, Progress,
    FEATURE_EVENT_IDX, FEATURE_INDIRECT_DESC, FEATURE_VERSION_1,
};

/// Size of the request queue.
pub const QUEUE_SIZE: u16 = 256;
/// Most descriptors one request may have (an indirect table may hold more than the queue).
pub const MAX_DESCRIPTORS: usize = 1024;
/// Data segments a request may carry, told to the guest (VIRTIO_BLK_F_SEG_MAX): the queue
/// less the header and the status.
const SEG_MAX: u32 = QUEUE_SIZE as u32 - 2;

/// A virtio-blk device.
#[derive(Debug)]
pub struct Block {
    image: DiskImage,
    id: DiskId,
}

impl Block {
    /// A device on `image`; its ID is `id` (at most 20 bytes are used).
    pub fn new(image: DiskImage, id: &str) -> Self {
        let mut bytes = DiskId::default();
        for (slot, b) in bytes.iter_mut().zip(id.bytes()) {
            *slot = b;
        }
        Self { image, id: bytes }
    }

    /// Opens the image at `path` for a device.
    pub fn open(path: &Path, readonly: bool, id: &str) -> Result<Self, image::ImageError> {
        Ok(Self::new(DiskImage::open(path, readonly)?, id))
    }
}

impl DeviceBackend for Block {
    fn kind(&self) -> DeviceKind {
        DeviceKind::Block
    }

    fn features(&self) -> u64 {
        let mut features = FEATURE_VERSION_1
            | FEATURE_INDIRECT_DESC
            | FEATURE_EVENT_IDX
            | (1 << VIRTIO_BLK_F_FLUSH)
            | (1 << VIRTIO_BLK_F_SEG_MAX);
        if self.image.readonly() {
            features |= 1 << VIRTIO_BLK_F_RO;
        }
        features
    }

    fn queue_max_sizes(&self) -> Vec<u16> {
        vec![QUEUE_SIZE]
    }

    fn config_space(&self) -> Vec<u8> {
        // capacity (le64), size_max (le32, unused), seg_max (le32).
        let mut config = Vec::with_capacity(16);
        config.extend_from_slice(&self.image.sectors().to_le_bytes());
        config.extend_from_slice(&0u32.to_le_bytes());
        config.extend_from_slice(&SEG_MAX.to_le_bytes());
        config
    }

    fn activate(&mut self, _features: u64) -> std::io::Result<()> {
        Ok(())
    }

    fn process_queue(
        &mut self,
        index: usize,
        active: &mut ActiveQueues,
        counters: &DeviceCounters,
    ) -> Result<Progress, GuestError> {
        let ActiveQueues { mem, queues, .. } = active;
        let budget = usize::from(QUEUE_SIZE);
        drain(index, queues, mem, budget, |chain| {
            let checked = check_chain(chain, mem, MAX_DESCRIPTORS)?;
            let served = serve(&checked, mem, &self.image, &self.id, counters)?;
            Ok((checked.head, served.used_len))
        })
    }
}

#[cfg(test)]
mod tests;
