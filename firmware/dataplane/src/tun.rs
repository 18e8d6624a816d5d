//! TUN devices: open `/dev/net/tun` and attach it to a named layer-3 interface.
//!
//! This is the crate's only `unsafe`: one `TUNSETIFF` ioctl on a descriptor we own, and
//! registering owned descriptors with tokio ([`register_socket`] serves the raw socket).
//! The device lives as long as the returned [`Tun`] (it is not persistent): dropping it
//! removes the interface and the kernel routes through it.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use tokio::io::unix::AsyncFd;

/// `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` as `TUNSETIFF` reads and writes it: the name and the flags; the rest of
/// the 40-byte union is padding.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A non-blocking TUN device (IPv4/IPv6 packets, no packet-information header).
#[derive(Debug)]
pub struct Tun {
    fd: AsyncFd<File>,
    name: String,
}

impl Tun {
    /// Creates (or attaches to) the TUN interface `name` and registers it with the
    /// current tokio runtime. The interface starts down without addresses.
    pub fn open(name: &str) -> io::Result<Tun> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', '\0', ' ']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad interface name",
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: IFF_TUN | IFF_NO_PI,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: `file` is an open descriptor we own for the whole call; `req` is a
        // properly sized and aligned `struct ifreq` (name + flags + padding to 40 bytes)
        // that lives across the call, which is all TUNSETIFF reads and writes.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = req
            .name
            .iter()
            .position(|b| *b == 0)
            .unwrap_or(req.name.len());
        let name = String::from_utf8_lossy(&req.name[..len]).into_owned();
        // SAFETY: `File` owns its descriptor: it stays open and the same until the
        // `AsyncFd` (which owns the `File`) is dropped or unwrapped.
        let fd = unsafe { AsyncFd::register(file) }.map_err(io::Error::from)?;
        Ok(Tun { fd, name })
    }

    /// The interface name the kernel gave the device.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for at least one packet, then reads packets into `buf` and hands each to
    /// `each` until none is left (one wakeup drains the queue).
    pub async fn read_batch(&self, buf: &mut [u8], mut each: impl FnMut(&[u8])) -> io::Result<()> {
        let mut guard = self.fd.readable().await?;
        loop {
            match guard.try_io(|f| f.get_ref().read(buf)) {
                Ok(Ok(n)) => each(&buf[..n]),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => return Ok(()),
            }
        }
    }

    /// Writes one packet without waiting; a full device queue drops it (returns
    /// `WouldBlock`), as a congested interface would.
    pub fn try_write(&self, packet: &[u8]) -> io::Result<usize> {
        self.fd.get_ref().write(packet)
    }
}

/// Registers an owned socket with the current tokio runtime.
pub(crate) fn register_socket(socket: socket2::Socket) -> io::Result<AsyncFd<socket2::Socket>> {
    // SAFETY: `socket2::Socket` owns its descriptor: it stays open and the same until the
    // `AsyncFd` (which owns the socket) is dropped or unwrapped.
    unsafe { AsyncFd::register(socket) }.map_err(io::Error::from)
}
