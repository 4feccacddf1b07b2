//! The human report: a scenarios × targets matrix, then every unexpected outcome with the
//! command that reproduces it.

use super::{Report, ResultVerdict, RunResult};
use crate::check::Verdict;
use std::fmt::Write;

/// One cell of the matrix.
fn cell(r: &RunResult) -> String {
    let v = match r.verdict {
        ResultVerdict::Pass => "pass",
        ResultVerdict::Fail => "fail",
    };
    match (r.unexpected, r.expected_fail) {
        (false, true) => format!("{v} (expected)"),
        (false, false) => v.to_string(),
        (true, _) => format!("{v} UNEXPECTED"),
    }
}

/// The whole text report.
pub fn render_text(report: &Report) -> String {
    let mut targets: Vec<&str> = Vec::new();
    let mut scenarios: Vec<&str> = Vec::new();
    for r in &report.results {
        if !targets.contains(&r.target.as_str()) {
            targets.push(&r.target);
        }
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let sw = scenarios
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(8)
        .max(8);
    let tw: Vec<usize> = targets.iter().map(|t| t.chars().count().max(17)).collect();
    let mut out = String::new();
    let _ = write!(out, "{:<sw$}", "scenario");
    for (t, w) in targets.iter().zip(&tw) {
        let _ = write!(out, "  {t:<w$}");
    }
    out.push('\n');
    for s in &scenarios {
        let _ = write!(out, "{s:<sw$}");
        for (t, w) in targets.iter().zip(&tw) {
            let c = report
                .results
                .iter()
                .find(|r| r.scenario == *s && r.target == *t)
                .map(cell)
                .unwrap_or_else(|| "-".into());
            let _ = write!(out, "  {c:<w$}");
        }
        out.push('\n');
    }
    for r in report.results.iter().filter(|r| r.unexpected) {
        out.push('\n');
        out.push_str(&render_failure(r));
    }
    let s = &report.summary;
    let expected_fail = report
        .results
        .iter()
        .filter(|r| r.verdict == ResultVerdict::Fail && !r.unexpected)
        .count();
    let _ = writeln!(
        out,
        "\n{} runs: {} pass, {} fail ({} as expected), {} unexpected",
        report.results.len(),
        s.pass,
        s.fail,
        expected_fail,
        s.unexpected
    );
    out
}

/// One unexpected outcome, starting with how to reproduce it.
pub fn render_failure(r: &RunResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "FAIL {} × {}  (seed {})\n  reproduce: {}",
        r.scenario,
        r.target,
        r.seed,
        r.reproduce()
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "  simulation error: {e}");
    }
    for c in &r.checks {
        if c.as_expected() {
            continue;
        }
        let what = match (c.verdict, c.expected_fail) {
            (Verdict::Fail, _) => "failed",
            (_, true) => "was expected to fail but did not (stale expectation?)",
            _ => "unexpected",
        };
        let _ = writeln!(out, "  {} {what}: {}", c.id, c.message);
    }
    out
}

#[cfg(test)]
mod tests;
