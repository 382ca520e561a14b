//! The few system calls the workload needs: anonymous memory, CPU pinning, the boot
//! clock and a stop flag set by SIGTERM/SIGINT.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// An anonymous, private mapping of 64-bit words, unmapped on drop.
#[derive(Debug)]
pub struct Region {
    ptr: *mut u64,
    words: usize,
}

impl Region {
    /// Maps `mib` MiB of anonymous memory (not touched yet).
    pub fn new(mib: usize) -> io::Result<Region> {
        let len = mib
            .checked_mul(1 << 20)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: an anonymous mapping at an address the kernel picks; no existing memory is
        // affected. The result is checked against MAP_FAILED before use.
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
        Ok(Region {
            ptr: ptr.cast(),
            words: len / 8,
        })
    }

    /// The whole region as words. The pointer goes through `black_box` so the compiler
    /// cannot assume the memory still holds what an earlier pass wrote.
    pub fn words(&mut self) -> &mut [u64] {
        let ptr = std::hint::black_box(self.ptr);
        // SAFETY: `ptr` is the start of a live, page-aligned, read-write mapping of
        // `self.words` u64s owned by `self`; the `&mut self` borrow keeps it unique.
        unsafe { std::slice::from_raw_parts_mut(ptr, self.words) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; no slice of it outlives `self`.
        unsafe {
            libc::munmap(self.ptr.cast(), self.words * 8);
        }
    }
}

/// Pins the calling process to one CPU.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: cpu_set_t is plain data; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so CPU_SET stays inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a valid cpu_set_t of the size given; pid 0 is the caller.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Milliseconds since boot (CLOCK_BOOTTIME), comparable with the guest's /proc/uptime.
pub fn uptime_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1000 + (ts.tv_nsec as u64) / 1_000_000
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT set the stop flag instead of killing the process.
pub fn catch_stop_signals() -> io::Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let handler = on_stop_signal as extern "C" fn(libc::c_int);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let previous = unsafe { libc::signal(signal, handler as libc::sighandler_t) };
        if previous == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether SIGTERM or SIGINT has arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
