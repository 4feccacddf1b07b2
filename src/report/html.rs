//! The HTML report: self-contained pages (inline CSS and script, no network) that open from
//! a file.
//!
//! ```text
//!  Report ──render_html──▶ index.html         scenario × target matrix, verdict colours,
//!                          │                   filters by target, scenario folder, verdict
//!                          └▶ runs/NAME.html   one per run: description, cites, reproduce,
//!                                              checks with messages, SVG timeline
//!                                              (timeline.rs, its x axis in axis.rs)
//! ```
//!
//! `NAME` is [`trace_file_name`](super::trace_file_name), as for `traces/NAME.txt`, which a
//! run page links to. Rendering is a pure function of the report: the same report gives the
//! same bytes. Every text from a scenario or a trace is escaped (a target can write anything).
//! Each page's script marks `<body data-ok="1">` once it has run without throwing.

mod axis;
mod index;
mod run_page;
mod timeline;

pub use timeline::{Kind, Timeline};

use super::{Report, ResultVerdict, RunResult};

use super::junit::esc;

/// One file of the HTML report, relative to the `--out` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HtmlFile {
    /// `index.html`, or `runs/NAME.html`.
    pub path: String,
    /// The page.
    pub text: String,
}

/// The directory of the run pages, under the `--out` directory.
pub const RUNS_DIR: &str = "runs";

/// Every page of the report: `index.html` first, then one page per run, in report order.
pub fn render_html(report: &Report) -> Vec<HtmlFile> {
    let mut out = vec![render_index(report)];
    out.extend(report.results.iter().map(render_run_page));
    out
}

/// `index.html` alone (see [`render_html`]).
pub fn render_index(report: &Report) -> HtmlFile {
    HtmlFile {
        path: "index.html".into(),
        text: index::render(report),
    }
}

/// One run's page alone, `runs/NAME.html` (see [`render_html`]); pages of different runs can
/// be rendered in parallel.
pub fn render_run_page(r: &RunResult) -> HtmlFile {
    HtmlFile {
        path: format!("{RUNS_DIR}/{}.html", page_name(r)),
        text: run_page::render(r),
    }
}

/// A run's page and trace file name (without extension).
fn page_name(r: &RunResult) -> String {
    super::trace_file_name(&r.scenario, &r.target)
}

/// A file name as a relative URL: its `%` escaped (the name keeps `%XX` literally).
fn href(name: &str) -> String {
    esc(&name.replace('%', "%25"))
}

/// The verdict as a filter key and CSS class suffix: `pass`, `expected-fail`, `unexpected`.
fn verdict_key(r: &RunResult) -> &'static str {
    match (r.unexpected, r.verdict) {
        (true, _) => "unexpected",
        (false, ResultVerdict::Fail) => "expected-fail",
        (false, ResultVerdict::Pass) => "pass",
    }
}

/// The verdict in words, as in the text report's matrix.
fn verdict_words(r: &RunResult) -> String {
    let v = match r.verdict {
        ResultVerdict::Pass => "pass",
        ResultVerdict::Fail => "fail",
    };
    match (r.unexpected, r.expected_fail) {
        (true, _) => format!("{v} UNEXPECTED"),
        (false, true) if r.verdict == ResultVerdict::Fail => format!("{v} (expected)"),
        _ => v.to_string(),
    }
}

/// The page's head: title, and the style both kinds of page share.
fn head(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n",
        esc(title)
    )
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:20px 28px;color:#111827;background:#fff}
h1{font-size:20px;margin:0 0 8px}h2{font-size:16px;margin:22px 0 8px}
a{color:#1d4ed8}code{font:12px ui-monospace,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px;word-break:break-all}
.nav{font-size:13px;margin:0 0 12px}.muted{color:#6b7280}
.summary{margin:4px 0 12px}
#filters{display:flex;gap:16px;flex-wrap:wrap;align-items:center;margin:0 0 12px;font-size:13px}
#filters select{font:inherit;padding:2px 4px}
table{border-collapse:collapse}
th,td{border:1px solid #e5e7eb;padding:3px 8px;text-align:left;vertical-align:top}
thead th{background:#f9fafb;font-weight:600;font-size:13px}
#matrix td{white-space:nowrap;font-size:13px}#matrix td a{color:inherit;text-decoration:none;display:block}
#matrix tbody th{font-weight:400;white-space:nowrap}.folder{color:#6b7280}
.v-pass{background:#dcfce7}.v-expected-fail{background:#fef3c7}.v-unexpected{background:#fecaca;font-weight:700}.v-none{color:#d1d5db}
td.dim{background:#fff;color:#e5e7eb}td.dim a{visibility:hidden}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;vertical-align:middle}
.checks td.msg{max-width:760px}
.c-pass{background:#dcfce7}.c-fail{background:#fee2e2}.c-unobservable{background:#f3f4f6}
.error{background:#fee2e2;border:1px solid #fca5a5;padding:8px 12px;white-space:pre-wrap}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px;margin:4px 0 8px;align-items:center}
.legend svg{vertical-align:middle}
.tl-wrap{overflow-x:auto;border:1px solid #e5e7eb}
.notes{font-size:12px;color:#4b5563}
svg.timeline{display:block;font-family:system-ui,sans-serif}
.lane-bg{fill:#fff}.lane-bg.odd{fill:#f9fafb}.lane-axis{stroke:#d1d5db}
.lane-name{font-size:12px;font-weight:600;fill:#111827}.lane-limits{font-size:9px;fill:#92400e}
.tick{stroke:#eef0f3}.tick-label{font-size:10px;fill:#6b7280}
.brk{fill:#e5e7eb;opacity:.75}.brk-label{font-size:11px;fill:#374151;font-weight:600}
.k-event{fill:#2563eb}.k-keepalive{fill:#9ca3af}.k-bytes{fill:#059669}.k-held{fill:none;stroke:#d97706;stroke-width:1.5}
.k-head{fill:#7c3aed}.k-request{fill:#0891b2}.k-opened{fill:none;stroke:#0891b2;stroke-width:1.5}
.k-close{fill:none;stroke:#374151;stroke-width:2}.k-cut{fill:none;stroke:#dc2626;stroke-width:3}
.k-error{fill:none;stroke:#dc2626;stroke-width:2}.k-other{fill:#c4c8cf}
.label text{font-size:11px;fill:#374151}.label line{stroke:#9ca3af;stroke-dasharray:2 2}
.label.cut text{fill:#b91c1c;font-weight:700}
.span rect{fill:#fde68a;opacity:.8}.span.reached rect{fill:#f59e0b}.span text{font-size:9px;fill:#78350f}
.marker line{stroke:#dc2626;stroke-width:1.5;stroke-dasharray:5 3}.marker text{font-size:11px;font-weight:700;fill:#b91c1c}
.marker.stopped line{stroke:#ea580c}.marker.stopped text{fill:#c2410c}
"#;

#[cfg(test)]
mod tests;
