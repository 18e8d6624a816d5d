//! SAM faults: a state directory that stops taking writes, a leaf rebooted, the RR
//! rebooted. Every fabric here runs an RR and enrolled leaves on the userspace datapath
//! (`system_tests::faults::sam_lab`), hold time 9 s.

use std::time::{Duration, Instant};

use system_tests::faults::sam_lab::{FILLER, Fabric, HOLD, SamNode, StateDir, client};
use system_tests::netns::{Proc, wait_for};
use system_tests::require_root;
use system_tests::traffic::{PingStream, unix_now};

/// Deadline for enrollment, tunnels, sessions and routes.
const CONVERGE_SECS: u64 = 60;
/// A state write is retried every 5 s (`routerd::sam::store::RETRY_INTERVAL`); a lifted
/// fault must be gone from the status within two retries and some slack.
const RETRY_SECS: u64 = 15;

/// Waits until `node`'s `/v1/status` shows a `state_error` containing `needle`.
fn expect_state_error(node: &SamNode, needle: &str) -> String {
    let found = wait_for(RETRY_SECS, || {
        node.api("/v1/status")
            .and_then(|s| s["state_error"].as_str().map(str::to_string))
            .filter(|e| e.contains(needle))
    });
    found.unwrap_or_else(|| {
        panic!(
            "{}: no state_error with `{needle}` in {}\nlog:\n{}",
            node.name,
            node.status(),
            node.logs()
        )
    })
}

/// Waits until `node`'s `/v1/status` has no `state_error` (the write went through).
fn expect_state_written(node: &SamNode, what: &str) {
    let cleared = wait_for(RETRY_SECS, || {
        node.api("/v1/status")
            .filter(|s| s["state_error"].is_null())
            .map(|_| ())
    });
    assert!(
        cleared.is_some(),
        "{}: {what}: state_error still set: {}\nlog:\n{}",
        node.name,
        node.status(),
        node.logs()
    );
}

/// The contents of `file` in `node`'s state directory, read in its mount namespace.
fn state_file(node: &SamNode, file: &str) -> String {
    let out = node.in_mounts(&format!("cat {}/{file}", node.state.display()));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_read_only_or_full_state_directory_keeps_routing_from_memory() {
    if !require_root() {
        return;
    }
    let tmpfs = StateDir::Tmpfs {
        read_only: false,
        full: false,
    };
    let mut fabric = Fabric::new("fst", tmpfs);
    fabric.add_leaf(1, StateDir::Disk);
    fabric.add_leaf(2, StateDir::Disk);
    fabric.expect_mesh(&[1, 2], CONVERGE_SECS, "initial fabric");
    let rr_state = fabric.rr.state.display().to_string();

    // Read-only: the RR's state directory turns read-only, and leaf 3 starts on a
    // read-only one. Leaf 3 still enrolls (the RR keeps its claim in memory), its /32
    // reaches the other leaves and theirs reach it.
    let out = fabric
        .rr
        .in_mounts(&format!("mount -o remount,ro {rr_state}"));
    assert!(out.status.success(), "{out:?}");
    fabric.add_leaf(
        3,
        StateDir::Tmpfs {
            read_only: true,
            full: false,
        },
    );
    fabric.expect_mesh(
        &[1, 2, 3],
        CONVERGE_SECS,
        "leaf 3 enrolled on read-only state",
    );
    let rr_error = expect_state_error(&fabric.rr, "Read-only file system");
    assert!(rr_error.contains("enrollment registry"), "{rr_error}");
    let leaf_error = expect_state_error(fabric.leaf(3), "Read-only file system");
    assert!(leaf_error.contains("enrollment state"), "{leaf_error}");
    for node in [&fabric.rr, fabric.leaf(3)] {
        let errors = node
            .logs()
            .lines()
            .filter(|l| l.contains("ERROR") && l.contains("running from memory"))
            .count();
        assert!(
            errors >= 1,
            "{}: no clear error logged:\n{}",
            node.name,
            node.logs()
        );
    }
    assert!(fabric.rr.running(), "rr died:\n{}", fabric.rr.logs());
    assert!(fabric.leaf_mut(3).running(), "leaf 3 died");

    // Lifted: the next retry writes the registry (with leaf 3's claim) and leaf 3's
    // enrollment state.
    let out = fabric
        .rr
        .in_mounts(&format!("mount -o remount,rw {rr_state}"));
    assert!(out.status.success(), "{out:?}");
    let leaf3_state = fabric.leaf(3).state.display().to_string();
    let out = fabric
        .leaf(3)
        .in_mounts(&format!("mount -o remount,rw {leaf3_state}"));
    assert!(out.status.success(), "{out:?}");
    expect_state_written(&fabric.rr, "after remount rw");
    expect_state_written(fabric.leaf(3), "after remount rw");
    assert!(
        state_file(&fabric.rr, "sam-registry.json").contains("leaf-3"),
        "registry on disk lacks leaf 3"
    );
    assert!(
        !state_file(fabric.leaf(3), "sam-leaf.json").is_empty(),
        "leaf 3 state not on disk"
    );

    // Full: the RR's tmpfs fills up, and leaf 4 starts on a full one.
    let out = fabric.rr.in_mounts(&format!(
        "dd if=/dev/zero of={rr_state}/{FILLER} bs=4k 2>/dev/null; true"
    ));
    assert!(out.status.success(), "{out:?}");
    fabric.add_leaf(
        4,
        StateDir::Tmpfs {
            read_only: false,
            full: true,
        },
    );
    fabric.expect_mesh(
        &[1, 2, 3, 4],
        CONVERGE_SECS,
        "leaf 4 enrolled on full state",
    );
    expect_state_error(&fabric.rr, "No space left on device");
    expect_state_error(fabric.leaf(4), "No space left on device");
    assert!(
        !state_file(&fabric.rr, "sam-registry.json").contains("leaf-4"),
        "the registry cannot have reached a full disk"
    );

    // Lifted: space freed, the next retry succeeds.
    let out = fabric.rr.in_mounts(&format!("rm {rr_state}/{FILLER}"));
    assert!(out.status.success(), "{out:?}");
    let leaf4_state = fabric.leaf(4).state.display().to_string();
    let out = fabric
        .leaf(4)
        .in_mounts(&format!("rm {leaf4_state}/{FILLER}"));
    assert!(out.status.success(), "{out:?}");
    expect_state_written(&fabric.rr, "after freeing space");
    expect_state_written(fabric.leaf(4), "after freeing space");
    assert!(state_file(&fabric.rr, "sam-registry.json").contains("leaf-4"));
    assert!(!state_file(fabric.leaf(4), "sam-leaf.json").is_empty());
    let no_temp = fabric.rr.in_mounts(&format!("ls {rr_state}"));
    assert!(
        !String::from_utf8_lossy(&no_temp.stdout).contains(".tmp"),
        "a failed write left its temporary file"
    );

    // Nothing crashed, and routing never stopped.
    fabric.expect_mesh(&[1, 2, 3, 4], 5, "after the faults");
    assert!(fabric.rr.running(), "rr died:\n{}", fabric.rr.logs());
    for n in 1..=4 {
        let leaf = fabric.leaf_mut(n);
        assert!(leaf.running(), "leaf {n} died:\n{}", leaf.logs());
    }
}

/// The RR's claim of `leaf` as (accepted_at, digest); retried for up to 5 s, empty when
/// there is none.
fn claim(rr: &SamNode, leaf: &str) -> (u64, String) {
    let found = wait_for(5, || {
        let claim = rr.claim_of(leaf)?;
        Some((
            claim["accepted_at"].as_u64()?,
            claim["digest"].as_str()?.to_string(),
        ))
    });
    found.unwrap_or_default()
}

/// Seconds from now until `done` holds, polled every 100 ms; `None` after `secs`.
fn time_until(secs: u64, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    wait_for(secs, || done().then(|| start.elapsed()))
}

#[test]
fn a_rebooted_leaf_is_withdrawn_within_the_hold_time_and_returns_without_enrolling() {
    if !require_root() {
        return;
    }
    let mut fabric = Fabric::new("flr", StateDir::Disk);
    fabric.add_leaf(1, StateDir::Disk);
    fabric.add_leaf(2, StateDir::Disk);
    fabric.expect_mesh(&[1, 2], CONVERGE_SECS, "initial fabric");
    let before = claim(&fabric.rr, "leaf-2");
    assert!(
        !before.1.is_empty(),
        "leaf 2 has no claim on the RR: {:?}",
        fabric.rr.api("/v1/enrollment")
    );

    fabric.leaf_mut(2).kill();
    let gone = time_until(HOLD + 5, || !fabric.leaf(1).has_route_to(2));
    let gone = gone.unwrap_or_else(|| {
        panic!(
            "leaf 2's /32 still at leaf 1 {} s after the kill: {:?}\nrr log:\n{}",
            HOLD + 5,
            fabric.leaf(1).kernel_routes(),
            system_tests::peers::log_tail(&fabric.rr.log, 30)
        )
    });
    eprintln!(
        "leaf 2 killed: its /32 withdrawn at leaf 1 after {:.1} s (hold time {HOLD} s)",
        gone.as_secs_f64()
    );
    // The RR notices by hold timer expiry (the dead leaf sends nothing), then
    // reflects the withdrawal at once: within the hold time plus one timer tick.
    assert!(
        gone <= Duration::from_secs(HOLD + 2),
        "withdrawn after {gone:?}, hold time {HOLD} s"
    );

    let restarted = Instant::now();
    fabric.leaf_mut(2).start();
    fabric.expect_mesh(&[1, 2], CONVERGE_SECS, "leaf 2 back");
    eprintln!(
        "leaf 2 restarted: routes both ways again after {:.1} s",
        restarted.elapsed().as_secs_f64()
    );
    let log = fabric.leaf(2).logs();
    assert!(
        log.contains("leaf enrollment state loaded"),
        "leaf 2 did not load its state:\n{log}"
    );
    assert!(
        !log.lines().any(|l| l.contains(" enrolled")),
        "leaf 2 enrolled again instead of using its stored RR set:\n{log}"
    );
    assert_eq!(
        claim(&fabric.rr, "leaf-2"),
        before,
        "the RR's claim for leaf 2 changed: it enrolled again"
    );
}

/// `ip -4 -ts monitor route` in a namespace (UTC timestamps), written to a file.
struct RouteMonitor {
    _proc: Proc,
    log: std::path::PathBuf,
}

/// One change of a leaf's client /32 seen by a [`RouteMonitor`].
#[derive(Debug, Clone)]
struct RouteEvent {
    /// Seconds since midnight UTC.
    at: f64,
    deleted: bool,
    prefix: String,
}

impl RouteMonitor {
    fn start(node: &SamNode, dir: &std::path::Path) -> RouteMonitor {
        let log = dir.join(format!("{}-routes.log", node.name));
        let proc = node.ns.spawn(
            "env",
            &["TZ=UTC", "ip", "-4", "-ts", "monitor", "route"],
            &log,
        );
        RouteMonitor { _proc: proc, log }
    }

    /// Changes of routes to the leaves' client /32s (10.20.0.0/16) so far.
    fn events(&self) -> Vec<RouteEvent> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let (stamp, rest) = line.strip_prefix('[')?.split_once("] ")?;
                let time = stamp.split_once('T')?.1;
                let mut parts = time.split(':');
                let h: f64 = parts.next()?.parse().ok()?;
                let m: f64 = parts.next()?.parse().ok()?;
                let sec: f64 = parts.next()?.parse().ok()?;
                let deleted = rest.starts_with("Deleted ");
                let prefix = rest.trim_start_matches("Deleted ").split(' ').next()?;
                prefix.starts_with("10.20.").then(|| RouteEvent {
                    at: h * 3600.0 + m * 60.0 + sec,
                    deleted,
                    prefix: prefix.to_string(),
                })
            })
            .collect()
    }
}

/// Seconds since midnight UTC of a unix time.
fn time_of_day(unix: f64) -> f64 {
    unix % 86_400.0
}

#[test]
fn an_rr_restart_withdraws_nothing_at_the_leaves_and_recovers_at_once() {
    if !require_root() {
        return;
    }
    let mut fabric = Fabric::new("frr", StateDir::Disk);
    fabric.add_leaf(1, StateDir::Disk);
    fabric.add_leaf(2, StateDir::Disk);
    fabric.expect_mesh(&[1, 2], CONVERGE_SECS, "initial fabric");
    let dir = fabric.scratch.dir("observe");
    let monitors = [
        RouteMonitor::start(fabric.leaf(1), &dir),
        RouteMonitor::start(fabric.leaf(2), &dir),
    ];
    // Traffic between the two sites' /32s (through the RR, the hub of the tunnels).
    let src = client(1).to_string();
    let dst = client(2).to_string();
    let ping = PingStream::start(&fabric.leaf(1).ns, &src, &dst, &dir.join("ping.log"))
        .unwrap_or_else(|log| panic!("no traffic from {src} to {dst} before the fault:\n{log}"));
    std::thread::sleep(Duration::from_secs(1));

    let killed_at = unix_now();
    fabric.rr.kill();
    // Fail-static while the RR is down, past the hold time: the leaves keep their routes.
    std::thread::sleep(Duration::from_secs(HOLD + 3));
    for n in [1, 2] {
        let other = 3 - n;
        assert!(
            fabric.leaf(n).has_route_to(other),
            "leaf {n} dropped leaf {other}'s /32 while the RR was down: {:?}",
            fabric.leaf(n).kernel_routes()
        );
    }
    let restarted_at = unix_now();
    fabric.rr.start();
    let sessions = wait_for(CONVERGE_SECS, || {
        let peers = fabric.rr.api("/v1/peers")?;
        let up = peers["peers"]
            .as_array()?
            .iter()
            .filter(|p| p["state"] == "Established")
            .count();
        (up == 2).then(unix_now)
    });
    let sessions_at = sessions.unwrap_or_else(|| {
        panic!(
            "the restarted RR did not get both sessions back: {}\n{}",
            fabric.rr.status(),
            fabric.rr.logs()
        )
    });
    let resumed = wait_for(CONVERGE_SECS, || {
        ping.reply_times().into_iter().find(|&t| t > restarted_at)
    });
    // Give End-of-RIB and any late churn time to show up in the FIB.
    std::thread::sleep(Duration::from_secs(HOLD));
    fabric.expect_mesh(&[1, 2], 5, "after the RR restart");
    let last_before = ping
        .reply_times()
        .into_iter()
        .filter(|&t| t <= killed_at)
        .fold(0.0, f64::max);
    // Withdrawals while the RR was down (must be none: fail-static), and after its
    // restart, each with the time until the route came back.
    let (down_from, down_to) = (time_of_day(killed_at), time_of_day(restarted_at));
    let mut while_down = Vec::new();
    let mut after_restart = Vec::new();
    for (n, monitor) in [1u8, 2].iter().zip(&monitors) {
        let events = monitor.events();
        for (i, e) in events.iter().enumerate().filter(|(_, e)| e.deleted) {
            let back = events[i + 1..]
                .iter()
                .find(|later| !later.deleted && later.prefix == e.prefix)
                .map(|later| later.at - e.at);
            let entry = (*n, e.prefix.clone(), back);
            if e.at >= down_from && e.at < down_to {
                while_down.push(entry);
            } else if e.at >= down_to {
                after_restart.push(entry);
            }
        }
    }
    eprintln!(
        "RR down for {:.1} s (SIGKILL, restarted after the hold time); sessions back {:.1} s after the restart; traffic gap {}; FIB withdrawals at the leaves: {} while the RR was down, {} after its restart {after_restart:?} (leaf, prefix, seconds until back)",
        restarted_at - killed_at,
        sessions_at - restarted_at,
        match resumed {
            Some(t) => format!(
                "{:.1} s (last reply {:.1} s before the kill, first {:.1} s after the restart)",
                t - last_before,
                killed_at - last_before,
                t - restarted_at
            ),
            None => "not closed".to_string(),
        },
        while_down.len(),
        after_restart.len(),
    );
    assert!(
        resumed.is_some(),
        "traffic did not resume after the RR restart:\n{}",
        system_tests::peers::log_tail(ping.log(), 20)
    );
    assert!(
        while_down.is_empty(),
        "leaves withdrew routes while the RR was down: {while_down:?}"
    );
    // The restarted RR defers its export and End-of-RIB until both leaves have sent
    // theirs (RFC 4724 selection deferral): no leaf drops the other's stale /32, before
    // or after the restart. The monitors ran through the whole window.
    assert!(
        after_restart.is_empty(),
        "leaves withdrew routes after the RR restart: {after_restart:?}\n{}",
        fabric.rr.logs()
    );
    assert!(
        fabric
            .rr
            .logs()
            .contains("export waits for the enrolled leaves' End-of-RIB"),
        "the restarted RR did not restart gracefully:\n{}",
        fabric.rr.logs()
    );
}
