//! The disk image behind a virtio-blk device: a raw file, opened read-write or read-only and
//! locked (flock) so that two VMs cannot write one image, read and written at byte offsets
//! straight from and into guest memory.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use vm_memory::GuestMemoryMmap;

use crate::virtio::chain::GuestBuffers;
use crate::virtio::GuestError;

/// Bytes per sector, the unit of virtio-blk offsets.
pub const SECTOR_SIZE: u64 = 512;

/// Why an image could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The file cannot be opened as asked.
    #[error("cannot open disk image {} for {}: {source}{}", path.display(), if *readonly { "reading" } else { "reading and writing" }, read_only_hint(*readonly, source))]
    Open {
        /// The image.
        path: PathBuf,
        /// Whether it was opened read-only.
        readonly: bool,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The path names something other than a regular file or block device.
    #[error("disk image {} is not a regular file or block device", path.display())]
    NotAFile {
        /// The image.
        path: PathBuf,
    },
    /// Another process holds a conflicting lock on it.
    #[error("disk image {} is in use by another process", path.display())]
    Locked {
        /// The image.
        path: PathBuf,
    },
}

/// A hint for an image that could be opened read-only.
fn read_only_hint(readonly: bool, err: &std::io::Error) -> &'static str {
    let denied = err.kind() == std::io::ErrorKind::PermissionDenied
        || err.raw_os_error() == Some(libc::EROFS);
    if denied && !readonly {
        " (add readonly=on for a read-only disk)"
    } else {
        ""
    }
}

/// An open disk image.
#[derive(Debug)]
pub struct DiskImage {
    file: File,
    size: u64,
    readonly: bool,
}

/// What a read or write of the image ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoOutcome {
    /// Done.
    Done,
    /// The host's I/O failed.
    Failed,
}

impl DiskImage {
    /// Opens `path`, read-only if `readonly`.
    pub fn open(path: &Path, readonly: bool) -> Result<Self, ImageError> {
        let open_err = |source| ImageError::Open {
            path: path.to_path_buf(),
            readonly,
            source,
        };
        let file = File::options()
            .read(true)
            .write(!readonly)
            .open(path)
            .map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        use std::os::unix::fs::FileTypeExt;
        let kind = meta.file_type();
        if !kind.is_file() && !kind.is_block_device() {
            return Err(ImageError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        let lock = if readonly {
            libc::LOCK_SH
        } else {
            libc::LOCK_EX
        };
        // SAFETY: flock on a file descriptor we own; it touches no memory.
        if unsafe { libc::flock(file.as_raw_fd(), lock | libc::LOCK_NB) } != 0 {
            return Err(ImageError::Locked {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: lseek on our own descriptor; a block device's size is where SEEK_END lands.
        let end = unsafe { libc::lseek(file.as_raw_fd(), 0, libc::SEEK_END) };
        let size = u64::try_from(end).map_err(|_| open_err(std::io::Error::last_os_error()))?;
        Ok(Self {
            file,
            size,
            readonly,
        })
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Its size in whole sectors.
    pub fn sectors(&self) -> u64 {
        self.size / SECTOR_SIZE
    }

    /// Whether the guest may not write it.
    pub fn readonly(&self) -> bool {
        self.readonly
    }

    /// Reads the image at `offset` into `buffers`.
    pub fn read_into(
        &self,
        mem: &GuestMemoryMmap,
        buffers: &GuestBuffers,
        offset: u64,
    ) -> Result<IoOutcome, GuestError> {
        self.transfer(mem, buffers, offset, Direction::ToGuest)
    }

    /// Writes `buffers` to the image at `offset`.
    pub fn write_from(
        &self,
        mem: &GuestMemoryMmap,
        buffers: &GuestBuffers,
        offset: u64,
    ) -> Result<IoOutcome, GuestError> {
        self.transfer(mem, buffers, offset, Direction::FromGuest)
    }

    /// Makes written data durable.
    pub fn flush(&self) -> IoOutcome {
        match self.file.sync_data() {
            Ok(()) => IoOutcome::Done,
            Err(_) => IoOutcome::Failed,
        }
    }

    fn transfer(
        &self,
        mem: &GuestMemoryMmap,
        buffers: &GuestBuffers,
        offset: u64,
        direction: Direction,
    ) -> Result<IoOutcome, GuestError> {
        let fd = self.file.as_raw_fd();
        let mut at = offset;
        let mut failed = false;
        buffers.for_each_slice(
            mem,
            |slice| {
                if failed {
                    return Ok(());
                }
                let ptr = slice.ptr_guard_mut().as_ptr();
                let mut done = 0usize;
                while done < slice.len() {
                    let Ok(pos) = libc::off_t::try_from(at) else {
                        failed = true;
                        return Ok(());
                    };
                    let left = slice.len() - done;
                    // SAFETY: `ptr + done .. ptr + len` lies inside the slice, which vm-memory
                    // checked is inside a live guest memory mapping that `mem` keeps alive.
                    let n = unsafe {
                        match direction {
                            Direction::ToGuest => libc::pread(fd, ptr.add(done).cast(), left, pos),
                            Direction::FromGuest => {
                                libc::pwrite(fd, ptr.add(done).cast(), left, pos)
                            }
                        }
                    };
                    if n < 0
                        && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
                    {
                        continue;
                    }
                    if n <= 0 {
                        failed = true;
                        return Ok(());
                    }
                    done += n as usize;
                    at += n as u64;
                }
                Ok(())
            },
            || GuestError::OutsideMemory,
        )?;
        Ok(if failed {
            IoOutcome::Failed
        } else {
            IoOutcome::Done
        })
    }
}

#[derive(Clone, Copy)]
enum Direction {
    ToGuest,
    FromGuest,
}
