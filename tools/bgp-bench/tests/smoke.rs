//! Smoke test of the benchmark harness: 2,000 prefixes through BIRD as route reflector,
//! checking counts (never times). Needs root and BIRD, like the system tests; set
//! `ROUTERD_SKIP_SYSTEM_TESTS=1` to skip on purpose.

use std::process::Command;

use serde_json::Value;

fn system_tests_enabled() -> bool {
    if std::env::var_os("ROUTERD_SKIP_SYSTEM_TESTS").is_some() {
        eprintln!("skipped: ROUTERD_SKIP_SYSTEM_TESTS is set");
        return false;
    }
    let uid = Command::new("id").arg("-u").output().expect("run id");
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "the benchmark smoke test needs root (network namespaces); set ROUTERD_SKIP_SYSTEM_TESTS=1 to skip"
    );
    true
}

/// Runs the benchmark with `args` and returns its JSON lines.
fn bench(args: &[&str]) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!(
        "bgp-bench-smoke-{}-{}",
        std::process::id(),
        args.len()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_bgp-bench"))
        .args(args)
        .arg("--json")
        .arg("--work-dir")
        .arg(&dir)
        .output()
        .expect("run bgp-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bgp-bench failed: {stdout}\n{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn check_reflected(rows: &[Value], set: &str) {
    assert_eq!(rows.len(), 1, "one object per daemon: {rows:?}");
    let r = &rows[0];
    assert_eq!(r["daemon"], "bird");
    assert_eq!(r["routes"], 2000);
    assert_eq!(r["set"], set);
    // The RR's own Adj-RIB-In count and the sink's distinct count agree with N.
    assert_eq!(r["rr_count"], 2000, "{r}");
    assert_eq!(r["sink_count"], 2000, "{r}");
    for field in ["rr_s", "reflect_s", "rss_mb", "peak_rss_mb", "cpu_s"] {
        assert!(
            r[field].as_f64().is_some_and(|v| v >= 0.0),
            "{field} missing in {r}"
        );
    }
    assert!(
        r["peak_rss_mb"].as_f64() >= r["rss_mb"].as_f64().map(|v| v * 0.99),
        "{r}"
    );
}

#[test]
fn bird_reflects_2000_host_routes() {
    if !system_tests_enabled() {
        return;
    }
    let rows = bench(&["--routes", "2000", "--daemons", "bird"]);
    check_reflected(&rows, "/32");
    // BIRD packs many prefixes per UPDATE: far fewer messages than routes.
    assert!(
        rows[0]["sink_updates"].as_u64().is_some_and(|u| u < 100),
        "{}",
        rows[0]
    );
}

#[test]
fn bird_reflects_2000_mixed_prefixes() {
    if !system_tests_enabled() {
        return;
    }
    let rows = bench(&["--routes", "2000", "--mixed", "--daemons", "bird"]);
    check_reflected(&rows, "mixed");
}

#[test]
fn missing_routerd_binary_is_a_clear_error() {
    if !system_tests_enabled() {
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_bgp-bench"))
        .args([
            "--routes",
            "10",
            "--daemons",
            "routerd",
            "--routerd",
            "/nonexistent/routerd",
        ])
        .output()
        .expect("run bgp-bench");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("routerd binary /nonexistent/routerd not found"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}
