//! The API's Unix socket: created with mode 0600; a stale socket file (nobody listening) is
//! replaced, a live one (another tern listening) is an error, and any other file is left alone.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why the socket could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// Another process listens on it.
    #[error("another process (another tern?) is already listening on {0}")]
    InUse(PathBuf),
    /// The path is something other than a socket.
    #[error("{0} exists and is not a socket; remove it or choose another --api-sock")]
    NotASocket(PathBuf),
    /// A system call failed.
    #[error("cannot create the API socket {0}: {1}")]
    Io(PathBuf, #[source] io::Error),
}

fn clear_stale(path: &Path) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SocketError::Io(path.to_path_buf(), e)),
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket(path.to_path_buf()));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(SocketError::InUse(path.to_path_buf())),
        Err(_) => std::fs::remove_file(path).map_err(|e| SocketError::Io(path.to_path_buf(), e)),
    }
}

/// Binds a listening socket at `path`, readable and writable by its owner only.
pub fn bind_api_socket(path: &Path) -> Result<UnixListener, SocketError> {
    clear_stale(path)?;
    // SAFETY: umask only swaps the process's file-creation mask; it is restored right after.
    // Tern binds the socket before starting any other thread, so no other file is created
    // under the narrowed mask.
    let old = unsafe { libc::umask(0o177) };
    let listener = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = listener.map_err(|e| SocketError::Io(path.to_path_buf(), e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| SocketError::Io(path.to_path_buf(), e))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tern-api-socket-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("api.sock")
    }

    #[test]
    fn socket_is_private_and_a_live_one_is_refused() {
        let path = temp_path("live");
        let listener = bind_api_socket(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(matches!(bind_api_socket(&path), Err(SocketError::InUse(_))));
        drop(listener);
        // The file is left behind by the dropped listener: stale now, so it is replaced.
        let _again = bind_api_socket(&path).unwrap();
    }

    #[test]
    fn other_files_are_left_alone() {
        let path = temp_path("file");
        std::fs::write(&path, b"precious").unwrap();
        assert!(matches!(
            bind_api_socket(&path),
            Err(SocketError::NotASocket(_))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }
}
