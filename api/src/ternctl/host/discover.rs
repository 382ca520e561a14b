//! The API sockets in a directory: every Unix socket there (symbolic links followed), by file
//! name. Whether a Tern listens on one is for the survey to find out.

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

/// The default directory: where an operator or an orchestrator puts its VMs' sockets.
pub const DEFAULT_DIR: &str = "/run/tern";

/// The directory cannot be listed.
#[derive(Debug, thiserror::Error)]
#[error("cannot list the API sockets in {}: {source}", dir.display())]
pub struct DiscoverError {
    /// The directory.
    pub dir: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The Unix sockets in `dir`, sorted by file name; other files are left out.
pub fn sockets_in(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let entries = std::fs::read_dir(dir).map_err(|source| DiscoverError {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut sockets: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            std::fs::metadata(path)
                .map(|m| m.file_type().is_socket())
                .unwrap_or(false)
        })
        .collect();
    sockets.sort();
    Ok(sockets)
}

/// The name a VM goes by when it does not say: its socket's file name without extension.
pub fn name_from_socket(socket: &Path) -> String {
    socket
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| socket.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use vmm_sys_util::tempdir::TempDir;

    #[test]
    fn only_sockets_count_in_name_order() {
        let dir = TempDir::new_with_prefix("/tmp/ternctl-discover-").unwrap();
        let d = dir.as_path();
        let _b = UnixListener::bind(d.join("b.sock")).unwrap();
        let _a = UnixListener::bind(d.join("a.sock")).unwrap();
        std::fs::write(d.join("notes.txt"), "x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(d.join("a.sock"), d.join("c.sock")).unwrap();
        std::os::unix::fs::symlink(d.join("gone"), d.join("dangling.sock")).unwrap();
        let found = sockets_in(d).unwrap();
        let names: Vec<String> = found.iter().map(|p| name_from_socket(p)).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let err = sockets_in(&d.join("absent")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot list the API sockets in "),
            "{err}"
        );
    }
}
