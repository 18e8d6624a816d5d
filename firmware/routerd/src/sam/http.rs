//! The enrollment exchange over plain HTTP/1.1 on the underlay: a small client for the
//! leaf (`POST /v1/enroll`, one request per connection) and the RR's listener.
//!
//! The listener reads one request per connection: headers up to [`MAX_HEAD_BYTES`], a
//! body of at most [`sam::claim::MAX_REQUEST_BYTES`] (a longer body is cut there and
//! handed on, so the registry refuses it as `malformed`), each connection within
//! [`EXCHANGE_TIMEOUT`] and at most [`MAX_CONNECTIONS`] at once. Requests go to the core
//! as [`EnrollCall`]s; the answer the core sends back is written unchanged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, oneshot};

/// Time for one whole exchange (connect, send, receive), both sides.
pub(crate) const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request or response head.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Connections served at once; more wait for a slot.
const MAX_CONNECTIONS: usize = 64;
/// Largest response body the leaf reads.
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// One enrollment request for the core.
#[derive(Debug)]
pub(crate) struct EnrollCall {
    /// The caller's address (the rate limiter's key).
    pub(crate) source: IpAddr,
    /// The body as received (possibly cut at the size limit).
    pub(crate) body: Vec<u8>,
    /// Where the core sends the reply.
    pub(crate) reply: oneshot::Sender<EnrollReply>,
}

/// The reply to write.
#[derive(Debug)]
pub(crate) struct EnrollReply {
    /// HTTP status.
    pub(crate) status: u16,
    /// JSON body.
    pub(crate) body: Vec<u8>,
    /// `Retry-After` seconds (429 only).
    pub(crate) retry_after: Option<u64>,
}

/// Serves `POST /v1/enroll` on `listener`, forwarding each request to the core.
pub(crate) async fn serve(listener: TcpListener, calls: mpsc::UnboundedSender<EnrollCall>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "enrollment listener: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let calls = calls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(error) =
                tokio::time::timeout(EXCHANGE_TIMEOUT, serve_one(stream, peer, calls)).await
            {
                tracing::debug!(%peer, %error, "enrollment connection timed out");
            }
        });
    }
}

async fn serve_one(
    mut stream: TcpStream,
    peer: SocketAddr,
    calls: mpsc::UnboundedSender<EnrollCall>,
) {
    let reply = match read_request(&mut stream).await {
        Ok(Request::Enroll(body)) => {
            let (tx, rx) = oneshot::channel();
            let call = EnrollCall {
                source: peer.ip(),
                body,
                reply: tx,
            };
            if calls.send(call).is_err() {
                return;
            }
            match rx.await {
                Ok(reply) => reply,
                Err(_) => return,
            }
        }
        Ok(Request::Other(status)) => EnrollReply {
            status,
            body: br#"{"refused":"malformed"}"#.to_vec(),
            retry_after: None,
        },
        Err(_) => return,
    };
    let _ = stream.write_all(&response_bytes(&reply)).await;
    let _ = stream.shutdown().await;
}

enum Request {
    Enroll(Vec<u8>),
    Other(u16),
}

async fn read_request(stream: &mut TcpStream) -> std::io::Result<Request> {
    let (head, mut body) = read_head(stream).await?;
    let Some(head) = head else {
        return Ok(Request::Other(431));
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if path != "/v1/enroll" {
        return Ok(Request::Other(404));
    }
    if method != "POST" {
        return Ok(Request::Other(405));
    }
    let length = content_length(&head).unwrap_or(0);
    let limit = sam::claim::MAX_REQUEST_BYTES;
    let wanted = length.min(limit + 1);
    while body.len() < wanted {
        let mut chunk = vec![0u8; (wanted - body.len()).min(16 * 1024)];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(wanted);
    Ok(Request::Enroll(body))
}

/// Reads up to the end of the head; returns the head (`None` when too large) and the
/// bytes read after it.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<(Option<String>, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = find_head_end(&buffer) {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            return Ok((Some(head), buffer[end + 4..].to_vec()));
        }
        if buffer.len() > MAX_HEAD_BYTES {
            return Ok((None, Vec::new()));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

fn find_head_end(buffer: &[u8]) -> Option<usize> {
    buffer.windows(4).position(|w| w == b"\r\n\r\n")
}

fn content_length(head: &str) -> Option<usize> {
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn response_bytes(reply: &EnrollReply) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reason_phrase(reply.status),
        reply.body.len()
    );
    if let Some(secs) = reply.retry_after {
        head.push_str(&format!("Retry-After: {secs}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&reply.body);
    bytes
}

/// POSTs `body` to `http://<to>/v1/enroll` and returns the response body, whatever the
/// status; `None` when no complete response arrived within [`EXCHANGE_TIMEOUT`].
pub(crate) async fn post_enroll(to: SocketAddr, body: Vec<u8>) -> Option<Vec<u8>> {
    match tokio::time::timeout(EXCHANGE_TIMEOUT, exchange(to, &body)).await {
        Ok(Ok(body)) => Some(body),
        Ok(Err(error)) => {
            tracing::debug!(%to, %error, "enrollment request failed");
            None
        }
        Err(_) => {
            tracing::debug!(%to, "enrollment request timed out");
            None
        }
    }
}

async fn exchange(to: SocketAddr, body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(to).await?;
    let head = format!(
        "POST /v1/enroll HTTP/1.1\r\nHost: {to}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    let (head, mut rest) = read_head(&mut stream).await?;
    let head = head.ok_or_else(|| std::io::Error::other("response head too large"))?;
    if !head.starts_with("HTTP/1.") {
        return Err(std::io::Error::other("not an HTTP response"));
    }
    let length = content_length(&head);
    let mut chunk = [0u8; 4096];
    while length.is_none_or(|l| rest.len() < l) && rest.len() <= MAX_RESPONSE_BYTES {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&chunk[..n]);
    }
    if let Some(l) = length {
        if rest.len() < l {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        rest.truncate(l);
    }
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_post_reaches_the_core_and_its_reply_comes_back() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let server = tokio::spawn(serve(listener, tx));
        let core = tokio::spawn(async move {
            let call: EnrollCall = rx.recv().await.unwrap();
            let echoed = call.body.clone();
            call.reply
                .send(EnrollReply {
                    status: 409,
                    body: echoed,
                    retry_after: None,
                })
                .unwrap();
            call.source
        });
        let reply = post_enroll(addr, b"{\"x\":1}".to_vec()).await;
        assert_eq!(reply.as_deref(), Some(&b"{\"x\":1}"[..]));
        assert_eq!(core.await.unwrap(), addr.ip());
        server.abort();
    }

    #[test]
    fn content_length_is_found_case_insensitively() {
        assert_eq!(
            content_length("POST / HTTP/1.1\r\ncontent-LENGTH: 12"),
            Some(12)
        );
        assert_eq!(content_length("POST / HTTP/1.1\r\nHost: x"), None);
    }
}
