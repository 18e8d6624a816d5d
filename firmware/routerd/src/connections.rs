//! TCP for the BGP core: listeners, outgoing connects, and one reader and one writer task
//! per connection.
//!
//! Every task reports to the core through one bounded channel of [`NetEvent`]s, so a
//! slow core slows the readers down (TCP backpressure) instead of buffering without
//! bound. The core owns the [`ConnTable`]: it numbers connections, feeds writers and
//! closes connections. Invariants:
//! - a connection's events arrive in order ([`NetEvent::Received`]* then at most one
//!   [`NetEvent::Closed`] from each of its tasks; the core ignores events of connections it
//!   no longer holds);
//! - a writer writes everything queued before a close request, then shuts the socket down;
//!   a write that does not complete within [`WRITE_STALL`] ends the connection.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bgp::speaker::ConnId;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

/// Longest one queued write may take (the peer not reading) before the connection is
/// given up (longer than the largest hold time that still sends keepalives every 30 s).
const WRITE_STALL: Duration = Duration::from_secs(120);
/// Largest single read; BGP messages are at most 4096 bytes (65535 with extended
/// messages).
const READ_CHUNK_MAX: usize = 64 * 1024;
/// Smallest single read: a session that only exchanges keepalives reads this much.
const READ_CHUNK_MIN: usize = 4 * 1024;
/// Listen backlog (the kernel caps it at `net.core.somaxconn`, 4096 by default): a
/// thousand leaves connecting at once must not overflow the accept queue, whose dropped
/// handshakes wait a second for the SYN retransmission (the default of 128 lost about
/// 800 of 1,000 first attempts).
const LISTEN_BACKLOG: u32 = 4096;

/// Something that happened on the network, for the core.
#[derive(Debug)]
pub(crate) enum NetEvent {
    /// A listener accepted a connection.
    Accepted {
        /// The new stream.
        stream: TcpStream,
        /// Remote address.
        remote: SocketAddr,
        /// Local address.
        local: SocketAddr,
    },
    /// An outgoing connect succeeded.
    Connected {
        /// The peer it was for.
        peer: IpAddr,
        /// The stream.
        stream: TcpStream,
    },
    /// An outgoing connect failed or timed out.
    ConnectFailed {
        /// The peer it was for.
        peer: IpAddr,
        /// Why.
        error: io::Error,
    },
    /// Bytes arrived.
    Received {
        /// Connection.
        conn: ConnId,
        /// The bytes, in any chunking.
        data: Vec<u8>,
    },
    /// The connection ended (EOF, reset or write failure).
    Closed {
        /// Connection.
        conn: ConnId,
    },
}

/// Sender half every network task reports through.
pub(crate) type EventSender = mpsc::Sender<NetEvent>;

/// Binds a listener on `addr` with a backlog of [`LISTEN_BACKLOG`]; the returned future
/// forwards accepted connections until the channel closes (the caller spawns it).
pub(crate) async fn listen(
    addr: SocketAddr,
    events: EventSender,
) -> io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    tracing::info!(%addr, "listening for BGP");
    Ok(async move {
        loop {
            match listener.accept().await {
                Ok((stream, remote)) => {
                    let Ok(local) = stream.local_addr() else {
                        continue;
                    };
                    if events
                        .send(NetEvent::Accepted {
                            stream,
                            remote,
                            local,
                        })
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                Err(error) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(%addr, %error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Starts a connect to `remote` (from `local` if given) that reports back within
/// `timeout`.
pub(crate) fn connect(
    peer: IpAddr,
    remote: SocketAddr,
    local: Option<IpAddr>,
    timeout: Duration,
    events: EventSender,
) {
    tokio::spawn(async move {
        let event = match connect_stream(remote, local, timeout).await {
            Ok(stream) => NetEvent::Connected { peer, stream },
            Err(error) => NetEvent::ConnectFailed { peer, error },
        };
        let _ = events.send(event).await;
    });
}

async fn connect_stream(
    remote: SocketAddr,
    local: Option<IpAddr>,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(local) = local {
        socket.bind(SocketAddr::new(local, 0))?;
    }
    match tokio::time::timeout(timeout, socket.connect(remote)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
    }
}

/// What a writer task does next.
enum WriteCmd {
    Data(Vec<u8>),
    Close,
}

/// One open connection as the core sees it.
struct Conn {
    writer: mpsc::UnboundedSender<WriteCmd>,
    reader: AbortHandle,
}

/// The core's open connections.
pub(crate) struct ConnTable {
    conns: HashMap<ConnId, Conn>,
    next: u64,
    events: EventSender,
    writers: JoinSet<()>,
}

impl ConnTable {
    /// An empty table whose tasks report to `events`.
    pub(crate) fn new(events: EventSender) -> ConnTable {
        ConnTable {
            conns: HashMap::new(),
            next: 1,
            events,
            writers: JoinSet::new(),
        }
    }

    /// Takes over a stream: numbers it and starts its reader and writer.
    pub(crate) fn add(&mut self, stream: TcpStream) -> ConnId {
        let conn = ConnId(self.next);
        self.next += 1;
        // BGP messages are small and latency matters (KEEPALIVE, OPEN); failure is harmless.
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let reader = tokio::spawn(read_loop(conn, read, self.events.clone())).abort_handle();
        self.writers
            .spawn(write_loop(conn, write, rx, self.events.clone()));
        self.conns.insert(conn, Conn { writer: tx, reader });
        conn
    }

    /// True while the core holds `conn`.
    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.conns.contains_key(&conn)
    }

    /// Queues bytes on `conn`; ignored if it is gone.
    pub(crate) fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.writer.send(WriteCmd::Data(bytes));
        }
    }

    /// Closes `conn` after what is queued is written. Returns false if it was gone.
    pub(crate) fn close(&mut self, conn: ConnId) -> bool {
        match self.conns.remove(&conn) {
            Some(c) => {
                let _ = c.writer.send(WriteCmd::Close);
                c.reader.abort();
                true
            }
            None => false,
        }
    }

    /// Closes every connection and waits up to `timeout` for the writers to flush.
    pub(crate) async fn flush_all(mut self, timeout: Duration) {
        let open: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            self.close(conn);
        }
        let writers = &mut self.writers;
        let done = async { while writers.join_next().await.is_some() {} };
        if tokio::time::timeout(timeout, done).await.is_err() {
            tracing::warn!("some connections did not flush before shutdown");
        }
    }
}

/// Reads by need: no buffer is held while the socket is idle (a thousand quiet sessions
/// hold none), and each read's buffer goes to the core as is. The read size doubles while
/// reads fill it (bulk transfer) and halves while they use less than a quarter of it.
async fn read_loop(conn: ConnId, read: OwnedReadHalf, events: EventSender) {
    let mut chunk = READ_CHUNK_MIN;
    loop {
        if read.readable().await.is_err() {
            let _ = events.send(NetEvent::Closed { conn }).await;
            return;
        }
        let mut data = Vec::with_capacity(chunk);
        match read.try_read_buf(&mut data) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Ok(0) | Err(_) => {
                let _ = events.send(NetEvent::Closed { conn }).await;
                return;
            }
            Ok(n) => {
                chunk = next_read_size(chunk, n);
                if events
                    .send(NetEvent::Received { conn, data })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// The size of the next read after one of `chunk` octets returned `n`.
fn next_read_size(chunk: usize, n: usize) -> usize {
    if n >= chunk {
        (chunk * 2).min(READ_CHUNK_MAX)
    } else if n < chunk / 4 {
        (chunk / 2).max(READ_CHUNK_MIN)
    } else {
        chunk
    }
}

async fn write_loop(
    conn: ConnId,
    mut write: OwnedWriteHalf,
    mut commands: mpsc::UnboundedReceiver<WriteCmd>,
    events: EventSender,
) {
    while let Some(cmd) = commands.recv().await {
        match cmd {
            WriteCmd::Data(bytes) => {
                // A peer that stops reading but keeps the connection open would block
                // this task forever; after WRITE_STALL the connection counts as failed.
                let written = tokio::time::timeout(WRITE_STALL, write.write_all(&bytes)).await;
                if !matches!(written, Ok(Ok(()))) {
                    let _ = events.send(NetEvent::Closed { conn }).await;
                    return;
                }
            }
            WriteCmd::Close => break,
        }
    }
    let _ = tokio::time::timeout(WRITE_STALL, write.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_size_grows_with_full_reads_and_shrinks_with_small_ones() {
        let mut chunk = READ_CHUNK_MIN;
        for _ in 0..10 {
            chunk = next_read_size(chunk, chunk);
        }
        assert_eq!(chunk, READ_CHUNK_MAX);
        assert_eq!(next_read_size(chunk, chunk / 2), chunk);
        for _ in 0..10 {
            chunk = next_read_size(chunk, 19);
        }
        assert_eq!(chunk, READ_CHUNK_MIN);
    }
}
