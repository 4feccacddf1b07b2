//! JUnit XML: one test case per scenario × target, a `<failure>` for each unexpected outcome
//! (an `<error>` for a run that could not complete).
//!
//! Written by hand: the format needed is a dozen lines of XML with escaping, and a JUnit crate
//! would pull an XML writer, a date-time library and UUIDs into every CI build.

use super::{Report, RunResult};
use crate::check::Verdict;
use std::fmt::Write;

/// `s` as XML (and HTML) text or attribute value: markup characters escaped, control
/// characters other than whitespace dropped.
pub(super) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' && c != '\r' => {}
            c => o.push(c),
        }
    }
    o
}

/// The test case's class name: the scenario's path without `.toml`, so CI systems group
/// the cases by scenario file (`scenarios/keepalive/nginx-30m`).
fn class_name(scenario: &str) -> &str {
    scenario.strip_suffix(".toml").unwrap_or(scenario)
}

/// What went wrong, in one line: each check whose outcome was not expected, with its message
/// (`stream.survives: conn#1 … closed at 00:01:01.003 by nginx …`), after the run's own
/// error if it has one.
fn message(r: &RunResult) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(e) = &r.error {
        parts.push(format!("run did not complete: {e}"));
    }
    for c in r.checks.iter().filter(|c| !c.as_expected()) {
        let said = if c.expected_fail && c.verdict != Verdict::Fail {
            format!(
                "expected to fail, but its verdict is {} (a stale expectation)",
                c.verdict
            )
        } else {
            c.message.clone()
        };
        parts.push(format!("{}: {said}", c.id));
    }
    if parts.is_empty() {
        parts.push(format!("unexpected outcome; reproduce: {}", r.reproduce()));
    }
    parts.join("; ")
}

/// Renders the report as a JUnit XML document: one `<testcase>` per run (class name: the
/// scenario path without `.toml`; name: the target); an unexpected outcome is a `<failure>`,
/// or an `<error>` when the run could not complete (stopped by a guard, an adapter died);
/// the element's text is the failure block, starting with the reproduce line.
pub fn render_junit(report: &Report) -> String {
    let errors = report
        .results
        .iter()
        .filter(|r| r.unexpected && r.error.is_some())
        .count();
    let failures = report.summary.unexpected - errors;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    for element in ["testsuites", "testsuite"] {
        let indent = if element == "testsuite" { "  " } else { "" };
        let _ = writeln!(
            out,
            "{indent}<{element} name=\"middlebox\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\">",
            report.results.len(),
        );
    }
    for r in &report.results {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            esc(class_name(&r.scenario)),
            esc(&r.target)
        );
        if r.unexpected {
            let kind = if r.error.is_some() {
                "error"
            } else {
                "failure"
            };
            let _ = writeln!(
                out,
                ">\n      <{kind} message=\"{}\">{}</{kind}>\n    </testcase>",
                esc(&message(r)),
                esc(&super::render_failure(r))
            );
        } else {
            out.push_str("/>\n");
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests;
