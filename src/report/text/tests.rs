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

/// The summary row of `target`, split into cells.
fn summary_row(text: &str, target: &str) -> Vec<String> {
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{target} ")))
        .collect();
    assert_eq!(rows.len(), 1, "one row for {target} in:\n{text}");
    rows[0].split_whitespace().map(String::from).collect()
}

#[test]
fn summary_has_one_row_per_target_with_its_counts() {
    let text = render_text(&report());
    assert!(
        text.starts_with("3 runs in 2 scenario files × 2 targets\n"),
        "{text}"
    );
    let header = text.lines().nth(2).unwrap();
    assert_eq!(
        header
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>(),
        ["target", "runs", "pass", "expected fail", "unexpected"]
    );
    // reference: one pass, one unexpected failure (flagged); the bug model: one expected fail.
    assert_eq!(
        summary_row(&text, "reference"),
        ["reference", "2", "1", "0", "1", "◀"]
    );
    assert_eq!(
        summary_row(&text, "bug/no-keepalive"),
        ["bug/no-keepalive", "1", "0", "1", "0"]
    );
    // Columns line up: counts are right-aligned under their headers.
    let bug = text.lines().find(|l| l.starts_with("bug/")).unwrap();
    assert_eq!(bug.len(), header.len(), "{text}");
    assert_eq!(
        &bug[header.find("expected fail").unwrap()..][..13],
        "            1"
    );
}

#[test]
fn every_line_fits_100_columns_but_the_reproduce_lines() {
    let mut long = run("reference", Story::CutByNginx, None);
    long.scenario = format!("scenarios/{}.toml", "deep/".repeat(12));
    long.target = format!("exec:{}", "node server.mjs --flag ".repeat(10));
    long.checks[0].message = "a long message ".repeat(20);
    let report = Report::new(
        Some(42),
        vec![run("reference", Story::Keepalives, None), long],
    );
    let text = render_text(&report);
    for line in text.lines().filter(|l| !l.starts_with("  reproduce: ")) {
        assert!(
            line.chars().count() <= WIDTH,
            "{} columns: {line}",
            line.chars().count()
        );
    }
    // The long message is wrapped, not cut: every word of it is there.
    assert_eq!(text.matches("message").count(), 20, "{text}");
    let matrix = render_matrix(&report, WIDTH);
    for line in matrix.lines() {
        assert!(
            line.chars().count() <= WIDTH,
            "{} columns: {line}",
            line.chars().count()
        );
    }
}

#[test]
fn the_matrix_has_one_cell_per_scenario_and_target_under_its_number() {
    let text = render_matrix(&report(), WIDTH);
    assert!(
        text.contains("\n  1  reference\n  2  bug/no-keepalive\n"),
        "{text}"
    );
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("scenario "))
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let cells = |l: &str| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" ");
    assert_eq!(cells(rows[0]), "1 2");
    assert_eq!(
        rows[1..]
            .iter()
            .map(|l| format!("{} {}", l.split_whitespace().next().unwrap(), cells(l)))
            .collect::<Vec<_>>(),
        ["scenarios/mem.toml . x", "scenarios/other.toml F -"]
    );
}

#[test]
fn a_wide_matrix_is_split_into_pages_of_targets() {
    let results: Vec<RunResult> = (0..60)
        .map(|i| run(&format!("t{i}"), Story::Keepalives, None))
        .collect();
    let text = render_matrix(&Report::new(None, results), WIDTH);
    for page in ["1–25", "26–50", "51–60"] {
        assert!(text.contains(&format!("targets {page} of 60:")), "{text}");
    }
    assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
    // Every target's cell is shown once: 60 passes.
    let cells: usize = text
        .lines()
        .filter(|l| l.starts_with("scenarios/mem.toml"))
        .map(|l| l.matches('.').count() - 1)
        .sum();
    assert_eq!(cells, 60, "{text}");
}

#[test]
fn counts_agree_with_their_number() {
    assert_eq!(count(1, "run"), "1 run");
    assert_eq!(count(0, "run"), "0 runs");
    assert_eq!(count(2, "scenario file"), "2 scenario files");
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
