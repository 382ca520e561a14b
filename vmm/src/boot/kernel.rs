//! Loading the guest kernel: an uncompressed ELF vmlinux or a bzImage, both entered through
//! the 64-bit Linux boot protocol.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::{BzImage, Elf, KernelLoader};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use super::bzimage_header::bzimage_extent;
use super::elf_segments::{check_segments, load_segments};
use crate::arch::layout::HIMEM_START;
use crate::error::Error;

const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const BZIMAGE_MAGIC_OFFSET: u64 = 0x202;
const BZIMAGE_MAGIC: [u8; 4] = *b"HdrS";

/// The two kernel formats Tern boots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelFormat {
    /// An uncompressed ELF vmlinux.
    Elf,
    /// A compressed bzImage that decompresses itself.
    BzImage,
}

/// A kernel in guest memory.
#[derive(Clone, Copy, Debug)]
pub struct LoadedKernel {
    /// The format it was loaded as.
    pub format: KernelFormat,
    /// The 64-bit entry point.
    pub entry: u64,
    /// The bzImage setup header, copied into the zero page.
    pub header: Option<setup_header>,
    /// Guest memory below this address (from 1 MiB) belongs to the kernel, including room
    /// a bzImage needs to decompress itself.
    pub reserved_end: u64,
}

fn read_magic(file: &mut File, offset: u64) -> std::io::Result<[u8; 4]> {
    let mut magic = [0u8; 4];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut magic)?;
    Ok(magic)
}

/// Tells the format from the file's magic numbers.
pub fn detect_format(path: &Path, file: &mut File) -> Result<KernelFormat, Error> {
    let not_a_kernel = || Error::KernelFormat(path.to_path_buf());
    if read_magic(file, 0).map_err(|_| not_a_kernel())? == ELF_MAGIC {
        return Ok(KernelFormat::Elf);
    }
    match read_magic(file, BZIMAGE_MAGIC_OFFSET) {
        Ok(magic) if magic == BZIMAGE_MAGIC => Ok(KernelFormat::BzImage),
        _ => Err(not_a_kernel()),
    }
}

/// Loads the kernel at `path` into guest memory.
pub fn load_kernel(memory: &GuestMemoryMmap, path: &Path) -> Result<LoadedKernel, Error> {
    let mut file = File::open(path).map_err(|e| Error::KernelOpen(path.to_path_buf(), e))?;
    let format = detect_format(path, &mut file)?;
    let load_error =
        |e: linux_loader::loader::Error| Error::KernelLoad(path.to_path_buf(), e.to_string());
    let himem = Some(GuestAddress(HIMEM_START));
    match format {
        KernelFormat::Elf => {
            let segments = load_segments(&mut file)
                .and_then(|segments| check_segments(&segments))
                .map_err(|e| Error::KernelSegment(path.to_path_buf(), e));
            segments?;
            let result = Elf::load(memory, None, &mut file, himem).map_err(load_error)?;
            Ok(LoadedKernel {
                format,
                entry: result.kernel_load.0,
                header: None,
                reserved_end: result.kernel_end,
            })
        }
        KernelFormat::BzImage => {
            let result = BzImage::load(memory, None, &mut file, himem).map_err(load_error)?;
            let header = result
                .setup_header
                .ok_or_else(|| Error::KernelFormat(path.to_path_buf()))?;
            let (entry, reserved_end) =
                bzimage_extent(&header, result.kernel_load.0, result.kernel_end)
                    .map_err(|e| Error::KernelHeader(path.to_path_buf(), e))?;
            Ok(LoadedKernel {
                format,
                entry,
                header: Some(header),
                reserved_end,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp_file(bytes: &[u8]) -> (vmm_sys_util::tempfile::TempFile, File) {
        let tmp = vmm_sys_util::tempfile::TempFile::new().unwrap();
        tmp.as_file().write_all(bytes).unwrap();
        let file = File::open(tmp.as_path()).unwrap();
        (tmp, file)
    }

    #[test]
    fn recognises_elf_and_bzimage_and_rejects_the_rest() {
        let (tmp, mut file) = temp_file(b"\x7fELF\x02\x01\x01");
        assert_eq!(
            detect_format(tmp.as_path(), &mut file).unwrap(),
            KernelFormat::Elf
        );

        let mut bz = vec![0u8; 0x400];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        let (tmp, mut file) = temp_file(&bz);
        assert_eq!(
            detect_format(tmp.as_path(), &mut file).unwrap(),
            KernelFormat::BzImage
        );

        let (tmp, mut file) = temp_file(b"#!/bin/sh\necho not a kernel\n");
        assert!(matches!(
            detect_format(tmp.as_path(), &mut file),
            Err(Error::KernelFormat(_))
        ));
        let (tmp, mut file) = temp_file(b"");
        assert!(matches!(
            detect_format(tmp.as_path(), &mut file),
            Err(Error::KernelFormat(_))
        ));
    }
}
