//! The client reachability matrix: for each of the 12 directed pairs of site clients, a
//! ping and a TCP echo exchange, all pairs probed in parallel.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::lab::Lab;
use super::plan::SITES;

/// TCP port of the echo listener in every client namespace.
pub(crate) const ECHO_PORT: u16 = 7007;

/// The result for one directed pair.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Pair {
    /// Source site.
    pub(crate) from: &'static str,
    /// Destination site.
    pub(crate) to: &'static str,
    /// Ping answered.
    pub(crate) ping: bool,
    /// TCP payload echoed back.
    pub(crate) tcp: bool,
    /// What failed, if anything.
    pub(crate) detail: String,
}

/// All 12 directed pairs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Matrix {
    /// Pairs in row-major order (source, then destination) over the sites.
    pub(crate) pairs: Vec<Pair>,
}

impl Matrix {
    /// Pairs where both ping and TCP passed.
    pub(crate) fn reachable(&self) -> usize {
        self.pairs.iter().filter(|p| p.ping && p.tcp).count()
    }

    /// The summary line, e.g. `12/12 directed client pairs reachable`.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{}/{} directed client pairs reachable",
            self.reachable(),
            self.pairs.len()
        )
    }

    /// The 4x4 table: `ok` both, `ping` or `tcp` only one, `--` neither.
    pub(crate) fn table(&self) -> String {
        let mut out = format!("{:<8}", "from\\to");
        for s in SITES {
            let _ = write!(out, "{:<7}", s.name);
        }
        out.push('\n');
        for from in SITES {
            let _ = write!(out, "{:<8}", from.name);
            for to in SITES {
                let cell = self
                    .pairs
                    .iter()
                    .find(|p| p.from == from.name && p.to == to.name)
                    .map_or("·", |p| match (p.ping, p.tcp) {
                        (true, true) => "ok",
                        (true, false) => "ping",
                        (false, true) => "tcp",
                        (false, false) => "--",
                    });
                let _ = write!(out, "{cell:<7}");
            }
            out.push('\n');
        }
        out
    }
}

/// Probes all 12 pairs: `clients[i]` is the namespace of `SITES[i]`'s client.
pub(crate) fn probe_all(lab: &Lab, tool: &Path, clients: &[String]) -> Matrix {
    let mut pairs = Vec::new();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (i, from) in SITES.iter().enumerate() {
            for (j, to) in SITES.iter().enumerate() {
                if i == j {
                    continue;
                }
                let ns = clients[i].clone();
                let tool: PathBuf = tool.to_path_buf();
                handles.push(scope.spawn(move || probe_pair(lab, &tool, &ns, from.name, to)));
            }
        }
        for h in handles {
            if let Ok(p) = h.join() {
                pairs.push(p);
            }
        }
    });
    Matrix { pairs }
}

fn probe_pair(
    lab: &Lab,
    tool: &Path,
    ns: &str,
    from: &'static str,
    to: &super::plan::Site,
) -> Pair {
    let dst = to.client().to_string();
    let ping = lab.probe(
        ns,
        Path::new("ping"),
        &["-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", &dst],
    );
    let target = format!("{dst}:{ECHO_PORT}");
    let payload = format!("routerd demo {from} -> {}", to.name);
    let tcp = lab.probe(
        ns,
        tool,
        &["demo", "internal", "echo-probe", &target, &payload],
    );
    let mut detail = Vec::new();
    if !ping.status.success() {
        detail.push(format!("ping {dst}: no reply"));
    }
    if !tcp.status.success() {
        detail.push(String::from_utf8_lossy(&tcp.stderr).trim().to_string());
    }
    Pair {
        from,
        to: to.name,
        ping: ping.status.success(),
        tcp: tcp.status.success(),
        detail: detail.join("; "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(from: &'static str, to: &'static str, ping: bool, tcp: bool) -> Pair {
        Pair {
            from,
            to,
            ping,
            tcp,
            detail: String::new(),
        }
    }

    #[test]
    fn summary_counts_only_pairs_with_ping_and_tcp() {
        let mut pairs = Vec::new();
        for from in SITES {
            for to in SITES {
                if from != to {
                    pairs.push(pair(from.name, to.name, true, true));
                }
            }
        }
        let mut m = Matrix { pairs };
        assert_eq!(m.summary(), "12/12 directed client pairs reachable");
        m.pairs[0].tcp = false;
        m.pairs[5].ping = false;
        assert_eq!(m.summary(), "10/12 directed client pairs reachable");
        let table = m.table();
        assert_eq!(table.lines().count(), 5);
        assert!(table.lines().nth(1).unwrap().contains("ping"));
    }
}
