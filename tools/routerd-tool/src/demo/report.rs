//! What the demo prints and leaves behind: the matrices, each assertion with PASS/FAIL
//! and its evidence, the notes, and the summary line; written to `summary.txt`,
//! `matrix.txt` and `result.json` in the run directory and printed (text, or JSON with
//! `--json`).

use std::fmt::Write as _;

use serde_json::json;

use super::Progress;
use super::checks::Assertion;
use super::matrix::Matrix;
use super::netns::Outcome;

/// The whole text report.
pub(crate) fn summary_text(
    assertions: &[Assertion],
    matrices: &[(String, Matrix)],
    notes: &[String],
    wall_secs: f64,
    flavour: &str,
) -> String {
    let mut out = String::new();
    for (phase, m) in matrices {
        let _ = writeln!(
            out,
            "== client matrix ({phase}): ping + TCP per directed pair"
        );
        out.push_str(&m.table());
        let _ = writeln!(out, "{}\n", m.summary());
    }
    let _ = writeln!(out, "== assertions");
    for a in assertions {
        let _ = writeln!(
            out,
            "{} {:>3}  {}",
            if a.pass { "PASS" } else { "FAIL" },
            a.id,
            a.title
        );
        if !a.gating {
            let _ = writeln!(out, "           (reported: does not decide the exit code)");
        }
        for e in &a.evidence {
            let _ = writeln!(out, "           {}", e.replace('\n', "\n             "));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\n== observations (reported, not asserted)");
        for n in notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    let gating: Vec<&Assertion> = assertions.iter().filter(|a| a.gating).collect();
    let passed = gating.iter().filter(|a| a.pass).count();
    let all = !gating.is_empty() && passed == gating.len();
    let reported: Vec<String> = assertions
        .iter()
        .filter(|a| !a.gating)
        .map(|a| format!("{} {}", a.id, if a.pass { "PASS" } else { "FAIL" }))
        .collect();
    let _ = writeln!(out, "\n== summary");
    if let Some((_, m)) = matrices.first() {
        let _ = writeln!(out, "{}", m.summary());
    }
    let _ = writeln!(
        out,
        "{}: {passed}/{} assertions hold{}; flavour {flavour}; wall time {wall_secs:.1}s",
        if all { "PASS" } else { "FAIL" },
        gating.len(),
        if reported.is_empty() {
            String::new()
        } else {
            format!(" (reported only: {})", reported.join(", "))
        }
    );
    out
}

/// Writes the report files and prints the report.
pub(crate) fn finish(outcome: &Outcome, flavour: &str, progress: &Progress, json_out: bool) {
    let wall = progress.elapsed_secs();
    let text = summary_text(
        &outcome.assertions,
        &outcome.matrices,
        &outcome.notes,
        wall,
        flavour,
    );
    let run = &outcome.run;
    let _ = run.write(&run.root.join("summary.txt"), &text);
    let tables: String = outcome
        .matrices
        .iter()
        .map(|(phase, m)| format!("{phase}\n{}{}\n\n", m.table(), m.summary()))
        .collect();
    let _ = run.write(&run.root.join("matrix.txt"), &tables);
    let result = json!({
        "flavour": flavour,
        "pass": outcome.all_pass(),
        "wall_secs": (wall * 10.0).round() / 10.0,
        "run_dir": run.root.display().to_string(),
        "summary": outcome.matrices.first().map(|(_, m)| m.summary()),
        "assertions": outcome.assertions,
        "matrices": outcome.matrices.iter()
            .map(|(phase, m)| json!({ "phase": phase, "pairs": m.pairs, "summary": m.summary() }))
            .collect::<Vec<_>>(),
        "notes": outcome.notes,
    });
    let _ = run.write_json(&run.root.join("result.json"), &result);
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        );
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    progress.say(&format!(
        "evidence in {} (summary.txt, result.json, nodes/, logs/)",
        run.root.display()
    ));
}
