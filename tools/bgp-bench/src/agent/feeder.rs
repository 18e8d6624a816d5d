//! The feeder: encodes every UPDATE before the clock starts, holds an Established
//! session, and writes all of them in one go when the parent says `go`.
//! Whatever the route reflector sends back is read and discarded, so its output
//! never stalls on a full socket.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{AgentError, Command, HOLD_SECS, control, say, session};
use crate::prefixes::{host_routes, mixed_routes};
use crate::wire;

/// Runs the feeder until the parent closes stdin.
pub(super) async fn run(
    rr: Ipv4Addr,
    local: Ipv4Addr,
    routes: usize,
    mixed: bool,
) -> Result<(), AgentError> {
    let mut commands = control();
    let set = if mixed {
        mixed_routes(routes)
    } else {
        host_routes(routes)
    };
    let (bytes, messages) = wire::pack_updates(&set, local);
    drop(set);
    let bytes = Arc::new(bytes);
    let deadline = Instant::now() + Duration::from_secs(60);
    let stream = session::connect(None, SocketAddrV4::new(rr, 179), deadline).await?;
    let mut s = session::establish(stream, super::ASN, HOLD_SECS, local, 1 << 20).await?;
    say(&format!("ready messages={messages} bytes={}", bytes.len()));
    let mut written = None;
    let mut went = false;
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(Command::Go) if !went => {
                    went = true;
                    written = Some(s.send(bytes.clone()));
                }
                Some(_) => {}
                None => return Ok(()),
            },
            done = async { written.as_mut().expect("guarded").await }, if written.is_some() => {
                written = None;
                if done.is_ok() {
                    say("sent");
                }
            }
            read = s.read_batch(|_, _| Ok(())) => read?,
        }
    }
}
