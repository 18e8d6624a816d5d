//! Userspace IPIP and WireGuard datapath on TUN devices, for kernels without them.
//!
//! Design (the same routes as kernel mode work unchanged):
//! - One TUN device per tunnel peer, named by the caller, so the kernel routes stay
//!   `/32 via <peer tunnel address> dev <device> onlink`.
//! - A packet read from a peer's TUN gets an outer IPv4 header (protocol 4) from the
//!   peer's `outer_local` to its `outer_remote`, built with smoltcp's wire types. With
//!   WireGuard the IPIP packet is then encrypted by that peer's boringtun `Tunn` and sent
//!   over the one UDP socket; without it, it goes out a raw IPv4 socket.
//! - Received datagrams are demultiplexed by receiver index (or the handshake's static
//!   key), decrypted, checked (the outer source must be the peer's `outer_remote`: allowed
//!   IPs are the tunnel endpoints only), stripped, and written to that peer's TUN.
//! - A peer's endpoint is learned from every authenticated datagram (roaming, NAT).
//!   Timers run every 100 ms; persistent keepalive keeps NAT mappings open.
//!
//! Call order: [`Dataplane::start`] inside a tokio runtime, then [`Dataplane::add_peer`]
//! per peer (it creates the TUN, sets its MTU and brings it up; the caller adds the
//! tunnel address and routes exactly as in kernel mode), [`Dataplane::status`] any time,
//! [`Dataplane::remove_peer`] to drop one. Dropping the [`Dataplane`] stops every task and
//! removes its devices.

mod error;
pub mod ipip;
mod peer;
mod plane;
mod transport;
mod tun;

pub use error::DataplaneError;
pub use peer::{PeerSpec, PeerStatus};
pub use plane::{Config, Dataplane, public_key};
pub use tun::Tun;
