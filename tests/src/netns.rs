//! Network namespaces, links and processes for tests, removed on drop.
//!
//! Names are `<tag>-<pid>-<n>` cut to 15 bytes' worth of uniqueness where the kernel
//! needs it (interface names). Processes started with [`Netns::spawn`] are killed by
//! PID when their [`Proc`] guard drops; a [`Netns`] kills every PID still inside it
//! (`ip netns pids`) before deleting itself.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call: `<tag><pid%100000>n<k>`.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{tag}{}n{n}", std::process::id() % 100_000)
}

/// Runs a command and panics with its output when it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `ip <args>` and panics on failure.
pub fn ip(args: &[&str]) -> Output {
    run(Command::new("ip").args(args))
}

/// A network namespace with `lo` up; deleted (after killing its processes) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named uniquely from `tag`.
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Runs `ip <args>` inside the namespace; panics on failure.
    pub fn ip(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// Runs a program inside the namespace; returns its output whatever the status.
    pub fn exec(&self, program: &str, args: &[&str]) -> Output {
        self.command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"))
    }

    /// Starts a long-running process inside the namespace, stdout and stderr to `log`.
    pub fn spawn(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str], log: &Path) -> Proc {
        let file = std::fs::File::create(log).expect("create log");
        let err = file.try_clone().expect("clone log");
        let child = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .expect("spawn in netns");
        Proc { child: Some(child) }
    }

    /// Adds an address to an interface and sets it up.
    pub fn addr(&self, dev: &str, cidr: &str) {
        self.ip(&["addr", "add", cidr, "dev", dev]);
        self.ip(&["link", "set", dev, "up"]);
    }

    /// Runs the test `name` of the current test binary again, inside this namespace, and
    /// returns its output. The inner run sees [`inside_netns`] true; the outer test
    /// keeps owning (and cleaning up) the namespace.
    pub fn run_test_inside(&self, name: &str) -> Output {
        let exe = std::env::current_exe().expect("current test binary");
        self.command(exe)
            .args([
                name,
                "--exact",
                "--nocapture",
                "--test-threads=1",
                "--include-ignored",
            ])
            .env(INSIDE_ENV, &self.name)
            .output()
            .unwrap_or_else(|e| panic!("rerun {name} inside {}: {e}", self.name))
    }

    /// Enables IPv4 forwarding.
    pub fn forwarding(&self) {
        run(self
            .command("sysctl")
            .args(["-qw", "net.ipv4.ip_forward=1"]));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Set in a test process started by [`Netns::run_test_inside`].
pub const INSIDE_ENV: &str = "ROUTERD_TEST_INSIDE_NETNS";

/// True when this test process runs inside a namespace made by the outer test.
pub fn inside_netns() -> bool {
    std::env::var_os(INSIDE_ENV).is_some()
}

/// Runs `body` inside a fresh namespace: the outer call makes the namespace and reruns
/// the test `name` in it; the inner call (where [`inside_netns`] is true) runs `body`.
/// Panics with the inner output when the inner run fails.
pub fn in_fresh_netns(tag: &str, name: &str, body: impl FnOnce()) {
    if inside_netns() {
        body();
        return;
    }
    if !crate::require_root() {
        return;
    }
    let ns = Netns::new(tag);
    let out = ns.run_test_inside(name);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "{name} failed inside {}:\n{text}",
        ns.name()
    );
    assert!(
        text.contains("1 passed"),
        "{name} did not run inside {}:\n{text}",
        ns.name()
    );
}

/// A veth pair between two namespaces: `a_if` in `a`, `b_if` in `b`, both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    ip(&[
        "link",
        "add",
        a_if,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ]);
    a.ip(&["link", "set", a_if, "up"]);
    b.ip(&["link", "set", b_if, "up"]);
}

/// A bridge `br0` inside `sw` (STP off); [`Bridge::attach`] plugs a namespace in.
#[derive(Debug)]
pub struct Bridge<'a> {
    sw: &'a Netns,
    ports: u32,
}

impl<'a> Bridge<'a> {
    /// Creates `br0` in `sw`.
    pub fn new(sw: &'a Netns) -> Bridge<'a> {
        sw.ip(&[
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
        ]);
        sw.ip(&["link", "set", "br0", "up"]);
        Bridge { sw, ports: 0 }
    }

    /// Connects `ns` to the bridge through a veth named `dev` inside `ns`, with `cidr`.
    pub fn attach(&mut self, ns: &Netns, dev: &str, cidr: &str) {
        self.ports += 1;
        let port = format!("p{}", self.ports);
        veth(ns, dev, self.sw, &port);
        self.sw.ip(&["link", "set", &port, "master", "br0"]);
        ns.addr(dev, cidr);
    }
}

/// A process in a namespace, killed by PID on drop.
#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
}

impl Proc {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Sends SIGTERM and waits up to `secs` before SIGKILL.
    pub fn stop(&mut self, secs: u64) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some` or `secs` pass.
pub fn wait_for<T>(secs: u64, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Routes with protocol `bgp` in `table` of namespace `ns`, as sorted
/// `(prefix, gateway)` pairs; host routes are written with `/32`. Empty when `ip` fails.
pub fn kernel_bgp_routes(ns: &str, table: u32) -> Vec<(String, String)> {
    let table = table.to_string();
    let out = Command::new("ip")
        .args([
            "-n", ns, "-j", "route", "show", "table", &table, "proto", "bgp",
        ])
        .output();
    let doc: serde_json::Value = out
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or(serde_json::Value::Null);
    let mut routes: Vec<(String, String)> = doc
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| {
                    let dst = r["dst"].as_str()?;
                    let dst = if dst.contains('/') {
                        dst.to_string()
                    } else {
                        format!("{dst}/32")
                    };
                    Some((dst, r["gateway"].as_str().unwrap_or("").to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    routes.sort();
    routes
}
