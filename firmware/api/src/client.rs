//! A small blocking HTTP/1.1 client for the API (`routerd-tool`, tests).
//!
//! It speaks just enough HTTP for this API: one `GET` or `POST` per connection
//! (`Connection: close`), `Content-Length` or chunked bodies, `http://` URLs only. Every
//! step has a timeout, so an unreachable router is reported instead of hanging.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{PeerList, Status};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http://HOST:PORT[/]`; fix the `--router` argument.
    #[error("bad router url {0:?}: expected http://HOST:PORT")]
    BadUrl(String),
    /// No connection could be made or it broke; check that routerd runs and its API
    /// address.
    #[error("router unreachable at {addr}: {source}")]
    Unreachable {
        /// Where we tried.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The router answered with an error status (401: wrong or missing token).
    #[error("router answered {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body, trimmed.
        body: String,
    },
    /// The answer was not the expected HTTP or JSON.
    #[error("router sent a malformed answer: {0}")]
    Malformed(String),
}

/// A router's API endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    host: String,
    addr: SocketAddr,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for `url` (`http://HOST:PORT`), with an optional bearer token.
    pub fn new(url: &str, token: Option<String>) -> Result<Client, ClientError> {
        let bad = || ClientError::BadUrl(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let host = rest.trim_end_matches('/');
        if host.is_empty() || host.contains('/') {
            return Err(bad());
        }
        let addr = host
            .to_socket_addrs()
            .map_err(|_| bad())?
            .next()
            .ok_or_else(bad)?;
        Ok(Client {
            host: host.to_string(),
            addr,
            token,
            timeout: Duration::from_secs(5),
        })
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.get_json("/v1/status")
    }

    /// `GET /v1/peers`.
    pub fn peers(&self) -> Result<PeerList, ClientError> {
        self.get_json("/v1/peers")
    }

    /// `GET /v1/routes?prefix=P`: every path of one prefix.
    pub fn routes(&self, prefix: &str) -> Result<crate::routes::RouteView, ClientError> {
        // Prefixes need no escaping beyond `/`, which is allowed in a query string.
        self.get_json(&format!("/v1/routes?prefix={prefix}"))
    }

    /// `GET /v1/routes?limit=N[&prefix=P][&after=A]`: one page of best paths.
    pub fn routes_page(
        &self,
        within: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<crate::routes::RouteListing, ClientError> {
        let mut path = format!("/v1/routes?limit={limit}");
        if let Some(within) = within {
            path.push_str(&format!("&prefix={within}"));
        }
        if let Some(after) = after {
            path.push_str(&format!("&after={after}"));
        }
        self.get_json(&path)
    }

    /// `GET /v1/enrollment`.
    pub fn enrollment(&self) -> Result<crate::sam::Enrollment, ClientError> {
        self.get_json("/v1/enrollment")
    }

    /// `GET /v1/tunnels`.
    pub fn tunnels(&self) -> Result<crate::sam::TunnelList, ClientError> {
        self.get_json("/v1/tunnels")
    }

    /// `GET /v1/kernel`: the router's kernel routes and links.
    pub fn kernel(&self) -> Result<crate::kernel::KernelView, ClientError> {
        self.get_json("/v1/kernel")
    }

    /// `GET path`, decoded from JSON.
    pub fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let body = self.get(path)?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// `POST /v1/config` with a signed blob: the router runs it in try mode.
    pub fn push_config(
        &self,
        blob: &[u8],
    ) -> Result<crate::config_push::PushAccepted, ClientError> {
        let body = self.send("POST", "/v1/config", Some(blob))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// `POST /v1/config/confirm`: keep the config being tried.
    pub fn confirm_config(&self) -> Result<crate::config_push::Confirmed, ClientError> {
        let body = self.send("POST", "/v1/config/confirm", Some(&[]))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// `POST /v1/enrollment/revoke` (SAM RR): throw the leaf out until reinstated.
    pub fn revoke_leaf(
        &self,
        leaf: &crate::revocation::LeafRef,
    ) -> Result<crate::revocation::Revoked, ClientError> {
        self.post_json("/v1/enrollment/revoke", leaf)
    }

    /// `POST /v1/enrollment/revoke-claim` (SAM RR): revoke one accepted request by digest.
    pub fn revoke_claim(
        &self,
        claim: &crate::revocation::ClaimRef,
    ) -> Result<crate::revocation::ClaimRevoked, ClientError> {
        self.post_json("/v1/enrollment/revoke-claim", claim)
    }

    /// `POST /v1/enrollment/reinstate` (SAM RR): let a revoked leaf enroll again.
    pub fn reinstate_leaf(
        &self,
        leaf: &crate::revocation::LeafRef,
    ) -> Result<crate::revocation::Reinstated, ClientError> {
        self.post_json("/v1/enrollment/reinstate", leaf)
    }

    /// `POST path` with `request` as JSON; the 2xx answer parsed as `T`.
    fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &impl serde::Serialize,
    ) -> Result<T, ClientError> {
        let request = serde_json::to_vec(request).unwrap_or_default();
        let body = self.send("POST", path, Some(&request))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// `GET path`: the body of a 2xx answer.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.send("GET", path, None)
    }

    /// `METHOD path` with an optional body: the body of a 2xx answer.
    fn send(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<Vec<u8>, ClientError> {
        let unreachable = |source| ClientError::Unreachable {
            addr: self.addr.to_string(),
            source,
        };
        let mut stream =
            TcpStream::connect_timeout(&self.addr, self.timeout).map_err(unreachable)?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(unreachable)?;
        stream
            .set_write_timeout(Some(self.timeout))
            .map_err(unreachable)?;
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n",
            self.host
        );
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        if let Some(token) = &self.token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body.unwrap_or_default());
        stream.write_all(&bytes).map_err(unreachable)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(unreachable)?;
        let (status, body) = parse_response(&raw)?;
        if !(200..300).contains(&status) {
            // Refusals by the limits come as JSON with a hint; others as plain text.
            let body = match serde_json::from_slice::<crate::limits::ErrorBody>(&body) {
                Ok(e) => format!("{}; {}", e.error, e.hint),
                Err(_) => String::from_utf8_lossy(&body).trim().to_string(),
            };
            return Err(ClientError::Status { status, body });
        }
        Ok(body)
    }
}

/// Splits a whole HTTP/1.1 response into status code and decoded body.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), ClientError> {
    let malformed = |what: &str| ClientError::Malformed(what.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| malformed("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| malformed("headers not utf-8"))?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| malformed("bad status line"))?;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let body = if chunked {
        decode_chunked(body).ok_or_else(|| malformed("bad chunked body"))?
    } else if let Some(len) = length {
        body.get(..len)
            .ok_or_else(|| malformed("body shorter than content-length"))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// Decodes a chunked transfer-encoded body; `None` when it is cut or malformed.
fn decode_chunked(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_answers() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
        assert_eq!(parse_response(raw).unwrap(), (200, b"{}".to_vec()));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        assert_eq!(parse_response(raw).unwrap(), (200, b"abcde".to_vec()));
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_err());
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n";
        assert!(parse_response(raw).is_err());
    }

    #[test]
    fn refuses_urls_it_cannot_use() {
        assert!(Client::new("127.0.0.1:7179", None).is_err());
        assert!(Client::new("https://127.0.0.1:7179", None).is_err());
        assert!(Client::new("http://127.0.0.1:7179/x", None).is_err());
        assert!(Client::new("http://127.0.0.1:7179/", None).is_ok());
    }
}
