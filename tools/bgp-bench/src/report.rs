//! Output: one JSON object per line (`--json`) or a human table, plus the
//! routerd/BIRD ratios when both ran.

use serde::Serialize;

use crate::scenario::fib::FibResult;
use crate::scenario::peers::PeersResult;
use crate::scenario::reflect::ReflectResult;

/// A failed daemon run, reported in place of its result.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Daemon name.
    pub daemon: String,
    /// Scenario name.
    pub scenario: &'static str,
    /// What went wrong.
    pub error: String,
}

/// Prints one value as a JSON line.
pub fn json_line<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("[bgp-bench] cannot encode a result: {e}"),
    }
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| (a / b * 1000.0).round() / 1000.0)
}

/// routerd/BIRD ratios for the reflect scenario (of the medians over `--runs`).
#[derive(Debug, Clone, Serialize)]
pub struct ReflectRatios {
    /// Always `routerd/bird`.
    pub ratios: &'static str,
    /// Number of prefixes.
    pub routes: usize,
    /// Ratio of `rr_s`.
    pub rr_s: Option<f64>,
    /// Ratio of `reflect_s`.
    pub reflect_s: Option<f64>,
    /// Ratio of `rss_mb`.
    pub rss_mb: Option<f64>,
    /// Ratio of `peak_rss_mb`.
    pub peak_rss_mb: Option<f64>,
    /// Ratio of `cpu_s`.
    pub cpu_s: Option<f64>,
}

/// Median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The ratios of routerd's medians to BIRD's, when both have a result.
pub fn reflect_ratios(results: &[ReflectResult]) -> Option<ReflectRatios> {
    let of = |daemon: &str| -> Vec<&ReflectResult> {
        results.iter().filter(|r| r.daemon == daemon).collect()
    };
    let (r, b) = (of("routerd"), of("bird"));
    if r.is_empty() || b.is_empty() {
        return None;
    }
    let q = |field: fn(&ReflectResult) -> f64| {
        ratio(
            median(r.iter().map(|x| field(x)).collect()),
            median(b.iter().map(|x| field(x)).collect()),
        )
    };
    Some(ReflectRatios {
        ratios: "routerd/bird",
        routes: r[0].routes,
        rr_s: q(|x| x.rr_s),
        reflect_s: q(|x| x.reflect_s),
        rss_mb: q(|x| x.rss_mb),
        peak_rss_mb: q(|x| x.peak_rss_mb),
        cpu_s: q(|x| x.cpu_s),
    })
}

/// Prints the reflect results as a table.
pub fn reflect_table(results: &[ReflectResult]) {
    println!(
        "{:<8} {:>8} {:>6} {:>8} {:>10} {:>8} {:>8} {:>7} {:>9} {:>9} {:>8} {:>6}",
        "daemon",
        "routes",
        "set",
        "rr_s",
        "reflect_s",
        "rss_mb",
        "peak_mb",
        "cpu_s",
        "rr_count",
        "sink",
        "updates",
        "load1"
    );
    for r in results {
        println!(
            "{:<8} {:>8} {:>6} {:>8.3} {:>10.3} {:>8.1} {:>8.1} {:>7.2} {:>9} {:>9} {:>8} {:>6.2}",
            r.daemon,
            r.routes,
            r.set,
            r.rr_s,
            r.reflect_s,
            r.rss_mb,
            r.peak_rss_mb,
            r.cpu_s,
            r.rr_count,
            r.sink_count,
            r.sink_updates,
            r.load1
        );
    }
    if let Some(q) = reflect_ratios(results) {
        let f = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into());
        println!(
            "routerd/bird: rr_s {}  reflect_s {}  rss {}  peak {}  cpu {}",
            f(q.rr_s),
            f(q.reflect_s),
            f(q.rss_mb),
            f(q.peak_rss_mb),
            f(q.cpu_s)
        );
    }
}

/// Prints the many-peers results as a table.
pub fn peers_table(results: &[PeersResult]) {
    println!(
        "{:<8} {:>6} {:>8} {:>10} {:>9} {:>8} {:>8} {:>7} {:>9} {:>7} {:>10}",
        "daemon",
        "peers",
        "estab_s",
        "deliver_s",
        "paths",
        "rss_mb",
        "peak_mb",
        "cpu_s",
        "idle_cpu%",
        "rr_est",
        "rr_recv"
    );
    for r in results {
        println!(
            "{:<8} {:>6} {:>8.2} {:>10.2} {:>9} {:>8.1} {:>8.1} {:>7.2} {:>9.2} {:>7} {:>10}",
            r.daemon,
            r.peers,
            r.established_s,
            r.delivered_s,
            r.paths,
            r.rss_mb,
            r.peak_rss_mb,
            r.cpu_s,
            r.idle_cpu_pct,
            r.rr_established,
            r.rr_received
        );
    }
}

/// Prints the FIB results as a table, with the rate ratio.
pub fn fib_table(results: &[FibResult]) {
    println!(
        "{:<8} {:>8} {:>8} {:>12} {:>10} {:>7}",
        "daemon", "routes", "fib_s", "routes/s", "installed", "bgp_s"
    );
    for r in results {
        let bgp = r
            .bgp_s
            .map(|s| format!("{s:.2}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<8} {:>8} {:>8.3} {:>12.0} {:>10} {:>7}",
            r.daemon, r.fib_routes, r.fib_s, r.routes_per_s, r.installed, bgp
        );
    }
    if let Some(q) = fib_ratio(results) {
        println!("routerd/bird: routes/s {q:.2}");
    }
}

/// routerd's median install rate over BIRD's, when both ran.
pub fn fib_ratio(results: &[FibResult]) -> Option<f64> {
    let rate = |daemon: &str| {
        let v: Vec<f64> = results
            .iter()
            .filter(|r| r.daemon == daemon)
            .map(|r| r.routes_per_s)
            .collect();
        (!v.is_empty()).then(|| median(v))
    };
    ratio(rate("routerd")?, rate("bird")?)
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(vec![]), 0.0);
    }
}
