//! One Established BGP session of an in-namespace peer, built on [`crate::wire`].
//!
//! Call order: [`connect`] (retries until a deadline), then [`establish`] (OPEN,
//! KEEPALIVE both ways), then any number of [`Session::read_batch`] calls; sending goes
//! through [`Session::send`], whose writer task also sends a KEEPALIVE every third of
//! the negotiated hold time, always between whole messages.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::{mpsc, oneshot};

use crate::wire::{self, WireError};

/// Why a session could not be held.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The socket failed or closed.
    #[error("connection to the route reflector failed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something malformed, or a NOTIFICATION.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer's first message was not an OPEN, or the second not a KEEPALIVE.
    #[error("unexpected message type {0} while opening the session")]
    Unexpected(u8),
    /// The peer closed the connection.
    #[error("the route reflector closed the session")]
    Closed,
}

/// Something to write, and whom to tell when it is written.
type Outgoing = (Arc<Vec<u8>>, Option<oneshot::Sender<()>>);

/// An Established session: a reader and a handle to the writer task.
#[derive(Debug)]
pub(super) struct Session {
    reader: OwnedReadHalf,
    buf: Vec<u8>,
    filled: usize,
    writer: mpsc::UnboundedSender<Outgoing>,
}

/// Connects from `local` (any address when `None`) to `rr`, retrying every 200 ms
/// until `deadline`.
pub(super) async fn connect(
    local: Option<Ipv4Addr>,
    rr: SocketAddrV4,
    deadline: Instant,
) -> Result<TcpStream, SessionError> {
    loop {
        let attempt = async {
            let socket = tokio::net::TcpSocket::new_v4()?;
            if let Some(ip) = local {
                socket.bind(SocketAddr::V4(SocketAddrV4::new(ip, 0)))?;
            }
            socket.connect(SocketAddr::V4(rr)).await
        };
        match attempt.await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) if Instant::now() >= deadline => return Err(e.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Opens the BGP session on `stream`: sends OPEN (`asn`, `hold_secs`, `id`), expects
/// OPEN then KEEPALIVE, and starts the writer task.
pub(super) async fn establish(
    stream: TcpStream,
    asn: u32,
    hold_secs: u16,
    id: Ipv4Addr,
    buffer: usize,
) -> Result<Session, SessionError> {
    let (reader, mut write_half) = stream.into_split();
    write_half
        .write_all(&wire::open(asn, hold_secs, id))
        .await?;
    let mut session = Session {
        reader,
        buf: vec![0; buffer.max(2 * wire::MAX_LEN)],
        filled: 0,
        writer: mpsc::unbounded_channel().0,
    };
    let peer_open = session.next_message().await?;
    let Some(peer_hold) = wire::open_hold_time(&peer_open) else {
        return Err(SessionError::Unexpected(peer_open[18]));
    };
    write_half.write_all(&wire::keepalive()).await?;
    let next = session.next_message().await?;
    if next[18] != wire::KEEPALIVE {
        return Err(SessionError::Unexpected(next[18]));
    }
    let hold = hold_secs.min(peer_hold);
    let (tx, rx) = mpsc::unbounded_channel();
    session.writer = tx;
    tokio::spawn(write_loop(write_half, rx, hold));
    Ok(session)
}

async fn write_loop(
    mut half: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    hold: u16,
) {
    let period = Duration::from_secs(u64::from((hold / 3).max(1)));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let keepalive = wire::keepalive();
    loop {
        tokio::select! {
            item = rx.recv() => {
                let Some((bytes, done)) = item else { return };
                if half.write_all(&bytes).await.is_err() {
                    return;
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            _ = ticker.tick(), if hold > 0 => {
                if half.write_all(&keepalive).await.is_err() {
                    return;
                }
            }
        }
    }
}

impl Session {
    /// Queues `bytes` (whole messages) for writing; the receiver fires once written.
    pub(super) fn send(&self, bytes: Arc<Vec<u8>>) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let _ = self.writer.send((bytes, Some(tx)));
        rx
    }

    /// Reads once from the socket and calls `f(type, message)` for every complete
    /// message then buffered. KEEPALIVEs are passed on too; a NOTIFICATION ends the
    /// session with its error.
    pub(super) async fn read_batch(
        &mut self,
        mut f: impl FnMut(u8, &[u8]) -> Result<(), WireError>,
    ) -> Result<(), SessionError> {
        let n = self.reader.read(&mut self.buf[self.filled..]).await?;
        if n == 0 {
            return Err(SessionError::Closed);
        }
        self.filled += n;
        let mut at = 0;
        while let Some(len) = wire::frame_len(&self.buf[at..self.filled])? {
            let msg = &self.buf[at..at + len];
            if msg[18] == wire::NOTIFICATION {
                return Err(wire::notification(msg).into());
            }
            f(msg[18], msg)?;
            at += len;
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
        Ok(())
    }

    /// Reads one whole message (header included) during the handshake.
    async fn next_message(&mut self) -> Result<Vec<u8>, SessionError> {
        loop {
            if let Some(len) = wire::frame_len(&self.buf[..self.filled])? {
                let msg = self.buf[..len].to_vec();
                self.buf.copy_within(len..self.filled, 0);
                self.filled -= len;
                if msg[18] == wire::NOTIFICATION {
                    return Err(wire::notification(&msg).into());
                }
                return Ok(msg);
            }
            let n = self.reader.read(&mut self.buf[self.filled..]).await?;
            if n == 0 {
                return Err(SessionError::Closed);
            }
            self.filled += n;
        }
    }
}
