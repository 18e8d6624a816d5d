//! Harness of the `api` system tests: the namespace topology, routerd and ExaBGP
//! started from generated configs and killed by PID on drop, a raw HTTP client that binds
//! its source address, and `routerd-tool` runs.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use system_tests::netns::{run, wait_for};
use system_tests::workspace_binary;

pub(crate) const TOKEN: &str = "api-test-token-0001";
pub(crate) const API: &str = "192.0.2.1:7179";
pub(crate) use system_tests::DEV_TRUSTED_KEY;
/// Routes ExaBGP announces: 10.20.0.0/24 .. in 10.20.0.0/16, and more in 10.21.0.0/16.
pub(crate) const STATIC_IN_FILTER: usize = 2500;
pub(crate) const STATIC_OUTSIDE: usize = 500;

/// A child process killed by PID when dropped.
pub(crate) struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A scratch directory removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new() -> Scratch {
        let dir = std::env::temp_dir().join(system_tests::netns::unique("rdapi"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("ROUTERD_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `routerd` or `routerd-tool`, built once per test process (a build can take long, and
/// the push test's timing must not include it).
pub(crate) fn binary(name: &str) -> PathBuf {
    static BUILT: std::sync::OnceLock<(PathBuf, PathBuf)> = std::sync::OnceLock::new();
    let (routerd, tool) = BUILT.get_or_init(|| {
        (
            workspace_binary("routerd"),
            workspace_binary("routerd-tool"),
        )
    });
    if name == "routerd" {
        routerd.clone()
    } else {
        tool.clone()
    }
}

pub(crate) fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// The veth pair and the client source addresses, in the current namespace.
pub(crate) fn topology() {
    ip(&["link", "add", "ra", "type", "veth", "peer", "name", "rb"]);
    ip(&["addr", "add", "192.0.2.1/24", "dev", "ra"]);
    ip(&["addr", "add", "192.0.2.2/24", "dev", "rb"]);
    ip(&["link", "set", "ra", "up"]);
    ip(&["link", "set", "rb", "up"]);
    for i in 3..=14 {
        ip(&["addr", "add", &format!("192.0.2.{i}/32"), "dev", "lo"]);
    }
    ip(&["addr", "add", "198.51.100.9/32", "dev", "lo"]);
}

pub(crate) fn routerd_config(token_sha256: &str) -> String {
    format!(
        "trusted_keys = [\"{DEV_TRUSTED_KEY}\"]\n\n\
         [node]\nname = \"api-test\"\nmode = \"rr\"\nrouter_id = \"192.0.2.1\"\nasn = 65000\nboard = \"dev\"\n\n\
         [bgp]\nlisten_addresses = [\"192.0.2.1\"]\nkernel_table = 100\n\n\
         [[bgp.dynamic]]\nprefix = \"203.0.113.0/24\"\nmax_peers = 4\n\
         template = {{ remote_as = 65000, rr_client = true }}\n\n\
         [[bgp.peers]]\naddress = \"192.0.2.2\"\nremote_as = 65000\nrr_client = true\n\n\
         [sam.rr]\nlisten_address = \"192.0.2.1\"\ntunnel_address = \"203.0.113.1\"\n\n\
         [[sam.rr.policies]]\nname = \"default\"\ntunnel_prefix = \"203.0.113.0/24\"\n\
         client_prefixes = [\"198.18.0.0/15\"]\njoin_tokens = [\"api-test-join-token-01\"]\n\
         claim_ttl_secs = 3600\nmax_leaves = 4\n\n\
         [api]\nbind = [\"{API}\"]\nallow_sources = [\"192.0.2.0/28\"]\ntoken_sha256 = \"{token_sha256}\"\n"
    )
}

/// Starts routerd with the API config; waits until the API answers.
pub(crate) fn start_routerd(dir: &Path) -> Guard {
    let conf = dir.join("routerd.toml");
    std::fs::write(&conf, routerd_config(&system_tests::sha256_hex(TOKEN))).unwrap();
    start_routerd_with(dir, &["--config".as_ref(), conf.as_os_str()])
}

/// Starts `routerd run ARGS --state-dir DIR/state`; waits until the API answers.
pub(crate) fn start_routerd_with(dir: &Path, args: &[&std::ffi::OsStr]) -> Guard {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("routerd.log"))
        .unwrap();
    let child = Command::new(binary("routerd"))
        .arg("run")
        .args(args)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start routerd");
    let guard = Guard(child);
    let up = wait_for(20, || {
        (get(SOURCE, "/v1/status", Some(TOKEN)).status == 200).then_some(())
    });
    assert!(
        up.is_some(),
        "routerd API did not come up; log:\n{}",
        read_log(dir, "routerd.log")
    );
    guard
}

/// Starts ExaBGP announcing the static routes and, when `churn`, flapping 200 more
/// prefixes in 10.20.200.0/22 .. through its process API for as long as it runs.
pub(crate) fn start_exabgp(dir: &Path, churn: bool) -> Guard {
    let mut routes = String::new();
    for i in 0..STATIC_IN_FILTER {
        // 10.20.0.0/16 split into /28s: 2500 distinct prefixes.
        let n = i * 16;
        let _ = std::fmt::Write::write_fmt(
            &mut routes,
            format_args!(
                "        route 10.20.{}.{}/28 next-hop 192.0.2.2;\n",
                n / 256,
                n % 256
            ),
        );
    }
    for i in 0..STATIC_OUTSIDE {
        let _ = std::fmt::Write::write_fmt(
            &mut routes,
            format_args!(
                "        route 10.21.{}.{}/28 next-hop 192.0.2.2;\n",
                i * 16 / 256,
                i * 16 % 256
            ),
        );
    }
    let script = dir.join("churn.py");
    std::fs::write(
        &script,
        "import sys, time\n\
         i = 0\n\
         while True:\n\
         \x20   p = '10.22.%d.0/24' % (i % 200)\n\
         \x20   verb = 'announce' if (i // 200) % 2 == 0 else 'withdraw'\n\
         \x20   sys.stdout.write('%s route %s next-hop 192.0.2.2\\n' % (verb, p))\n\
         \x20   sys.stdout.flush()\n\
         \x20   i += 1\n\
         \x20   time.sleep(0.002)\n",
    )
    .unwrap();
    let process = if churn {
        format!(
            "process churn {{\n    run /usr/bin/env python3 {};\n    encoder text;\n}}\n\n",
            script.display()
        )
    } else {
        String::new()
    };
    let api = if churn {
        "    api {\n        processes [ churn ];\n    }\n"
    } else {
        ""
    };
    let conf = dir.join("exabgp.conf");
    std::fs::write(
        &conf,
        format!(
            "{process}neighbor 192.0.2.1 {{\n    router-id 192.0.2.2;\n    local-address 192.0.2.2;\n    \
             local-as 65000;\n    peer-as 65000;\n    family {{\n        ipv4 unicast;\n    }}\n{api}    \
             static {{\n{routes}    }}\n}}\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("exabgp.log")).unwrap();
    let child = Command::new("env")
        .args([
            "exabgp.daemon.user=root",
            "exabgp.daemon.drop=false",
            "exabgp.api.cli=false",
            "exabgp.log.destination=stdout",
            "exabgp.log.level=WARNING",
            "exabgp",
        ])
        .arg(&conf)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start exabgp");
    Guard(child)
}

pub(crate) fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// A source address inside the allowlist.
pub(crate) const SOURCE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// One HTTP/1.1 request from `source` (bound before connecting); the whole answer.
pub(crate) fn request(source: Ipv4Addr, raw: &[u8]) -> Answer {
    // std has no bind-before-connect; tokio's TcpSocket has.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let api: SocketAddr = API.parse().unwrap();
    let raw = raw.to_vec();
    rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(source.into(), 0)).unwrap();
        let Ok(Ok(mut stream)) =
            tokio::time::timeout(Duration::from_secs(5), socket.connect(api)).await
        else {
            return Answer {
                status: 0,
                head: String::new(),
                body: String::new(),
            };
        };
        let _ = stream.write_all(&raw).await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        let text = String::from_utf8_lossy(&out).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        Answer {
            status,
            head: head.to_ascii_lowercase(),
            body: if chunked {
                dechunk(body)
            } else {
                body.to_string()
            },
        }
    })
}

pub(crate) fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub(crate) fn get(source: Ipv4Addr, path: &str, token: Option<&str>) -> Answer {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    request(
        source,
        format!("GET {path} HTTP/1.1\r\nHost: {API}\r\n{auth}Connection: close\r\n\r\n").as_bytes(),
    )
}

/// `routerd-tool ARGS --router http://API --token-file F`: exit code and stdout.
pub(crate) fn tool(dir: &Path, args: &[&str]) -> (i32, String) {
    let token_file = dir.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let out = Command::new(binary("routerd-tool"))
        .args(args)
        .args(["--router", &format!("http://{API}"), "--token-file"])
        .arg(&token_file)
        .output()
        .expect("run routerd-tool");
    eprintln!(
        "$ routerd-tool {} -> {:?}\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Walks every page of `/v1/routes` inside `within`; returns the prefixes in order.
pub(crate) fn walk(source: Ipv4Addr, within: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/routes?prefix={within}&limit={limit}");
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let answer = get(source, &path, Some(TOKEN));
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        let page = answer.json();
        let routes = page["routes"].as_array().unwrap();
        assert!(routes.len() <= limit);
        for r in routes {
            seen.push(r["prefix"].as_str().unwrap().to_string());
            assert_eq!(r["best"]["next_hop"], "192.0.2.2", "{r}");
        }
        match page["next"].as_str() {
            Some(next) => {
                assert_eq!(Some(next), seen.last().map(String::as_str));
                after = Some(next.to_string());
            }
            None => return seen,
        }
    }
}

pub(crate) fn sorted_by_address(prefixes: &[String]) -> bool {
    let nets: Vec<ipnet::IpNet> = prefixes.iter().map(|p| p.parse().unwrap()).collect();
    nets.windows(2).all(|w| w[0] < w[1])
}

/// The peers table with the uptime and the churning counts replaced.
pub(crate) fn redact_peers(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with("PEER") {
                return line.split_whitespace().collect::<Vec<_>>().join(" ");
            }
            let cells: Vec<&str> = line.split_whitespace().collect();
            match cells.as_slice() {
                [peer, asn, state, _uptime, _rx, _acc, rej, _adv] => {
                    format!(
                        "{peer} {asn} {state} [uptime] [received] [accepted] {rej} [advertised]"
                    )
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The status text with version, uptime and route count replaced.
pub(crate) fn redact_status(text: &str) -> String {
    text.lines()
        .map(|line| {
            for key in ["version", "uptime", "routes"] {
                if line.starts_with(key) {
                    return format!("{key:<12}[{key}]");
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `routerd-tool ARGS` without router arguments: exit code, stdout and stderr.
pub(crate) fn offline_tool(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = Command::new(binary("routerd-tool"))
        .args(args)
        .output()
        .expect("run routerd-tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Signs `text` (the API test config with `extra` TOML appended) with serial `serial`.
pub(crate) fn sign(dir: &Path, name: &str, text: &str, serial: u64) -> PathBuf {
    let conf = dir.join(format!("{name}.toml"));
    std::fs::write(&conf, text).unwrap();
    let blob = dir.join(format!("{name}.blob"));
    let key = dir.join("keys").join("owner.key");
    let serial = serial.to_string();
    let (code, out, err) = offline_tool(&[
        "provision".as_ref(),
        "--config".as_ref(),
        conf.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--out".as_ref(),
        blob.as_os_str(),
        "--serial".as_ref(),
        serial.as_ref(),
    ]);
    assert_eq!(code, 0, "provision {name}: {out}{err}");
    blob
}

/// `/v1/status` over HTTP (no process start: the try-mode checks race a 10 s revert).
pub(crate) fn status(_dir: &Path) -> Value {
    let answer = get(SOURCE, "/v1/status", Some(TOKEN));
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

/// A `POST /v1/config` request carrying `blob`.
pub(crate) fn post_blob(blob: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "POST /v1/config HTTP/1.1\r\nHost: {API}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        blob.len()
    )
    .into_bytes();
    raw.extend_from_slice(blob);
    raw
}
