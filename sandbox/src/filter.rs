//! The filters compiled to BPF, and installing them on a thread.

use std::collections::BTreeMap;

use seccompiler::{apply_filter, BpfProgram, SeccompAction, SeccompFilter, TargetArch};
use syscalls::Sysno;

use crate::kind::FilterKind;
use crate::mode::Mode;
use crate::rules::{rules, Context};
use crate::SandboxError;

/// Every thread kind's program, and the one that answers clone3 with ENOSYS.
#[derive(Debug)]
pub struct Programs {
    by_kind: BTreeMap<FilterKind, BpfProgram>,
    no_clone3: BpfProgram,
}

fn arch() -> Result<TargetArch, SandboxError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SandboxError::Build(e.to_string()))
}

fn compile(
    rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, SandboxError> {
    SeccompFilter::new(rules, mismatch, matched, arch()?)
        .and_then(BpfProgram::try_from)
        .map_err(|e| SandboxError::Build(e.to_string()))
}

/// Compiles every filter for `mode` (not [`Mode::Off`]).
pub fn build(mode: Mode, ctx: &Context) -> Result<Programs, SandboxError> {
    let mismatch = match mode {
        Mode::Log => SeccompAction::Log,
        Mode::Kill | Mode::Off => SeccompAction::Trap,
    };
    build_with(mismatch, ctx)
}

/// Compiles every filter with `mismatch` as what a forbidden call gets.
fn build_with(mismatch: SeccompAction, ctx: &Context) -> Result<Programs, SandboxError> {
    let mut by_kind = BTreeMap::new();
    for kind in FilterKind::ALL {
        let map = rules(kind, ctx)
            .to_seccompiler()
            .map_err(|e| SandboxError::Build(e.to_string()))?;
        by_kind.insert(kind, compile(map, mismatch.clone(), SeccompAction::Allow)?);
    }
    // A filter sees clone3's flags only as a pointer, so clone3 gets ENOSYS (from this
    // filter, for threads whose main filter allows it) and glibc falls back to clone, whose
    // flags the main filter checks.
    let no_clone3 = compile(
        BTreeMap::from([(i64::from(Sysno::clone3.id()), Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok(Programs { by_kind, no_clone3 })
}

impl Programs {
    /// Installs `kind`'s filters on the calling thread (and on the threads it starts).
    pub fn install(&self, kind: FilterKind) -> Result<(), SandboxError> {
        let program = self
            .by_kind
            .get(&kind)
            .ok_or_else(|| SandboxError::Build(format!("no filter for {}", kind.name())))?;
        apply_filter(&self.no_clone3).map_err(|e| SandboxError::Install(e.to_string()))?;
        apply_filter(program).map_err(|e| SandboxError::Install(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs() -> Programs {
        let ctx = Context {
            // SAFETY: getpid has no preconditions.
            pid: unsafe { libc::getpid() },
            kick_signal: libc::SIGRTMIN(),
        };
        build_with(SeccompAction::Errno(libc::EPERM as u32), &ctx).unwrap()
    }

    /// Runs `check` on a new thread under `kind`'s filters (a forbidden call fails with
    /// EPERM there instead of stopping the test).
    fn under_filter(kind: FilterKind, check: impl FnOnce() + Send + 'static) {
        let programs = programs();
        std::thread::spawn(move || {
            programs.install(kind).unwrap();
            check();
        })
        .join()
        .unwrap();
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    #[test]
    fn every_program_fits_the_kernels_limit() {
        let programs = programs();
        for kind in FilterKind::ALL {
            let len = programs.by_kind[&kind].len();
            assert!(len > 0 && len < 4096, "{}: {len} instructions", kind.name());
        }
    }

    #[test]
    fn a_vcpu_thread_may_not_open_sockets_or_map_code_or_touch_the_terminal() {
        // SAFETY: each call gets valid pointers or none; the one mapping made is unmapped.
        under_filter(FilterKind::Vcpu, || unsafe {
            assert_eq!(libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0), -1);
            assert_eq!(errno(), libc::EPERM);
            let exec = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_eq!(exec, libc::MAP_FAILED);
            let data = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(data, libc::MAP_FAILED);
            assert_eq!(libc::mprotect(data, 4096, libc::PROT_EXEC), -1);
            assert_eq!(libc::munmap(data, 4096), 0);
            let mut termios = std::mem::zeroed::<libc::termios>();
            assert_eq!(libc::ioctl(0, libc::TCGETS, &mut termios), -1);
            assert_eq!(errno(), libc::EPERM);
            let path = c"/proc/self/status";
            assert_eq!(libc::open(path.as_ptr(), libc::O_RDONLY), -1);
        });
    }

    #[test]
    fn the_main_thread_may_start_threads_but_not_processes() {
        under_filter(FilterKind::Main, || {
            let worker = std::thread::Builder::new()
                .name("worker".into())
                .spawn(|| 7)
                .unwrap();
            assert_eq!(worker.join().unwrap(), 7);
            // SAFETY: fork's child exits at once.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: a forked child (should one exist) ends at once.
                unsafe { libc::_exit(0) };
            }
            assert_eq!(pid, -1);
            assert_eq!(errno(), libc::EPERM);
        });
    }

    #[test]
    fn only_ones_own_pages_may_be_moved_and_files_only_read() {
        // SAFETY: move_pages of no pages touches nothing; the descriptor opened is closed.
        under_filter(FilterKind::Balancer, || unsafe {
            let rc = libc::syscall(libc::SYS_move_pages, 1, 0, 0, 0, 0, 0);
            assert_eq!((rc, errno()), (-1, libc::EPERM));
            let rc = libc::syscall(libc::SYS_move_pages, 0, 0, 0, 0, 0, 0);
            assert_eq!(rc, 0);
            let path = c"/proc/self/status";
            let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            assert!(fd >= 0);
            libc::close(fd);
            assert_eq!(libc::open(path.as_ptr(), libc::O_RDWR), -1);
            assert_eq!(errno(), libc::EPERM);
        });
    }
}
