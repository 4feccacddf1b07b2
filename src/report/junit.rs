//! JUnit XML: one test case per scenario × target, a `<failure>` for each unexpected outcome.
//!
//! Written by hand: the format needed is a dozen lines of XML with escaping, and a JUnit crate
//! would pull an XML writer, a date-time library and UUIDs into every CI build.

use super::Report;
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

/// Renders the report as a JUnit XML document.
pub fn render_junit(report: &Report) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"middlebox\" tests=\"{}\" failures=\"{}\">",
        report.results.len(),
        report.summary.unexpected
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"middlebox\" tests=\"{}\" failures=\"{}\">",
        report.results.len(),
        report.summary.unexpected
    );
    for r in &report.results {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\"",
            esc(&r.scenario),
            esc(&r.target)
        );
        if r.unexpected {
            let _ = writeln!(
                out,
                ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                esc(&format!("unexpected outcome; reproduce: {}", r.reproduce())),
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
