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
mod tests {
    use super::super::tests::{run, Story};
    use super::*;
    use crate::report::Report;

    /// Two scenarios × two targets, one cell missing:
    /// mem × reference pass, mem × bug fail (expected), other × reference fail UNEXPECTED.
    fn report() -> Report {
        let mut other = run("reference", Story::CutByNginx, None);
        other.scenario = "scenarios/other.toml".into();
        Report::new(
            Some(42),
            vec![
                run("reference", Story::Keepalives, None),
                run("bug/no-keepalive", Story::CutByNginx, None),
                other,
            ],
        )
    }

    fn row<'a>(text: &'a str, scenario: &str) -> &'a str {
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("{scenario} ")))
            .collect();
        assert_eq!(rows.len(), 1, "one row for {scenario} in:\n{text}");
        rows[0]
    }

    fn cells(row: &str) -> Vec<&str> {
        row.split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    }

    #[test]
    fn matrix_has_a_header_and_one_row_per_scenario() {
        let text = render_text(&report());
        let header = text.lines().next().unwrap();
        assert_eq!(cells(header), ["scenario", "reference", "bug/no-keepalive"]);
        assert_eq!(
            cells(row(&text, "scenarios/mem.toml")),
            ["scenarios/mem.toml", "pass", "fail (expected)"]
        );
        assert_eq!(
            cells(row(&text, "scenarios/other.toml")),
            ["scenarios/other.toml", "fail UNEXPECTED", "-"]
        );
        // Columns line up: every cell of a column starts where its header does.
        let col = header.find("bug/no-keepalive").unwrap();
        let mem = row(&text, "scenarios/mem.toml");
        assert_eq!(mem.find("fail (expected)"), Some(col));
    }

    #[test]
    fn a_fail_block_with_the_reproduce_command_only_for_unexpected_results() {
        let text = render_text(&report());
        assert_eq!(text.matches("\nFAIL ").count(), 1, "{text}");
        assert!(
            text.contains(
                "FAIL scenarios/other.toml × reference  (seed 42)\n  reproduce: middlebox run scenarios/other.toml --target reference --seed 42\n"
            ),
            "{text}"
        );
        assert!(!text.contains("--target bug/no-keepalive"), "{text}");
        assert!(
            text.contains("stream.survives failed: conn#1 (stream main) closed at 00:01:01.003"),
            "{text}"
        );
        assert!(
            text.ends_with("3 runs: 1 pass, 2 fail (1 as expected), 1 unexpected\n"),
            "{text}"
        );
    }

    #[test]
    fn an_all_expected_report_has_no_fail_block() {
        let report = Report::new(
            None,
            vec![
                run("reference", Story::Silent, None),
                run("bug/no-keepalive", Story::CutByNginx, None),
            ],
        );
        let text = render_text(&report);
        assert!(!text.contains("FAIL"), "{text}");
        assert!(!text.contains("reproduce"), "{text}");
        assert!(text.contains("0 unexpected"), "{text}");
    }

    #[test]
    fn failure_names_stale_expectations_and_simulation_errors_and_skips_expected_checks() {
        let stale = render_failure(&run("bug/no-keepalive", Story::Keepalives, None));
        assert!(
            stale.contains("stream.survives was expected to fail but did not"),
            "{stale}"
        );
        assert!(!stale.contains("keepalive.format"), "{stale}");

        let crashed = render_failure(&run(
            "reference",
            Story::Keepalives,
            Some("host server panicked"),
        ));
        assert!(
            crashed.starts_with("FAIL scenarios/mem.toml × reference  (seed 42)\n  reproduce: "),
            "{crashed}"
        );
        assert!(
            crashed.contains("  simulation error: host server panicked\n"),
            "{crashed}"
        );
        assert!(
            !crashed.contains("stream.survives"),
            "checks passed: {crashed}"
        );
    }
}
