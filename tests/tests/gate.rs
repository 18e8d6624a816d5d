//! System-test target `gate`: the four-site SAM gate (issue 7) as the operator runs it,
//! `routerd-tool demo --flavour netns`, on the built `routerd` and `routerd-tool`.
//!
//! - `netns_flavour_holds_every_assertion`: the whole gate (RR + four leaves, one behind
//!   NAT, four clients; enrollment, dynamic peers, admission, installed routes, the 12-pair
//!   matrix, RR kill and restart without re-enrollment, evidence); checks the JSON result
//!   (every gating assertion holds; reported ones such as F1 are printed, see
//!   docs/gate.md), the summary line and the run directory, and that no namespace of the
//!   run is left.
//! - `interrupt_removes_everything`: SIGINT (by PID) in the middle of a run removes every
//!   namespace and process of that run and exits 130.
//!
//! Needs root (network namespaces). The qemu flavour joins here when it exists.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
    let routerd = workspace_binary("routerd");
    let tool = workspace_binary("routerd-tool");
    let mut cmd = Command::new(tool);
    cmd.args(["demo", "--flavour", "netns", "--json", "--run-dir"])
        .arg(run_dir)
        .arg("--routerd")
        .arg(routerd);
    cmd
}

#[test]
fn netns_flavour_holds_every_assertion() {
    if !system_tests::require_root() {
        return;
    }
    let scratch = Scratch::new();
    let started = Instant::now();
    let child = demo_command(&scratch.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run routerd-tool demo");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}");
    eprintln!("wall time {:.1}s", started.elapsed().as_secs_f64());
    assert!(
        namespaces_of(pid).is_empty(),
        "namespaces left behind: {:?}",
        namespaces_of(pid)
    );
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
