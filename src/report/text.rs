//! The human report, for a terminal 100 columns wide.
//!
//! ```text
//!  render_text:   one row per target (runs, pass, expected fail, unexpected)
//!                 every unexpected outcome: reproduce line, then what went wrong
//!                 the totals line
//!  render_matrix: scenarios × targets, one character per cell, targets numbered in a
//!                 legend and split into pages of columns so each line fits the width
//! ```
//!
//! Reproduce lines are never wrapped (they are copied whole); every other line is.

use super::{Report, ResultVerdict, RunResult};
use crate::check::Verdict;
use std::fmt::Write;

/// The width the report fits.
pub const WIDTH: usize = 100;

/// `n` and `word`, plural unless `n` is 1 (`1 run`, `3 runs`).
pub fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `s` cut to `w` characters, its middle replaced by `…` when it is longer.
fn fit(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n <= w {
        return s.to_string();
    }
    let head = (w - 1) / 2;
    let tail = w - 1 - head;
    let chars: Vec<char> = s.chars().collect();
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[n - tail..]);
    out
}

/// `text` wrapped to the report's width, each line indented by `indent`, continuation lines
/// by two more spaces.
fn wrapped(out: &mut String, indent: &str, text: &str) {
    let more = format!("{indent}  ");
    let opts = textwrap::Options::new(WIDTH)
        .initial_indent(indent)
        .subsequent_indent(&more)
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    for line in textwrap::wrap(text, opts) {
        let _ = writeln!(out, "{line}");
    }
}

/// The whole text report: the per-target summary, the unexpected outcomes, the totals.
pub fn render_text(report: &Report) -> String {
    let (targets, scenarios) = report.axes();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} in {} × {}",
        count(report.results.len(), "run"),
        count(scenarios.len(), "scenario file"),
        count(targets.len(), "target")
    );
    let nw = targets
        .iter()
        .map(|t| t.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, WIDTH - 46);
    let _ = writeln!(
        out,
        "\n{:<nw$}  {:>5}  {:>5}  {:>13}  {:>10}",
        "target", "runs", "pass", "expected fail", "unexpected"
    );
    for t in &targets {
        let mine = || report.results.iter().filter(|r| r.target == *t);
        let runs = mine().count();
        let unexpected = mine().filter(|r| r.unexpected).count();
        let pass = mine()
            .filter(|r| !r.unexpected && r.verdict == ResultVerdict::Pass)
            .count();
        let expected_fail = mine()
            .filter(|r| !r.unexpected && r.verdict == ResultVerdict::Fail)
            .count();
        let flag = if unexpected > 0 { "  ◀" } else { "" };
        let _ = writeln!(
            out,
            "{:<nw$}  {runs:>5}  {pass:>5}  {expected_fail:>13}  {unexpected:>10}{flag}",
            fit(t, nw)
        );
    }
    for r in report.results.iter().filter(|r| r.unexpected) {
        out.push('\n');
        out.push_str(&render_failure(r));
    }
    let s = &report.summary;
    let expected_fail = report.expected_failures();
    let _ = writeln!(
        out,
        "\n{}: {} pass, {} fail ({} as expected), {} unexpected",
        count(report.results.len(), "run"),
        s.pass,
        s.fail,
        expected_fail,
        s.unexpected
    );
    out
}

/// One matrix cell: `.` pass, `x` failed as expected, `F` failed unexpectedly, `P` passed
/// unexpectedly (expected to fail: a stale expectation), `-` not run.
fn cell(r: Option<&RunResult>) -> char {
    match r {
        None => '-',
        Some(r) => match (r.verdict, r.unexpected) {
            (ResultVerdict::Pass, false) => '.',
            (ResultVerdict::Fail, false) => 'x',
            (ResultVerdict::Fail, true) => 'F',
            (ResultVerdict::Pass, true) => 'P',
        },
    }
}

/// The full scenarios × targets matrix, fitting `width` columns: targets are numbered in a
/// legend, each cell is one character under its target's number, and when the targets do
/// not fit beside the scenario names the columns are split into pages.
pub fn render_matrix(report: &Report, width: usize) -> String {
    let (targets, scenarios) = report.axes();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "cells: . pass   x failed as expected   - not run\n       F failed UNEXPECTEDLY   P passed UNEXPECTEDLY (a stale expectation)"
    );
    let _ = writeln!(out, "targets:");
    let digits = targets.len().to_string().len();
    for (i, t) in targets.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>digits$}  {}",
            i + 1,
            fit(t, width.saturating_sub(digits + 4).max(8))
        );
    }
    let cw = digits + 1;
    let name_max = scenarios
        .iter()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(8);
    // Scenario names get what the columns leave, at least 24 characters (cut in the middle).
    let columns_room = width.saturating_sub(24 + 1);
    let per_page = (columns_room / cw).max(1);
    let pages = targets.len().div_ceil(per_page).max(1);
    for page in 0..pages {
        let from = page * per_page;
        let to = (from + per_page).min(targets.len());
        let nw = name_max.min(width.saturating_sub((to - from) * cw + 1).max(24));
        out.push('\n');
        if pages > 1 {
            let _ = writeln!(out, "targets {}–{} of {}:", from + 1, to, targets.len());
        }
        let _ = write!(out, "{:<nw$} ", "scenario");
        for i in from..to {
            let _ = write!(out, "{:>cw$}", i + 1);
        }
        out.push('\n');
        for s in &scenarios {
            let _ = write!(out, "{:<nw$} ", fit(s, nw));
            for t in &targets[from..to] {
                let r = report
                    .results
                    .iter()
                    .find(|r| r.scenario == *s && r.target == *t);
                let _ = write!(out, "{:>cw$}", cell(r));
            }
            out.push('\n');
        }
    }
    out
}

/// One unexpected outcome, starting with how to reproduce it.
pub fn render_failure(r: &RunResult) -> String {
    let mut out = String::new();
    wrapped(
        &mut out,
        "",
        &format!("FAIL {} × {}  (seed {})", r.scenario, r.target, r.seed),
    );
    let _ = writeln!(out, "  reproduce: {}", r.reproduce());
    if let Some(e) = &r.error {
        wrapped(&mut out, "  ", &format!("simulation error: {e}"));
    }
    for c in &r.checks {
        if c.as_expected() {
            continue;
        }
        let line = match (&c.expected_by, c.verdict) {
            (Some(at), v) if v != Verdict::Fail => format!(
                "{}: stale baseline entry {at}: expected to fail, but its verdict is {v}: {}",
                c.id, c.message
            ),
            (_, Verdict::Fail) => format!("{} failed: {}", c.id, c.message),
            (_, _) if c.expected_fail => format!(
                "{} was expected to fail but did not (stale expectation?): {}",
                c.id, c.message
            ),
            _ => format!("{} unexpected: {}", c.id, c.message),
        };
        wrapped(&mut out, "  ", &line);
    }
    out
}

#[cfg(test)]
mod tests;
