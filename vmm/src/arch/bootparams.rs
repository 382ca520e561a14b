//! The Linux zero page (`struct boot_params`) and its e820 memory map.

use linux_loader::loader::bootparam::{boot_e820_entry, boot_params, setup_header};

use super::layout::{CMDLINE_START, EBDA_START, HIMEM_START};

/// e820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// e820 type of reserved memory.
pub const E820_RESERVED: u32 = 2;

const BOOT_FLAG_MAGIC: u16 = 0xaa55;
const HEADER_MAGIC: u32 = 0x5372_6448; // "HdrS"
const LOADER_UNDEFINED: u8 = 0xff;
const KERNEL_ALIGNMENT: u32 = 0x100_0000;

/// Errors building the zero page.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BootParamsError {
    /// The memory map has more entries than the zero page holds.
    #[error("the guest memory map needs {0} e820 entries; the zero page holds 128")]
    TooManyE820Entries(usize),
    /// An address the header stores in 32 bits lies above 4 GiB.
    #[error("the {0} lies above 4 GiB, beyond what the boot protocol can point at")]
    Above4G(&'static str),
}

/// The e820 map for guest RAM given as (start, size) ranges in ascending order: RAM below
/// the EBDA, the legacy area up to 1 MiB reserved, and the RAM ranges from 1 MiB on.
pub fn e820_map(ram: &[(u64, u64)]) -> Vec<boot_e820_entry> {
    let entry = |addr: u64, end: u64, r#type: u32| boot_e820_entry {
        addr,
        size: end - addr,
        r#type,
    };
    let mut map = vec![
        entry(0, EBDA_START, E820_RAM),
        entry(EBDA_START, HIMEM_START, E820_RESERVED),
    ];
    for &(start, size) in ram {
        let end = start.saturating_add(size);
        let start = start.max(HIMEM_START);
        if end > start {
            map.push(entry(start, end, E820_RAM));
        }
    }
    map
}

/// What goes into the zero page.
#[derive(Debug, Clone, Copy)]
pub struct BootParamsInput<'a> {
    /// The setup header read from a bzImage; `None` for an ELF vmlinux.
    pub header: Option<setup_header>,
    /// Length of the command line without its NUL.
    pub cmdline_len: usize,
    /// Guest address and size of the initramfs, if any.
    pub initramfs: Option<(u64, u64)>,
    /// The e820 memory map.
    pub e820: &'a [boot_e820_entry],
}

/// Fills a zero page for the 64-bit boot protocol.
pub fn boot_params(input: BootParamsInput<'_>) -> Result<boot_params, BootParamsError> {
    let mut params = boot_params::default();
    if let Some(header) = input.header {
        params.hdr = header;
    }
    params.hdr.boot_flag = BOOT_FLAG_MAGIC;
    params.hdr.header = HEADER_MAGIC;
    params.hdr.type_of_loader = LOADER_UNDEFINED;
    if input.header.is_none() {
        params.hdr.kernel_alignment = KERNEL_ALIGNMENT;
    }
    params.hdr.cmd_line_ptr = CMDLINE_START as u32;
    params.hdr.cmdline_size = input.cmdline_len as u32;
    if let Some((addr, size)) = input.initramfs {
        let end = addr.checked_add(size).filter(|end| *end <= 1 << 32);
        if end.is_none() {
            return Err(BootParamsError::Above4G("initramfs"));
        }
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = size as u32;
    }
    if input.e820.len() > params.e820_table.len() {
        return Err(BootParamsError::TooManyE820Entries(input.e820.len()));
    }
    params.e820_table[..input.e820.len()].copy_from_slice(input.e820);
    params.e820_entries = input.e820.len() as u8;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuples(map: &[boot_e820_entry]) -> Vec<(u64, u64, u32)> {
        map.iter().map(|e| (e.addr, e.size, e.r#type)).collect()
    }

    #[test]
    fn e820_reserves_the_legacy_area_and_keeps_high_ram() {
        let map = e820_map(&[(0, 0xc000_0000), (1 << 32, 1 << 30)]);
        assert_eq!(
            tuples(&map),
            vec![
                (0, 0x9fc00, E820_RAM),
                (0x9fc00, 0x100000 - 0x9fc00, E820_RESERVED),
                (0x100000, 0xc000_0000 - 0x100000, E820_RAM),
                (1 << 32, 1 << 30, E820_RAM),
            ]
        );
    }

    #[test]
    fn zero_page_for_an_elf_kernel() {
        let map = e820_map(&[(0, 256 << 20)]);
        let params = boot_params(BootParamsInput {
            header: None,
            cmdline_len: 42,
            initramfs: Some((0x0f00_0000, 0x10_0000)),
            e820: &map,
        })
        .unwrap();
        let hdr = params.hdr;
        assert_eq!({ hdr.boot_flag }, 0xaa55);
        assert_eq!({ hdr.header }, 0x5372_6448);
        assert_eq!({ hdr.type_of_loader }, 0xff);
        assert_eq!({ hdr.kernel_alignment }, 0x100_0000);
        assert_eq!(({ hdr.cmd_line_ptr }, { hdr.cmdline_size }), (0x20000, 42));
        assert_eq!(
            ({ hdr.ramdisk_image }, { hdr.ramdisk_size }),
            (0x0f00_0000, 0x10_0000)
        );
        assert_eq!(params.e820_entries, 3);
        assert_eq!({ params.e820_table[2].addr }, 0x100000);
    }

    #[test]
    fn zero_page_keeps_a_bzimage_header() {
        let header = setup_header {
            setup_sects: 27,
            version: 0x20f,
            xloadflags: 0x7f,
            kernel_alignment: 0x20_0000,
            ..Default::default()
        };
        let params = boot_params(BootParamsInput {
            header: Some(header),
            cmdline_len: 1,
            initramfs: None,
            e820: &[],
        })
        .unwrap();
        let hdr = params.hdr;
        assert_eq!(
            ({ hdr.setup_sects }, { hdr.version }, { hdr.xloadflags }),
            (27, 0x20f, 0x7f)
        );
        assert_eq!({ hdr.kernel_alignment }, 0x20_0000);
        assert_eq!(({ hdr.ramdisk_image }, { hdr.ramdisk_size }), (0, 0));
    }

    #[test]
    fn rejects_what_the_zero_page_cannot_hold() {
        let big = vec![boot_e820_entry::default(); 129];
        let input = BootParamsInput {
            header: None,
            cmdline_len: 0,
            initramfs: None,
            e820: &big,
        };
        assert_eq!(
            boot_params(input).unwrap_err(),
            BootParamsError::TooManyE820Entries(129)
        );
        let input = BootParamsInput {
            header: None,
            cmdline_len: 0,
            initramfs: Some((0xffff_f000, 0x2000)),
            e820: &[],
        };
        assert_eq!(
            boot_params(input).unwrap_err(),
            BootParamsError::Above4G("initramfs")
        );
    }
}
