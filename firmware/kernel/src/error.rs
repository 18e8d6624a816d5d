//! Errors of kernel programming, typed so the daemon can decide what to do next.

use std::io;

/// Why a kernel request failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The running kernel lacks the feature (no ipip/wireguard support, no module
    /// loading): the daemon falls back to the userspace datapath.
    #[error("kernel does not support {what}: use the userspace datapath")]
    Unsupported {
        /// What was refused, e.g. `"ipip link"` or `"wireguard generic netlink family"`.
        what: &'static str,
    },
    /// The kernel refused a request with an errno; the request had no effect.
    #[error("kernel refused {op}: {}", io::Error::from_raw_os_error(*.errno))]
    Refused {
        /// The operation, e.g. `"route replace"`.
        op: &'static str,
        /// The positive errno the kernel answered.
        errno: i32,
    },
    /// A named interface does not exist (yet); create it or retry later.
    #[error("no interface named {name:?}")]
    NoSuchDevice {
        /// The interface name that did not resolve.
        name: String,
    },
    /// A request could not be built from the arguments; fix the caller.
    #[error("invalid request: {reason}")]
    Invalid {
        /// What is wrong with it.
        reason: String,
    },
    /// The netlink socket itself failed (open, send, receive); the request may be lost:
    /// retry it on a fresh object.
    #[error("netlink socket error during {op}: {source}")]
    Socket {
        /// The operation that was running.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The kernel sent something we could not decode; the request may or may not have
    /// taken effect.
    #[error("undecodable netlink reply during {op}: {detail}")]
    Decode {
        /// The operation that was running.
        op: &'static str,
        /// What the decoder said.
        detail: String,
    },
}

impl KernelError {
    /// True when the kernel lacks the feature: the signal to use the userspace datapath.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, KernelError::Unsupported { .. })
    }

    /// The kernel's errno when this is a refusal.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Refused { errno, .. } => Some(*errno),
            _ => None,
        }
    }

    /// Maps an rtnetlink error, turning "operation not supported" into
    /// [`KernelError::Unsupported`] when `unsupported` names the feature.
    pub(crate) fn from_rtnetlink(
        op: &'static str,
        unsupported: Option<&'static str>,
        err: rtnetlink::Error,
    ) -> KernelError {
        match err {
            rtnetlink::Error::NetlinkError(msg) => {
                let errno = -msg.raw_code();
                if errno == libc::EOPNOTSUPP
                    && let Some(what) = unsupported
                {
                    return KernelError::Unsupported { what };
                }
                KernelError::Refused { op, errno }
            }
            other => KernelError::Decode {
                op,
                detail: other.to_string(),
            },
        }
    }
}
