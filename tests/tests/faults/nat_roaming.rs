//! The NAT-ed leaf's public port changes: the NAT in front of leaf 2 moves its
//! masquerade port range and forgets its mappings (`conntrack -F`), so the leaf's next
//! packets leave from a new public port. The RR's WireGuard endpoint for the leaf must
//! roam to it, the tunnel and the session recover, routes and client traffic come back,
//! and nothing enrolls again.

use std::time::{Duration, Instant};

use system_tests::faults::sam_lab::{Fabric, SamNode, StateDir, client};
use system_tests::netns::wait_for;
use system_tests::require_root;
use system_tests::traffic::{PingStream, unix_now};

/// Deadline for enrollment, tunnels, sessions and routes.
const CONVERGE_SECS: u64 = 60;
/// The NAT's port range before and after the change.
const PORTS_BEFORE: &str = "40000-40099";
const PORTS_AFTER: &str = "41000-41099";

/// The RR's view of `leaf`'s claim: (accepted_at, digest, learned endpoint).
fn claim(rr: &SamNode, leaf: &str) -> Option<(u64, String, String)> {
    let claim = rr.claim_of(leaf)?;
    Some((
        claim["accepted_at"].as_u64()?,
        claim["digest"].as_str()?.to_string(),
        claim["endpoint_learned"].as_str()?.to_string(),
    ))
}

/// The port of an `ip:port` endpoint.
fn port_of(endpoint: &str) -> Option<u16> {
    endpoint.rsplit_once(':')?.1.parse().ok()
}

#[test]
fn a_nat_port_change_roams_the_endpoint_and_recovers_without_enrolling() {
    if !require_root() {
        return;
    }
    let mut fabric = Fabric::new("fnat", StateDir::Disk);
    fabric.add_leaf(1, StateDir::Disk);
    fabric.add_leaf_behind_nat(2, PORTS_BEFORE);
    fabric.expect_mesh(&[1, 2], CONVERGE_SECS, "initial fabric");
    let before = wait_for(CONVERGE_SECS, || claim(&fabric.rr, "leaf-2")).unwrap_or_else(|| {
        panic!(
            "no learned endpoint for leaf-2: {:?}",
            fabric.rr.api("/v1/enrollment")
        )
    });
    let nat_ip = "203.0.113.32:";
    assert!(
        before.2.starts_with(nat_ip)
            && port_of(&before.2).is_some_and(|p| (40000..=40099).contains(&p)),
        "leaf-2's endpoint is not the NAT's first range: {before:?}"
    );

    let dir = fabric.scratch.dir("observe");
    let (src, dst) = (client(1).to_string(), client(2).to_string());
    let ping = PingStream::start(&fabric.leaf(1).ns, &src, &dst, &dir.join("ping.log"))
        .unwrap_or_else(|_| panic!("no traffic from {src} to {dst} before the fault"));

    // The fault: a new port range, and every existing mapping forgotten.
    let nat = fabric.nat(2);
    system_tests::traffic::masquerade(nat, "wan0", Some(PORTS_AFTER));
    let changed_at = unix_now();
    let started = Instant::now();
    let flushed = nat.exec("conntrack", &["-F"]);
    assert!(
        flushed.status.success(),
        "conntrack -F: {}",
        String::from_utf8_lossy(&flushed.stderr)
    );

    let roamed = wait_for(CONVERGE_SECS, || {
        let c = claim(&fabric.rr, "leaf-2")?;
        port_of(&c.2)
            .is_some_and(|p| (41000..=41099).contains(&p))
            .then(|| (started.elapsed(), c))
    });
    let (roam_time, after) = roamed.unwrap_or_else(|| {
        panic!(
            "the RR's endpoint for leaf-2 did not move to the new port range: {:?}\nrr log:\n{}",
            claim(&fabric.rr, "leaf-2"),
            fabric.rr.logs()
        )
    });
    let resumed = wait_for(CONVERGE_SECS, || {
        ping.reply_times().into_iter().find(|&t| t > changed_at)
    });
    let last_before = ping
        .reply_times()
        .into_iter()
        .filter(|&t| t <= changed_at)
        .fold(0.0, f64::max);
    fabric.expect_mesh(&[1, 2], CONVERGE_SECS, "after the NAT port change");
    // Still flowing a few seconds later (not one lucky reply).
    std::thread::sleep(Duration::from_secs(3));
    let late = ping
        .reply_times()
        .into_iter()
        .filter(|&t| t > unix_now() - 2.0)
        .count();
    eprintln!(
        "NAT port change: endpoint {} -> {} seen at the RR after {:.1} s; traffic gap {} (replies in the last 2 s: {late})",
        before.2,
        after.2,
        roam_time.as_secs_f64(),
        match resumed {
            Some(t) => format!(
                "{:.2} s (first reply {:.2} s after the change)",
                t - last_before,
                t - changed_at
            ),
            None => "not closed".to_string(),
        },
    );
    assert!(
        resumed.is_some(),
        "traffic did not resume after the NAT port change:\n{}",
        system_tests::peers::log_tail(ping.log(), 20)
    );
    assert!(
        late >= 10,
        "traffic not flowing steadily after the change: {late} replies in 2 s"
    );
    assert!(
        after.2.starts_with(nat_ip),
        "endpoint moved off the NAT's address: {after:?}"
    );
    assert_eq!(
        (&after.0, &after.1),
        (&before.0, &before.1),
        "leaf-2's claim changed: it enrolled again"
    );
    let enrollments = |n: &SamNode| n.logs().matches("claim accepted").count();
    assert_eq!(
        enrollments(&fabric.rr),
        2,
        "the RR accepted more claims than the two first enrollments"
    );
}
