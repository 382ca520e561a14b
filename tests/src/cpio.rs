//! Writes cpio archives in the "newc" format (the one Linux unpacks as an initramfs) with the
//! `cpio` crate, adding parent directories on the way; entries are owned by root. Archives
//! may be concatenated: Linux unpacks each in turn over the last.

use std::collections::BTreeSet;
use std::io::{self, Write};

use cpio::newc::{self, ModeFileType};
use cpio::NewcBuilder;

/// Writes one newc archive to `W`. Call [`CpioWriter::finish`] to end it.
#[derive(Debug)]
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    dirs: BTreeSet<String>,
}

/// Normalises an archive path: no leading "/" or "./", no empty components.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn size(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::other("a cpio newc entry is limited to 4 GiB"))
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            next_ino: 1,
            dirs: BTreeSet::new(),
        }
    }

    /// An entry named `path` of `kind` with permission bits `perm` and the next inode number.
    fn entry(&mut self, path: &str, kind: ModeFileType, perm: u32) -> NewcBuilder {
        let ino = self.next_ino;
        self.next_ino += 1;
        NewcBuilder::new(path)
            .ino(ino)
            .mode(perm & 0o7777)
            .set_mode_file_type(kind)
    }

    /// Writes `entry` with `data` as its contents.
    fn put(&mut self, entry: NewcBuilder, data: &[u8]) -> io::Result<()> {
        let mut writer = entry.write(&mut self.out, size(data.len())?);
        writer.write_all(data)?;
        writer.finish().map(|_| ())
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
        let entry = self.entry(path, ModeFileType::Directory, perm).nlink(2);
        self.put(entry, &[])
    }

    /// Adds a directory (and its parents) with permission bits `perm` (e.g. 0o755).
    pub fn dir(&mut self, path: &str, perm: u32) -> io::Result<()> {
        let path = clean(path);
        if path.is_empty() || self.dirs.contains(&path) {
            return Ok(());
        }
        self.parents(&path)?;
        self.dir_entry(&path, perm)
    }

    /// Adds a regular file with contents `data` and permission bits `perm`.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        let path = clean(path);
        self.parents(&path)?;
        let entry = self.entry(&path, ModeFileType::Regular, perm);
        self.put(entry, data)
    }

    /// Adds a symbolic link at `path` pointing to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let path = clean(path);
        self.parents(&path)?;
        let entry = self.entry(&path, ModeFileType::Symlink, 0o777);
        self.put(entry, target.as_bytes())
    }

    /// Adds a character device node (e.g. /dev/console is 5:1).
    pub fn char_device(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        let path = clean(path);
        self.parents(&path)?;
        let entry = self
            .entry(&path, ModeFileType::Char, perm)
            .rdev_major(major)
            .rdev_minor(minor);
        self.put(entry, &[])
    }

    /// Writes the trailer and returns the writer.
    pub fn finish(self) -> io::Result<W> {
        let mut out = newc::trailer(self.out)?;
        out.flush()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// The entries of [`sample`] in archive order, parents added.
    const SAMPLE_NAMES: [&str; 9] = [
        "proc",
        "lib",
        "lib/x86_64-linux-gnu",
        "lib/x86_64-linux-gnu/libc.so.6",
        "init",
        "bin",
        "bin/sh",
        "dev",
        "dev/console",
    ];

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

    /// Every entry of `archive`: name, mode, nlink, ino, rdev and contents.
    type Listed = (String, u32, u32, u32, (u32, u32), Vec<u8>);

    fn entries(archive: &[u8]) -> Vec<Listed> {
        let mut listed = Vec::new();
        let mut rest = archive;
        loop {
            let mut reader = newc::Reader::new(rest).unwrap();
            let e = reader.entry().clone();
            if e.is_trailer() {
                return listed;
            }
            let mut data = Vec::new();
            reader.read_to_end(&mut data).unwrap();
            listed.push((
                e.name().to_string(),
                e.mode(),
                e.nlink(),
                e.ino(),
                (e.rdev_major(), e.rdev_minor()),
                data,
            ));
            rest = reader.finish().unwrap();
        }
    }

    #[test]
    fn parents_come_first_once_each_and_entries_keep_their_kind() {
        let a = sample();
        // Linux needs each archive of a concatenation to start 4-aligned.
        assert_eq!(a.len() % 4, 0);
        let listed = entries(&a);
        let names: Vec<&str> = listed.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, SAMPLE_NAMES);
        let inos: BTreeSet<u32> = listed.iter().map(|e| e.3).collect();
        assert_eq!(inos.len(), listed.len(), "inode numbers are unique");
        let find = |name: &str| listed.iter().find(|e| e.0 == name).unwrap();
        assert_eq!(find("lib").1, 0o040755);
        assert_eq!(find("lib").2, 2);
        let libc = find("lib/x86_64-linux-gnu/libc.so.6");
        assert_eq!(
            (libc.1, libc.2, libc.5.as_slice()),
            (0o100644, 1, &b"hello"[..])
        );
        assert_eq!(find("bin/sh").1, 0o120777);
        assert_eq!(find("bin/sh").5, b"busybox");
        let console = find("dev/console");
        assert_eq!((console.1, console.4), (0o020600, (5, 1)));
    }

    #[test]
    fn header_fields() {
        let mut w = CpioWriter::new(Vec::new());
        w.file("a", 0o644, b"xyz").unwrap();
        let a = w.finish().unwrap();
        let h = std::str::from_utf8(&a[..110]).unwrap();
        assert!(h.starts_with("070701"));
        let field = |i: usize| u32::from_str_radix(&h[6 + 8 * i..14 + 8 * i], 16).unwrap();
        assert_eq!(field(1), 0o100644); // mode
        assert_eq!((field(2), field(3)), (0, 0)); // uid, gid: root
        assert_eq!(field(6), 3); // filesize
        assert_eq!(field(11), 2); // namesize, with the NUL
        assert_eq!(&a[110..112], b"a\0");
        assert_eq!(&a[112..115], b"xyz"); // 110 + 2 is already 4-aligned
        assert!(String::from_utf8_lossy(&a).contains("TRAILER!!!\0"));
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
        assert_eq!(names.lines().collect::<Vec<_>>(), SAMPLE_NAMES);
        let listing = gnu_cpio(&["-t", "-v", "--quiet"], &archive);
        assert!(listing.contains("-rwxr-xr-x"));
        assert!(listing.contains("bin/sh -> busybox"));
        assert!(listing.contains("crw-------"));
        let init = gnu_cpio(&["-i", "--quiet", "--to-stdout", "init"], &archive);
        assert_eq!(init, "#!/bin/sh\necho hi\n");
    }
}
