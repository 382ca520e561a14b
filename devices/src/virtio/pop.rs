//! Taking descriptor chains off a queue, one pass at a time: notifications from the driver
//! are off during a pass and back on at its end (with a last look for buffers that came in
//! between), and a broken available ring is the guest's error.

use virtio_queue::{DescriptorChain, Queue, QueueOwnedT, QueueT};
use vm_memory::GuestMemoryMmap;

use super::GuestError;

/// The next chain the driver made available, if any.
pub fn pop_chain<'m>(
    queue: &mut Queue,
    mem: &'m GuestMemoryMmap,
) -> Result<Option<DescriptorChain<&'m GuestMemoryMmap>>, GuestError> {
    if !queue.ready() {
        return Ok(None);
    }
    match queue.iter(mem) {
        Ok(mut chains) => Ok(chains.next()),
        Err(virtio_queue::Error::InvalidAvailRingIndex) => Err(GuestError::AvailIndex),
        Err(virtio_queue::Error::QueueNotReady) => Ok(None),
        Err(_) => Err(GuestError::UsedRing),
    }
}

/// Starts a pass: the driver need not notify while the device is draining the queue.
pub fn begin_pass(queue: &mut Queue, mem: &GuestMemoryMmap) -> Result<(), GuestError> {
    if !queue.ready() {
        return Ok(());
    }
    queue
        .disable_notification(mem)
        .map_err(|_| GuestError::UsedRing)
}

/// Ends a pass that emptied the queue: notifications back on; true if buffers came in
/// meanwhile (another pass is due).
pub fn end_pass(queue: &mut Queue, mem: &GuestMemoryMmap) -> Result<bool, GuestError> {
    if !queue.ready() {
        return Ok(false);
    }
    queue
        .enable_notification(mem)
        .map_err(|_| GuestError::UsedRing)
}

/// Puts a served chain in the used ring.
pub fn add_used(
    queue: &mut Queue,
    mem: &GuestMemoryMmap,
    head: u16,
    len: u32,
) -> Result<(), GuestError> {
    queue
        .add_used(mem, head, len)
        .map_err(|_| GuestError::UsedRing)
}

/// Serves up to `budget` chains of queue `index` with `serve` (which checks a chain and
/// returns the length it wrote for the used ring). Stops early, with `more` set, when the
/// budget runs out, so one busy queue cannot hold its worker.
pub fn drain(
    index: usize,
    queues: &mut [Queue],
    mem: &GuestMemoryMmap,
    budget: usize,
    mut serve: impl FnMut(DescriptorChain<&GuestMemoryMmap>) -> Result<(u16, u32), GuestError>,
) -> Result<super::Progress, GuestError> {
    let mut progress = super::Progress::default();
    let Some(queue) = queues.get_mut(index) else {
        return Ok(progress);
    };
    begin_pass(queue, mem)?;
    let mut served = 0usize;
    loop {
        if served == budget {
            progress.more = true;
            return Ok(progress);
        }
        match pop_chain(queue, mem)? {
            Some(chain) => {
                let (head, len) = serve(chain)?;
                add_used(queue, mem, head, len)?;
                progress.used_on(index);
                served += 1;
            }
            None if end_pass(queue, mem)? => begin_pass(queue, mem)?,
            None => return Ok(progress),
        }
    }
}
