//! The page-status system call behind placement queries and page moves: move_pages(2),
//! behind a trait so tests can inject any per-page result.

use std::io;

/// move_pages(2) for this process: with `nodes` it moves each page to its node; without, it
/// only reports where each page is. `status` gets one entry per page: a node number, or a
/// negative errno (-ENOENT: not present; -EFAULT: not mapped; -EBUSY, -EAGAIN: try again;
/// -ENOMEM: no room on the target; -EACCES: shared with another process).
pub trait PageMover: Send + Sync {
    /// Calls move_pages; `Ok(n)` is the number of pages the kernel could not move (0 for a
    /// query), `Err` a failure of the whole call.
    fn move_pages(
        &self,
        pages: &[u64],
        nodes: Option<&[i32]>,
        status: &mut [i32],
    ) -> io::Result<usize>;

    /// mincore(2) over `resident.len()` pages from `addr`: bit 0 of each byte says whether
    /// the page is in memory. It tells a page that was never touched from one the kernel's
    /// NUMA balancing has made inaccessible for a while (move_pages says -ENOENT for both).
    fn resident(&self, addr: u64, resident: &mut [u8]) -> io::Result<()>;
}

/// Pages per query call.
pub const QUERY_BATCH: usize = 1024;
/// The base page size.
const PAGE: u64 = 4096;
/// What a status entry holds before the call: a value no kernel writes (it writes a node
/// number or a negative errno from -1 to -4095). An entry still holding it afterwards is a
/// page the kernel never reached: move_pages(2) can give up part-way (a positive return) and
/// leave the rest of the array as the caller filled it.
pub const STATUS_UNSET: i32 = i32::MIN;

/// A fresh status array of `len` entries, each [`STATUS_UNSET`].
pub fn unset_statuses(len: usize) -> Vec<i32> {
    vec![STATUS_UNSET; len]
}

/// Where each of `addrs` is (move_pages in query mode, in batches): a node number or a
/// negative errno per page, every entry written by the kernel. An entry the kernel left
/// unwritten is asked again once, alone; if it stays unwritten the query fails.
pub fn query_statuses(mover: &dyn PageMover, addrs: &[u64]) -> io::Result<Vec<i32>> {
    let mut statuses = Vec::with_capacity(addrs.len());
    for batch in addrs.chunks(QUERY_BATCH) {
        let mut status = unset_statuses(batch.len());
        mover.move_pages(batch, None, &mut status)?;
        for (addr, s) in batch.iter().zip(status.iter_mut()) {
            if *s == STATUS_UNSET {
                let mut again = [STATUS_UNSET];
                mover.move_pages(std::slice::from_ref(addr), None, &mut again)?;
                if again[0] == STATUS_UNSET {
                    return Err(io::Error::other(format!(
                        "the kernel did not report where page {addr:#x} is"
                    )));
                }
                *s = again[0];
            }
        }
        statuses.extend(status);
    }
    Ok(statuses)
}

/// Queries every 4 KiB page of `[addr, addr + pages * 4 KiB)` (move_pages in query mode, in
/// batches) and calls `f(page index, page address, status)` for each, in order. `stop` is
/// asked before each batch: when it says so the query ends with an `Interrupted` error.
pub fn query_each(
    mover: &dyn PageMover,
    addr: u64,
    pages: u64,
    stop: &dyn Fn() -> bool,
    mut f: impl FnMut(u64, u64, i32),
) -> io::Result<()> {
    let mut addrs = Vec::with_capacity(QUERY_BATCH);
    let mut first = 0;
    while first < pages {
        if stop() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "the query was stopped",
            ));
        }
        let count = (pages - first).min(QUERY_BATCH as u64);
        addrs.clear();
        addrs.extend((first..first + count).map(|p| addr + p * PAGE));
        let status = query_statuses(mover, &addrs)?;
        for (i, (a, s)) in addrs.iter().zip(status.iter()).enumerate() {
            f(first + i as u64, *a, *s);
        }
        first += count;
    }
    Ok(())
}

/// The real system call.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemPages;

/// MPOL_MF_MOVE for move_pages: pages mapped only by this process.
const MPOL_MF_MOVE: i32 = 2;

impl PageMover for SystemPages {
    fn move_pages(
        &self,
        pages: &[u64],
        nodes: Option<&[i32]>,
        status: &mut [i32],
    ) -> io::Result<usize> {
        if status.len() != pages.len() || nodes.is_some_and(|n| n.len() != pages.len()) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let nodes_ptr = nodes.map_or(std::ptr::null(), <[i32]>::as_ptr);
        // SAFETY: the three arrays hold `pages.len()` entries each (checked above); the
        // kernel reads `pages` and `nodes` and writes `status`. pid 0 is this process, whose
        // own pages the addresses name; unmapped addresses come back as -EFAULT.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_move_pages,
                0,
                pages.len() as libc::c_ulong,
                pages.as_ptr(),
                nodes_ptr,
                status.as_mut_ptr(),
                MPOL_MF_MOVE,
            )
        };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ret as usize)
    }

    fn resident(&self, addr: u64, resident: &mut [u8]) -> io::Result<()> {
        Self::mincore(addr, resident)
    }
}

impl SystemPages {
    fn mincore(addr: u64, resident: &mut [u8]) -> io::Result<()> {
        // SAFETY: mincore writes one byte per page of the range into `resident`, which holds
        // exactly that many; an unmapped range is reported as ENOMEM, not touched.
        let ret = unsafe {
            libc::mincore(
                addr as *mut libc::c_void,
                resident.len() * PAGE as usize,
                resident.as_mut_ptr(),
            )
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_reports_node_of_touched_pages_and_enoent_for_untouched() {
        let len = 4 * 4096;
        // SAFETY: a fresh anonymous mapping, unmapped at the end of the test.
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
        assert_ne!(ptr, libc::MAP_FAILED);
        // SAFETY: the first page lies inside the mapping.
        unsafe { *(ptr as *mut u8) = 1 };
        let base = ptr as u64;
        let pages = [base, base + 4096];
        let mut status = [99; 2];
        assert_eq!(
            SystemPages.move_pages(&pages, None, &mut status).unwrap(),
            0
        );
        assert_eq!(status, [0, -libc::ENOENT]);
        let mut resident = [9u8; 2];
        SystemPages.resident(base, &mut resident).unwrap();
        assert_eq!(resident.map(|r| r & 1), [1, 0]);
        // SAFETY: unmaps the mapping made above.
        unsafe { libc::munmap(ptr, len) };
        let mut status = [99; 1];
        SystemPages.move_pages(&[base], None, &mut status).unwrap();
        assert_eq!(status, [-libc::EFAULT]);
    }

    /// Reports only the first page of each call, like a kernel that gave up after it.
    struct FirstOnly;

    impl PageMover for FirstOnly {
        fn move_pages(
            &self,
            _: &[u64],
            _: Option<&[i32]>,
            status: &mut [i32],
        ) -> io::Result<usize> {
            if let Some(first) = status.first_mut() {
                *first = 1;
            }
            Ok(0)
        }
        fn resident(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
            Ok(())
        }
    }

    /// Never writes a status.
    struct Silent;

    impl PageMover for Silent {
        fn move_pages(&self, _: &[u64], _: Option<&[i32]>, _: &mut [i32]) -> io::Result<usize> {
            Ok(0)
        }
        fn resident(&self, _: u64, _: &mut [u8]) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn unwritten_statuses_are_asked_again_and_never_read_as_a_node() {
        assert_eq!(
            query_statuses(&FirstOnly, &[0x1000, 0x2000, 0x3000]).unwrap(),
            vec![1, 1, 1]
        );
        let err = query_statuses(&Silent, &[0x1000]).unwrap_err();
        assert!(err.to_string().contains("did not report"), "{err}");
        let mut seen = Vec::new();
        let calls = std::cell::Cell::new(0);
        let err = query_each(
            &FirstOnly,
            0x1000,
            3000,
            &|| {
                calls.set(calls.get() + 1);
                calls.get() > 1
            },
            |_, _, s| seen.push(s),
        )
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
        assert_eq!(seen.len(), QUERY_BATCH, "stopped after the first batch");
    }

    #[test]
    fn mismatched_lengths_are_refused() {
        let mut status = [0; 1];
        assert!(SystemPages.move_pages(&[0, 1], None, &mut status).is_err());
    }
}
