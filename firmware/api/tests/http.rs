//! The server and the client against each other over loopback.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use api::client::{Client, ClientError};
use api::limits::Limits;
use api::server::{Access, Auth, Backend, serve, token_sha256};
use api::{PeerSnapshot, Snapshot};
use tokio::sync::watch;

fn snapshot(routes: u64) -> Snapshot {
    Snapshot {
        version: "0.1.0".into(),
        mode: "rr".into(),
        router_id: Ipv4Addr::new(192, 0, 2, 1),
        local_as: 65000,
        config: "unsigned development config".into(),
        config_serial: 0,
        uptime_secs: 1,
        loc_rib_routes: routes,
        peers: vec![PeerSnapshot {
            address: "192.0.2.11".parse().unwrap(),
            remote_as: Some(65000),
            state: "Established".into(),
            dynamic: Some("leaves".into()),
            uptime_secs: 1,
            received: 2,
            accepted: 2,
            rejected: vec![],
            advertised: 4,
            last_error: None,
        }],
        refused_connections: vec![],
        sam: None,
        config_trial: None,
        taken_at: Some(Instant::now()),
    }
}

/// Starts a server on an ephemeral loopback port; returns its URL and the publisher.
fn start(rt: &tokio::runtime::Runtime, access: Access) -> (String, watch::Sender<Arc<Snapshot>>) {
    let (tx, rx) = watch::channel(Arc::new(snapshot(0)));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let backend = Backend {
        snapshots: rx,
        queries: None,
        config: None,
        enrollment: None,
        kernel: None,
    };
    rt.spawn(serve(listener, backend, access));
    (url, tx)
}

#[test]
fn serves_the_latest_published_snapshot() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, tx) = start(&rt, Access::open());
    let client = Client::new(&url, None).unwrap();
    assert_eq!(client.status().unwrap().loc_rib_routes, 0);
    tx.send(Arc::new(snapshot(6))).unwrap();
    let status = client.status().unwrap();
    assert_eq!((status.loc_rib_routes, status.peers_established), (6, 1));
    let peers = client.peers().unwrap();
    assert_eq!(peers.peers.len(), 1);
    assert_eq!(peers.peers[0].dynamic.as_deref(), Some("leaves"));
    let metrics = String::from_utf8(client.get("/metrics").unwrap()).unwrap();
    assert!(
        metrics.lines().any(|l| l == "routerd_loc_rib_routes 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("routerd_peer_established{peer=\"192.0.2.11\"} 1"),
        "{metrics}"
    );
    for (path, code) in [
        ("/v1/routes?prefix=nonsense", 400),
        ("/v1/routes?after=nonsense", 400),
        ("/v1/routes?limit=0", 400),
        ("/v1/routes?limit=1001", 400),
        ("/v1/routes?prefix=198.51.100.0/24", 503),
        ("/v1/routes", 503),
        (
            "/v1/routes?prefix=10.0.0.0/8&limit=10&after=10.1.0.0/16",
            503,
        ),
    ] {
        match client.get(path) {
            Err(ClientError::Status { status, .. }) if status == code => {}
            other => panic!("{path}: expected {code}, got {other:?}"),
        }
    }
    match client.get("/v1/nothing") {
        Err(ClientError::Status { status: 404, .. }) => {}
        other => panic!("expected 404, got {other:?}"),
    }
}

#[test]
fn bearer_token_is_required_when_configured() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (url, _tx) = start(
        &rt,
        Access {
            auth: Auth::BearerSha256(token_sha256("s3cret")),
            allow_sources: vec![],
            limits: Limits::default(),
        },
    );
    for token in [None, Some("wrong".to_string())] {
        match Client::new(&url, token).unwrap().status() {
            Err(ClientError::Status { status: 401, .. }) => {}
            other => panic!("expected 401, got {other:?}"),
        }
    }
    let ok = Client::new(&url, Some("s3cret".into()))
        .unwrap()
        .peers()
        .unwrap();
    assert_eq!(ok.peers.len(), 1);
}

#[test]
fn unreachable_router_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
    assert!(matches!(
        client.status(),
        Err(ClientError::Unreachable { .. })
    ));
}

#[test]
fn sources_outside_the_allowlist_are_refused() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let only_docs = Access {
        auth: Auth::Open,
        allow_sources: vec!["192.0.2.0/24".parse().unwrap()],
        limits: Limits::default(),
    };
    let (url, _tx) = start(&rt, only_docs);
    match Client::new(&url, None).unwrap().status() {
        Err(ClientError::Status { status: 403, .. }) => {}
        other => panic!("expected 403, got {other:?}"),
    }
    let loopback = Access {
        auth: Auth::Open,
        allow_sources: vec!["127.0.0.0/8".parse().unwrap()],
        limits: Limits::default(),
    };
    let (url, _tx2) = start(&rt, loopback);
    assert!(Client::new(&url, None).unwrap().status().is_ok());
}
