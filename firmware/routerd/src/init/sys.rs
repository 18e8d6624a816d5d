//! The system calls PID 1 needs, as small safe wrappers over `libc`.
//!
//! This is the only module of the init that uses `unsafe`; each block calls one libc
//! function with arguments that are valid for the duration of the call. Errors come back as
//! `std::io::Error` from `errno`.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

fn cstring(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "nul byte in argument"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mount(source, target, fstype, flags, data)`; `EBUSY` (already mounted) is success.
pub(super) fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let _ = std::fs::create_dir_all(target);
    let (source, target, fstype, data) = (
        cstring(source)?,
        cstring(target)?,
        cstring(fstype)?,
        cstring(data)?,
    );
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the call.
    let ret = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    match check(ret) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(()),
        other => other,
    }
}

/// Loads a kernel module from a file with `finit_module`. `EEXIST` (already loaded or
/// built in) is success.
pub(super) fn finit_module(path: &Path) -> io::Result<()> {
    let file = File::open(path)?;
    let params = cstring("")?;
    // SAFETY: the fd is open for the duration of the call and params is a valid C string.
    let ret =
        unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
    match check(ret as libc::c_int) {
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        other => other,
    }
}

/// Sets the kernel host name.
pub(super) fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe the bytes of `name`.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })
}

/// Reaps every exited child without blocking; returns how many were reaped.
pub(super) fn reap_all() -> usize {
    let mut reaped = 0;
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes only to `status`, a valid local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return reaped;
        }
        reaped += 1;
    }
}

/// Syncs file systems, then powers off (`power_off = true`) or restarts the machine.
/// Only returns if the kernel refuses (not PID 1 or missing privilege).
pub(super) fn reboot(power_off: bool) -> io::Error {
    // SAFETY: sync has no arguments.
    unsafe { libc::sync() };
    let cmd = if power_off {
        libc::RB_POWER_OFF
    } else {
        libc::RB_AUTOBOOT
    };
    // SAFETY: reboot takes a plain command constant.
    let ret = unsafe { libc::reboot(cmd) };
    if ret < 0 {
        io::Error::last_os_error()
    } else {
        io::Error::other("reboot returned")
    }
}

/// Makes Ctrl-Alt-Del send SIGINT to PID 1 instead of rebooting at once.
pub(super) fn ctrl_alt_del_to_signal() -> io::Result<()> {
    // SAFETY: reboot with CAD_OFF only changes a kernel flag.
    check(unsafe { libc::reboot(libc::RB_DISABLE_CAD) })
}

/// Blocks SIGTERM, SIGINT and SIGCHLD in this thread (and threads spawned after) and
/// returns the set, for [`wait_signal`].
pub(super) fn block_signals() -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for all calls below.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGCHLD);
    }
    // SAFETY: `set` is initialised; the old mask is not needed.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if ret != 0 {
        return Err(io::Error::from_raw_os_error(ret));
    }
    Ok(set)
}

/// Waits up to `timeout_ms` for one of the blocked signals; returns its number, or `None`
/// on timeout.
pub(super) fn wait_signal(set: &libc::sigset_t, timeout_ms: u64) -> Option<i32> {
    // SAFETY: timespec is plain data; both fields are set below.
    let mut timeout: libc::timespec = unsafe { std::mem::zeroed() };
    timeout.tv_sec = (timeout_ms / 1000).try_into().unwrap_or(i32::MAX.into());
    timeout.tv_nsec = ((timeout_ms % 1000) * 1_000_000).try_into().unwrap_or(0);
    // SAFETY: `set` and `timeout` are valid for the call; the info pointer may be null.
    let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
    (sig > 0).then_some(sig)
}

/// Unblocks the signals in `set` for the calling thread.
pub(super) fn unblock_signals(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `set` is an initialised sigset_t.
    let ret = unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, set, std::ptr::null_mut()) };
    if ret != 0 {
        Err(io::Error::from_raw_os_error(ret))
    } else {
        Ok(())
    }
}

/// Sends SIGTERM to PID 1 (this process when running as init).
pub(super) fn terminate_init() -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    check(unsafe { libc::kill(1, libc::SIGTERM) })
}
