//! Memory and CPU of a process from `/proc/PID/status` and `/proc/PID/stat`.

use std::sync::OnceLock;

use crate::error::BenchError;

/// Resource use of one process at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Resident set size now (VmRSS), MB (10^6 bytes).
    pub rss_mb: f64,
    /// Peak resident set size (VmHWM), MB.
    pub peak_rss_mb: f64,
    /// User plus system CPU time so far, seconds.
    pub cpu_s: f64,
}

fn clock_ticks() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn status_kb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// Parses the contents of `/proc/PID/status` and `/proc/PID/stat`.
pub fn parse(status: &str, stat: &str, ticks_per_s: f64) -> Option<Usage> {
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(Usage {
        rss_mb: status_kb(status, "VmRSS:")? * 1024.0 / 1e6,
        peak_rss_mb: status_kb(status, "VmHWM:")? * 1024.0 / 1e6,
        cpu_s: (utime + stime) / ticks_per_s,
    })
}

/// The machine's one-minute load average (`/proc/loadavg`), 0 when unreadable: other
/// work on the same cores skews every figure, so results carry it.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Current usage of `pid`.
pub fn usage(pid: u32) -> Result<Usage, BenchError> {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/proc/{pid}/{file}"))
            .map_err(BenchError::io(format!("read /proc/{pid}/{file}")))
    };
    let (status, stat) = (read("status")?, read("stat")?);
    parse(&status, &stat, clock_ticks()).ok_or_else(|| BenchError::Status {
        daemon: format!("process {pid}"),
        detail: "unreadable /proc status".into(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_proc_files() {
        let status = "Name:\tbird\nVmHWM:\t   95000 kB\nVmRSS:\t   94000 kB\n";
        let stat = "4242 (bird (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 50 14 0 0 20 0 1 0";
        let u = super::parse(status, stat, 100.0).unwrap();
        assert!((u.cpu_s - 0.64).abs() < 1e-9);
        assert!((u.peak_rss_mb - 97.28).abs() < 1e-9);
        assert!((u.rss_mb - 96.256).abs() < 1e-9);
        assert!(super::parse("", stat, 100.0).is_none());
    }

    #[test]
    fn reads_own_process() {
        let u = super::usage(std::process::id()).unwrap();
        assert!(u.rss_mb > 0.0 && u.peak_rss_mb >= u.rss_mb);
    }
}
