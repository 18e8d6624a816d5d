//! SAM in the daemon: enrollment (RR listener and registry, or the leaf's state
//! machine), the tunnels of [`crate::transport`], and what both mean for the speaker
//! (sessions, import policies) and the FIB. `docs/sam.md` is the protocol; section 11
//! there and `docs/architecture.md` describe this wiring.
//!
//! Call order for the core: [`SamRuntime::start`] before the BGP listeners are bound (it
//! puts the tunnel address on `lo`); [`SamRuntime::configure`] once the speaker has its
//! configured peers and ranges; then in the loop await [`SamRuntime::wait`] next to the
//! other inputs and pass what it returns to [`SamRuntime::handle`]; pass every speaker
//! event to [`SamRuntime::on_event`] and every FIB change through
//! [`SamRuntime::map_fib`]; after each of these, apply [`SamRuntime::take_inputs`] to the
//! speaker and submit [`SamRuntime::take_fib`]; operator revocations from the API go
//! through [`SamRuntime::on_enrollment_command`] (then the same). Without a `[sam]` section every call is a
//! no-op and FIB changes pass unchanged.

pub(crate) mod http;
mod import_policy;
mod leaf;
mod rr;
pub(crate) mod settings;
mod status;
pub(crate) mod store;

use bgp::speaker::{DynamicRange, Event, FibChange, Input};
use tokio::sync::mpsc;

use crate::transport::{TransportError, TransportHandle};
use leaf::LeafRuntime;
use rr::RrRuntime;
use settings::{Role, SamSettings};

pub(crate) use status::sam_status;

/// Something for SAM to handle in the core.
#[derive(Debug)]
pub(crate) enum Wake {
    /// Its timer (leaf schedule, RR expiry) is due.
    Timer,
    /// An enrollment request arrived at the RR listener.
    Call(http::EnrollCall),
    /// The reply to the leaf's request in flight (`None`: no reply).
    Reply {
        /// The response body.
        body: Option<Vec<u8>>,
    },
    /// A state file that could not be written is due for another attempt.
    StateRetry,
}

/// What this router's graceful restart capability should say, when SAM changes it.
///
/// A SAM leaf advertises restart time 0: its /32s belong to its site, so when the leaf
/// dies or reboots the RR withdraws them at once (hold timer expiry) instead of keeping
/// them stale for a restart time. The leaf still helps the RR through a restart (the
/// RR advertises the default restart time and the RFC 8538 N bit), so an RR outage
/// withdraws nothing at the leaves (fail-static). `None`: keep the speaker's default.
pub(crate) fn graceful_restart(
    settings: Option<&SamSettings>,
) -> Option<bgp::session::open::GracefulRestartConfig> {
    match settings.map(|s| &s.role) {
        Some(Role::Leaf(_)) => Some(bgp::session::open::GracefulRestartConfig {
            restart_time: 0,
            ..bgp::session::open::GracefulRestartConfig::default()
        }),
        _ => None,
    }
}

/// SAM could not start; routerd stops.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SamError {
    /// No state directory is known.
    #[error("sam needs a state directory: give --state-dir DIR or set state_dir in the config")]
    NoStateDir,
    /// The tunnels could not be prepared.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The RR's registry could not be loaded.
    #[error(transparent)]
    Rr(#[from] rr::RrStartError),
    /// The leaf's enrollment could not start.
    #[error("sam leaf: {0}")]
    Leaf(String),
    /// The enrollment listener could not be bound.
    #[error("cannot listen for enrollment on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

enum Side {
    Leaf(Box<LeafRuntime>),
    Rr(Box<RrRuntime>),
}

struct Active {
    side: Side,
    transport: TransportHandle,
    wakes: mpsc::UnboundedReceiver<Wake>,
    calls: Option<mpsc::UnboundedReceiver<http::EnrollCall>>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

/// SAM's part of the core's state.
pub(crate) struct SamRuntime {
    active: Option<Active>,
    inputs: Vec<Input<'static>>,
    fib: Vec<FibChange>,
}

impl Drop for SamRuntime {
    fn drop(&mut self) {
        if let Some(listener) = self.active.as_ref().and_then(|a| a.listener.as_ref()) {
            listener.abort();
        }
    }
}

impl SamRuntime {
    /// Starts SAM for `settings` (`None`: off).
    pub(crate) async fn start(
        settings: Option<SamSettings>,
        ranges: Vec<DynamicRange>,
    ) -> Result<SamRuntime, SamError> {
        let mut runtime = SamRuntime {
            active: None,
            inputs: Vec::new(),
            fib: Vec::new(),
        };
        let Some(settings) = settings else {
            return Ok(runtime);
        };
        let state_dir = settings.state_dir.clone().ok_or(SamError::NoStateDir)?;
        let transport = TransportHandle::start(settings.transport.clone()).await?;
        let (wake_tx, wakes) = mpsc::unbounded_channel();
        let (side, calls, listener) = match &settings.role {
            Role::Leaf(leaf) => {
                let config = leaf.enrollment.clone();
                let runtime = LeafRuntime::start(settings.clone(), config, &state_dir, wake_tx)
                    .map_err(SamError::Leaf)?;
                (Side::Leaf(Box::new(runtime)), None, None)
            }
            Role::Rr(rr) => {
                let runtime = RrRuntime::start(
                    rr.policies.clone(),
                    &state_dir,
                    ranges,
                    settings.transport.wireguard.is_some(),
                )?;
                let listener =
                    tokio::net::TcpListener::bind(rr.listen)
                        .await
                        .map_err(|source| SamError::Listen {
                            addr: rr.listen,
                            source,
                        })?;
                tracing::info!(addr = %rr.listen, "enrollment listener ready");
                let (call_tx, calls) = mpsc::unbounded_channel();
                let task = tokio::spawn(http::serve(listener, call_tx));
                (Side::Rr(Box::new(runtime)), Some(calls), Some(task))
            }
        };
        runtime.active = Some(Active {
            side,
            transport,
            wakes,
            calls,
            listener,
        });
        Ok(runtime)
    }

    /// Applies the stored state: tunnels and policies for stored claims (RR), the stored
    /// RR set (leaf, fail-static).
    pub(crate) fn configure(&mut self) {
        let Some(active) = &mut self.active else {
            return;
        };
        match &mut active.side {
            Side::Rr(rr) => rr.reconcile(&active.transport, &mut self.inputs),
            Side::Leaf(leaf) => leaf.drive(&active.transport, &mut self.inputs, &mut self.fib),
        }
    }

    /// On an RR restarted without a clean stop: the session addresses of the enrolled
    /// leaves, which the speaker waits for before exporting (empty otherwise; taken once).
    pub(crate) fn take_expected_back(&mut self) -> Vec<std::net::IpAddr> {
        match self.active.as_mut().map(|a| &mut a.side) {
            Some(Side::Rr(rr)) => rr.take_expected_back(),
            _ => Vec::new(),
        }
    }

    /// A clean stop (after the speaker's shutdown): an RR's next start is not graceful.
    pub(crate) fn stopped(&self) {
        if let Some(Side::Rr(rr)) = self.active.as_ref().map(|a| &a.side) {
            rr.stopped();
        }
    }

    /// Waits for the next thing to handle (forever when SAM is off).
    pub(crate) async fn wait(&mut self) -> Wake {
        let Some(active) = &mut self.active else {
            return std::future::pending().await;
        };
        let deadline = match &active.side {
            Side::Leaf(leaf) => leaf.deadline(),
            Side::Rr(rr) => rr.deadline(),
        }
        .map(store::instant_of);
        let retry_at = match &mut active.side {
            Side::Leaf(leaf) => leaf.state().retry_at(),
            Side::Rr(rr) => rr.state().retry_at(),
        };
        let retry = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let calls = async {
            match &mut active.calls {
                Some(calls) => calls.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = timer => Wake::Timer,
            () = retry => Wake::StateRetry,
            Some(call) = calls => Wake::Call(call),
            Some(wake) = active.wakes.recv() => wake,
        }
    }

    /// Handles what [`SamRuntime::wait`] returned.
    pub(crate) fn handle(&mut self, wake: Wake) {
        let Some(active) = &mut self.active else {
            return;
        };
        match (&mut active.side, wake) {
            (Side::Rr(rr), Wake::Call(call)) => {
                rr.on_call(call, &active.transport, &mut self.inputs)
            }
            (Side::Rr(rr), Wake::Timer) => rr.on_timer(&active.transport, &mut self.inputs),
            (Side::Leaf(leaf), Wake::Timer) => {
                leaf.on_timer();
                leaf.drive(&active.transport, &mut self.inputs, &mut self.fib);
            }
            (Side::Leaf(leaf), Wake::Reply { body }) => {
                leaf.on_reply(body);
                leaf.drive(&active.transport, &mut self.inputs, &mut self.fib);
            }
            (Side::Rr(rr), Wake::StateRetry) => rr.state().retry(),
            (Side::Leaf(leaf), Wake::StateRetry) => leaf.state().retry(),
            (_, other) => tracing::debug!(?other, "sam: nothing to do"),
        }
    }

    /// Answers an operator's revoke, claim revoke or reinstate (`409` unless this router
    /// is a SAM RR).
    pub(crate) fn on_enrollment_command(&mut self, command: api::revocation::EnrollmentCommand) {
        use api::revocation::{EnrollmentCommand, EnrollmentRefused};
        let not_rr = || EnrollmentRefused {
            status: 409,
            error: "this router is not a SAM route reflector: only an RR keeps enrollments".into(),
            hint: "send the request to the route reflector's API".into(),
        };
        let active = self.active.as_mut();
        match (active, command) {
            (Some(active), EnrollmentCommand::Revoke { leaf, reply }) => {
                let answer = match &mut active.side {
                    Side::Rr(rr) => rr.revoke(&leaf, &active.transport, &mut self.inputs),
                    Side::Leaf(_) => Err(not_rr()),
                };
                let _ = reply.send(answer);
            }
            (Some(active), EnrollmentCommand::Reinstate { leaf, reply }) => {
                let answer = match &mut active.side {
                    Side::Rr(rr) => rr.reinstate(&leaf, &active.transport, &mut self.inputs),
                    Side::Leaf(_) => Err(not_rr()),
                };
                let _ = reply.send(answer);
            }
            (Some(active), EnrollmentCommand::RevokeClaim { claim, reply }) => {
                let answer = match &mut active.side {
                    Side::Rr(rr) => rr.revoke_claim(&claim, &active.transport, &mut self.inputs),
                    Side::Leaf(_) => Err(not_rr()),
                };
                let _ = reply.send(answer);
            }
            (None, EnrollmentCommand::RevokeClaim { reply, .. }) => {
                let _ = reply.send(Err(not_rr()));
            }
            (None, EnrollmentCommand::Revoke { reply, .. }) => {
                let _ = reply.send(Err(not_rr()));
            }
            (None, EnrollmentCommand::Reinstate { reply, .. }) => {
                let _ = reply.send(Err(not_rr()));
            }
        }
    }

    /// Looks at a speaker event (admissions on the RR, RR session states on the leaf).
    pub(crate) fn on_event(&mut self, event: &Event) {
        let Some(active) = &mut self.active else {
            return;
        };
        match (&mut active.side, event) {
            (Side::Rr(rr), Event::PeerAdmitted { peer, .. }) => {
                rr.on_admitted(*peer, &mut self.inputs)
            }
            (Side::Leaf(leaf), Event::PeerState { peer, state }) => leaf.on_peer_state(
                *peer,
                *state == bgp::session::State::Established,
                &mut self.fib,
            ),
            _ => {}
        }
    }

    /// Routes one FIB change of the speaker: a leaf rewrites or drops it, an RR and a
    /// router without SAM keep it.
    pub(crate) fn map_fib(&mut self, change: FibChange) {
        match self.active.as_mut().map(|a| &mut a.side) {
            Some(Side::Leaf(leaf)) => leaf.map_fib(change, &mut self.fib),
            _ => self.fib.push(change),
        }
    }

    /// Speaker inputs SAM queued.
    pub(crate) fn take_inputs(&mut self) -> Vec<Input<'static>> {
        std::mem::take(&mut self.inputs)
    }

    /// FIB changes SAM produced or passed on.
    pub(crate) fn take_fib(&mut self) -> Vec<FibChange> {
        std::mem::take(&mut self.fib)
    }

    /// What SAM's part of the status is built from; `None` without SAM.
    pub(crate) fn status(&self) -> Option<status::SamView<'_>> {
        let active = self.active.as_ref()?;
        Some(status::SamView {
            leaf: match &active.side {
                Side::Leaf(l) => Some(l),
                Side::Rr(_) => None,
            },
            rr: match &active.side {
                Side::Rr(r) => Some(r),
                Side::Leaf(_) => None,
            },
            transport: &active.transport,
        })
    }
}
