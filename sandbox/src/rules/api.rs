//! The API server: a tokio runtime (epoll, an eventfd to wake it) serving HTTP on the Unix
//! socket tern bound before the thread started. It accepts connections, reads requests and
//! writes answers; it opens no socket, file or connection of its own.

use syscalls::Sysno;

use super::{ArgCheck, Rules};

/// The API thread's own calls.
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
}
