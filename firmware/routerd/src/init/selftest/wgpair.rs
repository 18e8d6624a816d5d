//! Self test `wgpair-a` / `wgpair-b`: two guests, one per side, joined by one NIC
//! (`eth0`) on a common segment, run routerd's transport with the kernel datapath
//! (kernel WireGuard, IPIP bound to it) toward each other and exchange a line over TCP
//! between their tunnel addresses in both directions. Then each removes its tunnel and
//! checks that the IPIP link and the WireGuard peer are gone.
//!
//! Addresses (documentation and test ranges): side a is 192.0.2.1 on the segment and
//! 10.99.0.1 inside the tunnel (WireGuard address 10.98.0.1, the outer IPIP address),
//! side b 192.0.2.2, 10.99.0.2 and 10.98.0.2; both listen for
//! WireGuard on port 51820; side b sends keepalives every 25 s. Console lines:
//! `selftest wgpair tunnel up ...`, `selftest wgpair tcp ... ok`, and at the end
//! `selftest wgpair passed datapath=kernel ...` or `selftest wgpair FAILED: ...`.
//!
//! `ipippair-a` / `ipippair-b` run the same exchange over plain kernel IPIP between the
//! segment addresses (no WireGuard; `selftest ipippair ...` lines): the kernel datapath
//! of `mode = "ipip"`.
//!
//! Every wait has a deadline; nothing sleeps for a fixed time to let something happen.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::{IpNet, Ipv4Net};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket};

use crate::init::console;
use crate::sam::settings::{TransportSettings, WireGuardSettings};
use crate::transport::{TransportHandle, TunnelPeer, device_name};

/// The guest's NIC on the common segment.
const NIC: &str = "eth0";
/// TCP port each side listens on inside the tunnel.
const TCP_PORT: u16 = 7000;
/// WireGuard port of both sides.
const WG_PORT: u16 = 51820;
/// How long each step may take under TCG on a loaded machine.
const STEP_DEADLINE: Duration = Duration::from_secs(60);

/// One side's fixed identity.
struct Side {
    name: &'static str,
    underlay: Ipv4Addr,
    tunnel: Ipv4Addr,
    wireguard: Ipv4Addr,
    private_key: [u8; 32],
    keepalive: Option<u16>,
}

const A: Side = Side {
    name: "a",
    underlay: Ipv4Addr::new(192, 0, 2, 1),
    tunnel: Ipv4Addr::new(10, 99, 0, 1),
    wireguard: Ipv4Addr::new(10, 98, 0, 1),
    private_key: [0xA1; 32],
    keepalive: None,
};

const B: Side = Side {
    name: "b",
    underlay: Ipv4Addr::new(192, 0, 2, 2),
    tunnel: Ipv4Addr::new(10, 99, 0, 2),
    wireguard: Ipv4Addr::new(10, 98, 0, 2),
    private_key: [0xB2; 32],
    keepalive: Some(25),
};

/// Why the pair test failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum PairError {
    /// A kernel request failed.
    #[error("kernel: {0}")]
    Kernel(#[from] kernel::KernelError),
    /// The transport did not start.
    #[error("{0}")]
    Transport(#[from] crate::transport::TransportError),
    /// Socket I/O inside the tunnel failed.
    #[error("tcp: {0}")]
    Io(#[from] std::io::Error),
    /// A step did not finish in time or gave the wrong result.
    #[error("{0}")]
    Check(String),
}

/// Which transport the pair runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PairMode {
    /// Kernel IPIP inside kernel WireGuard (`wgpair`).
    WireGuard,
    /// Plain kernel IPIP between the segment addresses (`ipippair`).
    PlainIpip,
}

impl PairMode {
    /// The self test's name in console lines.
    pub(super) fn name(self) -> &'static str {
        match self {
            PairMode::WireGuard => "wgpair",
            PairMode::PlainIpip => "ipippair",
        }
    }
}

/// Runs side `a` or `b`.
pub(super) async fn run(side: &str, mode: PairMode) -> Result<(), PairError> {
    let name = mode.name();
    let wireguard = mode == PairMode::WireGuard;
    let (me, other) = match side {
        "a" => (&A, &B),
        "b" => (&B, &A),
        other => return Err(PairError::Check(format!("no side {other:?}"))),
    };
    let links = kernel::Links::new()?;
    links.link_up("lo").await?;
    links.link_up(NIC).await?;
    links
        .address_add(
            NIC,
            IpNet::V4(Ipv4Net::new(me.underlay, 24).map_err(check)?),
        )
        .await?;
    let transport = TransportHandle::start(settings(me, wireguard)).await?;
    if transport.datapath() != "kernel" {
        return Err(PairError::Check(format!(
            "datapath {} instead of kernel",
            transport.datapath()
        )));
    }
    let device = device_name(&format!("{name}/{}", other.name));
    transport.set_tunnels(vec![TunnelPeer {
        device: device.clone(),
        label: other.name.to_string(),
        peer_tunnel: other.tunnel,
        public_key: wireguard.then(|| dataplane::public_key(&other.private_key)),
        peer_wireguard: wireguard.then_some(other.wireguard),
        endpoint: wireguard.then(|| SocketAddr::from((other.underlay, WG_PORT))),
        keepalive: me.keepalive.filter(|_| wireguard),
        underlay: Some(other.underlay),
    }]);
    let status = wait(|| {
        let all = transport.status();
        all.first()
            .filter(|t| t.error.is_none() && t.device == device)
            .cloned()
    })
    .await
    .ok_or_else(|| PairError::Check(format!("tunnel not built: {:?}", transport.status())))?;
    console(&format!(
        "selftest {name} tunnel up device={} peer={} datapath={}",
        status.device, status.peer_tunnel, status.datapath
    ));
    let listener = TcpListener::bind((me.tunnel, TCP_PORT)).await?;
    let serve = serve_one(listener, me.name);
    let call = call(me.tunnel, other.tunnel, me.name);
    let (served, called) = tokio::join!(
        tokio::time::timeout(STEP_DEADLINE, serve),
        tokio::time::timeout(STEP_DEADLINE, call)
    );
    let (heard, answer) = match (served, called) {
        (Ok(Ok(heard)), Ok(Ok(answer))) => (heard, answer),
        (served, called) => {
            diagnostics(name, &transport, &device).await;
            return Err(PairError::Check(format!(
                "tcp in: {}; tcp out: {}",
                outcome(served),
                outcome(called)
            )));
        }
    };
    console(&format!(
        "selftest {name} tcp in ok heard={heard:?} tcp out ok answer={answer:?}"
    ));
    if !wireguard {
        return plain_status_and_removal(&transport, &links, &device).await;
    }
    let counted = wait(|| {
        transport
            .status()
            .into_iter()
            .find(|t| t.handshake_age_secs.is_some() && t.rx_bytes > 0 && t.tx_bytes > 0)
    })
    .await
    .ok_or_else(|| PairError::Check(format!("no WireGuard counters: {:?}", transport.status())))?;
    let wg = kernel::WireGuard::new().await?;
    let peers = wg.status("samwg0").await?;
    let allowed: Vec<String> = peers
        .iter()
        .flat_map(|p| p.allowed_ips.iter().map(|n| n.to_string()))
        .collect();
    if allowed != [format!("{}/32", other.wireguard)] {
        return Err(PairError::Check(format!("allowed IPs {allowed:?}")));
    }
    console(&format!(
        "selftest wgpair status datapath={} endpoint={:?} handshake_age={:?} rx={} tx={} allowed={allowed:?}",
        counted.datapath,
        counted.endpoint,
        counted.handshake_age_secs,
        counted.rx_bytes,
        counted.tx_bytes
    ));
    transport.set_tunnels(Vec::new());
    let removed = wait_async(|| async {
        let gone = links.link_index(&device).await.ok()?.is_none();
        let no_peers = wg.status("samwg0").await.ok()?.is_empty();
        (gone && no_peers).then_some(())
    })
    .await;
    if removed.is_none() {
        return Err(PairError::Check(
            "the IPIP link or the WireGuard peer is still there after removal".into(),
        ));
    }
    console("selftest wgpair removal ok");
    Ok(())
}

fn outcome(result: Result<Result<String, PairError>, tokio::time::error::Elapsed>) -> String {
    match result {
        Ok(Ok(line)) => format!("ok ({line:?})"),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "timed out".to_string(),
    }
}

/// Prints what the kernel knows about the tunnel to the console: the transport status,
/// device counters (`/proc/net/dev`), IP and UDP counters, ARP and routes.
async fn diagnostics(name: &str, transport: &TransportHandle, device: &str) {
    console(&format!(
        "selftest {name} diag status {:?}",
        transport.status()
    ));
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    for line in read("/proc/net/dev").lines() {
        if ["eth0", "samwg0", device].iter().any(|d| line.contains(d)) {
            console(&format!("selftest {name} diag dev {}", line.trim()));
        }
    }
    for line in read("/proc/net/snmp").lines() {
        if line.starts_with("Ip:") || line.starts_with("Udp:") || line.starts_with("Icmp:") {
            console(&format!("selftest {name} diag snmp {line}"));
        }
    }
    for path in ["/proc/net/arp", "/proc/net/route"] {
        for line in read(path).lines() {
            console(&format!("selftest {name} diag {path} {line}"));
        }
    }
    for device_name in ["all", "eth0", "samwg0", device] {
        let rp = read(&format!("/proc/sys/net/ipv4/conf/{device_name}/rp_filter"));
        console(&format!(
            "selftest {name} diag rp_filter {device_name}={}",
            rp.trim()
        ));
    }
}

fn check(e: impl std::fmt::Display) -> PairError {
    PairError::Check(e.to_string())
}

fn settings(me: &Side, wireguard: bool) -> TransportSettings {
    TransportSettings {
        datapath: config::Datapath::Kernel,
        wireguard: wireguard.then(|| WireGuardSettings {
            private_key: me.private_key,
            public_key: dataplane::public_key(&me.private_key),
            listen_port: WG_PORT,
            keepalive: me.keepalive,
            address: me.wireguard,
        }),
        tunnel_address: me.tunnel,
        underlay_address: Some(me.underlay),
        mtu: if wireguard { 1500 - 100 } else { 1500 - 20 },
    }
}

/// Plain IPIP: the status shows the kernel datapath and the underlay peer, and the link
/// is gone after the tunnel is removed.
async fn plain_status_and_removal(
    transport: &TransportHandle,
    links: &kernel::Links,
    device: &str,
) -> Result<(), PairError> {
    let status = transport
        .status()
        .into_iter()
        .find(|t| t.device == device)
        .ok_or_else(|| PairError::Check(format!("no status: {:?}", transport.status())))?;
    console(&format!(
        "selftest ipippair status datapath={} endpoint={:?} error={:?}",
        status.datapath, status.endpoint, status.error
    ));
    if status.datapath != "kernel" || status.error.is_some() {
        return Err(PairError::Check(format!("status {status:?}")));
    }
    transport.set_tunnels(Vec::new());
    let removed =
        wait_async(|| async { links.link_index(device).await.ok()?.is_none().then_some(()) }).await;
    if removed.is_none() {
        return Err(PairError::Check(
            "the IPIP link is still there after removal".into(),
        ));
    }
    console("selftest ipippair removal ok");
    Ok(())
}

/// Accepts connections until one completes the exchange: reads a line, answers, then
/// waits for the caller to close (so the answer has arrived before this side tears its
/// tunnel down). A connection that breaks first (the other side's tunnel was still being
/// built) is dropped and the next one accepted.
async fn serve_one(listener: TcpListener, me: &str) -> Result<String, PairError> {
    loop {
        let (stream, _) = listener.accept().await?;
        match exchange_served(stream, me).await {
            Ok(line) => return Ok(line),
            Err(e) => console(&format!(
                "selftest pair: served connection broke ({e}); accepting again"
            )),
        }
    }
}

async fn exchange_served(stream: tokio::net::TcpStream, me: &str) -> std::io::Result<String> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    if read.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    write
        .write_all(format!("hello from {me}\n").as_bytes())
        .await?;
    let mut rest = String::new();
    while read.read_line(&mut rest).await? > 0 {}
    Ok(line.trim().to_string())
}

/// Connects from `local` to `remote`, sends a line and reads the answer; a refused,
/// reset or silent attempt (the other side's tunnel or listener is not there yet) is
/// retried until the caller's deadline.
async fn call(local: Ipv4Addr, remote: Ipv4Addr, me: &str) -> Result<String, PairError> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), exchange_called(local, remote, me))
            .await
        {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) if e.kind() != std::io::ErrorKind::ConnectionRefused => {
                console(&format!("selftest pair: call broke ({e}); calling again"));
            }
            Ok(Err(_)) | Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn exchange_called(local: Ipv4Addr, remote: Ipv4Addr, me: &str) -> std::io::Result<String> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((local, 0)))?;
    let stream = tokio::time::timeout(
        Duration::from_secs(5),
        socket.connect(SocketAddr::from((remote, TCP_PORT))),
    )
    .await
    .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let (read, mut write) = stream.into_split();
    write
        .write_all(format!("hello from {me}\n").as_bytes())
        .await?;
    let mut read = BufReader::new(read);
    let mut line = String::new();
    if read.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    // Closing tells the other side that its answer arrived; its close in turn lets this
    // side's close arrive before either tears its tunnel down. The answer is already
    // here, so a lost close costs only the wait.
    drop(write);
    let mut rest = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while matches!(read.read_line(&mut rest).await, Ok(n) if n > 0) {}
    })
    .await;
    Ok(line.trim().to_string())
}

/// Polls `probe` every 200 ms until it gives a value or [`STEP_DEADLINE`] passes.
async fn wait<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`wait`] for an asynchronous probe.
async fn wait_async<T, F: std::future::Future<Output = Option<T>>>(
    mut probe: impl FnMut() -> F,
) -> Option<T> {
    let deadline = Instant::now() + STEP_DEADLINE;
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
