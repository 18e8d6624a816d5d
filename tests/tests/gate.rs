//! System-test target `gate`: the four-site SAM gate (issue 7) as the operator runs it,
//! `routerd-tool demo --flavour netns|qemu`, on the built `routerd` and `routerd-tool`.
//!
//! - `netns_flavour_holds_every_assertion`: the whole gate (RR + four leaves, one behind
//!   NAT, four clients; enrollment, dynamic peers, admission, installed routes, the 12-pair
//!   matrix, RR kill and restart without re-enrollment, evidence); checks the JSON result
//!   (every gating assertion holds; reported ones are printed, see docs/gate.md), the
//!   summary line and the run directory, and that no namespace of the run is left.
//! - `qemu_flavour_holds_every_assertion`: the same gate with every router a QEMU guest of
//!   the pve-x86_64 image (kernel IPIP inside kernel WireGuard), the same checks, and no
//!   QEMU of the run left. Needs `qemu-system-x86_64`; builds the static routerd for the
//!   image with `--release` (or takes it from `ROUTERD_IMAGE_TARGET_DIR`, as `sam_guest`).
//!   The demo waits on conditions with generous deadlines (guests on a loaded 2-core
//!   machine); the two full gates take turns, so they do not slow each other down.
//! - `interrupt_removes_everything`: SIGINT (by PID) in the middle of a run removes every
//!   namespace and process of that run and exits 130.
//!
//! Needs root (network namespaces).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use system_tests::workspace_binary;

/// Scratch run directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(system_tests::netns::unique("rdgate"));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Namespaces whose names start with `rd<pid>-` (the demo's naming).
fn namespaces_of(pid: u32) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("rd{pid}-")))
        .map(str::to_string)
        .collect()
}

fn demo_command(run_dir: &Path) -> Command {
    flavour_command("netns", run_dir)
}

fn flavour_command(flavour: &str, run_dir: &Path) -> Command {
    let routerd = workspace_binary("routerd");
    let tool = workspace_binary("routerd-tool");
    let mut cmd = Command::new(tool);
    cmd.args(["demo", "--flavour", flavour, "--json", "--run-dir"])
        .arg(run_dir)
        .arg("--routerd")
        .arg(routerd);
    cmd
}

/// One full gate at a time (the qemu one fills both cores).
static FULL_GATE: Mutex<()> = Mutex::new(());

const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// The static routerd for the guests' image: from `ROUTERD_IMAGE_TARGET_DIR`, else built
/// with `--release` for the musl target.
fn image_routerd() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROUTERD_IMAGE_TARGET_DIR") {
        return PathBuf::from(dir).join(MUSL_TARGET).join("release/routerd");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new(env!("CARGO"))
        .current_dir(&root)
        .args(["build", "--quiet", "--release", "-p", "routerd"])
        .args(["--target", MUSL_TARGET])
        .status()
        .expect("run cargo build for routerd");
    assert!(
        status.success(),
        "cargo build -p routerd --target {MUSL_TARGET}"
    );
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join(MUSL_TARGET)
        .join("release/routerd")
}

/// QEMU processes whose parent is `pid` (the demo starts them through `ip netns exec`,
/// which execs QEMU in place).
fn qemu_children_of(pid: u32) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid=,ppid=,comm="])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 3 && f[1] == pid.to_string() && f[2].starts_with("qemu-system")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn netns_flavour_holds_every_assertion() {
    if !system_tests::require_root() {
        return;
    }
    let _turn = FULL_GATE.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new();
    holds_every_assertion(demo_command(&scratch.0), "netns", &scratch);
}

#[test]
fn qemu_flavour_holds_every_assertion() {
    if !system_tests::require_root() || !qemu_available() {
        return;
    }
    let image_routerd = image_routerd();
    let _turn = FULL_GATE.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = Scratch::new();
    let mut cmd = flavour_command("qemu", &scratch.0);
    cmd.arg("--image-routerd").arg(&image_routerd);
    holds_every_assertion(cmd, "qemu", &scratch);
}

fn qemu_available() -> bool {
    let found = Command::new("qemu-system-x86_64")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: qemu-system-x86_64 is not installed (tools/setup.sh installs it)");
    }
    found
}

/// Runs the gate command `cmd` (`--json`, run directory `scratch`) and checks everything
/// the operator relies on.
fn holds_every_assertion(mut cmd: Command, flavour: &str, scratch: &Scratch) {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run routerd-tool demo");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    eprintln!(
        "{flavour} flavour: wall time {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left behind: {:?}",
        namespaces_of(pid)
    );
    assert!(
        qemu_children_of(pid).is_empty(),
        "QEMU left behind: {:?}",
        qemu_children_of(pid)
    );
    assert_eq!(result_flavour(&out.stdout), Some(flavour.to_string()));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("demo --json printed no JSON ({e}):\n{stderr}"));
    let failed: Vec<String> = result["assertions"]
        .as_array()
        .expect("assertions list")
        .iter()
        .filter(|a| a["pass"] != true && a["gating"] != false)
        .map(|a| format!("{} {}: {}", a["id"], a["title"], a["evidence"]))
        .collect();
    assert!(
        failed.is_empty(),
        "failed assertions:\n{}",
        failed.join("\n")
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(result["pass"], true);
    assert_eq!(result["summary"], "12/12 directed client pairs reachable");
    let ids: Vec<&str> = result["assertions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    for id in [
        "1", "2", "3", "4", "5", "5k", "6", "7", "F1", "R2", "R3", "R4", "R5", "R5k", "R6", "R7",
        "R8",
    ] {
        assert!(ids.contains(&id), "assertion {id} was not checked: {ids:?}");
    }
    let summary = std::fs::read_to_string(scratch.0.join("summary.txt")).unwrap();
    assert!(summary.contains("12/12 directed client pairs reachable"));
    assert!(summary.contains("PASS:"));
    for node in ["rr", "aws-leaf", "azure-leaf", "oci-leaf", "pve-leaf"] {
        for file in ["config.json", "status.json", "status-after-restart.json"] {
            assert!(
                scratch.0.join("nodes").join(node).join(file).is_file(),
                "{node}/{file}"
            );
        }
    }
    assert!(
        !scratch.0.join("secret").exists(),
        "the secrets directory must be removed without --keep"
    );
}

/// The `flavour` of a `--json` result.
fn result_flavour(stdout: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(stdout).ok()?;
    v["flavour"].as_str().map(str::to_string)
}

#[test]
fn interrupt_removes_everything() {
    if !system_tests::require_root() {
        return;
    }
    let scratch = Scratch::new();
    let mut child = demo_command(&scratch.0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run routerd-tool demo");
    let pid = child.id();
    // Wait until the topology exists (the last client namespace is made last).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !namespaces_of(pid).iter().any(|n| n.ends_with("-c-pve")) {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if child.try_wait().unwrap().is_none() {
        let created = namespaces_of(pid);
        assert!(created.len() >= 11, "topology not built: {created:?}");
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "exit status after SIGINT");
    } else {
        // The run ended before it could be interrupted (a router did not start): it
        // still has to leave nothing behind, checked below.
        let _ = child.wait();
    }
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left behind: {:?}",
        namespaces_of(pid)
    );
}
