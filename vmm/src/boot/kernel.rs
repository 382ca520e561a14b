//! Loading the guest kernel: an uncompressed ELF vmlinux or a bzImage, both entered through
//! the 64-bit Linux boot protocol.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use linux_loader::loader::bootparam::setup_header;
use linux_loader::loader::{BzImage, Elf, KernelLoader};
use vm_memory::{GuestAddress, GuestMemoryMmap};

use super::elf_segments::{check_segments, load_segments};
use crate::arch::layout::HIMEM_START;
use crate::error::Error;

/// The bzImage's 64-bit entry point sits this far into the protected-mode code.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;
/// `xloadflags` bit: the kernel has a 64-bit entry point.
const XLF_KERNEL_64: u16 = 1;
/// The oldest boot protocol Tern reads: 2.12 brought `xloadflags` (2.10 `pref_address` and
/// `init_size`, 2.03 `initrd_addr_max`).
const MIN_BOOT_PROTOCOL: u16 = 0x020c;
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

/// Why a bzImage's setup header rules it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// The header predates the fields Tern reads.
    #[error("it uses boot protocol {}.{:02}, and Tern needs 2.12 or later", .0 >> 8, .0 & 0xff)]
    OldProtocol(u16),
    /// No 64-bit entry point.
    #[error("it has no 64-bit entry point")]
    Not64Bit,
    /// The room it asks for to decompress ends beyond the address space.
    #[error("its setup header asks for {init_size:#x} bytes at {start:#x}, beyond the 64-bit address space")]
    Overflow {
        /// Where the decompressed kernel goes.
        start: u64,
        /// The room it needs there.
        init_size: u32,
    },
}

/// Where a bzImage loaded at `load` (its compressed part ending at `loaded_end`) is entered,
/// and where the memory it needs to decompress itself ends, from its setup header.
pub fn bzimage_extent(
    header: &setup_header,
    load: u64,
    loaded_end: u64,
) -> Result<(u64, u64), HeaderError> {
    let version = header.version;
    if version < MIN_BOOT_PROTOCOL {
        return Err(HeaderError::OldProtocol(version));
    }
    if header.xloadflags & XLF_KERNEL_64 == 0 {
        return Err(HeaderError::Not64Bit);
    }
    let start = header.pref_address.max(load);
    let init_size = header.init_size;
    let overflow = HeaderError::Overflow { start, init_size };
    let decompress_end = start.checked_add(u64::from(init_size)).ok_or(overflow)?;
    let entry = load
        .checked_add(BZIMAGE_64BIT_ENTRY_OFFSET)
        .ok_or(overflow)?;
    Ok((entry, loaded_end.max(decompress_end)))
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

    fn header(version: u16, xloadflags: u16, pref_address: u64, init_size: u32) -> setup_header {
        setup_header {
            version,
            xloadflags,
            pref_address,
            init_size,
            ..Default::default()
        }
    }

    #[test]
    fn a_bzimage_extends_to_the_end_of_its_decompression_room() {
        let h = header(0x020f, 0x7f, 0x100_0000, 0x300_0000);
        assert_eq!(
            bzimage_extent(&h, 0x10_0000, 0x90_0000),
            Ok((0x10_0200, 0x400_0000))
        );
        // Loaded above its preferred address: the room starts where it was loaded.
        let h = header(0x020c, 1, 0x10_0000, 0x1000);
        assert_eq!(
            bzimage_extent(&h, 0x20_0000, 0x30_0000),
            Ok((0x20_0200, 0x30_0000))
        );
    }

    #[test]
    fn old_protocols_and_32_bit_kernels_are_refused_before_their_fields_are_read() {
        // A 2.09 header: init_size and pref_address (2.10) are not there to be trusted.
        let h = header(0x0209, 1, u64::MAX, u32::MAX);
        assert_eq!(
            bzimage_extent(&h, 0x10_0000, 0x20_0000),
            Err(HeaderError::OldProtocol(0x0209))
        );
        assert_eq!(
            HeaderError::OldProtocol(0x0209).to_string(),
            "it uses boot protocol 2.09, and Tern needs 2.12 or later"
        );
        let h = header(0x020f, 0, 0x100_0000, 0x1000);
        assert_eq!(
            bzimage_extent(&h, 0x10_0000, 0x20_0000),
            Err(HeaderError::Not64Bit)
        );
    }

    #[test]
    fn header_fields_that_overflow_are_refused() {
        let h = header(0x020f, 1, u64::MAX - 0x1000, 0x2000);
        assert_eq!(
            bzimage_extent(&h, 0x10_0000, 0x20_0000),
            Err(HeaderError::Overflow {
                start: u64::MAX - 0x1000,
                init_size: 0x2000
            })
        );
        let h = header(0x020f, 1, 0, 0);
        assert!(bzimage_extent(&h, u64::MAX - 0x10, u64::MAX).is_err());
    }

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
