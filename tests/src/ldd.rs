//! Finding the shared libraries a host binary needs, and where L1's dynamic loader
//! will look for them (the same absolute paths as on the host).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::LabError;

/// One library: the host file to read and the absolute path to give it in L1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLib {
    /// The file on the host (symlinks not resolved; reading follows them).
    pub host: PathBuf,
    /// Where the loader looks for it in L1.
    pub l1_path: String,
}

/// Parses `ldd` output. Lines look like
/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`,
/// `/lib64/ld-linux-x86-64.so.2 (0x...)` and `linux-vdso.so.1 (0x...)` (no file).
pub fn parse_ldd(output: &str) -> Result<Vec<SharedLib>, String> {
    let mut libs = Vec::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") || line.contains("not a dynamic executable") {
            continue;
        }
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let target = rest.trim();
                if target.starts_with("not found") {
                    return Err(format!("library {} not found", name.trim()));
                }
                target.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        if path.starts_with('/') {
            libs.push(SharedLib {
                host: PathBuf::from(path),
                l1_path: path.to_string(),
            });
        }
    }
    Ok(libs)
}

/// The shared libraries `binary` needs (none for a static binary).
pub fn shared_libs(binary: &Path) -> Result<Vec<SharedLib>, LabError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(LabError::io(format!("run ldd {}", binary.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // ldd exits 1 for a static binary, saying so.
    let text = format!("{stdout}\n{stderr}");
    if !out.status.success() && !text.contains("not a dynamic executable") {
        return Err(LabError::Command {
            command: format!("ldd {}", binary.display()),
            detail: format!("{}: {}", out.status, stderr.trim()),
        });
    }
    parse_ldd(&stdout).map_err(|detail| LabError::Command {
        command: format!("ldd {}", binary.display()),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_dynamic_binary() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
            \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        let libs = parse_ldd(text).unwrap();
        let paths: Vec<&str> = libs.iter().map(|l| l.l1_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn static_and_missing() {
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    #[test]
    fn real_ldd_on_a_system_binary() {
        let libs = shared_libs(Path::new("/bin/ls")).unwrap();
        assert!(libs.iter().any(|l| l.l1_path.contains("libc.so.6")));
        assert!(libs.iter().any(|l| l.l1_path.contains("ld-linux")));
        let none = shared_libs(Path::new("/bin/busybox")).unwrap();
        assert!(none.is_empty());
    }
}
