//! Session behaviour between two speakers: connection collision, hold timer expiry,
//! keepalives, and the idle-hold backoff of a flapping peer.
//!
//! ```text
//!   a 10.0.0.1  <---- iBGP ---->  b 10.0.0.2
//! ```

mod scenario_net;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bgp::session::backoff::BackoffConfig;
use bgp::speaker::{Input, PeerConfig};
use scenario_net::*;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn ip(a: Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

#[test]
fn collision_keeps_the_connection_opened_by_the_higher_router_id() {
    let mut n = Net::new();
    let a = n.add("a", A, None);
    let b = n.add("b", B, None);
    // Both sides connect at the same instant.
    n.input_quiet(a, Input::AddPeer(ibgp(ip(B))));
    n.input_quiet(b, Input::AddPeer(ibgp(ip(A))));
    n.settle();
    n.advance(Duration::from_secs(1));
    assert_eq!(n.state(a, ip(B)).as_deref(), Some("Established"));
    assert_eq!(n.state(b, ip(A)).as_deref(), Some("Established"));
    // One connection is left, the one b (higher BGP identifier) opened.
    assert_eq!(n.connections(), vec![(ip(B), ip(A))]);
    let cease_collision = (6, 7);
    assert!(
        n.notifications_sent(a).contains(&cease_collision)
            || n.notifications_sent(b).contains(&cease_collision)
    );
    // And it stays up.
    n.advance(Duration::from_secs(300));
    assert_eq!(n.state(a, ip(B)).as_deref(), Some("Established"));
    assert_eq!(n.connections().len(), 1);
}

fn pair(hold_time: u16) -> (Net, usize, usize) {
    let mut n = Net::new();
    let a = n.add("a", A, None);
    let b = n.add("b", B, None);
    n.input(
        b,
        Input::AddPeer(PeerConfig {
            passive: true,
            hold_time,
            ..ibgp(ip(A))
        }),
    );
    n.input(
        a,
        Input::AddPeer(PeerConfig {
            hold_time,
            ..ibgp(ip(B))
        }),
    );
    n.input(
        b,
        Input::Announce {
            prefix: net("203.0.113.0/24"),
            attrs: origin_attrs(),
        },
    );
    n.advance(Duration::from_secs(1));
    assert_eq!(n.state(a, ip(B)).as_deref(), Some("Established"));
    (n, a, b)
}

#[test]
fn keepalives_hold_a_quiet_session_up() {
    let (mut n, a, b) = pair(30);
    n.advance(Duration::from_secs(600));
    assert_eq!(n.state(a, ip(B)).as_deref(), Some("Established"));
    assert!(n.notifications_sent(a).is_empty() && n.notifications_sent(b).is_empty());
    // Keepalive every hold/3 = 10 s: about 60 in 600 s from each side.
    let keepalives = n.nodes[a]
        .sent
        .iter()
        .filter(|(_, m)| matches!(m, bgp::wire::Message::Keepalive))
        .count();
    assert!((55..=65).contains(&keepalives), "{keepalives} keepalives");
}

#[test]
fn hold_timer_expiry_sends_notification_and_keeps_routes_stale() {
    let (mut n, a, _b) = pair(9);
    assert!(n.nodes[a].fib.contains_key(&net("203.0.113.0/24")));
    n.blackhole(ip(A), ip(B), true);
    // The last KEEPALIVE got through at most 1 s ago: still up 7 s later, gone 3 s after.
    n.advance(Duration::from_secs(7));
    assert_eq!(n.state(a, ip(B)).as_deref(), Some("Established"));
    n.advance(Duration::from_secs(3));
    assert!(
        n.notifications_sent(a).contains(&(4, 0)),
        "hold timer expired sent"
    );
    assert_ne!(n.state(a, ip(B)).as_deref(), Some("Established"));
    // Both sides set the graceful restart N bit (RFC 8538): the routes stay, stale.
    assert!(
        n.nodes[a].fib.contains_key(&net("203.0.113.0/24")),
        "routes of the dead session kept stale"
    );
    assert_eq!(n.nodes[a].speaker.peers()[0].stale, 1);
    let status = n.nodes[a].speaker.peers();
    assert_eq!(status[0].last_error.as_deref(), Some("hold timer expired"));
    // The path heals: the session and the route come back.
    n.blackhole(ip(A), ip(B), false);
    n.cut(a, 1);
    assert!(
        n.time_to_established(a, ip(B), Duration::from_secs(60))
            .is_some()
    );
    n.advance(Duration::from_secs(1));
    assert!(n.nodes[a].fib.contains_key(&net("203.0.113.0/24")));
    assert_eq!(n.nodes[a].speaker.peers()[0].stale, 0);
    assert_eq!(n.nodes[a].fib_withdrawals, 0);
}

#[test]
fn flapping_peer_backs_off_doubling_then_resets_after_stable_period() {
    let mut n = Net::new();
    let a = n.add("a", A, None);
    let b = n.add("b", B, None);
    let backoff = BackoffConfig {
        base: Duration::from_secs(2),
        cap: Duration::from_secs(16),
        stable: Duration::from_secs(60),
    };
    n.nodes[a].speaker.set_backoff(backoff);
    // b admits a dynamically, so only a's backoff decides the timing.
    n.input(b, Input::AddRange(client_range("r", "10.0.0.0/24", 4)));
    n.input(a, Input::AddPeer(ibgp(ip(B))));
    n.advance(Duration::from_secs(1));
    let mut waits = Vec::new();
    for _ in 0..5 {
        n.cut(a, b);
        let t = n
            .time_to_established(a, ip(B), Duration::from_secs(60))
            .expect("re-established");
        waits.push(t.as_secs());
    }
    assert_eq!(waits, vec![2, 4, 8, 16, 16]);
    // Stable for a minute: the next flap waits the base time again.
    n.advance(Duration::from_secs(61));
    n.cut(a, b);
    assert_eq!(
        n.time_to_established(a, ip(B), Duration::from_secs(60)),
        Some(Duration::from_secs(2))
    );
}

#[test]
fn removing_a_peer_sends_deconfigured_and_withdraws_its_routes() {
    let (mut n, a, b) = pair(90);
    assert!(n.nodes[a].fib.contains_key(&net("203.0.113.0/24")));
    n.input(a, Input::RemovePeer(ip(B)));
    // Cease/Hard Reset (RFC 8538) carrying Cease/Peer De-configured.
    assert!(n.notifications_sent(a).contains(&(6, 9)));
    assert!(n.nodes[a].fib.is_empty());
    assert!(n.nodes[a].speaker.peers().is_empty());
    assert_eq!(n.nodes[a].speaker.loc_rib_len(), 0);
    // b notices and, being passive, waits.
    assert_ne!(n.state(b, ip(A)).as_deref(), Some("Established"));
    n.advance(Duration::from_secs(300));
    assert!(
        n.connections().is_empty(),
        "a never reconnects to a removed peer"
    );
}

#[test]
fn changing_session_settings_resets_with_cease_config_change() {
    let (mut n, a, b) = pair(90);
    n.input(
        a,
        Input::AddPeer(PeerConfig {
            hold_time: 30,
            ..ibgp(ip(B))
        }),
    );
    assert!(n.notifications_sent(a).contains(&(6, 6)));
    // b idles for its backoff, then a's new session comes up with hold time 30.
    assert!(
        n.time_to_established(a, ip(B), Duration::from_secs(30))
            .is_some()
    );
    assert!(n.nodes[a].fib.contains_key(&net("203.0.113.0/24")));
    let opens: Vec<u16> = n.nodes[a]
        .sent
        .iter()
        .filter_map(|(_, m)| match m {
            bgp::wire::Message::Open(o) => Some(o.hold_time),
            _ => None,
        })
        .collect();
    assert_eq!(opens.last(), Some(&30));
    // A policy-only change keeps the session.
    let before = n.notifications_sent(a).len();
    let import = bgp::policy::Policy::allow_only([], "nothing");
    n.input(
        a,
        Input::AddPeer(PeerConfig {
            hold_time: 30,
            import,
            ..ibgp(ip(B))
        }),
    );
    assert_eq!(n.notifications_sent(a).len(), before);
    assert!(
        n.nodes[a].fib.is_empty(),
        "re-evaluated with the new import policy"
    );
    let st = &n.nodes[a].speaker.peers()[0];
    assert_eq!(st.rejected, vec![("nothing".to_string(), 1)]);
    let _ = b;
}
