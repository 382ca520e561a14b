//! A tap device opened by name through /dev/net/tun (TUNSETIFF): an existing persistent tap
//! is attached to, and a missing one is created when tern may (CAP_NET_ADMIN); a tap tern
//! created goes away when tern exits. Frames carry a 12-byte virtio-net header
//! (IFF_VNET_HDR, TUNSETVNETHDRSZ), so checksum and segmentation offloads pass through, and
//! TUNSETOFFLOAD tells the kernel which offloads the guest can take.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};

use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref, ioctl_with_val};
use vmm_sys_util::ioctl_iow_nr;

/// Length of the virtio-net header on every frame (virtio 1.x: with num_buffers).
pub const VNET_HDR_LEN: usize = 12;
/// Longest interface name Linux takes (IFNAMSIZ less the NUL).
pub const MAX_NAME_LEN: usize = 15;

const TUNTAP: u32 = b'T' as u32;
ioctl_iow_nr!(TUNSETIFF, TUNTAP, 202, libc::c_int);
ioctl_iow_nr!(TUNSETOFFLOAD, TUNTAP, 208, libc::c_uint);
ioctl_iow_nr!(TUNSETVNETHDRSZ, TUNTAP, 216, libc::c_int);

const IFF_TAP: u16 = 0x0002;
const IFF_NO_PI: u16 = 0x1000;
const IFF_VNET_HDR: u16 = 0x4000;

/// TUNSETOFFLOAD bits.
pub const TUN_F_CSUM: u32 = 0x01;
/// TCP segmentation offload, IPv4.
pub const TUN_F_TSO4: u32 = 0x02;
/// TCP segmentation offload, IPv6.
pub const TUN_F_TSO6: u32 = 0x04;

/// struct ifreq with the name and the flags member of its union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: u16,
    _pad: [u8; 22],
}

/// Why a tap could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    /// The name is empty, too long or holds a NUL or '/'.
    #[error("tap name '{0}' is not a valid interface name (1 to 15 characters, no '/')")]
    BadName(String),
    /// /dev/net/tun cannot be opened.
    #[error("cannot open /dev/net/tun for tap {name}: {source} (is the tun module loaded?)")]
    OpenTun {
        /// The tap's name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TUNSETIFF failed: no such tap and no right to create one, or one in use.
    #[error("cannot attach to tap {name}: {source} (create it first for this user, e.g. ip tuntap add {name} mode tap user $USER, or run tern with CAP_NET_ADMIN)")]
    Attach {
        /// The tap's name.
        name: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A setting of the tap failed.
    #[error("cannot set up tap {name}: {what}: {source}")]
    Setup {
        /// The tap's name.
        name: String,
        /// Which setting.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An open tap device, non-blocking.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Attaches to (or creates) the tap `name`.
    pub fn open(name: &str) -> Result<Self, TapError> {
        if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['/', '\0', ' ']) {
            return Err(TapError::BadName(name.to_string()));
        }
        let path = c"/dev/net/tun";
        // SAFETY: opening a constant, NUL-terminated path; the result is checked.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(TapError::OpenTun {
                name: name.to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let file = unsafe { File::from_raw_fd(fd) };
        let mut req = IfReq {
            name: [0; 16],
            flags: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR,
            _pad: [0; 22],
        };
        for (slot, b) in req.name.iter_mut().zip(name.bytes()) {
            *slot = b;
        }
        // SAFETY: TUNSETIFF reads and writes a struct ifreq, which IfReq lays out (40 bytes).
        if unsafe { ioctl_with_mut_ref(&file, TUNSETIFF(), &mut req) } < 0 {
            return Err(TapError::Attach {
                name: name.to_string(),
                source: std::io::Error::last_os_error(),
            });
        }
        let tap = Self {
            file,
            name: name.to_string(),
        };
        let hdr_len = VNET_HDR_LEN as libc::c_int;
        // SAFETY: TUNSETVNETHDRSZ reads one int from the pointer.
        if unsafe { ioctl_with_ref(&tap.file, TUNSETVNETHDRSZ(), &hdr_len) } < 0 {
            return Err(tap.setup_error("vnet header size"));
        }
        Ok(tap)
    }

    fn setup_error(&self, what: &'static str) -> TapError {
        TapError::Setup {
            name: self.name.clone(),
            what,
            source: std::io::Error::last_os_error(),
        }
    }

    /// Tells the kernel which offloads (TUN_F_*) the guest accepts on received frames.
    pub fn set_offload(&self, flags: u32) -> Result<(), TapError> {
        // SAFETY: TUNSETOFFLOAD takes its argument by value.
        if unsafe { ioctl_with_val(&self.file, TUNSETOFFLOAD(), libc::c_ulong::from(flags)) } < 0 {
            return Err(self.setup_error("offloads"));
        }
        Ok(())
    }

    /// A stand-in for a tap in tests: any packet-preserving file (a SOCK_SEQPACKET socket).
    #[cfg(any(test, feature = "fuzzing"))]
    pub fn from_file(file: File, name: &str) -> Self {
        Self {
            file,
            name: name.to_string(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one frame into `iovecs`; Ok(None) when none is waiting.
    pub fn read_frame(&self, iovecs: &[libc::iovec]) -> std::io::Result<Option<usize>> {
        let count = libc::c_int::try_from(iovecs.len()).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: every iovec points into live guest memory of the given length (see
            // GuestBuffers::iovecs); readv writes at most that much.
            let n = unsafe { libc::readv(self.file.as_raw_fd(), iovecs.as_ptr(), count) };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            let err = std::io::Error::last_os_error();
            match err.kind() {
                std::io::ErrorKind::Interrupted => continue,
                std::io::ErrorKind::WouldBlock => return Ok(None),
                _ => return Err(err),
            }
        }
    }

    /// Sends one frame gathered from `iovecs`.
    pub fn write_frame(&self, iovecs: &[libc::iovec]) -> std::io::Result<usize> {
        let count = libc::c_int::try_from(iovecs.len()).unwrap_or(libc::c_int::MAX);
        loop {
            // SAFETY: every iovec points into live guest memory of the given length; writev
            // only reads it.
            let n = unsafe { libc::writev(self.file.as_raw_fd(), iovecs.as_ptr(), count) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

impl AsRawFd for Tap {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
