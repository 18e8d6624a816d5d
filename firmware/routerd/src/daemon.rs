//! The daemon's one event loop: it owns the [`bgp::Speaker`] and drives it.
//!
//! Inputs, in the loop's (biased) order: the shutdown future; the speaker's timer (one
//! `sleep_until`, re-armed only when `poll_timeout` changes); the snapshot held back
//! after a peer event ([`crate::status`]); the status tick; one
//! channel of [`NetEvent`]s (listeners, connects, readers); route queries from the API;
//! config pushes and confirms from the API ([`crate::config_push`]; a pushed config not
//! confirmed in time is reverted on the status tick); enrollment revocations from the
//! API (SAM RR, [`crate::sam`]).
//! Timers come before network input so that a flood of UPDATEs cannot starve keepalives,
//! and after [`YIELD_AFTER`] of network input the loop yields to the runtime's other
//! tasks, so the status API answers during a bulk ingest.
//! After every input the loop drains `poll_output()` completely: bytes go to
//! per-connection writers, connects are started, FIB changes of the drain are handed to
//! the FIB task as one batch, events are logged, and a status snapshot is published.
//! Nothing in the loop waits for the kernel or for API clients.
//!
//! Shutdown: listeners and API servers stop, `Input::Shutdown` (Cease to every peer; the
//! sessions' routes are withdrawn), a last drain, writers flushed (with a deadline), the
//! queued FIB changes applied, DHCP leases released (when [`run`] manages the
//! interfaces, [`crate::interfaces`]), then [`run`] returns.

use std::future::Future;
use std::task::Poll;
use std::time::{Duration, Instant};

use api::routes::RouteQuery;
use bgp::Speaker;
use bgp::speaker::{Event, FibChange, Input, Output};
use bgp::wire::{Origin, PathAttributes};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;

use crate::connections::{self, ConnTable, NetEvent};
use crate::fib::{FibError, FibHandle};
use crate::router_config::RouterConfig;
use crate::status::{PUBLISH_INTERVAL, StatusPublisher};

/// How long an outgoing TCP connect may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long writers get to flush at shutdown.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(3);
/// Time between attempts to bind the status API.
const API_RETRY: Duration = Duration::from_secs(5);
/// Route queries from the API waiting for the core (more are answered 503).
const QUERY_QUEUE: usize = 16;
/// Config pushes and confirms waiting for the core (more are answered 503).
const CONFIG_QUEUE: usize = 4;
/// Depth of the network event channel (backpressure on readers beyond it).
const EVENT_QUEUE: usize = 1024;
/// Least time between two batches of UPDATEs to one peer, per Established peer: a
/// burst of changes (a thousand leaves announcing) goes out in a few large writes
/// instead of one small write per change and peer, while with a handful of peers
/// changes go out at once; a change after a quiet interval always goes out at once.
const EXPORT_INTERVAL_PER_PEER: Duration = Duration::from_micros(50);
/// The most the export interval grows to (reached at 1,000 peers).
const EXPORT_INTERVAL: Duration = Duration::from_millis(50);
/// Most UPDATE octets one flush encodes before the writers get to send them: a
/// thousand peers' initial tables encoded at once would sit in memory together (tens of
/// megabytes, kept by the allocator afterwards); past the budget the rest are due at
/// once and go out after the loop has yielded to the writers.
const EXPORT_BUDGET: usize = 2 * 1024 * 1024;
/// Longest stretch of network input the loop handles before it lets the runtime's other
/// tasks (status API, readers, writers) run: a queued bulk ingest would otherwise hold
/// the single-threaded runtime until it is all processed.
const YIELD_AFTER: Duration = Duration::from_millis(10);

/// The daemon could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// A BGP listen address could not be bound (in use, not configured on this host).
    #[error("cannot listen for BGP on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The kernel routing table could not be prepared.
    #[error(transparent)]
    Fib(#[from] FibError),
    /// SAM enrollment or the tunnels could not start.
    #[error(transparent)]
    Sam(#[from] crate::sam::SamError),
    /// The configured interfaces could not be brought up.
    #[error(transparent)]
    Interfaces(#[from] crate::interfaces::InterfacesError),
}

/// Runs the router until `shutdown` completes; then says goodbye to every peer. With
/// `manage_interfaces` the interfaces are configured first (SAM and BGP bind addresses
/// on them) and their DHCP leases released last.
pub(crate) async fn run(
    config: RouterConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StartError> {
    tokio::pin!(shutdown);
    // Polled once now, so that the signal handlers are in place before anything starts
    // and a SIGTERM during the start still shuts down in order.
    let early = std::future::poll_fn(|cx| Poll::Ready(shutdown.as_mut().poll(cx))).await;
    if early.is_ready() {
        return Ok(());
    }
    let mut interfaces = match config.manage_interfaces {
        true => Some(crate::interfaces::start(&config.interfaces).await?),
        false => None,
    };
    let result = match &interfaces {
        Some(started) => tokio::select! {
            () = started.settle() => route(config, shutdown.as_mut()).await,
            () = shutdown.as_mut() => Ok(()),
        },
        None => route(config, shutdown.as_mut()).await,
    };
    if let Some(interfaces) = interfaces.as_mut() {
        interfaces.stop().await;
    }
    result
}

/// The routing part of [`run`].
async fn route(config: RouterConfig, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
    let (events_tx, mut events) = mpsc::channel(EVENT_QUEUE);
    let (queries_tx, mut queries) = mpsc::channel(QUERY_QUEUE);
    let (config_tx, mut config_commands) = mpsc::channel(CONFIG_QUEUE);
    let (enrollment_tx, mut enrollment_commands) = mpsc::channel(CONFIG_QUEUE);
    let fib = match config.fib.clone() {
        Some(settings) => Some(FibHandle::start(settings).await?),
        None => None,
    };
    // Before the BGP listeners: SAM puts the tunnel address they may bind on `lo`.
    let sam = crate::sam::SamRuntime::start(config.sam.clone(), config.ranges.clone()).await?;
    let (status, snapshots) = StatusPublisher::new(&config);
    // Listeners and API servers, stopped when the loop ends.
    let mut background = tokio::task::JoinSet::new();
    if let Some(api) = &config.api {
        let kernel = config.fib.as_ref().and_then(|fib| {
            crate::kernel_view::start(fib.table)
                .inspect_err(|e| tracing::warn!(error = %e, "no kernel view for /v1/kernel"))
                .ok()
        });
        for &addr in &api.binds {
            let backend = api::server::Backend {
                snapshots: snapshots.clone(),
                queries: Some(queries_tx.clone()),
                config: Some(config_tx.clone()),
                enrollment: Some(enrollment_tx.clone()),
                kernel: kernel.clone(),
            };
            background.spawn(serve_api(addr, backend, api.access.clone()));
        }
    }
    for &addr in &config.listen {
        let listener = connections::listen(addr, events_tx.clone())
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        background.spawn(listener);
    }

    let mut speaker = Speaker::new(config.speaker.clone());
    speaker.set_scaled_export_interval(EXPORT_INTERVAL_PER_PEER, EXPORT_INTERVAL);
    speaker.set_export_budget(EXPORT_BUDGET);
    // A route reflector without a kernel table installs nothing: no forwarding changes
    // are computed (a leaf's SAM side still maps them).
    if config.fib.is_none() && config.mode == crate::router_config::Mode::Rr {
        speaker.set_fib_output(false);
    }
    let mut core = Core {
        speaker,
        conns: ConnTable::new(events_tx.clone()),
        events: events_tx,
        fib,
        status,
        fib_batch: Vec::new(),
        sam,
        push: crate::config_push::ConfigPush::new(config.push.clone()),
        running: config.clone(),
        heap: crate::heap_trim::HeapTrim::default(),
    };
    if let Some(gr) = crate::sam::graceful_restart(config.sam.as_ref()) {
        core.speaker.set_graceful_restart(gr);
    }
    core.configure(&config);
    let expected = core.sam.take_expected_back();
    if !expected.is_empty() {
        // Restarted without a clean stop: the leaves keep our routes stale; export and
        // End-of-RIB wait for theirs (RFC 4724 §4.1), so none of them drops another's.
        let mut gr = crate::sam::graceful_restart(config.sam.as_ref()).unwrap_or_default();
        gr.restarting = true;
        core.speaker.set_graceful_restart(gr);
        let deferral = bgp::speaker::SELECTION_DEFERRAL_TIME;
        tracing::info!(
            leaves = expected.len(),
            deferral_secs = deferral.as_secs(),
            "graceful restart: export waits for the enrolled leaves' End-of-RIB"
        );
        core.speaker
            .expect_peers_before_selection(expected, Instant::now() + deferral);
    }

    let mut publish_tick = tokio::time::interval(PUBLISH_INTERVAL);
    publish_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let timer = tokio::time::sleep_until(TokioInstant::now());
    let publish_soon = tokio::time::sleep_until(TokioInstant::now());
    tokio::pin!(timer, publish_soon, shutdown);
    let mut armed: Option<Instant> = None;
    let mut publish_armed: Option<Instant> = None;
    let mut busy_since = Instant::now();
    loop {
        let deadline = core.speaker.poll_timeout();
        if deadline != armed {
            if let Some(d) = deadline {
                timer.as_mut().reset(TokioInstant::from_std(d));
            }
            armed = deadline;
        }
        let soon = core.status.soon();
        if soon != publish_armed {
            if let Some(at) = soon {
                publish_soon.as_mut().reset(TokioInstant::from_std(at));
            }
            publish_armed = soon;
        }
        // Biased: timers before network input, so a flood of UPDATEs cannot starve
        // keepalives and hold timers; both timer branches are ready only when due.
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = &mut timer, if armed.is_some() => {
                armed = None;
                core.speaker.handle_timeout(Instant::now());
                core.drain();
                // Export past the budget is due at once: let the writers send what this
                // timeout encoded first.
                if core.speaker.poll_timeout().is_some_and(|d| d <= Instant::now()) {
                    tokio::task::yield_now().await;
                }
            }
            () = &mut publish_soon, if publish_armed.is_some() => {
                publish_armed = None;
                core.status.publish_due(&core.speaker);
            }
            _ = publish_tick.tick() => {
                core.status.set_sam(crate::sam::sam_status(core.sam.status()));
                core.revert_if_due();
                core.status.tick(&core.speaker);
                if core.heap.tick() {
                    tracing::debug!("freed heap returned to the kernel after a burst");
                }
            }
            wake = core.sam.wait() => {
                core.sam.handle(wake);
                core.drain();
            }
            Some(event) = events.recv() => {
                core.on_net_event(event);
                if busy_since.elapsed() >= YIELD_AFTER {
                    tokio::task::yield_now().await;
                    busy_since = Instant::now();
                }
            }
            Some(query) = queries.recv() => core.on_query(query),
            Some(command) = config_commands.recv() => core.on_config(command),
            Some(command) = enrollment_commands.recv() => {
                core.sam.on_enrollment_command(command);
                core.drain();
            }
        }
    }

    tracing::info!("shutting down: cease to every peer");
    background.abort_all();
    core.speaker.handle_input(Instant::now(), Input::Shutdown);
    core.drain();
    core.sam.stopped();
    let Core { conns, fib, .. } = core;
    conns.flush_all(FLUSH_TIMEOUT).await;
    if let Some(fib) = fib {
        fib.finish().await;
    }
    Ok(())
}

/// Serves the status API on `addr`. Routing never waits for it: while the address cannot
/// be bound (not configured yet, port in use) it retries every [`API_RETRY`].
async fn serve_api(
    addr: std::net::SocketAddr,
    backend: api::server::Backend,
    access: api::server::Access,
) {
    let mut warned = false;
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(%addr, "status api listening");
                if let Err(error) = api::server::serve(listener, backend, access).await {
                    tracing::error!(%addr, %error, "status api stopped");
                }
                return;
            }
            Err(error) if !warned => {
                tracing::error!(%addr, %error, "cannot serve the status api yet; retrying every 5 s, routing goes on");
                warned = true;
            }
            Err(_) => {}
        }
        tokio::time::sleep(API_RETRY).await;
    }
}

/// The loop's state.
struct Core {
    speaker: Speaker,
    conns: ConnTable,
    events: connections::EventSender,
    fib: Option<FibHandle>,
    status: StatusPublisher,
    fib_batch: Vec<FibChange>,
    sam: crate::sam::SamRuntime,
    /// Pushed configs in try mode.
    push: crate::config_push::ConfigPush,
    /// The config the speaker runs with now (pushed or not).
    running: RouterConfig,
    /// When to give the heap freed after a burst back to the kernel.
    heap: crate::heap_trim::HeapTrim,
}

impl Core {
    /// Hands the configured peers, ranges and originated prefixes to the speaker.
    fn configure(&mut self, config: &RouterConfig) {
        let now = Instant::now();
        for peer in &config.peers {
            self.speaker.handle_input(now, Input::AddPeer(peer.clone()));
            self.drain();
        }
        for range in &config.ranges {
            self.speaker
                .handle_input(now, Input::AddRange(range.clone()));
            self.drain();
        }
        for &prefix in &config.announce {
            let attrs = PathAttributes {
                origin: Some(Origin::Igp),
                ..PathAttributes::default()
            };
            self.speaker
                .handle_input(now, Input::Announce { prefix, attrs });
            self.drain();
        }
        self.sam.configure();
        self.drain();
        self.status.publish(&self.speaker);
    }

    /// Answers a question of the API (one prefix, or one bounded page of prefixes).
    fn on_query(&mut self, query: RouteQuery) {
        match query {
            RouteQuery::Explain { prefix, reply } => {
                let _ = reply.send(crate::explain::answer(&self.speaker, prefix));
            }
            RouteQuery::List {
                within,
                after,
                limit,
                reply,
            } => {
                let _ = reply.send(crate::explain::list(&self.speaker, within, after, limit));
            }
        }
    }

    /// A config push or confirm from the API (verification and a bounded number of
    /// speaker inputs).
    fn on_config(&mut self, command: api::config_push::ConfigCommand) {
        use api::config_push::ConfigCommand;
        let now = Instant::now();
        match command {
            ConfigCommand::Push {
                blob,
                arrived_on,
                reply,
            } => {
                let answer = self.push.push(blob, arrived_on, &self.running, now).map(
                    |(new, mut accepted)| {
                        accepted.not_applied_live = self.switch_to(new);
                        tracing::info!(
                            serial = accepted.serial,
                            reverts_in_secs = accepted.reverts_in_secs,
                            "trying a pushed config"
                        );
                        accepted
                    },
                );
                let _ = reply.send(answer);
            }
            ConfigCommand::Confirm { reply } => {
                let answer = self.push.confirm();
                if let Ok(confirmed) = &answer {
                    tracing::info!(
                        serial = confirmed.serial,
                        "pushed config confirmed and written"
                    );
                    self.publish_config();
                }
                let _ = reply.send(answer);
            }
        }
    }

    /// Returns to the previous config when a pushed one was not confirmed in time.
    fn revert_if_due(&mut self) {
        if let Some(previous) = self.push.due_revert(Instant::now()) {
            tracing::warn!(
                serial = previous.serial,
                "pushed config not confirmed in time: reverting"
            );
            let later = self.switch_to(previous);
            for line in later {
                tracing::info!("{line}");
            }
        }
    }

    /// Applies `new` to the speaker; returns what waits for a restart.
    fn switch_to(&mut self, new: RouterConfig) -> Vec<String> {
        let (inputs, later) = crate::config_push::changes(&self.running, &new);
        let now = Instant::now();
        for input in inputs {
            self.speaker.handle_input(now, input);
            self.drain();
        }
        self.running = new;
        self.publish_config();
        later
    }

    /// Publishes the running config's identity and the trial, if any.
    fn publish_config(&mut self) {
        let trial = self.push.trial_view(Instant::now());
        self.status.set_config(
            &self.speaker,
            self.running.provenance.clone(),
            self.running.serial,
            trial,
        );
    }

    fn on_net_event(&mut self, event: NetEvent) {
        let now = Instant::now();
        match event {
            NetEvent::Accepted {
                stream,
                remote,
                local,
            } => {
                let conn = self.conns.add(stream);
                tracing::debug!(%remote, ?conn, "accepted connection");
                self.speaker.handle_input(
                    now,
                    Input::Accepted {
                        conn,
                        remote,
                        local,
                    },
                );
            }
            NetEvent::Connected { peer, stream } => {
                let Ok(local) = stream.local_addr() else {
                    self.speaker
                        .handle_input(now, Input::ConnectFailed { peer });
                    self.drain();
                    return;
                };
                let conn = self.conns.add(stream);
                tracing::debug!(%peer, ?conn, "connected");
                self.speaker
                    .handle_input(now, Input::Connected { peer, conn, local });
            }
            NetEvent::ConnectFailed { peer, error } => {
                tracing::debug!(%peer, %error, "connect failed");
                self.speaker
                    .handle_input(now, Input::ConnectFailed { peer });
            }
            NetEvent::Received { conn, data } => {
                if !self.conns.contains(conn) {
                    return;
                }
                self.heap.moved(data.len());
                self.speaker
                    .handle_input(now, Input::Received { conn, data: &data });
            }
            NetEvent::Closed { conn } => {
                if !self.conns.close(conn) {
                    return;
                }
                tracing::debug!(?conn, "connection closed by peer or network");
                self.speaker.handle_input(now, Input::Closed { conn });
            }
        }
        self.drain();
    }

    /// Acts on every pending output of the speaker.
    fn drain(&mut self) {
        let mut peer_event = false;
        while let Some(output) = self.speaker.poll_output() {
            match output {
                Output::Transmit { conn, bytes } => {
                    self.heap.moved(bytes.len());
                    self.conns.transmit(conn, bytes)
                }
                Output::Close { conn } => {
                    self.conns.close(conn);
                }
                Output::Connect {
                    peer,
                    remote,
                    local,
                } => {
                    connections::connect(peer, remote, local, CONNECT_TIMEOUT, self.events.clone())
                }
                Output::Fib(change) => self.sam.map_fib(change),
                Output::Event(event) => {
                    peer_event |= !matches!(event, Event::Refused { .. });
                    self.sam.on_event(&event);
                    log_event(&event);
                }
            }
        }
        // SAM reacts to events with speaker inputs (import policies, RR sessions); their
        // outputs belong to this drain.
        let inputs = self.sam.take_inputs();
        if !inputs.is_empty() {
            let now = Instant::now();
            for input in inputs {
                self.speaker.handle_input(now, input);
            }
            self.status.after_drain(&self.speaker, peer_event);
            return self.drain();
        }
        self.fib_batch.extend(self.sam.take_fib());
        if !self.fib_batch.is_empty() {
            let batch = std::mem::take(&mut self.fib_batch);
            if let Some(fib) = &self.fib {
                fib.submit(batch);
            }
        }
        self.status.after_drain(&self.speaker, peer_event);
    }
}

fn log_event(event: &Event) {
    match event {
        Event::PeerState { peer, state } => tracing::info!(%peer, ?state, "peer state"),
        Event::PeerAdmitted { peer, range } => {
            tracing::info!(%peer, %range, "dynamic peer admitted")
        }
        Event::PeerRemoved { peer } => tracing::info!(%peer, "dynamic peer removed"),
        Event::Refused { remote, reason } => {
            tracing::warn!(%remote, %reason, "connection refused")
        }
        Event::Notification {
            peer,
            sent,
            code,
            subcode,
        } => {
            let direction = if *sent { "sent" } else { "received" };
            tracing::warn!(%peer, code, subcode, "NOTIFICATION {direction}")
        }
    }
}
