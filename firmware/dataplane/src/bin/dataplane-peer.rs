//! `dataplane-peer`: runs the userspace datapath standalone, for system tests and for
//! trying the fallback by hand.
//!
//! ```text
//! dataplane-peer [--key HEX] [--port N] [--ipip] [--status FILE]
//!                --peer dev=NAME,key=HEX,local=IP,remote=IP[,endpoint=IP:PORT][,keepalive=S][,mtu=N] ...
//! dataplane-peer --public-key HEX
//! ```
//!
//! Creates one TUN device per `--peer` (MTU set, up; addresses and routes are the
//! caller's), prints `ready` on stdout, then runs until killed. With `--status FILE` it
//! rewrites FILE every 200 ms with one line per peer:
//! `dev=NAME endpoint=IP:PORT|- handshake_ms=N|- rx_packets=N tx_packets=N rx_bytes=N tx_bytes=N`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use dataplane::{Config, Dataplane, PeerSpec};

fn hex32(text: &str) -> Result<[u8; 32], String> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err(format!("key {text:?} is not 64 hex digits"));
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digits = std::str::from_utf8(pair).map_err(|e| e.to_string())?;
        out[i] = u8::from_str_radix(digits, 16).map_err(|e| format!("key {text:?}: {e}"))?;
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_peer(text: &str) -> Result<PeerSpec, String> {
    let mut spec = PeerSpec {
        device: String::new(),
        public_key: [0; 32],
        endpoint: None,
        keepalive: None,
        outer_local: std::net::Ipv4Addr::UNSPECIFIED,
        outer_remote: std::net::Ipv4Addr::UNSPECIFIED,
        mtu: 1400,
    };
    for field in text.split(',') {
        let (name, value) = field
            .split_once('=')
            .ok_or(format!("peer field {field:?} lacks '='"))?;
        let bad = |e: &dyn std::fmt::Display| format!("peer field {name}: {e}");
        match name {
            "dev" => spec.device = value.to_string(),
            "key" => spec.public_key = hex32(value)?,
            "endpoint" => spec.endpoint = Some(value.parse::<SocketAddr>().map_err(|e| bad(&e))?),
            "keepalive" => spec.keepalive = Some(value.parse().map_err(|e| bad(&e))?),
            "local" => spec.outer_local = value.parse().map_err(|e| bad(&e))?,
            "remote" => spec.outer_remote = value.parse().map_err(|e| bad(&e))?,
            "mtu" => spec.mtu = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown peer field {other:?}")),
        }
    }
    if spec.device.is_empty()
        || spec.outer_local.is_unspecified()
        || spec.outer_remote.is_unspecified()
    {
        return Err(format!("peer {text:?} needs dev, local and remote"));
    }
    Ok(spec)
}

struct Args {
    config: Config,
    peers: Vec<PeerSpec>,
    status: Option<String>,
}

fn parse_args() -> Result<Result<Args, String>, String> {
    let mut args = std::env::args().skip(1);
    let mut config = Config {
        private_key: [0; 32],
        listen_port: 0,
        wireguard: true,
    };
    let mut peers = Vec::new();
    let mut status = None;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--public-key" => return Ok(Err(hex(&dataplane::public_key(&hex32(&value()?)?)))),
            "--key" => config.private_key = hex32(&value()?)?,
            "--port" => {
                config.listen_port = value()?.parse().map_err(|e| format!("--port: {e}"))?
            }
            "--ipip" => config.wireguard = false,
            "--status" => status = Some(value()?),
            "--peer" => peers.push(parse_peer(&value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Ok(Args {
        config,
        peers,
        status,
    }))
}

fn write_status(path: &str, plane: &Dataplane) {
    let mut text = String::new();
    for peer in plane.status() {
        let endpoint = peer.endpoint.map_or("-".to_string(), |e| e.to_string());
        let handshake = peer
            .last_handshake_age
            .map_or("-".to_string(), |a| a.as_millis().to_string());
        text.push_str(&format!(
            "dev={} endpoint={endpoint} handshake_ms={handshake} rx_packets={} tx_packets={} rx_bytes={} tx_bytes={} datapath={}\n",
            peer.device, peer.rx_packets, peer.tx_packets, peer.rx_bytes, peer.tx_bytes, peer.datapath
        ));
    }
    let tmp = format!("{path}.tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Ok(args)) => args,
        Ok(Err(public)) => {
            println!("{public}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("dataplane-peer: {e}");
            return ExitCode::from(2);
        }
    };
    let plane = match Dataplane::start(args.config).await {
        Ok(plane) => plane,
        Err(e) => {
            eprintln!("dataplane-peer: {e}");
            return ExitCode::FAILURE;
        }
    };
    for peer in args.peers {
        if let Err(e) = plane.add_peer(peer).await {
            eprintln!("dataplane-peer: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("ready port={}", plane.local_port().unwrap_or(0));
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    loop {
        interval.tick().await;
        if let Some(path) = &args.status {
            write_status(path, &plane);
        }
    }
}
