//! Placing the initramfs: as high as the boot protocol allows in the RAM below the MMIO hole,
//! page-aligned, and never over the kernel.

use std::fs::File;
use std::path::Path;

use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

use super::kernel::LoadedKernel;
use crate::error::Error;

const PAGE: u64 = 4096;
/// Highest initramfs address for kernels that do not say (boot protocol default since 2.03).
const DEFAULT_INITRD_ADDR_MAX: u64 = 0x7fff_ffff;

/// Where an initramfs of `size` bytes goes, or `None` if it does not fit between the end of
/// the kernel and the top of low RAM.
pub fn initramfs_address(size: u64, kernel: &LoadedKernel, low_ram_end: u64) -> Option<u64> {
    let addr_max = kernel
        .header
        .map(|h| u64::from(h.initrd_addr_max))
        .filter(|max| *max != 0)
        .unwrap_or(DEFAULT_INITRD_ADDR_MAX);
    let top = low_ram_end.min(addr_max + 1);
    let start = top.checked_sub(size)? & !(PAGE - 1);
    (start >= kernel.reserved_end.checked_next_multiple_of(PAGE)?).then_some(start)
}

/// Loads the initramfs at `path`; returns its guest address and size.
pub fn load_initramfs(
    memory: &GuestMemoryMmap,
    path: &Path,
    kernel: &LoadedKernel,
    low_ram_end: u64,
) -> Result<(u64, u64), Error> {
    let mut file = File::open(path).map_err(|e| Error::InitramfsOpen(path.to_path_buf(), e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::InitramfsOpen(path.to_path_buf(), e))?
        .len();
    if size == 0 {
        return Err(Error::InitramfsEmpty(path.to_path_buf()));
    }
    let addr = initramfs_address(size, kernel, low_ram_end).ok_or(Error::InitramfsTooLarge {
        path: path.to_path_buf(),
        size,
        room: low_ram_end.saturating_sub(kernel.reserved_end),
    })?;
    let len = usize::try_from(size).map_err(|_| Error::GuestMemoryTooLarge(size))?;
    memory
        .read_exact_volatile_from(GuestAddress(addr), &mut file, len)
        .map_err(|e| Error::InitramfsRead(path.to_path_buf(), e.to_string()))?;
    Ok((addr, size))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::kernel::KernelFormat;
    use linux_loader::loader::bootparam::setup_header;

    fn elf(reserved_end: u64) -> LoadedKernel {
        LoadedKernel {
            format: KernelFormat::Elf,
            entry: 0x100_0000,
            header: None,
            reserved_end,
        }
    }

    #[test]
    fn goes_to_the_top_of_low_ram_page_aligned() {
        let addr = initramfs_address(0x1800, &elf(0x300_0000), 256 << 20).unwrap();
        assert_eq!(addr, (256 << 20) - 0x2000);
    }

    #[test]
    fn respects_the_kernel_s_highest_address() {
        let header = setup_header {
            initrd_addr_max: 0x37ff_ffff,
            ..Default::default()
        };
        let kernel = LoadedKernel {
            header: Some(header),
            ..elf(0x300_0000)
        };
        let addr = initramfs_address(0x1000, &kernel, 0xc000_0000).unwrap();
        assert_eq!(addr, 0x3800_0000 - 0x1000);
        assert_eq!(
            initramfs_address(0x1000, &elf(0x300_0000), 0xc000_0000),
            Some(0x8000_0000 - 0x1000)
        );
    }

    #[test]
    fn refuses_to_overlap_the_kernel() {
        assert_eq!(
            initramfs_address(200 << 20, &elf(100 << 20), 256 << 20),
            None
        );
        assert_eq!(initramfs_address(300 << 20, &elf(1 << 20), 256 << 20), None);
        assert!(initramfs_address(156 << 20, &elf(100 << 20), 256 << 20).is_some());
        // A kernel claiming memory up to the end of the address space leaves no room.
        assert_eq!(
            initramfs_address(0x1000, &elf(u64::MAX - 2), 256 << 20),
            None
        );
    }
}
