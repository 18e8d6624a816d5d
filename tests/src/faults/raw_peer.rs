//! A scripted iBGP peer: one TCP connection made by `nc` inside a namespace, whose
//! stdin and stdout the test drives. The test sends well-formed or deliberately broken
//! messages and reads what routerd answers, parsed with the workspace's BGP codec.
//!
//! Call order: [`RawPeer::connect`] (OPEN exchanged, Established on return), then
//! [`RawPeer::send_raw`] / [`RawPeer::recv_until`] in any order; KEEPALIVEs go out
//! every third of the hold time from a background thread until the peer drops.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bgp::wire::{Afi, Capability, Message, Open, ParseCtx, Safi, frame_len};

use crate::netns::Netns;

/// The negotiated context of every session here: iBGP with 4-octet AS numbers.
pub const IBGP4: ParseCtx = ParseCtx {
    four_octet_as: true,
    internal: true,
};

/// What the reader thread saw on the connection.
// A test peer reads a handful of messages: matching on them unboxed matters more.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A message that parsed.
    Message(Message),
    /// Bytes that did not parse (the error as text).
    Garbage(String),
    /// The connection closed.
    Closed,
}

/// One scripted session; `nc` is killed by PID on drop.
#[derive(Debug)]
pub struct RawPeer {
    child: Child,
    stdin: Arc<Mutex<ChildStdin>>,
    rx: Receiver<Received>,
    stop: Arc<AtomicBool>,
}

impl RawPeer {
    /// Connects from `ns` to `remote:179`, sends OPEN (AS `asn`, router id `id`, hold
    /// time `hold`), and waits up to `secs` for routerd's OPEN and KEEPALIVE.
    /// Returns the error seen instead when the session does not come up.
    pub fn connect(
        ns: &Netns,
        remote: Ipv4Addr,
        id: Ipv4Addr,
        asn: u32,
        hold: u16,
        secs: u64,
    ) -> Result<RawPeer, String> {
        let mut child = ns
            .command("nc")
            .args(["-s", &id.to_string(), &remote.to_string(), "179"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn nc: {e}"))?;
        let stdout = child.stdout.take().ok_or("nc has no stdout")?;
        let stdin = Arc::new(Mutex::new(child.stdin.take().ok_or("nc has no stdin")?));
        let (tx, rx) = channel();
        std::thread::spawn(move || read_messages(stdout, &tx));
        let stop = Arc::new(AtomicBool::new(false));
        let peer = RawPeer {
            child,
            stdin,
            rx,
            stop,
        };
        peer.send(&Message::Open(Open {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(bgp::wire::AS_TRANS),
            hold_time: hold,
            bgp_id: id,
            capabilities: vec![
                Capability::Multiprotocol(Afi::Ipv4, Safi::Unicast),
                Capability::FourOctetAs(asn),
            ],
        }));
        match peer.recv_until(secs, |m| matches!(m, Received::Message(Message::Open(_)))) {
            Some(Received::Message(_)) => {}
            other => return Err(format!("no OPEN from {remote}: {other:?}")),
        }
        peer.send(&Message::Keepalive);
        match peer.recv_until(secs, |m| matches!(m, Received::Message(Message::Keepalive))) {
            Some(Received::Message(_)) => {}
            other => return Err(format!("no KEEPALIVE from {remote}: {other:?}")),
        }
        peer.start_keepalives(Duration::from_secs(u64::from(hold.max(3)) / 3));
        Ok(peer)
    }

    fn start_keepalives(&self, every: Duration) {
        let stdin = Arc::clone(&self.stdin);
        let stop = Arc::clone(&self.stop);
        let mut bytes = Vec::new();
        Message::Keepalive.emit(&IBGP4, &mut bytes);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let step = Duration::from_millis(100);
                let mut waited = Duration::ZERO;
                while waited < every && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(step);
                    waited += step;
                }
                let Ok(mut w) = stdin.lock() else { return };
                if w.write_all(&bytes).and_then(|()| w.flush()).is_err() {
                    return;
                }
            }
        });
    }

    /// Sends a message encoded by the codec.
    pub fn send(&self, message: &Message) {
        let mut bytes = Vec::new();
        message.emit(&IBGP4, &mut bytes);
        self.send_raw(&bytes);
    }

    /// Sends these bytes as they are (a broken message stays broken). A closed
    /// connection is not an error here: what routerd did is read with `recv_until`.
    pub fn send_raw(&self, bytes: &[u8]) {
        if let Ok(mut w) = self.stdin.lock() {
            let _ = w.write_all(bytes).and_then(|()| w.flush());
        }
    }

    /// The first received item matching `want` within `secs` (items before it are
    /// skipped); `Closed` always ends the wait and is returned.
    pub fn recv_until(&self, secs: u64, want: impl Fn(&Received) -> bool) -> Option<Received> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(item) if want(&item) || item == Received::Closed => return Some(item),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return None,
                Err(RecvTimeoutError::Disconnected) => return Some(Received::Closed),
            }
        }
    }

    /// Everything received so far, without waiting.
    pub fn drain(&self) -> Vec<Received> {
        self.rx.try_iter().collect()
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Frames and parses the byte stream until it ends.
fn read_messages(mut stdout: impl Read, tx: &std::sync::mpsc::Sender<Received>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        loop {
            match frame_len(&buf) {
                Ok(Some(len)) if buf.len() >= len => {
                    let item = match Message::parse(&buf[..len], &IBGP4) {
                        Ok(m) => Received::Message(m),
                        Err(e) => Received::Garbage(format!("{e:?}")),
                    };
                    buf.drain(..len);
                    if tx.send(item).is_err() {
                        return;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    let _ = tx.send(Received::Garbage(format!("{e:?}")));
                    buf.clear();
                    break;
                }
            }
        }
        match stdout.read(&mut chunk) {
            Ok(0) | Err(_) => {
                let _ = tx.send(Received::Closed);
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Bytes of a BGP message of type `kind` with this body.
pub fn message_bytes(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = vec![0xff; 16];
    bytes.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(body);
    bytes
}

/// Bytes of an UPDATE with no withdrawals, this attribute section and these IPv4 NLRI
/// bytes (RFC 4271 §4.3 layout, nothing checked).
pub fn update_bytes(attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 0];
    body.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    body.extend_from_slice(attrs);
    body.extend_from_slice(nlri);
    message_bytes(2, &body)
}

/// The well-formed iBGP attributes ORIGIN IGP, empty AS_PATH, NEXT_HOP `next_hop` and
/// LOCAL_PREF 100, in wire form.
pub fn good_attrs(next_hop: Ipv4Addr) -> Vec<u8> {
    let mut a = vec![0x40, 1, 1, 0, 0x40, 2, 0, 0x40, 3, 4];
    a.extend_from_slice(&next_hop.octets());
    a.extend_from_slice(&[0x40, 5, 4, 0, 0, 0, 100]);
    a
}

/// One /32 in NLRI wire form.
pub fn nlri32(addr: Ipv4Addr) -> Vec<u8> {
    let mut n = vec![32];
    n.extend_from_slice(&addr.octets());
    n
}
