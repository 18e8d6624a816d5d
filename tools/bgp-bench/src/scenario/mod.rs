//! The three scenarios: route reflection of N prefixes ([`reflect`]), many dynamic
//! peers ([`peers`]) and leaf FIB programming ([`fib`]). Each daemon run builds a fresh
//! topology on bridge `br0` in 198.18.0.0/16 (RFC 2544 benchmarking space): the route
//! reflector at .0.1, the feeder at .0.11, the sink at .0.12, many-peer leaves from
//! .1.1 up. Everything is torn down before the next daemon starts.

pub mod fib;
pub mod peers;
pub mod reflect;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// The route reflector's address.
pub const RR: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The feeder's address.
pub const FEEDER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 11);
/// The sink's address.
pub const SINK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 12);
/// First address of the many-peer leaves.
pub const FIRST_LEAF: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
/// The fabric's prefix length and the dynamic-peer range.
pub const RANGE: &str = "198.18.0.0/16";

/// `addr` with the fabric's prefix length.
pub fn cidr(addr: Ipv4Addr) -> String {
    format!("{addr}/16")
}

/// Settings shared by every scenario.
#[derive(Debug, Clone)]
pub struct Common {
    /// Where configs and logs go (one sub-directory per daemon run).
    pub work_dir: PathBuf,
    /// routerd's binary.
    pub routerd: PathBuf,
    /// Give up on one daemon's run after this long.
    pub timeout: Duration,
}

/// Status poll interval after `elapsed`: max(50 ms, 2 % of elapsed), so polling costs
/// the daemon little CPU however long it takes.
pub fn poll_interval(elapsed: Duration) -> Duration {
    Duration::from_millis(50).max(elapsed / 50)
}

/// Prints a progress line on stderr.
pub fn progress(msg: &str) {
    eprintln!("[bgp-bench] {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_adapts() {
        assert_eq!(poll_interval(Duration::ZERO), Duration::from_millis(50));
        assert_eq!(
            poll_interval(Duration::from_secs(1)),
            Duration::from_millis(50)
        );
        assert_eq!(
            poll_interval(Duration::from_secs(100)),
            Duration::from_secs(2)
        );
    }
}
