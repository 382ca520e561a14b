//! A private anonymous mapping owned by one value and unmapped when it drops: the scratch
//! memory of the lazy-mode probe and of the tests that ask the real kernel about pages.

use std::io;

/// A private, readable and writable anonymous mapping.
#[derive(Debug)]
pub struct AnonMapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl AnonMapping {
    /// Maps `len` bytes (rounded up to pages by the kernel); nothing is touched yet.
    pub fn new(len: usize) -> io::Result<Self> {
        // SAFETY: a fresh anonymous mapping that no other code knows of; `Drop` unmaps it.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { ptr, len })
    }

    /// Its first address.
    pub fn addr(&self) -> u64 {
        self.ptr as u64
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is zero bytes long.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `byte` to every byte of it, so every page is populated.
    pub fn fill(&self, byte: u8) {
        // SAFETY: the writes stay inside the mapping, which is writable and ours.
        unsafe { std::ptr::write_bytes(self.ptr.cast::<u8>(), byte, self.len) };
    }
}

impl Drop for AnonMapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; nothing refers to it any more.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_fills_and_unmaps() {
        let m = AnonMapping::new(2 * 4096).unwrap();
        assert_eq!(m.len(), 8192);
        m.fill(7);
        // SAFETY: the last byte lies inside the mapping.
        assert_eq!(unsafe { *((m.addr() + 8191) as *const u8) }, 7);
    }
}
