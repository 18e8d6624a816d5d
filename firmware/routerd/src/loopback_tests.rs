//! The daemon end to end on loopback, without root: a route reflector admitting a leaf
//! from a dynamic range, the leaf's claim reflected into the RR's Loc-RIB, status served
//! over HTTP, and both stopping cleanly. Kernel routes are left to the `interop` system
//! tests (they need a network namespace).

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use api::PeerList;
use api::client::Client;
use tokio::sync::oneshot;

use crate::daemon;
use crate::router_config::{ApiSettings, ConfigSource, RouterConfig, load_config};

const KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("routerd-loopback-{}", std::process::id()))
}

/// Writes `text` to a per-test file and loads it the way `routerd run --config` does.
fn load(name: &str, text: &str, api_port: u16) -> RouterConfig {
    let dir = scratch_dir();
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    let mut config =
        load_config(&ConfigSource::TomlFile(path)).unwrap_or_else(|e| panic!("{name}: {e}"));
    config.fib = None;
    // BGP only: enrollment and tunnels need root and are the `sam` system test's.
    config.sam = None;
    config.api = Some(ApiSettings {
        binds: vec![([127, 0, 0, 1], api_port).into()],
        access: api::server::Access::open(),
    });
    config
}

fn rr_config(bgp_port: u16) -> String {
    format!(
        r#"trusted_keys = ["{KEY}"]
[node]
name = "rr"
mode = "rr"
router_id = "192.0.2.1"
asn = 65000
board = "dev"
[bgp]
listen_addresses = ["127.0.0.1"]
listen_port = {bgp_port}
hold_time = 9
[[bgp.dynamic]]
prefix = "127.0.0.0/8"
max_peers = 4
template = {{ remote_as = 65000, rr_client = true }}
[sam.rr]
listen_address = "127.0.0.1"
tunnel_address = "127.0.0.1"
[[sam.rr.policies]]
name = "p"
tunnel_prefix = "127.0.0.0/8"
client_prefixes = ["198.51.100.0/24"]
join_tokens = ["0123456789abcdef0123"]
claim_ttl_secs = 3600
max_leaves = 4
"#
    )
}

fn leaf_config(bgp_port: u16) -> String {
    format!(
        r#"trusted_keys = ["{KEY}"]
[node]
name = "leaf"
mode = "leaf"
router_id = "192.0.2.2"
asn = 65000
board = "dev"
[bgp]
listen_port = {bgp_port}
hold_time = 9
[[bgp.peers]]
address = "127.0.0.1"
remote_as = 65000
[sam.leaf]
rr = [{{ enrollment = "127.0.0.1:4179" }}]
join_token = "0123456789abcdef0123"
leaf_id = "leaf"
policy = "p"
[sam.leaf.claim]
tunnel_address = "127.0.0.2"
owned = ["198.51.100.2/32"]
underlay_endpoint = "127.0.0.2"
"#
    )
}

/// Polls `/v1/peers` at `api_port` until `done` holds or 20 s pass.
async fn wait_peers(api_port: u16, done: impl Fn(&PeerList) -> bool) -> PeerList {
    let url = format!("http://127.0.0.1:{api_port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let u = url.clone();
        let answer =
            tokio::task::spawn_blocking(move || Client::new(&u, None).and_then(|c| c.peers()))
                .await
                .expect("client task");
        if let Ok(list) = &answer
            && done(list)
        {
            return list.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out; last answer: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn leaf_and_reflector_peer_exchange_routes_and_stop_cleanly() {
    let bgp_port = free_port();
    let (rr_api, leaf_api) = (free_port(), free_port());
    let rr = load("rr.toml", &rr_config(bgp_port), rr_api);
    let leaf = load("leaf.toml", &leaf_config(bgp_port), leaf_api);
    let _ = std::fs::remove_dir_all(scratch_dir());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (stop_rr, rr_stopped) = oneshot::channel::<()>();
    let (stop_leaf, leaf_stopped) = oneshot::channel::<()>();
    runtime.block_on(async move {
        let rr_task = daemon::run(rr, async {
            let _ = rr_stopped.await;
        });
        let leaf_task = daemon::run(leaf, async {
            let _ = leaf_stopped.await;
        });
        let check = async {
            let rr_view = wait_peers(rr_api, |l| {
                l.peers
                    .iter()
                    .any(|p| p.state == api::ESTABLISHED && p.received == 1)
            })
            .await;
            let peer = &rr_view.peers[0];
            assert_eq!(
                peer.address.to_string(),
                "127.0.0.2",
                "the leaf, from its tunnel address"
            );
            assert!(
                peer.dynamic.is_some(),
                "admitted from the dynamic range: {peer:?}"
            );
            let status = tokio::task::spawn_blocking(move || {
                Client::new(&format!("http://127.0.0.1:{rr_api}"), None).and_then(|c| c.status())
            })
            .await
            .expect("client task")
            .expect("status answers");
            assert_eq!((status.mode.as_str(), status.loc_rib_routes), ("rr", 1));
            // Why the RR holds the leaf's claim: one path, from the leaf, best.
            let view = tokio::task::spawn_blocking(move || {
                Client::new(&format!("http://127.0.0.1:{rr_api}"), None)
                    .and_then(|c| c.routes("198.51.100.2/32"))
            })
            .await
            .expect("client task")
            .expect("routes answer");
            assert_eq!(view.paths.len(), 1, "{view:?}");
            let path = &view.paths[0];
            assert!(path.best);
            assert_eq!(path.from, Some("127.0.0.2".parse().unwrap()));
            assert_eq!(path.next_hop, Some("127.0.0.2".parse().unwrap()));
            assert_eq!(
                path.local_pref,
                Some(100),
                "iBGP carries LOCAL_PREF: {path:?}"
            );
            // A connection from the RR's own address is refused, and counted.
            let _own = tokio::net::TcpStream::connect(("127.0.0.1", bgp_port))
                .await
                .expect("connect");
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let status = tokio::task::spawn_blocking(move || {
                    Client::new(&format!("http://127.0.0.1:{rr_api}"), None)
                        .and_then(|c| c.status())
                })
                .await
                .expect("client task")
                .expect("status answers");
                if status.refused_connections.iter().any(|r| r.count >= 1) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "refusal not counted: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            wait_peers(leaf_api, |l| {
                l.peers
                    .iter()
                    .any(|p| p.state == api::ESTABLISHED && p.advertised == 1)
            })
            .await;
            // The leaf stops: Cease to the RR, which drops the dynamic peer.
            stop_leaf.send(()).expect("leaf running");
            wait_peers(rr_api, |l| {
                l.peers.iter().all(|p| p.state != api::ESTABLISHED)
            })
            .await;
            stop_rr.send(()).expect("rr running");
        };
        let (rr_result, leaf_result, ()) = tokio::join!(rr_task, leaf_task, check);
        rr_result.expect("rr ran and stopped cleanly");
        leaf_result.expect("leaf ran and stopped cleanly");
    });
}
