//! A descriptor chain from the guest, checked before a device acts on it: it must end (no
//! loop, no index outside its table), hold at most a device's limit of descriptors, put every
//! device-readable descriptor before the writable ones, and point only into guest memory.
//! What passes becomes [`GuestBuffers`]: ranges of guest memory a device reads or writes
//! through vm-memory, never beyond guest RAM.

use std::ops::Deref;

use virtio_queue::DescriptorChain;
use vm_memory::{
    Bytes, GuestAddress, GuestMemory, GuestMemoryBackend, GuestMemoryMmap, VolatileSlice,
};

use super::GuestError;

/// A range of guest memory named by one descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Its first guest-physical address.
    pub addr: GuestAddress,
    /// Its length in bytes.
    pub len: u32,
}

/// Guest memory ranges that form one buffer, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuestBuffers {
    segments: Vec<Segment>,
}

/// A checked chain: its head (for the used ring), what the device reads, what it writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedChain {
    /// The head descriptor's index.
    pub head: u16,
    /// Device-readable buffers (from the driver).
    pub readable: GuestBuffers,
    /// Device-writable buffers (to the driver).
    pub writable: GuestBuffers,
}

/// Checks `chain` against `mem`, allowing at most `max_descriptors` descriptors.
pub fn check_chain<M>(
    chain: DescriptorChain<M>,
    mem: &GuestMemoryMmap,
    max_descriptors: usize,
) -> Result<CheckedChain, GuestError>
where
    M: Deref,
    M::Target: GuestMemory,
{
    let head = chain.head_index();
    let mut readable = GuestBuffers::default();
    let mut writable = GuestBuffers::default();
    let mut count = 0usize;
    let mut ended = false;
    for desc in chain {
        count += 1;
        if count > max_descriptors {
            return Err(GuestError::ChainTooLong(max_descriptors));
        }
        ended = !desc.has_next();
        if desc.len() == 0 {
            continue;
        }
        if !GuestMemoryBackend::check_range(mem, desc.addr(), desc.len() as usize) {
            return Err(GuestError::OutsideMemory);
        }
        let segment = Segment {
            addr: desc.addr(),
            len: desc.len(),
        };
        if desc.is_write_only() {
            writable.segments.push(segment);
        } else if writable.segments.is_empty() {
            readable.segments.push(segment);
        } else {
            return Err(GuestError::WritableFirst);
        }
    }
    // The chain's iterator stops quietly at a loop (after queue-size steps), at a next index
    // outside the table and at an unreadable descriptor: each leaves NEXT set on the last one.
    if count == 0 || !ended {
        return Err(GuestError::BrokenChain);
    }
    Ok(CheckedChain {
        head,
        readable,
        writable,
    })
}

impl GuestBuffers {
    /// Buffers made of `segments` (for tests and devices that split buffers).
    pub fn from_segments(segments: Vec<Segment>) -> Self {
        Self { segments }
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Total length in bytes.
    pub fn len(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.len)).sum()
    }

    /// Whether there is no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `at` bytes and the rest.
    pub fn split_at(&self, at: u64) -> (GuestBuffers, GuestBuffers) {
        let mut head = Vec::new();
        let mut tail = Vec::new();
        let mut left = at;
        for seg in &self.segments {
            let len = u64::from(seg.len);
            if left >= len {
                head.push(*seg);
                left -= len;
            } else if left == 0 {
                tail.push(*seg);
            } else {
                // left < len <= u32::MAX, so both parts fit in u32.
                let first = left as u32;
                head.push(Segment {
                    addr: seg.addr,
                    len: first,
                });
                tail.push(Segment {
                    addr: GuestAddress(seg.addr.0 + left),
                    len: seg.len - first,
                });
                left = 0;
            }
        }
        (Self { segments: head }, Self { segments: tail })
    }

    /// The last `n` bytes' start, splitting there: (all but the last `n`, the last `n`).
    pub fn split_last(&self, n: u64) -> Option<(GuestBuffers, GuestBuffers)> {
        let len = self.len();
        (len >= n).then(|| self.split_at(len - n))
    }

    /// Reads `buf.len()` bytes from the start of the buffers.
    pub fn read_exact(&self, mem: &GuestMemoryMmap, buf: &mut [u8]) -> Result<(), GuestError> {
        let mut done = 0usize;
        for seg in &self.segments {
            if done == buf.len() {
                break;
            }
            let take = (buf.len() - done).min(seg.len as usize);
            let part = buf
                .get_mut(done..done + take)
                .ok_or(GuestError::ShortHeader)?;
            mem.read_slice(part, seg.addr)
                .map_err(|_| GuestError::OutsideMemory)?;
            done += take;
        }
        if done == buf.len() {
            Ok(())
        } else {
            Err(GuestError::ShortHeader)
        }
    }

    /// Writes `data` from the start of the buffers, as much as fits; returns what was written.
    pub fn write(&self, mem: &GuestMemoryMmap, data: &[u8]) -> Result<usize, GuestError> {
        let mut done = 0usize;
        for seg in &self.segments {
            if done == data.len() {
                break;
            }
            let take = (data.len() - done).min(seg.len as usize);
            let part = data.get(done..done + take).unwrap_or_default();
            mem.write_slice(part, seg.addr)
                .map_err(|_| GuestError::OutsideMemory)?;
            done += take;
        }
        Ok(done)
    }

    /// Calls `f` on each piece of host memory behind the buffers, in order (a segment that
    /// spans two guest memory regions comes as two pieces).
    pub fn for_each_slice<E>(
        &self,
        mem: &GuestMemoryMmap,
        mut f: impl FnMut(&VolatileSlice<'_, ()>) -> Result<(), E>,
        outside: impl Fn() -> E,
    ) -> Result<(), E> {
        for seg in &self.segments {
            for slice in GuestMemoryBackend::get_slices(mem, seg.addr, seg.len as usize) {
                let slice = slice.map_err(|_| outside())?;
                f(&slice)?;
            }
        }
        Ok(())
    }

    /// The buffers as iovecs for readv/writev, or None past `max` pieces.
    ///
    /// The pointers stay valid while `mem` (which holds the mappings) lives.
    pub fn iovecs(&self, mem: &GuestMemoryMmap, max: usize) -> Option<Vec<libc::iovec>> {
        let mut iovecs = Vec::with_capacity(self.segments.len());
        self.for_each_slice(
            mem,
            |slice| {
                if iovecs.len() == max {
                    return Err(());
                }
                iovecs.push(libc::iovec {
                    iov_base: slice.ptr_guard_mut().as_ptr().cast(),
                    iov_len: slice.len(),
                });
                Ok(())
            },
            || (),
        )
        .ok()?;
        Some(iovecs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
    use virtio_queue::desc::{split::Descriptor, RawDescriptor};
    use virtio_queue::mock::MockSplitQueue;
    use virtio_queue::QueueT;

    fn mem() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap()
    }

    fn desc(addr: u64, len: u32, flags: u32, next: u16) -> RawDescriptor {
        RawDescriptor::from(Descriptor::new(addr, len, flags as u16, next))
    }

    fn check(descs: &[RawDescriptor], max: usize) -> Result<CheckedChain, GuestError> {
        let m = mem();
        let vq = MockSplitQueue::new(&m, 16);
        vq.build_desc_chain(descs).unwrap();
        let mut q: virtio_queue::Queue = vq.create_queue().unwrap();
        let chain = q.pop_descriptor_chain(&m).unwrap();
        check_chain(chain, &m, max)
    }

    #[test]
    fn a_request_chain_splits_into_readable_and_writable() {
        let chain = check(
            &[
                desc(0x1000, 16, VRING_DESC_F_NEXT, 1),
                desc(0x2000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2),
                desc(0x3000, 1, VRING_DESC_F_WRITE, 0),
            ],
            8,
        )
        .unwrap();
        assert_eq!(chain.readable.len(), 16);
        assert_eq!(chain.writable.len(), 513);
        let (data, status) = chain.writable.split_last(1).unwrap();
        assert_eq!(
            (data.len(), status.segments()[0].addr),
            (512, GuestAddress(0x3000))
        );
    }

    #[test]
    fn bad_chains_are_refused() {
        let outside = check(&[desc(0xff000, 0x2000, 0, 0)], 8);
        assert_eq!(outside, Err(GuestError::OutsideMemory));
        let order = check(
            &[
                desc(0x1000, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1),
                desc(0x2000, 16, 0, 0),
            ],
            8,
        );
        assert_eq!(order, Err(GuestError::WritableFirst));
        let long = check(
            &[
                desc(0x1000, 1, VRING_DESC_F_NEXT, 1),
                desc(0x1000, 1, VRING_DESC_F_NEXT, 2),
                desc(0x1000, 1, 0, 0),
            ],
            2,
        );
        assert_eq!(long, Err(GuestError::ChainTooLong(2)));
    }

    #[test]
    fn split_and_copy_across_segments() {
        let m = mem();
        let bufs = GuestBuffers::from_segments(vec![
            Segment {
                addr: GuestAddress(0x1000),
                len: 3,
            },
            Segment {
                addr: GuestAddress(0x5000),
                len: 5,
            },
        ]);
        assert_eq!(bufs.write(&m, b"abcdefghij").unwrap(), 8);
        let mut out = [0u8; 8];
        bufs.read_exact(&m, &mut out).unwrap();
        assert_eq!(&out, b"abcdefgh");
        let (a, b) = bufs.split_at(4);
        assert_eq!((a.len(), b.len()), (4, 4));
        assert_eq!(b.segments()[0].addr, GuestAddress(0x5001));
        let mut too_much = [0u8; 9];
        assert_eq!(
            bufs.read_exact(&m, &mut too_much),
            Err(GuestError::ShortHeader)
        );
        assert_eq!(bufs.iovecs(&m, 8).unwrap().len(), 2);
        assert!(bufs.iovecs(&m, 1).is_none());
    }
}
