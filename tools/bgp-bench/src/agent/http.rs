//! A one-shot HTTP/1.1 GET for routerd's status API, run inside the route reflector's
//! namespace: prints the response body on stdout.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::AgentError;

/// Fetches `path` from `addr` and prints the body; non-2xx answers are errors.
pub(super) fn get(addr: SocketAddr, path: &str) -> Result<(), AgentError> {
    let http = |e: std::io::Error| AgentError::Http(e.to_string());
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(http)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(http)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(http)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(http)?;
    let text = String::from_utf8_lossy(&raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Err(AgentError::Http("response has no header end".into()));
    };
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if !status.starts_with('2') {
        return Err(AgentError::Http(format!(
            "status {status}: {}",
            body.trim()
        )));
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    println!("{body}");
    Ok(())
}

/// Joins the chunks of a chunked body (sizes in hex, each on its own line).
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dechunks() {
        assert_eq!(
            super::dechunk("4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n"),
            "{\"a\":1}"
        );
    }
}
