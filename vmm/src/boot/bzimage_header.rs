//! The bzImage setup header's fields Tern trusts, checked before use: the boot protocol
//! version, the 64-bit entry point, and the room the kernel needs to decompress itself.

use linux_loader::loader::bootparam::setup_header;

/// The bzImage's 64-bit entry point sits this far into the protected-mode code.
const BZIMAGE_64BIT_ENTRY_OFFSET: u64 = 0x200;
/// `xloadflags` bit: the kernel has a 64-bit entry point.
const XLF_KERNEL_64: u16 = 1;
/// The oldest boot protocol Tern reads: 2.12 brought `xloadflags` (2.10 `pref_address` and
/// `init_size`, 2.03 `initrd_addr_max`).
const MIN_BOOT_PROTOCOL: u16 = 0x020c;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
