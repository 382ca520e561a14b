//! What an ELF kernel's loadable segments ask for, checked before anything is loaded: every
//! segment lies at 1 MiB or above (below sit the zero page, the command line, the page
//! tables, the MP and ACPI tables), takes no more bytes from the file than it occupies, and
//! ends inside the 64-bit address space.

use std::io::{self, Read, Seek, SeekFrom};

use crate::arch::layout::HIMEM_START;

const PT_LOAD: u32 = 1;
const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;

/// A loadable segment's placement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address.
    pub addr: u64,
    /// Bytes read from the file.
    pub file_size: u64,
    /// Bytes it occupies in memory.
    pub mem_size: u64,
}

/// Why a segment is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// It would overwrite the boot structures.
    #[error("a segment at {start:#x}-{end:#x} lies below 1 MiB, where the boot structures live")]
    BelowHimem {
        /// First byte.
        start: u64,
        /// End (exclusive, saturated).
        end: u64,
    },
    /// Its file part is larger than its memory part.
    #[error("the segment at {0:#x} takes more bytes from the file than it occupies in memory")]
    FileLargerThanMemory(u64),
    /// It ends beyond the 64-bit address space.
    #[error("the segment at {0:#x} ends beyond the 64-bit address space")]
    Overflow(u64),
    /// The program headers are not where the header says, or have an unknown size.
    #[error("its program headers are truncated or malformed")]
    Malformed,
}

fn u16_at(bytes: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([bytes[off], bytes[off + 1]])
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[off..off + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[off..off + 8]);
    u64::from_le_bytes(word)
}

/// The loadable segments of the 64-bit little-endian ELF image in `file`.
pub fn load_segments<F: Read + Seek>(file: &mut F) -> Result<Vec<Segment>, SegmentError> {
    let malformed = |_: io::Error| SegmentError::Malformed;
    let mut ehdr = [0u8; EHDR_LEN];
    file.seek(SeekFrom::Start(0)).map_err(malformed)?;
    file.read_exact(&mut ehdr).map_err(malformed)?;
    let phoff = u64_at(&ehdr, 0x20);
    let phentsize = usize::from(u16_at(&ehdr, 0x36));
    let phnum = usize::from(u16_at(&ehdr, 0x38));
    if phnum > 0 && phentsize != PHDR_LEN {
        return Err(SegmentError::Malformed);
    }
    let mut phdrs = vec![0u8; phnum * PHDR_LEN];
    file.seek(SeekFrom::Start(phoff)).map_err(malformed)?;
    file.read_exact(&mut phdrs).map_err(malformed)?;
    Ok(phdrs
        .chunks_exact(PHDR_LEN)
        .filter(|p| u32_at(p, 0) == PT_LOAD)
        .map(|p| Segment {
            addr: u64_at(p, 24),
            file_size: u64_at(p, 32),
            mem_size: u64_at(p, 40),
        })
        .collect())
}

/// Checks that every segment can be loaded without touching the boot structures.
pub fn check_segments(segments: &[Segment]) -> Result<(), SegmentError> {
    for s in segments
        .iter()
        .filter(|s| s.mem_size > 0 || s.file_size > 0)
    {
        if s.file_size > s.mem_size {
            return Err(SegmentError::FileLargerThanMemory(s.addr));
        }
        let end = s
            .addr
            .checked_add(s.mem_size)
            .ok_or(SegmentError::Overflow(s.addr))?;
        if s.addr < HIMEM_START {
            return Err(SegmentError::BelowHimem { start: s.addr, end });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn image(segments: &[(u32, u64, u64, u64)]) -> Vec<u8> {
        let mut elf = vec![0u8; EHDR_LEN];
        elf[0..4].copy_from_slice(b"\x7fELF");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&(PHDR_LEN as u16).to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for &(kind, addr, file_size, mem_size) in segments {
            let mut p = vec![0u8; PHDR_LEN];
            p[0..4].copy_from_slice(&kind.to_le_bytes());
            p[24..32].copy_from_slice(&addr.to_le_bytes());
            p[32..40].copy_from_slice(&file_size.to_le_bytes());
            p[40..48].copy_from_slice(&mem_size.to_le_bytes());
            elf.extend(p);
        }
        elf
    }

    fn check(segments: &[(u32, u64, u64, u64)]) -> Result<(), SegmentError> {
        check_segments(&load_segments(&mut Cursor::new(image(segments)))?)
    }

    #[test]
    fn segments_from_1_mib_up_are_fine() {
        assert_eq!(check(&[(PT_LOAD, 0x100000, 0x1000, 0x2000)]), Ok(()));
        assert_eq!(
            check(&[(PT_LOAD, 0x100_0000, 0x1000, 0x1000), (4, 0, 0, 0)]),
            Ok(())
        );
        let segs = load_segments(&mut Cursor::new(image(&[
            (PT_LOAD, 0x200000, 1, 2),
            (4, 0x10, 1, 1),
        ])))
        .unwrap();
        assert_eq!(
            segs,
            vec![Segment {
                addr: 0x200000,
                file_size: 1,
                mem_size: 2
            }]
        );
    }

    #[test]
    fn a_segment_below_1_mib_is_refused() {
        assert_eq!(
            check(&[(PT_LOAD, 0x100000, 16, 16), (PT_LOAD, 0x7000, 0x10, 0x1000)]),
            Err(SegmentError::BelowHimem {
                start: 0x7000,
                end: 0x8000
            })
        );
        // Memory only (bss) counts too; a non-loadable segment down there does not.
        assert!(check(&[(PT_LOAD, 0xf0000, 0, 0x20000)]).is_err());
        assert_eq!(check(&[(4, 0x1000, 0x10, 0x10)]), Ok(()));
        assert_eq!(
            SegmentError::BelowHimem {
                start: 0x7000,
                end: 0x8000
            }
            .to_string(),
            "a segment at 0x7000-0x8000 lies below 1 MiB, where the boot structures live"
        );
    }

    #[test]
    fn inconsistent_sizes_and_overflow_are_refused() {
        assert_eq!(
            check(&[(PT_LOAD, 0x100000, 0x2000, 0x1000)]),
            Err(SegmentError::FileLargerThanMemory(0x100000))
        );
        assert_eq!(
            check(&[(PT_LOAD, u64::MAX - 10, 0, 0x100)]),
            Err(SegmentError::Overflow(u64::MAX - 10))
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let mut elf = image(&[(PT_LOAD, 0x100000, 1, 1)]);
        elf.truncate(EHDR_LEN + 20);
        assert_eq!(
            load_segments(&mut Cursor::new(elf)),
            Err(SegmentError::Malformed)
        );
        let mut elf = image(&[(PT_LOAD, 0x100000, 1, 1)]);
        elf[0x36] = 32;
        assert_eq!(
            load_segments(&mut Cursor::new(elf)),
            Err(SegmentError::Malformed)
        );
        assert_eq!(
            load_segments(&mut Cursor::new(b"\x7fELF".to_vec())),
            Err(SegmentError::Malformed)
        );
    }
}
