//! Where the lab finds its inputs (resources/cache, the tern binary) and puts its
//! outputs (target/lab-logs, target/lab-work), and making the inputs if missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::LabError;

/// The workspace root (the directory above this crate).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// `resources/` in the workspace.
pub fn resources_dir() -> PathBuf {
    workspace_root().join("resources")
}

/// `resources/cache/kernel/`, made by `resources/fetch-kernel.sh`.
pub fn kernel_dir() -> PathBuf {
    resources_dir().join("cache/kernel")
}

/// `resources/cache/guest.cpio`, made by `resources/build-guest-initramfs.sh`.
pub fn guest_initramfs() -> PathBuf {
    resources_dir().join("cache/guest.cpio")
}

/// Cargo's target directory (CARGO_TARGET_DIR, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Where each run's console is kept: `target/lab-logs/`.
pub fn log_dir() -> PathBuf {
    target_dir().join("lab-logs")
}

/// Scratch space for initramfs files: `target/lab-work/`.
pub fn work_dir() -> PathBuf {
    target_dir().join("lab-work")
}

/// The lab's QEMU, built by `resources/build-lab-qemu.sh` (Debian's source with the
/// lab's patches): `resources/cache/qemu/qemu-system-x86_64`.
pub fn lab_qemu() -> PathBuf {
    resources_dir().join("cache/qemu/qemu-system-x86_64")
}

/// The tern binary: `$TERN_BIN`, else `target/release/tern`. The flag tells whether
/// TERN_BIN named it (then it must exist).
pub fn tern_bin() -> (PathBuf, bool) {
    match std::env::var_os("TERN_BIN") {
        Some(p) => (PathBuf::from(p), true),
        None => (target_dir().join("release/tern"), false),
    }
}

/// The L1 kernel modules, in the order they must be inserted.
pub const KVM_MODULES: [&str; 3] = ["irqbypass.ko", "kvm.ko", "kvm-amd.ko"];

/// L1's tun module, for the taps of virtio-net guests (inserted after the kvm modules).
pub const NET_MODULES: [&str; 1] = ["tun.ko"];

fn kernel_complete() -> bool {
    let k = kernel_dir();
    ["VERSION", "bzImage", "vmlinux", "guest-modules/ORDER"]
        .iter()
        .map(|f| k.join(f))
        .chain(KVM_MODULES.iter().map(|m| k.join("modules").join(m)))
        .chain(NET_MODULES.iter().map(|m| k.join("modules").join(m)))
        .all(|p| p.is_file())
}

/// The L2 guests' ext4 root disk (resources/build-disk-image.sh), built if it is missing.
pub fn rootfs_image() -> Result<PathBuf, LabError> {
    let image = resources_dir().join("cache/rootfs.ext4");
    if !image.is_file() {
        ensure_resources()?;
        run_script("build-disk-image.sh")?;
    }
    Ok(image)
}

fn run_script(name: &str) -> Result<(), LabError> {
    let script = resources_dir().join(name);
    eprintln!("lab: running {}", script.display());
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .map_err(LabError::io(format!("run {}", script.display())))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(LabError::Command {
        command: script.display().to_string(),
        detail: format!("{}: {}", out.status, stderr.trim()),
    })
}

/// Makes the kernel, the guest initramfs and the lab's QEMU if they are missing, by running
/// `resources/fetch-kernel.sh`, `resources/build-guest-initramfs.sh` and
/// `resources/build-lab-qemu.sh` (not when `$TERN_QEMU` names another QEMU).
pub fn ensure_resources() -> Result<(), LabError> {
    if !kernel_complete() {
        run_script("fetch-kernel.sh")?;
    }
    if !guest_initramfs().is_file() {
        run_script("build-guest-initramfs.sh")?;
    }
    if std::env::var_os("TERN_QEMU").is_none() && !lab_qemu().is_file() {
        run_script("build-lab-qemu.sh")?;
    }
    Ok(())
}
