//! `GET /v1/kernel` over loopback: the published kernel view, updates, and 404 on a
//! router without one.

mod support;

use std::net::Ipv4Addr;
use std::sync::Arc;

use api::Snapshot;
use api::client::{Client, ClientError};
use api::kernel::{KernelLink, KernelNextHop, KernelRoute, KernelView};
use api::server::{Access, Backend, serve};
use tokio::sync::watch;

fn snapshot() -> Snapshot {
    support::quiet_snapshot("leaf", Ipv4Addr::new(192, 0, 2, 11))
}

fn view(prefixes: &[&str]) -> KernelView {
    KernelView {
        table: 254,
        protocol: 186,
        read_at_unix_secs: 1_800_000_000,
        routes: prefixes
            .iter()
            .map(|p| KernelRoute {
                prefix: (*p).to_string(),
                next_hops: vec![KernelNextHop {
                    via: Some("100.64.0.1".parse().unwrap()),
                    device: Some("sam0".into()),
                    onlink: true,
                }],
            })
            .collect(),
        links: vec![KernelLink {
            index: 1,
            name: "lo".into(),
            operstate: "unknown".into(),
            kind: None,
        }],
        connected: vec![KernelRoute {
            prefix: "10.1.0.0/24".into(),
            next_hops: vec![KernelNextHop {
                via: None,
                device: Some("lan0".into()),
                onlink: false,
            }],
        }],
        error: None,
    }
}

fn start(rt: &tokio::runtime::Runtime, kernel: Option<watch::Receiver<Arc<KernelView>>>) -> Client {
    let (_tx, rx) = watch::channel(Arc::new(snapshot()));
    // The snapshot sender may go: handlers read the last value.
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let backend = Backend {
        snapshots: rx,
        queries: None,
        config: None,
        enrollment: None,
        kernel,
    };
    rt.spawn(serve(listener, backend, Access::open()));
    Client::new(&url, None).unwrap()
}

#[test]
fn serves_the_latest_kernel_view() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = watch::channel(Arc::new(view(&["10.1.0.10/32"])));
    let client = start(&rt, Some(rx));
    let first = client.kernel().unwrap();
    assert_eq!(first, view(&["10.1.0.10/32"]));
    assert!(first.route("10.1.0.10/32").is_some());
    assert!(first.route("10.2.0.10/32").is_none());

    tx.send(Arc::new(view(&["10.1.0.10/32", "10.2.0.10/32"])))
        .unwrap();
    let second = client.kernel().unwrap();
    assert_eq!(second.routes.len(), 2);
    assert_eq!(
        second.route("10.2.0.10/32").unwrap().next_hops[0]
            .device
            .as_deref(),
        Some("sam0")
    );
}

#[test]
fn a_router_without_a_kernel_table_answers_404() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = start(&rt, None);
    match client.kernel() {
        Err(ClientError::Status { status, body }) => {
            assert_eq!(status, 404);
            assert!(body.contains("no kernel table"), "{body}");
        }
        other => panic!("expected 404, got {other:?}"),
    }
}

#[test]
fn lookup_takes_the_most_specific_route() {
    let v = view(&["10.2.0.10/32"]);
    let dev = |a: &str| {
        v.lookup(a.parse().unwrap())
            .and_then(|r| r.next_hops[0].device.clone())
    };
    assert_eq!(dev("10.2.0.10").as_deref(), Some("sam0"));
    assert_eq!(dev("10.1.0.10").as_deref(), Some("lan0"));
    assert_eq!(dev("10.3.0.10"), None);
    assert_eq!(v.link("lo").map(|l| l.index), Some(1));
}
