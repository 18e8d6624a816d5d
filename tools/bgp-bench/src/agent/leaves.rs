//! Many leaves in one namespace: on `go`, `count` sessions connect at once from
//! consecutive source addresses. Leaf `i` announces /32 number `i` and counts the
//! distinct /32s of the other leaves it receives. The agent says `established` when
//! every session is up and `delivered` when every leaf holds all the others' routes.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{AgentError, Command, HOLD_SECS, control, say, session};
use crate::prefixes::{host_route, host_route_index};
use crate::wire;

#[derive(Debug, Default)]
struct Progress {
    established: AtomicUsize,
    delivered: AtomicUsize,
    received: AtomicUsize,
}

/// Runs the leaves until the parent closes stdin.
pub(super) async fn run(
    rr: Ipv4Addr,
    first: Ipv4Addr,
    count: usize,
    connect_secs: u64,
) -> Result<(), AgentError> {
    let mut commands = control();
    let progress = Arc::new(Progress::default());
    let (events, mut event_rx) = mpsc::unbounded_channel::<String>();
    say("ready");
    let mut started = false;
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Go) if !started => {
                    started = true;
                    let deadline = Instant::now() + Duration::from_secs(connect_secs);
                    for i in 0..count {
                        let local = Ipv4Addr::from(first.to_bits() + i as u32);
                        let (p, ev) = (progress.clone(), events.clone());
                        tokio::spawn(async move {
                            if let Err(e) = leaf(i, local, rr, count, deadline, &p, &ev).await {
                                let _ = ev.send(format!("error leaf {local}: {e}"));
                            }
                        });
                    }
                }
                Some(Command::Report) => say(&format!(
                    "report established={} delivered={} received={}",
                    progress.established.load(Ordering::Relaxed),
                    progress.delivered.load(Ordering::Relaxed),
                    progress.received.load(Ordering::Relaxed),
                )),
                Some(Command::Go) => {}
                None => return Ok(()),
            },
            Some(line) = event_rx.recv() => say(&line),
        }
    }
}

async fn leaf(
    i: usize,
    local: Ipv4Addr,
    rr: Ipv4Addr,
    count: usize,
    deadline: Instant,
    progress: &Progress,
    events: &mpsc::UnboundedSender<String>,
) -> Result<(), session::SessionError> {
    // Like a real leaf, retry the whole session start (connect and OPEN exchange) until
    // the deadline: a loaded RR may reset connections it has just accepted.
    let mut s = loop {
        let stream = session::connect(Some(local), SocketAddrV4::new(rr, 179), deadline).await?;
        match session::establish(stream, super::ASN, HOLD_SECS, local, 16 * 1024).await {
            Ok(s) => break s,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    };
    if progress.established.fetch_add(1, Ordering::Relaxed) + 1 == count {
        let _ = events.send(format!("established count={count}"));
    }
    let (update, _) = wire::pack_updates(&[host_route(i as u32)], local);
    drop(s.send(Arc::new(update)));
    let mut seen = vec![0u64; count.div_ceil(64)];
    let mut held = 0usize;
    let mut complete = false;
    let want = count - 1;
    loop {
        s.read_batch(|kind, msg| {
            if kind != wire::UPDATE {
                return Ok(());
            }
            wire::scan_update(msg, |p, announced| {
                let Some(j) = host_route_index(p, count).filter(|j| *j != i) else {
                    return;
                };
                let (word, bit) = (j / 64, 1u64 << (j % 64));
                let had = seen[word] & bit != 0;
                if announced && !had {
                    seen[word] |= bit;
                    held += 1;
                    progress.received.fetch_add(1, Ordering::Relaxed);
                } else if !announced && had {
                    seen[word] &= !bit;
                    held -= 1;
                    progress.received.fetch_sub(1, Ordering::Relaxed);
                }
            })
        })
        .await?;
        if !complete && held == want {
            complete = true;
            if progress.delivered.fetch_add(1, Ordering::Relaxed) + 1 == count {
                let _ = events.send(format!(
                    "delivered paths={}",
                    progress.received.load(Ordering::Relaxed)
                ));
            }
        }
    }
}
