//! Errors of the userspace datapath.

use std::io;

/// Why a datapath operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    /// A socket could not be opened or bound (port in use, no permission): the
    /// datapath did not start; fix the configuration or free the port.
    #[error("cannot open {what}: {source}")]
    Socket {
        /// Which socket.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The TUN device could not be created (no `/dev/net/tun`, name taken); the peer
    /// was not added.
    #[error("cannot create TUN device {name:?}: {source}")]
    Tun {
        /// The device name.
        name: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Configuring the device (MTU, up) failed; the peer was not added.
    #[error("cannot configure device: {0}")]
    Kernel(#[from] kernel::KernelError),
    /// The peer clashes with an existing one; the existing one is unchanged.
    #[error("peer clashes with an existing one: same {what}")]
    Duplicate {
        /// The clashing field: device, public key or outer remote address.
        what: &'static str,
    },
    /// No peer uses that device.
    #[error("no peer on device {device:?}")]
    NoSuchPeer {
        /// The device name asked for.
        device: String,
    },
}
