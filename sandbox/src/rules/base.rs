//! Calls shared by several kinds of threads: what any Rust thread on glibc needs, starting a
//! thread, and reading the host's files under /proc and /sys.

use syscalls::Sysno;

use super::{ArgCheck, Context, Rules};

/// Futex operations without their private and clock flags: wait, wake, wait and wake with a
/// bitset (what glibc's and Rust's locks, condition variables and joins use; no requeue, no
/// priority inheritance).
const FUTEX_OPS: [u32; 4] = [
    libc::FUTEX_WAIT as u32,
    libc::FUTEX_WAKE as u32,
    libc::FUTEX_WAIT_BITSET as u32,
    libc::FUTEX_WAKE_BITSET as u32,
];
const FUTEX_FLAGS: u32 = (libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u32;

/// What every thread may call: locks (futex), memory for the allocator (never executable),
/// signal masks and returns, stderr (and eventfds) through write(2), the clock, random
/// bytes for hash maps, and its own end, or the process's through abort(3) (SIGABRT to
/// itself, so a failed allocation or a panic still ends as an abort). The SIGSYS report
/// needs write, exit_group and the terminal's settings on stdin (TCSETS).
pub fn every_thread(ctx: &Context) -> Rules {
    let mut rules = Rules::default().allow(&[
        Sysno::write,
        Sysno::munmap,
        Sysno::brk,
        Sysno::mremap,
        Sysno::rt_sigprocmask,
        Sysno::rt_sigreturn,
        Sysno::sigaltstack,
        Sysno::restart_syscall,
        Sysno::exit,
        Sysno::exit_group,
        Sysno::clock_gettime,
        Sysno::sched_yield,
        Sysno::getrandom,
        Sysno::gettid,
        Sysno::getpid,
    ]);
    for op in FUTEX_OPS {
        rules = rules.allow_if(
            Sysno::futex,
            &[ArgCheck {
                index: 1,
                mask: !FUTEX_FLAGS,
                value: op,
            }],
        );
    }
    let no_exec = ArgCheck::none_of(2, libc::PROT_EXEC as u32);
    rules
        .allow_if(
            Sysno::tgkill,
            &[
                ArgCheck::eq(0, ctx.pid as u32),
                ArgCheck::eq(2, libc::SIGABRT as u32),
            ],
        )
        .allow_if(
            Sysno::ioctl,
            &[
                ArgCheck::eq(0, libc::STDIN_FILENO as u32),
                ArgCheck::eq(1, libc::TCSETS as u32),
            ],
        )
        .allow_if(Sysno::mmap, &[no_exec])
        .allow_if(Sysno::mprotect, &[no_exec])
        .allow_if(
            Sysno::madvise,
            &[ArgCheck::eq(2, libc::MADV_DONTNEED as u32)],
        )
}

/// Starting threads: clone for threads only (sharing memory, files and signal handlers:
/// never a new process; clone3, whose flags a filter cannot see, is answered ENOSYS by a
/// filter of its own so glibc falls back to clone), what a new thread calls before it
/// installs its own filter (robust futex list, rseq, affinity, name), and installing that
/// filter.
pub fn spawn_threads() -> Rules {
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM) as u32;
    Rules::default()
        .allow(&[
            Sysno::clone3,
            Sysno::set_robust_list,
            Sysno::rseq,
            Sysno::sched_getaffinity,
        ])
        .allow_if(Sysno::clone, &[ArgCheck::all_of(0, thread)])
        .allow_if(Sysno::prctl, &[ArgCheck::eq(0, libc::PR_SET_NAME as u32)])
        .allow_if(
            Sysno::prctl,
            &[
                ArgCheck::eq(0, libc::PR_SET_NO_NEW_PRIVS as u32),
                ArgCheck::eq(1, 1),
            ],
        )
        .allow_if(
            Sysno::seccomp,
            &[
                ArgCheck::eq(0, libc::SECCOMP_SET_MODE_FILTER),
                ArgCheck::eq(1, 0),
            ],
        )
}

/// Reading files (never opening one for writing or creating one): the host's topology under
/// /sys, threads' state under /proc.
pub fn read_host_files() -> Rules {
    let write_bits = (libc::O_ACCMODE | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u32;
    Rules::default()
        .allow(&[
            Sysno::read,
            Sysno::close,
            Sysno::statx,
            Sysno::newfstatat,
            Sysno::fstat,
            Sysno::lseek,
            Sysno::getdents64,
        ])
        .allow_if(Sysno::openat, &[ArgCheck::none_of(2, write_bits)])
}
