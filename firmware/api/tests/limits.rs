//! The request limits of the real server over loopback: `429` per source with a JSON
//! body and `Retry-After`, `413` for declared and for chunked bodies, and the order of
//! the checks (the rate limit comes before the token check).

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use api::Snapshot;
use api::limits::{ErrorBody, Limits};
use api::server::{Access, Auth, Backend, serve, token_sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;
use tokio::sync::watch;

fn snapshot() -> Snapshot {
    support::quiet_snapshot("leaf", Ipv4Addr::new(192, 0, 2, 1))
}

struct Server {
    rt: tokio::runtime::Runtime,
    addr: SocketAddr,
    _snapshots: watch::Sender<Arc<Snapshot>>,
}

fn start(access: Access, limits: Limits) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = watch::channel(Arc::new(snapshot()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let backend = Backend {
        snapshots: rx,
        queries: None,
        config: None,
        enrollment: None,
        kernel: None,
    };
    rt.spawn(serve(listener, backend, Access { limits, ..access }));
    Server {
        rt,
        addr,
        _snapshots: tx,
    }
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Server {
    /// Sends `request` (without the final blank line handling: it is sent as is) from
    /// `source` and reads the whole answer.
    fn send(&self, source: Ipv4Addr, request: &[u8]) -> Answer {
        self.rt.block_on(async {
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
            let mut stream = socket.connect(self.addr).await.unwrap();
            // The server may answer and close before the whole body is written.
            let _ = stream.write_all(request).await;
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw).await;
            let text = String::from_utf8_lossy(&raw).into_owned();
            let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            Answer {
                status,
                head: head.to_ascii_lowercase(),
                body: body.to_string(),
            }
        })
    }

    fn get(&self, source: Ipv4Addr, token: Option<&str>) -> Answer {
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request =
            format!("GET /v1/status HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n");
        self.send(source, request.as_bytes())
    }
}

fn error_body(answer: &Answer) -> ErrorBody {
    serde_json::from_str(&answer.body)
        .unwrap_or_else(|e| panic!("not a JSON error body ({e}): {:?}", answer.body))
}

const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[test]
fn each_source_is_limited_to_its_burst_then_told_when_to_retry() {
    let limits = Limits {
        burst: 5,
        per_second: 1,
        ..Limits::default()
    };
    let server = start(Access::open(), limits);
    for i in 0..5 {
        assert_eq!(server.get(A, None).status, 200, "request {i} of the burst");
    }
    let refused = server.get(A, None);
    assert_eq!(refused.status, 429);
    assert!(refused.head.contains("retry-after: 1"), "{}", refused.head);
    let body = error_body(&refused);
    assert!(
        body.error.contains("too many requests from 127.0.0.1"),
        "{body:?}"
    );
    assert!(body.hint.contains("wait"), "{body:?}");
    // Another source has its own bucket.
    assert_eq!(server.get(B, None).status, 200);
}

#[test]
fn wrong_tokens_spend_the_same_tokens_as_anything_else() {
    let limits = Limits {
        burst: 3,
        per_second: 1,
        ..Limits::default()
    };
    let access = Access {
        auth: Auth::BearerSha256(token_sha256("right")),
        allow_sources: vec![],
        limits: Limits::default(),
    };
    let server = start(access, limits);
    for _ in 0..3 {
        assert_eq!(server.get(A, Some("guess")).status, 401);
    }
    assert_eq!(server.get(A, Some("right")).status, 429);
    assert_eq!(server.get(B, Some("right")).status, 200);
}

#[test]
fn large_bodies_are_refused_whether_declared_or_streamed() {
    let limits = Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    };
    let server = start(Access::open(), limits);
    let fits = format!(
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n{}",
        "x".repeat(1024)
    );
    assert_eq!(server.send(A, fits.as_bytes()).status, 200);

    let declared = format!(
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\nConnection: close\r\n\r\n{}",
        "x".repeat(1025)
    );
    let refused = server.send(A, declared.as_bytes());
    assert_eq!(refused.status, 413);
    let body = error_body(&refused);
    assert!(body.error.contains("larger than 1024 bytes"), "{body:?}");
    assert!(body.hint.contains("smaller"), "{body:?}");

    let chunk = "y".repeat(600);
    let streamed = format!(
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
    );
    assert_eq!(server.send(A, streamed.as_bytes()).status, 413);
}
