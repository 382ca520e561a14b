//! One virtio-blk request (virtio 1.2, 5.2.6): a 16-byte header the device reads (type,
//! reserved, sector), the data, and a status byte the device writes last. The header and the
//! data come from the guest: the type may be unknown, the sector and length may reach past
//! the disk or overflow, and a read-only disk refuses writes.

use virtio_bindings::virtio_blk::{
    VIRTIO_BLK_ID_BYTES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP,
    VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
};
use vm_memory::GuestMemoryMmap;

use super::image::{DiskImage, IoOutcome, SECTOR_SIZE};
use crate::virtio::chain::CheckedChain;
use crate::virtio::{DeviceCounters, GuestError};

/// Length of the request header.
pub const HEADER_LEN: u64 = 16;

/// What the guest asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestType {
    /// Read sectors.
    In,
    /// Write sectors.
    Out,
    /// Make writes durable.
    Flush,
    /// The device's ID string.
    GetId,
    /// Anything else.
    Unsupported(u32),
}

impl RequestType {
    fn from_raw(value: u32) -> Self {
        match value {
            VIRTIO_BLK_T_IN => Self::In,
            VIRTIO_BLK_T_OUT => Self::Out,
            VIRTIO_BLK_T_FLUSH => Self::Flush,
            VIRTIO_BLK_T_GET_ID => Self::GetId,
            other => Self::Unsupported(other),
        }
    }
}

/// The status byte the device answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done.
    Ok,
    /// Failed: out of range, misaligned, a write to a read-only disk, or a host I/O error.
    IoErr,
    /// A request type the device does not know.
    Unsupported,
}

impl Status {
    fn byte(self) -> u8 {
        (match self {
            Self::Ok => VIRTIO_BLK_S_OK,
            Self::IoErr => VIRTIO_BLK_S_IOERR,
            Self::Unsupported => VIRTIO_BLK_S_UNSUPP,
        }) as u8
    }
}

/// What serving a request did: its status and the bytes written into the guest's buffers
/// (status byte included), for the used ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    /// The status written.
    pub status: Status,
    /// Bytes written into the chain.
    pub used_len: u32,
}

/// The ID string of a disk: `VIRTIO_BLK_ID_BYTES` bytes, zero-padded.
pub type DiskId = [u8; VIRTIO_BLK_ID_BYTES as usize];

/// Serves one checked chain on `image`.
pub fn serve(
    chain: &CheckedChain,
    mem: &GuestMemoryMmap,
    image: &DiskImage,
    id: &DiskId,
    counters: &DeviceCounters,
) -> Result<Served, GuestError> {
    let (data_out, status_buf) = chain.writable.split_last(1).ok_or(GuestError::NoStatus)?;
    let mut header = [0u8; HEADER_LEN as usize];
    chain.readable.read_exact(mem, &mut header)?;
    let (_, data_in) = chain.readable.split_at(HEADER_LEN);
    let (kind, sector) = parse_header(&header);
    counters.request();
    let mut written = 0u64;
    let status = match kind {
        RequestType::In => match range(sector, data_out.len(), image) {
            Some(offset) => {
                let outcome = image.read_into(mem, &data_out, offset)?;
                if outcome == IoOutcome::Done {
                    written = data_out.len();
                    counters.read(written);
                }
                status_of(outcome)
            }
            None => Status::IoErr,
        },
        RequestType::Out if image.readonly() => Status::IoErr,
        RequestType::Out => match range(sector, data_in.len(), image) {
            Some(offset) => {
                let outcome = image.write_from(mem, &data_in, offset)?;
                if outcome == IoOutcome::Done {
                    counters.written(data_in.len());
                }
                status_of(outcome)
            }
            None => Status::IoErr,
        },
        RequestType::Flush => status_of(image.flush()),
        RequestType::GetId => {
            written = data_out.write(mem, id)? as u64;
            Status::Ok
        }
        RequestType::Unsupported(_) => Status::Unsupported,
    };
    if status != Status::Ok {
        counters.error();
    }
    status_buf.write(mem, &[status.byte()])?;
    Ok(Served {
        status,
        used_len: u32::try_from(written + 1).unwrap_or(u32::MAX),
    })
}

fn parse_header(header: &[u8; HEADER_LEN as usize]) -> (RequestType, u64) {
    let [t0, t1, t2, t3, _, _, _, _, s @ ..] = *header;
    (
        RequestType::from_raw(u32::from_le_bytes([t0, t1, t2, t3])),
        u64::from_le_bytes(s),
    )
}

/// The byte offset of `len` bytes at `sector`, if they are whole sectors inside the image.
fn range(sector: u64, len: u64, image: &DiskImage) -> Option<u64> {
    if !len.is_multiple_of(SECTOR_SIZE) {
        return None;
    }
    let offset = sector.checked_mul(SECTOR_SIZE)?;
    let end = offset.checked_add(len)?;
    (end <= image.sectors() * SECTOR_SIZE).then_some(offset)
}

fn status_of(outcome: IoOutcome) -> Status {
    match outcome {
        IoOutcome::Done => Status::Ok,
        IoOutcome::Failed => Status::IoErr,
    }
}
