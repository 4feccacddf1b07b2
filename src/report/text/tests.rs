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
