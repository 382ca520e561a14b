//! Who is on the other end of a connection: the uid and pid the kernel recorded when the
//! client connected (SO_PEERCRED).

use std::fmt;

use tokio::net::UnixStream;

/// A client's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Its user id.
    pub uid: u32,
    /// Its process id, when the kernel knows it.
    pub pid: Option<i32>,
}

impl Peer {
    /// The peer of `stream`, or `None` when the kernel will not tell.
    pub fn of(stream: &UnixStream) -> Option<Self> {
        stream.peer_cred().ok().map(|cred| Self {
            uid: cred.uid(),
            pid: cred.pid(),
        })
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "uid={} pid={pid}", self.uid),
            None => write!(f, "uid={} pid=?", self.uid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_pair_peer_is_this_process() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (a, _b) = UnixStream::pair().unwrap();
            let peer = Peer::of(&a).unwrap();
            assert_eq!(peer.pid, Some(std::process::id() as i32));
            // SAFETY: getuid has no preconditions and cannot fail.
            assert_eq!(peer.uid, unsafe { libc::getuid() });
            assert_eq!(
                peer.to_string(),
                format!("uid={} pid={}", peer.uid, std::process::id())
            );
        });
    }
}
