//! Helpers the demo runs inside its namespaces (`ip netns exec NS routerd-tool demo
//! internal ...`): fetching a router's API from its own loopback, a TCP echo listener for
//! the clients, and the TCP probe between clients. Hidden from `--help`.
//!
//! Exit codes: 0 success, 1 the fetch or probe failed (the reason on stderr), 2 usage.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// A helper run inside a namespace.
#[derive(clap::Subcommand)]
pub(crate) enum Internal {
    /// GET an API path of the router in this namespace and print the body.
    ApiGet {
        /// API base URL.
        #[arg(long)]
        url: String,
        /// File holding the bearer token.
        #[arg(long)]
        token_file: PathBuf,
        /// Path, e.g. `/v1/status`.
        path: String,
    },
    /// Echo every TCP connection's bytes back, forever.
    EchoServe {
        /// Address to listen on.
        listen: SocketAddr,
    },
    /// Connect, send a payload, expect it echoed back.
    EchoProbe {
        /// The echo listener.
        target: SocketAddr,
        /// The payload.
        payload: String,
    },
}

/// Runs a helper; returns the exit code.
pub(crate) fn run(helper: Internal) -> i32 {
    match helper {
        Internal::ApiGet {
            url,
            token_file,
            path,
        } => api_get(&url, &token_file, &path),
        Internal::EchoServe { listen } => echo_serve(listen),
        Internal::EchoProbe { target, payload } => match echo_probe(target, &payload) {
            Ok(()) => {
                println!("echoed {} bytes from {target}", payload.len());
                0
            }
            Err(e) => {
                eprintln!("tcp to {target}: {e}");
                1
            }
        },
    }
}

fn api_get(url: &str, token_file: &std::path::Path, path: &str) -> i32 {
    let token = match std::fs::read_to_string(token_file) {
        Ok(t) => t.trim().to_string(),
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", token_file.display());
            return 2;
        }
    };
    let client = match api::client::Client::new(url, Some(token)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match client.get(path) {
        Ok(body) => {
            let _ = std::io::stdout().write_all(&body);
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn echo_serve(listen: SocketAddr) -> i32 {
    let listener = match TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return 1;
        }
    };
    eprintln!("echo listener on {listen}");
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || echo_one(stream));
    }
    0
}

fn echo_one(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = [0u8; 4096];
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 || stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
}

/// Sends `payload` to the echo listener at `target` and checks it comes back whole.
fn echo_probe(target: SocketAddr, payload: &str) -> std::io::Result<()> {
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&target, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(payload.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut back = Vec::new();
    stream.read_to_end(&mut back)?;
    if back != payload.as_bytes() {
        return Err(std::io::Error::other(format!(
            "sent {} bytes, got {} different bytes back",
            payload.len(),
            back.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_passes_against_the_echo_listener_and_fails_without_one() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                std::thread::spawn(move || echo_one(s));
            }
        });
        echo_probe(addr, "demo payload aws->azure").unwrap();
        // A listener that accepts and closes at once does not echo.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_addr = silent.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in silent.incoming().flatten() {
                drop(s);
            }
        });
        assert!(echo_probe(silent_addr, "x").is_err());
    }
}
