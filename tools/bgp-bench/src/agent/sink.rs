//! The sink: holds an Established session, counts the distinct prefixes the route
//! reflector sends, and says `done` the moment it holds the expected number.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use super::{AgentError, Command, HOLD_SECS, control, say, session};
use crate::prefixes::PrefixSet;
use crate::wire;

/// Counters of the sink.
#[derive(Debug, Default)]
struct Counts {
    updates: u64,
    announced: u64,
    withdrawn: u64,
}

/// Runs the sink until the parent closes stdin.
pub(super) async fn run(rr: Ipv4Addr, local: Ipv4Addr, routes: usize) -> Result<(), AgentError> {
    let mut commands = control();
    let mut held = PrefixSet::with_capacity(routes);
    let mut counts = Counts::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stream = session::connect(None, SocketAddrV4::new(rr, 179), deadline).await?;
    let mut s = session::establish(stream, super::ASN, HOLD_SECS, local, 1 << 20).await?;
    say("ready");
    let mut done = false;
    let line = |tag: &str, held: &PrefixSet, c: &Counts| {
        format!(
            "{tag} count={} updates={} announced={} withdrawn={}",
            held.len(),
            c.updates,
            c.announced,
            c.withdrawn
        )
    };
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Report) => say(&line("report", &held, &counts)),
                Some(Command::Go) => {}
                None => return Ok(()),
            },
            read = s.read_batch(|kind, msg| {
                if kind == wire::UPDATE {
                    counts.updates += 1;
                    wire::scan_update(msg, |p, announced| {
                        if announced {
                            counts.announced += 1;
                        } else {
                            counts.withdrawn += 1;
                        }
                        held.apply(p, announced);
                    })?;
                }
                Ok(())
            }) => {
                read?;
                if !done && held.len() >= routes {
                    done = true;
                    say(&line("done", &held, &counts));
                }
            }
        }
    }
}
