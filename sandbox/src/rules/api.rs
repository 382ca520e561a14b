//! The API's threads. The server: a tokio runtime (epoll, an eventfd to wake it) serving
//! HTTP on the Unix socket tern bound before the thread started; it accepts connections,
//! learns each client's uid and pid (SO_PEERCRED), reads requests, writes answers and shuts
//! connections down; it opens no socket, file or connection of its own. The slow-request
//! worker answers what may take long off the main thread: where pages sit, the host's
//! topology, heat and automatic balancing switched on and off.

use syscalls::Sysno;

use super::base::{read_host_files, spawn_threads};
use super::memory::{locate_vcpus, query_own_pages, toggle_dirty_log};
use super::{ArgCheck, Rules};

/// The API server's own calls.
pub fn api() -> Rules {
    let accept_flags = (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u32;
    Rules::default()
        .allow(&[
            Sysno::epoll_wait,
            Sysno::epoll_pwait,
            Sysno::epoll_ctl,
            Sysno::read,
            Sysno::recvfrom,
            Sysno::sendto,
            Sysno::writev,
            Sysno::shutdown,
            Sysno::close,
        ])
        .allow_if(Sysno::accept4, &[ArgCheck::eq(3, accept_flags)])
        .allow_if(
            Sysno::getsockopt,
            &[
                ArgCheck::eq(1, libc::SOL_SOCKET as u32),
                ArgCheck::eq(2, libc::SO_PEERCRED as u32),
            ],
        )
}

/// The slow-request worker's own calls: placement and metrics (move_pages in query mode,
/// mincore, where vCPUs run), topology (files under /sys), heat (dirty logging on and off,
/// the first log read); it starts the heat sampler and the automatic balancer.
pub fn api_worker() -> Rules {
    query_own_pages()
        .union(&locate_vcpus())
        .union(&toggle_dirty_log())
        .union(&read_host_files())
        .union(&spawn_threads())
}
