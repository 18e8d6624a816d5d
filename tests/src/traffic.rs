//! Traffic through a test topology: one ping, one TCP exchange between two namespaces,
//! a continuous timestamped ping stream for measuring gaps ([`PingStream`]), and the
//! masquerading NAT box of the SAM tests (nftables in its namespace).
//!
//! Every probe has a deadline and answers `true`/`false`; the caller decides what a
//! failure means and prints its own context.

use std::process::Stdio;

use crate::netns::{Netns, unique, wait_for};

/// TCP port the exchange listens on inside the server namespace.
const TCP_PORT: &str = "5001";

/// One ping from `from` to `to` (2 s to answer).
pub fn pings(from: &Netns, to: &str) -> bool {
    from.exec("ping", &["-c", "1", "-W", "2", to])
        .status
        .success()
}

/// A TCP connection from `client` to `server_address` (where `server` listens), retried
/// for up to `secs`: `true` when the server received the line sent.
pub fn tcp_exchange(
    server: &Netns,
    server_address: &str,
    client: &Netns,
    line: &str,
    secs: u64,
) -> bool {
    let out_file = std::env::temp_dir().join(unique("tcp"));
    let Ok(file) = std::fs::File::create(&out_file) else {
        return false;
    };
    let wait = secs.to_string();
    let Ok(mut listener) = server
        .command("nc")
        .args(["-l", "-N", "-w", &wait, TCP_PORT])
        .stdout(file)
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let connect = (secs / 2).max(1).to_string();
    let sent = wait_for(secs, || {
        let mut child = client
            .command("nc")
            .args(["-N", "-w", &connect, server_address, TCP_PORT])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let _ = std::io::Write::write_all(child.stdin.as_mut()?, format!("{line}\n").as_bytes());
        drop(child.stdin.take());
        child.wait().ok()?.success().then_some(())
    });
    let received = wait_for(secs, || {
        std::fs::read_to_string(&out_file)
            .unwrap_or_default()
            .contains(line)
            .then_some(())
    });
    let _ = listener.kill();
    let _ = listener.wait();
    let _ = std::fs::remove_file(&out_file);
    sent.is_some() && received.is_some()
}

/// Makes `nat` a NAT box: everything leaving through `uplink` is masqueraded, TCP and
/// UDP with source ports from `ports` (`"40000-40099"`) when given. Replaces the
/// namespace's whole nftables ruleset, so calling it again moves the port range.
pub fn masquerade(nat: &Netns, uplink: &str, ports: Option<&str>) {
    let port_rule = ports
        .map(|p| format!(" oifname \"{uplink}\" meta l4proto {{ tcp, udp }} masquerade to :{p}\n"))
        .unwrap_or_default();
    let rules = format!(
        "flush ruleset\ntable ip nat {{\n chain post {{\n type nat hook postrouting priority 100;\n\
         {port_rule} oifname \"{uplink}\" masquerade\n }}\n}}\n"
    );
    let file = std::env::temp_dir().join(unique("nft"));
    std::fs::write(&file, rules).expect("write the nftables rules");
    let out = nat.exec("nft", &["-f", &file.display().to_string()]);
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A ping every 100 ms from one address to another (`ping -D`, replies stamped with
/// seconds since the unix epoch in its log), running until dropped: the fault tests
/// read the gap in its replies around a fault.
pub struct PingStream {
    log: std::path::PathBuf,
    _ping: crate::netns::Proc,
}

impl PingStream {
    /// Starts pinging `dst` from `src` inside `ns`, logging to `log`, and waits up to 20 s
    /// for the first reply; `None` when none came (the log is then in `Err`).
    pub fn start(
        ns: &Netns,
        src: &str,
        dst: &str,
        log: &std::path::Path,
    ) -> Result<PingStream, String> {
        let ping = ns.spawn(
            "ping",
            &["-D", "-n", "-i", "0.1", "-W", "1", "-I", src, dst],
            log,
        );
        let stream = PingStream {
            log: log.to_path_buf(),
            _ping: ping,
        };
        match wait_for(20, || (!stream.reply_times().is_empty()).then_some(())) {
            Some(()) => Ok(stream),
            None => Err(std::fs::read_to_string(log).unwrap_or_default()),
        }
    }

    /// The log `ping` writes.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    /// Seconds since the unix epoch of every reply so far.
    pub fn reply_times(&self) -> Vec<f64> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect()
    }
}

/// Seconds since the unix epoch now, on the clock `ping -D` stamps with.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
