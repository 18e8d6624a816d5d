//! RFC 4271 §8 session state machine of one peer, split in three pure parts:
//!
//! - [`open`]: the OPEN we send and the checks on the OPEN we receive (version, AS,
//!   BGP identifier, hold time) with capability negotiation into [`open::Negotiated`].
//! - [`connection`]: the per-TCP-connection part of the FSM (OpenSent, OpenConfirm,
//!   Established) with hold and keepalive timers held as deadlines.
//! - [`backoff`]: the idle-hold time of a flapping peer (doubling up to a cap, reset after
//!   a stable period).
//!
//! The peer-level states (Idle, Connect, Active), the connect-retry timer and connection
//! collision detection (§6.8) live in the speaker, which may hold two connections of one
//! peer at once. Nothing here reads a clock: every call takes `now`.

pub mod backoff;
pub mod connection;
pub mod open;

/// FSM states (RFC 4271 §8.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum State {
    /// Idle.
    Idle,
    /// Connect.
    Connect,
    /// Active.
    Active,
    /// OpenSent.
    OpenSent,
    /// OpenConfirm.
    OpenConfirm,
    /// Established.
    Established,
}

impl State {
    /// The RFC name of the state.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "Idle",
            State::Connect => "Connect",
            State::Active => "Active",
            State::OpenSent => "OpenSent",
            State::OpenConfirm => "OpenConfirm",
            State::Established => "Established",
        }
    }
}

/// NOTIFICATION error codes and subcodes used by the FSM (RFC 4271 §4.5, RFC 4486,
/// RFC 6608).
pub mod codes {
    /// OPEN Message Error.
    pub const OPEN_ERROR: u8 = 2;
    /// OPEN: Unsupported Version Number.
    pub const OPEN_BAD_VERSION: u8 = 1;
    /// OPEN: Bad Peer AS.
    pub const OPEN_BAD_PEER_AS: u8 = 2;
    /// OPEN: Bad BGP Identifier.
    pub const OPEN_BAD_BGP_ID: u8 = 3;
    /// OPEN: Unacceptable Hold Time.
    pub const OPEN_BAD_HOLD_TIME: u8 = 6;
    /// Hold Timer Expired.
    pub const HOLD_TIMER_EXPIRED: u8 = 4;
    /// Finite State Machine Error.
    pub const FSM_ERROR: u8 = 5;
    /// FSM: unexpected message in OpenSent.
    pub const FSM_IN_OPEN_SENT: u8 = 1;
    /// FSM: unexpected message in OpenConfirm.
    pub const FSM_IN_OPEN_CONFIRM: u8 = 2;
    /// FSM: unexpected message in Established.
    pub const FSM_IN_ESTABLISHED: u8 = 3;
    /// Cease.
    pub const CEASE: u8 = 6;
    /// Cease: Maximum Number of Prefixes Reached.
    pub const CEASE_MAX_PREFIX: u8 = 1;
    /// Cease: Administrative Shutdown.
    pub const CEASE_ADMIN_SHUTDOWN: u8 = 2;
    /// Cease: Peer De-configured.
    pub const CEASE_PEER_DECONFIGURED: u8 = 3;
    /// Cease: Connection Rejected.
    pub const CEASE_CONNECTION_REJECTED: u8 = 5;
    /// Cease: Other Configuration Change.
    pub const CEASE_CONFIG_CHANGE: u8 = 6;
    /// Cease: Connection Collision Resolution.
    pub const CEASE_COLLISION: u8 = 7;
    /// Cease: Hard Reset (RFC 8538 §3): the session ends without graceful restart; the
    /// data carries the code, subcode and data of the reason.
    pub const CEASE_HARD_RESET: u8 = 9;
}
