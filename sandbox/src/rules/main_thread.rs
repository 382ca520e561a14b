//! The main thread once the VM runs: the event loop (epoll; console input and the API's
//! requests through eventfds), the answers to the API's quick requests (vCPUs and their
//! affinity, pause and resume, rebalances), and the shutdown (which stops heat sampling and
//! joins every thread).

use syscalls::Sysno;

use super::base::{read_host_files, spawn_threads};
use super::memory::{query_own_pages, toggle_dirty_log};
use super::{ArgCheck, Context, Rules};

/// The main thread's own calls.
pub fn main(ctx: &Context) -> Rules {
    Rules::default()
        .allow(&[
            Sysno::epoll_wait,
            Sysno::epoll_pwait,
            Sysno::epoll_ctl,
            // Where vCPUs may run (GET /v1/vcpus).
            Sysno::sched_getaffinity,
            // PUT /v1/vcpus/N/affinity.
            Sysno::sched_setaffinity,
            // Waiting for the API thread at shutdown.
            Sysno::clock_nanosleep,
            // Removing the API socket at shutdown.
            Sysno::unlink,
        ])
        // Restoring the terminal at exit: tcsetattr sets (TCSETS, which every thread may) and
        // reads the settings back.
        .allow_if(
            Sysno::ioctl,
            &[
                ArgCheck::eq(0, libc::STDIN_FILENO as u32),
                ArgCheck::eq(1, libc::TCGETS as u32),
            ],
        )
        // Kicking its own vCPU threads out of KVM_RUN, with the kick signal only.
        .allow_if(
            Sysno::tgkill,
            &[
                ArgCheck::eq(0, ctx.pid as u32),
                ArgCheck::eq(2, ctx.kick_signal as u32),
            ],
        )
        // Where pages are (the placement report at exit).
        .union(&query_own_pages())
        // The shutdown turns dirty logging off if heat sampling ran.
        .union(&toggle_dirty_log())
        // Console input, eventfds, and where vCPUs last ran (GET /v1/vcpus, /proc).
        .union(&read_host_files())
        .union(&spawn_threads())
}
