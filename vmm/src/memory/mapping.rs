//! Host memory behind guest RAM: one private anonymous mapping per guest RAM range, aligned to
//! 2 MiB so that transparent huge pages can back it (or made of hugetlbfs pages), and
//! unmapped when dropped.

use std::io;
use std::ptr::NonNull;

/// Alignment of every mapping: the size of an x86_64 huge page.
pub const MAPPING_ALIGN: usize = 2 << 20;
/// mmap flag selecting 2 MiB pages for MAP_HUGETLB (log2(2 MiB) << MAP_HUGE_SHIFT).
const MAP_HUGE_2MB: i32 = 21 << 26;
/// madvise: populate (prefault) pages writable, honouring the range's memory policy.
const MADV_POPULATE_WRITE: i32 = 23;

/// A private anonymous mapping owned by Tern.
#[derive(Debug)]
pub struct HostMapping {
    addr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; nothing in it is tied to a thread.
unsafe impl Send for HostMapping {}
// SAFETY: shared access hands out only the address; reads and writes go through vm-memory's
// volatile accessors or KVM.
unsafe impl Sync for HostMapping {}

impl HostMapping {
    /// Maps `len` bytes of 2 MiB hugetlbfs pages (reserved now; a multiple of 2 MiB).
    pub fn huge_pages(len: usize) -> io::Result<Self> {
        if len == 0 || !len.is_multiple_of(MAPPING_ALIGN) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: a new anonymous mapping at an address of the kernel's choice; no existing
        // memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_HUGETLB | MAP_HUGE_2MB,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let addr =
            NonNull::new(raw.cast()).ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Self { addr, len })
    }

    /// Maps `len` bytes (a multiple of the page size) of zeroed memory at a 2 MiB-aligned
    /// address, without reserving swap and without touching it.
    pub fn anonymous(len: usize) -> io::Result<Self> {
        if len == 0 || !len.is_multiple_of(page_size()) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let padded = len
            .checked_add(MAPPING_ALIGN)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        // SAFETY: a new anonymous mapping at an address of the kernel's choice; no existing
        // memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                padded,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let start = raw as usize;
        let aligned = start.next_multiple_of(MAPPING_ALIGN);
        let head = aligned - start;
        let tail = padded - head - len;
        // SAFETY: both ranges lie inside the mapping just made and outside the part we keep.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + len) as *mut libc::c_void, tail);
            }
        }
        let addr = NonNull::new(aligned as *mut u8)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOMEM))?;
        Ok(Self { addr, len })
    }

    /// First byte of the mapping.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true for a mapping that was created).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Asks for transparent huge pages (MADV_HUGEPAGE).
    pub fn advise_huge_pages(&self) -> io::Result<()> {
        self.advise(libc::MADV_HUGEPAGE)
    }

    /// Asks for base pages only (MADV_NOHUGEPAGE), whatever the host's THP mode.
    pub fn advise_no_huge_pages(&self) -> io::Result<()> {
        self.advise(libc::MADV_NOHUGEPAGE)
    }

    /// Populates every page now (MADV_POPULATE_WRITE), where the memory policy says.
    pub fn populate(&self) -> io::Result<()> {
        self.advise(MADV_POPULATE_WRITE)
    }

    fn advise(&self, advice: i32) -> io::Result<()> {
        // SAFETY: the range is exactly this mapping; advice changes paging, not contents.
        let ret = unsafe { libc::madvise(self.addr.as_ptr().cast(), self.len, advice) };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for HostMapping {
    fn drop(&mut self) {
        // SAFETY: the range is exactly the mapping this value owns; nothing refers to it any
        // more once its owner (guest memory) is gone.
        unsafe {
            libc::munmap(self.addr.as_ptr().cast(), self.len);
        }
    }
}

/// The host's base page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf only reads a system constant.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_is_aligned_zeroed_and_writable() {
        let map = HostMapping::anonymous(4 << 20).unwrap();
        assert_eq!(map.as_ptr() as usize % MAPPING_ALIGN, 0);
        assert_eq!(map.len(), 4 << 20);
        // SAFETY: the mapping is 4 MiB long and owned by this test.
        unsafe {
            assert_eq!(*map.as_ptr().add(12345), 0);
            *map.as_ptr().add(12345) = 7;
            assert_eq!(*map.as_ptr().add(12345), 7);
        }
    }

    #[test]
    fn populate_and_thp_advice_work_on_anonymous_memory() {
        let map = HostMapping::anonymous(4 << 20).unwrap();
        map.advise_huge_pages().unwrap();
        map.populate().unwrap();
        let mut vec = vec![0u8; 2];
        // SAFETY: mincore reads residency of the mapping's first two pages into `vec`.
        let ret = unsafe { libc::mincore(map.as_ptr().cast(), 8192, vec.as_mut_ptr()) };
        assert_eq!(ret, 0);
        assert_eq!(vec, [1, 1], "populated pages are resident");
    }

    #[test]
    fn huge_pages_need_whole_huge_pages() {
        assert_eq!(
            HostMapping::huge_pages(4096).unwrap_err().raw_os_error(),
            Some(libc::EINVAL)
        );
    }

    #[test]
    fn rejects_sizes_that_are_not_whole_pages() {
        assert!(HostMapping::anonymous(0).is_err());
        assert!(HostMapping::anonymous(100).is_err());
    }
}
