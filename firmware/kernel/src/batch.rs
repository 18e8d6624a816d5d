//! A blocking rtnetlink socket that pipelines many requests per `sendmsg`.
//!
//! The kernel handles every message of one `sendmsg` in order before the call returns,
//! answering only failures (no `NLM_F_ACK` on them) and then an acknowledgement for the
//! last message of the chunk, which marks the chunk as finished. Chunks stay far below
//! the socket's send buffer, and their error replies far below its receive buffer, so
//! no reply is ever dropped.
//!
//! Blocking calls: callers run this on a blocking thread (`spawn_blocking`).

use std::io;

use rtnetlink::packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::sys::protocols::NETLINK_ROUTE;
use rtnetlink::sys::{Socket, SocketAddr};

/// Bytes of requests per `sendmsg` (the default send buffer is about 208 KiB).
const CHUNK_BYTES: usize = 96 * 1024;
/// Most requests per `sendmsg`.
const CHUNK_REQUESTS: usize = 2048;
/// Receive-buffer bytes one failure answer may cost (the kernel charges the whole
/// socket buffer, about 1 KiB, not the 36 bytes of the message). A chunk never has more
/// requests than the receive buffer holds answers, so a chunk that fails completely
/// still loses no answer, whatever `rmem_max` is.
const ANSWER_COST: usize = 1280;
/// Receive buffer we ask for (the kernel caps it at `rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const HEADER_LEN: usize = 16;

/// One request: a caller's tag (to map failures back), the message, extra header flags.
pub(crate) type Request = (usize, RouteNetlinkMessage, u16);

/// The pipelining socket.
pub(crate) struct BatchSocket {
    socket: Socket,
    chunk_requests: usize,
    seq: u32,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
}

impl BatchSocket {
    /// Interface index of `name`; `None` when the kernel knows no such interface.
    pub(crate) fn link_index(&mut self, name: &str) -> io::Result<Option<u32>> {
        let mut request = LinkMessage::default();
        request
            .attributes
            .push(LinkAttribute::IfName(name.to_string()));
        let mut index = None;
        let result = self.request(RouteNetlinkMessage::GetLink(request), false, |msg| {
            if let RouteNetlinkMessage::NewLink(link) = msg {
                index = Some(link.header.index);
            }
        });
        match result {
            Ok(()) => Ok(index),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens and connects a `NETLINK_ROUTE` socket.
    pub(crate) fn open() -> io::Result<BatchSocket> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        // Shorter error answers; both are best effort on old kernels.
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_rx_buf_sz(RECV_BUFFER);
        let receive_buffer = socket.get_rx_buf_sz().unwrap_or(0);
        let chunk_requests = (receive_buffer / ANSWER_COST).clamp(64, CHUNK_REQUESTS);
        Ok(BatchSocket {
            socket,
            chunk_requests,
            seq: 1,
            send_buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            recv_buf: Vec::with_capacity(256 * 1024),
        })
    }

    /// Sends every request, chunk by chunk, and returns `(tag, errno)` for each refused
    /// one. On `Err` the socket failed mid-way and an unknown part was applied.
    pub(crate) fn execute(
        &mut self,
        requests: impl Iterator<Item = Request>,
    ) -> io::Result<Vec<(usize, i32)>> {
        let mut failures = Vec::new();
        let mut requests = requests.peekable();
        let mut tags = Vec::with_capacity(self.chunk_requests);
        while requests.peek().is_some() {
            self.send_buf.clear();
            tags.clear();
            let first_seq = self.seq;
            while let Some((tag, message, flags)) = requests.next() {
                let last = tags.len() + 1 == self.chunk_requests
                    || self.send_buf.len() >= CHUNK_BYTES
                    || requests.peek().is_none();
                let mut flags = NLM_F_REQUEST | flags;
                if last {
                    flags |= NLM_F_ACK;
                }
                self.push(message, flags);
                tags.push(tag);
                if last {
                    break;
                }
            }
            self.socket.send(&self.send_buf, 0)?;
            let last_seq = first_seq.wrapping_add(tags.len() as u32 - 1);
            self.collect_acks(first_seq, last_seq, &tags, &mut failures)?;
        }
        Ok(failures)
    }

    /// Appends one serialized message to the send buffer with the next sequence number.
    fn push(&mut self, message: RouteNetlinkMessage, flags: u16) {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut msg = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        msg.finalize();
        let start = self.send_buf.len();
        self.send_buf.resize(start + msg.buffer_len(), 0);
        msg.serialize(&mut self.send_buf[start..]);
    }

    /// Reads answers until the acknowledgement of `last_seq` arrives.
    fn collect_acks(
        &mut self,
        first_seq: u32,
        last_seq: u32,
        tags: &[usize],
        failures: &mut Vec<(usize, i32)>,
    ) -> io::Result<()> {
        loop {
            self.recv_buf.clear();
            self.socket.recv(&mut self.recv_buf, 0)?;
            let mut finished = false;
            for (kind, seq, body) in frames(&self.recv_buf) {
                if kind != NLMSG_ERROR || body.len() < 4 {
                    continue;
                }
                let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                let index = seq.wrapping_sub(first_seq) as usize;
                if index >= tags.len() {
                    continue; // a stale answer from an earlier, aborted chunk
                }
                if code != 0 {
                    failures.push((tags[index], -code));
                }
                if seq == last_seq {
                    finished = true;
                }
            }
            if finished {
                return Ok(());
            }
        }
    }

    /// Sends one request and hands each decoded answer to `each` until the kernel ends
    /// it: `dump` set asks for a whole table (ends with `NLMSG_DONE`), otherwise a single
    /// object is requested with an acknowledgement.
    pub(crate) fn request(
        &mut self,
        request: RouteNetlinkMessage,
        dump: bool,
        mut each: impl FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        self.send_buf.clear();
        let seq = self.seq;
        let flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST | NLM_F_ACK
        };
        self.push(request, flags);
        self.socket.send(&self.send_buf, 0)?;
        loop {
            self.recv_buf.clear();
            self.socket.recv(&mut self.recv_buf, 0)?;
            let mut offset = 0;
            while let Some(len) = self.recv_buf.get(offset..).and_then(frame_len) {
                let frame = &self.recv_buf[offset..offset + len];
                offset += aligned(len);
                let kind = u16::from_ne_bytes([frame[4], frame[5]]);
                let frame_seq = u32::from_ne_bytes([frame[8], frame[9], frame[10], frame[11]]);
                if frame_seq != seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR if frame.len() >= HEADER_LEN + 4 => {
                        let body = &frame[HEADER_LEN..];
                        let code = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
                        if code == 0 {
                            return Ok(());
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    _ => {
                        if let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame)
                            && let NetlinkPayload::InnerMessage(inner) = msg.payload
                        {
                            each(inner);
                        }
                    }
                }
            }
        }
    }
}

fn aligned(len: usize) -> usize {
    (len + 3) & !3
}

/// Length of the netlink frame at the start of `buf`, when one is complete there.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let len = u32::from_ne_bytes(buf.get(0..4)?.try_into().ok()?) as usize;
    (len >= HEADER_LEN && len <= buf.len()).then_some(len)
}

/// Iterates `(type, sequence, body)` over the frames of one datagram; stops at the first
/// malformed frame.
fn frames(buf: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        let rest = buf.get(offset..)?;
        let len = frame_len(rest)?;
        let kind = u16::from_ne_bytes([rest[4], rest[5]]);
        let seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
        offset += aligned(len);
        Some((kind, seq, &rest[HEADER_LEN..len]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stop_at_truncated_or_garbage_input() {
        let mut buf = Vec::new();
        for seq in [7u32, 8] {
            buf.extend_from_slice(&20u32.to_ne_bytes());
            buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            buf.extend_from_slice(&0u16.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&(-17i32).to_ne_bytes());
        }
        let all: Vec<_> = frames(&buf).map(|(k, s, b)| (k, s, b.len())).collect();
        assert_eq!(all, vec![(NLMSG_ERROR, 7, 4), (NLMSG_ERROR, 8, 4)]);
        assert_eq!(frames(&buf[..30]).count(), 1);
        assert_eq!(frames(&[0xff; 40]).count(), 0);
        assert_eq!(frames(&[0; 40]).count(), 0);
    }
}
