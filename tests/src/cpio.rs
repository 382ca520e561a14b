//! A writer for cpio archives in the "newc" format (the one Linux unpacks as an
//! initramfs). Parent directories are added automatically; entries are owned by root.
//! Archives may be concatenated: Linux unpacks each in turn over the last.

use std::collections::BTreeSet;
use std::io::{self, Write};

const MAGIC: &str = "070701";
const TRAILER: &str = "TRAILER!!!";
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Writes one newc archive to `W`. Call [`CpioWriter::finish`] to end it.
#[derive(Debug)]
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

struct Header<'a> {
    name: &'a str,
    mode: u32,
    nlink: u32,
    size: u32,
    rdev: (u32, u32),
}

/// Normalises an archive path: no leading "/" or "./", no empty components.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
            dirs: BTreeSet::new(),
        }
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, align: u64) -> io::Result<()> {
        let pad = (align - self.written % align) % align;
        self.put(&vec![0u8; pad as usize])
    }

    fn header(&mut self, h: Header<'_>) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let namesize = h.name.len() + 1;
        let fields = [
            ino,
            h.mode,
            0,
            0,
            h.nlink,
            0,
            h.size,
            0,
            0,
            h.rdev.0,
            h.rdev.1,
            namesize as u32,
            0,
        ];
        let mut text = String::with_capacity(110 + namesize);
        text.push_str(MAGIC);
        for f in fields {
            text.push_str(&format!("{f:08x}"));
        }
        text.push_str(h.name);
        text.push('\0');
        self.put(text.as_bytes())?;
        self.pad_to(4)
    }

    /// Adds the missing parents of `path` (already cleaned).
    fn parents(&mut self, path: &str) -> io::Result<()> {
        let mut prefix = String::new();
        let components: Vec<&str> = path.split('/').collect();
        for c in &components[..components.len().saturating_sub(1)] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if !self.dirs.contains(&prefix) {
                let dir = prefix.clone();
                self.dir_entry(&dir, 0o755)?;
            }
        }
        Ok(())
    }

    fn dir_entry(&mut self, path: &str, perm: u32) -> io::Result<()> {
        self.dirs.insert(path.to_string());
        self.header(Header {
            name: path,
            mode: S_IFDIR | perm,
            nlink: 2,
            size: 0,
            rdev: (0, 0),
        })
    }

    fn too_big(len: usize) -> io::Result<u32> {
        u32::try_from(len).map_err(|_| io::Error::other("a cpio newc entry is limited to 4 GiB"))
    }

    /// Adds a directory (and its parents) with permission bits `perm` (e.g. 0o755).
    pub fn dir(&mut self, path: &str, perm: u32) -> io::Result<()> {
        let path = clean(path);
        if path.is_empty() || self.dirs.contains(&path) {
            return Ok(());
        }
        self.parents(&path)?;
        self.dir_entry(&path, perm & 0o7777)
    }

    /// Adds a regular file with contents `data` and permission bits `perm`.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        let path = clean(path);
        self.parents(&path)?;
        let size = Self::too_big(data.len())?;
        self.header(Header {
            name: &path,
            mode: S_IFREG | (perm & 0o7777),
            nlink: 1,
            size,
            rdev: (0, 0),
        })?;
        self.put(data)?;
        self.pad_to(4)
    }

    /// Adds a symbolic link at `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let path = clean(path);
        self.parents(&path)?;
        let size = Self::too_big(target.len())?;
        self.header(Header {
            name: &path,
            mode: S_IFLNK | 0o777,
            nlink: 1,
            size,
            rdev: (0, 0),
        })?;
        self.put(target.as_bytes())?;
        self.pad_to(4)
    }

    /// Adds a character device node (e.g. /dev/console is 5:1).
    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        let path = clean(path);
        self.parents(&path)?;
        self.header(Header {
            name: &path,
            mode: S_IFCHR | (perm & 0o7777),
            nlink: 1,
            size: 0,
            rdev: (major, minor),
        })
    }

    /// Writes the trailer, pads the archive to 512 bytes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.header(Header {
            name: TRAILER,
            mode: 0,
            nlink: 1,
            size: 0,
            rdev: (0, 0),
        })?;
        self.pad_to(512)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    fn sample() -> Vec<u8> {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/proc", 0o755).unwrap();
        w.file("/lib/x86_64-linux-gnu/libc.so.6", 0o644, b"hello")
            .unwrap();
        w.file("init", 0o755, b"#!/bin/sh\necho hi\n").unwrap();
        w.symlink("/bin/sh", "busybox").unwrap();
        w.char_device("/dev/console", 0o600, 5, 1).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn layout_is_aligned_and_ends_with_trailer() {
        let a = sample();
        assert_eq!(a.len() % 512, 0);
        assert!(a.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("TRAILER!!!\0"));
        // Parents come before children, once each.
        let lib = text.find("lib\0").unwrap();
        let gnu = text.find("lib/x86_64-linux-gnu\0").unwrap();
        let libc = text.find("lib/x86_64-linux-gnu/libc.so.6\0").unwrap();
        assert!(lib < gnu && gnu < libc);
        assert_eq!(text.matches("lib/x86_64-linux-gnu\0").count(), 1);
    }

    #[test]
    fn header_fields() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("a", 0o644, b"xyz").unwrap();
        let a = w.finish().unwrap();
        let h = std::str::from_utf8(&a[..110]).unwrap();
        let field = |i: usize| u32::from_str_radix(&h[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(1), 0o100644); // mode
        assert_eq!(field(6), 3); // filesize
        assert_eq!(field(11), 2); // namesize, with the NUL
        assert_eq!(&a[110..112], b"a\0");
        assert_eq!(&a[112..115], b"xyz"); // 110 + 2 is already 4-aligned
    }

    /// Runs GNU cpio with `args` over `archive` and returns its stdout.
    fn gnu_cpio(args: &[&str], archive: &[u8]) -> String {
        let mut child = Command::new("cpio")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(archive).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn gnu_cpio_reads_it() {
        if Command::new("cpio").arg("--version").output().is_err() {
            eprintln!("cpio is not installed; skipping");
            return;
        }
        let archive = sample();
        let names = gnu_cpio(&["-t", "--quiet"], &archive);
        assert_eq!(
            names.lines().collect::<Vec<_>>(),
            [
                "proc",
                "lib",
                "lib/x86_64-linux-gnu",
                "lib/x86_64-linux-gnu/libc.so.6",
                "init",
                "bin",
                "bin/sh",
                "dev",
                "dev/console"
            ]
        );
        let listing = gnu_cpio(&["-t", "-v", "--quiet"], &archive);
        assert!(listing.contains("-rwxr-xr-x"));
        assert!(listing.contains("bin/sh -> busybox"));
        assert!(listing.contains("crw-------"));
        let init = gnu_cpio(&["-i", "--quiet", "--to-stdout", "init"], &archive);
        assert_eq!(init, "#!/bin/sh\necho hi\n");
    }
}
