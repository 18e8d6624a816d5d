//! The few `/proc/sys` switches a router sets: forwarding and reverse-path filtering.
//!
//! Each reads or writes one file of the calling thread's network namespace; an I/O error
//! becomes [`KernelError::Refused`] with its errno.

use crate::KernelError;

/// Reverse-path filter modes (`net.ipv4.conf.<if>.rp_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpFilter {
    /// No source validation.
    Off = 0,
    /// Strict: the reverse route must use the same interface.
    Strict = 1,
    /// Loose: any reverse route will do (what tunnels with asymmetric paths need).
    Loose = 2,
}

fn write(path: &str, value: &str, op: &'static str) -> Result<(), KernelError> {
    std::fs::write(path, value).map_err(|e| KernelError::Refused {
        op,
        errno: e.raw_os_error().unwrap_or(libc::EIO),
    })
}

fn read(path: &str, op: &'static str) -> Result<String, KernelError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| KernelError::Refused {
            op,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        })
}

fn check_name(interface: &str) -> Result<(), KernelError> {
    let valid = !interface.is_empty()
        && interface.len() < 16
        && !interface.contains(['/', '\0'])
        && interface != "."
        && interface != "..";
    if valid {
        Ok(())
    } else {
        Err(KernelError::Invalid {
            reason: format!("bad interface name {interface:?}"),
        })
    }
}

/// Turns IPv4 forwarding on or off (`net.ipv4.ip_forward`).
pub fn set_ip_forward(on: bool) -> Result<(), KernelError> {
    write(
        "/proc/sys/net/ipv4/ip_forward",
        if on { "1" } else { "0" },
        "set ip_forward",
    )
}

/// Whether IPv4 forwarding is on.
pub fn ip_forward() -> Result<bool, KernelError> {
    Ok(read("/proc/sys/net/ipv4/ip_forward", "read ip_forward")? == "1")
}

/// Sets `rp_filter` for one interface (or `all`/`default`). The kernel uses the maximum
/// of `all` and the interface's value.
pub fn set_rp_filter(interface: &str, mode: RpFilter) -> Result<(), KernelError> {
    check_name(interface)?;
    let path = format!("/proc/sys/net/ipv4/conf/{interface}/rp_filter");
    write(&path, &(mode as u8).to_string(), "set rp_filter")
}

/// Reads `rp_filter` of one interface (or `all`/`default`).
pub fn rp_filter(interface: &str) -> Result<RpFilter, KernelError> {
    check_name(interface)?;
    let path = format!("/proc/sys/net/ipv4/conf/{interface}/rp_filter");
    match read(&path, "read rp_filter")?.as_str() {
        "0" => Ok(RpFilter::Off),
        "1" => Ok(RpFilter::Strict),
        "2" => Ok(RpFilter::Loose),
        other => Err(KernelError::Invalid {
            reason: format!("unknown rp_filter value {other:?}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_cannot_escape_the_conf_directory() {
        for bad in ["", "..", "a/b", "sixteen-chars-xx"] {
            assert!(set_rp_filter(bad, RpFilter::Loose).is_err(), "{bad:?}");
        }
    }
}
