//! L1's initramfs: a base archive (busybox, /init, the kvm modules, the L2 images, tern
//! and its libraries) built once per process and kept while its inputs are unchanged,
//! followed by a small per-run archive (the script, the spec's files and binaries).
//! Linux unpacks concatenated archives one after the other.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::cpio::CpioWriter;
use crate::error::LabError;
use crate::l1init::{init_script, layout};
use crate::spec::LabSpec;
use crate::{ldd, paths};

/// The busybox that L1 uses (Debian's busybox-static).
const BUSYBOX: &str = "/bin/busybox";

/// An initramfs file for one run; removed on drop.
#[derive(Debug)]
pub struct Initramfs {
    /// The file to give QEMU's -initrd.
    pub path: PathBuf,
    /// Size of the shared base part.
    pub base_bytes: u64,
    /// Size of the per-run part.
    pub run_bytes: u64,
    /// Time spent building and writing it.
    pub build_time: Duration,
}

impl Drop for Initramfs {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

type Stamp = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

#[derive(Debug)]
struct Base {
    stamp: Stamp,
    bytes: Arc<Vec<u8>>,
    libs: BTreeSet<String>,
}

static BASE: Mutex<Option<Base>> = Mutex::new(None);

fn io_err(what: String) -> impl FnOnce(std::io::Error) -> LabError {
    LabError::io(what)
}

fn read(path: &Path) -> Result<Vec<u8>, LabError> {
    fs::read(path).map_err(io_err(format!("read {}", path.display())))
}

/// The base archive's inputs: the tern binaries that exist and every fixed file.
fn base_inputs() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (tern, _) = paths::tern_bin();
    let ternctl = tern.with_file_name("ternctl");
    let binaries: Vec<PathBuf> = [tern, ternctl]
        .into_iter()
        .filter(|p| p.is_file())
        .collect();
    let k = paths::kernel_dir();
    let mut files: Vec<PathBuf> = vec![
        PathBuf::from(BUSYBOX),
        k.join("bzImage"),
        k.join("vmlinux"),
        paths::guest_initramfs(),
    ];
    files.extend(
        paths::KVM_MODULES
            .iter()
            .chain(paths::NET_MODULES.iter())
            .map(|m| k.join("modules").join(m)),
    );
    files.extend(binaries.iter().cloned());
    (binaries, files)
}

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|p| {
            let meta = fs::metadata(p).ok();
            let key = meta.and_then(|m| Some((m.len(), m.modified().ok()?)));
            (p.clone(), key)
        })
        .collect()
}

/// Adds `binary` at /usr/local/bin and the libraries it needs that are not in `libs` yet.
fn add_binary<W: std::io::Write>(
    w: &mut CpioWriter<W>,
    binary: &Path,
    libs: &mut BTreeSet<String>,
) -> Result<(), LabError> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| LabError::Spec(format!("{} names no file", binary.display())))?;
    let write = |e| LabError::io("write the initramfs")(e);
    w.file(&format!("{}/{name}", layout::BIN), 0o755, &read(binary)?)
        .map_err(write)?;
    for lib in ldd::shared_libs(binary)? {
        if libs.insert(lib.l1_path.clone()) {
            w.file(&lib.l1_path, 0o755, &read(&lib.host)?)
                .map_err(write)?;
        }
    }
    Ok(())
}

fn build_base(binaries: &[PathBuf], stamp: Stamp) -> Result<Base, LabError> {
    let write = |e| LabError::io("build the base initramfs")(e);
    let mut w = CpioWriter::new(Vec::with_capacity(96 << 20));
    for dir in [
        "/proc",
        "/sys",
        "/dev",
        "/tmp",
        "/run",
        "/sbin",
        "/usr/bin",
        "/usr/sbin",
        "/lab",
    ] {
        w.dir(dir, 0o755).map_err(write)?;
    }
    w.char_device("/dev/console", 0o600, 5, 1).map_err(write)?;
    w.file("/bin/busybox", 0o755, &read(Path::new(BUSYBOX))?)
        .map_err(write)?;
    w.symlink("/bin/sh", "busybox").map_err(write)?;
    w.file("/init", 0o755, init_script().as_bytes())
        .map_err(write)?;
    let k = paths::kernel_dir();
    for m in paths::KVM_MODULES.iter().chain(paths::NET_MODULES.iter()) {
        let data = read(&k.join("modules").join(m))?;
        w.file(&format!("{}/{m}", layout::MODULES), 0o644, &data)
            .map_err(write)?;
    }
    for (name, host) in [
        ("bzImage", k.join("bzImage")),
        ("vmlinux", k.join("vmlinux")),
        ("guest.cpio", paths::guest_initramfs()),
    ] {
        w.file(&format!("{}/{name}", layout::IMAGES), 0o644, &read(&host)?)
            .map_err(write)?;
    }
    let mut libs = BTreeSet::new();
    for b in binaries {
        add_binary(&mut w, b, &mut libs)?;
    }
    let bytes = w.finish().map_err(write)?;
    Ok(Base {
        stamp,
        bytes: Arc::new(bytes),
        libs,
    })
}

/// The base archive, rebuilt only when an input changed.
fn base(spec: &LabSpec) -> Result<(Arc<Vec<u8>>, BTreeSet<String>), LabError> {
    let (tern, explicit) = paths::tern_bin();
    if !tern.is_file() && (explicit || spec.require_tern) {
        return Err(LabError::Missing {
            path: tern,
            hint: "build it with `cargo build --release` or set TERN_BIN".into(),
        });
    }
    let (binaries, files) = base_inputs();
    let now = stamp(&files);
    let mut cache = BASE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = cache.as_ref().filter(|b| b.stamp == now) {
        return Ok((Arc::clone(&b.bytes), b.libs.clone()));
    }
    if !tern.is_file() {
        eprintln!(
            "lab: note: {} does not exist; L1 will have no tern",
            tern.display()
        );
    }
    let b = build_base(&binaries, now)?;
    let out = (Arc::clone(&b.bytes), b.libs.clone());
    *cache = Some(b);
    Ok(out)
}

/// The per-run archive: the script, the spec's files and binaries.
fn run_archive(spec: &LabSpec, mut libs: BTreeSet<String>) -> Result<Vec<u8>, LabError> {
    let write = |e| LabError::io("build the run initramfs")(e);
    let mut w = CpioWriter::new(Vec::new());
    w.file(layout::SCRIPT, 0o755, spec.script.as_bytes())
        .map_err(write)?;
    for f in &spec.files {
        let data = read(&f.host)?;
        let perm = fs::metadata(&f.host).map(|m| {
            use std::os::unix::fs::PermissionsExt;
            m.permissions().mode() & 0o777
        });
        w.file(&f.l1_path, perm.unwrap_or(0o644), &data)
            .map_err(write)?;
    }
    for b in &spec.binaries {
        add_binary(&mut w, b, &mut libs)?;
    }
    w.finish().map_err(write)
}

/// Builds the initramfs for `spec` in `target/lab-work/`.
pub fn prepare(spec: &LabSpec) -> Result<Initramfs, LabError> {
    let started = Instant::now();
    let (base, libs) = base(spec)?;
    let run = run_archive(spec, libs)?;
    let dir = paths::work_dir();
    fs::create_dir_all(&dir).map_err(io_err(format!("create {}", dir.display())))?;
    let path = dir.join(format!("{}-{}.cpio", spec.name, std::process::id()));
    let written = fs::File::create(&path).and_then(|mut f| {
        f.write_all(&base)?;
        f.write_all(&run)
    });
    written.map_err(io_err(format!("write {}", path.display())))?;
    Ok(Initramfs {
        path,
        base_bytes: base.len() as u64,
        run_bytes: run.len() as u64,
        build_time: started.elapsed(),
    })
}
