//! BIRD 2 as route reflector (`neighbor range`, dynamic `leaf*` protocols) and as the
//! FIB leaf (BGP in, kernel protocol out). Status: `birdc show protocols all`.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use super::{Control, PeerStatus, RrSetup, RunningRr, status_output, write_config};
use crate::error::BenchError;
use crate::lab::{Netns, Proc};

fn spawn(
    ns: &Netns,
    dir: &Path,
    config: &str,
) -> Result<(Proc, std::path::PathBuf, std::path::PathBuf), BenchError> {
    let conf = dir.join("bird.conf");
    write_config(&conf, config)?;
    let socket = dir.join("bird.ctl");
    let log = dir.join("bird.log");
    let mut cmd = ns.command("bird");
    cmd.arg("-f")
        .arg("-c")
        .arg(&conf)
        .arg("-s")
        .arg(&socket)
        .arg("-P")
        .arg(dir.join("bird.pid"));
    let proc = Proc::spawn_logged(cmd, "bird", &log)?;
    Ok((proc, socket, log))
}

/// Starts BIRD as the route reflector.
pub(super) fn start(s: &RrSetup<'_>) -> Result<RunningRr, BenchError> {
    let rr = s.rr;
    let range = s.range;
    let config = format!(
        "router id {rr};
protocol device {{ scan time 10; }}
template bgp LEAVES {{
  local {rr} as 65000;
  direct;
  rr client;
  rr cluster id {rr};
  ipv4 {{ import all; export all; gateway direct; }};
}}
protocol bgp dyn from LEAVES {{
  neighbor range {range} internal;
  dynamic name \"leaf\";
}}
"
    );
    let (proc, socket, log) = spawn(s.ns, s.dir, &config)?;
    Ok(RunningRr {
        kind: super::DaemonKind::Bird,
        proc,
        control: Control::Bird { socket },
        log,
        cleanup_dir: None,
    })
}

/// Starts BIRD as a leaf that takes routes over BGP from any peer in `range` and
/// exports them to kernel table `table` (protocol `kfib`).
pub fn start_fib_leaf(
    ns: &Netns,
    dir: &Path,
    local: Ipv4Addr,
    range: &str,
    table: u32,
) -> Result<RunningRr, BenchError> {
    let config = format!(
        "router id {local};
protocol device {{ scan time 10; }}
protocol kernel kfib {{
  kernel table {table};
  scan time 3600;
  ipv4 {{ import none; export all; }};
}}
protocol bgp feed {{
  local {local} as 65000;
  neighbor range {range} internal;
  dynamic name \"feeder\";
  direct;
  ipv4 {{ import all; export none; gateway direct; }};
}}
"
    );
    let (proc, socket, log) = spawn(ns, dir, &config)?;
    let mut rr = RunningRr {
        kind: super::DaemonKind::Bird,
        proc,
        control: Control::Bird { socket },
        log,
        cleanup_dir: None,
    };
    rr.wait_ready(std::time::Duration::from_secs(30))?;
    Ok(rr)
}

/// One protocol block of `show protocols all`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BirdProtocol {
    /// Protocol name.
    pub name: String,
    /// Protocol type (`BGP`, `Kernel`, ...).
    pub proto: String,
    /// BGP state line, or the protocol state.
    pub state: String,
    /// BGP neighbor address.
    pub neighbor: Option<Ipv4Addr>,
    /// Routes imported into the table.
    pub imported: u64,
    /// Routes exported from the table (for the kernel protocol: sent to the kernel).
    pub exported: u64,
}

fn number_before(line: &str, word: &str) -> Option<u64> {
    let tokens: Vec<&str> = line.split([' ', ',']).filter(|t| !t.is_empty()).collect();
    tokens
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
}

/// Parses `birdc show protocols all`.
pub(super) fn parse_protocols(text: &str) -> Vec<BirdProtocol> {
    let mut out: Vec<BirdProtocol> = Vec::new();
    for line in text.lines() {
        let indented = line.starts_with([' ', '\t']);
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !indented && fields.len() >= 4 && fields[0] != "BIRD" && fields[0] != "Name" {
            out.push(BirdProtocol {
                name: fields[0].into(),
                proto: fields[1].into(),
                state: fields[3].into(),
                ..BirdProtocol::default()
            });
            continue;
        }
        let Some(p) = out.last_mut() else { continue };
        let trimmed = line.trim();
        if let Some(v) = trimmed.strip_prefix("BGP state:") {
            p.state = v.trim().into();
        } else if let Some(v) = trimmed.strip_prefix("Neighbor address:") {
            p.neighbor = v.trim().parse().ok();
        } else if trimmed.starts_with("Routes:") {
            p.imported += number_before(trimmed, "imported").unwrap_or(0);
            p.exported += number_before(trimmed, "exported").unwrap_or(0);
        }
    }
    out
}

/// `show protocols all` through the control socket.
pub(super) fn protocols(socket: &Path) -> Result<Vec<BirdProtocol>, BenchError> {
    let text = status_output(
        "bird",
        Command::new("birdc")
            .arg("-s")
            .arg(socket)
            .args(["show", "protocols", "all"]),
    )?;
    if !text.contains("BIRD") {
        return Err(BenchError::Status {
            daemon: "bird".into(),
            detail: text,
        });
    }
    Ok(parse_protocols(&text))
}

pub(super) fn poll(socket: &Path) -> Result<Vec<PeerStatus>, BenchError> {
    Ok(protocols(socket)?
        .into_iter()
        .filter(|p| p.proto == "BGP" && p.neighbor.is_some())
        .map(|p| PeerStatus {
            addr: p.neighbor,
            established: p.state == "Established",
            received: p.imported,
        })
        .collect())
}

impl RunningRr {
    /// BIRD only: the protocols, for the FIB scenario's kernel protocol counters.
    pub fn bird_protocols(&self) -> Result<Vec<BirdProtocol>, BenchError> {
        match &self.control {
            Control::Bird { socket } => protocols(socket),
            _ => Err(BenchError::Status {
                daemon: self.kind.name().into(),
                detail: "not BIRD".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     15:10:26.123
kfib       Kernel     master4    up     15:10:26.123
  Channel ipv4
    State:          UP
    Routes:         0 imported, 1500 exported, 0 preferred
dyn        BGP        ---        start  15:10:26.123  Passive
leaf1      BGP        ---        up     15:10:27.003  Established
  BGP state:          Established
    Neighbor address: 198.18.0.11
    Neighbor AS:      65000
  Channel ipv4
    Routes:         2000 imported, 0 filtered, 0 exported, 2000 preferred
leaf2      BGP        ---        start  15:10:27.003  Connect
  BGP state:          Connect
    Neighbor address: 198.18.0.12
";

    #[test]
    fn parses_protocol_blocks() {
        let p = parse_protocols(SAMPLE);
        assert_eq!(p.len(), 5);
        assert_eq!((p[1].name.as_str(), p[1].exported), ("kfib", 1500));
        assert_eq!(p[3].neighbor, Some(Ipv4Addr::new(198, 18, 0, 11)));
        assert_eq!((p[3].state.as_str(), p[3].imported), ("Established", 2000));
        assert_eq!(p[4].state, "Connect");
    }
}
